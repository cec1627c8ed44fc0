//! `blocking-in-async`: a blocking sleep and a CPU-bound loop run on the runtime's worker threads.
//!
//! What goes wrong: each request renders a report in a task that calls `std::thread::sleep` (a
//! stand-in for a blocking file or database call) and then hashes for a while, both inside async
//! code. Neither yields: the worker thread running them can poll nothing else meanwhile, so timers
//! fire late and every other task on that worker waits. At 20 requests per second this is a whole
//! worker thread's worth of blocking.
//!
//! The fix: move blocking and CPU-bound work off the async workers, with
//! `tokio::task::spawn_blocking` (or a dedicated thread pool such as rayon for CPU work), and use
//! the async form of the I/O (`tokio::time::sleep`, `tokio::fs`, an async driver); see `clean`.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long the blocking call takes.
const BLOCKING_CALL: Duration = Duration::from_millis(50);
/// How long the CPU-bound part takes.
const CPU_WORK: Duration = Duration::from_millis(5);

pub(crate) async fn run(opts: &LoadOptions) {
    load::drive(Scenario::BlockingInAsync, opts, handle).await;
}

async fn handle(request: Request) {
    tokio::spawn(render_report(request.seq)); // zoo:spawn blocking-in-async
}

async fn render_report(seq: u64) {
    std::thread::sleep(BLOCKING_CALL); // zoo:blocking blocking-in-async
    black_box(burn_cpu(seq, CPU_WORK));
}

/// Hashes for `budget` of wall time. Not inlined, so that it keeps its own name in CPU profiles
/// and task dumps.
#[inline(never)]
fn burn_cpu(seed: u64, budget: Duration) -> u64 {
    let start = Instant::now();
    let mut state = seed | 1;
    // Checking the clock only every few thousand rounds keeps the time in the hashing itself.
    while start.elapsed() < budget {
        for _ in 0..4096 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state = black_box(state);
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burn_cpu_takes_its_budget() {
        let start = Instant::now();
        burn_cpu(7, Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
