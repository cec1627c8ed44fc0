//! leakscope: find the tokio tasks that leak, and why, in a running app.
//!
//! Link it and call [`init`] first thing in `main`; the agent serves task, resource, long-poll and
//! task-dump data over gRPC on loopback for the `leakscope` CLI:
//!
//! ```no_run
//! #[tokio::main]
//! async fn main() {
//!     leakscope::init();
//!     // ... the app ...
//! }
//! ```
//!
//! Or configure it in code and learn the bound address:
//!
//! ```
//! # #[tokio::main] async fn main() {
//! let agent = leakscope::Builder::new()
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .try_init()
//!     .expect("the agent starts");
//! assert!(agent.local_addr().ip().is_loopback());
//! # }
//! ```
//!
//! # An app with its own tracing
//!
//! tokio's instrumentation reaches the process's one global tracing subscriber. [`init`] makes
//! the agent's subscriber the global one; an app that installs its own (fmt or JSON logs,
//! OpenTelemetry) keeps it, in one of two ways (`docs/adoption.md` compares them):
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! use tracing_subscriber::prelude::*;
//!
//! // 1. The agent as a layer of the app's subscriber (it starts serving at once).
//! tracing_subscriber::registry()
//!     .with(leakscope::layer())
//!     .with(tracing_subscriber::fmt::layer())
//!     .init();
//! # }
//! ```
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! use tracing_subscriber::prelude::*;
//!
//! // 2. The agent's subscriber carrying the app's: everything that is not tokio's
//! //    instrumentation goes to it unchanged, with its own span ids.
//! let logs = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer());
//! leakscope::Builder::from_env().unwrap().forward_to(logs).init();
//! # }
//! ```
//!
//! [`init`] called after the app installed its own subscriber says so in one line on stderr,
//! with what to do instead, and the app runs on (the agent then serves runtime metrics only).
//!
//! # Cargo features
//!
//! The crate an app links carries what the agent needs to serve; the rest is opt-in.
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `layer` | on | [`layer()`] and [`Builder::try_layer`] (tracing-subscriber's registry) |
//! | `testing` | off | `#[leakscope::test]` and `leakscope::testing`, the in-process leak check (a proc-macro crate) |
//! | `http` | off | `/metrics` and `/debug/pprof/*` over HTTP |
//! | `cpu` | off | CPU profiles (pprof-rs) over gRPC and HTTP |
//! | `console` | off | tokio-console attaches to the agent's port (console-subscriber) |
//!
//! # Leak tests
//!
//! With the `testing` feature, `#[leakscope::test]` is `#[tokio::test]` that fails when tasks
//! the test spawned are still alive at its end, listing them by spawn location and wait point;
//! `leakscope::testing` has the details and the function form for custom harnesses.
//!
//! # Prometheus and pprof
//!
//! With the `http` feature and `LEAKSCOPE_HTTP_BIND` (or [`Builder::http_bind`]) the agent also
//! serves `/metrics` in the Prometheus text format and `/debug/pprof/profile` (CPU, with the `cpu`
//! feature) and `/debug/pprof/tasks` (task-wait profile, `?debug=1|2` texts) shaped like Go's
//! `net/http/pprof`, under the same loopback rule; `docs/fleet.md` in the repository lists the
//! metrics and scrape configs.
//!
//! # Environment
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `LEAKSCOPE_BIND` | address the gRPC service listens on | `127.0.0.1:6669` |
//! | `LEAKSCOPE_ALLOW_REMOTE` | `1` allows a non-loopback `LEAKSCOPE_BIND` | off |
//! | `LEAKSCOPE_LONG_POLL_MS` | a poll longer than this is recorded as blocking | `10` |
//! | `LEAKSCOPE_RETAIN_FINISHED` | finished tasks kept for clients, at most | `4096` |
//! | `LEAKSCOPE_RETAIN_SECS` | how long a finished task is kept | `60` |
//! | `LEAKSCOPE_WATCH_INTERVAL_MS` | period of `Watch` updates (longer when building one takes over a tenth of it: see docs/protocol.md) | `500` |
//! | `LEAKSCOPE_WAIT_CAPTURE` | `0` turns off the wait capture (wait points then come only from an explicit task dump) | on |
//! | `LEAKSCOPE_DISABLE` | `1` makes [`init`] and [`layer()`] do nothing (a subscriber given to [`Builder::forward_to`] is installed alone) | off |
//! | `LEAKSCOPE_HTTP_BIND` | also serve `/metrics` and `/debug/pprof/*` over HTTP here (same loopback rule; needs the `http` feature) | off |
//! | `LEAKSCOPE_METRICS_TOP_LOCATIONS` | spawn locations `/metrics` names; the rest are `location="other"` | `20` |
//!
//! # What it needs from the build
//!
//! Per-task data, resources and lock waits come from tokio's own instrumentation, which exists only
//! with `--cfg tokio_unstable` (and tokio's `tracing` feature, which this crate turns on). Wait
//! points are captured as tasks park, on Linux on x86_64 and aarch64, from frame pointers
//! (`-C force-frame-pointers=yes`). Task dumps, taken only when a user asks for one, work on
//! Linux (x86, x86_64, aarch64, s390x), where this crate turns on tokio's `taskdump`. Without them
//! the crate still builds and serves runtime metrics, and `Hello` lists what is missing. Release
//! builds should keep line tables (`debug = "line-tables-only"`) so wait points can name the app's
//! `.await` line and the frames tokio inlined.

mod adopt;
mod aggregate;
mod builder;
#[cfg(tokio_unstable)]
mod capture;
mod clock;
mod collect;
mod cpu;
mod dump;
mod error;
mod facts;
mod follow;
mod http;
#[cfg(feature = "layer")]
mod layer;
mod probe;
mod runtime;
mod server;
mod symbols;

#[cfg(tokio_unstable)]
mod arena;
#[cfg(all(tokio_unstable, feature = "console"))]
mod console;
#[cfg(all(tokio_unstable, not(feature = "console")))]
mod forward;
#[cfg(tokio_unstable)]
mod intern;
#[cfg(tokio_unstable)]
mod registry;
#[cfg(tokio_unstable)]
mod restate;
#[cfg(tokio_unstable)]
mod subscriber;
#[cfg(tokio_unstable)]
mod thread_times;

#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "layer")]
pub use builder::layer;
pub use builder::{AgentHandle, Builder, init, try_init};
pub use error::Error;
/// `#[tokio::test]` that fails when the test leaks tasks; see [`testing`].
#[cfg(feature = "testing")]
pub use leakscope_macros::test;
pub use runtime::register_runtime;
