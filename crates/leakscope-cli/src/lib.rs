//! The `leakscope` command line: `snapshot`, `attach`, `gate`, `profile`, `demo`, `doctor`,
//! `completions` and `man`.
//! See `leakscope --help`.
//!
//! The program is this library so tests can run it in-process: [`run`] takes the arguments and
//! returns the exit code; `main.rs` only calls [`main`]. Adding a command is one variant of
//! [`Command`] and one arm of [`Command::run`] (in `cli.rs`), plus the command's own module.
//!
//! ```
//! let code = leakscope_cli::run(["leakscope", "snapshot", "--wait", "soon"]);
//! assert_eq!(code, leakscope_cli::ExitStatus::Error.into());
//! ```

mod attach;
mod cli;
mod completions;
mod connect;
mod doctor;
mod exit;
mod man;
mod memory;
mod profile;
#[cfg(test)]
mod proptests;
mod run;
mod runtime;
mod snapshot;
mod thresholds;

pub use cli::{Cli, Command};
pub use completions::{CompletionsArgs, Shell};
pub use doctor::DoctorArgs;
pub use exit::{CliError, ExitStatus};
pub use man::ManArgs;
pub use profile::{
    BlockingArgs, BlockingWeight, CpuArgs, DiffArgs, LocksArgs, LocksWeight, OutputArgs,
    ProfileArgs, ProfileKind, TasksArgs, TasksWeight,
};
pub use run::{main, run};
pub use snapshot::{Format, JSON_SCHEMA_VERSION, SnapshotArgs};
pub use thresholds::{DEFAULT_CONFIG, ThresholdArgs};
