//! The state a client holds: the agent's updates and task dumps applied in order, what each live
//! task is parked in, and the history trends need.
//!
//! What a task is parked in comes, best first, from a task dump taken since its last poll (only
//! when the user asked for one), from the wait chains the agent captured when the task last
//! registered its waker (always on, no pause), or from tokio's resource waits alone.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use leakscope_proto::v1::{
    AgentStats, Backtrace, DumpStatus, HelloResponse, LocationPollStats, LongPoll, Resource,
    ResourceKind, RuntimeMetrics, Snapshot, Task, TaskDumpResponse, TaskState, Update, Wait,
    WatchMessage,
};
use serde::{Deserialize, Serialize};

use crate::chunked::Chunked;
use crate::history::{History, HistoryLimits, SeriesKey};
use crate::location::SourceLocation;
use crate::sources::Sources;
use crate::task_record::{TaskName, TaskRecord};
use crate::wait_point::{UserFrame, WaitPoint, best_wait, task_wait_point, wait_point};

static UNKNOWN_LOCATION: SourceLocation = SourceLocation::unknown();

/// Everything a client knows about one app, built by applying what its agent sends.
///
/// Apply a full [`Snapshot`] or a stream of [`Update`]s (a full one first, then deltas) and,
/// when there is one, the latest [`TaskDumpResponse`]. Times are the agent's: the observation
/// time of an update is its `Snapshot.now_nanos`. The model keeps finished tasks for a while (to
/// know when a spawner ended) and a bounded history of live counts per spawn location; see
/// [`ModelLimits`].
#[derive(Clone, Debug)]
pub struct Model {
    sources: Sources,
    target: TargetInfo,
    /// What the target's `Hello` said about its build; `None` without a `Hello`.
    facts: Option<crate::Facts>,
    limits: ModelLimits,
    now: u64,
    first_now: Option<u64>,
    observations: u64,
    locations: HashMap<u32, SourceLocation>,
    /// The tasks held, each with what it is parked in: sorted by id, except while an update
    /// streams in, when the tasks from `sorted` on are in arrival order. A sorted vector, not a
    /// map: at a million tasks a map's spare room was half the client's memory.
    tasks: Vec<Held>,
    sorted: usize,
    /// The names the tasks held have, each held once: a million tasks named alike share one.
    names: HashSet<TaskName>,
    /// Sorted by id; in shared chunks, so that a client publishing them to its screens copies
    /// nothing, and a delta then copies only the chunks it changes.
    resources: Chunked<Resource>,
    /// Sorted by task id (stable: a task's waits keep the agent's order); held as `resources`.
    waits: Chunked<Wait>,
    long_polls: Vec<LongPoll>,
    poll_stats: BTreeMap<u32, LocationPollStats>,
    runtimes: Vec<RuntimeMetrics>,
    stats: Option<AgentStats>,
    dump: Option<DumpState>,
    /// Captured wait chains by id (`Snapshot.wait_chains`), kept for as long as a live task
    /// refers to one.
    chains: HashMap<u32, Backtrace>,
    /// The chains of each distinct set a live task refers to (`Task.wait_chain_ids`).
    chain_sets: HashMap<Vec<u32>, Vec<Backtrace>>,
    ended: HashMap<u64, u64>,
    ended_order: VecDeque<u64>,
    spans: HashMap<u64, SpanSeen>,
    /// Live tasks by spawn location and wait point, kept with the tasks' waits: the history's
    /// sample at each update, without a pass over every task.
    point_counts: HashMap<u32, HashMap<WaitPoint, u32>>,
    /// The wait shapes the live tasks' waits share.
    shapes: Shapes,
    history: History,
    /// The update being received part by part, if any.
    partial: Option<Partial>,
}

/// A task the model holds, and what it is parked in: `Some` for a live task, whose wait is
/// counted in `point_counts`, `None` otherwise. The record's `wait_chain_ids` are moved to
/// `chains`: a vector of one id was a 32-byte allocation per task. 192 bytes: the protocol's
/// record in it was 184 bytes of the 232 (see [`TaskRecord`]).
#[derive(Clone, Debug, Default)]
struct Held {
    task: TaskRecord,
    wait: Option<TaskWait>,
    chains: ChainIds,
}

impl Held {
    fn new(mut task: Task) -> Self {
        let chains = ChainIds::from(std::mem::take(&mut task.wait_chain_ids));
        Self { task: TaskRecord::from(task), wait: None, chains }
    }
}

/// A task's captured chain ids (`Task.wait_chain_ids`): inline up to three, which is almost
/// every task (one per leaf it waits on).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
enum ChainIds {
    #[default]
    None,
    Inline(u8, [u32; 3]),
    #[expect(clippy::box_collection, reason = "a thin pointer keeps the enum at 16 bytes")]
    Many(Box<Vec<u32>>),
}

impl From<Vec<u32>> for ChainIds {
    fn from(ids: Vec<u32>) -> Self {
        match ids.len() {
            0 => Self::None,
            n @ 1..=3 => {
                let mut inline = [0; 3];
                inline[..n].copy_from_slice(&ids);
                Self::Inline(n as u8, inline)
            }
            _ => Self::Many(Box::new(ids)),
        }
    }
}

impl ChainIds {
    fn as_slice(&self) -> &[u32] {
        match self {
            Self::None => &[],
            Self::Inline(n, ids) => &ids[..usize::from(*n)],
            Self::Many(ids) => ids,
        }
    }
}

/// What an update received part by part needs until its last part.
#[derive(Clone, Debug, Default)]
struct Partial {
    full: bool,
    /// For a full update: the ids of the tasks held before it that were alive, sorted. Those
    /// carried by no part when the last part comes have ended. Only the ids: every record comes
    /// again and every wait is derived again, so a second copy of a million records is not kept.
    previous: Vec<u64>,
    /// The update's resources and waits, which replace the model's at its last part; or, for a
    /// delta that says `resources_delta`, change them: the resources upsert, those in
    /// `resources_removed` go, and the waits replace those of their tasks and of
    /// `waits_cleared`.
    resources: Vec<Resource>,
    waits: Vec<Wait>,
    resources_removed: Vec<u64>,
    waits_cleared: Vec<u64>,
    tasks_sent: u64,
    tasks_total: u64,
    /// For a delta: the tasks it carried, the only ones whose wait can have changed when the
    /// resources and waits did not.
    changed: Vec<u64>,
}

/// Who the app is, from the agent's `Hello`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The app's process name.
    pub process_name: String,
    /// Its process id.
    pub pid: u32,
    /// The agent's version.
    pub agent_version: String,
    /// What the agent cannot collect in this build, one sentence each.
    pub missing: Vec<String>,
    /// The agent's long-poll threshold (0 when unknown).
    pub long_poll_threshold_nanos: u64,
}

/// Bounds on what a [`Model`] keeps, so a client watching a leaking app for hours stays small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLimits {
    /// How long a finished task's record is kept after it was dropped. Default 60 s, as the
    /// agent's own retention: long enough to name a spawner that ended before its children.
    pub retain_finished: Duration,
    /// Finished task records kept at most. Default 10 000.
    pub max_finished: usize,
    /// Individual long polls kept (the most recent). Default 1024.
    pub max_long_polls: usize,
    /// Ids of finished tasks remembered with their end time after their record is gone (16 bytes
    /// each), so `uncancelled` can still say when a parent ended. Default 65 536.
    pub max_ended: usize,
    /// Bounds on the live-count history.
    pub history: HistoryLimits,
}

impl Default for ModelLimits {
    fn default() -> Self {
        Self {
            retain_finished: Duration::from_secs(60),
            max_finished: 10_000,
            max_long_polls: 1024,
            max_ended: 65_536,
            history: HistoryLimits::default(),
        }
    }
}

/// Where a task's [`TaskWait`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitSource {
    /// A task dump taken since the task's last poll (asked for by the user).
    Dump,
    /// The await chain the agent captured when the task last registered its waker: no dump, no
    /// pause.
    Capture,
    /// The agent's resource waits (tokio's async-op instrumentation).
    Wait,
    /// Nothing says.
    Unknown,
}

/// What a live task is parked in, as far as the model can tell.
///
/// The model holds one per live task. What tasks parked at the same `.await` have in common (the
/// point, the frame, the other leaves, the source) is one [`WaitShape`] they share, read through
/// `Deref` (`wait.point`); only the resource wait is the task's own. 32 bytes: the optional
/// numbers are held as `u64::MAX` for none (a million `Option<u64>`s were 24 MB of padding).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskWait {
    /// The point, frame, other leaves and source, shared by every task with the same.
    pub shape: Arc<WaitShape>,
    resource_id: u64,
    since_nanos: u64,
    timer_nanos: u64,
}

