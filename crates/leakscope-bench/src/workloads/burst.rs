//! burst accounting: 2,000 idle tasks spawned in one burst; how many the instrumentation's own
//! client is shown alive.

use super::park::{FILE, park};
use crate::instrument::{Installed, Unavailable};
use crate::observe::{self, ConsoleWatch};
use crate::report::Report;
use std::time::Duration;
use tokio::sync::oneshot;

/// Spawns `tasks` idle tasks from one task without pausing, waits (at most `limit`) until all are
/// parked, then asks the instrumentation: leakscope's agent until its answer settles (at most
/// `limit`), console-api's view until it settles or `watch_limit` passes. The console-api watch is
/// attached before the burst, as a tokio-console would be. Returns the senders too: the tasks stay
/// parked until the caller drops them.
pub(crate) async fn run(
    tasks: usize,
    installed: Installed,
    limit: Duration,
    watch_limit: Duration,
) -> anyhow::Result<(Report, Vec<oneshot::Sender<()>>)> {
    if installed.agent.is_none() && installed.console.is_none() {
        return Err(Unavailable("plain tokio has nothing to ask how many tasks it sees").into());
    }
    let console = match installed.console {
        Some(addr) => Some(ConsoleWatch::start(addr, FILE, watch_limit).await?),
        None => None,
    };

    let senders = park(tasks, limit).await?;

    // leakscope's own API gives the figure where there is an agent; console-api's view is the
    // figure for console-subscriber, and a second view of leakscope's `console` feature.
    let mut report = Report::new(0.0, "tasks").with("spawned", tasks as u64);
    if let Some(console) = console {
        let view = console.finish().await?;
        report.value = view.alive_at as f64;
        report = report
            .with("console_api_seen", view.alive_at)
            .with("console_api_alive_anywhere", view.alive)
            .with("console_dropped_events", view.dropped_events)
            .with("console_api_updates_after_burst", view.updates as u64)
            .with("console_api_settled", view.settled)
            .with("console_api_seconds_after_burst", view.waited.as_secs_f64());
    }
    if let Some(addr) = installed.agent {
        let (view, settled) = observe::leakscope_settled(addr, FILE, limit).await?;
        report.value = view.alive_at as f64;
        report = report.with("agent_seen", view.alive_at).with("agent_settled", settled);
    }
    Ok((report, senders))
}
