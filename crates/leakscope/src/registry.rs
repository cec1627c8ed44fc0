//! The agent's live records: one slot per task, one per other span (resources, async operations,
//! the app's own spans), plus the bounded hand-off queues the agent thread drains.
//!
//! Everything here runs on the app's threads inside tokio's spawn, poll and wake paths, so it
//! never blocks, never allocates per poll, and drops (and counts) rather than grows without bound.

use crate::arena::{Arena, Key, Zeroable};
use crate::clock;
use crate::intern::Interner;
use crossbeam_queue::ArrayQueue;
use std::sync::OnceLock;
use std::sync::atomic::{
    AtomicBool, AtomicI64, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering,
};
use tracing_core::Metadata;

/// Top bit of a span id: set for non-task spans, whose slots live in [`Registry::spans`].
pub(crate) const SPAN_BIT: u64 = 1 << 63;
/// Id handed out for spans the agent does not track (its own, or when an arena is full).
pub(crate) const UNTRACKED: u64 = 1 << 62;
/// Where a non-task span id carries its [`span_kind`] (bits 60 and 61), so that entering a
/// resource or an app span (half a dozen times per oneshot made and awaited) needs no slot
/// lookup to know what it is.
const KIND_SHIFT: u32 = 60;

/// The id of the non-task span in slot `key`, of kind `kind` (a [`span_kind`] below 4).
pub(crate) fn span_id(key: Key, kind: u8) -> u64 {
    key.to_u64() | SPAN_BIT | (u64::from(kind & 3) << KIND_SHIFT)
}

/// The [`span_kind`] a span id says (see [`span_id`]); 0 for a task's id.
#[inline]
pub(crate) fn kind_of(id: u64) -> u8 {
    if id & SPAN_BIT == 0 { 0 } else { ((id >> KIND_SHIFT) & 3) as u8 }
}

/// Resource kinds, as stored in [`SpanSlot::resource_kind`]; the wire enum's values.
pub(crate) mod resource_kind {
    pub(crate) const MUTEX: u8 = 1;
    pub(crate) const RW_LOCK: u8 = 2;
    pub(crate) const SEMAPHORE: u8 = 3;
    pub(crate) const BARRIER: u8 = 4;
    pub(crate) const ONESHOT: u8 = 5;
    pub(crate) const TIMER: u8 = 6;
    pub(crate) const OTHER: u8 = 7;
}

/// Task kinds, as stored in [`TaskSlot::kind`]; the wire enum's values.
pub(crate) mod kind {
    pub(crate) const ASYNC: u8 = 1;
    pub(crate) const BLOCKING: u8 = 2;
    pub(crate) const BLOCK_ON: u8 = 3;
    pub(crate) const LOCAL: u8 = 4;
}

/// Bits of [`TaskSlot::state`].
/// A task slot's `status` word: the flags in its low byte, the version above them, so that a poll's
/// exit or a wake publishes both with one atomic read-modify-write.
pub(crate) mod state {
    /// Inside a poll.
    pub(crate) const RUNNING: u8 = 1;
    /// Woken since its last poll started.
    pub(crate) const NOTIFIED: u8 = 2;
    /// Polled by a task dump's trace since its last real poll. tokio then wakes the task (so that
    /// it re-registers its wakers) and polls it again: that wake and that poll are the dump's
    /// doing, not the app's, and are left out of the task's stats.
    pub(crate) const TRACED: u8 = 4;
    /// The flag bits of a `status` word.
    pub(crate) const FLAGS: u64 = 0xff;
    /// One version step in a `status` word.
    pub(crate) const VERSION_ONE: u64 = 1 << 8;

    /// The flags of a `status` word.
    #[inline]
    pub(crate) fn flags(status: u64) -> u8 {
        (status & FLAGS) as u8
    }

    /// The version of a `status` word, as a client compares it (the low 32 bits of the count).
    #[inline]
    pub(crate) fn version(status: u64) -> u32 {
        (status >> 8) as u32
    }
}

/// What a non-task span stands for.
pub(crate) mod span_kind {
    pub(crate) const USER: u8 = 1;
    pub(crate) const RESOURCE: u8 = 2;
    pub(crate) const ASYNC_OP: u8 = 3;
    /// A task span entered by a task dump's trace poll, not by the scheduler.
    pub(crate) const TRACE_POLL: u8 = 4;
}

