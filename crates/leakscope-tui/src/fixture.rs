//! A small, fixed app for tests: stuck senders, lost wakers, lock waiters and a busy main
//! task, analysed by the real engine, so state and screen tests see what a session would.
//! Resource ids have tokio's real shape (64-bit, high bit set) and there are timers besides
//! the locks, as in a real app.

use std::sync::Arc;
use std::time::Instant;

use leakscope_analysis::Config;
use leakscope_proto::v1::{
    AgentStats, Backtrace, Capabilities, DumpStatus, Frame, HelloResponse, Location, Resource,
    ResourceKind, RuntimeMetrics, Snapshot, Task, TaskDumpResponse, TaskState, TaskTrace, Update,
    Wait,
};

use crate::engine::Engine;
use crate::state::{AnalysisInfo, App, Data, Lists};

pub(crate) const ADDRESS: &str = "127.0.0.1:6669";

/// The stuck senders' channel (its semaphore) and the cache's mutex: ids as tokio makes them.
pub(crate) const CHANNEL: u64 = 9_223_372_041_149_743_120;
pub(crate) const CACHE: u64 = 9_223_372_041_149_743_184;

fn nanos(secs: f64) -> u64 {
    (secs * 1e9) as u64
}

pub(crate) fn task(id: u64, location_id: u32, state: TaskState, idle_since: f64) -> Task {
    Task {
        id,
        location_id,
        parent_task_id: 1,
        state: state as i32,
        created_nanos: nanos(idle_since - 0.5),
        polls: 2,
        busy_nanos: 40_000,
        last_poll_start_nanos: nanos(idle_since),
        last_poll_end_nanos: nanos(idle_since),
        wakes: 1,
        waker_count: 1,
        size_bytes: 256,
        ..Task::default()
    }
}

fn wait(task_id: u64, resource_id: u64, op: &str, since: f64) -> Wait {
    Wait { task_id, resource_id, op: op.to_owned(), since_nanos: nanos(since) }
}

/// The snapshot at `now` seconds.
pub(crate) fn snapshot(now: f64) -> Snapshot {
    let locations = vec![
        Location { id: 1, file: "src/main.rs".into(), line: 5, col: 5 },
        Location { id: 2, file: "src/handler.rs".into(), line: 42, col: 5 },
        Location { id: 3, file: "src/poller.rs".into(), line: 10, col: 9 },
        Location { id: 4, file: "src/cache.rs".into(), line: 30, col: 5 },
        Location { id: 5, file: "src/events.rs".into(), line: 12, col: 13 },
        Location { id: 6, file: "src/cache.rs".into(), line: 8, col: 17 },
    ];
    let mut main = task(1, 1, TaskState::Running, 99.9);
    main.name = "main-loop".into();
    main.parent_task_id = 0;
    main.polls = 5_000;
    main.wakes = 5_000;
    main.busy_nanos = nanos(2.5);
    main.created_nanos = 0;
    let mut tasks = vec![main];
    for (id, since) in [(10, 20.0), (11, 35.0), (12, 50.0)] {
        tasks.push(task(id, 2, TaskState::Idle, since));
    }
    for (id, since) in [(30, 40.0), (31, 60.0)] {
        let mut lost = task(id, 3, TaskState::Idle, since);
        lost.waker_count = 0;
        tasks.push(lost);
    }
    let mut holder = task(20, 4, TaskState::Idle, 90.0);
    holder.name = "refresh".into();
    tasks.push(holder);
    for id in [21, 22] {
        let mut waiter = task(id, 4, TaskState::Idle, 95.0);
        waiter.name = "refresh".into();
        tasks.push(waiter);
    }
    let channel = Resource {
        id: CHANNEL,
        kind: ResourceKind::Semaphore as i32,
        internal: true,
        location_id: 5,
        permits: 0,
        ..Resource::default()
    };
    let cache = Resource {
        id: CACHE,
        kind: ResourceKind::Mutex as i32,
        location_id: 6,
        locked: true,
        holder_task_id: 20,
        ..Resource::default()
    };
    let waits = vec![
        wait(10, CHANNEL, "Acquire::new", 20.0),
        wait(11, CHANNEL, "Acquire::new", 35.0),
        wait(12, CHANNEL, "Acquire::new", 50.0),
        wait(21, CACHE, "Mutex::lock", 95.0),
        wait(22, CACHE, "Mutex::lock", 95.0),
    ];
    // The poller's and the main loop's sleeps: timers are resources too.
    let timers = (0..3).map(|i| Resource {
        id: 9_223_372_045_444_710_416 + i * 64,
        kind: ResourceKind::Timer as i32,
        location_id: 3,
        timer_duration_nanos: nanos(1.0),
        ..Resource::default()
    });
    Snapshot {
        now_nanos: nanos(now),
        locations,
        tasks,
        resources: [channel, cache].into_iter().chain(timers).collect(),
        waits,
        runtimes: vec![RuntimeMetrics {
            runtime_id: 1,
            flavor: "multi_thread".into(),
            workers: 2,
            alive_tasks: 9,
            blocking_threads: 1,
            idle_blocking_threads: 1,
            spawned_tasks_total: 100,
            ..RuntimeMetrics::default()
        }],
        stats: Some(AgentStats {
            tasks_live: 9,
            tasks_spawned_total: 100 + now as u64,
            tasks_finished_total: 91 + now as u64 / 2,
            memory_bytes: 65_536,
            watch_lagged_total: 1,
            ..AgentStats::default()
        }),
        ..Snapshot::default()
    }
}

