//! Turning the registry into wire messages, on the agent thread: snapshots, `Watch` deltas, and
//! the bounded retention of finished tasks and long polls.

use crate::builder::Config;
use crate::clock;
use leakscope_proto::v1::{AgentStats, LocationPollStats, LongPoll, Snapshot, Task, Update};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// Long-poll records kept for clients, most recent first.
const LONG_POLLS_KEPT: usize = 1024;

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
    /// Task slot key -> version last sent.
    versions: HashMap<u64, u32>,
    /// Finished tasks numbered below this were sent.
    finished_sent: u64,
    started: bool,
    /// `finished_evicted_total` when the last update was built: if it moved, finished tasks may
    /// have been lost between updates and the next update must be full.
    evicted_seen: u64,
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

    /// A full snapshot.
    pub(crate) fn snapshot(&mut self, include_finished: bool) -> Snapshot {
        self.drain();
        let mut tasks = imp::live_tasks(None);
        if include_finished {
            tasks.extend(self.finished.iter().map(|(_, t)| t.clone()));
        }
        // Read the clock after the records, so that no record is newer than the snapshot.
        self.finish(clock::now(), tasks)
    }

    /// The next `Watch` message for a stream in `state`.
    pub(crate) fn update(&mut self, state: &mut WatchState, force_full: bool) -> Update {
        self.drain();
        let evicted = imp::finished_evicted();
        let full = force_full || !state.started || evicted != state.evicted_seen;
        state.started = true;
        state.evicted_seen = evicted;
        let mut seen = HashMap::with_capacity(state.versions.len());
        let previous = std::mem::take(&mut state.versions);
        let mut tasks = imp::live_tasks(Some(&mut |key, version| {
            seen.insert(key, version);
            full || previous.get(&key) != Some(&version)
        }));
        state.versions = seen;
        let since = if full { 0 } else { state.finished_sent };
        tasks.extend(self.finished.iter().filter(|(n, _)| *n >= since).map(|(_, t)| t.clone()));
        state.finished_sent = self.next_finished;
        Update { full, snapshot: Some(self.finish(clock::now(), tasks)) }
    }

    /// Adds everything but tasks, and the location table the message refers to.
    fn finish(&self, now: u64, tasks: Vec<Task>) -> Snapshot {
        let (resources, waits) = imp::resources_and_waits();
        let long_polls: Vec<LongPoll> = self.long_polls.iter().cloned().collect();
        let mut poll_stats: Vec<LocationPollStats> = self.poll_stats.values().cloned().collect();
        poll_stats.sort_by_key(|s| s.location_id);
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
        let stats = self.stats(resources.len());
        Snapshot {
            now_nanos: now,
            locations,
            tasks,
            resources,
            waits,
            long_polls,
            poll_stats,
            runtimes: crate::runtime::metrics(),
            stats: Some(stats),
            wait_chains,
        }
    }

    fn stats(&self, resources_live: usize) -> AgentStats {
        let mut stats = imp::stats();
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

/// Capabilities and missing pieces of this build, for `Hello`.
pub(crate) fn capabilities() -> (leakscope_proto::v1::Capabilities, Vec<String>) {
    let tasks = cfg!(tokio_unstable);
    let mut missing = Vec::new();
    if !tasks {
        missing.push(
            "per-task records, resources and lock waits: the app was built without \
             --cfg tokio_unstable, so tokio emits no task instrumentation"
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
        wait_capture: capture_on,
        console_subscriber: false,
    };
    (caps, missing)
}

#[cfg(tokio_unstable)]
mod imp {
    use crate::registry::{self, SpanSlot, TaskRecord, flag, span_kind, state};
    use leakscope_proto::v1::{
        AgentStats, Location, LongPoll, Resource, SpawnerSpan, Task, TaskKind, TaskState, Wait,
        WaitChain,
    };
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::Ordering;

    fn registry() -> Option<&'static registry::Registry> {
        registry::get()
    }

    /// Live tasks; with `changed`, only those it accepts given (slot key, version).
    pub(super) fn live_tasks(mut changed: Option<&mut dyn FnMut(u64, u32) -> bool>) -> Vec<Task> {
        let Some(reg) = registry() else { return Vec::new() };
        let mut records = Vec::with_capacity(reg.tasks.live());
        reg.tasks.for_each(
            |key, slot| {
                let key = key.to_u64();
                let version = slot.version.load(Ordering::Acquire);
                if let Some(changed) = changed.as_mut()
                    && !changed(key, version)
                {
                    return None;
                }
                Some(slot.record())
            },
            |record| records.push(record),
        );
        records.iter().map(|r| task(reg, r)).collect()
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
            spawner_span,
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
        op_name_id: u32,
        resource_span: u64,
        waiter: u64,
        since: u64,
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
            op_name_id: s.op_name_id.load(Ordering::Relaxed),
            resource_span: s.resource_span.load(Ordering::Relaxed),
            waiter: s.waiter_task_id.load(Ordering::Relaxed),
            since: s.since.load(Ordering::Relaxed),
        }
    }

    /// Resources worth showing and the current waits on them.
    ///
    /// Sent: every resource some task waits on, every held lock, and every lock the app created
    /// (Mutex, RwLock, Barrier: few). Timers and oneshots, of which an app may have 100k, only
    /// when waited on. A task's wait on the semaphore inside a Mutex it is already waiting on is
    /// folded into the Mutex wait.
    pub(super) fn resources_and_waits() -> (Vec<Resource>, Vec<Wait>) {
        let Some(reg) = registry() else { return (Vec::new(), Vec::new()) };
        let mut resources: HashMap<u64, SpanRecord> = HashMap::new();
        let mut ops = Vec::new();
        reg.spans.for_each(
            |key, slot| {
                let kind = slot.kind.load(Ordering::Relaxed);
                (kind == span_kind::RESOURCE || kind == span_kind::ASYNC_OP)
                    .then(|| span_record(key.to_u64() | registry::SPAN_BIT, slot))
            },
            |record| {
                if record.kind == span_kind::RESOURCE {
                    resources.insert(record.id, record);
                } else if record.waiter != 0 && record.resource_span != 0 {
                    ops.push(record);
                }
            },
        );
        let done = |r: &SpanRecord| {
            r.resource_kind == 5 && r.flags & (flag::VALUE_RECEIVED | flag::TX_DROPPED) != 0
        };
        ops.retain(|op| resources.get(&op.resource_span).is_some_and(|r| !done(r)));
        let outer: HashSet<u64> = ops
            .iter()
            .filter(|op| resources.get(&op.resource_span).is_some_and(|r| !r.internal))
            .map(|op| op.waiter)
            .collect();
        ops.retain(|op| {
            let internal = resources.get(&op.resource_span).is_some_and(|r| r.internal);
            !(internal && outer.contains(&op.waiter))
        });
        let waited: HashSet<u64> = ops.iter().map(|op| op.resource_span).collect();
        let waits = ops
            .iter()
            .map(|op| Wait {
                task_id: op.waiter,
                resource_id: op.resource_span,
                op: reg.interner.name_of(op.op_name_id).map(String::from).unwrap_or_default(),
                since_nanos: op.since,
            })
            .collect();
        let mut out: Vec<Resource> = resources
            .into_values()
            .filter(|r| {
                waited.contains(&r.id)
                    || r.flags & flag::LOCKED != 0
                    || (!r.internal && matches!(r.resource_kind, 1 | 2 | 4))
            })
            .map(|r| Resource {
                id: r.id,
                kind: i32::from(r.resource_kind),
                concrete_type: match r.resource_kind {
                    1 => "Mutex",
                    2 => "RwLock",
                    3 => "Semaphore",
                    4 => "Barrier",
                    5 => "Sender|Receiver",
                    6 => "Sleep",
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
            .collect();
        out.sort_by_key(|r| r.id);
        (out, waits)
    }

    pub(super) fn stats() -> AgentStats {
        let Some(reg) = registry() else { return AgentStats::default() };
        let c = &reg.counters;
        let (wait_chains, wait_chains_dropped_total) = reg.interner.chain_stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        AgentStats {
            tasks_live: reg.tasks.live() as u64,
            tasks_spawned_total: load(&c.spawned),
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

    pub(super) fn live_tasks(_: Option<&mut dyn FnMut(u64, u32) -> bool>) -> Vec<Task> {
        Vec::new()
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

/// Counts a `Watch` update a slow client missed.
pub(crate) fn note_lagged() {
    imp::lagged();
}

/// Live tasks, resources, waits and their locations, read without draining the queues a served
/// client depends on: for the in-process leak check (`crate::testing`), which may run beside a
/// serving agent.
pub(crate) fn live_snapshot() -> Snapshot {
    let tasks = imp::live_tasks(None);
    Collector::new(Config::default()).finish(clock::now(), tasks)
}
