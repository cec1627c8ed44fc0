//! The benchmark program behind `cargo xtask bench`: what leakscope's instrumentation costs an app,
//! measured side by side with plain tokio and with console-subscriber.
//!
//! Each process runs one workload under one instrumentation mode and prints one JSON line
//! ([`Report`]) on stdout; `cargo xtask bench` runs the processes, interleaves the modes, takes
//! medians and writes `docs/benchmarks.md`. By hand:
//!
//! ```text
//! cargo build --release -p leakscope-bench
//! target/release/leakscope-bench --mode leakscope --workload spawn
//! ```
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | measured; the report is on stdout |
//! | 1 | the measurement failed (the reason is on stderr) |
//! | 2 | bad command line |
//! | 3 | the mode is not available in this build (`leakscope-console` without its feature) |

mod cli;
mod cpu;
mod entry;
mod http;
mod instrument;
mod observe;
mod report;
mod rss;
mod workloads;

pub use cli::{Args, Mode, Role, Workload};
pub use entry::main;
pub use report::Report;
