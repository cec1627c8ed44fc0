//! The tracing `Subscriber` that turns tokio's own instrumentation into registry records.
//!
//! With `--cfg tokio_unstable` and its `tracing` feature, tokio opens a `runtime.spawn` span per
//! task (entered on every poll), emits `tokio::task::waker` events for every waker operation, and
//! describes its sync primitives and timers as `runtime.resource` spans with
//! `runtime.resource.async_op` children and `state_update` events. This subscriber listens to just
//! those (everything else is `Interest::never`, so it costs tokio nothing) plus the app's own spans,
//! which it needs to know which request a task was spawned under.
//!
//! It is a plain `Subscriber`, not a `tracing-subscriber` layer stack: a registry would allocate
//! per span and look spans up in a sharded map on every poll; here a poll is a slot lookup, two
//! clock reads and a few relaxed stores.

use crate::capture;
use crate::intern::Interner;
use crate::registry::{
    self, DUMPS_RUNNING, DUMPS_TAKEN, NewTask, Registry, SPAN_BIT, TaskSlot, UNTRACKED,
    WAIT_CHAINS, flag, kind, resource_kind, span_kind, state,
};
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicPtr, Ordering};
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::{Interest, Subscriber};
use tracing_core::{Event, LevelFilter, Metadata};

/// One entered span on this thread. A span's metadata is not kept: only `current_span` and a
/// spawn under an app span need it, and they look it up in the span's slot.
#[derive(Clone, Copy)]
struct Frame {
    id: u64,
    /// tokio's task id when this frame is a task span, else 0.
    task_id: u64,
    /// 0 for a task, else a [`span_kind`].
    kind: u8,
}

impl Frame {
    const EMPTY: Frame = Frame { id: 0, task_id: 0, kind: 0 };
}

/// Spans a thread records as entered at once; deeper ones are entered and exited unrecorded.
const STACK_DEPTH: usize = 64;

/// The spans a thread is in, innermost last: a fixed array in a thread-local with no destructor,
/// so entering and leaving a span (twice per poll) touches no allocator, no borrow flag and no
/// thread-local registration check.
struct Stack {
    /// Spans entered and not exited, including any past [`STACK_DEPTH`] that are not kept.
    len: Cell<usize>,
    frames: [Cell<Frame>; STACK_DEPTH],
}

impl Stack {
    /// The recorded frames, outermost first.
    fn frames(&self) -> impl DoubleEndedIterator<Item = Frame> + '_ {
        self.frames[..self.len.get().min(STACK_DEPTH)].iter().map(Cell::get)
    }
}

thread_local! {
    static STACK: Stack = const {
        Stack { len: Cell::new(0), frames: [const { Cell::new(Frame::EMPTY) }; STACK_DEPTH] }
    };
    /// Set on the agent's own thread, whose tasks and spans are never recorded.
    static AGENT_THREAD: Cell<bool> = const { Cell::new(false) };
    /// The task this thread is polling, if any (see [`Polling`]).
    static POLLING: Cell<Polling> = const { Cell::new(Polling::NONE) };
}

/// The poll a thread is in: its task, how many leaves registered its waker so far (the wait
/// capture's place in the task's slot), and whether the task woke itself. A self-wake is kept
/// here and published by the poll's exit in the same atomic operations the exit does anyway, so
/// a task that yields by waking itself pays no extra read-modify-write or clock read per poll.
#[derive(Clone, Copy)]
struct Polling {
    /// The task's span id; 0 for none.
    task: u64,
    /// The task's slot, so that the poll's waker events and exit need not look it up again.
    /// Slots live as long as the registry (`'static`), and the task's span cannot close while
    /// it is entered.
    slot: Option<&'static TaskSlot>,
    leaves: u8,
    self_woke: bool,
}

impl Polling {
    const NONE: Polling = Polling { task: 0, slot: None, leaves: 0, self_woke: false };
}

/// Marks the calling thread as the agent's: nothing it spawns or enters is recorded.
pub(crate) fn mark_agent_thread() {
    AGENT_THREAD.with(|flag| flag.set(true));
}

pub(crate) struct Collector {
    registry: &'static Registry,
}

impl Collector {
    pub(crate) fn new(registry: &'static Registry) -> Self {
        Self { registry }
    }
}

/// The context an event or a new span sees: innermost task, app span and resource.
#[derive(Default, Clone, Copy)]
struct Context {
    task_id: u64,
    /// The innermost app span's id; 0 for none.
    user_span: u64,
    resource_span: u64,
}

