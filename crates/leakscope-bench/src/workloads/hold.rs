//! hold: a target for the terminal UI's scale figures. Parks `tasks` idle tasks (as `idle`
//! does), keeps a little churn going so that updates keep arriving, says where its
//! instrumentation can be reached, and holds until its stdin closes (bounded).

use crate::instrument::Installed;
use std::io::Read as _;
use std::time::Duration;

/// The longest a target is held when nobody closes its stdin.
const HOLD_LIMIT: Duration = Duration::from_secs(600);
/// Short-lived tasks spawned every churn tick.
const CHURN: usize = 20;
const CHURN_TICK: Duration = Duration::from_millis(100);

/// Parks the tasks, prints `{"agent": ADDR|null, "console": ADDR|null, "tasks": N, "idle":
/// {...}}` and holds. `idle` is the idle workload's detail: the RSS before and after parking (at
/// rest, no client attached) and how long spawning and parking took, which the bench compares
/// with a plain tokio target of the same size.
pub(crate) async fn run(tasks: usize, installed: Installed, limit: Duration) -> anyhow::Result<()> {
    let (idle, senders) = super::idle::run(tasks, limit).await?;
    let churn = tokio::spawn(async {
        let mut tick = tokio::time::interval(CHURN_TICK);
        loop {
            tick.tick().await;
            for _ in 0..CHURN {
                tokio::spawn(tokio::time::sleep(Duration::from_millis(50)));
            }
        }
    });
    let ready = serde_json::json!({
        "agent": installed.agent.map(|a| a.to_string()),
        "console": installed.console.map(|a| a.to_string()),
        "tasks": tasks,
        "idle": idle.detail,
    });
    println!("{ready}");
    // stdin closing (the bench driver is done, or gone) ends the hold.
    let closed = tokio::task::spawn_blocking(|| {
        let mut sink = [0u8; 64];
        while std::io::stdin().read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let _ = tokio::time::timeout(HOLD_LIMIT, closed).await;
    churn.abort();
    drop(senders);
    Ok(())
}
