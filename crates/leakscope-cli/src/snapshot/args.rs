//! The flags of `leakscope snapshot`.

use std::time::Duration;

use clap::{Args, ValueEnum};
use leakscope_client::DEFAULT_ADDR;
use leakscope_gate::{ADDR_ENV, parse_bounded_duration};

use super::page::{Ask, Order};
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
    /// Let the agent analyse, and send the report alone: a few kilobytes whatever the app's
    /// size, where a plain snapshot receives every task (a leakscope agent only; see
    /// docs/protocol.md, `Aggregate`). The analysis then runs in the app's process, as
    /// `/metrics` does, and the agent keeps its model 30 s for the next request
    #[arg(long)]
    pub in_agent: bool,
    /// Print one page of the report's Nth group's tasks (1: the largest) instead of the report;
    /// with --in-agent the agent sorts and pages them
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub tasks_of: Option<u32>,
    /// With --tasks-of: how to sort the group's tasks
    #[arg(long, value_enum, value_name = "ORDER", default_value_t = Order::Idle, requires = "tasks_of")]
    pub order: Order,
    /// With --tasks-of: how many of the sorted tasks to skip
    #[arg(long, value_name = "N", default_value_t = 0, requires = "tasks_of")]
    pub offset: u64,
    /// With --tasks-of: at most how many tasks to print, 1 to 1000
    #[arg(long, value_name = "N", default_value_t = 50, requires = "tasks_of",
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
    #[command(flatten)]
    pub thresholds: ThresholdArgs,
}

impl SnapshotArgs {
    /// The page `--tasks-of` asks for.
    pub(crate) fn page(&self) -> Option<Ask> {
        self.tasks_of.map(|rank| Ask {
            rank: rank as usize,
            order: self.order,
            offset: self.offset,
            limit: self.limit,
        })
    }

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
