//! leakscope's profiles: where the tasks of a tokio app wait (task-wait, lock-wait), what blocks
//! its workers (blocking) and where its CPU time goes (CPU), as flame graphs (inferno), pprof
//! protobuf (`go tool pprof`, Pyroscope, speedscope) and folded stacks, and the difference of two.
//!
//! ```
//! use leakscope_analysis::{Model, Sources};
//! use leakscope_profile::{Format, TaskFilter, WriteOptions, task_wait_profile, write_profile};
//! use leakscope_proto::v1::{Location, Snapshot, Task, TaskState};
//!
//! // Two tasks spawned at src/main.rs:12, idle.
//! let task = |id| Task {
//!     id,
//!     location_id: 1,
//!     state: TaskState::Idle as i32,
//!     polls: 1,
//!     waker_count: 1,
//!     ..Task::default()
//! };
//! let mut model = Model::new(Sources::all());
//! model.apply_snapshot(Snapshot {
//!     now_nanos: 5_000_000_000,
//!     locations: vec![Location { id: 1, file: "src/main.rs".into(), line: 12, col: 5 }],
//!     tasks: vec![task(1), task(2)],
//!     ..Snapshot::default()
//! });
//!
//! let profile = task_wait_profile(&model, None, &TaskFilter::all());
//! let mut folded = Vec::new();
//! write_profile(&profile, Format::Folded, &WriteOptions::default(), &mut folded).unwrap();
//! assert_eq!(String::from_utf8(folded).unwrap(), "tokio::spawn (src/main.rs:12);wait: unknown 2\n");
//! ```
//!
//! # Pieces
//!
//! - [`Profile`]: stacks of [`Frame`]s (root first), one value per [`ValueType`] column.
//! - Builders: [`task_wait_profile`], [`lock_wait_profile`], [`blocking_profile`] from a
//!   [`leakscope_analysis::Model`] (feature `analysis`, on by default), [`cpu_profile`] from the
//!   agent's `CpuProfileResponse`. Frames are named by [`leakscope_analysis::names`], as
//!   everywhere else.
//! - [`site`]: the frames leakscope makes up for places (`tokio::spawn`, `wait: ...`,
//!   `blocking poll`), which pprof output names after their site (`tokio::spawn @
//!   src/main.rs:12`) so that pprof, Pyroscope and Parca show each site as a node of its own.
//! - Formats: [`pprof`] (encode and decode; needs only prost and flate2), [`folded`], and
//!   [`svg`] (feature `svg`, on by default: inferno). [`write_path`] picks one by extension.
//! - [`diff`]: the difference of two profiles, drawn as a differential flame graph.

mod build;
mod diff;
mod error;
mod format;
mod profile;
mod time;

pub mod folded;
pub mod pprof;
pub mod site;
#[cfg(feature = "svg")]
pub mod svg;

pub use build::cpu_profile;
#[cfg(feature = "analysis")]
pub use build::{
    Dumped, TaskFilter, Weight, blocking_profile, lock_wait_profile, task_wait_profile, wait_chain,
};
pub use diff::diff;
pub use error::ProfileError;
pub use format::{Format, WriteOptions, read_bytes, read_path, write_path, write_profile};
pub use profile::{Differential, Frame, Label, Profile, Sample, ValueType};
pub use time::utc;
