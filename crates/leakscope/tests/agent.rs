//! The agent end to end inside one process: a real runtime, real tasks, the real gRPC service
//! over loopback, read back through the generated client.
//!
//! CI runs this file twice: with `--cfg tokio_unstable` (full data) and without it (runtime
//! metrics only, and `Hello` says what is missing). Each build compiles the test for its mode.

#[cfg(not(tokio_unstable))]
mod stable {
    use leakscope_proto::v1::agent_client::AgentClient;
    use leakscope_proto::v1::{DumpStatus, HelloRequest, SnapshotRequest, TaskDumpRequest};

    #[test]
    fn without_tokio_unstable_the_agent_serves_metrics_and_says_what_is_missing() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let agent =
                leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init().unwrap();
            let parked: Vec<_> =
                (0..5).map(|_| tokio::spawn(std::future::pending::<()>())).collect();
            let mut client =
                AgentClient::connect(format!("http://{}", agent.local_addr())).await.unwrap();
            let hello = client.hello(HelloRequest::default()).await.unwrap().into_inner();
            let caps = hello.capabilities.unwrap();
            assert!(!caps.tasks && !caps.task_dump && caps.runtime_metrics, "{caps:?}");
            assert!(
                hello.missing.iter().any(|m| m.contains("tokio_unstable")),
                "{:?}",
                hello.missing
            );
            let snap = client.get_snapshot(SnapshotRequest::default()).await.unwrap().into_inner();
            assert!(snap.tasks.is_empty());
            assert!(
                snap.runtimes.iter().any(|r| r.workers == 2 && r.alive_tasks >= 5),
                "{:?}",
                snap.runtimes
            );
            let dump = client.task_dump(TaskDumpRequest::default()).await.unwrap().into_inner();
            assert_eq!(dump.status, DumpStatus::Unsupported as i32);
            drop(parked);
        });
    }
}

#[cfg(tokio_unstable)]
mod unstable {
    use leakscope_proto::v1::agent_client::AgentClient;
    use leakscope_proto::v1::{
        DumpStatus, HelloRequest, ResourceKind, Snapshot, SnapshotRequest, Task, TaskDumpRequest,
        TaskState,
    };
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;
    use std::task::{Context, Poll};
    use std::time::Duration;

    /// Returns `Pending` without keeping the waker: nothing can ever wake it.
    struct LostWaker;

    impl Future for LostWaker {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }

    fn task_id<T>(handle: &tokio::task::JoinHandle<T>) -> u64 {
        handle.id().to_string().parse().unwrap()
    }

