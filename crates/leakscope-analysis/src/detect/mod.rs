//! The detectors, one file each. [`crate::analyze`] runs them in [`crate::FindingKind::ALL`]
//! order; each says what data it needs (`unevaluable`) and what it found (`detect`).

pub(crate) mod blocking;
pub(crate) mod deadlock;
pub(crate) mod growth;
pub(crate) mod large_future;
pub(crate) mod lock_contention;
pub(crate) mod lost_waker;
pub(crate) mod self_wake;
pub(crate) mod stuck;
pub(crate) mod uncancelled;
