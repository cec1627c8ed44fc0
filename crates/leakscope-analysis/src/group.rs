//! Live tasks grouped by spawn location and wait point, like Go's `goroutine?debug=1`: the shape
//! of a leak is many tasks from one place parked in one await.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use leakscope_proto::v1::TaskState;
use serde::{Deserialize, Serialize};

use crate::ages::{AgeQuantiles, Ages};
use crate::context::{Ctx, Tally};
use crate::finding::FindingKind;
use crate::history::SeriesKey;
use crate::hits::MAX_SAMPLE;
use crate::location::SourceLocation;
use crate::model::{Model, WaitShape, WaitSource};
use crate::names;
use crate::task_record::TaskRecord;
use crate::wait_point::{UserFrame, WaitPoint};

/// Live tasks spawned at one location and parked in one wait point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Spawn location.
    pub location: SourceLocation,
    /// What they are parked in (for running and scheduled tasks: what they last waited on, if
    /// known).
    pub waiting_on: WaitPoint,
    /// The tasks' name, when they have one.
    pub task_name: Option<String>,
    /// The other leaves the tasks wait on at the same time (a `select!`'s other branches).
    pub also_waiting_on: Vec<WaitPoint>,
    /// The app's `.await` the tasks are parked at: the frame nearest the leaf of their captured
    /// (or dumped) await chain.
    pub user_frame: Option<UserFrame>,
    /// Where `waiting_on` came from: `capture` (the agent's, always on), `dump` (a task dump the
    /// user asked for), `wait` (tokio's resource waits alone) or `unknown`.
    pub wait_source: WaitSource,
    /// How many tasks.
    pub count: u64,
    /// How many in each state.
    pub states: StateCounts,
    /// The longest any of them has been idle, in seconds.
    pub oldest_idle_secs: f64,
    /// How long ago they were spawned: the median, the 90th percentile (both within about 3%)
    /// and the oldest.
    #[serde(default)]
    pub ages: AgeQuantiles,
    /// Change in this group's size per second over the observed history (least squares), when
    /// there are at least two samples.
    pub trend_per_sec: Option<f64>,
    /// Some of the ids, the longest idle first (at most [`crate::MAX_SAMPLE`]).
    pub task_ids: Vec<u64>,
    /// Kinds of findings that cover tasks of this group or its location.
    pub flags: Vec<FindingKind>,
}

/// Tasks per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Being polled right now.
    pub running: u64,
    /// Woken, waiting for a worker.
    pub scheduled: u64,
    /// Parked.
    pub idle: u64,
    /// State not reported.
    pub unknown: u64,
}

impl StateCounts {
    pub(crate) fn add(&mut self, state: TaskState) {
        match state {
            TaskState::Running => self.running += 1,
            TaskState::Scheduled => self.scheduled += 1,
            TaskState::Idle => self.idle += 1,
            TaskState::Unspecified | TaskState::Done => self.unknown += 1,
        }
    }
}

struct Acc<'a> {
    point: &'a WaitPoint,
    location: &'a SourceLocation,
    name: Option<&'a str>,
    user_frame: Option<&'a UserFrame>,
    also: &'a [WaitPoint],
    source: WaitSource,
    states: StateCounts,
    bits: u16,
    count: u64,
    /// The id of its first task (`ctx.live` is by id).
    first_id: u64,
    /// The longest idle tasks, (idle nanos, id), at most [`MAX_SAMPLE`], longest first and by
    /// id among equals: all a group shows of its tasks, where every (idle, id) of a million
    /// tasks was 16 MB and a sort.
    sample: Vec<(u64, u64)>,
    ages: Ages,
}

impl<'a> Acc<'a> {
    fn new(live: &'a crate::context::Live<'a>) -> Self {
        Self {
            point: &live.wait.point,
            location: live.location,
            name: None,
            user_frame: None,
            also: &live.wait.also,
            source: live.wait.source,
            states: StateCounts::default(),
            bits: 0,
            count: 0,
            first_id: live.task.id,
            sample: Vec::with_capacity(MAX_SAMPLE),
            ages: Ages::default(),
        }
    }

    fn sample(&mut self, task: (u64, u64)) {
        let first = |a: &(u64, u64), b: &(u64, u64)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if self.sample.len() == MAX_SAMPLE {
            match self.sample.last() {
                Some(last) if first(&task, last).is_lt() => {
                    self.sample.pop();
                }
                _ => return,
            }
        }
        let at = self.sample.partition_point(|held| first(held, &task).is_lt());
        self.sample.insert(at, task);
    }

