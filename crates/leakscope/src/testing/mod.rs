//! The in-process leak check: fail a test when tasks it spawned are still alive at its end.
//!
//! `#[leakscope::test]` is a drop-in for `#[tokio::test]`: it builds the same runtime, runs the
//! test, then waits (bounded, with backoff) for the tasks the test spawned to finish, and fails
//! the test if some are still alive, listing them by spawn location and wait point.
//!
//! ```
//! #[leakscope::test]
//! async fn the_worker_stops_with_its_channel() {
//!     let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(8);
//!     let worker = tokio::spawn(async move { while rx.recv().await.is_some() {} });
//!     tx.send(1).await.unwrap();
//!     drop(tx); // without this, the worker waits in `recv` for ever and the test fails
//!     worker.await.unwrap();
//! }
//! ```
//!
//! A leaking test fails with a listing like this (with `--cfg tokio_unstable`):
//!
//! ```text
//! leakscope: 2 tasks spawned by this test are still alive after waiting 1s for them to finish:
//!   2 × src/subscriptions.rs:41:9, parked in mpsc::Receiver::recv (tasks 12, 13)
//! ```
//!
//! # Arguments
//!
//! It takes `#[tokio::test]`'s arguments unchanged — `flavor = "current_thread" | "multi_thread"
//! | "local"`, `worker_threads = N`, `start_paused = true`, `crate = "path::to::tokio"`,
//! `unhandled_panic = "ignore" | "shutdown_runtime"`, `name = "runtime name"` — and these:
//!
//! | argument | meaning | default |
//! |---|---|---|
//! | `ignore_location = "GLOB"` | tasks spawned at a matching location are allowed to outlive the test (matched against `file` and `file:line:col`; `*`, `**`, `?`); repeatable | none |
//! | `ignore_name = "GLOB"` | so are tasks whose name (`tokio::task::Builder::name`) matches; repeatable | none |
//! | `settle = "DUR"` | how long to wait, re-checking with backoff, for the test's tasks to finish | `1s` |
//! | `quiescence = "DUR"` | instead of failing only at the deadline, judge as soon as the test's tasks have not changed for this long | off |
//!
//! The same options exist on [`LeakCheck`], the function form for custom harnesses.
//!
//! # Which tasks count
//!
//! A task counts against the test that spawned it: each test runs on its own runtime, so the
//! check takes the tasks spawned on that runtime (tokio's runtime hooks) and, from the
//! collector's records, the tasks they spawned elsewhere (their parent task is one of the
//! test's). Tests running in parallel in one process never see each other's tasks, and tasks
//! alive before the test began are never counted. [`LeakCheck::check`], for a harness that runs
//! tests on a runtime of its own, counts every task that appeared during the test instead.
//!
//! # What it needs
//!
//! The check installs leakscope's collector once per process without serving anything
//! ([`Builder::install_collector`](crate::Builder::install_collector)), before the first test's
//! runtime starts. With `--cfg tokio_unstable` it names spawn locations, task names and wait
//! points (from the agent's resource waits and, on Linux x86_64 or aarch64, the await chain the
//! agent captured when each task parked). On stable tokio it still fails a leaking test, but can
//! only count its tasks, and says so. If another global tracing subscriber is set, locations
//! still come from tokio's hooks and the listing says why wait points are missing.
//!
//! # Task dumps
//!
//! The check takes no task dump unless asked: [`LeakCheck::task_dump`] takes one of the test's
//! runtime when it leaks. A dump pauses the runtime's workers and re-polls every task (a task
//! whose waker was lost can complete, and the evidence with it), and tokio's dump has open
//! failures: a busy multi-thread runtime can be wedged for good (tokio-rs/tokio#7478), some
//! current-thread runtimes panic (tokio-rs/tokio#8391), and an assertion can fail
//! (tokio-rs/tokio#6343). The captured await chains need none of it.

mod check;
mod inspect;
mod install;
mod leaks;
mod tracker;

pub use check::LeakCheck;
pub use leaks::{LeakGroup, Leaks};

/// The tokio the expansion of `#[leakscope::test]` builds runtimes with (unless given `crate`).
#[doc(hidden)]
pub use tokio as __tokio;
