//! Exit codes, and how each error maps to one: every [`CliError`] variant has its code in
//! [`CliError::status`], one table, so an error keeps its kind all the way to the exit.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `snapshot`: whatever it found; findings are output, not failure) |
//! | 1 | a check failed: `gate`, limits or leaks the user asked to fail on; `doctor`: the target cannot see something (each missing piece is a line with its fix) |
//! | 2 | leakscope could not do its job: a usage error (a bad flag, duration, address or output path, found before any watching), a configuration error, a connection or protocol error (for `doctor`: the target is unreachable), a terminal error (`attach`, `demo`), or an output that could not be written; one line on stderr says which |
//! | 3 | `gate --run`: the service under the gate or its load failed (could not start, exited, its agent never answered, the load exited non-zero): the thing under test broke, not leakscope's setup |
//! | 130 | interrupted (Ctrl-C or SIGTERM), as shells report SIGINT |
//!
//! Code 3 exists because a CI script must tell "the service under test crashed" (a bug in the
//! product) from "the gate was misconfigured or could not reach it" (a bug in the pipeline);
//! 0, 1 and 2 keep the meanings they always had.
//!
//! A broken pipe on stdout (`leakscope snapshot | head`) is not an error: the reader has what it
//! wanted, so the command stops quietly with code 0, as ripgrep does.

use std::io;
use std::process::ExitCode;

use leakscope_client::ClientError;

/// How the command ended; see the module docs for the codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: done.
    Success,
    /// 1: a check the user asked for failed.
    CheckFailed,
    /// 2: the command could not do its job (usage, configuration, connection, protocol,
    /// terminal, I/O).
    Error,
    /// 3: the service (or load) `gate --run` started failed.
    ServiceFailed,
    /// 130: Ctrl-C or SIGTERM ended the command.
    Interrupted,
}

impl ExitStatus {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::CheckFailed => 1,
            Self::Error => 2,
            Self::ServiceFailed => 3,
            Self::Interrupted => 130,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status.code())
    }
}

/// Every way a command can fail. Each displays as one line; `leakscope: ` is prefixed when
/// printed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag value or combination clap could not check (an output path that cannot be
    /// written, a profile the target cannot take, a profile file that does not parse).
    #[error("{0}")]
    Usage(String),
    /// Reaching or reading the target failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The target was reached, then went silent or away (the gate's watch).
    #[error("{0}")]
    Connection(String),
    /// The service `gate --run` started, or its load, failed.
    #[error("{0}")]
    Service(String),
    /// The terminal `attach` or `demo` draws on is missing or failed.
    #[error("{0}")]
    Terminal(String),
    /// The demo's zoo, or `attach --bench-frames`, failed.
    #[error("{0}")]
    Demo(String),
    /// A report or profile file could not be written after the work was done.
    #[error("failed to write {path}: {source}")]
    WriteFile {
        /// The file.
        path: std::path::PathBuf,
        /// The system's reason.
        #[source]
        source: io::Error,
    },
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
    /// A configuration file cannot be read or used.
    #[error("failed to use {path}: {reason}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong, on one line.
        reason: String,
    },
    /// Writing the output failed.
    #[error("failed to write the output: {0}")]
    Output(#[source] io::Error),
    /// The async runtime could not start.
    #[error("failed to start the async runtime: {0}")]
    Runtime(#[source] io::Error),
}

impl CliError {
    /// The status this error ends the command with.
    pub fn status(&self) -> ExitStatus {
        match self {
            _ if self.is_broken_pipe() => ExitStatus::Success,
            Self::Service(_) => ExitStatus::ServiceFailed,
            Self::Interrupted => ExitStatus::Interrupted,
            Self::Usage(_)
            | Self::Client(_)
            | Self::Connection(_)
            | Self::Terminal(_)
            | Self::Demo(_)
            | Self::Config { .. }
            | Self::Output(_)
            | Self::WriteFile { .. }
            | Self::Runtime(_) => ExitStatus::Error,
        }
    }

    /// The error a gate that reached no verdict ends with: each kind of [`GateError`] to its
    /// own variant (no wildcard: a new kind must be placed here).
    pub fn from_gate(err: leakscope_gate::GateError) -> Self {
        use leakscope_gate::GateError as G;
        let message = err.to_string();
        match err {
            G::Client(err) => Self::Client(err),
            G::Unwritable { .. } => Self::Usage(message),
            G::Stalled { .. } | G::Disconnected { .. } => Self::Connection(message),
            G::Spawn { .. }
            | G::ExitedEarly { .. }
            | G::StartupTimeout { .. }
            | G::ServiceExited { .. }
            | G::LoadFailed { .. }
            | G::Wait { .. } => Self::Service(message),
            G::Report { path, source } => Self::WriteFile { path, source },
            G::Output(err) => Self::Output(err),
            G::Interrupted => Self::Interrupted,
        }
    }

    /// The error `attach` or `demo` ends with: each kind of [`leakscope_tui::AttachError`] to
    /// its own variant.
    pub fn from_attach(err: leakscope_tui::AttachError) -> Self {
        use leakscope_tui::AttachError as A;
        let message = err.to_string();
        match err {
            A::Client(err) => Self::Client(err),
            A::NoTerminal | A::Terminal(_) => Self::Terminal(message),
            A::Runtime(err) => Self::Runtime(err),
            A::Demo(_) | A::Bench(_) => Self::Demo(message),
        }
    }

    /// Whether this is stdout closing under us, which ends the command quietly.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Output(err) if err.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Prints `err` as `leakscope: <message>` on one line (unless it is a broken pipe) and returns
/// its exit code.
pub(crate) fn report(err: &CliError) -> ExitCode {
    if !err.is_broken_pipe() {
        eprintln!("leakscope: {}", one_line(&err.to_string()));
    }
    err.status().into()
}

/// What a clap parse error becomes: `--help` and `--version` print to stdout and succeed;
/// everything else is a usage error, printed as one line naming the help to read.
/// `command` is the subcommand the arguments named (`leakscope snapshot`), for the errors clap
/// renders without a usage line (an invalid value).
pub(crate) fn clap_error(err: &clap::Error, command: &str) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // A closed stdout while printing help is the reader's choice, not an error.
        let _ = err.print();
        return ExitStatus::Success.into();
    }
    eprintln!("leakscope: {}", usage_line(&err.render().to_string(), command));
    ExitStatus::Error.into()
}

