//! `Watch` at scale, inside one process: a real runtime parking many tasks, the real gRPC service
//! over loopback, read through the generated client. Each update travels in parts of bounded
//! size; a client that connects while another's first update is still streaming is served at
//! once; and what the agent built for a client that left is released.
//!
//! Needs `--cfg tokio_unstable` (without it there are no tasks to stream).

#[cfg(tokio_unstable)]
mod unstable {
    use leakscope_proto::prost::Message as _;
    use leakscope_proto::v1::agent_client::AgentClient;
    use leakscope_proto::v1::{AgentStats, HelloRequest, WatchMessage, WatchRequest};
    use std::net::SocketAddr;
    use std::sync::OnceLock;
    use std::time::Duration;
    use tonic::transport::Channel;

    /// Idle tasks parked for the whole binary, each on a oneshot: a task, a resource and a wait
    /// apiece, so an update holds three times this many records.
    const PARKED: usize = 20_000;

    /// The agent and the parked tasks, started once for every test of this binary (the agent is
    /// one per process), on a runtime of their own that lives as long as the process.
    fn agent() -> SocketAddr {
        static AGENT: OnceLock<SocketAddr> = OnceLock::new();
        *AGENT.get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let agent = leakscope::Builder::new()
                        .bind("127.0.0.1:0".parse().unwrap())
                        .try_init()
                        .expect("agent starts");
                    let mut senders = Vec::with_capacity(PARKED);
                    for _ in 0..PARKED {
                        let (send, receive) = tokio::sync::oneshot::channel::<()>();
                        senders.push(send);
                        tokio::spawn(async move {
                            let _ = receive.await;
                        });
                    }
                    tx.send(agent.local_addr()).unwrap();
                    std::future::pending::<()>().await;
                    drop(senders);
                });
            });
            rx.recv().unwrap()
        })
    }

    /// The tests count the agent's streams: one at a time.
    fn serial() -> std::sync::MutexGuard<'static, ()> {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn client(addr: SocketAddr) -> AgentClient<Channel> {
        AgentClient::connect(format!("http://{addr}")).await.unwrap()
    }

    /// Records (tasks, resources, waits) in one part.
    fn records(part: &WatchMessage) -> usize {
        let snapshot = part.update.as_ref().and_then(|u| u.snapshot.as_ref()).unwrap();
        snapshot.tasks.len() + snapshot.resources.len() + snapshot.waits.len()
    }

    fn stats(part: &WatchMessage) -> Option<AgentStats> {
        part.update.as_ref().and_then(|u| u.snapshot.as_ref()).and_then(|s| s.stats)
    }

    /// Reads one whole update: its parts, checked to be in order.
    async fn whole_update(
        stream: &mut tonic::Streaming<WatchMessage>,
        within: Duration,
    ) -> Vec<WatchMessage> {
        let mut parts: Vec<WatchMessage> = Vec::new();
        loop {
            let part = tokio::time::timeout(within, stream.message())
                .await
                .expect("a part in time")
                .expect("no error")
                .expect("the stream goes on");
            assert_eq!(part.part as usize, parts.len(), "parts come in order");
            let more = part.more;
            parts.push(part);
            if !more {
                return parts;
            }
        }
    }

    #[test]
    fn no_part_exceeds_the_bound_and_the_parts_hold_every_task() {
        let _serial = serial();
        let addr = agent();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut client = client(addr).await;
            let bound = 500;
            let request = WatchRequest { interval_nanos: 0, part_records: bound };
            let mut stream = client.watch(request).await.unwrap().into_inner();
            let parts = whole_update(&mut stream, Duration::from_secs(30)).await;
            // Three records a parked task: a task, its oneshot and its wait.
            assert!(parts.len() >= 3 * PARKED / bound as usize, "{} parts", parts.len());
            let mut tasks = 0;
            for part in &parts {
                let update = part.update.as_ref().unwrap();
                assert!(update.full, "every part of the first update is full");
                assert!(records(part) <= bound as usize, "part {}: {}", part.part, records(part));
                // A record is well under 512 bytes; the locations and chains a part refers to
                // are few.
                let bytes = part.encoded_len();
                assert!(bytes <= bound as usize * 512 + 64 * 1024, "part {}: {bytes}", part.part);
                tasks += update.snapshot.as_ref().unwrap().tasks.len();
                assert_eq!(part.tasks_sent as usize, tasks, "tasks_sent counts what came");
            }
            let last = parts.last().unwrap();
            assert!(tasks >= PARKED, "{tasks} tasks");
            assert_eq!(last.tasks_total, last.tasks_sent);
            assert!(stats(last).is_some(), "the last part carries the stats");
            assert!(parts[..parts.len() - 1].iter().all(|p| stats(p).is_none()));
            // The default bound applies when the client names none, and a delta follows.
            let mut stream = client.watch(WatchRequest::default()).await.unwrap().into_inner();
            let first = whole_update(&mut stream, Duration::from_secs(30)).await;
            assert!(first.iter().all(|p| records(p) <= 4096));
            let delta = whole_update(&mut stream, Duration::from_secs(30)).await;
            assert!(!delta[0].update.as_ref().unwrap().full, "then deltas");
        });
    }

    /// The records of an update: resources, waits, removed resources and cleared waits.
    fn changes(parts: &[WatchMessage]) -> (Vec<u64>, Vec<u64>, Vec<u64>, Vec<u64>) {
        let (mut resources, mut waits, mut removed, mut cleared) = Default::default();
        for part in parts {
            let snapshot = part.update.as_ref().and_then(|u| u.snapshot.as_ref()).unwrap();
            Vec::extend(&mut resources, snapshot.resources.iter().map(|r| r.id));
            Vec::extend(&mut waits, snapshot.waits.iter().map(|w| w.task_id));
            Vec::extend(&mut removed, part.resources_removed.iter().copied());
            Vec::extend(&mut cleared, part.waits_cleared.iter().copied());
        }
        (resources, waits, removed, cleared)
    }

    #[test]
    fn a_delta_carries_the_resources_and_waits_that_changed_not_all_of_them() {
        let _serial = serial();
        let addr = agent();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let mut client = client(addr).await;
            let request = WatchRequest { interval_nanos: 50_000_000, part_records: 0 };
            let mut stream = client.watch(request).await.unwrap().into_inner();
            let first = whole_update(&mut stream, Duration::from_secs(30)).await;
            let (resources, waits, ..) = changes(&first);
            assert!(resources.len() >= PARKED && waits.len() >= PARKED, "the full update has all");
            assert!(first.iter().all(|p| !p.resources_delta), "a full update is never a delta");

            // Three more tasks park, each on a oneshot of its own.
            let (send, receive): (Vec<_>, Vec<_>) =
                (0..3).map(|_| tokio::sync::oneshot::channel::<()>()).unzip();
            let parked: Vec<u64> = receive
                .into_iter()
                .map(|receive| tokio::spawn(async move { receive.await.is_ok() }).id())
                .map(|id| id.to_string().parse().unwrap())
                .collect();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let joined = loop {
                let parts = whole_update(&mut stream, Duration::from_secs(30)).await;
                let (resources, waits, ..) = changes(&parts);
                if parked.iter().all(|id| waits.contains(id)) {
                    assert!(parts.iter().all(|p| p.resources_delta), "{:?}", parts[0]);
                    break (resources, waits);
                }
                assert!(tokio::time::Instant::now() < deadline, "the new waits never came");
            };
            // Only what changed travels: the new tasks' waits and their oneshots (a few of the
            // agent's own at most), not the 20k parked before.
            assert!(joined.0.len() < 100 && joined.1.len() < 100, "{joined:?}");
            let theirs: Vec<u64> = joined.0.clone();

            // One of them is sent its value and ends: its wait is cleared and its oneshot goes.
            let mut send = send.into_iter();
            send.next().unwrap().send(()).unwrap();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            loop {
                let parts = whole_update(&mut stream, Duration::from_secs(30)).await;
                let (_, _, removed, cleared) = changes(&parts);
                if cleared.contains(&parked[0]) {
                    assert!(
                        removed.iter().any(|id| theirs.contains(id)),
                        "its oneshot is removed: {removed:?} of {theirs:?}"
                    );
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "the ended wait was never cleared");
            }
            drop(send);
        });
    }

    #[test]
    fn a_second_client_is_served_while_a_first_streams_and_a_leaver_is_released() {
        let _serial = serial();
        let addr = agent();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            // The first client asks for one record a part and reads only the first: its first
            // update (60k parts) stays in mid-stream, the agent's task waiting for it to read.
            let mut first = client(addr).await;
            let request = WatchRequest { interval_nanos: 0, part_records: 1 };
            let mut slow = first.watch(request).await.unwrap().into_inner();
            let part = slow.message().await.unwrap().unwrap();
            assert!(part.more && part.tasks_total as usize >= PARKED, "{part:?}");

            // A second client is answered at once, and its whole first update comes while the
            // first client's is still streaming (two streams held).
            let mut second = client(addr).await;
            let hello =
                tokio::time::timeout(Duration::from_secs(5), second.hello(HelloRequest::default()))
                    .await
                    .expect("Hello answers while another client's update streams")
                    .unwrap();
            assert_ne!(hello.into_inner().protocol_version, 0);
            let request = WatchRequest { interval_nanos: 50_000_000, part_records: 0 };
            let mut stream = second.watch(request).await.unwrap().into_inner();
            let parts = whole_update(&mut stream, Duration::from_secs(30)).await;
            let tasks: usize = parts
                .iter()
                .map(|p| p.update.as_ref().unwrap().snapshot.as_ref().unwrap().tasks.len())
                .sum();
            assert!(tasks >= PARKED, "{tasks}");
            let during = stats(parts.last().unwrap()).unwrap();
            assert!(during.watch_streams >= 2, "{during:?}");
            // The first client's plan: at least a slot key per parked task.
            assert!(during.watch_bytes as usize >= PARKED * 8, "{during:?}");

            // The first client leaves: its stream's task ends at its next send and gives back
            // what it held. The second client's updates show it within seconds.
            drop(slow);
            drop(first);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            let after = loop {
                let parts = whole_update(&mut stream, Duration::from_secs(30)).await;
                let stats = stats(parts.last().unwrap()).unwrap();
                if stats.watch_streams == 1 {
                    break stats;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the first client's stream was not released: {stats:?}"
                );
            };
            // What the first client's stream held (at least its plan's slot key per parked
            // task) is gone; what is left is the second client's own.
            assert!(
                after.watch_bytes as usize + PARKED * 8 <= during.watch_bytes as usize,
                "{during:?} then {after:?}"
            );
        });
    }
}
