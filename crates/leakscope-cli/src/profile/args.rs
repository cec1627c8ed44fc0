//! The flags of `leakscope profile` and its kinds.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use leakscope_analysis::parse_duration;
use leakscope_client::DEFAULT_ADDR;
use leakscope_gate::{ADDR_ENV, parse_bounded_duration};

/// The flags of `leakscope profile` (its help text is on [`crate::Command::Profile`]).
#[derive(Debug, Clone, Args)]
pub struct ProfileArgs {
    /// Which profile.
    #[command(subcommand)]
    pub kind: ProfileKind,
}

/// The kinds of profile.
#[derive(Debug, Clone, Subcommand)]
pub enum ProfileKind {
    /// Sample the app's CPU stacks for a while (the agent runs pprof-rs in the app).
    ///
    /// Needs the leakscope agent on Linux (x86_64 or aarch64) and an app built with frame
    /// pointers (`-C force-frame-pointers=yes`) for whole stacks; see docs/profiling.md.
    Cpu(CpuArgs),
    /// One stack per live task: spawn location, await chain, what it waits on.
    ///
    /// The counterpart of Go's goroutine profile. The await chain is the one the agent captured
    /// when the task last parked (no pause, no task dump); where there is none, the stack is the
    /// spawn location and the awaited resource or the task's state. `--task-dump` also takes a
    /// task dump, which pauses every worker of the app and can wedge a busy runtime
    /// (tokio-rs/tokio#7478); off by default.
    Tasks(TasksArgs),
    /// The tasks waiting on a tokio Mutex, RwLock or Semaphore now, and who holds it.
    ///
    /// The counterpart of Go's mutex profile, from the agent's wait records, with the waiters'
    /// captured await chains (`--task-dump` takes a task dump too; off by default).
    Locks(LocksArgs),
    /// Polls that blocked a runtime worker thread, per spawn location.
    ///
    /// The counterpart of Go's block profile for an async runtime, from the agent's long-poll
    /// records (polls longer than its threshold, 10ms by default) and the polls running now.
    Blocking(BlockingArgs),
    /// The difference of two profiles (folded or pprof files): what grew from BEFORE to AFTER.
    ///
    /// A differential flame graph shows AFTER's widths, red where a stack grew and blue where it
    /// shrank; pprof output has the change as its default value, then the before and after values.
    Diff(DiffArgs),
}

impl ProfileKind {
    /// Where this profile is written.
    pub fn output(&self) -> &OutputArgs {
        match self {
            Self::Cpu(args) => &args.output,
            Self::Tasks(args) => &args.output,
            Self::Locks(args) => &args.output,
            Self::Blocking(args) => &args.output,
            Self::Diff(args) => &args.output,
        }
    }
}

/// Where and how a profile is written.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// The file to write; its extension picks the format (.svg, .pb.gz, .folded); `-` writes to
    /// stdout (folded unless --format says otherwise)
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// The format, whatever the extension says: svg, pprof or folded
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<leakscope_profile::Format>,
    /// Flame graphs only: roots on top, leaves hanging down (an icicle graph)
    #[arg(long)]
    pub icicle: bool,
    /// Flame graphs only: the title [default: the profile's kind]
    #[arg(long, value_name = "TEXT")]
    pub title: Option<String>,
}

/// The longest CPU profile the agent takes: it cuts longer requests to this (`cpu::MAX_DURATION`
/// in the agent, stated on the protocol's `CpuProfileRequest`). The CLI cuts first and says so,
/// so that what it prints is what happens.
pub(crate) const AGENT_MAX_CPU_DURATION: Duration = Duration::from_secs(300);

/// `leakscope profile cpu`.
#[derive(Debug, Clone, Args)]
pub struct CpuArgs {
    /// The app to read: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// How long to sample: more than 0, at most the agent's limit of 300s (a longer duration is
    /// cut to 300s, and the command says so)
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_cpu_duration)]
    pub duration: Duration,
    /// Samples per second of CPU time (the agent allows at most 1000)
    #[arg(long, value_name = "HZ", default_value_t = 99,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub frequency: u32,
    #[command(flatten)]
    pub output: OutputArgs,
}

impl CpuArgs {
    /// How long the agent will sample: `--duration`, cut to [`AGENT_MAX_CPU_DURATION`]; with
    /// the line that says so when it was cut.
    pub fn sampling_time(&self) -> (Duration, Option<String>) {
        if self.duration <= AGENT_MAX_CPU_DURATION {
            return (self.duration, None);
        }
        let note = format!(
            "--duration {:?} is past the agent's limit; sampling for {}s instead",
            self.duration,
            AGENT_MAX_CPU_DURATION.as_secs()
        );
        (AGENT_MAX_CPU_DURATION, Some(note))
    }
}

