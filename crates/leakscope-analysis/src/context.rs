//! What every detector reads: the live tasks with their derived facts, computed once per
//! analysis, plus the tally of flags and suppressions the detectors add to.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use leakscope_proto::v1::{TaskKind, TaskState};

use crate::config::Config;
use crate::detect::deadlock::{self, Edge};
use crate::finding::FindingKind;
use crate::location::SourceLocation;
use crate::model::{Model, TaskWait};
use crate::names;
use crate::site::{self, Site};
use crate::task_record::TaskRecord;

/// The analysis of one model under one configuration.
pub(crate) struct Ctx<'a> {
    pub(crate) model: &'a Model,
    pub(crate) config: &'a Config,
    pub(crate) now: u64,
    /// Live tasks, by id.
    pub(crate) live: Vec<Live<'a>>,
    /// Wait-for cycles; computed first because `stuck` and `lock-contention` leave their tasks
    /// and resources to `deadlock`.
    pub(crate) cycles: Vec<Vec<Edge>>,
    pub(crate) deadlocked_tasks: HashSet<u64>,
    pub(crate) deadlocked_resources: HashSet<u64>,
    /// What each spawn site's tasks say about it (accumulating or a settled population), by
    /// location id.
    pub(crate) sites: HashMap<u32, Site>,
}

/// A live task and what the detectors derive from it.
pub(crate) struct Live<'a> {
    pub(crate) task: &'a TaskRecord,
    pub(crate) state: TaskState,
    pub(crate) kind: TaskKind,
    pub(crate) location: &'a SourceLocation,
    pub(crate) wait: &'a TaskWait,
}

impl Live<'_> {
    /// Time since spawn, at `now`. Computed where needed, not kept: with the idle time below,
    /// 16 of the 48 bytes each of a million live tasks took.
    pub(crate) fn age_nanos(&self, now: u64) -> u64 {
        now.saturating_sub(self.task.created_nanos)
    }

    /// Time since the last poll ended at `now`, for an idle task; 0 otherwise.
    pub(crate) fn idle_nanos(&self, now: u64) -> u64 {
        names::idle_nanos(now, self.task)
    }

    pub(crate) fn name(&self) -> Option<&str> {
        Some(self.task.name.as_str()).filter(|n| !n.is_empty())
    }
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(model: &'a Model, config: &'a Config) -> Self {
        let now = model.now_nanos();
        let live = model
            .live_tasks_and_waits()
            .map(|(task, wait)| {
                let state = TaskState::try_from(task.state).unwrap_or(TaskState::Unspecified);
                Live {
                    task,
                    state,
                    kind: TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified),
                    location: model.location(task.location_id),
                    wait,
                }
            })
            .collect();
        let cycles = if model.sources().resources {
            deadlock::cycles(model, now, nanos(config.deadlock.min_wait))
        } else {
            Vec::new()
        };
        let deadlocked_tasks = cycles.iter().flatten().map(|e| e.waiter).collect();
        let deadlocked_resources = cycles.iter().flatten().map(|e| e.resource).collect();
        let sites = site::sites(model, config);
        Self { model, config, now, live, cycles, deadlocked_tasks, deadlocked_resources, sites }
    }

    /// Whether the site `location_id` accumulates tasks, or its live tasks were left behind by
    /// many spawners that ended ([`crate::site`]): the shape of a leak, not of a population made
    /// once.
    pub(crate) fn leaves_tasks_behind(&self, location_id: u32) -> bool {
        let min = self.config.growth.min_increase;
        self.sites.get(&location_id).is_some_and(|s| s.leaves_tasks_behind(min))
    }

    /// Seconds from agent nanoseconds.
    pub(crate) fn secs(nanos: u64) -> f64 {
        nanos as f64 / 1e9
    }

    /// The spawn location of a task the model holds, live or not.
    pub(crate) fn task_location(&self, id: u64) -> SourceLocation {
        self.model
            .task(id)
            .map_or_else(SourceLocation::unknown, |t| self.model.location(t.location_id).clone())
    }

    /// The name of a task the model holds.
    pub(crate) fn task_name(&self, id: u64) -> Option<&'a str> {
        self.model.task(id).map(|t| t.name.as_str()).filter(|n| !n.is_empty())
    }
}

/// Nanoseconds of a configured duration, saturating.
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Which finding kinds touch which tasks and locations (for [`crate::Group::flags`]), and how
/// many findings suppressions hid.
#[derive(Default)]
pub(crate) struct Tally {
    /// (task id, kinds) as marked; sorted by id, one entry a task, once settled. A vector, not
    /// a map: at a million flagged tasks a map was 50 MB of the client while it grew.
    tasks: Vec<(u64, u16)>,
    settled: bool,
    locations: HashMap<SourceLocation, u16>,
    pub(crate) suppressed: usize,
    /// What the detectors cannot judge yet but will (a threshold not reached yet).
    pub(crate) pending: Vec<crate::report::Pending>,
}

impl Tally {
    pub(crate) fn mark_task(&mut self, id: u64, kind: FindingKind) {
        self.tasks.push((id, kind.bit()));
        self.settled = false;
    }

    /// Sorts the marks by task, one entry a task: before [`Tally::bits`].
    pub(crate) fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.tasks.sort_unstable_by_key(|&(id, _)| id);
        self.tasks.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1 |= later.1;
            }
            same
        });
        self.tasks.shrink_to_fit();
        self.settled = true;
    }

    pub(crate) fn mark_location(&mut self, location: &SourceLocation, kind: FindingKind) {
        *self.locations.entry(location.clone()).or_default() |= kind.bit();
    }

    /// The kinds marked on a task or on its location, as a bit set (once settled).
    pub(crate) fn bits(&self, id: u64, location: &SourceLocation) -> u16 {
        debug_assert!(self.settled || self.tasks.is_empty(), "bits of an unsettled tally");
        let task =
            self.tasks.binary_search_by_key(&id, |&(id, _)| id).map_or(0, |i| self.tasks[i].1);
        task | self.locations.get(location).copied().unwrap_or(0)
    }
}

/// `1 task` / `3 tasks`.
pub(crate) fn tasks(n: usize) -> String {
    if n == 1 { "1 task".to_owned() } else { format!("{n} tasks") }
}
