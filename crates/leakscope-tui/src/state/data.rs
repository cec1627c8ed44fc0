//! What the engine publishes for the screens: the latest analysis, the live tasks as compact
//! rows, resources, runtime metrics, the agent's own counters, the latest dump and the focused
//! task's details. Immutable once published; the screens only read it.

use std::collections::HashMap;
use std::sync::Arc;

use leakscope_analysis::{
    Chunked, Report, SourceLocation, TargetInfo, TaskRecord, TaskWait, WaitPoint,
};
use leakscope_proto::v1::{AgentStats, Backtrace, LongPoll, Resource, RuntimeMetrics, Wait};

use crate::state::rows::Rows;

/// Marks a task row that belongs to no group of the latest analysis (spawned since).
pub(crate) const NO_GROUP: u32 = u32::MAX;

/// Everything the screens show, as of one observation.
#[derive(Clone, Debug, Default)]
pub(crate) struct Data {
    /// Who the target is.
    pub(crate) target: TargetInfo,
    /// The latest observation, agent clock.
    pub(crate) now_nanos: u64,
    /// Updates applied since connecting.
    pub(crate) observations: u64,
    /// Live tasks as of the latest update applied: the rows of the Tasks screen, or, without
    /// per-task records (stable tokio), the runtimes' own count. The one figure the header and
    /// the Overview show.
    pub(crate) live: u64,
    /// The rows by state (zero without per-task records).
    pub(crate) states: leakscope_analysis::StateCounts,
    /// The latest analysis.
    pub(crate) report: Option<Arc<Report>>,
    /// What the latest analysis cost, and when it ran.
    pub(crate) analysis: AnalysisInfo,
    /// What the lists below carry: each is built only while a screen that shows it is open.
    pub(crate) lists: Lists,
    /// Live tasks, by id (empty unless `lists.tasks`).
    pub(crate) tasks: Arc<Rows>,
    /// The latest report's group of each (location id, wait point id) the rows have.
    pub(crate) groups: Arc<HashMap<(u32, u16), u32>>,
    /// Strings the rows refer to by index.
    pub(crate) strings: Arc<Strings>,
    /// Resources, by id (empty unless `lists.resources`).
    pub(crate) resources: Chunked<Resource>,
    /// Every wait on a resource (empty unless `lists.resources`).
    pub(crate) waits: Chunked<Wait>,
    /// Runtime metrics.
    pub(crate) runtimes: Arc<Vec<RuntimeMetrics>>,
    /// The agent's own counters.
    pub(crate) stats: Option<AgentStats>,
    /// Live tasks and agent counters over time, oldest first.
    pub(crate) samples: Arc<Vec<Sample>>,
    /// The latest task dump.
    pub(crate) dump: Option<Arc<DumpView>>,
    /// The task the user is looking at, in detail.
    pub(crate) focus: Option<Arc<Focus>>,
}

/// Which of the per-task and per-resource lists the engine publishes: only those a screen on
/// the page stack shows. At a million tasks each is a hundred megabytes, and each update a
/// screen holds on to while the engine applies the next costs another copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lists {
    /// The task rows (a Tasks screen).
    pub(crate) tasks: bool,
    /// The resources and their waits (the Resources screen).
    pub(crate) resources: bool,
}

/// The strings task rows refer to by index: locations, wait points, names, and per group the
/// text the filter searches.
#[derive(Clone, Debug, Default)]
pub(crate) struct Strings {
    /// Spawn and resource locations by the agent's location id.
    pub(crate) locations: HashMap<u32, SourceLocation>,
    /// Interned wait points; a row's `point` indexes this.
    pub(crate) points: Vec<WaitPoint>,
    /// Interned task names; index 0 is "no name".
    pub(crate) names: Vec<String>,
}

impl Strings {
    /// The location of an id (unknown when never sent).
    pub(crate) fn location(&self, id: u32) -> SourceLocation {
        self.locations.get(&id).cloned().unwrap_or_else(SourceLocation::unknown)
    }

    /// A row's wait point.
    pub(crate) fn point(&self, index: u16) -> &WaitPoint {
        &self.points[usize::from(index)]
    }

    /// A row's name, if it has one.
    pub(crate) fn name(&self, index: u32) -> Option<&str> {
        self.names.get(index as usize).map(String::as_str).filter(|n| !n.is_empty())
    }
}

/// A live task's state, as a row shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum RowState {
    /// Being polled now.
    Running,
    /// Woken, waiting for a worker.
    Scheduled,
    /// Parked.
    Idle,
    /// Not reported.
    Unknown,
}

impl RowState {
    /// The short name tables show and the filter matches.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Scheduled => "scheduled",
            Self::Idle => "idle",
            Self::Unknown => "unknown",
        }
    }
}

