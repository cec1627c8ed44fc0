//! The command line's shape: the top-level [`Cli`] and one [`Command`] variant per subcommand.
//!
//! To add a command: a variant here whose doc comment is its one-line help, an arm in
//! [`Command::run`], and a module with its `Args` struct and its `run` function.

use clap::{Parser, Subcommand};

use crate::exit::{CliError, ExitStatus};
use crate::profile::{self, ProfileArgs};
use crate::snapshot::{self, SnapshotArgs};
use crate::thresholds::ThresholdArgs;

/// Find leaking, stuck and blocking tasks in a running tokio app.
///
/// The app links the `leakscope` crate (`leakscope::init()`), which serves on 127.0.0.1:6669;
/// apps running only console-subscriber (tokio-console's) can be read too, with less detail.
#[derive(Debug, Parser)]
#[command(name = "leakscope", version, propagate_version = true, max_term_width = 100)]
#[command(after_help = "Environment: LEAKSCOPE_ADDR is the target of every command when no ADDR \
is given (an ADDR argument wins; default 127.0.0.1:6669).\n\
Exit codes: 0 success; 1 a check failed (gate, limits, leaks, doctor); 2 usage, configuration, \
connection, protocol or terminal error; 3 the service or load of `gate --run` failed; \
130 interrupted. See docs/cli.md.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Watch a target for a few seconds, then print its task groups and leak findings.
    ///
    /// It applies the target's updates for `--wait` and prints findings most severe first (leak,
    /// suspect, warn), with the explanation, evidence and usual fix of each, then the largest
    /// groups of live tasks by spawn location and wait point. A runtime whose heartbeat is late is
    /// named as STALLED. Against an app running only console-subscriber it says which kinds of
    /// finding that data cannot show.
    ///
    /// Wait points come from the agent's capture. It takes no task dump unless `--task-dump` asks:
    /// a dump pauses every worker of the app and can wedge a busy runtime (tokio-rs/tokio#7478;
    /// also #8391, #6343).
    Snapshot(SnapshotArgs),
    /// Write a flame graph, pprof or folded profile: cpu, tasks, locks, blocking, or a diff.
    ///
    /// `cpu` samples the app's CPU stacks; `tasks` draws one stack per live task (spawn
    /// location, await chain, what it waits on), like Go's goroutine profile; `locks` and
    /// `blocking` show lock waits and polls that blocked a worker; `diff` compares two profiles.
    /// The output's extension picks the format: .svg, .pb.gz (for `go tool pprof`, Pyroscope,
    /// speedscope) or .folded. See docs/profiling.md.
    Profile(ProfileArgs),
    /// Watch a service under load, or start one, and fail when its tasks grow past limits or leak.
    ///
    /// Attach mode (`leakscope gate ADDR --window 60s`) watches a running service; run mode
    /// (`--run CMD [--load CMD]`) starts it, waits for its agent, runs the load, and checks both
    /// the growth during the load and that tasks settle back after it. Limits apply to the total
    /// and per spawn location; findings of the `--fail-on` kinds fail too. Reports: text, json,
    /// junit, github. A stalled runtime is named in every report; no task dump is taken unless
    /// `--task-dump` asks. Exit 0 pass, 1 limits exceeded or leaks found, 2 error. See
    /// docs/ci-gate.md.
    Gate(Box<GateCommand>),
    /// Watch a running app in a terminal UI: task groups, tasks, findings and resources, live.
    ///
    /// Groups of tasks by spawn location and wait point come first, most severe and largest
    /// first; Enter opens a group's tasks and a task's detail (what it waits on, and the findings
    /// on it with their fix). `?` lists every key. A stalled runtime is named in the header. `d`
    /// takes a task dump only after you confirm it with `y`: a dump pauses every worker of the
    /// app and can wedge a busy runtime (tokio-rs/tokio#7478; also #8391, #6343). A target that
    /// goes away is retried until you quit. See docs/tui.md.
    Attach(crate::attach::AttachCommand),
    /// Run the leak zoo's leaking workloads and attach the terminal UI to them.
    ///
    /// The workloads run in a child process with the leakscope agent on `--bind`; thresholds are
    /// shortened (stuck and uncancelled after 10s) so the findings appear within a minute.
    /// Quitting the UI stops the zoo. As in `attach`, `d` takes a task dump only after you
    /// confirm it (it pauses every worker; tokio-rs/tokio#7478, #8391, #6343).
    Demo(leakscope_tui::DemoArgs),
    /// Check what a target's build lets leakscope see, and print the exact fix for each gap.
    ///
    /// One line per check: per-task records (--cfg tokio_unstable), another tracing subscriber
    /// holding tokio's instrumentation, frame pointers (wait points without a dump, CPU profile
    /// stacks), line tables (file:line in frames), the tokio version, task dumps, CPU profiles;
    /// an app running only console-subscriber is named as such. The agent finds these at run
    /// time. Exit 0 when nothing is missing, 1 when something is, 2 when the target cannot be
    /// reached. See docs/doctor.md.
    Doctor(crate::doctor::DoctorArgs),
    /// Print a shell completion script: bash, zsh, fish, elvish or powershell.
    ///
    /// Install for bash: `leakscope completions bash > ~/.local/share/bash-completion/completions/leakscope`;
    /// zsh: `leakscope completions zsh > "${fpath[1]}/_leakscope"`; fish: `leakscope completions
    /// fish > ~/.config/fish/completions/leakscope.fish`. See docs/cli.md.
    Completions(crate::completions::CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write one page per command into a directory.
    ///
    /// `leakscope man | man -l -` reads it at once; `leakscope man --out-dir
    /// ~/.local/share/man/man1` installs leakscope.1 and leakscope-COMMAND.1 for `man leakscope`.
    Man(crate::man::ManArgs),
}

