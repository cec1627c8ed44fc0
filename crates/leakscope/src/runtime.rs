//! The app's tokio runtimes the agent reads metrics from and takes task dumps of.

use leakscope_proto::v1::RuntimeMetrics;
use std::sync::{Mutex, PoisonError};
use tokio::runtime::{Handle, RuntimeFlavor};

static RUNTIMES: Mutex<Vec<Handle>> = Mutex::new(Vec::new());

/// Registers a runtime for metrics and task dumps. [`Builder::try_init`](crate::Builder::try_init)
/// registers the runtime it is called in; call this for others (or when the agent was started
/// before the runtime existed). Registering the same runtime twice has no effect (with
/// `--cfg tokio_unstable`, which gives runtimes an id).
pub fn register_runtime(handle: &Handle) {
    let mut runtimes = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    if !runtimes.iter().any(|known| same_runtime(known, handle)) {
        runtimes.push(handle.clone());
    }
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
    runtimes.iter().enumerate().map(|(i, h)| (i as u32 + 1, h.clone())).collect()
}

pub(crate) fn metrics() -> Vec<RuntimeMetrics> {
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