/// `--duration` of `profile cpu`: a duration, and not 0 (the agent would take 0 for its default
/// of 10s, and the command would say it sampled for 0s).
fn parse_cpu_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!(
            "`{text}` would sample nothing: give a duration of more than 0 (at most {}s)",
            AGENT_MAX_CPU_DURATION.as_secs()
        ));
    }
    Ok(duration)
}

/// `leakscope profile tasks`.
#[derive(Debug, Clone, Args)]
pub struct TasksArgs {
    /// The app to read: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// What the widths show: count (tasks) or idle (how long each has been parked)
    #[arg(long, value_enum, value_name = "WEIGHT", default_value_t = TasksWeight::Count)]
    pub weight: TasksWeight,
    /// Only tasks whose spawn location, name or wait point contains this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Also take a task dump for the await chains. Off by default: the agent's captured chains
    /// need no pause. A dump stops every worker of the app while it runs (0.6-1.6 s at 100k
    /// tasks), re-polls every task, and can wedge a busy multi-thread runtime for good
    /// (tokio-rs/tokio#7478; also #8391, #6343); the agent refuses one while a runtime is stalled
    /// or its run queues are long, and the profile then uses the captured chains
    #[arg(long)]
    pub task_dump: bool,
    /// Time limit of the dump --task-dump takes
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_bounded_duration)]
    pub dump_timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a task-wait flame graph's widths show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TasksWeight {
    /// One per task.
    Count,
    /// Time since each task's last poll ended.
    Idle,
}

/// `leakscope profile locks`.
#[derive(Debug, Clone, Args)]
pub struct LocksArgs {
    /// The app to read: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// What the widths show: count (waiting tasks) or delay (how long each has waited)
    #[arg(long, value_enum, value_name = "WEIGHT", default_value_t = LocksWeight::Count)]
    pub weight: LocksWeight,
    /// Only tasks whose spawn location, name or wait point contains this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    /// Also take a task dump for the waiters' await chains. Off by default: the agent's captured
    /// chains need no pause. A dump stops every worker of the app while it runs, and can wedge a
    /// busy multi-thread runtime for good (tokio-rs/tokio#7478; also #8391, #6343)
    #[arg(long)]
    pub task_dump: bool,
    /// Time limit of the dump --task-dump takes
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_bounded_duration)]
    pub dump_timeout: Duration,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a lock-wait flame graph's widths show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LocksWeight {
    /// One per waiting task.
    Count,
    /// How long each has waited so far.
    Delay,
}

/// `leakscope profile blocking`.
#[derive(Debug, Clone, Args)]
pub struct BlockingArgs {
    /// The app to read: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// What the widths show: count (long polls) or time (how long they blocked)
    #[arg(long, value_enum, value_name = "WEIGHT", default_value_t = BlockingWeight::Time)]
    pub weight: BlockingWeight,
    /// Only spawn locations or task names containing this text
    #[arg(long, value_name = "TEXT")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What a blocking flame graph's widths show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BlockingWeight {
    /// One per long poll.
    Count,
    /// Time the polls blocked their worker.
    Time,
}

