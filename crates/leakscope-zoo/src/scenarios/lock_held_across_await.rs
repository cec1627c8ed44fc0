//! `lock-held-across-await`: a mutex guard held across slow work, so tasks queue on the lock.
//!
//! What goes wrong: each request refreshes a shared cache entry in a background task that locks
//! the cache, then fetches the new value (200 ms) with the guard still held, then writes it. The
//! lock serialises the fetches: five per second get through, and at 20 requests per second the
//! other fifteen join a queue on `lock()` that only grows.
//!
//! The fix: keep the critical section to the update. Fetch first without the lock, then lock,
//! write and drop the guard (re-checking if the entry changed meanwhile), or use finer locks (per
//! key) so unrelated refreshes do not wait on each other; see `clean`.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// How long fetching a new value takes.
const FETCH_TIME: Duration = Duration::from_millis(200);

type Cache = Arc<Mutex<HashMap<u64, u64>>>;

pub(crate) async fn run(opts: &LoadOptions) {
    let cache = Cache::default(); // zoo:lock lock-held-across-await
    load::drive(Scenario::LockHeldAcrossAwait, opts, |request| handle(cache.clone(), request))
        .await;
}

async fn handle(cache: Cache, request: Request) {
    tokio::spawn(refresh(cache, request.seq)); // zoo:spawn lock-held-across-await
}

async fn refresh(cache: Cache, seq: u64) {
    let mut entries = cache.lock().await; // zoo:wait lock-held-across-await
    // The slow part, with the guard held: every other refresh waits behind it.
    tokio::time::sleep(FETCH_TIME).await;
    entries.insert(seq % 64, seq);
}
