//! ping-pong: pairs of tasks handing a number back and forth over `tokio::sync::mpsc`;
//! nanoseconds per round trip.
//!
//! Each round trip parks each task of the pair once: its receive finds the channel empty,
//! registers the task's waker with the channel (tokio clones it: the `waker.clone` event inside
//! the task's own poll at which the leakscope agent walks and interns the await chain) and
//! returns `Pending`; the other task's send wakes it. A wake from a worker schedules the woken
//! task on that same worker, so a pair settles on one worker and each round trip is two polls,
//! two parks and two wakes, with no driver turn in between (tokio turns its driver every 61
//! scheduler ticks). Unbounded channels, because their send never waits and tokio attaches no
//! resource instrumentation of its own to them: the park is the only wait in the loop.

use crate::cpu;
use crate::report::Report;
use anyhow::Context as _;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Round trips between two looks at the clock.
const CHUNK: u64 = 1_000;

/// Round trips and parks, summed over the pairs.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    round_trips: u64,
    /// Receives that found the channel empty and so left their task parked on it.
    parks: u64,
}

/// Runs one pair per worker for an untimed tenth of `budget`, then `budget` timed. The figure is
/// the wall time of the timed run divided by the round trips each pair made; the process's CPU
/// time per round trip is a supporting figure, as in the poll workloads.
pub(crate) async fn run(budget: Duration) -> anyhow::Result<Report> {
    let pairs = tokio::runtime::Handle::current().metrics().num_workers();
    ping_pong(pairs, budget / 10).await?;
    let cpu_before = cpu::used();
    let start = Instant::now();
    let counts = ping_pong(pairs, budget).await?;
    let elapsed = start.elapsed();
    let cpu_per_round_trip = cpu::per(cpu_before, cpu::used(), counts.round_trips);
    let per_pair = counts.round_trips as f64 / pairs as f64;
    Ok(Report::new(elapsed.as_nanos() as f64 / per_pair, "ns/round trip")
        .with("round_trips", counts.round_trips)
        .with("cpu_ns_per_round_trip", cpu_per_round_trip)
        .with("pairs", pairs as u64)
        .with("parks_per_round_trip", counts.parks as f64 / counts.round_trips.max(1) as f64)
        .with("seconds", elapsed.as_secs_f64()))
}

/// Starts `pairs` pairs, each until `budget` has passed.
async fn ping_pong(pairs: usize, budget: Duration) -> anyhow::Result<Counts> {
    let deadline = Instant::now() + budget;
    let handles: Vec<_> = (0..pairs)
        .map(|_| {
            let (to_echo, from_pinger) = mpsc::unbounded_channel::<u64>();
            let (to_pinger, from_echo) = mpsc::unbounded_channel::<u64>();
            let echo = tokio::spawn(echo(from_pinger, to_pinger));
            let pinger = tokio::spawn(ping(to_echo, from_echo, deadline));
            (pinger, echo)
        })
        .collect();
    let mut total = Counts::default();
    for (pinger, echo) in handles {
        let pinged = pinger.await.context("a pinging task failed")??;
        let echo_parks = echo.await.context("an echoing task failed")?;
        total.round_trips += pinged.round_trips;
        total.parks += pinged.parks + echo_parks;
    }
    Ok(total)
}

/// Sends a number and waits for it to come back, until `deadline`.
async fn ping(
    to_echo: mpsc::UnboundedSender<u64>,
    mut from_echo: mpsc::UnboundedReceiver<u64>,
    deadline: Instant,
) -> anyhow::Result<Counts> {
    let mut counts = Counts::default();
    while Instant::now() < deadline {
        for _ in 0..CHUNK {
            to_echo.send(counts.round_trips).context("the echoing task is gone")?;
            let back = recv(&mut from_echo, &mut counts.parks).await;
            anyhow::ensure!(back == Some(counts.round_trips), "the echo sent {back:?}");
            counts.round_trips += 1;
        }
    }
    // Dropping the sender ends the echo.
    Ok(counts)
}

/// Sends back whatever arrives until the pinger hangs up; how often it parked.
async fn echo(
    mut from_pinger: mpsc::UnboundedReceiver<u64>,
    to_pinger: mpsc::UnboundedSender<u64>,
) -> u64 {
    let mut parks = 0;
    while let Some(n) = recv(&mut from_pinger, &mut parks).await {
        if to_pinger.send(n).is_err() {
            break;
        }
    }
    parks
}

/// Receives one message, counting the polls that found the channel empty.
async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, parks: &mut u64) -> Option<T> {
    std::future::poll_fn(|cx| {
        let polled = rx.poll_recv(cx);
        if polled.is_pending() {
            *parks += 1;
        }
        polled
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::run;
    use std::time::Duration;

    /// The pairs hand their numbers back and forth, parking about once per task and round trip.
    #[test]
    fn pairs_park_on_every_round_trip() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime starts");
        let report = runtime.block_on(run(Duration::from_millis(50))).expect("the workload runs");
        assert_eq!(report.unit, "ns/round trip");
        assert!(report.detail["round_trips"].as_u64().is_some_and(|n| n > 0));
        let parks = report.detail["parks_per_round_trip"].as_f64().expect("parks are counted");
        assert!((1.0..=2.5).contains(&parks), "{parks} parks per round trip");
    }
}
