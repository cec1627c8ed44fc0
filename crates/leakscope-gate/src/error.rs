//! Why the gate could not reach a verdict, each as one line. The CLI gives each kind its exit
//! code (`CliError::from_gate`): 2 when leakscope's side failed (flags, a report path, the
//! agent unreachable or gone), 3 when the service or load of run mode failed, 130 when
//! interrupted.

use std::path::PathBuf;

use leakscope_client::ClientError;

/// Every way the gate can fail to judge. A verdict of "fail" is not an error: see
/// [`Verdict`](crate::Verdict).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Reaching or reading the agent failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The agent sent nothing for too long.
    #[error("the agent at {addr} sent no update for {secs}s")]
    Stalled {
        /// The agent.
        addr: String,
        /// How long it was silent.
        secs: f64,
    },
    /// The agent closed its update stream (the process ended, most likely).
    #[error("the agent at {addr} went away during the gate")]
    Disconnected {
        /// The agent.
        addr: String,
    },
    /// A command of run mode could not be started.
    #[error("failed to start `{command}`: {source}")]
    Spawn {
        /// The shell command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The service exited before its agent answered.
    #[error("the service `{command}` exited ({status}) before its agent answered at {addr}")]
    ExitedEarly {
        /// The shell command.
        command: String,
        /// Its exit status.
        status: String,
        /// Where the agent was expected.
        addr: String,
    },
    /// The service never answered.
    #[error("no leakscope agent answered at {addr} within {secs}s of starting `{command}`: {last}")]
    StartupTimeout {
        /// The shell command.
        command: String,
        /// Where the agent was expected.
        addr: String,
        /// The time limit.
        secs: f64,
        /// The last connection error.
        last: String,
    },
    /// The service exited while it was being watched.
    #[error("the service `{command}` exited ({status}) during the gate")]
    ServiceExited {
        /// The shell command.
        command: String,
        /// Its exit status.
        status: String,
    },
    /// The load command failed: the load test itself did not run as meant.
    #[error("the load `{command}` failed ({status})")]
    LoadFailed {
        /// The shell command.
        command: String,
        /// Its exit status.
        status: String,
    },
    /// A `--report` path that cannot be written, found before any watching started.
    #[error("--report: {reason}")]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// Why, on one line.
        reason: String,
    },
    /// Writing a report file failed.
    #[error("failed to write the report {path}: {source}")]
    Report {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Writing to stdout failed.
    #[error("failed to write the output: {0}")]
    Output(#[source] std::io::Error),
    /// Ctrl-C or SIGTERM.
    #[error("interrupted")]
    Interrupted,
    /// Waiting on a child process failed.
    #[error("failed to wait for `{command}`: {source}")]
    Wait {
        /// The shell command.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}