    /// Takes in another group's tasks (the same location and point name).
    fn merge(&mut self, other: Self) {
        self.name = self.name.or(other.name);
        self.user_frame = self.user_frame.or(other.user_frame);
        self.states.running += other.states.running;
        self.states.scheduled += other.states.scheduled;
        self.states.idle += other.states.idle;
        self.states.unknown += other.states.unknown;
        self.bits |= other.bits;
        self.count += other.count;
        self.ages.merge(&other.ages);
        for task in other.sample {
            self.sample(task);
        }
    }
}

/// The groups of the live tasks, largest first.
pub(crate) fn groups(ctx: &Ctx<'_>, tally: &Tally) -> Vec<Group> {
    // By point first, named once per distinct point: a name per task was a million strings.
    let mut by_point: HashMap<(u32, &WaitPoint), Acc<'_>> = HashMap::new();
    for live in &ctx.live {
        let key = (live.task.location_id, &live.wait.point);
        let acc = by_point.entry(key).or_insert_with(|| Acc::new(live));
        acc.name = acc.name.or(live.name());
        acc.user_frame = acc.user_frame.or(live.wait.user_frame.as_deref());
        acc.states.add(live.state);
        acc.bits |= tally.bits(live.task.id, live.location);
        acc.count += 1;
        acc.sample((live.idle_nanos(ctx.now), live.task.id));
        acc.ages.add(live.age_nanos(ctx.now));
    }
    // In the order of their first task, as one pass by id would have met them: distinct points
    // that read the same (rare) make one group, as they always did, led by the first.
    let mut by_point: Vec<_> = by_point.into_iter().collect();
    by_point.sort_by_key(|(_, acc)| acc.first_id);
    let mut accs: BTreeMap<(u32, String), Acc<'_>> = BTreeMap::new();
    for ((location_id, point), acc) in by_point {
        match accs.entry((location_id, point.to_string())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(acc);
            }
            std::collections::btree_map::Entry::Occupied(mut slot) => slot.get_mut().merge(acc),
        }
    }
    let mut groups: Vec<Group> = accs
        .into_iter()
        .map(|((location_id, point_name), acc)| {
            let key = SeriesKey { location_id, wait_point: Some(point_name) };
            let trend = ctx
                .model
                .history()
                .series(&key)
                .and_then(|s| s.fit())
                .map(|fit| (fit.slope_per_sec * 1000.0).round() / 1000.0);
            Group {
                location: acc.location.clone(),
                waiting_on: acc.point.clone(),
                task_name: acc.name.map(str::to_owned),
                also_waiting_on: acc.also.to_vec(),
                user_frame: acc.user_frame.cloned(),
                wait_source: acc.source,
                count: acc.count,
                states: acc.states,
                oldest_idle_secs: acc.sample.first().map_or(0.0, |t| Ctx::secs(t.0)),
                ages: acc.ages.quantiles(),
                trend_per_sec: trend,
                task_ids: acc.sample.iter().map(|t| t.1).collect(),
                flags: FindingKind::ALL.into_iter().filter(|k| acc.bits & k.bit() != 0).collect(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.waiting_on.cmp(&b.waiting_on))
    });
    groups
}

/// How [`group_tasks`] orders a group's tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TaskOrder {
    /// The longest idle first, by id among equals: the order of [`Group::task_ids`].
    #[default]
    Idle,
    /// The oldest first.
    Age,
    /// The most polled first.
    Polls,
    /// By id, lowest first.
    Id,
}

/// One page of a group's tasks.
#[derive(Debug)]
pub struct GroupPage<'m> {
    /// How many tasks the group has in all.
    pub total: u64,
    /// The page asked for, in the order asked for.
    pub tasks: Vec<&'m TaskRecord>,
}

/// The live tasks of the group spawned at `location` and parked in `waiting_on` (both as a
/// report writes them: [`Group::location`] and [`Group::waiting_on`] as text), in `order`,
/// skipping `offset` and at most `limit`: what a client shows of a group of a million tasks
/// without holding them. A group the model does not have has no tasks.
pub fn group_tasks<'m>(
    model: &'m Model,
    location: &str,
    waiting_on: &str,
    order: TaskOrder,
    offset: usize,
    limit: usize,
) -> GroupPage<'m> {
    let now = model.now_nanos();
    // Whether a (location, wait shape) belongs, decided once per distinct pair: the texts are
    // built per pair, not per task.
    let mut belongs: HashMap<(u32, *const WaitShape), bool> = HashMap::new();
    // Each member with a key that sorts it into place ascending.
    let mut members: Vec<(u64, &TaskRecord)> = Vec::new();
    for (task, wait) in model.live_tasks_and_waits() {
        let pair = (task.location_id, Arc::as_ptr(&wait.shape));
        let member = *belongs.entry(pair).or_insert_with(|| {
            wait.point.to_string() == waiting_on
                && model.location(task.location_id).to_string() == location
        });
        if member {
            let key = match order {
                TaskOrder::Idle => u64::MAX - names::idle_nanos(now, task),
                TaskOrder::Age => task.created_nanos,
                TaskOrder::Polls => u64::MAX - task.polls,
                TaskOrder::Id => task.id,
            };
            members.push((key, task));
        }
    }
    let total = members.len() as u64;
    let by =
        |a: &(u64, &TaskRecord), b: &(u64, &TaskRecord)| a.0.cmp(&b.0).then(a.1.id.cmp(&b.1.id));
    let end = offset.saturating_add(limit).min(members.len());
    if offset >= end {
        return GroupPage { total, tasks: Vec::new() };
    }
    // Only the tasks up to the page's end are put in order: a page of a million-task group
    // costs one pass and a partial selection, not a sort of them all.
    if end < members.len() {
        members.select_nth_unstable_by(end, by);
        members.truncate(end);
    }
    members.sort_unstable_by(by);
    GroupPage { total, tasks: members.drain(offset..end).map(|(_, task)| task).collect() }
}

