//! The `console` feature: tokio-console's own protocol (console-api `Instrument`) is served on the
//! agent's port beside leakscope's, and both see the same tasks. CI runs this with
//! `cargo test -p leakscope --features console --test console`.
#![cfg(all(tokio_unstable, feature = "console"))]

use console_api::instrument::InstrumentRequest;
use console_api::instrument::instrument_client::InstrumentClient;
use leakscope_proto::v1::SnapshotRequest;
use leakscope_proto::v1::agent_client::AgentClient;
use std::time::Duration;

#[test]
fn tokio_console_and_leakscope_share_one_port() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let agent =
            leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init().unwrap();
        let url = format!("http://{}", agent.local_addr());
        let spawn_line = line!() + 1;
        let parked: Vec<_> = (0..4).map(|_| tokio::spawn(std::future::pending::<()>())).collect();

        let mut console = InstrumentClient::connect(url.clone()).await.unwrap();
        let mut updates =
            console.watch_updates(InstrumentRequest::default()).await.unwrap().into_inner();
        let mut seen = 0;
        // console-subscriber publishes on its own period; a few updates are enough.
        for _ in 0..10 {
            let update = tokio::time::timeout(Duration::from_secs(5), updates.message())
                .await
                .expect("console-api update within 5 s")
                .unwrap()
                .expect("stream open");
            let new_tasks = update.task_update.map(|t| t.new_tasks).unwrap_or_default();
            seen += new_tasks
                .iter()
                .filter(|t| t.location.as_ref().is_some_and(|l| l.line == Some(spawn_line)))
                .count();
            if seen >= 4 {
                break;
            }
        }
        assert_eq!(seen, 4, "tokio-console's protocol lists the four parked tasks");

        let mut client = AgentClient::connect(url).await.unwrap();
        let snap = client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
        let ours = snap
            .tasks
            .iter()
            .filter(|t| {
                snap.locations.iter().any(|l| l.id == t.location_id && l.line == spawn_line)
            })
            .count();
        assert_eq!(ours, 4, "leakscope sees them too");
        drop(parked);
    });
}
