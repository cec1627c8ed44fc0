//! State updates that only restate what a new resource's slot says already, and that tokio is
//! told to skip.
//!
//! `oneshot::channel` sends four `state_update` events before it returns, one per flag
//! (`tx_dropped`, `rx_dropped`, `value_sent`, `value_received`), each `false`, the constant its
//! source writes. A span slot starts with every flag cleared, so the four change nothing, yet
//! they were a tenth of what making and parking a million tasks cost with the agent
//! (docs/benchmarks.md). The collector learns their callsites from the first oneshot it sees
//! made: an update that names a oneshot made on the same thread, with nothing else dispatched
//! there in between, whose only flag is `false` and whose op is `override`. The agent's thread
//! then has tracing ask every subscriber again ([`rebuild_if_learned`]), and the collector turns
//! those callsites down (`Interest::never`): tokio no longer builds or dispatches them. Where
//! another subscriber still wants them (console-subscriber sharing the stack), or where no agent
//! thread runs to ask tracing again (the in-process leak check of `leakscope::testing`), the
//! collector drops them by address.
//!
//! Learning looks at values, not at line numbers, so a tokio whose `channel` sends something
//! else is simply not learned from; an update that says `true`, as every later one of a oneshot
//! does, never is.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use tracing_core::Metadata;
use tracing_core::field::{Field, Visit};

/// Callsites learned at most: a oneshot's four, with room for a tokio that sends more.
const PLACES: usize = 8;

/// The learned callsites' metadata (null for an empty place), filled in order.
static LEARNED: [AtomicPtr<Metadata<'static>>; PLACES] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; PLACES];

/// Set when a callsite was learned and tracing has not been asked again since.
static REBUILD: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The collector's id of the oneshot this thread made last, while nothing else has been
    /// dispatched on it since (0 otherwise): the window in which tokio reports its first state.
    static MAKING: Cell<u64> = const { Cell::new(0) };
}

/// Whether `meta` is a learned callsite: its events restate a new slot's flags.
#[inline]
pub(crate) fn is_restating(meta: &Metadata<'_>) -> bool {
    let meta = std::ptr::from_ref(meta);
    for place in &LEARNED {
        let learned = place.load(Ordering::Relaxed);
        if learned.is_null() {
            return false;
        }
        if std::ptr::eq(learned.cast_const(), meta.cast()) {
            return true;
        }
    }
    false
}

/// A oneshot `resource` (the collector's id) was just made on this thread.
pub(crate) fn made_oneshot(resource: u64) {
    let _ = MAKING.try_with(|m| m.set(resource));
}

/// A new span is being made on this thread, which ends the window of the oneshot made before
/// it: returns that oneshot (0 for none), whose receiver's operation is the span tokio makes
/// next inside `oneshot::channel`.
#[inline]
pub(crate) fn take_making() -> u64 {
    MAKING.try_with(|m| m.replace(0)).unwrap_or(0)
}

/// Whether `resource` is the oneshot this thread is making.
#[inline]
pub(crate) fn is_making(resource: u64) -> bool {
    resource != 0 && MAKING.try_with(Cell::get).is_ok_and(|m| m == resource)
}

/// Learns `meta`'s callsite if its event (whose fields `record` visits) restates a cleared
/// flag: one boolean, `false`, and its `.op`, `override`. Called for the state updates of a
/// oneshot that [`is_making`].
pub(crate) fn learn(meta: &'static Metadata<'static>, record: impl FnOnce(&mut dyn Visit)) {
    if is_restating(meta) {
        return;
    }
    let mut check = Check::default();
    record(&mut check);
    if !check.restates() {
        return;
    }
    let meta = std::ptr::from_ref(meta).cast_mut();
    for place in &LEARNED {
        match place.compare_exchange(
            std::ptr::null_mut(),
            meta,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                REBUILD.store(true, Ordering::Release);
                return;
            }
            // Another thread learned the same callsite first.
            Err(existing) if existing == meta => return,
            Err(_) => {}
        }
    }
}

/// Has tracing ask every subscriber about every callsite again if a callsite was learned since
/// the last call, so that the learned ones are turned down. Run on the agent's thread (its
/// heartbeat), never inside the app's dispatch.
pub(crate) fn rebuild_if_learned() {
    if REBUILD.swap(false, Ordering::AcqRel) {
        tracing_core::callsite::rebuild_interest_cache();
    }
}

/// What a state update says, as far as [`learn`] needs to know.
#[derive(Default)]
struct Check {
    bools: u32,
    any_true: bool,
    override_op: bool,
    other: bool,
}

impl Check {
    fn restates(&self) -> bool {
        self.bools == 1 && !self.any_true && self.override_op && !self.other
    }
}

impl Visit for Check {
    fn record_bool(&mut self, _field: &Field, value: bool) {
        self.bools += 1;
        self.any_true |= value;
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name().ends_with(".op") && value == "override" {
            self.override_op = true;
        } else {
            self.other = true;
        }
    }

