//! A small, fixed report for the renderers' golden tests: a lost waker, three tasks queued on a
//! mutex whose holder blocks its worker, and a single snapshot (enough for every kind: `growth`
//! reads the tasks' spawn times), from one healthy runtime.

use leakscope_analysis::{Config, Model, analyze};
use leakscope_client::Backend;
use leakscope_gate::RuntimeStatus;
use leakscope_proto::v1::{
    Capabilities, HelloResponse, Location, LongPoll, Resource, ResourceKind, RuntimeMetrics,
    Snapshot, Task, TaskKind, TaskState, Wait,
};

use super::command::{AnalysedBy, Observed};

const SEC: u64 = 1_000_000_000;

fn task(id: u64, location_id: u32, state: TaskState, since_secs: u64, wakers: i64) -> Task {
    Task {
        id,
        kind: TaskKind::Async as i32,
        location_id,
        state: state as i32,
        created_nanos: SEC,
        polls: 3,
        last_poll_start_nanos: since_secs * SEC,
        last_poll_end_nanos: if state == TaskState::Running { 0 } else { since_secs * SEC },
        wakes: 2,
        waker_count: wakers,
        ..Task::default()
    }
}

/// The report, analysed with the default configuration at t = 100 s, from a leakscope agent.
pub(crate) fn observed() -> Observed {
    let hello = HelloResponse {
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
    };
    let mut model = Model::from_hello(&hello);
    let location = |id, file: &str, line, col| Location { id, file: file.into(), line, col };
    let mut refresh: Vec<Task> = (3..=5)
        .map(|id| Task { name: "refresh".into(), ..task(id, 2, TaskState::Idle, 20 + id, 1) })
        .collect();
    refresh.push(task(6, 3, TaskState::Running, 99, 1));
    let mut tasks = vec![task(1, 1, TaskState::Idle, 40, 0), task(2, 1, TaskState::Idle, 70, 0)];
    tasks.extend(refresh);
    model.apply_snapshot(Snapshot {
        now_nanos: 100 * SEC,
        locations: vec![
            location(1, "src/retry.rs", 42, 9),
            location(2, "src/cache.rs", 17, 5),
            location(3, "src/report.rs", 30, 5),
            location(4, "src/cache.rs", 8, 21),
        ],
        tasks,
        resources: vec![Resource {
            id: 9,
            kind: ResourceKind::Mutex as i32,
            concrete_type: "Mutex".into(),
            location_id: 4,
            locked: true,
            holder_task_id: 6,
            ..Resource::default()
        }],
        waits: (3..=5)
            .map(|id| Wait {
                task_id: id,
                resource_id: 9,
                op: "Mutex::lock".into(),
                since_nanos: (20 + id) * SEC,
            })
            .collect(),
        long_polls: vec![LongPoll {
            task_id: 6,
            location_id: 3,
            start_nanos: 90 * SEC,
            duration_nanos: SEC / 4,
            ..LongPoll::default()
        }],
        runtimes: vec![RuntimeMetrics {
            runtime_id: 1,
            flavor: "multi_thread".into(),
            workers: 2,
            alive_tasks: 6,
            heartbeat_age_nanos: SEC / 10,
            ..RuntimeMetrics::default()
        }],
        ..Snapshot::default()
    });
    let mut report = analyze(&model, &Config::default());
    report.target.address = Some("127.0.0.1:6669".into());
    Observed {
        report,
        backend: Backend::Leakscope,
        analysed_by: AnalysedBy::Client,
        runtimes: RuntimeStatus::all(model.runtimes()),
        page: None,
    }
}