/// How [`TaskWait`] holds a number it does not have.
const NONE: u64 = u64::MAX;

fn held(value: Option<u64>) -> u64 {
    value.filter(|&v| v != NONE).unwrap_or(NONE)
}

fn given(value: u64) -> Option<u64> {
    (value != NONE).then_some(value)
}

/// The part of a [`TaskWait`] that tasks parked at the same `.await` share: one per distinct
/// shape, however many tasks (at a million tasks, a copy each was 48 MB of the client).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WaitShape {
    /// The wait point.
    pub point: WaitPoint,
    /// The app's frame nearest the leaf: the `.await` it is parked at (from a capture or a
    /// dump).
    pub user_frame: Option<Arc<UserFrame>>,
    /// The other leaves it waits on at once (the other branches of a `select!`), each named
    /// once, not counting `point`.
    pub also: Arc<[WaitPoint]>,
    /// Where the point came from.
    pub source: WaitSource,
}

impl std::ops::Deref for TaskWait {
    type Target = WaitShape;

    fn deref(&self) -> &WaitShape {
        &self.shape
    }
}

impl TaskWait {
    /// A wait of `shape`, on `resource_id` since `since_nanos`, for a timer of `timer_nanos`.
    pub fn new(
        shape: Arc<WaitShape>,
        resource_id: Option<u64>,
        since_nanos: Option<u64>,
        timer_nanos: Option<u64>,
    ) -> Self {
        Self {
            shape,
            resource_id: held(resource_id),
            since_nanos: held(since_nanos),
            timer_nanos: held(timer_nanos),
        }
    }

    /// Nothing is known.
    pub fn unknown() -> Self {
        let shape = WaitShape {
            point: WaitPoint::Unknown(String::new()),
            user_frame: None,
            also: Arc::new([]),
            source: WaitSource::Unknown,
        };
        Self::new(Arc::new(shape), None, None, None)
    }

    /// The resource waited on, when a wait record names the same point.
    pub fn resource_id(&self) -> Option<u64> {
        given(self.resource_id)
    }

    /// When that wait began (agent clock).
    pub fn since_nanos(&self) -> Option<u64> {
        given(self.since_nanos)
    }

    /// The timer's duration, when the resource is a timer that says.
    pub fn timer_nanos(&self) -> Option<u64> {
        given(self.timer_nanos)
    }
}

/// The shapes the model's waits share, each held once.
type Shapes = HashSet<Arc<WaitShape>>;

static UNKNOWN_WAIT: std::sync::LazyLock<TaskWait> = std::sync::LazyLock::new(TaskWait::unknown);

/// What one set of captured chains names.
#[derive(Clone, Debug)]
struct Captured {
    point: WaitPoint,
    user_frame: Option<Arc<UserFrame>>,
    also: Arc<[WaitPoint]>,
}

#[derive(Clone, Debug)]
struct DumpState {
    status: DumpStatus,
    message: String,
    taken_at: u64,
    duration: u64,
    traces: HashMap<u64, Vec<Backtrace>>,
}

/// When the model saw a spawner span close.
#[derive(Clone, Copy, Debug, Default)]
struct SpanSeen {
    open_seen: bool,
    /// Set when first seen closed; `observed` says whether it was seen open before.
    closed: Option<SpanClose>,
}

/// When a spawner ended, as far as the model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpanClose {
    /// Agent time of the first observation that showed the span closed.
    pub at_nanos: u64,
    /// Whether the span was seen open before, so that `at_nanos` is close to the real end.
    pub observed: bool,
}

/// Whether a task record describes a task still alive: not dropped and not done.
pub fn is_live(task: &TaskRecord) -> bool {
    task.dropped_nanos == 0 && task.state != TaskState::Done as i32
}

/// When the task of this record ended: its drop time, or its last poll if it is done but not
/// yet dropped; `None` while it lives.
pub(crate) fn ended_at(task: &TaskRecord) -> Option<u64> {
    if task.dropped_nanos != 0 {
        Some(task.dropped_nanos)
    } else if !is_live(task) {
        Some(task.last_poll_end_nanos.max(task.created_nanos))
    } else {
        None
    }
}

/// [`Model::task_ended_at`] for a run of lookups that mostly ask about one task again (the
/// parent of the many tasks it spawned, which sit side by side): the last answer is kept.
pub(crate) struct EndedAt<'a> {
    model: &'a Model,
    last: Option<(u64, Option<u64>)>,
}

impl<'a> EndedAt<'a> {
    pub(crate) fn new(model: &'a Model) -> Self {
        Self { model, last: None }
    }

    pub(crate) fn get(&mut self, id: u64) -> Option<u64> {
        match self.last {
            Some((last, end)) if last == id => end,
            _ => {
                let end = self.model.task_ended_at(id);
                self.last = Some((id, end));
                end
            }
        }
    }
}

impl Model {
    /// An empty model for a source with these capabilities.
    pub fn new(sources: Sources) -> Self {
        Self::with_limits(sources, ModelLimits::default())
    }

    /// An empty model with explicit bounds.
    pub fn with_limits(sources: Sources, limits: ModelLimits) -> Self {
        Self {
            sources,
            target: TargetInfo::default(),
            facts: None,
            limits,
            now: 0,
            first_now: None,
            observations: 0,
            locations: HashMap::new(),
            tasks: Vec::new(),
            sorted: 0,
            names: HashSet::new(),
            resources: Chunked::default(),
            waits: Chunked::default(),
            long_polls: Vec::new(),
            poll_stats: BTreeMap::new(),
            runtimes: Vec::new(),
            stats: None,
            dump: None,
            chains: HashMap::new(),
            chain_sets: HashMap::new(),
            ended: HashMap::new(),
            ended_order: VecDeque::new(),
            spans: HashMap::new(),
            point_counts: HashMap::new(),
            shapes: Shapes::new(),
            history: History::new(limits.history),
            partial: None,
        }
    }

    /// An empty model for the agent that sent this `Hello`.
    pub fn from_hello(hello: &HelloResponse) -> Self {
        let mut model = Self::new(Sources::none());
        model.set_hello(hello);
        model
    }

    /// Takes the target's identity and capabilities from its `Hello`.
    pub fn set_hello(&mut self, hello: &HelloResponse) {
        self.sources = Sources::from_hello(hello);
        self.facts = Some(crate::Facts::from_hello(hello));
        self.target = TargetInfo {
            process_name: hello.process_name.clone(),
            pid: hello.pid,
            agent_version: hello.agent_version.clone(),
            missing: hello.missing.clone(),
            long_poll_threshold_nanos: hello.config.map_or(0, |c| c.long_poll_threshold_nanos),
        };
    }

    /// Overrides what the source can provide. Clients of an agent never need this (the `Hello`
    /// decides, [`Sources::from_hello`]); it is for models fed by other means (tests, the
    /// in-process check).
    pub fn set_sources(&mut self, sources: Sources) {
        self.sources = sources;
    }

    /// Overrides who the target is (for sources without a `Hello`).
    pub fn set_target(&mut self, target: TargetInfo) {
        self.target = target;
    }

    /// Applies a full snapshot (as from `GetSnapshot`).
    pub fn apply_snapshot(&mut self, snapshot: Snapshot) {
        self.apply_update(Update { full: true, snapshot: Some(snapshot) });
    }

    /// Applies one whole `Watch` update. A full update replaces the tasks held (a task that was
    /// alive and is missing has ended); a delta upserts tasks. Both replace resources, waits,
    /// poll statistics and runtimes, merge long polls, and record a history sample at the
    /// update's `now_nanos` (which never moves the model's clock backwards).
    pub fn apply_update(&mut self, update: Update) {
        self.apply_part(WatchMessage { update: Some(update), ..WatchMessage::default() });
    }