/// `gate`'s arguments: its own (the `leakscope-gate` crate's), then the thresholds its findings
/// are judged by.
#[derive(Debug, clap::Args)]
pub struct GateCommand {
    /// The gate's flags.
    #[command(flatten)]
    pub gate: leakscope_gate::GateArgs,
    /// Detector thresholds and suppressions.
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

impl GateCommand {
    fn run(self) -> Result<ExitStatus, CliError> {
        use leakscope_gate::Verdict;
        let config = self.thresholds.load()?;
        match crate::runtime::block_on(leakscope_gate::run(self.gate, config))? {
            Ok(Verdict::Pass) => Ok(ExitStatus::Success),
            Ok(Verdict::Fail) => Ok(ExitStatus::CheckFailed),
            Err(err) => Err(CliError::from_gate(err)),
        }
    }
}

impl Command {
    /// Runs the command to completion; `Ok` carries the exit status to end with.
    pub fn run(self) -> Result<ExitStatus, CliError> {
        match self {
            Command::Snapshot(args) => snapshot::run(args),
            Command::Profile(args) => profile::run(args),
            Command::Gate(command) => command.run(),
            Command::Attach(command) => command.run(),
            Command::Demo(args) => crate::attach::demo(args),
            Command::Doctor(args) => crate::doctor::run(args),
            Command::Completions(args) => crate::completions::run(&args),
            Command::Man(args) => crate::man::run(&args),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::Cli;

    /// `leakscope <path> --help`, at a fixed width.
    fn help(path: &[&str]) -> String {
        let mut command = Cli::command().term_width(100);
        command.build();
        let mut current = &mut command;
        for name in path {
            current = current.find_subcommand_mut(name).expect("a subcommand");
        }
        current.render_long_help().to_string()
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_is_stable() {
        insta::assert_snapshot!("leakscope_help", help(&[]));
        insta::assert_snapshot!("leakscope_snapshot_help", help(&["snapshot"]));
        insta::assert_snapshot!("leakscope_gate_help", help(&["gate"]));
        insta::assert_snapshot!("leakscope_attach_help", help(&["attach"]));
        insta::assert_snapshot!("leakscope_doctor_help", help(&["doctor"]));
        insta::assert_snapshot!("leakscope_completions_help", help(&["completions"]));
        insta::assert_snapshot!("leakscope_man_help", help(&["man"]));
    }
}
