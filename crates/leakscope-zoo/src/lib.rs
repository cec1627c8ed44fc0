//! The leakscope zoo: real tokio workloads that leak tasks, one per failure known from Go services.
//!
//! Each [`Scenario`] serves a synthetic load (`rate` requests per second, each request in its own
//! task inside a `request` tracing span) through a handler with one well-known bug, or, for
//! [`Scenario::Clean`], with none. leakscope's end-to-end tests, its demo and its benchmarks run
//! against them.
//!
//! ```
//! use leakscope_zoo::{LoadOptions, Scenario};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let scenario: Scenario = "unbounded-spawn".parse().expect("a known scenario");
//! let opts = LoadOptions { rate: 50, duration: Duration::from_millis(200) };
//! leakscope_zoo::run(&[scenario], &opts).await?;
//!
//! // The load has stopped; the tasks it leaked have not.
//! assert!(tokio::runtime::Handle::current().metrics().num_alive_tasks() > 0);
//! # Ok(())
//! # }
//! ```
//!
//! # Source markers
//!
//! End-to-end tests find the lines leakscope should point at by trailing comments in
//! `src/scenarios/`:
//!
//! | marker | on the line of |
//! |---|---|
//! | `// zoo:spawn <name>` | the `tokio::spawn(` that spawns the tasks that leak (deadlock has one per side) |
//! | `// zoo:wait <name>` | the `.await` (or, for lost-waker, the `Poll::Pending`) where they are stuck |
//! | `// zoo:blocking <name>` | the blocking call inside async code |
//!
//! `docs/leak-patterns.md` explains every scenario, the Go failure it mirrors and its fix.

pub mod cli;
mod load;
mod runner;
mod scenario;
mod scenarios;

pub use load::LoadOptions;
pub use runner::run;
pub use scenario::{Scenario, UnknownScenario};