    /// Applies one part of a `Watch` update, as the agent streams it (see `WatchMessage` in the
    /// protocol): the part's tasks at once, the rest when the update's last part comes. Returns
    /// whether that update is now complete: until then the model holds a partial picture
    /// ([`Model::streaming`]) and its analysis would be wrong, so callers analyse only on `true`.
    pub fn apply_part(&mut self, part: WatchMessage) -> bool {
        let Some(Update { full, snapshot: Some(snapshot) }) = part.update else {
            return !part.more;
        };
        if part.part == 0 || self.partial.is_none() {
            if self.partial.take().is_some() {
                // An update cut short (never by the agent, which ends one before the next): the
                // tasks it carried are kept, and those of a full one it had not carried yet are
                // forgotten until the next full update brings them.
                self.sort_tasks();
            }
            let previous = if full {
                self.sort_tasks();
                let previous =
                    self.tasks.iter().filter(|h| is_live(&h.task)).map(|h| h.task.id).collect();
                self.tasks.clear();
                self.sorted = 0;
                // The plan's count, and a little room for tasks spawned while it streams.
                let total = usize::try_from(part.tasks_total).unwrap_or(0);
                self.tasks.reserve_exact(total + total / 32);
                previous
            } else {
                Vec::new()
            };
            self.partial = Some(Partial {
                full,
                previous,
                resources: Vec::new(),
                waits: Vec::new(),
                resources_removed: Vec::new(),
                waits_cleared: Vec::new(),
                tasks_sent: 0,
                tasks_total: 0,
                changed: Vec::new(),
            });
        }
        self.now = snapshot.now_nanos.max(self.now);
        for location in &snapshot.locations {
            self.locations.insert(location.id, SourceLocation::from(location));
        }
        for chain in snapshot.wait_chains {
            self.chains.insert(chain.id, Backtrace { frames: chain.frames });
        }
        let full = self.partial.as_ref().is_some_and(|p| p.full);
        let mut dropped = Vec::new();
        let mut changed = Vec::new();
        for task in snapshot.tasks {
            if task.dropped_nanos != 0 {
                dropped.push((task.id, task.dropped_nanos));
            }
            if full {
                // Sorted and checked against the tasks held before at the last part.
                let held = self.hold(task);
                self.tasks.push(held);
                continue;
            }
            changed.push(task.id);
            let held = self.hold(task);
            match self.find(held.task.id) {
                Some(i) => {
                    let wait = self.tasks[i].wait.take();
                    self.tasks[i] = Held { wait, ..held };
                }
                None => self.tasks.push(held),
            }
        }
        let partial = self.partial.as_mut().expect("set above");
        partial.tasks_sent = part.tasks_sent;
        partial.tasks_total = part.tasks_total;
        partial.changed.extend(changed);
        partial.resources.extend(snapshot.resources);
        partial.waits.extend(snapshot.waits);
        partial.resources_removed.extend(part.resources_removed);
        partial.waits_cleared.extend(part.waits_cleared);
        for (id, at) in dropped {
            self.mark_ended(id, at);
        }
        if part.more {
            return false;
        }
        let mut partial = self.partial.take().expect("set above");
        let now = self.now;
        self.first_now.get_or_insert(now);
        self.observations += 1;
        self.sort_tasks();
        if partial.full {
            // The tasks held before and carried by no part have ended; both lists are sorted.
            let mut current = self.tasks.iter().map(|h| h.task.id).peekable();
            let mut ended = Vec::new();
            for &id in &partial.previous {
                while current.next_if(|&c| c < id).is_some() {}
                if current.peek() != Some(&id) {
                    ended.push(id);
                }
            }
            for id in ended {
                self.mark_ended(id, now);
            }
        }
        // Only a delta can keep the other tasks' waits: one that left resources and waits as
        // they were, or that says what changed in them. Then nothing a task's wait is derived
        // from moved but the task's own record, its waits, and the resources it waits on.
        let only = if partial.full {
            None
        } else if part.resources_delta {
            let mut changed = std::mem::take(&mut partial.changed);
            changed.extend(self.apply_resource_changes(&mut partial));
            changed.sort_unstable();
            changed.dedup();
            Some(changed)
        } else if part.resources_unchanged {
            Some(partial.changed)
        } else {
            None
        };
        if only.is_none() && !part.resources_unchanged {
            sort_keep_last(&mut partial.resources, |r| r.id);
            self.resources = Chunked::from_sorted(partial.resources);
            partial.waits.sort_by_key(|w| w.task_id);
            self.waits = Chunked::from_sorted(partial.waits);
        }
        self.merge_long_polls(snapshot.long_polls);
        self.poll_stats = snapshot.poll_stats.into_iter().map(|s| (s.location_id, s)).collect();
        self.runtimes = snapshot.runtimes;
        if snapshot.stats.is_some() {
            self.stats = snapshot.stats;
        }
        self.prune_finished();
        self.observe_spans();
        match only {
            Some(changed) => self.refresh_waits_of(&changed),
            None => self.refresh_waits(),
        }
        self.record_history();
        true
    }

    /// Applies a delta's changes to the resources and waits held (`WatchMessage.resources_delta`)
    /// in place, and returns the tasks whose wait they may change: those whose waits changed and
    /// those waiting on a resource that changed.
    fn apply_resource_changes(&mut self, partial: &mut Partial) -> Vec<u64> {
        let mut resources_changed: Vec<u64> = partial.resources.iter().map(|r| r.id).collect();
        resources_changed.extend(&partial.resources_removed);
        resources_changed.sort_unstable();
        resources_changed.dedup();
        let mut upserts = std::mem::take(&mut partial.resources);
        sort_keep_last(&mut upserts, |r| r.id);
        self.resources.replace(&resources_changed, upserts, |r| r.id);
        // Every wait of a task that sent waits, or cleared them, is replaced.
        let mut waiters = std::mem::take(&mut partial.waits_cleared);
        waiters.extend(partial.waits.iter().map(|w| w.task_id));
        waiters.sort_unstable();
        waiters.dedup();
        let mut incoming = std::mem::take(&mut partial.waits);
        incoming.sort_by_key(|w| w.task_id);
        self.waits.replace(&waiters, incoming, |w| w.task_id);
        let mut changed = waiters;
        changed.extend(
            self.waits
                .iter()
                .filter(|w| resources_changed.binary_search(&w.resource_id).is_ok())
                .map(|w| w.task_id),
        );
        changed
    }

    /// While an update streams in: its tasks received so far and in all (`tasks_sent`,
    /// `tasks_total`). `None` between updates.
    pub fn streaming(&self) -> Option<(u64, u64)> {
        self.partial.as_ref().map(|p| (p.tasks_sent, p.tasks_total))
    }

    /// Applies a task dump. Only a dump with status OK carries traces; another status is kept so
    /// the report can say why there are none (a timed-out dump means a blocked worker). A
    /// task's trace is used only while the task has not been polled since the dump.
    pub fn apply_dump(&mut self, dump: TaskDumpResponse) {
        let status = DumpStatus::try_from(dump.status).unwrap_or(DumpStatus::Unspecified);
        let traces = dump.traces.into_iter().map(|t| (t.task_id, t.backtraces)).collect();
        self.dump = Some(DumpState {
            status,
            message: dump.message,
            taken_at: dump.taken_at_nanos,
            duration: dump.duration_nanos,
            traces,
        });
        self.refresh_waits();
    }

    /// What the source can provide.
    pub fn sources(&self) -> Sources {
        self.sources
    }

    /// What the target's `Hello` said about its build (`leakscope doctor`'s checks); `None`
    /// when the model had no `Hello`.
    pub fn facts(&self) -> Option<&crate::Facts> {
        self.facts.as_ref()
    }

    /// Who the target is.
    pub fn target(&self) -> &TargetInfo {
        &self.target
    }

    /// The latest observation time (agent clock, nanoseconds).
    pub fn now_nanos(&self) -> u64 {
        self.now
    }

    /// Time between the first and the latest observation.
    pub fn window_nanos(&self) -> u64 {
        self.first_now.map_or(0, |first| self.now - first)
    }

    /// How many updates have been applied.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// A location by id; unknown for 0 and for ids never sent.
    pub fn location(&self, id: u32) -> &SourceLocation {
        self.locations.get(&id).unwrap_or(&UNKNOWN_LOCATION)
    }

