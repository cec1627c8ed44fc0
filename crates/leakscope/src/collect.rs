//! Turning the registry into wire messages, on the agent thread: snapshots, `Watch` updates
//! streamed in bounded parts, and the bounded retention of finished tasks and long polls.
//!
//! A `Watch` update is planned at once (which tasks changed, which resources and waits to send:
//! slot keys and small tuples, about 16 bytes a record) and then built and sent one part at a
//! time, each part of at most `part_records` records, with the collector's lock released and the
//! agent's runtime free between parts: other clients are served while a large update streams, and
//! a client that leaves stops the work at its next part (see docs/ARCHITECTURE.md, "A million
//! tasks").

use crate::builder::Config;
use crate::clock;
use leakscope_proto::v1::{
    AgentStats, LocationPollStats, LongPoll, Resource, Snapshot, Task, Update, Wait, WatchMessage,
};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};

/// Long-poll records kept for clients, most recent first.
const LONG_POLLS_KEPT: usize = 1024;

/// Records per `WatchMessage` when the client does not say.
pub(crate) const DEFAULT_PART_RECORDS: usize = 4096;
/// Records per `WatchMessage` at most, whatever the client asks.
pub(crate) const MAX_PART_RECORDS: usize = 65_536;

/// What the agent thread holds between requests.
pub(crate) struct Collector {
    config: Config,
    /// Finished tasks with their arrival number, oldest first, bounded by count and age.
    finished: VecDeque<(u64, Task)>,
    /// Arrival number of the next finished task.
    next_finished: u64,
    long_polls: VecDeque<LongPoll>,
    poll_stats: HashMap<u32, LocationPollStats>,
}

/// What one `Watch` stream has already sent.
#[derive(Default)]
pub(crate) struct WatchState {
    /// By task slot index: the slot's generation (high 32 bits) and version (low) last sent; 0
    /// for never. Eight bytes a slot, and no hashing, where a map cost five times that at 1M
    /// tasks.
    versions: Vec<u64>,
    /// Finished tasks numbered below this were sent.
    finished_sent: u64,
    started: bool,
    /// `finished_evicted_total` when the last update was built: if it moved, finished tasks may
    /// have been lost between updates and the next update must be full.
    evicted_seen: u64,
    /// The resources last sent, by id, each with a hash of its record; and the waits last sent,
    /// by waiting task, each with a hash of that task's waits. Sorted, 16 bytes an entry: a delta
    /// update sends only what differs from these (`WatchMessage.resources_delta`).
    resources_seen: Vec<(u64, u64)>,
    waits_seen: Vec<(u64, u64)>,
}

/// A `Watch` update being sent: what is left of it. It holds slot keys and wait tuples, not
/// messages; each part is built from the live slots when its turn comes.
pub(crate) struct Streaming {
    full: bool,
    part_records: usize,
    /// Task slot keys to send, and how many are sent.
    keys: Vec<u64>,
    next_key: usize,
    /// Finished tasks to send (bounded by the retention).
    finished: Vec<Task>,
    next_finished: usize,
    waits: Vec<imp::Op>,
    next_wait: usize,
    resource_ids: Vec<u64>,
    next_resource: usize,
    /// A delta's resources no longer sent, and its tasks that wait on nothing any more.
    resources_removed: Vec<u64>,
    next_removed: usize,
    waits_cleared: Vec<u64>,
    next_cleared: usize,
    resources_unchanged: bool,
    resources_delta: bool,
    /// Resources the update stands for (sent now, or kept from before when unchanged).
    resources_live: usize,
    part: u32,
    tasks_sent: u64,
    tasks_total: u64,
    done: bool,
}

/// `Watch` streams being served, and the bytes held for them ([`StreamGuard`]).
static WATCH_STREAMS: AtomicU64 = AtomicU64::new(0);
static WATCH_BYTES: AtomicU64 = AtomicU64::new(0);

/// Counts one `Watch` stream and the bytes held for it, for `AgentStats.watch_streams` and
/// `watch_bytes`, for as long as it lives: dropped with the stream's task (the client left, or
/// the agent stopped), it takes both back.
pub(crate) struct StreamGuard {
    bytes: u64,
}

impl StreamGuard {
    pub(crate) fn new() -> Self {
        WATCH_STREAMS.fetch_add(1, Ordering::Relaxed);
        Self { bytes: 0 }
    }

