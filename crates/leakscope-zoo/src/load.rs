//! The synthetic load: a bounded loop issuing requests at a fixed rate, each in its own task and
//! `request` span, the way a server runs one task per connection.

use crate::Scenario;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{self, MissedTickBehavior};
use tracing::Instrument;

/// How long, after the load stops, requests still in flight get to finish before they are
/// aborted. Every handler in the zoo returns within a fraction of this; it only guards against a
/// handler that hangs, which would otherwise keep [`run`](crate::run) from returning.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// How much load a scenario serves, and for how long.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// Requests per second. 0 is treated as 1.
    pub rate: u32,
    /// The load stops by itself after this long.
    pub duration: Duration,
}

impl Default for LoadOptions {
    /// 20 requests per second for 30 minutes, as the command line defaults.
    fn default() -> Self {
        Self { rate: 20, duration: Duration::from_secs(1800) }
    }
}

impl LoadOptions {
    /// Requests per second, at least 1.
    pub(crate) fn rate(&self) -> u32 {
        self.rate.max(1)
    }

    /// Time between two requests.
    fn period(&self) -> Duration {
        Duration::from_secs(1) / self.rate()
    }
}

/// One request of the load, as its handler sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Request {
    /// Position in the load, from 0.
    pub(crate) seq: u64,
}

/// Serves `opts.rate` requests per second for `opts.duration`, each in its own task running
/// `handle(request)` inside a `request` span, then waits for the requests still in flight.
///
/// The span is what lets leakscope name the request under which a leaked task was spawned: the
/// handler runs with it entered, so every task it spawns starts as its child.
pub(crate) async fn drive<H, F>(scenario: Scenario, opts: &LoadOptions, mut handle: H)
where
    H: FnMut(Request) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut ticks = time::interval(opts.period());
    // A runtime stalled by a leak (blocking-in-async, say) must not be answered with a burst of
    // catch-up requests: a stalled server receives fewer requests, not more.
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let stop = time::sleep(opts.duration);
    tokio::pin!(stop);

    let mut in_flight = JoinSet::new();
    let mut seq = 0;
    loop {
        tokio::select! {
            biased;
            () = &mut stop => break,
            Some(done) = in_flight.join_next() => propagate_panic(done),
            _ = ticks.tick() => {
                let span = tracing::info_span!("request", scenario = scenario.name(), seq);
                in_flight.spawn(handle(Request { seq }).instrument(span));
                seq += 1;
            }
        }
    }

    let drained = time::timeout(DRAIN_GRACE, async {
        while let Some(done) = in_flight.join_next().await {
            propagate_panic(done);
        }
    });
    // On timeout the JoinSet is dropped, which aborts what is left.
    let _ = drained.await;
}

/// A panicking handler is a bug in the zoo, not a leak to show: let it fail the caller.
fn propagate_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(rate: u32, expected_period: Duration) {
        let opts = LoadOptions { rate, duration: Duration::ZERO };
        assert_eq!(opts.period(), expected_period, "rate {rate}");
    }

    #[test]
    fn period_follows_the_rate() {
        check(1, Duration::from_secs(1));
        check(20, Duration::from_millis(50));
        check(1000, Duration::from_millis(1));
        check(0, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn issues_rate_times_duration_requests_then_stops() {
        let opts = LoadOptions { rate: 20, duration: Duration::from_millis(1000) };
        let served = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = served.clone();
        drive(Scenario::Clean, &opts, move |_| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
        .await;
        // Ticks at 0, 50, ..., 950 ms; the one at 1000 ms races the stop and loses (biased).
        assert_eq!(served.load(std::sync::atomic::Ordering::Relaxed), 20);
    }

    #[tokio::test]
    #[should_panic(expected = "handler bug")]
    async fn a_panicking_handler_fails_the_load() {
        let opts = LoadOptions { rate: 100, duration: Duration::from_secs(5) };
        drive(Scenario::Clean, &opts, |_| async { panic!("handler bug") }).await;
    }
}
