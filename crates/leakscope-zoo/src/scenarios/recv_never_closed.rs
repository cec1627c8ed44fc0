//! `recv-never-closed`: consumers loop on `recv` on channels whose senders are never dropped.
//!
//! What goes wrong: each request subscribes to price updates. It registers the sending half in a
//! process-wide subscriber list and spawns a task forwarding whatever arrives; the request ends,
//! but nothing unsubscribes it. A channel closes only when its last sender is dropped, and the
//! list keeps every sender for ever (and no update is ever published), so each forwarder waits in
//! `recv` for ever: one stuck task, and one list entry, per request.
//!
//! The fix: tie the sender's life to the request. Unsubscribe when the request ends (a guard whose
//! `Drop` removes the entry), let the publisher prune senders whose `is_closed()` is true, or keep
//! the sender alone and drop it, so that `recv` returns `None` and the loop ends.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::sync::{Mutex, PoisonError};
use tokio::sync::mpsc;

/// Every subscription ever made. Global, like the registries this mirrors, so it outlives the load.
static SUBSCRIBERS: Mutex<Vec<mpsc::Sender<u64>>> = Mutex::new(Vec::new());

pub(crate) async fn run(opts: &LoadOptions) {
    load::drive(Scenario::RecvNeverClosed, opts, handle).await;
}

async fn handle(_request: Request) {
    let (tx, rx) = mpsc::channel(16);
    SUBSCRIBERS.lock().unwrap_or_else(PoisonError::into_inner).push(tx);
    tokio::spawn(forward_updates(rx)); // zoo:spawn recv-never-closed
}

async fn forward_updates(mut rx: mpsc::Receiver<u64>) {
    // Ends only when every sender is gone, and the list above keeps one.
    loop {
        let Some(price) = rx.recv().await else { break }; // zoo:wait recv-never-closed
        std::hint::black_box(price);
    }
}
