//! idle memory: tasks parked on `oneshot` receivers; resident bytes per live task.

use crate::report::Report;
use crate::rss;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Growth under which memory counts as settled: 2 MiB over a one-second window (20 bytes a task
/// at 100,000 tasks).
const TOLERANCE: u64 = 2 << 20;

/// Measures RSS once the instrumentation has settled after start-up, parks `tasks` tasks, waits
/// for every one to have been polled (and so to be parked), lets memory settle again (bounded by
/// `limit`) and reports the growth per task. Returns the senders too: the tasks stay parked until
/// the caller drops them, so that the instrumentation can be asked about them first.
pub(crate) async fn run(
    tasks: usize,
    limit: Duration,
) -> anyhow::Result<(Report, Vec<oneshot::Sender<()>>)> {
    // Let the instrumentation's own threads finish starting before the baseline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = rss::settle(TOLERANCE, limit).await;

    let spawn_started = Instant::now();
    let senders = super::park::park(tasks, limit).await?;
    let parked_after = spawn_started.elapsed();
    let after = rss::settle(TOLERANCE, limit).await;
    let per_task = after.rss.saturating_sub(before.rss) as f64 / tasks as f64;
    let report = Report::new(per_task, "bytes/task")
        .with("tasks", tasks as u64)
        .with("rss_before", before.rss)
        .with("rss_after", after.rss)
        .with("spawned_and_parked_seconds", parked_after.as_secs_f64())
        .with("settled", after.settled)
        .with("settle_seconds", after.waited.as_secs_f64());
    Ok((report, senders))
}
