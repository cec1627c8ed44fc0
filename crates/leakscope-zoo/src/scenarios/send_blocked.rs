//! `send-blocked`: producers stuck in `send` on a full bounded channel nobody drains.
//!
//! What goes wrong: each request hands an event to a background consumer through
//! `mpsc::channel(8)`, from a task that awaits `tx.send(..)`. The consumer handles a few events,
//! then pauses (its downstream pushed back) and waits to be resumed, still holding the receiver;
//! the resume path was never wired up. The channel is open and full, so every later `send` waits
//! for room that never comes, one stuck task per request.
//!
//! The fix: never wait unboundedly for room. Bound the send (`timeout(d, tx.send(x))`), or use
//! `try_send` and shed the event, or close the receiver when the consumer stops reading
//! (`rx.close()`, or drop it) so that senders get an error instead of a wait.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::sync::Arc;
use tokio::sync::{Notify, mpsc};

/// Room in the channel.
const CAPACITY: usize = 8;
/// Events the consumer handles before it pauses.
const HANDLED_BEFORE_PAUSE: usize = 4;

pub(crate) async fn run(opts: &LoadOptions) {
    let (tx, rx) = mpsc::channel(CAPACITY);
    // Nothing ever calls `notify_one` on this: that is the bug.
    let resume = Arc::new(Notify::new());
    tokio::spawn(consume(rx, resume));
    load::drive(Scenario::SendBlocked, opts, |request| handle(tx.clone(), request)).await;
}

async fn handle(tx: mpsc::Sender<u64>, request: Request) {
    tokio::spawn(publish(tx, request.seq)); // zoo:spawn send-blocked
}

async fn publish(tx: mpsc::Sender<u64>, event: u64) {
    // Waits for room in the channel, for as long as it takes.
    let _ = tx.send(event).await; // zoo:wait send-blocked
}

async fn consume(mut rx: mpsc::Receiver<u64>, resume: Arc<Notify>) {
    for _ in 0..HANDLED_BEFORE_PAUSE {
        let Some(event) = rx.recv().await else { return };
        std::hint::black_box(event);
    }
    // Paused, with `rx` still alive: the channel stays open, so senders wait instead of failing.
    resume.notified().await;
    while let Some(event) = rx.recv().await {
        std::hint::black_box(event);
    }
}
