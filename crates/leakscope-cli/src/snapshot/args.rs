//! The flags of `leakscope snapshot`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use leakscope_analysis::parse_duration;
use leakscope_client::DEFAULT_ADDR;

use crate::thresholds::ThresholdArgs;

/// The flags of `leakscope snapshot` (its help text is on [`crate::Command::Snapshot`]).
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// The app to read: host:port or http://host:port
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// How long to watch before analysing (growth needs a window of updates)
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    pub wait: Duration,
    /// Output format: text for people, json for programs (see docs/json-schema.md)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub format: Format,
    /// How often the agent sends updates while watching [default: the agent's, 500ms]
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Also take a task dump at the end. Off by default: wait points come from the agent's
    /// capture, with no pause. A dump stops every worker of the app while it runs (0.6-1.6 s at
    /// 100k tasks), re-polls every task (a lost-waker task can complete, evidence and all), and
    /// can wedge a busy multi-thread runtime for good (tokio-rs/tokio#7478; also #8391, #6343).
    /// The agent refuses one while a runtime is stalled or its run queues are long; the report's
    /// `dump` says what became of it
    #[arg(long)]
    pub task_dump: bool,
    /// Time limit of the dump --task-dump takes
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub dump_timeout: Duration,
    /// Text only: how many task groups to list, largest first; 0 lists all
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub groups: usize,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

/// How `snapshot` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables and explanations, most severe first.
    Text,
    /// One JSON document, the schema in docs/json-schema.md.
    Json,
}
