//! `missing-cancellation`: a ticker started for a request runs on after the request ends.
//!
//! What goes wrong: each request starts a heartbeat, a task ticking every 100 ms to report
//! progress, and then does its work and returns. Nothing tells the heartbeat the request is over:
//! dropping a `JoinHandle` does not cancel the task, so it ticks for ever. Live tasks, and timer
//! wake-ups per second, grow with every request served.
//!
//! The fix: give the background task a way to stop and use it when the request ends: a
//! `CancellationToken` (with `drop_guard()` so that an early return or a cancelled request stops
//! it too) selected against the tick, or `AbortHandle::abort` on the way out; see `clean`.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::hint::black_box;
use std::time::Duration;

/// Heartbeat period.
const TICK: Duration = Duration::from_millis(100);
/// How long a request's own work takes.
const WORK: Duration = Duration::from_millis(20);

pub(crate) async fn run(opts: &LoadOptions) {
    load::drive(Scenario::MissingCancellation, opts, handle).await;
}

async fn handle(request: Request) {
    tokio::spawn(heartbeat(request.seq)); // zoo:spawn missing-cancellation
    tokio::time::sleep(WORK).await;
    // Returns here; the heartbeat is never told.
}

async fn heartbeat(seq: u64) {
    let mut ticker = tokio::time::interval(TICK);
    let mut beats = 0_u64;
    loop {
        ticker.tick().await; // zoo:wait missing-cancellation
        beats = black_box(beats.wrapping_add(seq));
    }
}
