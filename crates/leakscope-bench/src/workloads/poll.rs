//! poll: one task per worker that does nothing but `yield_now`; nanoseconds per poll.
//!
//! `yield_now` makes the task wake itself and go back to the scheduler, so each iteration is one
//! full poll: the instrumentation's poll-enter and poll-exit, and its waker events.

use crate::report::Report;
use anyhow::Context as _;
use std::time::{Duration, Instant};

/// Yields between two looks at the clock.
const CHUNK: u64 = 1_000;

/// Runs an untimed tenth of `budget` first, then `budget` timed. The figure is the wall time of
/// the timed run divided by the polls each worker did, so it stays per worker.
pub(crate) async fn run(budget: Duration) -> anyhow::Result<Report> {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    yield_on_every_worker(workers, budget / 10).await?;
    let start = Instant::now();
    let polls = yield_on_every_worker(workers, budget).await?;
    let elapsed = start.elapsed();
    let per_worker = polls as f64 / workers as f64;
    Ok(Report::new(elapsed.as_nanos() as f64 / per_worker, "ns/poll")
        .with("polls", polls)
        .with("workers", workers as u64)
        .with("seconds", elapsed.as_secs_f64()))
}

async fn yield_on_every_worker(workers: usize, budget: Duration) -> anyhow::Result<u64> {
    let deadline = Instant::now() + budget;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            tokio::spawn(async move {
                let mut polls = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..CHUNK {
                        tokio::task::yield_now().await;
                    }
                    polls += CHUNK;
                }
                polls
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.context("a yielding task failed")?;
    }
    Ok(total)
}
