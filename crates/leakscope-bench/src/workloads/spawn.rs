//! spawn-and-finish: spawn trivial tasks in batches and await them; nanoseconds per task.

use crate::report::Report;
use anyhow::Context as _;
use std::time::{Duration, Instant};

/// Tasks spawned before each round of awaiting, as a server spawns per accepted request.
const BATCH: usize = 1_000;
/// At least this many batches are timed, however slow the instrumentation.
const MIN_BATCHES: u64 = 3;
/// At most this many tasks are timed, however fast.
const MAX_TASKS: u64 = 20_000_000;

/// Times batches for about `budget`, after one untimed batch that lets every mode allocate its
/// first pages and intern the spawn location.
pub(crate) async fn run(budget: Duration) -> anyhow::Result<Report> {
    // The driver is itself a task, so spawns go to a worker's local queue as in a real app.
    let (tasks, elapsed) = tokio::spawn(async move {
        batch().await;
        let start = Instant::now();
        let mut batches = 0u64;
        while batches < MIN_BATCHES
            || (start.elapsed() < budget && batches * (BATCH as u64) < MAX_TASKS)
        {
            batch().await;
            batches += 1;
        }
        (batches * BATCH as u64, start.elapsed())
    })
    .await
    .context("the spawning task failed")?;
    let ns_per_task = elapsed.as_nanos() as f64 / tasks as f64;
    Ok(Report::new(ns_per_task, "ns/task")
        .with("tasks", tasks)
        .with("batch", BATCH as u64)
        .with("seconds", elapsed.as_secs_f64()))
}

async fn batch() {
    let mut handles = Vec::with_capacity(BATCH);
    for i in 0..BATCH {
        handles.push(tokio::spawn(async move { std::hint::black_box(i) }));
    }
    for handle in handles {
        // A trivial task cannot fail; a join error would only mean the runtime is shutting down.
        let _ = handle.await;
    }
}