pub(crate) fn hello() -> HelloResponse {
    HelloResponse {
        protocol_version: leakscope_proto::v1::PROTOCOL_VERSION,
        agent_version: "0.1.0".into(),
        pid: 4242,
        process_name: "shop".into(),
        capabilities: Some(Capabilities {
            tasks: true,
            resources: true,
            task_dump: true,
            runtime_metrics: true,
            ..Capabilities::default()
        }),
        ..HelloResponse::default()
    }
}

fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame { function: function.into(), file: file.into(), line, col: 5 }
}

fn dump() -> TaskDumpResponse {
    let sender = Backtrace {
        frames: vec![
            frame("shop::handler::publish::{{closure}}", "src/handler.rs", 48),
            frame("tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}", "", 0),
            frame("tokio::sync::batch_semaphore::Acquire::poll", "", 0),
        ],
    };
    TaskDumpResponse {
        status: DumpStatus::Ok as i32,
        taken_at_nanos: nanos(99.0),
        duration_nanos: nanos(0.002),
        traces: [10, 11, 12]
            .into_iter()
            .map(|task_id| TaskTrace { task_id, backtraces: vec![sender.clone()] })
            .collect(),
        ..TaskDumpResponse::default()
    }
}

/// The engine after three updates (t = 98, 99, 100 s) and a dump, analysed, with `focus`.
pub(crate) fn engine(focus: Option<u64>) -> Engine {
    let mut engine = Engine::new(Config::default(), ADDRESS);
    engine.hello(&hello());
    engine.set_focus(focus);
    engine.set_lists(Lists { tasks: true, resources: true });
    for (full, now) in [(true, 98.0), (false, 99.0)] {
        engine.apply(vec![Update { full, snapshot: Some(snapshot(now)) }]);
    }
    engine.apply_dump(dump());
    engine.apply(vec![Update { full: false, snapshot: Some(snapshot(100.0)) }]);
    engine.analyze(Instant::now());
    engine
}

/// What the engine publishes for the fixture, with the engine's timings (which vary from run
/// to run) fixed.
pub(crate) fn data(focus: Option<u64>) -> Arc<Data> {
    let mut data = (*engine(focus).publish()).clone();
    data.analysis = AnalysisInfo { took_ms: 3.0, apply_ms: 1.0, every_secs: 1.0, ..data.analysis };
    Arc::new(data)
}

/// A UI showing the fixture, on the Overview, with the geometry of an 80x24 screen.
pub(crate) fn app() -> App {
    let mut app = App::new(ADDRESS, Instant::now());
    app.on_data(data(None));
    app
}