    /// Every task held, alive or finished and retained, by id (in arrival order while an update
    /// streams in). Their `wait_chain_ids` are empty: the model keeps them apart, and
    /// [`Model::captured_chains`] gives the chains.
    pub fn tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks.iter().map(|h| &h.task)
    }

    /// The live tasks, by id.
    pub fn live_tasks(&self) -> impl Iterator<Item = &TaskRecord> {
        self.tasks().filter(|t| is_live(t))
    }

    /// One task.
    pub fn task(&self, id: u64) -> Option<&TaskRecord> {
        self.find(id).map(|i| &self.tasks[i].task)
    }

    /// `task` as the model holds it: its chain ids apart and its name shared with the tasks
    /// named alike.
    fn hold(&mut self, mut task: Task) -> Held {
        let name = std::mem::take(&mut task.name);
        let mut held = Held::new(task);
        if !name.is_empty() {
            held.task.name = match self.names.get(name.as_str()) {
                Some(shared) => shared.clone(),
                None => {
                    let shared = TaskName::from(name);
                    self.names.insert(shared.clone());
                    shared
                }
            };
        }
        held
    }

    /// Where task `id` is held: a binary search of the sorted tasks, then a look at those that
    /// arrived since (while an update streams in).
    fn find(&self, id: u64) -> Option<usize> {
        let (sorted, arrived) = self.tasks.split_at(self.sorted);
        sorted
            .binary_search_by_key(&id, |h| h.task.id)
            .ok()
            .or_else(|| arrived.iter().rposition(|h| h.task.id == id).map(|i| i + self.sorted))
    }

    /// Sorts the tasks that arrived since the last sort in with the others. A task carried twice
    /// keeps its latest record.
    fn sort_tasks(&mut self) {
        if self.sorted == self.tasks.len() {
            return;
        }
        let (sorted, arrived) = self.tasks.split_at(self.sorted);
        let in_order = arrived.windows(2).all(|w| w[0].task.id < w[1].task.id)
            && sorted.last().zip(arrived.first()).is_none_or(|(a, b)| a.task.id < b.task.id);
        if !in_order {
            if self.sorted == 0 {
                sort_keep_last(&mut self.tasks, |h| h.task.id);
            } else {
                // A delta's new tasks: sorted among themselves and merged in from the back, not
                // a sort of every task (at a million, 24 MB of keys and a pass per update).
                let mut arrived = self.tasks.split_off(self.sorted);
                sort_keep_last(&mut arrived, |h| h.task.id);
                upsert_sorted(&mut self.tasks, arrived, |h| h.task.id);
            }
        }
        self.sorted = self.tasks.len();
    }

    /// When a task ended: its drop time, its last poll if it is done but not yet dropped, or the
    /// remembered end of a task whose record is gone. `None` while alive or never seen.
    pub fn task_ended_at(&self, id: u64) -> Option<u64> {
        match self.task(id) {
            Some(task) => ended_at(task),
            None => self.ended.get(&id).copied(),
        }
    }

    /// Every live task with its wait ([`Model::task_wait`]), by id: one pass, where a lookup
    /// per task searched the tasks again.
    pub fn live_tasks_and_waits(&self) -> impl Iterator<Item = (&TaskRecord, &TaskWait)> {
        self.tasks
            .iter()
            .filter(|h| is_live(&h.task))
            .map(|h| (&h.task, h.wait.as_ref().unwrap_or(&UNKNOWN_WAIT)))
    }

    /// When the model first saw a spawner span closed.
    pub fn span_closed(&self, span_id: u64) -> Option<SpanClose> {
        self.spans.get(&span_id).and_then(|seen| seen.closed)
    }

    /// Every resource, by id.
    pub fn resources(&self) -> impl Iterator<Item = &Resource> {
        self.resources.iter()
    }

    /// One resource.
    pub fn resource(&self, id: u64) -> Option<&Resource> {
        self.resources.find(id, |r| r.id)
    }

    /// Every wait, by task id.
    pub fn waits(&self) -> &Chunked<Wait> {
        &self.waits
    }

    /// Every resource, by id, as the model holds them: a clone shares the model's chunks, and
    /// the model copies a chunk before changing it.
    pub fn shared_resources(&self) -> &Chunked<Resource> {
        &self.resources
    }

    /// Every wait, by task id, held as [`Model::shared_resources`].
    pub fn shared_waits(&self) -> &Chunked<Wait> {
        &self.waits
    }

    /// The waits of one task.
    pub fn waits_of(&self, task_id: u64) -> impl Iterator<Item = &Wait> {
        self.waits.equal(task_id, |w| w.task_id)
    }

    /// What a live task is parked in (unknown for tasks not held or not alive).
    pub fn task_wait(&self, task_id: u64) -> &TaskWait {
        self.find(task_id).and_then(|i| self.tasks[i].wait.as_ref()).unwrap_or(&UNKNOWN_WAIT)
    }

    /// Recent long polls, the most recent first.
    pub fn long_polls(&self) -> &[LongPoll] {
        &self.long_polls
    }

    /// Long-poll statistics per spawn location id.
    pub fn poll_stats(&self) -> impl Iterator<Item = &LocationPollStats> {
        self.poll_stats.values()
    }

    /// The runtimes' metrics.
    pub fn runtimes(&self) -> &[RuntimeMetrics] {
        &self.runtimes
    }

    /// The agent's own statistics (what it tracks and what it had to drop).
    pub fn agent_stats(&self) -> Option<&AgentStats> {
        self.stats.as_ref()
    }

    /// The status of the latest task dump and its message, if one was applied.
    pub fn dump_status(&self) -> Option<(DumpStatus, &str)> {
        self.dump.as_ref().map(|d| (d.status, d.message.as_str()))
    }

    /// The live-count history.
    pub fn history(&self) -> &History {
        &self.history
    }

    fn mark_ended(&mut self, id: u64, at: u64) {
        if self.ended.contains_key(&id) {
            return;
        }
        self.ended.insert(id, at);
        self.ended_order.push_back(id);
        while self.ended_order.len() > self.limits.max_ended {
            if let Some(oldest) = self.ended_order.pop_front() {
                self.ended.remove(&oldest);
            }
        }
    }

    fn merge_long_polls(&mut self, incoming: Vec<LongPoll>) {
        if incoming.is_empty() {
            return;
        }
        let seen: HashSet<(u64, u64)> =
            self.long_polls.iter().map(|p| (p.task_id, p.start_nanos)).collect();
        self.long_polls
            .extend(incoming.into_iter().filter(|p| !seen.contains(&(p.task_id, p.start_nanos))));
        self.long_polls
            .sort_by(|a, b| b.start_nanos.cmp(&a.start_nanos).then(a.task_id.cmp(&b.task_id)));
        self.long_polls.truncate(self.limits.max_long_polls);
    }

    fn prune_finished(&mut self) {
        let retain = u64::try_from(self.limits.retain_finished.as_nanos()).unwrap_or(u64::MAX);
        let now = self.now;
        let mut finished: Vec<(u64, u64)> = self
            .tasks()
            .filter(|t| t.dropped_nanos != 0 && now.saturating_sub(t.dropped_nanos) <= retain)
            .map(|t| (t.dropped_nanos, t.id))
            .collect();
        let mut pruned = HashSet::new();
        if finished.len() > self.limits.max_finished {
            finished.sort_unstable();
            let excess = finished.len() - self.limits.max_finished;
            pruned.extend(finished.into_iter().take(excess).map(|(_, id)| id));
        }
        let counts = &mut self.point_counts;
        self.tasks.retain(|h| {
            let t = &h.task;
            let keep = (t.dropped_nanos == 0 || now.saturating_sub(t.dropped_nanos) <= retain)
                && !pruned.contains(&t.id);
            if let (false, Some(wait)) = (keep, &h.wait) {
                count_point(counts, t.location_id, &wait.point, false);
            }
            keep
        });
        self.sorted = self.tasks.len();
        // A name no task held has any more goes (one pass over the distinct names).
        self.names.retain(TaskName::is_shared);
    }

    fn observe_spans(&mut self) {
        let mut referenced = HashSet::new();
        for task in self.tasks.iter().map(|h| &h.task).filter(|t| is_live(t)) {
            let Some(span) = task.spawner_span.as_ref().filter(|s| s.span_id != 0) else {
                continue;
            };
            referenced.insert(span.span_id);
            let seen = self.spans.entry(span.span_id).or_default();
            if !span.closed {
                seen.open_seen = true;
            } else if seen.closed.is_none() {
                seen.closed = Some(SpanClose { at_nanos: self.now, observed: seen.open_seen });
            }
        }
        self.spans.retain(|id, _| referenced.contains(id));
    }

    fn refresh_waits(&mut self) {
        // 100k tasks parked at one `.await` share one set of chains: classify each set once.
        let mut captured: HashMap<Vec<u32>, Option<Captured>> = HashMap::new();
        let mut point_counts = HashMap::new();
        // Made again, so that a shape no task has any more goes.
        let mut shapes = Shapes::new();
        // Taken out for the pass: classifying reads the rest of the model.
        let mut tasks = std::mem::take(&mut self.tasks);
        for held in &mut tasks {
            let t = &held.task;
            held.wait = is_live(t).then(|| {
                let wait =
                    self.classify_memo(t, held.chains.as_slice(), &mut captured, &mut shapes);
                count_point(&mut point_counts, t.location_id, &wait.point, true);
                wait
            });
        }
        self.tasks = tasks;
        self.point_counts = point_counts;
        self.shapes = shapes;
        self.chain_sets = captured
            .into_keys()
            .map(|ids| {
                let chains = ids.iter().filter_map(|id| self.chains.get(id)).cloned().collect();
                (ids, chains)
            })
            .collect();
        let referenced: HashSet<u32> =
            self.tasks.iter().flat_map(|h| h.chains.as_slice().iter().copied()).collect();
        self.chains.retain(|id, _| referenced.contains(id));
    }

    /// [`Model::classify`] with the task's chain set classified once per set in `captured`:
    /// 100k tasks parked at one `.await` share one set.
    fn classify_memo(
        &self,
        t: &TaskRecord,
        chains: &[u32],
        captured: &mut HashMap<Vec<u32>, Option<Captured>>,
        shapes: &mut Shapes,
    ) -> TaskWait {
        let capture = match captured.get(chains) {
            Some(capture) => capture.clone(),
            None => {
                let capture = self.classify_chains(chains);
                captured.insert(chains.to_vec(), capture.clone());
                capture
            }
        };
        let mut wait = self.classify(t, capture);
        match shapes.get(&wait.shape) {
            Some(shape) => wait.shape = Arc::clone(shape),
            None => {
                shapes.insert(Arc::clone(&wait.shape));
            }
        }
        wait
    }

    /// [`Model::refresh_waits`] for the tasks `ids` alone, after a delta that changed nothing
    /// else a wait is derived from (resources, waits, the dump): at 1M idle tasks an update
    /// then costs what it carries, not a pass over every task. Chains no task refers to any more
    /// are dropped at the next full refresh.
    fn refresh_waits_of(&mut self, ids: &[u64]) {
        let mut captured: HashMap<Vec<u32>, Option<Captured>> = HashMap::new();
        let mut shapes = std::mem::take(&mut self.shapes);
        for &id in ids {
            let Some(i) = self.find(id) else { continue };
            let location_id = self.tasks[i].task.location_id;
            if let Some(old) = self.tasks[i].wait.take() {
                count_point(&mut self.point_counts, location_id, &old.point, false);
            }
            let Held { task: t, chains, .. } = &self.tasks[i];
            if !is_live(t) {
                continue;
            }
            let wait = self.classify_memo(t, chains.as_slice(), &mut captured, &mut shapes);
            count_point(&mut self.point_counts, location_id, &wait.point, true);
            self.tasks[i].wait = Some(wait);
        }
        self.shapes = shapes;
        for ids in captured.into_keys() {
            if !self.chain_sets.contains_key(&ids) {
                let chains = ids.iter().filter_map(|id| self.chains.get(id)).cloned().collect();
                self.chain_sets.insert(ids, chains);
            }
        }
    }

    /// The await chains the agent captured for a live task (one per leaf it waits on, root
    /// first), or `None` when it has none.
    pub fn captured_chains(&self, task_id: u64) -> Option<&[Backtrace]> {
        let held = &self.tasks[self.find(task_id)?];
        self.chain_sets
            .get(held.chains.as_slice())
            .map(Vec::as_slice)
            .filter(|chains| !chains.is_empty())
    }

    /// What a task's captured chains name: the most telling leaf, its user frame, and the other
    /// leaves' points. `None` when no chain is known.
    fn classify_chains(&self, ids: &[u32]) -> Option<Captured> {
        let chains: Vec<Backtrace> =
            ids.iter().filter_map(|id| self.chains.get(id)).cloned().collect();
        if chains.is_empty() {
            return None;
        }
        let (point, user_frame) = task_wait_point(&chains);
        let user_frame = user_frame.map(Arc::new);
        let mut also = Vec::new();
        for chain in &chains {
            let other = wait_point(&chain.frames);
            if other != point && !also.contains(&other) {
                also.push(other);
            }
        }
        // In a fixed order: a `select!` registers its branches in a random one.
        also.sort();
        Some(Captured { point, user_frame, also: also.into() })
    }

    fn classify(&self, task: &TaskRecord, captured: Option<Captured>) -> TaskWait {
        let best = best_wait(self.waits_of(task.id).map(|w| (w, self.resource(w.resource_id))));
        let traces = self
            .dump
            .as_ref()
            .filter(|d| d.status == DumpStatus::Ok)
            .filter(|d| task.last_poll_start_nanos <= d.taken_at.saturating_add(d.duration))
            .and_then(|d| d.traces.get(&task.id))
            .filter(|traces| !traces.is_empty());
        // A fresh dump (asked for) first, else the capture; the other leaves come from the
        // capture either way.
        let (traced, also) = match (traces.map(|traces| task_wait_point(traces)), captured) {
            (Some((point, frame)), captured) => {
                (Some((point, frame.map(Arc::new), WaitSource::Dump)), captured.map(|c| c.also))
            }
            (None, Some(c)) => (Some((c.point, c.user_frame, WaitSource::Capture)), Some(c.also)),
            (None, None) => (None, None),
        };
        // A trace names the await precisely, unless its leaf is one the classifier does not know
        // and a wait record does (the trace's user frame is still the best line to show).
        let (point, user_frame, source) = match (traced, &best) {
            (Some((WaitPoint::Unknown(_), user_frame, _)), Some((point, _))) => {
                (point.clone(), user_frame, WaitSource::Wait)
            }
            (Some((point, user_frame, source)), _) => (point, user_frame, source),
            (None, Some((point, _))) => (point.clone(), None, WaitSource::Wait),
            (None, None) => return TaskWait::unknown(),
        };
        // Shared by every task of the chain set, unless the point is one of them.
        let also = match also {
            Some(also) if also.contains(&point) => {
                also.iter().filter(|p| **p != point).cloned().collect()
            }
            Some(also) => also,
            None => Arc::new([]),
        };
        let wait = best.filter(|(p, _)| *p == point).map(|(_, wait)| wait);
        let timer = wait
            .and_then(|w| self.resource(w.resource_id))
            .filter(|r| r.kind == ResourceKind::Timer as i32 && r.timer_duration_nanos > 0);
        TaskWait::new(
            Arc::new(WaitShape { point, user_frame, also, source }),
            wait.map(|w| w.resource_id),
            wait.map(|w| w.since_nanos),
            timer.map(|r| r.timer_duration_nanos),
        )
    }

    fn record_history(&mut self) {
        // Every live task has a wait (unknown at worst) once the waits are refreshed, so the
        // kept counts are the live tasks by location and point: named once per distinct point,
        // where a name per task was a million strings per update at 1M tasks.
        let mut counts: HashMap<SeriesKey, u32> = HashMap::new();
        for (&location_id, points) in &self.point_counts {
            for (point, &n) in points {
                *counts.entry(SeriesKey::location(location_id)).or_default() += n;
                let key = SeriesKey { location_id, wait_point: Some(point.to_string()) };
                *counts.entry(key).or_default() += n;
            }
        }
        self.history.record(self.now, counts);
    }
}

