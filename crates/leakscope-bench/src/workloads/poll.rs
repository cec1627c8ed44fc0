//! poll: one task per worker that does nothing but give up its turn; nanoseconds per poll.
//!
//! Each time the task gives up its turn it is polled again, so each iteration is one full poll:
//! the instrumentation's poll-enter and poll-exit, and its waker events. How the turn is given up
//! decides what else a poll costs, and the two workloads differ only in that ([`Pause`]):
//!
//! - `poll` awaits `tokio::task::yield_now`. tokio defers the task's wake until its worker next
//!   turns the I/O and timer driver, so with one task per worker every poll includes a driver
//!   turn (about 400 ns of tokio's own work on the benchmark machine). To defer the wake tokio
//!   clones the task's waker inside its poll, which is the event at which the leakscope agent
//!   captures a wait's await chain: each poll here also walks and interns a chain.
//! - `self-wake` awaits [`SelfWake`], which wakes its own task by reference and returns
//!   `Pending`. tokio's harness sees the wake as the poll returns and puts the task at the back of
//!   the worker's local queue, from which the worker takes it next; the driver is turned only
//!   every `event_interval` (61) scheduler ticks, and no waker is cloned. What is left is the
//!   scheduler's own cost of a poll, so the instrumentation's share of it shows undiluted.

use crate::cpu;
use crate::report::Report;
use anyhow::Context as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Polls between two looks at the clock.
const CHUNK: u64 = 1_000;

/// How the polled task gives up its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pause {
    /// `tokio::task::yield_now().await`: a driver turn and a waker clone per poll.
    Yield,
    /// [`SelfWake`]: back of the local queue, no driver turn, no waker clone.
    SelfWake,
}

/// Runs an untimed tenth of `budget` first, then `budget` timed. The figure is the wall time of
/// the timed run divided by the polls each worker did, so it stays per worker. The process's CPU
/// time over all polls is a supporting figure: other processes on the machine stretch wall time
/// much more than they stretch it.
pub(crate) async fn run(budget: Duration, pause: Pause) -> anyhow::Result<Report> {
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    let poll_on_every_worker = |budget| async move {
        match pause {
            Pause::Yield => on_every_worker(workers, budget, tokio::task::yield_now).await,
            Pause::SelfWake => on_every_worker(workers, budget, SelfWake::new).await,
        }
    };
    poll_on_every_worker(budget / 10).await?;
    let cpu_before = cpu::used();
    let start = Instant::now();
    let polls = poll_on_every_worker(budget).await?;
    let elapsed = start.elapsed();
    let cpu_per_poll = cpu::per(cpu_before, cpu::used(), polls);
    let per_worker = polls as f64 / workers as f64;
    Ok(Report::new(elapsed.as_nanos() as f64 / per_worker, "ns/poll")
        .with("polls", polls)
        .with("cpu_ns_per_poll", cpu_per_poll)
        .with("workers", workers as u64)
        .with("seconds", elapsed.as_secs_f64()))
}

/// Spawns one task per worker that awaits `pause()` until `budget` has passed; the pauses
/// awaited, over all tasks.
async fn on_every_worker<F>(
    workers: usize,
    budget: Duration,
    pause: fn() -> F,
) -> anyhow::Result<u64>
where
    F: Future<Output = ()> + Send + 'static,
{
    let deadline = Instant::now() + budget;
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            tokio::spawn(async move {
                let mut polls = 0u64;
                while Instant::now() < deadline {
                    for _ in 0..CHUNK {
                        pause().await;
                    }
                    polls += CHUNK;
                }
                polls
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        total += task.await.context("a polling task failed")?;
    }
    Ok(total)
}

/// A future that wakes its task by reference and returns `Pending` once, then is ready: awaiting
/// it costs its task exactly one more poll.
#[derive(Debug, Default)]
pub(crate) struct SelfWake {
    woken: bool,
}

impl SelfWake {
    pub(crate) fn new() -> Self {
        Self::default()
    }
}

impl Future for SelfWake {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.woken {
            return Poll::Ready(());
        }
        self.woken = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::{Pause, run};
    use std::time::Duration;

    /// Both pauses poll on a multi-thread runtime and report a positive cost per poll.
    #[test]
    fn each_pause_polls() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime starts");
        for pause in [Pause::Yield, Pause::SelfWake] {
            let report =
                runtime.block_on(run(Duration::from_millis(50), pause)).expect("the workload runs");
            assert_eq!(report.unit, "ns/poll");
            assert!(report.value > 0.0, "{pause:?}: {}", report.value);
            assert!(report.detail["polls"].as_u64().is_some_and(|p| p > 0), "{pause:?}");
        }
    }
}