/// How many task dumps are running. tokio's dump polls every task once to trace it; those polls
/// are not the app's, and recording them would reset every task's idle time (a stuck task would
/// look freshly polled). While a dump runs, task polls are left out of the stats: the app's own
/// polls on other runtimes in those milliseconds go uncounted too, which is the smaller error.
/// The high bit, [`DUMPS_TAKEN`], stays set once any dump has run: until then no task can carry
/// the TRACED flag, and a poll needs only this one load to know it.
pub(crate) static DUMPS_RUNNING: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// The bit of [`DUMPS_RUNNING`] that says a dump has run since the process started.
pub(crate) const DUMPS_TAKEN: usize = 1 << (usize::BITS - 1);

/// Holds [`DUMPS_RUNNING`] up for as long as it lives.
#[cfg_attr(not(tokio_unstable), allow(dead_code, reason = "dumps need tokio_unstable"))]
pub(crate) struct DumpRunning(());

#[cfg_attr(not(tokio_unstable), allow(dead_code, reason = "dumps need tokio_unstable"))]
impl DumpRunning {
    pub(crate) fn start() -> Self {
        DUMPS_RUNNING.fetch_or(DUMPS_TAKEN, Ordering::AcqRel);
        DUMPS_RUNNING.fetch_add(1, Ordering::AcqRel);
        Self(())
    }
}