    /// The stream now holds `bytes`.
    pub(crate) fn hold(&mut self, bytes: usize) {
        let bytes = bytes as u64;
        if bytes >= self.bytes {
            WATCH_BYTES.fetch_add(bytes - self.bytes, Ordering::Relaxed);
        } else {
            WATCH_BYTES.fetch_sub(self.bytes - bytes, Ordering::Relaxed);
        }
        self.bytes = bytes;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.hold(0);
        WATCH_STREAMS.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Streaming {
    /// Whether the update sends every live task (the stream's first, or one after finished
    /// tasks were lost), rather than those that moved since the last.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }
}

impl WatchState {
    /// Bytes this stream keeps between updates.
    pub(crate) fn memory_bytes(&self) -> usize {
        self.versions.capacity() * 8
            + (self.resources_seen.capacity() + self.waits_seen.capacity()) * 16
    }
}

impl Streaming {
    /// Bytes this plan holds (its keys and tuples; the finished tasks are counted by the
    /// retention already).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.keys.capacity() * 8
            + self.waits.capacity() * std::mem::size_of::<imp::Op>()
            + (self.resource_ids.capacity()
                + self.resources_removed.capacity()
                + self.waits_cleared.capacity())
                * 8
    }
}

impl Collector {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            config,
            finished: VecDeque::new(),
            next_finished: 0,
            long_polls: VecDeque::new(),
            poll_stats: HashMap::new(),
        }
    }

    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// A full snapshot, in one message (`GetSnapshot`, the HTTP endpoints, the in-process check).
    pub(crate) fn snapshot(&mut self, include_finished: bool) -> Snapshot {
        self.drain();
        let mut tasks = imp::live_tasks();
        if include_finished {
            tasks.extend(self.finished.iter().map(|(_, t)| t.clone()));
        }
        // Read the clock after the records, so that no record is newer than the snapshot.
        self.finish(clock::now(), tasks)
    }

    /// Plans the next `Watch` update for a stream in `state`: which tasks it sends (every live
    /// one when full, else those whose version moved), which finished ones, and whether its
    /// resources and waits changed. Cheap next to building it: one pass over the slots, no
    /// messages.
    pub(crate) fn begin(&mut self, state: &mut WatchState, part_records: usize) -> Streaming {
        self.drain();
        let evicted = imp::finished_evicted();
        let full = !state.started || evicted != state.evicted_seen;
        state.started = true;
        state.evicted_seen = evicted;
        let keys = imp::changed_tasks(&mut state.versions, full);
        let since = if full { 0 } else { state.finished_sent };
        let finished: Vec<Task> =
            self.finished.iter().filter(|(n, _)| *n >= since).map(|(_, t)| t.clone()).collect();
        state.finished_sent = self.next_finished;
        let (mut waits, mut resource_ids) = imp::plan_resources_and_waits();
        let resources_live = resource_ids.len();
        // Each task's waits together, in the order they began (the sort is stable).
        waits.sort_by_key(imp::Op::waiter);
        let resources_now = imp::resource_hashes(&resource_ids);
        let waits_now = wait_hashes(&waits);
        let (mut resources_removed, mut waits_cleared) = (Vec::new(), Vec::new());
        if !full {
            let changed;
            (changed, resources_removed) = diff(&state.resources_seen, &resources_now);
            resource_ids = changed;
            let (waiters, cleared) = diff(&state.waits_seen, &waits_now);
            waits.retain(|op| waiters.binary_search(&op.waiter()).is_ok());
            waits_cleared = cleared;
        }
        state.resources_seen = resources_now;
        state.waits_seen = waits_now;
        let resources_unchanged = !full
            && resource_ids.is_empty()
            && resources_removed.is_empty()
            && waits.is_empty()
            && waits_cleared.is_empty();
        let tasks_total = (keys.len() + finished.len()) as u64;
        Streaming {
            full,
            part_records: part_records.clamp(1, MAX_PART_RECORDS),
            keys,
            next_key: 0,
            finished,
            next_finished: 0,
            waits,
            next_wait: 0,
            resource_ids,
            next_resource: 0,
            resources_removed,
            next_removed: 0,
            waits_cleared,
            next_cleared: 0,
            resources_unchanged,
            resources_delta: !full && !resources_unchanged,
            resources_live,
            part: 0,
            tasks_sent: 0,
            tasks_total,
            done: false,
        }
    }

    /// The next part of the update `plan` describes, or `None` once its last part was returned.
    pub(crate) fn next_part(&mut self, plan: &mut Streaming) -> Option<WatchMessage> {
        if plan.done {
            return None;
        }
        let mut budget = plan.part_records;
        let mut tasks = Vec::new();
        while budget > 0 && plan.next_key < plan.keys.len() {
            let key = plan.keys[plan.next_key];
            plan.next_key += 1;
            // A task that ended since the plan was made comes through the finished queue.
            if let Some(task) = imp::task_by_key(key) {
                tasks.push(task);
                budget -= 1;
            }
        }
        while budget > 0 && plan.next_finished < plan.finished.len() {
            tasks.push(std::mem::take(&mut plan.finished[plan.next_finished]));
            plan.next_finished += 1;
            budget -= 1;
        }
        let mut waits: Vec<Wait> = Vec::new();
        while budget > 0 && plan.next_wait < plan.waits.len() {
            waits.push(imp::wait(&plan.waits[plan.next_wait]));
            plan.next_wait += 1;
            budget -= 1;
        }
        let mut resources: Vec<Resource> = Vec::new();
        while budget > 0 && plan.next_resource < plan.resource_ids.len() {
            if let Some(resource) = imp::resource(plan.resource_ids[plan.next_resource]) {
                resources.push(resource);
                budget -= 1;
            }
            plan.next_resource += 1;
        }
        let take = plan.resources_removed.len().min(plan.next_removed + budget);
        let resources_removed = plan.resources_removed[plan.next_removed..take].to_vec();
        budget -= take - plan.next_removed;
        plan.next_removed = take;
        let take = plan.waits_cleared.len().min(plan.next_cleared + budget);
        let waits_cleared = plan.waits_cleared[plan.next_cleared..take].to_vec();
        plan.next_cleared = take;
        let last = plan.next_key == plan.keys.len()
            && plan.next_finished == plan.finished.len()
            && plan.next_wait == plan.waits.len()
            && plan.next_resource == plan.resource_ids.len()
            && plan.next_removed == plan.resources_removed.len()
            && plan.next_cleared == plan.waits_cleared.len();
        plan.tasks_sent += tasks.len() as u64;
        // A task may have ended after the plan counted it: the total never falls short of what
        // was sent.
        plan.tasks_total = plan.tasks_total.max(plan.tasks_sent);
        let now = clock::now();
        let snapshot = if last {
            plan.tasks_total = plan.tasks_sent;
            self.finish_parts(now, tasks, resources, waits, Some(plan.resources_live))
        } else {
            self.finish_parts(now, tasks, resources, waits, None)
        };
        let message = WatchMessage {
            update: Some(Update { full: plan.full, snapshot: Some(snapshot) }),
            more: !last,
            part: plan.part,
            tasks_sent: plan.tasks_sent,
            tasks_total: plan.tasks_total,
            resources_unchanged: plan.resources_unchanged,
            resources_delta: plan.resources_delta,
            resources_removed,
            waits_cleared,
        };
        plan.part += 1;
        if last {
            plan.done = true;
            // What the plan held goes back now, not when the next update replaces it.
            plan.keys = Vec::new();
            plan.waits = Vec::new();
            plan.resource_ids = Vec::new();
            plan.resources_removed = Vec::new();
            plan.waits_cleared = Vec::new();
            plan.finished = Vec::new();
        }
        Some(message)
    }

    /// One part's message: its records and the locations and chains they refer to; with `last`,
    /// also (`Some(resources live)`) the long polls, poll statistics, runtimes and stats.
    fn finish_parts(
        &self,
        now: u64,
        tasks: Vec<Task>,
        resources: Vec<Resource>,
        waits: Vec<Wait>,
        last: Option<usize>,
    ) -> Snapshot {
        let (long_polls, poll_stats, runtimes, stats) = if let Some(resources_live) = last {
            let long_polls: Vec<LongPoll> = self.long_polls.iter().cloned().collect();
            let mut poll_stats: Vec<LocationPollStats> =
                self.poll_stats.values().cloned().collect();
            poll_stats.sort_by_key(|s| s.location_id);
            (long_polls, poll_stats, crate::runtime::metrics(), Some(self.stats(resources_live)))
        } else {
            (Vec::new(), Vec::new(), Vec::new(), None)
        };
        self.assemble(now, tasks, resources, waits, long_polls, poll_stats, runtimes, stats)
    }

    /// Adds everything but tasks, and the location table the message refers to.
    fn finish(&self, now: u64, tasks: Vec<Task>) -> Snapshot {
        let (resources, waits) = imp::resources_and_waits();
        let long_polls: Vec<LongPoll> = self.long_polls.iter().cloned().collect();
        let mut poll_stats: Vec<LocationPollStats> = self.poll_stats.values().cloned().collect();
        poll_stats.sort_by_key(|s| s.location_id);
        let stats = self.stats(resources.len());
        let runtimes = crate::runtime::metrics();
        self.assemble(now, tasks, resources, waits, long_polls, poll_stats, runtimes, Some(stats))
    }

    /// A message of these records, with the locations and wait chains they refer to.
    #[expect(clippy::too_many_arguments, reason = "the parts of one message, each named")]
    fn assemble(
        &self,
        now: u64,
        tasks: Vec<Task>,
        resources: Vec<Resource>,
        waits: Vec<Wait>,
        long_polls: Vec<LongPoll>,
        poll_stats: Vec<LocationPollStats>,
        runtimes: Vec<leakscope_proto::v1::RuntimeMetrics>,
        stats: Option<AgentStats>,
    ) -> Snapshot {
        let mut ids = BTreeSet::new();
        ids.extend(tasks.iter().map(|t| t.location_id));
        ids.extend(tasks.iter().filter_map(|t| t.spawner_span.as_ref().map(|s| s.location_id)));
        ids.extend(resources.iter().map(|r| r.location_id));
        ids.extend(long_polls.iter().map(|l| l.location_id));
        ids.extend(poll_stats.iter().map(|s| s.location_id));
        ids.remove(&0);
        let locations = ids.into_iter().filter_map(imp::location).collect();
        let chain_ids: BTreeSet<u32> =
            tasks.iter().flat_map(|t| t.wait_chain_ids.iter().copied()).collect();
        let wait_chains = chain_ids.into_iter().filter_map(imp::wait_chain).collect();
        imp::release_symbols();
        Snapshot {
            now_nanos: now,
            locations,
            tasks,
            resources,
            waits,
            long_polls,
            poll_stats,
            runtimes,
            stats,
            wait_chains,
        }
    }

    fn stats(&self, resources_live: usize) -> AgentStats {
        let mut stats = imp::stats();
        stats.watch_streams = WATCH_STREAMS.load(Ordering::Relaxed);
        stats.watch_bytes = WATCH_BYTES.load(Ordering::Relaxed);
        stats.memory_bytes += stats.watch_bytes;
        stats.finished_retained = self.finished.len() as u64;
        stats.resources_live = resources_live as u64;
        stats.memory_bytes += (self.finished.len() * std::mem::size_of::<Task>()
            + self.long_polls.len() * std::mem::size_of::<LongPoll>()
            + self.poll_stats.len() * std::mem::size_of::<LocationPollStats>())
            as u64;
        stats
    }

    /// Moves finished tasks and long polls out of the registry's lock-free queues, then applies
    /// the retention bounds.
    fn drain(&mut self) {
        let now = clock::now();
        let threshold = self.config.long_poll_threshold.as_nanos() as u64;
        imp::drain_finished(&mut |task| {
            self.finished.push_back((self.next_finished, task));
            self.next_finished += 1;
        });
        imp::drain_long_polls(&mut |poll| {
            let stats = self.poll_stats.entry(poll.location_id).or_insert_with(|| {
                LocationPollStats { location_id: poll.location_id, ..LocationPollStats::default() }
            });
            stats.long_polls += 1;
            stats.long_poll_nanos += poll.duration_nanos;
            stats.max_poll_nanos = stats.max_poll_nanos.max(poll.duration_nanos);
            let held = poll.duration_nanos.saturating_sub(poll.runqueue_nanos);
            stats.max_held_nanos = stats.max_held_nanos.max(held);
            if poll.thread_times {
                stats.timed_polls += 1;
                stats.cpu_nanos += poll.cpu_nanos;
                stats.runqueue_nanos += poll.runqueue_nanos;
                if poll.duration_nanos.saturating_sub(poll.runqueue_nanos) < threshold {
                    stats.preempted_polls += 1;
                }
            }
            self.long_polls.push_front(poll);
        });
        self.long_polls.truncate(LONG_POLLS_KEPT);
        let max_age = self.config.retain_finished_for.as_nanos() as u64;
        while self.finished.len() > self.config.retain_finished_max
            || self
                .finished
                .front()
                .is_some_and(|(_, t)| now.saturating_sub(t.dropped_nanos) > max_age)
        {
            self.finished.pop_front();
        }
    }
}

