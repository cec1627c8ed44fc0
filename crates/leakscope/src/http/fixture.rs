//! Fixed models for the endpoints' golden tests: a small app with parked receivers, two tasks
//! queued on a held mutex, a running parent, and a dump of the receivers.

use leakscope_analysis::{Model, Sources, TargetInfo};
use leakscope_proto::v1::{
    AgentStats, Backtrace, DumpStatus, Frame, Location, LocationPollStats, Resource, ResourceKind,
    RuntimeMetrics, Snapshot, Task, TaskDumpResponse, TaskKind, TaskState, TaskTrace, Wait,
};

const SEC: u64 = 1_000_000_000;

fn location(id: u32, file: &str, line: u32) -> Location {
    Location { id, file: file.into(), line, col: 5 }
}

fn task(id: u64, location_id: u32, state: TaskState) -> Task {
    Task {
        id,
        kind: TaskKind::Async as i32,
        location_id,
        parent_task_id: 1,
        created_nanos: 50 * SEC,
        polls: 2,
        last_poll_start_nanos: 100 * SEC,
        last_poll_end_nanos: 100 * SEC,
        waker_count: 1,
        state: state as i32,
        ..Task::default()
    }
}

fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame { function: function.into(), file: file.into(), line, col: 9 }
}

/// The model (one snapshot applied at t = 700 s) and a dump of the receivers taken at 699 s.
pub(crate) fn model() -> (Model, TaskDumpResponse) {
    let mut model = Model::new(Sources::all());
    model.set_target(TargetInfo {
        process_name: "app".into(),
        pid: 42,
        agent_version: "0.1.0".into(),
        missing: Vec::new(),
        long_poll_threshold_nanos: 10_000_000,
    });
    let parent = Task {
        parent_task_id: 0,
        last_poll_start_nanos: 700 * SEC,
        last_poll_end_nanos: 0,
        ..task(1, 4, TaskState::Running)
    };
    let receiver = |id| Task { name: "worker".into(), ..task(id, 2, TaskState::Idle) };
    let mut tasks = vec![parent, receiver(10), receiver(11), receiver(12)];
    tasks.extend([20, 21].map(|id| task(id, 1, TaskState::Idle)));
    tasks.push(task(30, 4, TaskState::Scheduled));
    let mutex = Resource {
        id: 100,
        kind: ResourceKind::Mutex as i32,
        concrete_type: "Mutex".into(),
        location_id: 3,
        locked: true,
        holder_task_id: 1,
        ..Resource::default()
    };
    let waits = [20, 21]
        .map(|task_id| Wait {
            task_id,
            resource_id: 100,
            op: "Mutex::lock".into(),
            since_nanos: 100 * SEC,
        })
        .to_vec();
    model.apply_snapshot(Snapshot {
        now_nanos: 700 * SEC,
        locations: vec![
            location(1, "src/main.rs", 12),
            location(2, "src/worker.rs", 30),
            location(3, "src/lib.rs", 10),
            location(4, "src/main.rs", 40),
        ],
        tasks,
        resources: vec![mutex],
        waits,
        poll_stats: vec![LocationPollStats {
            location_id: 4,
            // One of them severe (250 ms, over ten times the 10 ms threshold): blamed.
            long_polls: 3,
            long_poll_nanos: 290_000_000,
            max_poll_nanos: 250_000_000,
            ..LocationPollStats::default()
        }],
        runtimes: vec![RuntimeMetrics {
            runtime_id: 1,
            flavor: "multi_thread".into(),
            workers: 2,
            alive_tasks: 7,
            spawned_tasks_total: 9,
            heartbeat_age_nanos: SEC / 10,
            ..RuntimeMetrics::default()
        }],
        stats: Some(AgentStats {
            tasks_live: 7,
            tasks_spawned_total: 9,
            tasks_finished_total: 2,
            long_polls_total: 3,
            spans_dropped_total: 1,
            memory_bytes: 4096,
            ..AgentStats::default()
        }),
        ..Snapshot::default()
    });
    let recv = Backtrace {
        frames: vec![
            frame(
                "tokio::runtime::task::harness::Harness<T,S>::poll",
                "tokio/src/runtime/task/harness.rs",
                1,
            ),
            frame("app::worker::run::{{closure}}", "src/worker.rs", 33),
            frame(
                "tokio::sync::mpsc::bounded::Receiver<T>::recv::{{closure}}",
                "tokio-1.54.1/src/sync/mpsc/bounded.rs",
                123,
            ),
        ],
    };
    let dump = TaskDumpResponse {
        status: DumpStatus::Ok as i32,
        taken_at_nanos: 699 * SEC,
        duration_nanos: SEC / 100,
        traces: [10, 11]
            .map(|task_id| TaskTrace { task_id, backtraces: vec![recv.clone()] })
            .to_vec(),
        ..TaskDumpResponse::default()
    };
    (model, dump)
}

/// A model with `counts[i]` idle tasks spawned at `src/l{i}.rs:1:1`.
pub(crate) fn spread(counts: &[u64]) -> Model {
    let mut model = Model::new(Sources::all());
    let mut tasks = Vec::new();
    let mut next = 1;
    for (i, &count) in counts.iter().enumerate() {
        for _ in 0..count {
            tasks.push(task(next, i as u32 + 1, TaskState::Idle));
            next += 1;
        }
    }
    model.apply_snapshot(Snapshot {
        now_nanos: 200 * SEC,
        locations: (0..counts.len())
            .map(|i| Location { id: i as u32 + 1, file: format!("src/l{i}.rs"), line: 1, col: 1 })
            .collect(),
        tasks,
        ..Snapshot::default()
    });
    model
}
