//! Facts about the process the agent learns at start-up and reports in `Hello`, so that a client
//! (`leakscope doctor`, and the one-line summary in snapshot, attach and gate) can say what the
//! agent cannot see and the fix.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set when `init` found another global tracing subscriber already installed, so tokio's
/// instrumentation does not reach the agent.
static FOREIGN_SUBSCRIBER: AtomicBool = AtomicBool::new(false);

/// Records that the app had installed its own global subscriber before `init`.
pub(crate) fn note_foreign_subscriber() {
    FOREIGN_SUBSCRIBER.store(true, Ordering::Relaxed);
}

/// Whether `init` found another global subscriber in place (the agent then sees no tasks).
pub(crate) fn foreign_subscriber() -> bool {
    FOREIGN_SUBSCRIBER.load(Ordering::Relaxed)
}