/// `leakscope profile diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// The baseline: a .folded or .pb.gz profile
    #[arg(value_name = "BEFORE")]
    pub before: PathBuf,
    /// The profile to compare with it, of the same kind
    #[arg(value_name = "AFTER")]
    pub after: PathBuf,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use crate::Cli;

    /// `leakscope profile <kind> --help`, at a fixed width.
    fn help(kind: Option<&str>) -> String {
        let mut command = Cli::command().term_width(100);
        command.build();
        let profile = command.find_subcommand_mut("profile").expect("profile is registered");
        match kind {
            Some(kind) => {
                profile.find_subcommand_mut(kind).expect("a kind").render_long_help().to_string()
            }
            None => profile.render_long_help().to_string(),
        }
    }

    #[test]
    fn help_is_stable() {
        insta::assert_snapshot!("leakscope_profile_help", help(None));
        for kind in ["cpu", "tasks", "locks", "blocking", "diff"] {
            insta::assert_snapshot!(format!("leakscope_profile_{kind}_help"), help(Some(kind)));
        }
    }

    #[test]
    fn flags_parse_into_the_kinds() {
        use super::{ProfileKind, TasksWeight};
        use clap::Parser as _;
        let check = |args: &[&str]| match Cli::try_parse_from(args).map(|cli| cli.command) {
            Ok(crate::Command::Profile(profile)) => Ok(profile.kind),
            Ok(other) => panic!("not a profile command: {other:?}"),
            Err(err) => Err(err.kind()),
        };
        let tasks = check(&["leakscope", "profile", "tasks", "-o", "t.svg", "--weight", "idle"]);
        match tasks {
            Ok(ProfileKind::Tasks(args)) => {
                assert_eq!(args.weight, TasksWeight::Idle);
                assert_eq!(args.addr, "127.0.0.1:6669");
                assert_eq!(args.output.output.to_str(), Some("t.svg"));
                assert!(!args.task_dump, "no task dump unless asked");
            }
            other => panic!("{other:?}"),
        }
        match check(&["leakscope", "profile", "locks", "-o", "l.svg", "--task-dump"]) {
            Ok(ProfileKind::Locks(args)) => assert!(args.task_dump),
            other => panic!("{other:?}"),
        }
        match check(&["leakscope", "profile", "cpu", "a:1", "--duration", "2s", "-o", "c.pb.gz"]) {
            Ok(ProfileKind::Cpu(args)) => {
                assert_eq!(args.duration, std::time::Duration::from_secs(2));
                assert_eq!(args.frequency, 99);
            }
            other => panic!("{other:?}"),
        }
        match check(&["leakscope", "profile", "diff", "a", "b", "-o", "-", "--format", "pprof"]) {
            Ok(ProfileKind::Diff(args)) => {
                assert_eq!(args.output.format, Some(leakscope_profile::Format::Pprof));
            }
            other => panic!("{other:?}"),
        }
        use clap::error::ErrorKind;
        // `-o` is required; formats and weights are checked.
        assert_eq!(
            check(&["leakscope", "profile", "tasks"]).err(),
            Some(ErrorKind::MissingRequiredArgument)
        );
        assert_eq!(
            check(&["leakscope", "profile", "tasks", "-o", "x", "--format", "png"]).err(),
            Some(ErrorKind::ValueValidation)
        );
        assert_eq!(
            check(&["leakscope", "profile", "locks", "-o", "x", "--weight", "idle"]).err(),
            Some(ErrorKind::InvalidValue)
        );
        assert_eq!(
            check(&["leakscope", "profile", "cpu", "-o", "x", "--frequency", "5000"]).err(),
            Some(ErrorKind::ValueValidation)
        );
    }

    /// `profile cpu --duration TEXT`: the time the agent will sample and the line saying it was
    /// cut, or clap's one-line error. Never a panic, whatever the text.
    fn cpu_duration(text: &str) -> Result<(std::time::Duration, Option<String>), String> {
        use clap::Parser as _;
        let flag = format!("--duration={text}");
        let argv = ["leakscope", "profile", "cpu", "-o", "x.svg", &flag];
        match Cli::try_parse_from(argv).map(|cli| cli.command) {
            Ok(crate::Command::Profile(super::ProfileArgs {
                kind: super::ProfileKind::Cpu(args),
            })) => Ok(args.sampling_time()),
            Ok(other) => panic!("not profile cpu: {other:?}"),
            Err(err) => {
                assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation, "{text}: {err}");
                Err(err.to_string().lines().next().unwrap_or_default().to_owned())
            }
        }
    }

    #[test]
    fn cpu_durations_are_checked_and_cut_to_the_agents_limit() {
        use std::time::Duration;
        let secs = Duration::from_secs;
        let check = |text: &str, expected: Result<(Duration, Option<&str>), &str>| match (
            cpu_duration(text),
            expected,
        ) {
            (Ok((got, note)), Ok((expected, expected_note))) => {
                assert_eq!((got, note.as_deref()), (expected, expected_note), "{text}")
            }
            (Err(got), Err(expected)) => assert!(got.contains(expected), "{text}: {got}"),
            (got, expected) => panic!("{text}: got {got:?}, expected {expected:?}"),
        };
        check("10s", Ok((secs(10), None)));
        check("250ms", Ok((Duration::from_millis(250), None)));
        check("1ns", Ok((Duration::from_nanos(1), None)));
        check("300s", Ok((secs(300), None)));
        check("5m", Ok((secs(300), None)));
        let cut = |asked: &str| {
            format!("--duration {asked} is past the agent's limit; sampling for 300s instead")
        };
        check("5m1s", Ok((secs(300), Some(cut("301s").as_str()))));
        check("99999999999s", Ok((secs(300), Some(cut("99999999999s").as_str()))));
        check("1e19", Ok((secs(300), Some(cut("10000000000000000000s").as_str()))));
        // Zero would be the agent's default of 10s: refused, as is what rounds to zero.
        for zero in ["0s", "0", "0ms", "0.0000000001s", "0h0m"] {
            check(zero, Err("would sample nothing: give a duration of more than 0 (at most 300s)"));
        }
        // Past what a duration holds, or not a number: a one-line error, no panic.
        for bad in [
            "18446744073709551616s",
            "99999999999999999999999d",
            "1e400",
            "inf",
            "NaN",
            "-1s",
            "",
            "10 parsecs",
            "1.2.3s",
        ] {
            check(bad, Err("for '--duration <DUR>'"));
        }
    }
}