    fn record_debug(&mut self, _field: &Field, _value: &dyn std::fmt::Debug) {
        self.other = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriber::Collector;

    fn learned() -> Vec<&'static Metadata<'static>> {
        LEARNED
            .iter()
            .map(|place| place.load(Ordering::Acquire))
            // SAFETY: only `&'static Metadata<'static>`s are stored.
            .filter_map(|meta| unsafe { meta.as_ref() })
            .collect()
    }

    /// Held by the tests that count the registry's slots or learn callsites: one at a time.
    static REGISTRY: std::sync::Mutex<()> = std::sync::Mutex::new(());

    #[test]
    fn a_oneshots_first_state_is_learned_from_tokio_and_turned_down() {
        let _one = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let registry = crate::registry::install(u64::MAX, 16);
        let dispatch = tracing_core::Dispatch::new(Collector::new(registry));
        tracing_core::dispatcher::with_default(&dispatch, || {
            // A lock's first state is not a oneshot's: nothing is learned from it.
            drop(tokio::sync::Mutex::new(0_u32));
            let first = tokio::sync::oneshot::channel::<u32>();
            let four = learned();
            assert_eq!(four.len(), 4, "{four:?}");
            let mut names: Vec<&str> =
                four.iter().map(|meta| meta.fields().iter().next().unwrap().name()).collect();
            names.sort_unstable();
            assert_eq!(names, ["rx_dropped", "tx_dropped", "value_received", "value_sent"]);
            for meta in &four {
                assert!(is_restating(meta));
                assert!(Collector::interest(meta).is_never(), "{meta:?}");
            }
            rebuild_if_learned();
            assert!(!REBUILD.load(Ordering::Acquire), "the rebuild was done");

            // What later oneshots report, which says `true`, is never learned.
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            tx.send(7).unwrap();
            drop(rx);
            drop(first);
            assert_eq!(learned(), four);
        });
    }

    #[test]
    fn only_a_single_cleared_flag_with_an_override_is_a_restatement() {
        let cases: [(&[(&str, Value)], bool); 5] = [
            (
                &[("tx_dropped", Value::Bool(false)), ("tx_dropped.op", Value::Str("override"))],
                true,
            ),
            (
                &[("tx_dropped", Value::Bool(true)), ("tx_dropped.op", Value::Str("override"))],
                false,
            ),
            (&[("permits", Value::U64(0)), ("permits.op", Value::Str("override"))], false),
            (&[("locked", Value::Bool(false)), ("locked.op", Value::Str("add"))], false),
            (&[("locked", Value::Bool(false))], false),
        ];
        for (fields, restates) in cases {
            let mut check = Check::default();
            for (name, value) in fields {
                let field = field_named(name);
                match value {
                    Value::Bool(b) => check.record_bool(&field, *b),
                    Value::Str(s) => check.record_str(&field, s),
                    Value::U64(n) => check.record_u64(&field, *n),
                }
            }
            assert_eq!(check.restates(), restates, "{fields:?}");
        }
    }

    /// `Registry::host_op`, with tokio's own oneshot: the receiver's operation shares the
    /// channel's slot, which is freed once every handle of both is closed, in either order.
    #[test]
    fn a_oneshot_and_its_receivers_operation_share_one_slot() {
        let _one = REGISTRY.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let registry = crate::registry::install(u64::MAX, 16);
        let dispatch = tracing_core::Dispatch::new(Collector::new(registry));
        tracing_core::dispatcher::with_default(&dispatch, || {
            let before = registry.spans.live();
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            assert_eq!(registry.spans.live(), before + 1, "one slot for the channel");
            drop(tx);
            assert_eq!(registry.spans.live(), before + 1, "the receiver holds both spans");
            drop(rx);
            assert_eq!(registry.spans.live(), before, "freed with the last handle");

            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            drop(rx);
            assert_eq!(registry.spans.live(), before + 1, "the sender holds the resource");
            drop(tx);
            assert_eq!(registry.spans.live(), before);
        });
    }

    #[derive(Debug)]
    enum Value {
        Bool(bool),
        Str(&'static str),
        U64(u64),
    }

    fn field_named(name: &str) -> Field {
        struct Cs;
        static FIELDS: &[&str] =
            &["tx_dropped", "tx_dropped.op", "permits", "permits.op", "locked", "locked.op"];
        static META: Metadata<'static> = tracing_core::metadata!(
            name: "test",
            target: "runtime::resource::state_update",
            level: tracing_core::Level::TRACE,
            fields: FIELDS,
            callsite: &Cs,
            kind: tracing_core::metadata::Kind::EVENT,
        );
        impl tracing_core::Callsite for Cs {
            fn set_interest(&self, _: tracing_core::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                &META
            }
        }
        META.fields().field(name).expect("a test field")
    }
}
