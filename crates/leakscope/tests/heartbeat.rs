//! The heartbeat and the dump's refusals, in one process: an app runtime whose only worker is
//! blocked is reported stalled (by `Hello` and by every snapshot) and a task dump asked for
//! meanwhile is refused at once; a dump asked of a runtime whose run queues are long either is
//! refused or succeeds, and the runtime keeps running either way.
//!
//! The agent is process-global, so this file is one test (its own process), in two parts that
//! share the agent: runtime 1 (two workers, the one `try_init` registers) is the busy one of the
//! second part, runtime 2 (one worker, registered with `register_runtime`) the one blocked in the
//! first. The client runs on a runtime of its own, so a blocked app never blocks the test.

use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{
    DumpStatus, HelloRequest, RuntimeMetrics, Snapshot, SnapshotRequest, TaskDumpRequest,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tonic::transport::Channel;

/// How long the blocked worker sleeps: well past the agent's 1 s stall threshold.
const BLOCKED_FOR: Duration = Duration::from_secs(3);
/// The stall threshold the agent reports with (its default).
const STALL_THRESHOLD_NANOS: u64 = 1_000_000_000;
/// The time limit the test's dump requests carry.
const DUMP_LIMIT: Duration = Duration::from_millis(2000);
/// How long any one wait of this test may take before it fails instead of hanging.
const WITHIN: Duration = Duration::from_secs(20);
/// Tasks that keep yielding on the busy runtime, so its workers' run queues stay long.
const YIELDERS: usize = 4000;

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a runtime")
}

async fn snapshot(client: &mut AgentClient<Channel>) -> Snapshot {
    let request = SnapshotRequest { include_finished: false };
    client.get_snapshot(request).await.expect("a snapshot").into_inner()
}

fn runtime_of(runtimes: &[RuntimeMetrics], id: u32) -> Option<&RuntimeMetrics> {
    runtimes.iter().find(|r| r.runtime_id == id)
}