impl Drop for DumpRunning {
    fn drop(&mut self) {
        DUMPS_RUNNING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Per-task record: 160 bytes, in a 192-byte slot; see docs/benchmarks.md for what a live task
/// costs in all.
///
/// Laid out in order (`repr(C)`) so that a poll touches one cache line: the slot's generation
/// ([`crate::arena`] puts it first) and the fields every poll's enter, exit and waker events
/// read and write fill the first line; a wait capture adds the second; the third holds what
/// only the spawn writes. A task is usually spawned on one worker and polled on another, so
/// each line a poll touches is a line taken from the other core's cache.
#[derive(Default)]
#[repr(C)]
pub(crate) struct TaskSlot {
    // First line (after the arena's 8-byte header): every poll.
    /// The [`state`] flags (low byte) and, above them, a version bumped on every change a client
    /// may want to see (`Watch` sends a task when it moved). One word: a poll's exit sets both
    /// with one read-modify-write.
    pub(crate) status: AtomicU64,
    pub(crate) task_id: AtomicU64,
    pub(crate) polls: AtomicU64,
    pub(crate) last_poll_start: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) last_poll_end: AtomicU64,
    /// Live wakers, packed with the slot generation they belong to (high 32 bits) so that a
    /// waker event for a finished task can never touch the task that reused its slot.
    pub(crate) wakers: AtomicU64,
    // Second line: wakes, wait captures, and what clients are shown of the task.
    /// Wakes from inside the task's own poll, counted by the polling thread.
    pub(crate) self_wakes: AtomicU64,
    /// Wakes from outside the task's own poll; [`TaskRecord::wakes`] adds the self-wakes.
    pub(crate) wakes: AtomicU64,
    pub(crate) last_wake: AtomicU64,
    /// Interned wait chains (`crate::capture`) of the latest poll that registered a waker, one per
    /// leaf; 0 marks an empty place.
    pub(crate) wait_chains: [AtomicU32; WAIT_CHAINS],
    pub(crate) refs: AtomicU32,
    pub(crate) location_id: AtomicU32,
    pub(crate) name_id: AtomicU32,
    pub(crate) size_bytes: AtomicU32,
    pub(crate) long_polls: AtomicU32,
    pub(crate) kind: AtomicU8,
    // Third line: written by the spawn only.
    pub(crate) parent_task_id: AtomicU64,
    /// Span id (with [`SPAN_BIT`]) of the app span current at spawn; 0 for none.
    pub(crate) spawner_span: AtomicU64,
    pub(crate) spawner_meta: AtomicPtr<Metadata<'static>>,
    pub(crate) created: AtomicU64,
}

// SAFETY: every field is an atomic integer or pointer, or an array of them, all zero (null) by
// default.
unsafe impl Zeroable for TaskSlot {}

/// Wait chains kept per task: the leaves of a `select!` of up to this many branches.
pub(crate) const WAIT_CHAINS: usize = 4;

/// Per-span record for resources, async operations and the app's own spans. Fields are used
/// according to `kind`. Laid out in order (`repr(C)`): what an async operation's enter and a
/// resource's flag updates touch shares the first cache line with the arena's header.
#[derive(Default)]
#[repr(C)]
pub(crate) struct SpanSlot {
    pub(crate) refs: AtomicU32,
    pub(crate) kind: AtomicU8,
    /// Bits: locked, value_sent, value_received, tx_dropped, rx_dropped (see [`flag`]).
    pub(crate) flags: AtomicU8,
    pub(crate) resource_kind: AtomicU8,
    pub(crate) internal: AtomicBool,
    // Async operations.
    pub(crate) waiter_task_id: AtomicU64,
    pub(crate) since: AtomicU64,
    /// Span id of the resource this operation is on.
    pub(crate) resource_span: AtomicU64,
    // Resources.
    pub(crate) holder_task_id: AtomicU64,
    pub(crate) meta: AtomicPtr<Metadata<'static>>,
    pub(crate) created: AtomicU64,
    pub(crate) op_name_id: AtomicU32,
    pub(crate) location_id: AtomicU32,
    /// For a resource that tokio says it created in its own source (a `Default` impl, which
    /// carries no `#[track_caller]`): the interned stack of its creation, whose first app frame is
    /// the creation site clients are shown; 0 otherwise.
    pub(crate) created_chain: AtomicU32,
    /// Handles open on the async operation a oneshot's slot hosts (see
    /// [`Registry::host_op`]); 0 for none. The slot is freed once these and `refs` are both 0.
    pub(crate) op_refs: AtomicU32,
    pub(crate) permits: AtomicI64,
    pub(crate) readers: AtomicU64,
    pub(crate) barrier_size: AtomicU64,
    pub(crate) barrier_arrived: AtomicU64,
    pub(crate) duration_nanos: AtomicU64,
    /// The hosted operation's metadata.
    pub(crate) op_meta: AtomicPtr<Metadata<'static>>,
}

// SAFETY: every field is an atomic integer, boolean or pointer, all zero (false, null) by
// default.
unsafe impl Zeroable for SpanSlot {}

/// Bits of [`SpanSlot::flags`].
pub(crate) mod flag {
    pub(crate) const LOCKED: u8 = 1;
    pub(crate) const VALUE_SENT: u8 = 2;
    pub(crate) const VALUE_RECEIVED: u8 = 4;
    pub(crate) const TX_DROPPED: u8 = 8;
    pub(crate) const RX_DROPPED: u8 = 16;
}

/// A finished task, copied out of its slot for the agent thread.
#[derive(Debug, Clone)]
pub(crate) struct Finished {
    pub(crate) record: TaskRecord,
}

/// A plain copy of a task slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaskRecord {
    pub(crate) task_id: u64,
    pub(crate) location_id: u32,
    pub(crate) name_id: u32,
    pub(crate) kind: u8,
    pub(crate) state: u8,
    pub(crate) parent_task_id: u64,
    pub(crate) spawner_span: u64,
    pub(crate) spawner_meta: Option<&'static Metadata<'static>>,
    pub(crate) created: u64,
    pub(crate) dropped: u64,
    pub(crate) polls: u64,
    pub(crate) busy: u64,
    pub(crate) last_poll_start: u64,
    pub(crate) last_poll_end: u64,
    pub(crate) wakes: u64,
    pub(crate) self_wakes: u64,
    pub(crate) last_wake: u64,
    pub(crate) wakers: i64,
    pub(crate) size_bytes: u32,
    pub(crate) long_polls: u32,
    pub(crate) wait_chains: [u32; WAIT_CHAINS],
}

/// One poll over the threshold.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LongPollRecord {
    pub(crate) task_id: u64,
    pub(crate) location_id: u32,
    pub(crate) start: u64,
    pub(crate) duration: u64,
    /// How the worker thread spent it, when its counters could be read.
    pub(crate) times: Option<crate::thread_times::PollTimes>,
}

/// A value alone on its cache line (two lines: adjacent-line prefetch pairs them), so that
/// threads writing different counters do not take the line from each other.
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct OwnLine<T>(T);