/// Sorts `items` by `key`, keeping only the last of items with equal keys (a record sent twice
/// keeps its latest).
///
/// A million task records are 300 MB: a stable sort's scratch would be half that again. The
/// order is found on the keys alone and applied in place, by swaps along its cycles.
fn sort_keep_last<T>(items: &mut Vec<T>, key: impl Fn(&T) -> u64) {
    if items.windows(2).all(|w| key(&w[0]) < key(&w[1])) {
        return;
    }
    let mut keys: Vec<(u64, usize)> = items.iter().map(&key).zip(0..).collect();
    keys.sort_unstable();
    if keys.windows(2).any(|w| w[0].0 == w[1].0) {
        // Never from the agent, which sends a record once per update: the simple way. Stable,
        // so equal keys stay in arrival order, which the reversal makes latest first.
        items.reverse();
        items.sort_by_key(&key);
        items.dedup_by_key(|item| key(item));
        return;
    }
    // `order[i]`: where the item that belongs at `i` is now.
    let mut order: Vec<usize> = keys.into_iter().map(|(_, i)| i).collect();
    for start in 0..order.len() {
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            items.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

/// Merges `incoming` (sorted by `key`) into `held` (sorted by `key`) in place: an item whose key
/// `held` has replaces that record (callers send one record a key, or take a key's records out
/// first), the others join in order. No second copy of `held`, which at a million
/// resources was the client's peak: the new items' room is made at the end, and `held` is merged
/// into it from the back.
fn upsert_sorted<T: Default>(held: &mut Vec<T>, incoming: Vec<T>, key: impl Fn(&T) -> u64) {
    let mut new = Vec::new();
    for item in incoming {
        match held.binary_search_by_key(&key(&item), &key) {
            Ok(i) => held[i] = item,
            Err(_) => new.push(item),
        }
    }
    let mut kept = held.len();
    held.resize_with(kept + new.len(), T::default);
    let mut write = held.len();
    while let Some(item) = new.pop() {
        while kept > 0 && key(&held[kept - 1]) > key(&item) {
            held.swap(kept - 1, write - 1);
            kept -= 1;
            write -= 1;
        }
        held[write - 1] = item;
        write -= 1;
    }
}

/// Adds a task to (or takes it from) the counts by location and wait point. The point is cloned
/// only when first counted.
fn count_point(
    counts: &mut HashMap<u32, HashMap<WaitPoint, u32>>,
    location: u32,
    point: &WaitPoint,
    add: bool,
) {
    let points = counts.entry(location).or_default();
    if add {
        match points.get_mut(point) {
            Some(n) => *n += 1,
            None => {
                points.insert(point.clone(), 1);
            }
        }
    } else if let Some(n) = points.get_mut(point) {
        *n -= 1;
        if *n == 0 {
            points.remove(point);
        }
    }
    if points.is_empty() {
        counts.remove(&location);
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{
        DumpStatus, Snapshot, TaskDumpResponse, TaskState, TaskTrace, Update, WatchMessage,
    };

    use super::{ChainIds, Held, Model, TaskRecord, TaskWait, WaitSource};
    use crate::history::SeriesKey;
    use crate::sources::Sources;
    use crate::support::{T, backtrace, frames, nanos, resource, snapshot, wait};
    use crate::wait_point::WaitPoint;
    use leakscope_proto::v1::{Resource, ResourceKind};
    use leakscope_proto::v1::{Task, WaitChain};

    /// Applies `steps` (full or delta snapshots) and renders the model as
    /// `live=[ids] ended=[id@secs] loc1=[counts]`.
    fn check(steps: Vec<(bool, Snapshot)>, expected: &str) {
        let mut model = Model::new(Sources::all());
        for (full, snapshot) in steps {
            model.apply_update(Update { full, snapshot: Some(snapshot) });
        }
        let live: Vec<u64> = model.live_tasks().map(|t| t.id).collect();
        let mut ended: Vec<String> = [1, 2, 3, 4]
            .iter()
            .filter_map(|&id| {
                model.task_ended_at(id).map(|at| format!("{id}@{}", at / 1_000_000_000))
            })
            .collect();
        ended.sort();
        let counts: Vec<u32> = model
            .history()
            .series(&SeriesKey::location(1))
            .map(|s| s.samples().iter().map(|s| s.count).collect())
            .unwrap_or_default();
        let got = format!("live={live:?} ended={ended:?} loc1={counts:?}");
        assert_eq!(got, expected);
    }

    /// Splits an update into one part per task (resources and waits spread over them, the
    /// rest in the last part), as the agent streams a large one.
    fn parts(full: bool, snapshot: Snapshot) -> Vec<WatchMessage> {
        let Snapshot { now_nanos, locations, tasks, resources, waits, .. } = snapshot.clone();
        let total = tasks.len() as u64;
        let mut parts: Vec<Snapshot> = tasks
            .into_iter()
            .map(|task| Snapshot { now_nanos, tasks: vec![task], ..Snapshot::default() })
            .collect();
        parts.push(Snapshot { resources, ..Snapshot::default() });
        parts.push(Snapshot { waits, locations, ..Snapshot::default() });
        let last = Snapshot {
            now_nanos,
            long_polls: snapshot.long_polls,
            poll_stats: snapshot.poll_stats,
            runtimes: snapshot.runtimes,
            stats: snapshot.stats,
            ..Snapshot::default()
        };
        parts.push(last);
        let count = parts.len();
        let mut sent = 0;
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| {
                sent += part.tasks.len() as u64;
                WatchMessage {
                    update: Some(Update { full, snapshot: Some(part) }),
                    more: i + 1 < count,
                    part: i as u32,
                    tasks_sent: sent,
                    tasks_total: total,
                    ..WatchMessage::default()
                }
            })
            .collect()
    }

    #[test]
    fn an_update_in_parts_is_the_update_whole() {
        let steps = vec![
            (true, {
                let mut s = snapshot(
                    10.0,
                    vec![
                        T::new(1).loc(1).idle(1.0).build(),
                        T::new(2).loc(1).idle(2.0).build(),
                        T::new(3).loc(2).idle(3.0).build(),
                    ],
                );
                s.resources = vec![resource(50, ResourceKind::Mutex)];
                s.waits = vec![wait(2, 50, "Mutex::lock", 2.0)];
                s
            }),
            (false, snapshot(11.0, vec![T::new(3).loc(2).idle(3.0).dropped(10.5).build()])),
            (true, snapshot(12.0, vec![T::new(2).loc(1).idle(2.0).build()])),
        ];
        let mut whole = Model::new(Sources::all());
        let mut streamed = Model::new(Sources::all());
        for (full, snap) in steps {
            whole.apply_update(Update { full, snapshot: Some(snap.clone()) });
            let parts = parts(full, snap);
            let last = parts.len() - 1;
            for (i, part) in parts.into_iter().enumerate() {
                assert_eq!(streamed.apply_part(part), i == last, "part {i}");
                if i < last {
                    assert!(streamed.streaming().is_some());
                }
            }
            assert!(streamed.streaming().is_none());
            let picture = |m: &Model| {
                let tasks: Vec<String> = (1..=3)
                    .map(|id| {
                        let wait = m.task_wait(id);
                        let live = m.task(id).is_some_and(super::is_live);
                        format!(
                            "{id}:{live}:{:?}:{}:{:?}",
                            m.task_ended_at(id),
                            wait.point,
                            wait.resource_id().unwrap_or(0)
                        )
                    })
                    .collect();
                let history: Vec<Vec<u32>> = [1, 2]
                    .iter()
                    .map(|&loc| {
                        m.history()
                            .series(&SeriesKey::location(loc))
                            .map(|s| s.samples().iter().map(|s| s.count).collect())
                            .unwrap_or_default()
                    })
                    .collect();
                let resources: Vec<u64> = m.resources().map(|r| r.id).collect();
                format!(
                    "{tasks:?} {history:?} {resources:?} {} now={} window={} obs={}",
                    m.waits().len(),
                    m.now_nanos(),
                    m.window_nanos(),
                    m.observations()
                )
            };
            assert_eq!(picture(&streamed), picture(&whole));
        }
    }

    #[test]
    fn a_delta_of_resources_and_waits_leaves_what_their_whole_lists_would() {
        let tasks = || (1..=4).map(|id| T::new(id).loc(1).idle(5.0).build()).collect::<Vec<Task>>();
        let oneshot =
            |id, tx_dropped| Resource { tx_dropped, ..resource(id, ResourceKind::Oneshot) };
        let mut first = snapshot(10.0, tasks());
        first.resources =
            vec![oneshot(10, false), oneshot(11, false), resource(13, ResourceKind::Mutex)];
        first.waits = vec![
            wait(1, 10, "Receiver::await", 5.0),
            wait(2, 11, "Receiver::await", 5.0),
            wait(3, 13, "Mutex::lock", 5.0),
            wait(3, 11, "Receiver::await", 5.0),
        ];
        // Task 1's resource closed and it waits on nothing; 2's sender dropped; 3 now waits on a
        // new oneshot only; 4 starts waiting on the mutex.
        let mut whole = snapshot(11.0, tasks());
        whole.resources =
            vec![oneshot(11, true), oneshot(12, false), resource(13, ResourceKind::Mutex)];
        whole.waits = vec![
            wait(2, 11, "Receiver::await", 5.0),
            wait(3, 12, "Receiver::await", 6.0),
            wait(4, 13, "Mutex::lock", 6.0),
        ];
        let mut changes = snapshot(11.0, tasks());
        changes.resources = vec![oneshot(12, false), oneshot(11, true)];
        changes.waits = vec![wait(4, 13, "Mutex::lock", 6.0), wait(3, 12, "Receiver::await", 6.0)];
        let delta = WatchMessage {
            update: Some(Update { full: false, snapshot: Some(changes) }),
            resources_delta: true,
            resources_removed: vec![10],
            waits_cleared: vec![1],
            ..WatchMessage::default()
        };
        let mut by_delta = Model::new(Sources::all());
        by_delta.apply_snapshot(first.clone());
        assert!(by_delta.apply_part(delta));
        let mut by_lists = Model::new(Sources::all());
        by_lists.apply_snapshot(first);
        by_lists.apply_update(Update { full: false, snapshot: Some(whole) });
        let picture = |m: &Model| {
            let waits: Vec<(u64, u64, String)> =
                m.waits().iter().map(|w| (w.task_id, w.resource_id, w.op.clone())).collect();
            let resources: Vec<(u64, bool)> = m.resources().map(|r| (r.id, r.tx_dropped)).collect();
            let tasks: Vec<String> = (1..=4)
                .map(|id| {
                    let wait = m.task_wait(id);
                    format!("{id}:{}:{:?}", wait.point, wait.resource_id())
                })
                .collect();
            format!("{waits:?} {resources:?} {tasks:?}")
        };
        assert_eq!(picture(&by_delta), picture(&by_lists));
        assert!(picture(&by_delta).contains("[(11, true), (12, false), (13, false)]"));
    }

    /// What a client holds per task at a million tasks (issue 14): the record, its wait and its
    /// chain ids, with no allocation of their own for a task parked at one `.await`.
    #[test]
    fn a_held_task_is_one_record_its_wait_and_its_chain_ids_inline() {
        assert_eq!(std::mem::size_of::<TaskWait>(), 32);
        assert_eq!(std::mem::size_of::<ChainIds>(), 16);
        // The protocol's record was 184 of 232 bytes; the model's own is 144 (issue 14 again).
        assert_eq!(std::mem::size_of::<TaskRecord>(), 144);
        assert!(std::mem::size_of::<Held>() <= 192, "{}", std::mem::size_of::<Held>());
        // And what the analysis makes of each live task for one pass.
        assert_eq!(std::mem::size_of::<crate::context::Live<'_>>(), 32);
        for ids in [vec![], vec![7], vec![1, 2, 3], vec![1, 2, 3, 4]] {
            let held = Held::new(Task { wait_chain_ids: ids.clone(), ..Task::default() });
            assert_eq!(held.chains.as_slice(), ids.as_slice());
        }
        let wait = TaskWait::new(TaskWait::unknown().shape, Some(3), None, Some(0));
        assert_eq!(
            (wait.resource_id(), wait.since_nanos(), wait.timer_nanos()),
            (Some(3), None, Some(0))
        );
    }

    /// A million tasks named alike hold one string; a name no task has any more is forgotten.
    #[test]
    fn tasks_named_alike_share_one_name() {
        let named = |id, name: &str| T::new(id).loc(1).name(name).idle(5.0).build();
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snapshot(10.0, vec![named(1, "worker"), named(2, "worker")]));
        model.apply_update(Update {
            full: false,
            snapshot: Some(snapshot(11.0, vec![named(3, "worker"), named(4, "")])),
        });
        let name = |id| &model.task(id).expect("held").name;
        assert_eq!((name(1).as_str(), name(4).as_str()), ("worker", ""));
        assert!(name(1).ptr_eq(name(2)) && name(1).ptr_eq(name(3)));
        assert_eq!(model.names.len(), 1);
        model.apply_snapshot(snapshot(12.0, vec![named(4, "")]));
        assert!(model.names.is_empty(), "{:?}", model.names);
    }

    #[test]
    fn tasks_parked_alike_share_one_wait_shape_and_keep_their_own_resource() {
        let mut snap =
            snapshot(10.0, (1..=3).map(|id| T::new(id).loc(1).idle(5.0).build()).collect());
        snap.resources = (10..=12).map(|id| resource(id, ResourceKind::Oneshot)).collect();
        snap.waits = (1..=3).map(|id| wait(id, id + 9, "Receiver::await", 5.0)).collect();
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snap.clone());
        let (one, two) = (model.task_wait(1), model.task_wait(2));
        assert!(std::sync::Arc::ptr_eq(&one.shape, &two.shape), "{one:?} {two:?}");
        assert_eq!((one.resource_id(), two.resource_id()), (Some(10), Some(11)));
        // A delta that refreshes one task's wait shares the shape too.
        let mut delta = snapshot(11.0, vec![T::new(3).loc(1).idle(6.0).build()]);
        delta.resources = snap.resources;
        delta.waits = snap.waits;
        model.apply_part(WatchMessage {
            update: Some(Update { full: false, snapshot: Some(delta) }),
            resources_unchanged: true,
            ..WatchMessage::default()
        });
        assert!(std::sync::Arc::ptr_eq(&model.task_wait(1).shape, &model.task_wait(3).shape));
        assert_eq!(model.task_wait(3).point, WaitPoint::Oneshot);
    }

    /// A delta's new tasks, in any order, join the sorted ones by id; a task it updates keeps
    /// its place with the new record.
    #[test]
    fn a_deltas_new_tasks_are_merged_in_by_id() {
        let task = |id, polls| Task { id, polls, state: TaskState::Idle as i32, ..Task::default() };
        let update = |full, tasks| Update {
            full,
            snapshot: Some(Snapshot { tasks, ..Snapshot::default() }),
        };
        let mut model = Model::new(Sources::all());
        model.apply_update(update(true, vec![task(9, 0), task(1, 0), task(5, 0)]));
        model.apply_update(update(false, vec![task(7, 0), task(3, 0), task(12, 0), task(5, 4)]));
        let ids: Vec<(u64, u64)> = model.tasks().map(|t| (t.id, t.polls)).collect();
        assert_eq!(ids, [(1, 0), (3, 0), (5, 4), (7, 0), (9, 0), (12, 0)]);
        assert!(model.task(3).is_some() && model.task(12).is_some(), "found by id");
    }

    #[test]
    fn records_merge_in_place_replacing_their_key_and_keeping_order() {
        use super::upsert_sorted;
        let mut held: Vec<(u64, u32)> = vec![(2, 0), (4, 0), (4, 1), (7, 0)];
        upsert_sorted(&mut held, vec![(1, 9), (5, 9), (5, 8), (7, 9), (9, 9)], |&(k, _)| k);
        assert_eq!(held, [(1, 9), (2, 0), (4, 0), (4, 1), (5, 9), (5, 8), (7, 9), (9, 9)]);
        let mut empty: Vec<(u64, u32)> = Vec::new();
        upsert_sorted(&mut empty, vec![(3, 1)], |&(k, _)| k);
        assert_eq!(empty, [(3, 1)]);
    }

    #[test]
    fn records_sort_by_id_and_a_record_sent_twice_keeps_its_latest() {
        use super::sort_keep_last;
        // (id, arrival): a permutation with cycles of several lengths, and one already sorted.
        let mut items: Vec<(u64, u32)> =
            [7, 3, 9, 1, 4, 8, 2, 6, 5, 0].iter().zip(0..).map(|(&k, i)| (k, i)).collect();
        sort_keep_last(&mut items, |&(k, _)| k);
        assert_eq!(items.iter().map(|&(k, _)| k).collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
        let mut sorted: Vec<(u64, u32)> = vec![(1, 0), (2, 1)];
        sort_keep_last(&mut sorted, |&(k, _)| k);
        assert_eq!(sorted, [(1, 0), (2, 1)]);
        let mut twice: Vec<(u64, u32)> = vec![(5, 0), (2, 1), (5, 2), (1, 3), (2, 4)];
        sort_keep_last(&mut twice, |&(k, _)| k);
        assert_eq!(twice, [(1, 3), (2, 4), (5, 2)]);
    }

    #[test]
    fn full_and_delta_updates() {
        let a = || T::new(1).loc(1).idle(1.0).build();
        let b = || T::new(2).loc(1).idle(1.0).build();
        check(vec![(true, snapshot(10.0, vec![a(), b()]))], r#"live=[1, 2] ended=[] loc1=[2]"#);
        // A full snapshot that lacks a live task: it ended (at the latest, by that snapshot).
        check(
            vec![(true, snapshot(10.0, vec![a(), b()])), (true, snapshot(12.0, vec![a()]))],
            r#"live=[1] ended=["2@12"] loc1=[2, 1]"#,
        );
        // A delta that lacks a task changes nothing about it; one with `dropped_nanos` ends it.
        check(
            vec![
                (true, snapshot(10.0, vec![a(), b()])),
                (false, snapshot(12.0, vec![])),
                (false, snapshot(14.0, vec![T::new(1).loc(1).dropped(13.0).build()])),
            ],
            r#"live=[2] ended=["1@13"] loc1=[2, 2, 1]"#,
        );
        // A done task is not live; it ended at its last poll.
        check(
            vec![(
                true,
                snapshot(
                    10.0,
                    vec![T::new(3).loc(1).state(TaskState::Done).polled(2.0, 3.0).build()],
                ),
            )],
            r#"live=[] ended=["3@3"] loc1=[]"#,
        );
        // Finished records are pruned after a minute, their end is remembered.
        check(
            vec![
                (true, snapshot(10.0, vec![T::new(4).loc(2).dropped(9.0).build()])),
                (false, snapshot(100.0, vec![])),
            ],
            r#"live=[] ended=["4@9"] loc1=[]"#,
        );
    }

    #[test]
    fn the_clock_never_goes_back_and_windows_grow() {
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snapshot(10.0, vec![]));
        model.apply_snapshot(snapshot(5.0, vec![]));
        model.apply_snapshot(snapshot(40.0, vec![]));
        assert_eq!(model.now_nanos(), nanos(40.0));
        assert_eq!(model.window_nanos(), nanos(30.0));
        assert_eq!(model.observations(), 3);
    }

    fn point_of(model: &Model, id: u64) -> String {
        let wait = model.task_wait(id);
        format!("{} from {:?}", wait.point, wait.source)
    }

    #[test]
    fn waits_come_from_a_fresh_dump_then_from_resources() {
        let mut snap = snapshot(
            10.0,
            vec![
                T::new(1).loc(1).idle(2.0).build(),
                T::new(2).loc(1).polled(9.5, 9.6).build(),
                T::new(3).loc(1).idle(2.0).build(),
            ],
        );
        snap.resources = vec![resource(5, ResourceKind::Mutex)];
        snap.waits = vec![
            wait(1, 5, "Mutex::lock", 2.0),
            wait(2, 5, "Mutex::lock", 9.0),
            wait(3, 5, "Mutex::lock", 2.0),
        ];
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snap);
        assert_eq!(point_of(&model, 1), "Mutex::lock from Wait");
        assert_eq!(model.task_wait(1).since_nanos(), Some(nanos(2.0)));
        let dump = TaskDumpResponse {
            status: DumpStatus::Ok as i32,
            taken_at_nanos: nanos(9.0),
            duration_nanos: nanos(0.1),
            traces: vec![
                TaskTrace {
                    task_id: 1,
                    backtraces: vec![backtrace(&[
                        "app::f@src/f.rs:1:1",
                        "tokio::sync::notify::Notified::poll_notified@x:1",
                    ])],
                },
                TaskTrace {
                    task_id: 2,
                    backtraces: vec![backtrace(&[
                        "app::g@src/g.rs:2:2",
                        "tokio::time::sleep::Sleep::poll_elapsed@x:1",
                    ])],
                },
                TaskTrace {
                    task_id: 3,
                    backtraces: vec![backtrace(&[
                        "app::h@src/h.rs:3:3",
                        "tokio::sync::newfangled::Thing::poll@x:1",
                    ])],
                },
            ],
            ..TaskDumpResponse::default()
        };
        model.apply_dump(dump);
        assert_eq!(point_of(&model, 1), "Notify::notified from Dump");
        // Task 2 was polled after the dump: its trace is stale, the wait record stands.
        assert_eq!(point_of(&model, 2), "Mutex::lock from Wait");
        // Task 3's leaf is not recognised but its wait is; the dump still gives the line.
        assert_eq!(point_of(&model, 3), "Mutex::lock from Wait");
        assert_eq!(
            model.task_wait(3).user_frame.as_ref().map(ToString::to_string).as_deref(),
            Some("app::h at src/h.rs:3:3")
        );
        assert_eq!(point_of(&model, 99), "unknown from Unknown");
        assert_eq!(model.task_wait(99).source, WaitSource::Unknown);
    }

    #[test]
    fn a_select_is_named_alike_whichever_branch_registered_first() {
        let chain = |id: u32, leaf: &str| WaitChain {
            id,
            frames: frames(&["app::serve::{{closure}}@src/serve.rs:40:9", leaf]),
        };
        // tokio::select! polls its branches in a random order: the chains come either way round.
        let with_chains = |id: u64, ids: &[u32]| Task {
            wait_chain_ids: ids.to_vec(),
            ..T::new(id).loc(1).idle(2.0).build()
        };
        let mut snap = snapshot(10.0, vec![with_chains(1, &[1, 2]), with_chains(2, &[2, 1])]);
        snap.wait_chains = vec![
            chain(1, "tokio::net::tcp::stream::TcpStream::poll_read@x:1"),
            chain(2, "tokio::sync::broadcast::Receiver<T>::recv@x:1"),
        ];
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snap);
        assert_eq!(model.task_wait(1).point, model.task_wait(2).point);
        assert_eq!(model.task_wait(1).also, model.task_wait(2).also);
        let report = crate::analyze(&model, &crate::Config::default());
        assert_eq!(report.groups.len(), 1, "{:?}", report.groups);
        assert_eq!(report.groups[0].count, 2);
    }

    #[test]
    fn captured_chains_name_waits_without_a_dump() {
        let chain = |id: u32, stack: &[&str]| WaitChain { id, frames: frames(stack) };
        let with_chains = |task: Task, ids: &[u32]| Task { wait_chain_ids: ids.to_vec(), ..task };
        let mut snap = snapshot(
            10.0,
            vec![
                with_chains(T::new(1).loc(1).idle(2.0).build(), &[7]),
                with_chains(T::new(2).loc(1).idle(2.0).build(), &[7]),
                // A `select!` over a receive and a timer: the receive names the group.
                with_chains(T::new(3).loc(2).idle(2.0).build(), &[8, 9]),
                // A future that is not tokio's keeps the waker: named by its leaf.
                with_chains(T::new(4).loc(3).idle(2.0).build(), &[10]),
                // A chain the model was never sent: nothing to say.
                with_chains(T::new(5).loc(3).idle(2.0).build(), &[11]),
            ],
        );
        snap.wait_chains = vec![
            chain(
                7,
                &[
                    "app::pending::{{closure}}@src/pending.rs:14:30",
                    "tokio::sync::mpsc::chan::recv@x:1",
                ],
            ),
            chain(
                8,
                &[
                    "app::serve::{{closure}}@src/serve.rs:40:9",
                    "tokio::sync::mpsc::bounded::Receiver<T>::recv@x:1",
                ],
            ),
            chain(
                9,
                &[
                    "app::serve::{{closure}}@src/serve.rs:41:9",
                    "tokio::time::sleep::Sleep::poll_elapsed@x:1",
                ],
            ),
            chain(10, &["app::Forever::poll@src/forever.rs:9:5"]),
        ];
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snap);
        assert_eq!(point_of(&model, 1), "mpsc::Receiver::recv from Capture");
        let frame = |id| model.task_wait(id).user_frame.as_ref().map(ToString::to_string);
        assert_eq!(frame(1).as_deref(), Some("app::pending at src/pending.rs:14:30"));
        assert_eq!(point_of(&model, 3), "mpsc::Receiver::recv from Capture");
        assert_eq!(frame(3).as_deref(), Some("app::serve at src/serve.rs:40:9"));
        assert_eq!(*model.task_wait(3).also, [WaitPoint::Sleep]);
        assert_eq!(point_of(&model, 4), "unknown (app::Forever::poll) from Capture");
        assert_eq!(point_of(&model, 5), "unknown from Unknown");
        // Deltas carry only the chains their tasks use: the model keeps what live tasks refer to.
        let update = Update { full: false, snapshot: Some(snapshot(11.0, vec![])) };
        model.apply_update(update);
        assert_eq!(point_of(&model, 2), "mpsc::Receiver::recv from Capture");
    }
}