    fn location<'a>(
        snapshot: &'a Snapshot,
        task: &Task,
    ) -> Option<&'a leakscope_proto::v1::Location> {
        snapshot.locations.iter().find(|l| l.id == task.location_id)
    }

    fn tasks_at(snapshot: &Snapshot, line: u32) -> Vec<&Task> {
        snapshot
            .tasks
            .iter()
            .filter(|t| {
                t.dropped_nanos == 0
                    && location(snapshot, t)
                        .is_some_and(|l| l.line == line && l.file.ends_with("agent.rs"))
            })
            .collect()
    }

    #[test]
    fn agent_reports_tasks_wakers_waits_long_polls_and_dumps() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let agent = leakscope::Builder::new()
                .bind("127.0.0.1:0".parse().unwrap())
                .long_poll_threshold(Duration::from_millis(20))
                .try_init()
                .expect("agent starts");
            let addr = agent.local_addr();

            // Tasks parked on a channel nobody sends to.
            let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
            tx.send(0).await.unwrap();
            let mut senders = Vec::new();
            let send_line = line!() + 3;
            for _ in 0..3 {
                let tx = tx.clone();
                senders.push(tokio::spawn(async move { tx.send(1).await }));
            }
            // A task nothing can wake.
            let (lost, lost_line) = (tokio::spawn(LostWaker), line!());
            // Two tasks queued on a mutex held by a third.
            let mutex = Arc::new(tokio::sync::Mutex::new(()));
            let held = mutex.clone().lock_owned().await;
            let holder = tokio::spawn(async move {
                let _held = held;
                std::future::pending::<()>().await;
            });
            let waiters: Vec<_> = (0..2)
                .map(|_| {
                    let m = mutex.clone();
                    tokio::spawn(async move { drop(m.lock().await) })
                })
                .collect();
            // A write lock taken inside a task, with a reader queued behind it; a semaphore, a
            // barrier and a oneshot with a task waiting on each.
            let rwlock = Arc::new(tokio::sync::RwLock::new(()));
            let (locked_tx, locked_rx) = tokio::sync::oneshot::channel();
            let writer_lock = rwlock.clone();
            let writer = tokio::spawn(async move {
                let _w = writer_lock.write().await;
                let _ = locked_tx.send(());
                std::future::pending::<()>().await;
            });
            locked_rx.await.unwrap();
            let reader_lock = rwlock.clone();
            let reader = tokio::spawn(async move { drop(reader_lock.read().await) });
            let semaphore = Arc::new(tokio::sync::Semaphore::new(0));
            let sem = semaphore.clone();
            let acquirer = tokio::spawn(async move { drop(sem.acquire().await) });
            let barrier = Arc::new(tokio::sync::Barrier::new(3));
            let bar = barrier.clone();
            let arriver = tokio::spawn(async move { bar.wait().await });
            let (_keep_tx, oneshot_rx) = tokio::sync::oneshot::channel::<()>();
            let receiver = tokio::spawn(oneshot_rx);
            // A task that makes a oneshot and keeps its receiver unpolled waits on nothing.
            let maker = tokio::spawn(async {
                let _kept = tokio::sync::oneshot::channel::<()>();
                std::future::pending::<()>().await;
            });
            // A poll that blocks its worker.
            let block = async { std::thread::sleep(Duration::from_millis(60)) };
            let (blocker, block_line) = (tokio::spawn(block), line!());
            blocker.await.unwrap();
            // Finished tasks are retained.
            tokio::spawn(async {}).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;

            let mut client = AgentClient::connect(format!("http://{addr}")).await.unwrap();
            let hello = client.hello(HelloRequest::default()).await.unwrap().into_inner();
            assert_eq!(hello.protocol_version, leakscope_proto::v1::PROTOCOL_VERSION);
            let caps = hello.capabilities.unwrap();
            assert!(caps.tasks && caps.task_dump && caps.runtime_metrics, "{caps:?}");
            // Only what this build left off on purpose: CPU profiles are an opt-in feature.
            let expected: &[&str] = if cfg!(feature = "cpu") {
                &[]
            } else {
                &["CPU profiles: the app built leakscope without its `cpu` feature"]
            };
            assert_eq!(hello.missing, expected, "{:?}", hello.missing);

            let snap = client
                .get_snapshot(SnapshotRequest { include_finished: true })
                .await
                .unwrap()
                .into_inner();
            let senders_seen = tasks_at(&snap, send_line);
            assert_eq!(senders_seen.len(), 3, "three blocked senders at line {send_line}");
            for t in &senders_seen {
                assert_eq!(t.state, TaskState::Idle as i32);
                assert!(
                    t.waker_count >= 1,
                    "a parked sender's waker is held by the channel: {t:?}"
                );
            }
            // Where each sender waits is captured with no dump: the chain runs from this file's
            // `.await` at the spawn line down to tokio's bounded `Sender::send`.
            assert!(caps.wait_capture, "{caps:?}");
            for t in &senders_seen {
                let chain = t
                    .wait_chain_ids
                    .iter()
                    .filter_map(|id| snap.wait_chains.iter().find(|c| c.id == *id))
                    .next()
                    .unwrap_or_else(|| panic!("a captured wait chain for {t:?}"));
                let point = leakscope_analysis::wait_point(&chain.frames);
                assert_eq!(point, leakscope_analysis::WaitPoint::MpscSend, "{:#?}", chain.frames);
                let user = leakscope_analysis::user_frame(&chain.frames);
                assert!(
                    user.as_ref()
                        .is_some_and(|u| u.location.file.ends_with("agent.rs")
                            && u.location.line == send_line),
                    "the app's await at line {send_line}, not {user:?}: {:#?}",
                    chain.frames
                );
            }
            let lost_seen = tasks_at(&snap, lost_line);
            assert_eq!(lost_seen.len(), 1);
            assert_eq!(lost_seen[0].waker_count, 0, "{:?}", lost_seen[0]);
            assert_eq!(lost_seen[0].state, TaskState::Idle as i32);
            assert!(lost_seen[0].polls >= 1);

            let mutex_res = snap.resources.iter().find(|r| r.concrete_type == "Mutex" && r.locked);
            let mutex_res = mutex_res.expect("the held mutex is reported");
            let waits: Vec<_> =
                snap.waits.iter().filter(|w| w.resource_id == mutex_res.id).collect();
            assert_eq!(waits.len(), 2, "two waiters on the mutex: {:?}", snap.waits);
            assert!(waits.iter().all(|w| w.op == "Mutex::lock"));

            let by_type =
                |ty: &'static str| snap.resources.iter().filter(move |r| r.concrete_type == ty);
            let rw = by_type("RwLock").find(|r| r.locked).expect("the write-locked RwLock");
            assert_eq!(rw.holder_task_id, task_id(&writer), "the writer holds it");
            assert!(
                snap.waits.iter().any(|w| w.resource_id == rw.id && w.task_id == task_id(&reader))
            );
            let waits_of = |t: u64| snap.waits.iter().filter(move |w| w.task_id == t);
            let kind_of = |w: &leakscope_proto::v1::Wait| {
                snap.resources.iter().find(|r| r.id == w.resource_id).map(|r| r.kind)
            };
            let check = |task: u64, kind: ResourceKind| {
                assert!(
                    waits_of(task).any(|w| kind_of(w) == Some(kind as i32)),
                    "task {task} waits on a {kind:?}: {:?}",
                    snap.waits
                )
            };
            check(task_id(&acquirer), ResourceKind::Semaphore);
            check(task_id(&arriver), ResourceKind::Barrier);
            check(task_id(&receiver), ResourceKind::Oneshot);
            assert_eq!(waits_of(task_id(&maker)).count(), 0, "{:?}", snap.waits);
            let barrier_res = by_type("Barrier").next().expect("the barrier");
            assert_eq!((barrier_res.barrier_size, barrier_res.barrier_arrived), (3, 1));

            let long = snap.long_polls.iter().find(|p| {
                snap.locations.iter().any(|l| l.id == p.location_id && l.line == block_line)
            });
            let long = long.expect("the blocking poll is recorded");
            assert!(long.duration_nanos >= 60_000_000);
            // A sleep is off the CPU: the worker thread's own counters say so.
            if cfg!(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))
            {
                assert!(long.thread_times, "{long:?}");
                assert!(long.cpu_nanos < 30_000_000, "a sleeping poll on a CPU? {long:?}");
                assert!(long.runqueue_nanos < long.duration_nanos, "{long:?}");
            }

            assert!(
                snap.tasks
                    .iter()
                    .any(|t| t.dropped_nanos != 0 && t.state == TaskState::Done as i32)
            );
            let stats = snap.stats.unwrap();
            assert_eq!(stats.spans_dropped_total, 0);
            assert!(snap.runtimes.iter().any(|r| r.workers == 2 && r.alive_tasks >= 7));

            let dump = client
                .task_dump(TaskDumpRequest { timeout_millis: 5000 })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(dump.status, DumpStatus::Ok as i32, "{}", dump.message);
            let sender_ids: Vec<u64> = senders_seen.iter().map(|t| t.id).collect();
            let sender_trace = dump
                .traces
                .iter()
                .find(|t| sender_ids.contains(&t.task_id))
                .expect("sender traced");
            let frames = &sender_trace.backtraces[0].frames;
            assert_eq!(
                leakscope_analysis::wait_point(frames),
                leakscope_analysis::WaitPoint::MpscSend,
                "{frames:#?}"
            );

            // The dump's trace polls, and the wake and poll tokio adds after each, are not the
            // app's: a parked task's polls, wakes and idle time read the same after a dump.
            let after = client
                .get_snapshot(SnapshotRequest { include_finished: false })
                .await
                .unwrap()
                .into_inner();
            for before in &senders_seen {
                let now = after.tasks.iter().find(|t| t.id == before.id).expect("still alive");
                assert_eq!(
                    (now.polls, now.last_poll_end_nanos, now.wakes, now.state),
                    (before.polls, before.last_poll_end_nanos, before.wakes, before.state),
                    "a task dump changed a parked sender's poll stats"
                );
            }

            drop((senders, lost, holder, waiters, tx, rx.recv().await));
            drop((writer, reader, acquirer, arriver, receiver, semaphore, barrier));
        });
    }
}
