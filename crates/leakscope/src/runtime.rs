//! The app's tokio runtimes the agent reads metrics from and takes task dumps of, and the
//! heartbeat that tells a runtime making progress from one that is not.
//!
//! A serving agent spawns one small task on every registered runtime (from its own thread, so the
//! task is never recorded as the app's): it stores the agent clock's time every
//! [`HEARTBEAT_PERIOD`]. A heartbeat older than [`STALL_THRESHOLD`] means the runtime's workers
//! are not getting to their queues: a worker blocked in synchronous code, a busy loop, or a
//! runtime wedged for good (a task dump stuck in tokio's `steal_all`, tokio-rs/tokio#7478). The
//! runtime is then reported `stalled` in the handshake, every snapshot, the UI header and
//! `/metrics`, and the analysis does not read its tasks' idle times as the app's leaks. One task
//! per runtime, woken ten times a second, is the whole cost; it is counted in the runtime's
//! `alive_tasks`.

use leakscope_proto::v1::RuntimeMetrics;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::runtime::{Handle, RuntimeFlavor};

/// How often the heartbeat ticks.
pub(crate) const HEARTBEAT_PERIOD: Duration = Duration::from_millis(100);
/// A heartbeat older than this marks its runtime stalled: ten missed beats.
pub(crate) const STALL_THRESHOLD: Duration = Duration::from_secs(1);

/// A registered runtime.
struct Registered {
    handle: Handle,
    /// Agent-clock time of the last beat; 0 before the first.
    beat: Arc<AtomicU64>,
    heartbeat_started: AtomicBool,
}

static RUNTIMES: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

/// Registers a runtime for metrics and task dumps. [`Builder::try_init`](crate::Builder::try_init)
/// registers the runtime it is called in; call this for others (or when the agent was started
/// before the runtime existed). Registering the same runtime twice has no effect (with
/// `--cfg tokio_unstable`, which gives runtimes an id).
pub fn register_runtime(handle: &Handle) {
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    if !runtimes.iter().any(|known| same_runtime(&known.handle, handle)) {
        runtimes.push(Registered {
            handle: handle.clone(),
            beat: Arc::new(AtomicU64::new(0)),
            heartbeat_started: AtomicBool::new(false),
        });
    }
}

/// Starts the heartbeat on every registered runtime that has none yet. Called on the agent's own
/// thread, so that the heartbeat tasks are never recorded as the app's.
pub(crate) fn start_heartbeats() {
    let runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    for runtime in runtimes.iter() {
        if runtime.heartbeat_started.swap(true, Ordering::AcqRel) {
            continue;
        }
        let beat = Arc::clone(&runtime.beat);
        runtime.handle.spawn(async move {
            loop {
                beat.store(crate::clock::now().max(1), Ordering::Relaxed);
                tokio::time::sleep(HEARTBEAT_PERIOD).await;
            }
        });
    }
}

/// Whether any registered runtime's heartbeat is late: a task dump now could wedge it for good.
#[cfg_attr(
    not(tokio_unstable),
    expect(dead_code, reason = "only task dumps ask, and they need tokio_unstable")
)]
pub(crate) fn any_stalled() -> bool {
    metrics().iter().any(|m| m.stalled)
}

#[cfg(tokio_unstable)]
fn same_runtime(a: &Handle, b: &Handle) -> bool {
    a.id() == b.id()
}

#[cfg(not(tokio_unstable))]
fn same_runtime(_: &Handle, _: &Handle) -> bool {
    // Stable tokio has no runtime id to compare; a second registration is listed twice.
    false
}

/// The registered runtimes, with their 1-based registration number.
pub(crate) fn runtimes() -> Vec<(u32, Handle)> {
    let runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    runtimes.iter().enumerate().map(|(i, r)| (i as u32 + 1, r.handle.clone())).collect()
}

/// Each runtime's heartbeat: (age in agent-clock nanoseconds, stalled); `None` when it has no
/// heartbeat (no agent is serving) or has not beaten yet.
fn heartbeats() -> Vec<Option<(u64, bool)>> {
    let now = crate::clock::now();
    let threshold = STALL_THRESHOLD.as_nanos() as u64;
    let runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    runtimes
        .iter()
        .map(|r| {
            let beat = r.beat.load(Ordering::Relaxed);
            (r.heartbeat_started.load(Ordering::Relaxed) && beat != 0).then(|| {
                let age = now.saturating_sub(beat);
                (age, age > threshold)
            })
        })
        .collect()
}

pub(crate) fn metrics() -> Vec<RuntimeMetrics> {
    let beats = heartbeats();
    runtimes()
        .into_iter()
        .map(|(runtime_id, handle)| {
            let m = handle.metrics();
            let flavor = match handle.runtime_flavor() {
                RuntimeFlavor::CurrentThread => "current_thread",
                RuntimeFlavor::MultiThread => "multi_thread",
                _ => "other",
            };
            let mut out = RuntimeMetrics {
                runtime_id,
                flavor: flavor.into(),
                workers: m.num_workers() as u32,
                alive_tasks: m.num_alive_tasks() as u64,
                global_queue_depth: m.global_queue_depth() as u64,
                ..RuntimeMetrics::default()
            };
            unstable_metrics(&m, &mut out);
            if let Some(Some((age, stalled))) = beats.get(runtime_id as usize - 1) {
                out.heartbeat_age_nanos = *age;
                out.stalled = *stalled;
            }
            out
        })
        .collect()
}

#[cfg(tokio_unstable)]
fn unstable_metrics(m: &tokio::runtime::RuntimeMetrics, out: &mut RuntimeMetrics) {
    out.blocking_threads = m.num_blocking_threads() as u64;
    out.idle_blocking_threads = m.num_idle_blocking_threads() as u64;
    out.blocking_queue_depth = m.blocking_queue_depth() as u64;
    out.spawned_tasks_total = m.spawned_tasks_count();
}

#[cfg(not(tokio_unstable))]
fn unstable_metrics(_: &tokio::runtime::RuntimeMetrics, _: &mut RuntimeMetrics) {}