/// One live task, compact (64 bytes), and holding no time that moves by itself: the row of a
/// task nothing happened to is the same at the next publication, which shares its chunk (see
/// [`Rows`]). Busy time is an `f32` and the wakers an `i32` (saturated): seven digits are more
/// than a screen shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TaskRow {
    /// tokio's task id.
    pub(crate) id: u64,
    /// Spawn location id (see [`Strings::locations`]).
    pub(crate) location_id: u32,
    /// Name index (see [`Strings::names`]).
    pub(crate) name: u32,
    /// Wait point index (see [`Strings::points`]).
    pub(crate) point: u16,
    /// State.
    pub(crate) state: RowState,
    /// When it was spawned (agent clock).
    pub(crate) created_nanos: u64,
    /// When it went idle (agent clock); [`TaskRow::NOT_IDLE`] unless idle.
    pub(crate) idle_since_nanos: u64,
    /// Polls.
    pub(crate) polls: u64,
    /// Seconds spent in polls.
    pub(crate) busy_secs: f32,
    /// Wakes.
    pub(crate) wakes: u64,
    /// Live wakers.
    pub(crate) wakers: i32,
}

impl TaskRow {
    /// `idle_since_nanos` of a task that is not idle.
    pub(crate) const NOT_IDLE: u64 = u64::MAX;

    /// Seconds since spawn, at `now` (agent clock).
    pub(crate) fn age_secs(&self, now: u64) -> f64 {
        now.saturating_sub(self.created_nanos) as f64 / 1e9
    }

    /// Seconds idle at `now` (0 unless idle).
    pub(crate) fn idle_secs(&self, now: u64) -> f64 {
        match self.idle_since_nanos {
            Self::NOT_IDLE => 0.0,
            since => now.saturating_sub(since) as f64 / 1e9,
        }
    }
}

/// One observation of the whole app.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Sample {
    /// Agent clock, seconds.
    pub(crate) at_secs: f64,
    /// Live tasks.
    pub(crate) live: u64,
    /// Tasks spawned since the agent started (0 when the agent does not say).
    pub(crate) spawned_total: u64,
    /// Tasks finished since the agent started.
    pub(crate) finished_total: u64,
}

/// Spawn and completion rates over recent samples.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Rates {
    /// Tasks spawned per second.
    pub(crate) spawned_per_sec: f64,
    /// Tasks finished per second.
    pub(crate) finished_per_sec: f64,
}

impl Data {
    /// Spawn and completion rates over the last `window_secs` of samples (`None` before two
    /// samples).
    pub(crate) fn rates(&self, window_secs: f64) -> Option<Rates> {
        let last = self.samples.last()?;
        let first = self
            .samples
            .iter()
            .find(|s| last.at_secs - s.at_secs <= window_secs)
            .filter(|first| first.at_secs < last.at_secs)?;
        let span = last.at_secs - first.at_secs;
        let per_sec = |a: u64, b: u64| b.saturating_sub(a) as f64 / span;
        Some(Rates {
            spawned_per_sec: per_sec(first.spawned_total, last.spawned_total),
            finished_per_sec: per_sec(first.finished_total, last.finished_total),
        })
    }

    /// A row by task id.
    pub(crate) fn row(&self, id: u64) -> Option<&TaskRow> {
        self.tasks.get(id)
    }

    /// The index of a row's group in the latest report, or [`NO_GROUP`].
    pub(crate) fn group_index(&self, row: &TaskRow) -> u32 {
        self.groups.get(&(row.location_id, row.point)).copied().unwrap_or(NO_GROUP)
    }

    /// The flags (finding kinds) of a row's group, as text.
    pub(crate) fn flags(&self, row: &TaskRow) -> Vec<&'static str> {
        self.group_of(row).map(|g| g.flags.iter().map(|k| k.as_str()).collect()).unwrap_or_default()
    }

    /// A row's group in the latest report.
    pub(crate) fn group_of(&self, row: &TaskRow) -> Option<&leakscope_analysis::Group> {
        let report = self.report.as_ref()?;
        report.groups.get(self.group_index(row) as usize)
    }
}

/// What the latest analysis cost.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct AnalysisInfo {
    /// Milliseconds the latest `analyze` took.
    pub(crate) took_ms: f64,
    /// Milliseconds applying the latest update to the model took.
    pub(crate) apply_ms: f64,
    /// The observation the latest analysis saw.
    pub(crate) at_observation: u64,
    /// How often analysis runs at most, in seconds (it backs off when it is expensive).
    pub(crate) every_secs: f64,
}