fn context() -> Context {
    STACK
        .try_with(|stack| {
            let mut cx = Context::default();
            for frame in stack.frames().rev() {
                match frame.kind {
                    0 if cx.task_id == 0 => cx.task_id = frame.task_id,
                    span_kind::USER if cx.user_span == 0 => cx.user_span = frame.id,
                    span_kind::RESOURCE if cx.resource_span == 0 => cx.resource_span = frame.id,
                    _ => {}
                }
            }
            cx
        })
        .unwrap_or_default()
}

fn push(frame: Frame) {
    let _ = STACK.try_with(|stack| {
        let len = stack.len.get();
        if let Some(place) = stack.frames.get(len) {
            place.set(frame);
        }
        stack.len.set(len + 1);
    });
}

/// The innermost recorded frame, if the stack is not empty or deeper than it keeps.
fn top() -> Option<Frame> {
    STACK
        .try_with(|stack| {
            let len = stack.len.get();
            (1..=STACK_DEPTH).contains(&len).then(|| stack.frames[len - 1].get())
        })
        .ok()
        .flatten()
}

/// Pops `id` (normally the top; exits may come out of order). Past [`STACK_DEPTH`] frames are
/// not kept: leaving one only shortens the stack.
fn pop(id: u64) -> Option<Frame> {
    STACK
        .try_with(|stack| {
            let len = stack.len.get();
            if len == 0 {
                return None;
            }
            if len > STACK_DEPTH {
                stack.len.set(len - 1);
                return None;
            }
            let top = stack.frames[len - 1].get();
            if top.id == id {
                stack.len.set(len - 1);
                return Some(top);
            }
            let at = (0..len - 1).rev().find(|&i| stack.frames[i].get().id == id)?;
            let frame = stack.frames[at].get();
            for i in at..len - 1 {
                stack.frames[i].set(stack.frames[i + 1].get());
            }
            stack.len.set(len - 1);
            Some(frame)
        })
        .ok()
        .flatten()
}

fn is_agent_thread() -> bool {
    AGENT_THREAD.try_with(Cell::get).unwrap_or(false)
}

