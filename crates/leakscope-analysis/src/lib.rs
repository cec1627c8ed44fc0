//! leakscope's findings engine: task, resource and dump data in, leak findings out. No I/O, no
//! async: the CLI's `snapshot`, the terminal UI, the CI gate and the in-process test check all
//! feed it what they received and print what it returns, so every detector lives here once.
//!
//! ```
//! use leakscope_analysis::{Config, FindingKind, Model, Severity, Sources, analyze};
//! use leakscope_proto::v1::{Location, Snapshot, Task, TaskState};
//!
//! // A task polled three times, idle since t = 1 s, and nothing holds its waker.
//! let forgotten = Task {
//!     id: 7,
//!     location_id: 1,
//!     state: TaskState::Idle as i32,
//!     polls: 3,
//!     waker_count: 0,
//!     last_poll_start_nanos: 1_000_000_000,
//!     last_poll_end_nanos: 1_000_000_000,
//!     ..Task::default()
//! };
//! let mut model = Model::new(Sources::all());
//! model.apply_snapshot(Snapshot {
//!     now_nanos: 61_000_000_000,
//!     locations: vec![Location { id: 1, file: "src/main.rs".into(), line: 12, col: 5 }],
//!     tasks: vec![forgotten],
//!     ..Snapshot::default()
//! });
//!
//! let report = analyze(&model, &Config::default());
//! let finding = &report.findings[0];
//! assert_eq!(finding.kind, FindingKind::LostWaker);
//! assert_eq!(finding.severity, Severity::Leak);
//! assert_eq!(finding.location.to_string(), "src/main.rs:12:5");
//! assert_eq!(finding.doc, "docs/leak-patterns.md#lost-waker");
//! assert!(finding.explanation.contains("nothing can wake it again"));
//! // One snapshot is enough for every kind: growth is judged from the tasks' spawn times.
//! assert!(report.unevaluated.is_empty());
//! ```
//!
//! # Pieces
//!
//! - [`Model`] holds what a client knows: apply [`Update`](leakscope_proto::v1::Update)s or
//!   [`Snapshot`](leakscope_proto::v1::Snapshot)s and optional task dumps; it keeps a bounded
//!   [`History`] of live counts per spawn location and knows its [`Sources`]. It keeps each
//!   task as a [`TaskRecord`]: the protocol's `Task` fields, its name a shared [`TaskName`].
//! - [`wait_point`] names what a dumped backtrace is parked in; [`best_wait`] does the same from
//!   the agent's waits when there is no dump.
//! - [`names`] names frames and says which are the app's, and how long a task has been idle, for
//!   every crate that reads frames.
//! - [`analyze`] runs the detectors under a [`Config`] (from `leakscope.toml`) and returns a
//!   [`Report`]: [`Group`]s of tasks by location and wait point, and [`Finding`]s sorted most
//!   severe first, one per spawn site and wait point (findings of several kinds there are merged
//!   into one entry, [`Finding::kinds`]), plus what is [`Pending`]: not known yet, with the time
//!   left.
//!
//! # Detectors
//!
//! | kind | severity | fires when | default |
//! |---|---|---|---|
//! | `deadlock` | leak | tasks wait on locks held by each other (or by themselves) | waits ≥ 1 s |
//! | `lost-waker` | leak | idle, polled, zero live wakers | idle ≥ 1 s |
//! | `stuck` | suspect / warn | parked in one await: where a peer owes progress, or where servers idle at an accumulating site | ≥ 30 s; timers (warn) only if ≥ 1 h or overdue |
//! | `uncancelled` | suspect | alive after the parent task or spawner span ended (not a settled population waiting for work) | ≥ 30 s after |
//! | `growth` | suspect | a site accumulates (first sight: spawn times) or its live count rises (watched) | ≥ 10 tasks over ≥ 5 s, steady; or ≥ 30 s, ≥ 8 samples, ≥ 0.05/s, ≥ +10, R² ≥ 0.8 |
//! | `lock-contention` | warn | waiters on the tokio locks or semaphores created at one site | wait ≥ 1 s or ≥ 10 waiters |
//! | `blocking` | warn | long polls, or a poll running now | ≥ 10 ms |
//! | `self-wake` | warn | self-wakes over half of wakes | > 50 %, ≥ 10 wakes |
//! | `large-future` | warn | spawned future size | ≥ 1024 bytes |
//!
//! The reasons for each default are on the fields of [`Config`]; each detector's module docs say
//! what it deliberately does not flag.

mod ages;
mod chunked;
mod config;
mod context;
mod detect;
mod duration;
mod error;
mod facts;
mod finding;
mod glob;
mod group;
mod history;
mod hits;
mod location;
mod model;
pub mod names;
mod report;
mod site;
mod sources;
mod task_record;
mod wait_point;

#[cfg(test)]
mod support;

pub use ages::AgeQuantiles;
pub use chunked::Chunked;
pub use config::{
    BlockingConfig, Config, DeadlockConfig, GrowthConfig, LargeFutureConfig, LockContentionConfig,
    LostWakerConfig, SelfWakeConfig, StuckConfig, Suppression, UncancelledConfig,
};
pub use duration::{
    MAX_DURATION, MAX_DURATION_TEXT, format_count, format_secs, parse_bounded_duration,
    parse_duration,
};
pub use error::ConfigError;
pub use facts::{CARGO_CONFIG_FIX, Check, Facts, Status, TOKIO_MINIMUM};
pub use finding::{ChainLink, DOC_FILE, Evidence, Finding, FindingKind, Severity};
pub use glob::Glob;
pub use group::{Group, GroupPage, StateCounts, TaskOrder, group_tasks};
pub use history::{Fit, History, HistoryLimits, Sample, Series, SeriesKey, fit};
pub use hits::MAX_SAMPLE;
pub use location::SourceLocation;
pub use model::{
    Model, ModelLimits, SpanClose, TargetInfo, TaskWait, WaitShape, WaitSource, is_live,
};
pub use report::{Pending, Report, Target, TaskSummary, Unevaluated, analyze};
pub use sources::Sources;
pub use task_record::{TaskName, TaskRecord};
pub use wait_point::{
    UserFrame, WaitPoint, best_wait, task_wait_point, user_frame, wait_point, wait_point_from_wait,
};