impl<T> std::ops::Deref for OwnLine<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Counters the agent serves as `AgentStats`.
///
/// A task is usually spawned on one worker and finished on another; the counter bumped on
/// every finished task sits on a line of its own. Spawns are not counted at all: every task
/// recorded is either live or finished ([`Registry::spawned_total`]), so the spawn path does
/// without a read-modify-write. The others move rarely.
#[derive(Default)]
pub(crate) struct Counters {
    /// The highest [`Registry::spawned_total`] reported, so that the total never goes back.
    pub(crate) spawned_reported: AtomicU64,
    pub(crate) finished: OwnLine<AtomicU64>,
    pub(crate) finished_evicted: AtomicU64,
    pub(crate) spans_dropped: AtomicU64,
    pub(crate) long_polls: AtomicU64,
    pub(crate) long_polls_evicted: AtomicU64,
    pub(crate) watch_lagged: AtomicU64,
}

pub(crate) struct Registry {
    pub(crate) tasks: Arena<TaskSlot>,
    pub(crate) spans: Arena<SpanSlot>,
    pub(crate) interner: Interner,
    pub(crate) finished: ArrayQueue<Finished>,
    pub(crate) long_polls: ArrayQueue<LongPollRecord>,
    pub(crate) counters: Counters,
    pub(crate) long_poll_threshold: u64,
}

static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The registry, created once with the first configuration that asks for it.
pub(crate) fn install(long_poll_threshold: u64, retain_finished: usize) -> &'static Registry {
    REGISTRY.get_or_init(|| Registry {
        tasks: Arena::new(),
        spans: Arena::new(),
        interner: Interner::new(),
        finished: ArrayQueue::new(retain_finished.max(16)),
        long_polls: ArrayQueue::new(1024),
        counters: Counters::default(),
        long_poll_threshold,
    })
}

pub(crate) fn get() -> Option<&'static Registry> {
    REGISTRY.get()
}

impl TaskSlot {
    pub(crate) fn record(&self) -> TaskRecord {
        let wakers = self.wakers.load(Ordering::Acquire);
        let self_wakes = self.self_wakes.load(Ordering::Relaxed);
        TaskRecord {
            task_id: self.task_id.load(Ordering::Relaxed),
            location_id: self.location_id.load(Ordering::Relaxed),
            name_id: self.name_id.load(Ordering::Relaxed),
            kind: self.kind.load(Ordering::Relaxed),
            state: state::flags(self.status.load(Ordering::Relaxed)),
            parent_task_id: self.parent_task_id.load(Ordering::Relaxed),
            spawner_span: self.spawner_span.load(Ordering::Relaxed),
            // SAFETY: only ever stored from a `&'static Metadata<'static>` (or null).
            spawner_meta: unsafe { self.spawner_meta.load(Ordering::Relaxed).as_ref() },
            created: self.created.load(Ordering::Relaxed),
            dropped: 0,
            polls: self.polls.load(Ordering::Relaxed),
            busy: self.busy.load(Ordering::Relaxed),
            last_poll_start: self.last_poll_start.load(Ordering::Relaxed),
            last_poll_end: self.last_poll_end.load(Ordering::Relaxed),
            wakes: self.wakes.load(Ordering::Relaxed) + self_wakes,
            self_wakes,
            last_wake: self.last_wake.load(Ordering::Relaxed),
            wakers: i64::from(wakers as u32 as i32),
            size_bytes: self.size_bytes.load(Ordering::Relaxed),
            long_polls: self.long_polls.load(Ordering::Relaxed),
            wait_chains: std::array::from_fn(|i| self.wait_chains[i].load(Ordering::Relaxed)),
        }
    }
}

/// What the subscriber learned from a task span's fields.
#[derive(Default)]
pub(crate) struct NewTask {
    pub(crate) task_id: u64,
    pub(crate) kind: u8,
    pub(crate) name_id: u32,
    pub(crate) location_id: u32,
    pub(crate) size_bytes: u64,
    pub(crate) parent_task_id: u64,
    pub(crate) spawner_span: u64,
    pub(crate) spawner_meta: Option<&'static Metadata<'static>>,
}