impl Collector {
    /// What the collector wants from a callsite: tokio's task, resource and async-op spans, the
    /// app's spans, and tokio's waker and state-update events. Nothing else.
    pub(crate) fn interest(meta: &Metadata<'_>) -> Interest {
        if meta.is_span() {
            if meta.name() == "runtime.resource.async_op.poll" {
                Interest::never()
            } else {
                Interest::always()
            }
        } else if is_wanted_event(meta) && !crate::restate::is_restating(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    /// A new span; returns the collector's id for it.
    pub(crate) fn on_new_span(&self, attrs: &Attributes<'_>) -> u64 {
        if is_agent_thread() {
            return UNTRACKED;
        }
        let making = crate::restate::take_making();
        let meta = attrs.metadata();
        match meta.name() {
            // Only reached when console-subscriber shares the stack and wants these.
            "runtime.resource.async_op.poll" => UNTRACKED,
            "runtime.spawn" => self.new_task(attrs),
            "runtime.resource" => self.new_resource(attrs),
            "runtime.resource.async_op" => self.new_async_op(attrs, making),
            _ => self.registry.new_span(span_kind::USER, |slot| {
                slot.meta.store(std::ptr::from_ref(meta).cast_mut(), Ordering::Relaxed);
            }),
        }
    }

    /// An event. `task_span` maps the span id a waker event names to the collector's id (the
    /// identity when the collector is the subscriber).
    pub(crate) fn on_event(&self, event: &Event<'_>, task_span: impl FnOnce(u64) -> u64) {
        let meta = event.metadata();
        // A waker callsite seen before: its operation is known, only the task id is read. Looked
        // for first: a poll sends one such event, and pays nothing for the state updates' cache.
        let known =
            WAKER_CALLSITES.iter().position(|c| std::ptr::eq(c.load(Ordering::Relaxed), meta));
        if known.is_none() && is_state_update(meta) {
            // Turned down, but another subscriber on the stack still wants it.
            if crate::restate::is_restating(meta) {
                return;
            }
            let cx = context();
            if crate::restate::is_making(cx.resource_span) {
                crate::restate::learn(meta, |v| event.record(v));
            }
            let Some((_, slot)) = self.registry.span(cx.resource_span) else { return };
            let mut v = StateVisitor { slot, current_task: cx.task_id, number: None, op: None };
            event.record(&mut v);
            v.apply_number();
            return;
        }
        if known.is_none() && meta.target() != "tokio::task::waker" {
            return;
        }
        let mut v = WakerVisitor { op: known.map(|i| WakerOp::ALL[i]), span_id: 0 };
        event.record(&mut v);
        if known.is_none()
            && let Some(op) = v.op
        {
            WAKER_CALLSITES[op as usize]
                .store(std::ptr::from_ref(meta).cast_mut(), Ordering::Relaxed);
        }
        let task = task_span(v.span_id);
        let (delta, wake) = match v.op {
            Some(WakerOp::Clone) => {
                self.capture_wait(task);
                (1, false)
            }
            Some(WakerOp::Drop) => (-1, false),
            Some(WakerOp::Wake) => (-1, true),
            Some(WakerOp::WakeByRef) => (0, true),
            None => return,
        };
        // Inside the task's own poll: a self-wake if it wakes, and the poll's exit publishes the
        // change.
        let polling = POLLING.try_with(Cell::get).unwrap_or(Polling::NONE);
        let own_poll = polling.slot.filter(|_| polling.task != 0 && polling.task == task);
        if self.registry.waker(task, delta, wake, own_poll) && !polling.self_woke {
            let _ = POLLING.try_with(|p| p.set(Polling { self_woke: true, ..polling }));
        }
    }

    pub(crate) fn on_enter(&self, id: u64) {
        if id & UNTRACKED != 0 {
            return;
        }
        if id & SPAN_BIT == 0 {
            if let Some((_, slot)) = self.registry.task(id) {
                let task_id = slot.task_id.load(Ordering::Relaxed);
                let dumps = DUMPS_RUNNING.load(Ordering::Acquire);
                if dumps & !DUMPS_TAKEN != 0 {
                    // A dump's trace poll: keep the task's poll stats as they were.
                    slot.status.fetch_or(u64::from(state::TRACED), Ordering::AcqRel);
                    push(Frame { id, task_id, kind: span_kind::TRACE_POLL });
                    return;
                }
                // No dump ever ran: no task is TRACED, and the flags need not be read.
                if dumps != 0
                    && state::flags(slot.status.load(Ordering::Acquire))
                        & (state::TRACED | state::NOTIFIED)
                        == state::TRACED
                {
                    // The poll that follows a trace, and nothing but the dump woke the task.
                    slot.status.fetch_and(!u64::from(state::TRACED), Ordering::AcqRel);
                    push(Frame { id, task_id, kind: span_kind::TRACE_POLL });
                    return;
                }
                Registry::enter_task(slot);
                let polling = Polling { task: id, slot: Some(slot), ..Polling::NONE };
                let _ = POLLING.try_with(|p| p.set(polling));
                push(Frame { id, task_id, kind: 0 });
            }
            return;
        }
        // The id says the kind: only an async operation's enter touches its slot, and only when
        // it is entered right on top of a resource, as every poll of one is (tokio enters the
        // resource, then the operation). `oneshot::channel` enters its receiver's operation
        // alone, to make the operation's poll span: the task making a channel does not wait on
        // it, and its receiver may never be polled at all (kept in a map, say).
        let kind = registry::kind_of(id);
        if kind == span_kind::ASYNC_OP
            && let Some(resource) = top().filter(|f| f.kind == span_kind::RESOURCE)
            && let Some((_, slot)) = self.registry.span(id)
        {
            let cx = context();
            if cx.task_id != 0 {
                slot.waiter_task_id.store(cx.task_id, Ordering::Relaxed);
                if slot.since.load(Ordering::Relaxed) == 0 {
                    slot.since.store(crate::clock::now(), Ordering::Relaxed);
                }
            }
            // Some operations (a `Sleep`'s) name their resource as an explicit parent rather than
            // being created inside it; every poll enters the resource first, so learn it here.
            if slot.resource_span.load(Ordering::Relaxed) == 0 {
                slot.resource_span.store(resource.id, Ordering::Relaxed);
            }
        }
        push(Frame { id, task_id: 0, kind });
    }

    pub(crate) fn on_exit(&self, id: u64) {
        if id & UNTRACKED != 0 {
            return;
        }
        let Some(frame) = pop(id) else { return };
        if frame.kind != 0 {
            return;
        }
        let polling = POLLING.try_with(|p| p.replace(Polling::NONE)).unwrap_or(Polling::NONE);
        // A task polled inside another's poll (a nested `block_on`) leaves the outer one's
        // `Polling` replaced: look its slot up then.
        let (slot, self_woke) = match polling.slot {
            Some(slot) if polling.task == id => (slot, polling.self_woke),
            _ => match self.registry.task(id) {
                Some((_, slot)) => (slot, false),
                None => return,
            },
        };
        self.registry.exit_task(slot, self_woke);
    }

    /// A waker of task span `task` was cloned. When that task is the one this thread is polling,
    /// a leaf future is keeping its waker: the stack holds the await chain that parks it
    /// (`crate::capture`). A dump's trace poll is not a poll here, so it captures nothing.
    #[inline]
    fn capture_wait(&self, task: u64) {
        if !capture::enabled() {
            return;
        }
        let Ok(polling) = POLLING.try_with(Cell::get) else { return };
        if polling.task != task || polling.task == 0 {
            return;
        }
        let _ = POLLING
            .try_with(|p| p.set(Polling { leaves: polling.leaves.saturating_add(1), ..polling }));
        let index = usize::from(polling.leaves);
        if index >= WAIT_CHAINS {
            return;
        }
        // The poll's own slot, found when the poll was entered.
        let Some(slot) = polling.slot else { return };
        let mut addresses = [0; capture::MAX_FRAMES];
        let depth = capture::walk(&mut addresses);
        let chain = self.registry.interner.chain(&addresses[..depth]);
        Registry::wait_chain(slot, index, chain);
    }

    pub(crate) fn on_clone(&self, id: u64) {
        if let Some((_, slot)) = self.registry.task(id) {
            slot.refs.fetch_add(1, Ordering::Relaxed);
        } else if let Some((_, slot)) = self.registry.span(id) {
            if Registry::is_hosted_op(id, slot) {
                slot.op_refs.fetch_add(1, Ordering::Relaxed);
            } else {
                slot.refs.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One handle fewer; `true` when that was the last and the span closed.
    pub(crate) fn on_close(&self, id: u64) -> bool {
        if let Some((key, slot)) = self.registry.task(id) {
            if slot.refs.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.registry.close_task(key, slot);
                return true;
            }
        } else {
            return self.registry.close_span(id);
        }
        false
    }
}

/// Places in the per-thread cache of [`is_state_update`].
const STATE_PLACES: usize = 32;

thread_local! {
    /// Addresses of `state_update` callsites this thread has seen (0 for an empty place), by a
    /// hash of the address.
    static STATE_CALLSITES: [Cell<usize>; STATE_PLACES] =
        const { [const { Cell::new(0) }; STATE_PLACES] };
}

/// Whether `meta` is a `runtime::resource::state_update` callsite's. An event's metadata lives
/// for the program, so its address names its callsite for good: a thread compares the target
/// once per callsite, not on each of the half-dozen updates a oneshot sends.
#[inline]
fn is_state_update(meta: &'static Metadata<'static>) -> bool {
    let address = std::ptr::from_ref(meta) as usize;
    let place = (address.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) % STATE_PLACES;
    if STATE_CALLSITES.try_with(|c| c[place].get() == address).unwrap_or(false) {
        return true;
    }
    let state_update = meta.target() == "runtime::resource::state_update";
    if state_update {
        let _ = STATE_CALLSITES.try_with(|c| c[place].set(address));
    }
    state_update
}

fn is_wanted_event(meta: &Metadata<'_>) -> bool {
    matches!(meta.target(), "tokio::task::waker" | "runtime::resource::state_update")
}

impl Subscriber for Collector {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        Self::interest(meta)
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.is_span() || is_wanted_event(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        Id::from_u64(self.on_new_span(attrs))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        self.on_event(event, |id| id);
    }

    fn enter(&self, span: &Id) {
        self.on_enter(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        self.on_exit(span.into_u64());
    }

    fn clone_span(&self, span: &Id) -> Id {
        self.on_clone(span.into_u64());
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        self.on_close(span.into_u64())
    }

    fn current_span(&self) -> Current {
        let top = STACK.try_with(|stack| stack.frames().next_back()).ok().flatten();
        // A task's frame (kind 0, or a trace poll's) names no span metadata of the agent's.
        match top.filter(|f| {
            matches!(f.kind, span_kind::USER | span_kind::RESOURCE | span_kind::ASYNC_OP)
        }) {
            Some(frame) => match self.span_meta(frame.id) {
                Some(meta) => Current::new(Id::from_u64(frame.id), meta),
                None => Current::none(),
            },
            None => Current::none(),
        }
    }
}

impl Collector {
    /// The metadata of the live non-task span `id`.
    fn span_meta(&self, id: u64) -> Option<&'static Metadata<'static>> {
        let (_, slot) = self.registry.span(id)?;
        let meta = if Registry::is_hosted_op(id, slot) { &slot.op_meta } else { &slot.meta };
        // SAFETY: `meta` and `op_meta` are only ever stored from a `&'static Metadata<'static>`
        // (or null).
        unsafe { meta.load(Ordering::Relaxed).as_ref() }
    }

    fn new_task(&self, attrs: &Attributes<'_>) -> u64 {
        let interner = &self.registry.interner;
        let mut v = TaskVisitor {
            interner,
            kind: SmallStr::default(),
            name: SmallStr::default(),
            file_id: 0,
            from_tokio_handle: false,
            task_id: 0,
            size_bytes: 0,
            line: 0,
            col: 0,
        };
        attrs.record(&mut v);
        // Matched as bytes, and an empty name not interned at all: the copies are valid UTF-8 by
        // construction, and checking that again was a visible share of a spawn.
        let kind = match v.kind.as_bytes() {
            b"task" => kind::ASYNC,
            b"blocking" => kind::BLOCKING,
            b"block_on" => kind::BLOCK_ON,
            b"local" => kind::LOCAL,
            _ => kind::ASYNC,
        };
        // `Handle::dump` on a multi-thread runtime runs on a throwaway thread inside a `block_on`
        // that tokio starts from its own source; that is the agent at work, not the app.
        if kind == kind::BLOCK_ON && v.from_tokio_handle {
            return UNTRACKED;
        }
        let cx = context();
        let spawner_meta = self.span_meta(cx.user_span);
        let spawner_span = if spawner_meta.is_some() { cx.user_span } else { 0 };
        self.registry.new_task(&NewTask {
            task_id: v.task_id,
            kind,
            name_id: if v.name.is_empty() { 0 } else { interner.name(v.name.as_str()) },
            location_id: interner.location(v.file_id, v.line, v.col),
            size_bytes: v.size_bytes,
            parent_task_id: cx.task_id,
            spawner_span,
            spawner_meta,
        })
    }

    fn new_resource(&self, attrs: &Attributes<'_>) -> u64 {
        let interner = &self.registry.interner;
        let mut v = ResourceVisitor {
            interner,
            resource_kind: 0,
            internal: false,
            file_id: 0,
            tokio_source: false,
            line: 0,
            col: 0,
        };
        attrs.record(&mut v);
        let location_id = interner.location(v.file_id, v.line, v.col);
        // tokio names its own source as the creation site of a resource made by a `Default` impl
        // (`Mutex::default()`): keep the stack, whose first app frame is the real site. Rare
        // (the constructors the app calls carry `#[track_caller]`), so the walk costs nothing
        // on the common path.
        let created_chain = if v.tokio_source && !v.internal {
            let mut addresses = [0; capture::MAX_FRAMES];
            let depth = capture::walk(&mut addresses);
            interner.chain(&addresses[..depth])
        } else {
            0
        };
        let meta = attrs.metadata();
        let id = self.registry.new_span(span_kind::RESOURCE, |slot| {
            slot.meta.store(std::ptr::from_ref(meta).cast_mut(), Ordering::Relaxed);
            slot.resource_kind.store(v.resource_kind, Ordering::Relaxed);
            slot.internal.store(v.internal, Ordering::Relaxed);
            slot.location_id.store(location_id, Ordering::Relaxed);
            slot.created_chain.store(created_chain, Ordering::Relaxed);
        });
        if v.resource_kind == resource_kind::ONESHOT && id & UNTRACKED == 0 {
            crate::restate::made_oneshot(id);
        }
        id
    }

    /// `making`: the oneshot this thread was making when the span was created (0 for none),
    /// whose slot hosts the operation when it is that oneshot's.
    fn new_async_op(&self, attrs: &Attributes<'_>, making: u64) -> u64 {
        let interner = &self.registry.interner;
        let mut v = AsyncOpVisitor { interner, source_id: 0 };
        attrs.record(&mut v);
        let op_name_id = v.source_id;
        let cx = context();
        let meta = attrs.metadata();
        if making != 0
            && cx.resource_span == making
            && let Some(id) = self.registry.host_op(making, meta, op_name_id)
        {
            return id;
        }
        self.registry.new_span(span_kind::ASYNC_OP, |slot| {
            slot.meta.store(std::ptr::from_ref(meta).cast_mut(), Ordering::Relaxed);
            slot.op_name_id.store(op_name_id, Ordering::Relaxed);
            slot.resource_span.store(cx.resource_span, Ordering::Relaxed);
        })
    }
}

/// A stack buffer for field values, so that a spawn copies its kind, name and file without
/// allocating. Longer values are truncated at a character boundary.
struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

type SmallStr = StackStr<96>;

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        Self { buf: [0; N], len: 0 }
    }
}

impl<const N: usize> StackStr<N> {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn as_str(&self) -> &str {
        // Only whole `str` pieces cut at char boundaries are copied in.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }

    fn set(&mut self, value: &dyn fmt::Debug) {
        self.len = 0;
        let _ = write!(self, "{value:?}");
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = N - self.len;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// Fields of a `runtime.spawn` span. Strings are copied into stack buffers: the visit only
/// lends them.
struct TaskVisitor {
    interner: &'static Interner,
    kind: SmallStr,
    name: SmallStr,
    file_id: u32,
    /// Checked against tokio's own dump thread (see `new_task`).
    from_tokio_handle: bool,
    task_id: u64,
    size_bytes: u64,
    line: u32,
    col: u32,
}

impl Visit for TaskVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "task.id" => self.task_id = value,
            "size.bytes" => self.size_bytes = value,
            "loc.line" => self.line = value as u32,
            "loc.col" => self.col = value as u32,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "loc.file" {
            // Interned while tokio's `&'static str` is in hand, so the per-thread cache can key
            // on its address.
            self.file_id = self.interner.file(value);
            self.from_tokio_handle = file_facts(self.file_id, value) & TOKIO_HANDLE != 0;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match field.name() {
            "kind" => self.kind.set(value),
            "task.name" => self.name.set(value),
            _ => {}
        }
    }
}

/// Fields of a `runtime.resource` span.
struct ResourceVisitor {
    interner: &'static Interner,
    resource_kind: u8,
    internal: bool,
    file_id: u32,
    /// `loc.file` lies in tokio's own source.
    tokio_source: bool,
    line: u32,
    col: u32,
}

/// [`file_facts`] bit: the file is tokio's own source ([`is_tokio_source`]).
const TOKIO_SOURCE: u8 = 1;
/// [`file_facts`] bit: the file is tokio's `runtime/handle.rs`, which starts the `block_on` of
/// `Handle::dump` on a multi-thread runtime.
const TOKIO_HANDLE: u8 = 2;
/// Places in the per-thread cache of [`file_facts`].
const FACT_PLACES: usize = 16;

thread_local! {
    /// (file id, its facts + 1, 0 for an empty place) by file id modulo the places.
    static FILE_FACTS: [Cell<(u32, u8)>; FACT_PLACES] =
        const { [const { Cell::new((0, 0)) }; FACT_PLACES] };
}

/// What the agent needs to know of the source file `file` (interned as `file_id`): the
/// [`TOKIO_SOURCE`] and [`TOKIO_HANDLE`] bits. Computed once per file and thread: every spawn
/// and every resource names its file, and searching the path for "tokio" each time was a
/// visible share of making a oneshot.
fn file_facts(file_id: u32, file: &str) -> u8 {
    let compute = || {
        let mut facts = 0;
        if is_tokio_source(file) {
            facts |= TOKIO_SOURCE;
        }
        if file.ends_with("runtime/handle.rs") && file.contains("tokio") {
            facts |= TOKIO_HANDLE;
        }
        facts
    };
    if file_id == 0 {
        return compute();
    }
    FILE_FACTS
        .try_with(|places| {
            let place = &places[file_id as usize % FACT_PLACES];
            match place.get() {
                (id, stored) if id == file_id && stored != 0 => stored - 1,
                _ => {
                    let facts = compute();
                    place.set((file_id, facts + 1));
                    facts
                }
            }
        })
        .unwrap_or_else(|_| compute())
}

/// Whether `file` is a source file of the tokio crate itself: a registry or vendored
/// `tokio-1.x.y/src/...`, or a git checkout's `tokio/src/...`. Runs once per resource created,
/// so it allocates nothing.
fn is_tokio_source(file: &str) -> bool {
    if !file.contains("tokio") {
        return false;
    }
    let mut previous = "";
    for part in file.split(['/', '\\']) {
        let tokio_dir = previous == "tokio"
            || previous
                .strip_prefix("tokio-")
                .is_some_and(|v| v.starts_with(|c: char| c.is_ascii_digit()));
        if tokio_dir && part == "src" {
            return true;
        }
        previous = part;
    }
    false
}

impl Visit for ResourceVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "loc.line" => self.line = value as u32,
            "loc.col" => self.col = value as u32,
            _ => {}
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if field.name() == "is_internal" {
            self.internal = value;
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "loc.file" => {
                self.file_id = self.interner.file(value);
                self.tokio_source = file_facts(self.file_id, value) & TOKIO_SOURCE != 0;
            }
            "concrete_type" => {
                self.resource_kind = match value {
                    "Mutex" => resource_kind::MUTEX,
                    "RwLock" => resource_kind::RW_LOCK,
                    "Semaphore" => resource_kind::SEMAPHORE,
                    "Barrier" => resource_kind::BARRIER,
                    "Sender|Receiver" => resource_kind::ONESHOT,
                    "Sleep" => resource_kind::TIMER,
                    _ => resource_kind::OTHER,
                }
            }
            _ => {}
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

/// Fields of a `runtime.resource.async_op` span: the operation's name, interned while tokio's
/// string is in hand (one literal per operation, so the per-thread cache keys on its address).
struct AsyncOpVisitor {
    interner: &'static Interner,
    source_id: u32,
}

impl Visit for AsyncOpVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "source" {
            self.source_id = self.interner.name_at(value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "source" {
            let mut source = SmallStr::default();
            source.set(value);
            self.source_id = self.interner.name(source.as_str());
        }
    }
}

#[derive(Clone, Copy)]
enum WakerOp {
    Clone,
    Drop,
    Wake,
    WakeByRef,
}

impl WakerOp {
    /// By discriminant.
    const ALL: [WakerOp; 4] = [WakerOp::Clone, WakerOp::Drop, WakerOp::Wake, WakerOp::WakeByRef];
}

/// tokio's waker callsites by operation (indexed by [`WakerOp`]): its `trace!` in
/// `runtime/task/waker.rs` is expanded once per operation with the operation's name as a
/// literal, so the first event of a callsite tells its operation for good, and later events
/// skip comparing the `op` string (one poll of a task that wakes itself sends one such event).
/// A callsite whose `op` disagreed would only be learnt by the last operation it reported; the
/// slow path stays correct for every callsite not cached.
static WAKER_CALLSITES: [AtomicPtr<Metadata<'static>>; 4] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; 4];

#[derive(Default)]
struct WakerVisitor {
    op: Option<WakerOp>,
    span_id: u64,
}

impl Visit for WakerVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "task.id" {
            self.span_id = value;
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.op.is_none() && field.name() == "op" {
            self.op = match value {
                "waker.clone" => Some(WakerOp::Clone),
                "waker.drop" => Some(WakerOp::Drop),
                "waker.wake" => Some(WakerOp::Wake),
                "waker.wake_by_ref" => Some(WakerOp::WakeByRef),
                _ => None,
            };
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Override,
    Add,
    Sub,
}

/// One `state_update` event, applied to its resource's slot as it is visited: a flag as soon as
/// its field is seen (tokio's flags are always overridden), a number once the event's `.op` field
/// (which follows it) says how. Nothing is collected on the side: an oneshot alone sends four of
/// these as it is made, all restating the flags its new slot starts with.
struct StateVisitor<'a> {
    slot: &'a registry::SpanSlot,
    /// The task polling, which holds a lock that this event says is taken.
    current_task: u64,
    number: Option<(&'static str, u64)>,
    op: Option<Op>,
}

impl Visit for StateVisitor<'_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        let slot = self.slot;
        let bit = match field.name() {
            "locked" | "write_locked" => {
                let holder = if value { self.current_task } else { 0 };
                slot.holder_task_id.store(holder, Ordering::Relaxed);
                flag::LOCKED
            }
            "value_sent" => flag::VALUE_SENT,
            "value_received" => flag::VALUE_RECEIVED,
            "tx_dropped" => flag::TX_DROPPED,
            "rx_dropped" => flag::RX_DROPPED,
            _ => return,
        };
        // Most updates restate what the flags say already (a new oneshot reports four flags
        // cleared on a slot that starts cleared): those need no read-modify-write. One racing
        // with another thread's change of the same bit is ordered before it.
        let flags = slot.flags.load(Ordering::Relaxed);
        if value && flags & bit == 0 {
            slot.flags.fetch_or(bit, Ordering::Relaxed);
        } else if !value && flags & bit != 0 {
            slot.flags.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number = Some((field.name(), value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number = Some((field.name(), value.max(0) as u64));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name().ends_with(".op") {
            self.op = match value {
                "add" => Some(Op::Add),
                "sub" => Some(Op::Sub),
                _ => Some(Op::Override),
            };
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn fmt::Debug) {}
}

impl StateVisitor<'_> {
    /// Applies the event's number, once every field has been visited.
    fn apply_number(&self) {
        let slot = self.slot;
        let Some((name, value)) = self.number else { return };
        let op = self.op.unwrap_or(Op::Override);
        match name {
            "permits" => {
                let v = value.min(i64::MAX as u64) as i64;
                match op {
                    Op::Override => slot.permits.store(v, Ordering::Relaxed),
                    Op::Add => drop(slot.permits.fetch_add(v, Ordering::Relaxed)),
                    Op::Sub => drop(slot.permits.fetch_sub(v, Ordering::Relaxed)),
                }
            }
            "current_readers" => apply_u64(&slot.readers, op, value),
            "size" => apply_u64(&slot.barrier_size, op, value),
            "arrived" => apply_u64(&slot.barrier_arrived, op, value),
            // tokio reports timer durations in milliseconds.
            "duration" => {
                slot.duration_nanos.store(value.saturating_mul(1_000_000), Ordering::Relaxed)
            }
            _ => {}
        }
    }
}

fn apply_u64(field: &std::sync::atomic::AtomicU64, op: Op, value: u64) {
    match op {
        Op::Override => field.store(value, Ordering::Relaxed),
        Op::Add => drop(field.fetch_add(value, Ordering::Relaxed)),
        Op::Sub => {
            let _ = field.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(value))
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Frame, STACK, STACK_DEPTH, pop, push};

    fn ids() -> Vec<u64> {
        STACK.with(|s| s.frames().map(|f| f.id).collect())
    }

    #[test]
    fn tokio_sources_are_told_from_the_apps() {
        use super::is_tokio_source;
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        assert!(is_tokio_source(&format!("{registry}/tokio-1.54.1/src/sync/mutex.rs")));
        assert!(is_tokio_source("/git/checkouts/tokio-9f2a/abc123/tokio/src/sync/rwlock.rs"));
        assert!(!is_tokio_source("crates/leakscope-zoo/src/scenarios/lock_held_across_await.rs"));
        assert!(!is_tokio_source(&format!("{registry}/tokio-util-0.7.16/src/sync/cancel.rs")));
        assert!(!is_tokio_source("src/tokio/src.rs"));
    }

    #[test]
    fn file_facts_are_the_files_own_when_cached() {
        use super::{TOKIO_HANDLE, TOKIO_SOURCE, file_facts};
        let registry = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f";
        let handle = format!("{registry}/tokio-1.54.1/src/runtime/handle.rs");
        let mutex = format!("{registry}/tokio-1.54.1/src/sync/mutex.rs");
        let cases = [
            (1, handle.as_str(), TOKIO_SOURCE | TOKIO_HANDLE),
            (2, mutex.as_str(), TOKIO_SOURCE),
            (3, "src/main.rs", 0),
            // Id 17 shares a cache place with id 1: it must not be answered with 1's facts.
            (17, "src/runtime/handle.rs", 0),
            (0, mutex.as_str(), TOKIO_SOURCE),
        ];
        for _ in 0..2 {
            for (id, file, expected) in cases {
                assert_eq!(file_facts(id, file), expected, "{id} {file}");
            }
        }
    }

    #[test]
    fn the_span_stack_pops_out_of_order_and_past_its_depth() {
        let frame = |id| Frame { id, ..Frame::EMPTY };
        push(frame(1));
        push(frame(2));
        push(frame(3));
        // Exits may come out of order.
        assert_eq!(pop(2).map(|f| f.id), Some(2));
        assert_eq!(ids(), [1, 3]);
        assert_eq!(pop(3).map(|f| f.id), Some(3));
        assert!(pop(9).is_none(), "a span never entered");
        assert_eq!(ids(), [1]);
        // Past the depth, spans are entered and left unrecorded; the recorded ones stay right.
        let extra = STACK_DEPTH as u64 + 5;
        for i in 0..extra {
            push(frame(100 + i));
        }
        assert_eq!(ids().len(), STACK_DEPTH);
        for i in (0..extra).rev() {
            let recorded = 1 + i < STACK_DEPTH as u64;
            assert_eq!(pop(100 + i).map(|f| f.id), recorded.then_some(100 + i), "span {i}");
        }
        assert_eq!(pop(1).map(|f| f.id), Some(1));
        assert!(ids().is_empty());
        assert_eq!(STACK.with(|s| s.len.get()), 0);
    }
}
