//! Every scenario against a real runtime: the leaking ones leave tasks behind (or, for
//! blocking-in-async, stall the runtime); `clean` stays flat and leaves nothing.

use crate::support::{alive, run_sampling, settle_to};
use leakscope_zoo::{LoadOptions, Scenario};
use std::time::{Duration, Instant};

fn load(rate: u32, millis: u64) -> LoadOptions {
    LoadOptions { rate, duration: Duration::from_millis(millis) }
}

/// Runs `scenario` on a fresh two-worker runtime and checks that at least `min_left` more tasks
/// are alive once its load has stopped than before it started.
fn check_leaves_behind(scenario: Scenario, opts: LoadOptions, min_left: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let before = alive();
        leakscope_zoo::run(&[scenario], &opts).await.expect("the scenario starts");
        let left = alive().saturating_sub(before);
        assert!(left >= min_left, "{scenario}: {left} tasks left behind, expected {min_left}+");
    });
}

// 40 requests per second for a second: 40 requests, each leaking one task unless said otherwise.
// The thresholds leave room for ticks a busy test machine skips; a scenario that did not leak would
// leave at most the two or three requests of its last 50 ms.

#[test]
fn unbounded_spawn_leaves_its_jobs() {
    check_leaves_behind(Scenario::UnboundedSpawn, load(40, 1000), 30);
}

#[test]
fn no_timeout_upstream_leaves_its_workers() {
    check_leaves_behind(Scenario::NoTimeoutUpstream, load(40, 1000), 30);
}

#[test]
fn send_blocked_leaves_its_producers() {
    // The consumer takes 4 events and the channel holds 8: those 12 producers finish.
    check_leaves_behind(Scenario::SendBlocked, load(40, 1000), 40 - 12 - 8);
}

#[test]
fn recv_never_closed_leaves_its_consumers() {
    check_leaves_behind(Scenario::RecvNeverClosed, load(40, 1000), 30);
}

#[test]
fn missing_cancellation_leaves_its_tickers() {
    check_leaves_behind(Scenario::MissingCancellation, load(40, 1000), 30);
}

#[test]
fn lost_waker_leaves_its_sleepers() {
    // A working future would be done 50 ms after its request; only the last two could remain.
    check_leaves_behind(Scenario::LostWaker, load(40, 1000), 30);
}

#[test]
fn lock_held_across_await_leaves_a_queue() {
    // Five refreshes a second get through the lock; the rest queue.
    check_leaves_behind(Scenario::LockHeldAcrossAwait, load(40, 1000), 40 - 5 - 10);
}

#[test]
fn deadlock_leaves_its_pairs() {
    // One deadlock of each kind per 40 requests (0, 40, 80), two tasks each; at least two rounds.
    check_leaves_behind(Scenario::Deadlock, load(40, 2500), 2 * 2 * 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_stays_flat_and_leaves_nothing() {
    let before = alive();
    let samples = run_sampling(Scenario::Clean, &load(50, 3000), Duration::from_millis(50)).await;
    // Requests live ~25 ms, background jobs 200 ms and at most 8: about 15 tasks at 50 req/s. A
    // leak of one task per request would pass 40 within a second.
    let peak = samples.iter().max().copied().unwrap_or(0).saturating_sub(before);
    assert!(peak <= 40, "clean peaked at {peak} tasks: {samples:?}");
    assert!(samples.len() >= 40, "too few samples to judge: {samples:?}");

    let left = settle_to(before, Duration::from_secs(2)).await.saturating_sub(before);
    assert_eq!(left, 0, "clean left {left} tasks behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbounded_spawn_grows_with_load() {
    let before = alive();
    let samples =
        run_sampling(Scenario::UnboundedSpawn, &load(50, 2000), Duration::from_millis(100)).await;
    let grown: Vec<usize> = samples.iter().map(|n| n.saturating_sub(before)).collect();
    let (early, late) = (grown[grown.len() / 4], grown[grown.len() - 1]);
    assert!(late >= 70, "only {late} tasks after ~100 requests: {grown:?}");
    assert!(late >= 2 * early.max(1), "no growth from {early} to {late}: {grown:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_in_async_stalls_the_runtime() {
    let opts = load(20, 1000);
    let run = leakscope_zoo::run(&[Scenario::BlockingInAsync], &opts);
    tokio::pin!(run);
    // A 5 ms timer on the same (single) thread: how late does it fire?
    let mut worst = Duration::ZERO;
    loop {
        let asked = Instant::now();
        tokio::select! {
            result = &mut run => {
                result.expect("the scenario starts");
                break;
            }
            () = tokio::time::sleep(Duration::from_millis(5)) => {
                worst = worst.max(asked.elapsed().saturating_sub(Duration::from_millis(5)));
            }
        }
    }
    // Each request blocks the thread for 50 ms (plus 5 ms of hashing) without yielding.
    assert!(worst >= Duration::from_millis(40), "timers were at most {worst:?} late");
}
