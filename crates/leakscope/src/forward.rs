//! The agent's subscriber carrying the app's own: tokio's instrumentation goes to the collector,
//! everything else to the app's subscriber untouched ([`Builder::forward_to`](crate::Builder)).
//!
//! Span ids are not translated. A tokio span gets the collector's id, an app span the app
//! subscriber's own, and a call is routed by one bit of the id: every id the collector hands out
//! has bit 32 set (a live arena key has an odd generation in its high half; the collector's
//! "untracked" id is given the bit here), and the app subscriber's ids have it clear
//! (`tracing-subscriber`'s `Registry` numbers spans by slot, far below 2^32 live spans). So a
//! task's poll costs what it costs under plain `init()` plus one test, and the app's subscriber
//! sees exactly the ids it issued: its current span, parents, explicit `parent:` arguments and
//! downcasts (OpenTelemetry's `Span::context()`) all work as without leakscope.
//!
//! What it gives up: the collector does not record the app's spans, so tasks are not labelled
//! with the app span they were spawned under (plain `init()` and [`crate::layer()`] do that).

use crate::registry::UNTRACKED;
use crate::subscriber::Collector;
use std::any::TypeId;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_core::span::{Attributes, Current, Id, Record};
use tracing_core::subscriber::{Interest, Subscriber};
use tracing_core::{Dispatch, Event, LevelFilter, Metadata};

/// The bit that tells the collector's span ids from the app subscriber's.
pub(crate) const OURS: u64 = 1 << 32;
/// The collector's "untracked" id, with the routing bit.
const UNTRACKED_OURS: u64 = UNTRACKED | OURS;

pub(crate) struct Forward {
    collector: Collector,
    app: Arc<dyn Subscriber + Send + Sync>,
}

impl Forward {
    pub(crate) fn new(collector: Collector, app: Arc<dyn Subscriber + Send + Sync>) -> Self {
        Self { collector, app }
    }
}

/// tokio's own instrumentation: the task, resource and async-op spans and the waker and
/// resource events, which go to the collector only (the app's subscriber would see every poll).
pub(crate) fn is_tokio_instrumentation(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        matches!(
            meta.name(),
            "runtime.spawn"
                | "runtime.resource"
                | "runtime.resource.async_op"
                | "runtime.resource.async_op.poll"
        )
    } else {
        let target = meta.target();
        target == "tokio::task::waker" || target.starts_with("runtime::resource")
    }
}

/// Routes an id: `true` for the collector's.
#[inline]
fn ours(id: &Id) -> bool {
    id.into_u64() & OURS != 0
}

/// Said once per process when the app's subscriber hands out an id the routing cannot carry.
static WIDE_ID_NOTED: AtomicBool = AtomicBool::new(false);

impl Subscriber for Forward {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        self.app.on_register_dispatch(subscriber);
    }

    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_tokio_instrumentation(meta) {
            Collector::interest(meta)
        } else {
            self.app.register_callsite(meta)
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        if is_tokio_instrumentation(meta) {
            <Collector as Subscriber>::enabled(&self.collector, meta)
        } else {
            self.app.enabled(meta)
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // tokio's instrumentation is at TRACE.
        Some(LevelFilter::TRACE)
    }

    fn event_enabled(&self, event: &Event<'_>) -> bool {
        is_tokio_instrumentation(event.metadata()) || self.app.event_enabled(event)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        if is_tokio_instrumentation(attrs.metadata()) {
            let id = self.collector.on_new_span(attrs);
            return Id::from_u64(if id & OURS == 0 { UNTRACKED_OURS } else { id });
        }
        let id = self.app.new_span(attrs);
        if ours(&id) {
            // Not `tracing-subscriber`'s registry: an id this wide would be taken for the
            // collector's. The span is closed for the app's subscriber and left unrecorded.
            self.app.try_close(id);
            if !WIDE_ID_NOTED.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "leakscope: the forwarded subscriber hands out span ids of 2^32 and above, \
                     which forwarding cannot carry; such spans are dropped (use leakscope::layer())"
                );
            }
            return Id::from_u64(UNTRACKED_OURS);
        }
        id
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if !ours(span) {
            self.app.record(span, values);
        }
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        if !ours(span) && !ours(follows) {
            self.app.record_follows_from(span, follows);
        }
    }

    fn event(&self, event: &Event<'_>) {
        if is_tokio_instrumentation(event.metadata()) {
            self.collector.on_event(event, |id| id);
        } else {
            self.app.event(event);
        }
    }

    #[inline]
    fn enter(&self, span: &Id) {
        if ours(span) {
            self.collector.on_enter(span.into_u64());
        } else {
            self.app.enter(span);
        }
    }

    #[inline]
    fn exit(&self, span: &Id) {
        if ours(span) {
            self.collector.on_exit(span.into_u64());
        } else {
            self.app.exit(span);
        }
    }

    fn clone_span(&self, span: &Id) -> Id {
        if ours(span) {
            self.collector.on_clone(span.into_u64());
            span.clone()
        } else {
            self.app.clone_span(span)
        }
    }

    fn try_close(&self, span: Id) -> bool {
        if ours(&span) {
            self.collector.on_close(span.into_u64())
        } else {
            self.app.try_close(span)
        }
    }

    fn current_span(&self) -> Current {
        // tokio's spans are never "current" to the app: `Span::current()` inside a task is the
        // app's span, as without leakscope.
        self.app.current_span()
    }

    unsafe fn downcast_raw(&self, id: TypeId) -> Option<*const ()> {
        if id == TypeId::of::<Self>() {
            return Some(std::ptr::from_ref(self).cast());
        }
        // SAFETY: the caller's contract is passed on unchanged; the pointer comes from the app's
        // subscriber, which lives as long as `self`.
        unsafe { self.app.downcast_raw(id) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_ids_carry_the_routing_bit() {
        // A live arena key's generation is odd, and the generation sits at bit 32.
        let key = crate::arena::Key { index: 7, generation: 1 };
        assert_ne!(key.to_u64() & OURS, 0);
        let key = crate::arena::Key { index: u32::MAX - 1, generation: 0x7fff_fff1 };
        assert_ne!(key.to_u64() & OURS, 0);
        assert_ne!((key.to_u64() | crate::registry::SPAN_BIT) & OURS, 0);
        assert_eq!(UNTRACKED & OURS, 0, "the untracked id gets the bit added in new_span");
    }
}
