//! One module per scenario: its setup, its request handler, and what goes wrong in it.

pub(crate) mod blocking_in_async;
pub(crate) mod clean;
pub(crate) mod deadlock;
pub(crate) mod lock_held_across_await;
pub(crate) mod lost_waker;
pub(crate) mod missing_cancellation;
pub(crate) mod no_timeout_upstream;
pub(crate) mod recv_never_closed;
pub(crate) mod send_blocked;
pub(crate) mod unbounded_spawn;
