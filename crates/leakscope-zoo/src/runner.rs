//! [`run`]: start the chosen scenarios, each with its own load, and wait for the loads to stop.

use crate::{LoadOptions, Scenario, scenarios};
use std::io;
use tokio::task::JoinSet;
use tracing::Instrument;

/// Runs every scenario in `scenarios` at once, each with its own load as set by `opts`, on the
/// current tokio runtime, and returns when all the loads have stopped.
///
/// What the leaking scenarios leaked stays behind on the runtime after this returns, as it would in
/// a real service; [`Scenario::Clean`] leaves nothing. Fails only if a scenario cannot set up its
/// loopback upstream.
///
/// # Panics
///
/// Must be called inside a tokio runtime with the time and I/O drivers enabled. A panic in a
/// scenario (a bug in the zoo) is propagated.
pub async fn run(scenarios: &[Scenario], opts: &LoadOptions) -> io::Result<()> {
    if let [scenario] = scenarios {
        // Served from the caller's task, so a single scenario adds no load task of its own.
        return run_one(*scenario, opts).await;
    }
    let mut loads = JoinSet::new();
    for &scenario in scenarios {
        let opts = opts.clone();
        loads.spawn(async move { run_one(scenario, &opts).await });
    }
    while let Some(done) = loads.join_next().await {
        match done {
            Ok(result) => result?,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
    Ok(())
}

/// One scenario, inside a `scenario` span so that its long-lived helper tasks (an upstream, a
/// consumer) are attributed to it too, not only the tasks spawned under its requests.
async fn run_one(scenario: Scenario, opts: &LoadOptions) -> io::Result<()> {
    let span = tracing::info_span!("scenario", scenario = scenario.name());
    async {
        match scenario {
            Scenario::UnboundedSpawn => scenarios::unbounded_spawn::run(opts).await,
            Scenario::NoTimeoutUpstream => scenarios::no_timeout_upstream::run(opts).await?,
            Scenario::SendBlocked => scenarios::send_blocked::run(opts).await,
            Scenario::RecvNeverClosed => scenarios::recv_never_closed::run(opts).await,
            Scenario::MissingCancellation => scenarios::missing_cancellation::run(opts).await,
            Scenario::LostWaker => scenarios::lost_waker::run(opts).await,
            Scenario::LockHeldAcrossAwait => scenarios::lock_held_across_await::run(opts).await,
            Scenario::BlockingInAsync => scenarios::blocking_in_async::run(opts).await,
            Scenario::Deadlock => scenarios::deadlock::run(opts).await,
            Scenario::Clean => scenarios::clean::run(opts).await?,
        }
        Ok(())
    }
    .instrument(span)
    .await
}
