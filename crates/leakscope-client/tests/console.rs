//! The console path: an app running only console-subscriber (served in-process on a loopback port)
//! is detected, and its console-api stream arrives as leakscope updates with the tasks, waits,
//! resources and long polls the analysis needs.

use leakscope_client::{Backend, Connection, Target};
use leakscope_proto::v1::{
    Location, LongPoll, Resource, ResourceKind, Snapshot, Task, TaskState, Update, Wait,
};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tracing_subscriber::layer::SubscriberExt as _;

/// Serves console-subscriber's `Instrument` service on a free loopback port, with a short publish
/// interval so the test does not wait a second per update.
async fn serve_console() -> SocketAddr {
    let (layer, server) = console_subscriber::ConsoleLayer::builder()
        .publish_interval(Duration::from_millis(100))
        .build();
    tracing_subscriber::util::SubscriberInitExt::try_init(
        tracing_subscriber::registry().with(layer),
    )
    .expect("the only subscriber of this test binary");
    let parts = server.into_parts();
    tokio::spawn(parts.aggregator.run());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(parts.instrument_server)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// Returns `Pending` without keeping the waker: the task can never be woken.
struct Forgets;

impl Future for Forgets {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

/// Wakes itself from inside every poll, `left` times.
struct Spins {
    left: u32,
}

impl Future for Spins {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// What the updates so far add up to, as the analysis model would hold it.
#[derive(Default)]
struct Picture {
    locations: HashMap<u32, Location>,
    tasks: HashMap<u64, Task>,
    resources: Vec<Resource>,
    waits: Vec<Wait>,
    long_polls: Vec<LongPoll>,
    updates: usize,
}

impl Picture {
    fn apply(&mut self, update: Update) {
        let snapshot: Snapshot = update.snapshot.expect("every update carries a snapshot");
        assert_eq!(update.full, self.updates == 0, "only the first update is full");
        self.updates += 1;
        self.locations.extend(snapshot.locations.into_iter().map(|l| (l.id, l)));
        self.tasks.extend(snapshot.tasks.into_iter().map(|t| (t.id, t)));
        self.resources = snapshot.resources;
        self.waits = snapshot.waits;
        self.long_polls.extend(snapshot.long_polls);
    }

    /// Live tasks spawned at `line` of this file.
    fn at(&self, line: u32) -> Vec<&Task> {
        self.tasks
            .values()
            .filter(|t| t.dropped_nanos == 0)
            .filter(|t| {
                self.locations.get(&t.location_id).is_some_and(|l| {
                    l.line == line && l.file.ends_with("tests/console.rs") && l.col > 0
                })
            })
            .collect()
    }

    fn one_at(&self, line: u32) -> Result<&Task, String> {
        match self.at(line).as_slice() {
            [task] => Ok(task),
            other => Err(format!("{} tasks at line {line}", other.len())),
        }
    }

    fn waits_of(&self, task: &Task) -> Vec<(&Wait, Option<&Resource>)> {
        self.waits
            .iter()
            .filter(|w| w.task_id == task.id)
            .map(|w| (w, self.resources.iter().find(|r| r.id == w.resource_id)))
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_an_app_that_runs_only_console_subscriber() {
    let addr = serve_console().await;

    let lost_line = line!() + 1;
    let _lost = tokio::spawn(Forgets);
    let (_keep_sender, receiver) = tokio::sync::oneshot::channel::<()>();
    let oneshot_line = line!() + 1;
    let _oneshot = tokio::spawn(receiver);
    let mutex = Arc::new(tokio::sync::Mutex::new(()));
    let _held = mutex.clone().lock_owned().await;
    let mutex_line = line!() + 1;
    let _mutex = tokio::spawn(async move { drop(mutex.lock().await) });
    let blocking_line = line!() + 1;
    let _blocking = tokio::spawn(async {
        loop {
            std::thread::sleep(Duration::from_millis(30));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let spin_line = line!() + 1;
    let _spin = tokio::spawn(async {
        loop {
            Spins { left: 20 }.await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });

    let target = Target::parse(&addr.to_string()).unwrap();
    let mut connection = Connection::connect(&target).await.unwrap();
    assert_eq!(connection.backend(), Backend::Console);
    let hello = connection.hello().clone();
    let caps = hello.capabilities.expect("capabilities");
    assert!(caps.tasks && caps.resources && caps.console_api && !caps.task_dump, "{caps:?}");
    assert!(hello.missing.iter().any(|m| m.contains("lock holders")), "{:?}", hello.missing);
    assert_eq!(connection.dump(Duration::from_secs(1)).await.unwrap(), None);

    let snapshot = connection.snapshot().await.unwrap();
    assert!(snapshot.now_nanos > 0);
    assert!(!snapshot.tasks.is_empty(), "the first update lists the tasks");

    let mut updates = connection.watch(None).await.unwrap();
    let mut picture = Picture::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut why = String::new();
    while Instant::now() < deadline {
        let part = tokio::time::timeout(Duration::from_secs(5), updates.next())
            .await
            .expect("an update within 5 s")
            .expect("the stream stays open")
            .unwrap();
        // console-api sends each update whole: one part each.
        assert!(part.part == 0 && !part.more, "{part:?}");
        picture.apply(part.update.expect("an update"));
        match check(&picture, [lost_line, oneshot_line, mutex_line, blocking_line, spin_line]) {
            Ok(()) => return,
            Err(reason) => why = reason,
        }
    }
    panic!("not within 20 s: {why}");
}

/// Whether the picture shows each test task as the analysis needs to see it.
fn check(
    picture: &Picture,
    [lost, oneshot, mutex, blocking, spin]: [u32; 5],
) -> Result<(), String> {
    let task = picture.one_at(lost)?;
    if !(task.state == TaskState::Idle as i32 && task.polls >= 1 && task.waker_count == 0) {
        return Err(format!("the forgetful task is not idle without wakers: {task:?}"));
    }
    if task.last_wake_nanos > task.last_poll_start_nanos || task.created_nanos == 0 {
        return Err(format!("timestamps: {task:?}"));
    }

    let task = picture.one_at(oneshot)?;
    let waits = picture.waits_of(task);
    let on_oneshot = waits.iter().any(|(w, r)| {
        w.op == "Receiver::await"
            && w.since_nanos > 0
            && r.is_some_and(|r| r.kind == ResourceKind::Oneshot as i32 && !r.value_sent)
    });
    if !(task.state == TaskState::Idle as i32 && task.waker_count >= 1 && on_oneshot) {
        return Err(format!("the oneshot receiver: {task:?} {waits:?}"));
    }

    let task = picture.one_at(mutex)?;
    let waits = picture.waits_of(task);
    // One wait, on the mutex itself: the semaphore inside it is folded away.
    let on_mutex = matches!(waits.as_slice(), [(w, Some(r))]
        if w.op == "Mutex::lock" && r.kind == ResourceKind::Mutex as i32 && r.locked
            && r.location_id != 0);
    if !on_mutex {
        return Err(format!("the mutex waiter: {task:?} {waits:?}"));
    }

    let task = picture.one_at(blocking)?;
    let long: Vec<_> = picture.long_polls.iter().filter(|p| p.task_id == task.id).collect();
    if !long.iter().any(|p| p.duration_nanos >= 25_000_000 && p.location_id == task.location_id) {
        return Err(format!("no sampled long poll of the blocking task: {long:?}"));
    }

    let task = picture.one_at(spin)?;
    if task.self_wakes < 10 || task.wakes < task.self_wakes {
        return Err(format!("self-wakes: {task:?}"));
    }
    Ok(())
}