/// The one line a clap parse error is printed as (after `leakscope: `), when the command is not
/// known.
#[cfg(test)]
pub(crate) fn clap_error_line(err: &clap::Error) -> String {
    usage_line(&err.render().to_string(), "leakscope")
}

/// Clap's rendered error (several lines: the error, a tip, the usage) as one line: the error,
/// then which `--help` to read (from the usage line, else `fallback`).
fn usage_line(rendered: &str, fallback: &str) -> String {
    let mut lines = rendered.lines().map(str::trim).skip_while(|line| line.is_empty());
    let first = lines.next().unwrap_or("invalid usage").trim_start_matches("error: ");
    // A message that ends in a colon lists what it means on the lines below it ("the following
    // required arguments were not provided:", then one line per argument): keep the list.
    let message = if first.ends_with(':') {
        let list: Vec<&str> = lines.take_while(|line| !line.is_empty()).collect();
        format!("{first} {}", list.join(", "))
    } else {
        first.to_owned()
    };
    let command = rendered
        .lines()
        .find_map(|line| line.trim().strip_prefix("Usage: "))
        .map(|usage| {
            usage
                .split_whitespace()
                .take_while(|word| !word.starts_with(['[', '<', '-']))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|command| !command.is_empty())
        .unwrap_or_else(|| fallback.to_owned());
    format!("{message}; see '{command} --help'")
}

/// Joins a multi-line message (a TOML error with its snippet, say) into one line.
fn one_line(message: &str) -> String {
    message.lines().map(str::trim).filter(|line| !line.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rendered: &str, expected: &str) {
        assert_eq!(usage_line(rendered, "leakscope"), expected);
    }

    #[test]
    fn clap_errors_become_one_line() {
        check(
            "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: leakscope snapshot [OPTIONS] [ADDR]\n\nFor more information, try '--help'.\n",
            "unexpected argument '--bogus' found; see 'leakscope snapshot --help'",
        );
        check(
            "error: invalid value 'soon' for '--wait <DUR>': `soon` is not a duration\n\nFor more information, try '--help'.\n",
            "invalid value 'soon' for '--wait <DUR>': `soon` is not a duration; see 'leakscope --help'",
        );
        check(
            "error: 'leakscope' requires a subcommand but one was not provided\n  [subcommands: snapshot, help]\n\nUsage: leakscope <COMMAND>\n",
            "'leakscope' requires a subcommand but one was not provided; see 'leakscope --help'",
        );
        check("", "invalid usage; see 'leakscope --help'");
        check(
            "error: the following required arguments were not provided:\n  --tasks-of <N>\n\nUsage: leakscope snapshot --tasks-of <N> --order <ORDER> [ADDR]\n\nFor more information, try '--help'.\n",
            "the following required arguments were not provided: --tasks-of <N>; see 'leakscope snapshot --help'",
        );
        // Without a usage line, the command the arguments named.
        assert_eq!(
            usage_line("error: invalid value 'x' for '--wait <DUR>'\n", "leakscope snapshot"),
            "invalid value 'x' for '--wait <DUR>'; see 'leakscope snapshot --help'"
        );
    }

    #[test]
    fn errors_map_to_codes() {
        let pipe = CliError::Output(io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.status(), ExitStatus::Success);
        let full = CliError::Output(io::Error::from(io::ErrorKind::StorageFull));
        assert_eq!(full.status(), ExitStatus::Error);
        let usage = CliError::Usage("bad".into());
        assert_eq!(usage.status().code(), 2);
        let config = CliError::Config { path: "x.toml".into(), reason: "bad".into() };
        assert_eq!(config.to_string(), "failed to use x.toml: bad");
        assert_eq!(one_line("a\n  |\n b \n\n"), "a | b");
    }

    /// Each kind of gate error ends with its own variant, code and one line.
    #[test]
    fn gate_errors_keep_their_kind() {
        use leakscope_gate::GateError as G;
        let check = |err: G, code: u8, expected: &str| {
            let err = CliError::from_gate(err);
            assert_eq!(err.status().code(), code, "{err:?}");
            assert_eq!(one_line(&err.to_string()), expected);
        };
        let svc = || "./svc".to_owned();
        check(
            G::ServiceExited { command: svc(), status: "exit status 101".into() },
            3,
            "the service `./svc` exited (exit status 101) during the gate",
        );
        check(
            G::ExitedEarly { command: svc(), status: "exit status 1".into(), addr: "a:1".into() },
            3,
            "the service `./svc` exited (exit status 1) before its agent answered at a:1",
        );
        check(
            G::LoadFailed { command: "k6".into(), status: "exit status 2".into() },
            3,
            "the load `k6` failed (exit status 2)",
        );
        check(
            G::StartupTimeout { command: svc(), addr: "a:1".into(), secs: 2.0, last: "x".into() },
            3,
            "no leakscope agent answered at a:1 within 2s of starting `./svc`: x",
        );
        check(
            G::Spawn { command: svc(), source: io::Error::from(io::ErrorKind::NotFound) },
            3,
            "failed to start `./svc`: entity not found",
        );
        check(
            G::Disconnected { addr: "a:1".into() },
            2,
            "the agent at a:1 went away during the gate",
        );
        check(
            G::Stalled { addr: "a:1".into(), secs: 10.0 },
            2,
            "the agent at a:1 sent no update for 10s",
        );
        check(
            G::Unwritable {
                path: "/nonexistent/x.xml".into(),
                reason: "cannot write /nonexistent/x.xml: No such file or directory".into(),
            },
            2,
            "--report: cannot write /nonexistent/x.xml: No such file or directory",
        );
        check(
            G::Report { path: "r.xml".into(), source: io::Error::from(io::ErrorKind::StorageFull) },
            2,
            "failed to write r.xml: no storage space",
        );
        check(G::Interrupted, 130, "interrupted");
        assert!(matches!(
            CliError::from_gate(G::Client(ClientError::Disconnected { addr: "a:1".into() })),
            CliError::Client(_)
        ));
        let pipe = CliError::from_gate(G::Output(io::Error::from(io::ErrorKind::BrokenPipe)));
        assert_eq!(pipe.status(), ExitStatus::Success);
    }

    /// The UI's terminal errors are terminal errors, not usage errors.
    #[test]
    fn attach_errors_keep_their_kind() {
        use leakscope_tui::AttachError as A;
        let no_tty = CliError::from_attach(A::NoTerminal);
        assert!(matches!(no_tty, CliError::Terminal(_)), "{no_tty:?}");
        assert_eq!(no_tty.status().code(), 2);
        let failed = CliError::from_attach(A::Terminal(io::Error::other("raw mode")));
        assert!(matches!(&failed, CliError::Terminal(m) if m == "the terminal failed: raw mode"));
        assert!(matches!(CliError::from_attach(A::Demo("x".into())), CliError::Demo(_)));
        assert!(matches!(
            CliError::from_attach(A::Runtime(io::Error::other("x"))),
            CliError::Runtime(_)
        ));
    }
}
