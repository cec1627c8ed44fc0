//! `leakscope gate`: a CI gate on task leaks. It watches a running tokio service (attach mode)
//! or starts one (run mode, `--run CMD [--load CMD]`), and fails when live tasks grow past limits
//! (`--max-tasks`, `--max-growth`, `--max-rate`, for the total and per spawn location) or when
//! `leakscope-analysis` finds leaks of the kinds in `--fail-on`.
//!
//! The CLI flattens [`GateArgs`] into its `gate` command and calls [`run`]; the verdict maps to
//! the exit code (0 pass, 1 fail; with no verdict, the [`GateError`] decides: 2 for a usage or
//! connection error, 3 when the service or load of run mode failed, 130 when interrupted).
//!
//! The [`input`](parse_bounded_duration) checks (durations bounded to [`MAX_DURATION`], output
//! paths writable) live here because every `leakscope` command shares them and the CLI already
//! depends on this crate.
//!
//! ```no_run
//! # async fn gate() -> Result<(), leakscope_gate::GateError> {
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     gate: leakscope_gate::GateArgs,
//! }
//!
//! let cli = Cli::parse_from(["gate", "127.0.0.1:6669", "--window", "30s", "--max-growth", "50"]);
//! let verdict = leakscope_gate::run(cli.gate, leakscope_analysis::Config::default()).await?;
//! std::process::exit(verdict.code().into());
//! # }
//! ```
//!
//! # Reports
//!
//! `--format text|json|junit|github` on stdout, and `--report FORMAT=PATH` for more files. Every
//! format carries the live-task counts at the window's start, peak and end, total and for the top
//! spawn locations, every limit checked, and the findings. `github` prints workflow commands
//! (`::error file=…,line=…::`) that annotate the spawn locations, and appends a summary to
//! `$GITHUB_STEP_SUMMARY` when it is set. docs/ci-gate.md has a GitHub Actions example.
//!
//! # Stalls and task dumps
//!
//! Every report names a runtime the agent reports stalled (its heartbeat late: the workers are
//! not running tasks), and the analysis then leaves the time-based findings unjudged. The gate
//! takes no task dump unless `--task-dump` asks (and then only for a failing verdict): a dump
//! stops every worker of the app and can wedge a busy runtime for good (tokio-rs/tokio#7478).
//! Wait points come from the agent's capture instead.
//!
//! # Not flaky
//!
//! A growth or rate over its limit at the end of the window is measured again, with backoff, for
//! up to `--settle` before it fails: requests in flight drain, leaked tasks stay. In run mode
//! the same budget bounds how long tasks may take to return to the baseline after the load.

mod args;
mod error;
mod format;
mod gate;
mod input;
mod limits;
mod observe;
mod process;
mod report;
mod runtime;

pub use args::{ADDR_ENV, FailOn, Format, GateArgs, ReportFile};
pub use error::GateError;
pub use format::{render, step_summary};
pub use gate::run;
pub use input::{
    MAX_DURATION, MAX_DURATION_TEXT, check_directory, check_writable, parse_bounded_duration,
};
pub use limits::{Counts, Limit, LimitCheck, LimitKind, Violation};
pub use report::{
    GateFinding, GateReport, LocationRow, Mode, SettleCheck, TargetInfo, Verdict, WindowInfo,
};
pub use runtime::RuntimeStatus;