/// The latest task dump, as the screens use it.
#[derive(Clone, Debug, Default)]
pub(crate) struct DumpView {
    /// `ok`, `timed-out: …`, …
    pub(crate) status: String,
    /// When it was taken, agent clock.
    pub(crate) taken_at_nanos: u64,
    /// How long it took.
    pub(crate) duration_nanos: u64,
    /// Each dumped task's backtraces, root first.
    pub(crate) traces: HashMap<u64, Vec<Backtrace>>,
}

/// The task shown in detail, with what only it needs: its full record, children, spawner and
/// poll-time distribution.
#[derive(Clone, Debug, Default)]
pub(crate) struct Focus {
    /// The record (finished tasks stay visible while the model keeps them).
    pub(crate) task: Option<TaskRecord>,
    /// What it is parked in.
    pub(crate) wait: Option<TaskWait>,
    /// Where it was spawned.
    pub(crate) location: SourceLocation,
    /// Its spawner task, with its location, and when it ended (seconds ago), if it did.
    pub(crate) parent: Option<(u64, SourceLocation, Option<f64>)>,
    /// Live children: how many, and the first few ids.
    pub(crate) children: (usize, Vec<u64>),
    /// Poll durations seen, in buckets by powers of two of microseconds (see
    /// [`Focus::bucket_label`]); counted from the mean poll time between observations, and long
    /// polls exactly.
    pub(crate) poll_histogram: Vec<u64>,
    /// Its recorded long polls, most recent first.
    pub(crate) long_polls: Vec<LongPoll>,
    /// Its waits on resources, with the resource and its label.
    pub(crate) waits: Vec<FocusWait>,
    /// The await chains the agent captured when it last parked (one per leaf it waits on, root
    /// first); empty when none is known.
    pub(crate) captured: Vec<Backtrace>,
}

/// One of a focused task's waits on a resource.
#[derive(Clone, Debug, Default)]
pub(crate) struct FocusWait {
    pub(crate) wait: Wait,
    pub(crate) resource: Option<Resource>,
    /// What the resource is ("mpsc channel", "Mutex", ...; "resource" when it is gone).
    pub(crate) label: String,
}

impl Focus {
    /// Buckets of [`Focus::poll_histogram`].
    pub(crate) const BUCKETS: usize = 16;

    /// The bucket of a poll duration: `< 2µs`, `< 4µs`, … `≥ 32ms`.
    pub(crate) fn bucket(nanos: u64) -> usize {
        let micros = nanos / 1_000;
        let bits = (u64::BITS - micros.leading_zeros()) as usize;
        bits.min(Self::BUCKETS - 1)
    }

    /// The upper bound of bucket `i`, as text (`2µs`, …, `32.8ms`, `∞`).
    pub(crate) fn bucket_label(i: usize) -> String {
        if i + 1 >= Self::BUCKETS {
            return "more".to_owned();
        }
        let micros = 1u64 << i;
        if micros < 1_000 {
            format!("<{micros}µs")
        } else {
            format!("<{:.1}ms", micros as f64 / 1e3)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Data, Focus, Sample};
    use std::sync::Arc;

    /// `check(samples as (secs, spawned, finished), window, expected rates)`.
    fn check(samples: &[(f64, u64, u64)], window: f64, expected: Option<(f64, f64)>) {
        let samples = samples
            .iter()
            .map(|&(at_secs, spawned_total, finished_total)| Sample {
                at_secs,
                live: 0,
                spawned_total,
                finished_total,
            })
            .collect();
        let data = Data { samples: Arc::new(samples), ..Data::default() };
        let rates = data.rates(window).map(|r| (r.spawned_per_sec, r.finished_per_sec));
        assert_eq!(rates, expected);
    }

    #[test]
    fn rates_over_a_window() {
        check(&[], 5.0, None);
        check(&[(1.0, 10, 5)], 5.0, None);
        check(&[(1.0, 10, 5), (3.0, 30, 9)], 5.0, Some((10.0, 2.0)));
        // Older samples fall outside the window.
        check(&[(0.0, 0, 0), (10.0, 100, 0), (12.0, 140, 10)], 5.0, Some((20.0, 5.0)));
        // A counter that went backwards (agent restarted) counts as zero.
        check(&[(1.0, 50, 50), (2.0, 10, 10)], 5.0, Some((0.0, 0.0)));
    }

    #[test]
    fn poll_buckets() {
        let cases = [(0, 0), (999, 0), (1_000, 1), (1_999, 1), (2_000, 2), (40_000_000, 15)];
        for (nanos, bucket) in cases {
            assert_eq!(Focus::bucket(nanos), bucket, "{nanos}ns");
        }
        assert_eq!(Focus::bucket_label(0), "<1µs");
        assert_eq!(Focus::bucket_label(1), "<2µs");
        assert_eq!(Focus::bucket_label(11), "<2.0ms");
        assert_eq!(Focus::bucket_label(15), "more");
    }
}