#[cfg(test)]
mod tests {
    use super::MAX_SAMPLE;

    /// A group keeps only the tasks it shows; they are the ones a sort of all of them would
    /// put first: the longest idle, by id among equals.
    #[test]
    fn a_group_samples_the_tasks_a_full_sort_would_show() {
        let tasks: Vec<(u64, u64)> =
            (0..1000u64).map(|id| ((id * 7919) % 97 * 1_000, 5000 - id)).collect();
        let mut acc = super::Acc {
            point: &crate::WaitPoint::Oneshot,
            location: &crate::SourceLocation::unknown(),
            name: None,
            user_frame: None,
            also: &[],
            source: crate::WaitSource::Wait,
            states: super::StateCounts::default(),
            bits: 0,
            count: 0,
            first_id: 0,
            sample: Vec::new(),
            ages: crate::ages::Ages::default(),
        };
        let (one, other) = tasks.split_at(400);
        let mut second = super::Acc { sample: Vec::new(), ages: acc.ages.clone(), ..acc };
        one.iter().for_each(|&t| acc.sample(t));
        other.iter().for_each(|&t| second.sample(t));
        acc.merge(second);
        let mut sorted = tasks.clone();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(acc.sample, sorted[..MAX_SAMPLE]);
    }
}

#[cfg(test)]
mod pages {
    use crate::support::{T, model, snapshot};
    use crate::{Config, TaskOrder, analyze, group_tasks};

    /// A group's pages hold the tasks the report counts in it, in the order asked for, each
    /// once; the first page by idle time is the group's own sample.
    #[test]
    fn a_groups_pages_are_its_tasks_in_order() {
        let mut tasks: Vec<_> = (1..=50u64)
            .map(|id| {
                T::new(id).loc(2).idle((id % 7) as f64).polls(id % 5).created(id as f64 / 100.0)
            })
            .map(T::build)
            .collect();
        tasks.extend((51..=60).map(|id| T::new(id).loc(3).build()));
        let model = model(snapshot(100.0, tasks));
        let report = analyze(&model, &Config::default());
        let group =
            report.groups.iter().find(|g| g.location.line == 20).expect("location 2's group");
        let (location, waiting_on) = (group.location.to_string(), group.waiting_on.to_string());
        let page = |order, offset, limit| {
            let page = group_tasks(&model, &location, &waiting_on, order, offset, limit);
            assert_eq!(page.total, group.count);
            page.tasks.iter().map(|t| t.id).collect::<Vec<_>>()
        };
        assert_eq!(page(TaskOrder::Idle, 0, group.task_ids.len()), group.task_ids);
        for order in [TaskOrder::Idle, TaskOrder::Age, TaskOrder::Polls, TaskOrder::Id] {
            let whole = page(order, 0, 1000);
            assert_eq!(whole.len(), 50);
            let paged: Vec<u64> = (0..50).step_by(7).flat_map(|at| page(order, at, 7)).collect();
            assert_eq!(paged, whole, "{order:?}");
            let key = |id: u64| {
                let task = model.task(id).unwrap();
                match order {
                    TaskOrder::Idle => {
                        (u64::MAX - crate::names::idle_nanos(model.now_nanos(), task), id)
                    }
                    TaskOrder::Age => (task.created_nanos, id),
                    TaskOrder::Polls => (u64::MAX - task.polls, id),
                    TaskOrder::Id => (id, id),
                }
            };
            assert!(whole.windows(2).all(|w| key(w[0]) < key(w[1])), "{order:?}: {whole:?}");
        }
        assert_eq!(page(TaskOrder::Id, 50, 10), Vec::<u64>::new());
        let other = group_tasks(&model, "src/l9.rs:90:5", &waiting_on, TaskOrder::Id, 0, 10);
        assert_eq!((other.total, other.tasks.len()), (0, 0));
    }
}
