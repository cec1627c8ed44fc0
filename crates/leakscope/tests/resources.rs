//! Where a resource was made, through the real agent: tokio names its own source as the creation
//! site of a lock made by a `Default` impl (`Mutex::default()` carries no `#[track_caller]`); the
//! agent walks the creating stack and shows the app's line instead. A lock made by `new` keeps
//! the line tokio reports, which is the app's already.

#![cfg(tokio_unstable)]

use leakscope_proto::v1::SnapshotRequest;
use leakscope_proto::v1::agent_client::AgentClient;
use std::sync::Arc;

#[test]
fn a_lock_made_by_default_is_placed_at_the_apps_line() {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let agent =
            leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init().unwrap();
        let by_default_line = line!() + 1;
        let by_default = Arc::new(tokio::sync::Mutex::<u32>::default());
        let by_new_line = line!() + 1;
        let by_new = Arc::new(tokio::sync::Mutex::new(0_u32));
        // Both held, so the agent sends them (it sends every lock the app made).
        let _held = (by_default.lock().await, by_new.lock().await);

        let mut client =
            AgentClient::connect(format!("http://{}", agent.local_addr())).await.unwrap();
        let snap = client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
        let mut lines: Vec<(String, u32)> = snap
            .resources
            .iter()
            .filter(|r| r.concrete_type == "Mutex" && !r.internal)
            .filter_map(|r| snap.locations.iter().find(|l| l.id == r.location_id))
            .map(|l| (l.file.clone(), l.line))
            .collect();
        lines.sort_by_key(|(_, line)| *line);
        assert_eq!(lines.len(), 2, "{lines:?}");
        // Both named the way tokio names this file (relative, as `file!()` does), not one from
        // debug info's absolute path.
        assert_eq!(lines[0].0, file!(), "{lines:?}");
        assert_eq!(lines[1].0, file!(), "{lines:?}");
        assert_eq!([lines[0].1, lines[1].1], [by_default_line, by_new_line], "{lines:?}");
    });
}
