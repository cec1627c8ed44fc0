//! Parked tasks, for the idle and burst workloads: each waits on its own `oneshot` receiver.

use anyhow::{Context as _, bail};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The parked tasks' spawn location, as the instrumentation records it (`loc.file` ends with
/// this): what the workloads count the instrumentation's view by.
pub(crate) const FILE: &str = "workloads/park.rs";

/// Spawns `tasks` tasks from one task without pausing, each parked on its own receiver, and waits
/// (at most `limit`) until every one has been polled. The tasks stay parked until the returned
/// senders are dropped.
pub(crate) async fn park(
    tasks: usize,
    limit: Duration,
) -> anyhow::Result<Vec<oneshot::Sender<()>>> {
    let started = Arc::new(AtomicUsize::new(0));
    let senders = {
        let started = Arc::clone(&started);
        tokio::spawn(async move {
            let mut senders = Vec::with_capacity(tasks);
            for _ in 0..tasks {
                let (tx, rx) = oneshot::channel::<()>();
                senders.push(tx);
                let started = Arc::clone(&started);
                tokio::spawn(async move {
                    started.fetch_add(1, Ordering::Relaxed);
                    let _ = rx.await;
                });
            }
            senders
        })
        .await
        .context("the spawning task failed")?
    };
    let parked_by = Instant::now() + limit;
    while started.load(Ordering::Relaxed) < tasks {
        if Instant::now() > parked_by {
            bail!(
                "only {} of {tasks} tasks started within {limit:?}",
                started.load(Ordering::Relaxed)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(senders)
}