/// Whether this build captures wait chains, and whether the app left the capture on.
#[cfg(tokio_unstable)]
fn wait_capture() -> (bool, bool) {
    (crate::capture::SUPPORTED, crate::capture::enabled())
}

#[cfg(not(tokio_unstable))]
fn wait_capture() -> (bool, bool) {
    (false, false)
}

/// Capabilities and missing pieces of this build, for `Hello`: what the cfgs allow, narrowed by
/// what the agent found at run time (`crate::probe`: frame pointers, line tables; and whether
/// another subscriber took tokio's instrumentation, `crate::facts`).
pub(crate) fn capabilities() -> (leakscope_proto::v1::Capabilities, Vec<String>) {
    use leakscope_proto::v1::capabilities::Presence;
    let foreign_subscriber = crate::facts::foreign_subscriber();
    let build = crate::probe::build_facts();
    let tasks = cfg!(tokio_unstable) && !foreign_subscriber;
    let no_frame_pointers = build.frame_pointers == Presence::Absent;
    let mut missing = Vec::new();
    if !cfg!(tokio_unstable) {
        missing.push(
            "per-task records, resources and lock waits: the app was built without \
             --cfg tokio_unstable, so tokio emits no task instrumentation"
                .to_owned(),
        );
    } else if foreign_subscriber {
        missing.push(
            "per-task records, resources and lock waits: another tracing subscriber was \
             installed before leakscope::init, so tokio's instrumentation goes there \
             (compose leakscope::layer() into it instead)"
                .to_owned(),
        );
    }
    let (capture_supported, capture_on) = wait_capture();
    if tasks && capture_supported && !capture_on {
        missing.push(
            "wait points without a task dump: the app turned the wait capture off \
             (Builder::wait_capture(false) or LEAKSCOPE_WAIT_CAPTURE=0)"
                .to_owned(),
        );
    } else if tasks && !capture_on {
        missing.push(
            "wait points without a task dump: the agent captures them on Linux on x86_64 or \
             aarch64 only"
                .to_owned(),
        );
    } else if tasks && no_frame_pointers {
        missing.push(
            "wait points without a task dump: the app was built without frame pointers \
             (-C force-frame-pointers=yes)"
                .to_owned(),
        );
    }
    if build.line_tables == Presence::Absent {
        missing.push(
            "source lines of wait points, task dumps and CPU profiles: the binary has no line \
             tables (debug = \"line-tables-only\" in the release profile)"
                .to_owned(),
        );
    }
    if !crate::dump::SUPPORTED {
        missing.push(
            "task dumps (await chains): the app was built without --cfg tokio_unstable, \
             or not for Linux on x86, x86_64, aarch64 or s390x"
                .to_owned(),
        );
    }
    let has_runtime = !crate::runtime::runtimes().is_empty();
    if !has_runtime {
        missing.push(
            "runtime metrics and task dumps: no tokio runtime is registered (call \
             leakscope::register_runtime, or init from inside the runtime)"
                .to_owned(),
        );
    }
    let caps = leakscope_proto::v1::Capabilities {
        tasks,
        resources: tasks,
        task_dump: crate::dump::SUPPORTED && has_runtime,
        runtime_metrics: has_runtime,
        console_api: cfg!(all(tokio_unstable, feature = "console")),
        cpu_profile: crate::cpu::SUPPORTED,
        // A walk through code without frame pointers ends early or goes astray: no chain to trust.
        wait_capture: tasks && capture_on && !no_frame_pointers,
        console_subscriber: false,
        frame_pointers: build.frame_pointers as i32,
        line_tables: build.line_tables as i32,
        foreign_subscriber,
    };
    (caps, missing)
}

