//! Exit codes, and how each error maps to one.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `snapshot`: whatever it found; findings are output, not failure) |
//! | 1 | a check failed: `gate`, limits or leaks the user asked to fail on |
//! | 2 | usage, configuration, connection or protocol error, with a one-line message on stderr |
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
    /// 2: the command could not do its job (usage, configuration, connection, protocol, I/O).
    Error,
}

impl ExitStatus {
    /// The numeric code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::CheckFailed => 1,
            Self::Error => 2,
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
    /// A flag value or combination clap could not check.
    #[error("{0}")]
    Usage(String),
    /// Reaching or reading the target failed.
    #[error(transparent)]
    Client(#[from] ClientError),
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
        if self.is_broken_pipe() { ExitStatus::Success } else { ExitStatus::Error }
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
pub(crate) fn clap_error(err: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        // A closed stdout while printing help is the reader's choice, not an error.
        let _ = err.print();
        return ExitStatus::Success.into();
    }
    eprintln!("leakscope: {}", usage_line(&err.render().to_string()));
    ExitStatus::Error.into()
}

/// Clap's rendered error (several lines: the error, a tip, the usage) as one line: the error,
/// then which `--help` to read.
fn usage_line(rendered: &str) -> String {
    let message = rendered
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("invalid usage")
        .trim_start_matches("error: ");
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
        .unwrap_or_else(|| "leakscope".to_owned());
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
        assert_eq!(usage_line(rendered), expected);
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
}