impl Registry {
    pub(crate) fn new_task(&self, task: &NewTask) -> u64 {
        let (location_id, name_id) = (task.location_id, task.name_id);
        let now = clock::now();
        let inserted = self.tasks.insert(|slot, key| {
            slot.refs.store(1, Ordering::Relaxed);
            slot.task_id.store(task.task_id, Ordering::Relaxed);
            slot.location_id.store(location_id, Ordering::Relaxed);
            slot.name_id.store(name_id, Ordering::Relaxed);
            slot.kind.store(task.kind, Ordering::Relaxed);
            slot.status.store(0, Ordering::Relaxed);
            slot.parent_task_id.store(task.parent_task_id, Ordering::Relaxed);
            slot.spawner_span.store(task.spawner_span, Ordering::Relaxed);
            let meta = task
                .spawner_meta
                .map_or(std::ptr::null_mut(), |m| std::ptr::from_ref(m).cast_mut());
            slot.spawner_meta.store(meta, Ordering::Relaxed);
            slot.created.store(now, Ordering::Relaxed);
            for field in [
                &slot.polls,
                &slot.busy,
                &slot.last_poll_start,
                &slot.last_poll_end,
                &slot.wakes,
                &slot.self_wakes,
                &slot.last_wake,
            ] {
                field.store(0, Ordering::Relaxed);
            }
            slot.size_bytes
                .store(task.size_bytes.min(u64::from(u32::MAX)) as u32, Ordering::Relaxed);
            slot.long_polls.store(0, Ordering::Relaxed);
            for chain in &slot.wait_chains {
                chain.store(0, Ordering::Relaxed);
            }
            // The waker word carries the generation the slot is about to have; the insert
            // publishes it with the rest.
            slot.wakers.store(u64::from(key.generation) << 32, Ordering::Relaxed);
        });
        let Some(key) = inserted else {
            self.counters.spans_dropped.fetch_add(1, Ordering::Relaxed);
            return UNTRACKED;
        };
        key.to_u64()
    }

    /// Tasks recorded since the start: the live ones and the finished ones. Read while tasks
    /// come and go, the sum may be off by the few under way; it never goes back.
    pub(crate) fn spawned_total(&self) -> u64 {
        let finished = self.counters.finished.load(Ordering::Acquire);
        let total = finished + self.tasks.live() as u64;
        self.counters.spawned_reported.fetch_max(total, Ordering::Relaxed).max(total)
    }

    pub(crate) fn task(&self, id: u64) -> Option<(Key, &TaskSlot)> {
        if id & (SPAN_BIT | UNTRACKED) != 0 {
            return None;
        }
        let key = Key::from_u64(id)?;
        Some((key, self.tasks.get(key)?))
    }

    pub(crate) fn span(&self, id: u64) -> Option<(Key, &SpanSlot)> {
        if id & SPAN_BIT == 0 || id & UNTRACKED != 0 {
            return None;
        }
        let key = Key::from_u64(id & !SPAN_BIT)?;
        Some((key, self.spans.get(key)?))
    }

