//! The flags of `leakscope snapshot`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use leakscope_client::DEFAULT_ADDR;
use leakscope_gate::{ADDR_ENV, parse_bounded_duration};

use crate::thresholds::ThresholdArgs;

/// The flags of `leakscope snapshot` (its help text is on [`crate::Command::Snapshot`]).
#[derive(Debug, Clone, Args)]
pub struct SnapshotArgs {
    /// The app to read: host:port or http://host:port (the argument wins over LEAKSCOPE_ADDR)
    #[arg(value_name = "ADDR", env = ADDR_ENV, hide_env_values = true, default_value = DEFAULT_ADDR)]
    pub addr: String,
    /// How long to watch before analysing (growth needs a window of updates); at most 7d
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_bounded_duration)]
    pub wait: Duration,
    /// Output format: text for people, json for programs (see docs/json-schema.md)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = Format::Text)]
    pub format: Format,
    /// How often the agent sends updates while watching [default: the agent's, 500ms]; one
    /// longer than --wait is cut to --wait (and the command says so), so the watch still ends
    /// after --wait
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
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
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_bounded_duration)]
    pub dump_timeout: Duration,
    /// How long the first (full) update may take [default: 10s, plus 10s per million live
    /// tasks the target reports]. A large app's first update streams in parts; past this limit
    /// the error says how far it got ("busy: N of M tasks sent")
    #[arg(long, value_name = "DUR", value_parser = parse_bounded_duration)]
    pub first_update_timeout: Option<Duration>,
    /// Text only: how many task groups to list, largest first; 0 lists all
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub groups: usize,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

impl SnapshotArgs {
    /// The interval to ask the agent for: `--interval`, cut to `--wait` when longer (a watch
    /// ends at the first update past `--wait`, so a longer interval would stretch it); with the
    /// line that says so when it was cut.
    pub fn watch_interval(&self) -> (Option<Duration>, Option<String>) {
        match self.interval {
            Some(interval) if !self.wait.is_zero() && interval > self.wait => (
                Some(self.wait),
                Some(format!(
                    "--interval {interval:?} is longer than --wait {:?}; asking for updates \
                     every {:?} instead",
                    self.wait, self.wait
                )),
            ),
            interval => (interval, None),
        }
    }
}

/// How `snapshot` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned tables and explanations, most severe first.
    Text,
    /// One JSON document, the schema in docs/json-schema.md.
    Json,
}