#[cfg(tokio_unstable)]
mod imp {
    use crate::arena::Key;
    use crate::registry::{self, SpanSlot, TaskRecord, flag, resource_kind, span_kind, state};
    use leakscope_proto::v1::{
        AgentStats, Location, LongPoll, Resource, SpawnerSpan, Task, TaskKind, TaskState, Wait,
        WaitChain,
    };
    use std::sync::atomic::Ordering;

    fn registry() -> Option<&'static registry::Registry> {
        registry::get()
    }

    /// Every live task.
    pub(super) fn live_tasks() -> Vec<Task> {
        let Some(reg) = registry() else { return Vec::new() };
        let mut records = Vec::with_capacity(reg.tasks.live());
        reg.tasks.for_each(|_, slot| Some(slot.record()), |record| records.push(record));
        records.iter().map(|r| task(reg, r)).collect()
    }

    /// Slot keys of the live tasks to send: all when `full`, else those whose slot generation or
    /// version differs from `versions` (by slot index), which is brought up to date.
    pub(super) fn changed_tasks(versions: &mut Vec<u64>, full: bool) -> Vec<u64> {
        let Some(reg) = registry() else { return Vec::new() };
        let mut keys = Vec::new();
        reg.tasks.for_each(
            |key, slot| Some((key, state::version(slot.status.load(Ordering::Acquire)))),
            |(key, version)| {
                let index = key.index as usize;
                if versions.len() <= index {
                    versions.resize(index + 1, 0);
                }
                let seen = (u64::from(key.generation) << 32) | u64::from(version);
                if full || versions[index] != seen {
                    versions[index] = seen;
                    keys.push(key.to_u64());
                }
            },
        );
        keys
    }

    /// The live task under a slot key, or `None` if it ended (or its slot was reused) since.
    pub(super) fn task_by_key(key: u64) -> Option<Task> {
        let reg = registry()?;
        let key = Key::from_u64(key)?;
        let record = reg.tasks.get(key)?.record();
        // Read again: a slot removed while it was copied may have held a torn record.
        reg.tasks.get(key)?;
        Some(task(reg, &record))
    }

    pub(super) fn task(reg: &registry::Registry, r: &TaskRecord) -> Task {
        let state = if r.dropped != 0 {
            TaskState::Done
        } else if r.state & state::RUNNING != 0 {
            TaskState::Running
        } else if r.state & state::NOTIFIED != 0 || r.polls == 0 {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        };
        let kind = match r.kind {
            registry::kind::BLOCKING => TaskKind::Blocking,
            registry::kind::BLOCK_ON => TaskKind::BlockOn,
            registry::kind::LOCAL => TaskKind::Local,
            _ => TaskKind::Async,
        };
        let spawner_span = r.spawner_meta.filter(|_| r.spawner_span != 0).map(|meta| SpawnerSpan {
            span_id: r.spawner_span,
            name: meta.name().to_owned(),
            location_id: match meta.file() {
                Some(file) => {
                    reg.interner.location(reg.interner.file(file), meta.line().unwrap_or(0), 0)
                }
                None => 0,
            },
            closed: !reg.span_open(r.spawner_span),
        });
        Task {
            id: r.task_id,
            name: reg.interner.name_of(r.name_id).map(String::from).unwrap_or_default(),
            kind: kind as i32,
            location_id: r.location_id,
            parent_task_id: r.parent_task_id,
            spawner_span: spawner_span.map(Box::new),
            created_nanos: r.created,
            dropped_nanos: r.dropped,
            polls: r.polls,
            busy_nanos: r.busy,
            last_poll_start_nanos: r.last_poll_start,
            last_poll_end_nanos: r.last_poll_end,
            wakes: r.wakes,
            self_wakes: r.self_wakes,
            last_wake_nanos: r.last_wake,
            waker_count: r.wakers,
            state: state as i32,
            size_bytes: u64::from(r.size_bytes),
            long_polls: u64::from(r.long_polls),
            wait_chain_ids: wait_chain_ids(&r.wait_chains),
        }
    }

    /// A task's wait chains: the non-empty places, each chain once.
    fn wait_chain_ids(places: &[u32]) -> Vec<u32> {
        let mut ids = Vec::new();
        for &id in places {
            if id != 0 && !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    pub(super) fn wait_chain(id: u32) -> Option<WaitChain> {
        let frames = crate::symbols::wait_chain(id)?;
        Some(WaitChain { id, frames: frames.to_vec() })
    }

    pub(super) fn release_symbols() {
        crate::symbols::release();
    }

    pub(super) fn drain_finished(push: &mut dyn FnMut(Task)) {
        let Some(reg) = registry() else { return };
        while let Some(finished) = reg.finished.pop() {
            push(task(reg, &finished.record));
        }
    }

    pub(super) fn drain_long_polls(push: &mut dyn FnMut(LongPoll)) {
        let Some(reg) = registry() else { return };
        while let Some(p) = reg.long_polls.pop() {
            push(LongPoll {
                task_id: p.task_id,
                location_id: p.location_id,
                start_nanos: p.start,
                duration_nanos: p.duration,
                thread_times: p.times.is_some(),
                cpu_nanos: p.times.map_or(0, |t| t.cpu),
                runqueue_nanos: p.times.map_or(0, |t| t.runqueue),
            });
        }
    }

    pub(super) fn finished_evicted() -> u64 {
        registry().map_or(0, |r| r.counters.finished_evicted.load(Ordering::Relaxed))
    }

    pub(super) fn location(id: u32) -> Option<Location> {
        let (file, line, col) = registry()?.interner.resolve(id)?;
        Some(Location { id, file: file.into(), line, col })
    }

    /// A copy of one span slot.
    struct SpanRecord {
        id: u64,
        kind: u8,
        created: u64,
        resource_kind: u8,
        internal: bool,
        location_id: u32,
        flags: u8,
        holder: u64,
        permits: i64,
        readers: u64,
        barrier_size: u64,
        barrier_arrived: u64,
        duration: u64,
    }

    fn span_record(id: u64, s: &SpanSlot) -> SpanRecord {
        SpanRecord {
            id,
            kind: s.kind.load(Ordering::Relaxed),
            created: s.created.load(Ordering::Relaxed),
            resource_kind: s.resource_kind.load(Ordering::Relaxed),
            internal: s.internal.load(Ordering::Relaxed),
            location_id: s.location_id.load(Ordering::Relaxed),
            flags: s.flags.load(Ordering::Relaxed),
            holder: s.holder_task_id.load(Ordering::Relaxed),
            permits: s.permits.load(Ordering::Relaxed),
            readers: s.readers.load(Ordering::Relaxed),
            barrier_size: s.barrier_size.load(Ordering::Relaxed),
            barrier_arrived: s.barrier_arrived.load(Ordering::Relaxed),
            duration: s.duration_nanos.load(Ordering::Relaxed),
        }
    }

    /// One wait to send: an async operation's task, resource, name and start.
    #[derive(Clone, Copy, Debug, Hash)]
    pub(crate) struct Op {
        waiter: u64,
        resource: u64,
        op_name_id: u32,
        since: u64,
    }

    impl Op {
        /// The task waiting.
        pub(crate) fn waiter(&self) -> u64 {
            self.waiter
        }
    }

    /// Resources worth showing and the current waits on them.
    ///
    /// Sent: every resource some task waits on, every held lock, and every lock the app created
    /// (Mutex, RwLock, Barrier: few). Timers and oneshots, of which an app may have 100k, only
    /// when waited on. A task's wait on the semaphore inside a Mutex it is already waiting on is
    /// folded into the Mutex wait.
    pub(super) fn resources_and_waits() -> (Vec<Resource>, Vec<Wait>) {
        let (ops, ids) = plan_resources_and_waits();
        (ids.into_iter().filter_map(resource).collect(), ops.iter().map(wait).collect())
    }

    /// Whether a resource is internal to tokio, and whether it is a oneshot done with (its value
    /// received, or its sender dropped): no task waits on such a one any more.
    type ResourceState = (bool, bool);

    fn resource_state(slot: &registry::SpanSlot) -> ResourceState {
        let done = slot.resource_kind.load(Ordering::Relaxed) == resource_kind::ONESHOT
            && slot.flags.load(Ordering::Relaxed) & (flag::VALUE_RECEIVED | flag::TX_DROPPED) != 0;
        (slot.internal.load(Ordering::Relaxed), done)
    }

    /// What [`resources_and_waits`] sends, as wait tuples (in span order) and resource ids
    /// (sorted): 32 and 8 bytes a record, where the records themselves are built part by part.
    pub(super) fn plan_resources_and_waits() -> (Vec<Op>, Vec<u64>) {
        let Some(reg) = registry() else { return (Vec::new(), Vec::new()) };
        let mut ops = Vec::new();
        // Beside each op, what its resource is when the visit read it already (a oneshot's slot
        // hosts its receiver's op): not a second lookup per op for a million parked receivers.
        let mut known: Vec<Option<ResourceState>> = Vec::new();
        let mut ids = Vec::new();
        reg.spans.for_each(
            |key, slot| {
                let kind = slot.kind.load(Ordering::Relaxed);
                if kind == span_kind::ASYNC_OP {
                    let waiter = slot.waiter_task_id.load(Ordering::Relaxed);
                    let resource = slot.resource_span.load(Ordering::Relaxed);
                    (waiter != 0 && resource != 0).then(|| {
                        let op = Op {
                            waiter,
                            resource,
                            op_name_id: slot.op_name_id.load(Ordering::Relaxed),
                            since: slot.since.load(Ordering::Relaxed),
                        };
                        Some((op, None))
                    })
                } else if kind == span_kind::RESOURCE {
                    let id = registry::span_id(key, span_kind::RESOURCE);
                    // A oneshot's slot hosts its receiver's operation (`Registry::host_op`).
                    let waiter = slot.waiter_task_id.load(Ordering::Relaxed);
                    let hosted =
                        (slot.op_refs.load(Ordering::Relaxed) != 0 && waiter != 0).then(|| Op {
                            waiter,
                            resource: id,
                            op_name_id: slot.op_name_id.load(Ordering::Relaxed),
                            since: slot.since.load(Ordering::Relaxed),
                        });
                    let flags = slot.flags.load(Ordering::Relaxed);
                    let internal = slot.internal.load(Ordering::Relaxed);
                    let shown = matches!(
                        slot.resource_kind.load(Ordering::Relaxed),
                        resource_kind::MUTEX | resource_kind::RW_LOCK | resource_kind::BARRIER
                    );
                    if flags & flag::LOCKED != 0 || (!internal && shown) {
                        ids.push(id);
                    }
                    hosted.map(|op| Some((op, Some(resource_state(slot)))))
                } else {
                    None
                }
            },
            |visited: Option<(Op, Option<ResourceState>)>| {
                if let Some((op, state)) = visited {
                    ops.push(op);
                    known.push(state);
                }
            },
        );
        // What each op's resource is: live, internal, a finished oneshot.
        let state = |op: &Op, known: Option<ResourceState>| {
            known.or_else(|| {
                let (_, slot) = reg.span(op.resource)?;
                (slot.kind.load(Ordering::Relaxed) == span_kind::RESOURCE)
                    .then(|| resource_state(slot))
            })
        };
        let mut internal = Vec::with_capacity(ops.len());
        let mut known = known.into_iter();
        ops.retain(|op| match state(op, known.next().flatten()) {
            Some((is_internal, false)) => {
                internal.push(is_internal);
                true
            }
            _ => false,
        });
        // A task with a wait on a public resource: its waits on internal ones are folded in.
        let mut outer: Vec<u64> =
            ops.iter().zip(&internal).filter(|(_, i)| !**i).map(|(op, _)| op.waiter).collect();
        outer.sort_unstable();
        outer.dedup();
        let mut keep = internal.iter();
        ops.retain(|op| {
            let is_internal = keep.next().copied().unwrap_or(false);
            !(is_internal && outer.binary_search(&op.waiter).is_ok())
        });
        drop(outer);
        ids.extend(ops.iter().map(|op| op.resource));
        ids.sort_unstable();
        ids.dedup();
        (ops, ids)
    }

    /// Each resource of `ids` (sorted) with a hash of what its record would carry, read from the
    /// live slots: an equal hash means the client already holds the record.
    pub(super) fn resource_hashes(ids: &[u64]) -> Vec<(u64, u64)> {
        use std::hash::{Hash, Hasher};
        let Some(reg) = registry() else { return Vec::new() };
        ids.iter()
            .map(|&id| {
                let mut hasher = super::change_hasher();
                if let Some((_, slot)) = reg.span(id) {
                    let r = span_record(id, slot);
                    (r.kind, r.created, r.resource_kind, r.internal, r.location_id, r.flags)
                        .hash(&mut hasher);
                    (r.holder, r.permits, r.readers, r.barrier_size, r.barrier_arrived, r.duration)
                        .hash(&mut hasher);
                    slot.created_chain.load(Ordering::Relaxed).hash(&mut hasher);
                }
                (id, hasher.finish())
            })
            .collect()
    }

    /// The wire form of one wait. No operation name on a oneshot or a timer: the resource's
    /// kind says what the task waits for, and an app may have a million such waits, each name an
    /// allocation in every client.
    pub(super) fn wait(op: &Op) -> Wait {
        let reg = registry();
        let implied = reg.and_then(|reg| reg.span(op.resource)).is_some_and(|(_, slot)| {
            matches!(
                slot.resource_kind.load(Ordering::Relaxed),
                resource_kind::ONESHOT | resource_kind::TIMER
            )
        });
        let name = reg.filter(|_| !implied).and_then(|reg| reg.interner.name_of(op.op_name_id));
        Wait {
            task_id: op.waiter,
            resource_id: op.resource,
            op: name.map(String::from).unwrap_or_default(),
            since_nanos: op.since,
        }
    }

    /// The wire form of one resource, if it is still alive.
    pub(super) fn resource(id: u64) -> Option<Resource> {
        let reg = registry()?;
        let (_, slot) = reg.span(id)?;
        let mut r = span_record(id, slot);
        // Made in tokio's own source (a `Default` impl): the app's line that called it instead.
        let created_chain = slot.created_chain.load(Ordering::Relaxed);
        if created_chain != 0
            && let Some(location_id) = crate::symbols::creation_site(created_chain)
        {
            r.location_id = location_id;
        }
        (r.kind == span_kind::RESOURCE).then(|| Resource {
            id: r.id,
            kind: i32::from(r.resource_kind),
            // Not for oneshots and timers, which an app may have a million of: their `kind`
            // says it all, and each name would be an allocation in every client.
            concrete_type: match r.resource_kind {
                resource_kind::MUTEX => "Mutex",
                resource_kind::RW_LOCK => "RwLock",
                resource_kind::SEMAPHORE => "Semaphore",
                resource_kind::BARRIER => "Barrier",
                resource_kind::ONESHOT | resource_kind::TIMER => "",
                _ => "other",
            }
            .into(),
            location_id: r.location_id,
            internal: r.internal,
            created_nanos: r.created,
            locked: r.flags & flag::LOCKED != 0,
            holder_task_id: r.holder,
            permits: r.permits,
            readers: r.readers,
            barrier_size: r.barrier_size,
            barrier_arrived: r.barrier_arrived,
            value_sent: r.flags & flag::VALUE_SENT != 0,
            value_received: r.flags & flag::VALUE_RECEIVED != 0,
            tx_dropped: r.flags & flag::TX_DROPPED != 0,
            rx_dropped: r.flags & flag::RX_DROPPED != 0,
            timer_duration_nanos: r.duration,
        })
    }

    pub(super) fn stats() -> AgentStats {
        let Some(reg) = registry() else { return AgentStats::default() };
        let c = &reg.counters;
        let (wait_chains, wait_chains_dropped_total) = reg.interner.chain_stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        AgentStats {
            tasks_live: reg.tasks.live() as u64,
            tasks_spawned_total: reg.spawned_total(),
            tasks_finished_total: load(&c.finished),
            finished_retained: 0,
            finished_evicted_total: load(&c.finished_evicted),
            spans_dropped_total: load(&c.spans_dropped),
            long_polls_evicted_total: load(&c.long_polls_evicted),
            watch_lagged_total: load(&c.watch_lagged),
            spans_live: reg.spans.live() as u64,
            resources_live: 0,
            memory_bytes: (reg.tasks.memory_bytes()
                + reg.spans.memory_bytes()
                + reg.finished.capacity() * std::mem::size_of::<registry::Finished>()
                + reg.long_polls.capacity() * std::mem::size_of::<registry::LongPollRecord>()
                + reg.interner.location_count() * 64) as u64,
            long_polls_total: load(&c.long_polls),
            wait_chains,
            wait_chains_dropped_total,
            // Filled in by `Collector::stats`.
            watch_streams: 0,
            watch_bytes: 0,
        }
    }

    pub(super) fn lagged() {
        if let Some(reg) = registry() {
            reg.counters.watch_lagged.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Without `--cfg tokio_unstable` tokio emits nothing per task: the agent serves runtime metrics
/// and empty task lists.
#[cfg(not(tokio_unstable))]
mod imp {
    use leakscope_proto::v1::{AgentStats, Location, LongPoll, Resource, Task, Wait, WaitChain};

    /// Never built: nothing to wait on without task instrumentation.
    #[derive(Clone, Copy, Debug, Hash)]
    pub(crate) struct Op;

    impl Op {
        pub(crate) fn waiter(&self) -> u64 {
            0
        }
    }

    pub(super) fn live_tasks() -> Vec<Task> {
        Vec::new()
    }
    pub(super) fn changed_tasks(_: &mut Vec<u64>, _: bool) -> Vec<u64> {
        Vec::new()
    }
    pub(super) fn task_by_key(_: u64) -> Option<Task> {
        None
    }
    pub(super) fn plan_resources_and_waits() -> (Vec<Op>, Vec<u64>) {
        (Vec::new(), Vec::new())
    }
    pub(super) fn resource_hashes(_: &[u64]) -> Vec<(u64, u64)> {
        Vec::new()
    }
    pub(super) fn wait(_: &Op) -> Wait {
        Wait::default()
    }
    pub(super) fn resource(_: u64) -> Option<Resource> {
        None
    }
    pub(super) fn drain_finished(_: &mut dyn FnMut(Task)) {}
    pub(super) fn drain_long_polls(_: &mut dyn FnMut(LongPoll)) {}
    pub(super) fn finished_evicted() -> u64 {
        0
    }
    pub(super) fn location(_: u32) -> Option<Location> {
        None
    }
    pub(super) fn wait_chain(_: u32) -> Option<WaitChain> {
        None
    }
    pub(super) fn release_symbols() {}
    pub(super) fn resources_and_waits() -> (Vec<Resource>, Vec<Wait>) {
        (Vec::new(), Vec::new())
    }
    pub(super) fn stats() -> AgentStats {
        AgentStats::default()
    }
    pub(super) fn lagged() {}
}

/// Each waiting task's id with a hash of its waits, sorted by task: `ops` holds each task's waits
/// together.
fn wait_hashes(ops: &[imp::Op]) -> Vec<(u64, u64)> {
    use std::hash::{Hash, Hasher};
    let mut hashes: Vec<(u64, u64)> = Vec::new();
    for same in ops.chunk_by(|a, b| a.waiter() == b.waiter()) {
        let mut hasher = change_hasher();
        same.hash(&mut hasher);
        hashes.push((same[0].waiter(), hasher.finish()));
    }
    hashes
}

/// The hasher of the records a delta compares ([`wait_hashes`], `resource_hashes`): foldhash
/// with a fixed seed, so that equal records hash equal in every update of a stream. SipHash, std's
/// default, resists chosen collisions, which nothing here needs, and hashing a million waits and
/// their resources with it was a third of an update's cost at 1M parked tasks.
fn change_hasher() -> impl std::hash::Hasher {
    use std::hash::BuildHasher as _;
    foldhash::fast::FixedState::with_seed(0).build_hasher()
}

/// What a delta sends against what was sent (both sorted by key, with a hash of each entry): the
/// keys that are new or whose hash moved, and the keys that are gone.
fn diff(before: &[(u64, u64)], now: &[(u64, u64)]) -> (Vec<u64>, Vec<u64>) {
    let (mut changed, mut gone) = (Vec::new(), Vec::new());
    let mut old = before.iter().peekable();
    for &(key, hash) in now {
        while let Some(&&(gone_key, _)) = old.peek().filter(|(k, _)| *k < key) {
            gone.push(gone_key);
            old.next();
        }
        match old.next_if(|(k, _)| *k == key) {
            Some(&(_, seen)) if seen == hash => {}
            _ => changed.push(key),
        }
    }
    gone.extend(old.map(|&(key, _)| key));
    (changed, gone)
}

/// Counts a `Watch` update a slow client missed.
pub(crate) fn note_lagged() {
    imp::lagged();
}

/// Live tasks, resources, waits and their locations, read without draining the queues a served
/// client depends on: for the in-process leak check (`crate::testing`), which may run beside a
/// serving agent.
#[cfg_attr(
    not(feature = "testing"),
    expect(dead_code, reason = "only the `testing` check reads it")
)]
pub(crate) fn live_snapshot() -> Snapshot {
    let tasks = imp::live_tasks();
    Collector::new(Config::default()).finish(clock::now(), tasks)
}