    /// A poll starts.
    #[inline]
    pub(crate) fn enter_task(slot: &TaskSlot) {
        let now = clock::now();
        crate::thread_times::poll_started(now);
        slot.last_poll_start.store(now, Ordering::Relaxed);
        // Only the polling thread writes `polls`, so a load and a store suffice.
        slot.polls.store(slot.polls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        // A new poll consumes any earlier notification. Only the polling thread sets or clears
        // RUNNING; a wake racing with this store is the poll's to see, and the exit bumps the
        // version, so a plain store keeps the poll at one read-modify-write (its exit's).
        let status = slot.status.load(Ordering::Relaxed);
        slot.status.store(status & !state::FLAGS | u64::from(state::RUNNING), Ordering::Release);
    }

    /// A poll ends; `self_woke`: the task woke itself during it ([`Registry::waker`] returned
    /// true), which this publishes: the wake's time is the poll's end, and the task is notified.
    #[inline]
    pub(crate) fn exit_task(&self, slot: &TaskSlot, self_woke: bool) {
        let now = clock::now();
        let start = slot.last_poll_start.load(Ordering::Relaxed);
        let elapsed = now.saturating_sub(start);
        slot.busy.store(slot.busy.load(Ordering::Relaxed) + elapsed, Ordering::Relaxed);
        slot.last_poll_end.store(now, Ordering::Relaxed);
        let notified = if self_woke {
            slot.last_wake.store(now, Ordering::Relaxed);
            u64::from(state::NOTIFIED)
        } else {
            0
        };
        // One read-modify-write for the flags and the version: other threads may set flags
        // meanwhile.
        let _ = slot.status.fetch_update(Ordering::AcqRel, Ordering::Acquire, |status| {
            Some((status & !u64::from(state::RUNNING) | notified).wrapping_add(state::VERSION_ONE))
        });
        if elapsed >= self.long_poll_threshold
            && slot.kind.load(Ordering::Relaxed) != kind::BLOCKING
        {
            self.long_poll(slot, start, elapsed);
        }
    }

    /// The `index`th leaf the task registered its waker with during its current poll parks it at
    /// `chain`; the first of a poll replaces what earlier polls left.
    #[inline]
    pub(crate) fn wait_chain(slot: &TaskSlot, index: usize, chain: u32) {
        if index == 0 {
            for place in &slot.wait_chains[1..] {
                place.store(0, Ordering::Relaxed);
            }
        }
        if let Some(place) = slot.wait_chains.get(index) {
            place.store(chain, Ordering::Relaxed);
        }
    }

    #[cold]
    fn long_poll(&self, slot: &TaskSlot, start: u64, duration: u64) {
        slot.long_polls.fetch_add(1, Ordering::Relaxed);
        self.counters.long_polls.fetch_add(1, Ordering::Relaxed);
        let record = LongPollRecord {
            task_id: slot.task_id.load(Ordering::Relaxed),
            location_id: slot.location_id.load(Ordering::Relaxed),
            start,
            duration,
            times: crate::thread_times::long_poll_ended(start, duration),
        };
        if self.long_polls.force_push(record).is_some() {
            self.counters.long_polls_evicted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A waker event for the task span `id`: `delta` live wakers, `wake` whether it woke the task;
    /// `own_poll`: the task's slot when the event comes from inside its own poll, on the polling
    /// thread.
    /// Returns true for a self-wake, which the caller hands to [`Registry::exit_task`]: only the
    /// polling thread counts self-wakes, and the poll's exit publishes the notification and its
    /// time with the atomic operations it does anyway.
    #[inline]
    pub(crate) fn waker(
        &self,
        id: u64,
        delta: i32,
        wake: bool,
        own_poll: Option<&TaskSlot>,
    ) -> bool {
        if id & (SPAN_BIT | UNTRACKED) != 0 {
            return false;
        }
        let Some(key) = Key::from_u64(id) else { return false };
        let Some(slot) = own_poll.or_else(|| self.tasks.get(key)) else { return false };
        if delta != 0 {
            let generation = u64::from(key.generation) << 32;
            let _ = slot.wakers.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
                // Generations differ: the slot was reused since the check above.
                (word & 0xffff_ffff_0000_0000 == generation).then(|| {
                    generation | u64::from((word as u32 as i32).wrapping_add(delta) as u32)
                })
            });
        }
        if own_poll.is_some() {
            // A dump's trace poll is never an own poll (the subscriber does not mark it), so
            // this wake is the app's. Only the thread polling the task counts self-wakes, so a
            // load and a store suffice (as for `polls`); `wakes` counts the other wakes, and a
            // record's total adds the two. The poll's exit bumps the version.
            if wake {
                let n = slot.self_wakes.load(Ordering::Relaxed);
                slot.self_wakes.store(n + 1, Ordering::Relaxed);
            }
            return wake;
        }
        let trace_wake = wake
            && state::flags(slot.status.load(Ordering::Acquire))
                & (state::TRACED | state::NOTIFIED)
                == state::TRACED;
        let notified = if wake && !trace_wake {
            slot.wakes.fetch_add(1, Ordering::Relaxed);
            slot.last_wake.store(clock::now(), Ordering::Relaxed);
            u64::from(state::NOTIFIED)
        } else {
            0
        };
        let _ = slot.status.fetch_update(Ordering::AcqRel, Ordering::Acquire, |status| {
            Some((status | notified).wrapping_add(state::VERSION_ONE))
        });
        false
    }

    /// The task span's last handle is gone: the task finished (or was cancelled and dropped).
    pub(crate) fn close_task(&self, key: Key, slot: &TaskSlot) {
        let mut record = slot.record();
        record.dropped = clock::now();
        record.state = 0;
        if self.tasks.remove(key) {
            self.counters.finished.fetch_add(1, Ordering::Relaxed);
            if self.finished.force_push(Finished { record }).is_some() {
                self.counters.finished_evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// A new non-task span of kind `kind` (a [`span_kind`]), its slot filled by `init`.
    pub(crate) fn new_span(&self, kind: u8, init: impl FnOnce(&SpanSlot)) -> u64 {
        match self.spans.insert(|slot, _| {
            slot.refs.store(1, Ordering::Relaxed);
            slot.kind.store(kind, Ordering::Relaxed);
            slot.created.store(clock::now(), Ordering::Relaxed);
            slot.flags.store(0, Ordering::Relaxed);
            slot.holder_task_id.store(0, Ordering::Relaxed);
            slot.permits.store(0, Ordering::Relaxed);
            slot.readers.store(0, Ordering::Relaxed);
            slot.barrier_size.store(0, Ordering::Relaxed);
            slot.barrier_arrived.store(0, Ordering::Relaxed);
            slot.duration_nanos.store(0, Ordering::Relaxed);
            slot.created_chain.store(0, Ordering::Relaxed);
            slot.waiter_task_id.store(0, Ordering::Relaxed);
            slot.since.store(0, Ordering::Relaxed);
            slot.location_id.store(0, Ordering::Relaxed);
            slot.internal.store(false, Ordering::Relaxed);
            slot.resource_span.store(0, Ordering::Relaxed);
            slot.op_name_id.store(0, Ordering::Relaxed);
            slot.op_refs.store(0, Ordering::Relaxed);
            slot.op_meta.store(std::ptr::null_mut(), Ordering::Relaxed);
            init(slot);
        }) {
            Some(key) => span_id(key, kind),
            None => {
                self.counters.spans_dropped.fetch_add(1, Ordering::Relaxed);
                UNTRACKED
            }
        }
    }

    /// Has the oneshot `resource`'s slot hold its receiver's async operation too, and returns
    /// the operation's id (the slot's, with the operation's kind): a million parked receivers
    /// then cost a million slots, not two million, and their making one insert, not two.
    ///
    /// Only for a oneshot this thread is making (`crate::restate::is_making`): tokio creates
    /// its one operation inside `oneshot::channel`, before the channel's handles leave the
    /// thread, so plain stores suffice. The operation's handles are counted in `op_refs`,
    /// the resource's in `refs`; [`Registry::close_span`] frees the slot when both are 0.
    pub(crate) fn host_op(
        &self,
        resource: u64,
        meta: &'static Metadata<'static>,
        op_name_id: u32,
    ) -> Option<u64> {
        let (key, slot) = self.span(resource)?;
        if slot.kind.load(Ordering::Relaxed) != span_kind::RESOURCE
            || slot.op_refs.load(Ordering::Relaxed) != 0
        {
            return None;
        }
        slot.op_meta.store(std::ptr::from_ref(meta).cast_mut(), Ordering::Relaxed);
        slot.op_name_id.store(op_name_id, Ordering::Relaxed);
        slot.resource_span.store(resource, Ordering::Relaxed);
        slot.op_refs.store(1, Ordering::Release);
        Some(span_id(key, span_kind::ASYNC_OP))
    }

    /// Whether span `id` is an operation hosted by its resource's slot ([`Registry::host_op`]).
    #[inline]
    pub(crate) fn is_hosted_op(id: u64, slot: &SpanSlot) -> bool {
        kind_of(id) == span_kind::ASYNC_OP
            && slot.kind.load(Ordering::Relaxed) == span_kind::RESOURCE
    }

    /// One handle of non-task span `id` fewer; `true` when that was its last. A slot is freed
    /// when its span and the operation it hosts are both closed: each side decrements its own
    /// count, then reads the other's (sequentially consistent, so of two racing last closes at
    /// least one sees both at 0; a second free of the slot fails on its generation).
    pub(crate) fn close_span(&self, id: u64) -> bool {
        let Some((key, slot)) = self.span(id) else { return false };
        let (own, other) = if Self::is_hosted_op(id, slot) {
            (&slot.op_refs, &slot.refs)
        } else {
            (&slot.refs, &slot.op_refs)
        };
        if own.fetch_sub(1, Ordering::SeqCst) != 1 {
            return false;
        }
        if other.load(Ordering::SeqCst) == 0 {
            self.spans.remove(key);
        }
        true
    }

    /// Whether the app span `id` (with [`SPAN_BIT`]) is still open.
    pub(crate) fn span_open(&self, id: u64) -> bool {
        self.span(id).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::{SpanSlot, TaskSlot};
    use crate::arena::Slot;
    use std::mem::{offset_of, size_of};

    #[test]
    fn slots_keep_their_size_and_a_polls_fields_share_one_line() {
        assert_eq!(size_of::<Slot<TaskSlot>>(), 192);
        assert_eq!(size_of::<Slot<SpanSlot>>(), 128);
        // The arena's 8-byte header, then the fields of every poll, all in the first 64 bytes.
        assert!(8 + offset_of!(TaskSlot, wakers) + 8 <= 64);
        assert!(8 + offset_of!(SpanSlot, resource_span) + 8 <= 64);
    }
}