/// Takes snapshots until `check` accepts one, for at most [`WITHIN`]; panics with the last reason.
async fn until<T>(
    client: &mut AgentClient<Channel>,
    what: &str,
    mut check: impl FnMut(&Snapshot) -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + WITHIN;
    loop {
        match check(&snapshot(client).await) {
            Ok(found) => return found,
            Err(why) if Instant::now() >= deadline => {
                panic!("{what}: not within {WITHIN:?}: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Runtime `id` beats: a heartbeat younger than the stall threshold, not stalled.
fn fresh(id: u32) -> impl FnMut(&Snapshot) -> Result<(), String> {
    move |s| match runtime_of(&s.runtimes, id) {
        Some(r) if !r.stalled && r.heartbeat_age_nanos > 0 => {
            if r.heartbeat_age_nanos < STALL_THRESHOLD_NANOS {
                Ok(())
            } else {
                Err(format!("runtime {id}'s heartbeat is {}ns old", r.heartbeat_age_nanos))
            }
        }
        other => Err(format!("runtime {id}: {other:?}")),
    }
}

/// Asks for a task dump limited to [`DUMP_LIMIT`]; panics if no answer comes within a little
/// more (the agent enforces the limit; a dump must never hang its caller).
async fn dump(
    client: &mut AgentClient<Channel>,
) -> (leakscope_proto::v1::TaskDumpResponse, Duration) {
    let started = Instant::now();
    let request = TaskDumpRequest { timeout_millis: DUMP_LIMIT.as_millis() as u64 };
    let answer =
        tokio::time::timeout(DUMP_LIMIT + Duration::from_secs(3), client.task_dump(request))
            .await
            .expect("the dump request is answered within its time limit")
            .expect("the dump request succeeds")
            .into_inner();
    (answer, started.elapsed())
}

#[test]
fn stalls_are_reported_and_dumps_never_wedge_the_app() {
    // Runtime 1: the busy one of the second part; `try_init` registers the runtime it runs in.
    let busy = runtime(2);
    let agent = busy
        .block_on(async {
            leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init()
        })
        .expect("the agent starts");
    // Runtime 2: one worker, to be blocked in the first part.
    let single = runtime(1);
    leakscope::register_runtime(single.handle());

    let client_runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    client_runtime.block_on(async {
        let mut client = AgentClient::connect(format!("http://{}", agent.local_addr()))
            .await
            .expect("the agent accepts connections");
        let hello = client.hello(HelloRequest::default()).await.unwrap().into_inner();
        let config = hello.config.expect("the agent's configuration");
        // Task dumps work in this build (tokio_unstable, Linux on an architecture tokio's dump
        // supports); elsewhere the agent answers `DUMP_STATUS_UNSUPPORTED` at once.
        let dumps = hello.capabilities.is_some_and(|c| c.task_dump);
        assert_eq!(config.stall_threshold_nanos, STALL_THRESHOLD_NANOS);
        until(&mut client, "runtime 1 beats", fresh(1)).await;
        until(&mut client, "runtime 2 beats", fresh(2)).await;

        blocked_worker(&mut client, &single, dumps).await;
        busy_run_queues(&mut client, &busy, dumps).await;
    });
    drop(client_runtime);
    // Whatever happened to the busy runtime, ending the test must not wait on its workers.
    busy.shutdown_timeout(Duration::from_secs(5));
    single.shutdown_timeout(Duration::from_secs(5));
}

/// Part one: runtime 2's only worker sleeps in a task. The agent reports it stalled (with a
/// heartbeat over a second old) in `Hello` and snapshots, refuses a dump at once meanwhile, and
/// reports it healthy again once the sleep is over.
async fn blocked_worker(client: &mut AgentClient<Channel>, single: &Runtime, dumps: bool) {
    let (began_tx, began) = tokio::sync::oneshot::channel();
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    single.spawn(async move {
        let _ = began_tx.send(());
        std::thread::sleep(BLOCKED_FOR);
        let _ = ended_tx.send(());
    });
    began.await.expect("the blocking task starts");
    let started = Instant::now();

    let stalled = until(client, "runtime 2 stalled", |s| match runtime_of(&s.runtimes, 2) {
        Some(r) if r.stalled => Ok(r.clone()),
        other => Err(format!("runtime 2: {other:?}")),
    })
    .await;
    assert!(started.elapsed() < BLOCKED_FOR, "seen stalled only after the sleep ended");
    assert!(stalled.heartbeat_age_nanos > STALL_THRESHOLD_NANOS, "{stalled:?}");
    assert_eq!((stalled.flavor.as_str(), stalled.workers), ("multi_thread", 1), "{stalled:?}");
    // The handshake says it too, and a runtime that beats is not dragged along.
    let hello = client.hello(HelloRequest::default()).await.unwrap().into_inner();
    let at_hello = runtime_of(&hello.runtimes, 2).expect("runtime 2 in the handshake");
    assert!(
        at_hello.stalled && at_hello.heartbeat_age_nanos > STALL_THRESHOLD_NANOS,
        "{at_hello:?}"
    );
    let other = runtime_of(&hello.runtimes, 1).expect("runtime 1 in the handshake");
    assert!(!other.stalled, "{other:?}");

    // A dump now would wait on the blocked worker: refused, at once.
    let (answer, took) = dump(client).await;
    assert!(started.elapsed() < BLOCKED_FOR, "the dump was answered only after the sleep ended");
    let status = DumpStatus::try_from(answer.status).unwrap_or(DumpStatus::Unspecified);
    if dumps {
        assert_eq!(status, DumpStatus::Refused, "{answer:?}");
        assert!(answer.message.contains("stalled"), "{answer:?}");
        assert!(answer.traces.is_empty(), "{answer:?}");
    } else {
        assert_eq!(status, DumpStatus::Unsupported, "{answer:?}");
    }
    assert!(took < DUMP_LIMIT, "answered in {took:?}, not promptly");

    // Once the worker is back, so is the heartbeat.
    ended.await.expect("the blocking task ends");
    until(client, "runtime 2 beats again", fresh(2)).await;
}

/// Part two: runtime 1's two workers run thousands of tasks that keep yielding, so their run
/// queues stay long, next to a task that counts. A dump is then refused or succeeds, and
/// afterwards the heartbeat is fresh and the counter still counts: the runtime was not wedged.
async fn busy_run_queues(client: &mut AgentClient<Channel>, busy: &Runtime, dumps: bool) {
    let stop = Arc::new(AtomicBool::new(false));
    let (count, mut counted) = tokio::sync::watch::channel(0_u64);
    let counter = {
        let stop = Arc::clone(&stop);
        busy.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                count.send_modify(|n| *n += 1);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (spawned_tx, spawned) = tokio::sync::oneshot::channel();
    let yielders = {
        let stop = Arc::clone(&stop);
        // Spawned from a worker, so they start in the workers' local queues.
        busy.spawn(async move {
            let handles: Vec<_> = (0..YIELDERS)
                .map(|_| {
                    let stop = Arc::clone(&stop);
                    tokio::spawn(async move {
                        while !stop.load(Ordering::Relaxed) {
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            let _ = spawned_tx.send(());
            for handle in handles {
                handle.await.expect("a yielder ends");
            }
        })
    };
    spawned.await.expect("the yielders are spawned");

    let (answer, _) = dump(client).await;
    let status = DumpStatus::try_from(answer.status).unwrap_or(DumpStatus::Unspecified);
    match status {
        DumpStatus::Refused => assert!(
            answer.message.contains("run queues") || answer.message.contains("stalled"),
            "{answer:?}"
        ),
        DumpStatus::Ok => assert!(!answer.traces.is_empty(), "a dump of thousands of tasks"),
        DumpStatus::Unsupported if !dumps => {}
        other => panic!("a busy runtime's dump ended {other:?}: {answer:?}"),
    }

    // The runtime still runs: its heartbeat is fresh and the counter moves on.
    until(client, "runtime 1 beats after the dump", fresh(1)).await;
    let before = *counted.borrow_and_update();
    for _ in 0..10 {
        tokio::time::timeout(WITHIN, counted.changed())
            .await
            .unwrap_or_else(|_| panic!("the counter stopped at {before}: runtime 1 is wedged"))
            .expect("the counter runs");
    }

    stop.store(true, Ordering::Relaxed);
    tokio::time::timeout(WITHIN, async {
        counter.await.expect("the counter ends");
        yielders.await.expect("the yielders end");
    })
    .await
    .expect("the busy runtime's tasks end once asked");
}
