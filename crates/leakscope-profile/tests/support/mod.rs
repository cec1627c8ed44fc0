//! The fixed model the golden tests profile, and renderings of profiles as text to snapshot.

use std::fmt::Write as _;

use leakscope_analysis::{Model, Sources, TargetInfo};
use leakscope_profile::pprof::proto;
use leakscope_profile::{Profile, folded};
use leakscope_proto::v1::{
    Backtrace, DumpStatus, Frame, Location, LocationPollStats, Resource, ResourceKind, Snapshot,
    Task, TaskDumpResponse, TaskKind, TaskState, TaskTrace, Wait,
};

const SEC: u64 = 1_000_000_000;
const TOKIO: &str = "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.54.1/src";

fn location(id: u32, file: &str, line: u32) -> Location {
    Location { id, file: file.into(), line, col: 5 }
}

fn task(id: u64, location_id: u32, state: TaskState, last_poll_end_secs: u64) -> Task {
    Task {
        id,
        kind: TaskKind::Async as i32,
        location_id,
        state: state as i32,
        polls: 3,
        waker_count: 1,
        created_nanos: SEC,
        last_poll_start_nanos: last_poll_end_secs * SEC,
        last_poll_end_nanos: last_poll_end_secs * SEC,
        ..Task::default()
    }
}

fn frame(function: &str, file: &str, line: u32) -> Frame {
    Frame { function: function.into(), file: file.into(), line, col: 9 }
}

/// The runtime frames every dumped task starts with.
fn runtime() -> Vec<Frame> {
    vec![
        frame(
            "std::sys::backtrace::__rust_begin_short_backtrace",
            "/rustc/abc/library/std/src/sys/backtrace.rs",
            158,
        ),
        frame(
            "tokio::runtime::task::harness::Harness<T,S>::poll",
            &format!("{TOKIO}/runtime/task/harness.rs"),
            160,
        ),
        frame(
            "tokio::runtime::task::core::Core<T,S>::poll",
            &format!("{TOKIO}/runtime/task/core.rs"),
            331,
        ),
    ]
}

/// An app at t = 100 s: three handlers (tasks 1-3, spawned at src/server.rs:40) stuck sending on
/// a full channel, one of them through a frame whose name holds `[u8; 8]`; a fourth handler
/// running; a cache writer (task 5) waiting 4 s on a Mutex held by a named refresher (task 6);
/// a blocking-pool task; and long polls at the refresher's location. A dump taken at t = 99 s
/// covers tasks 1-3 and 5; task 2 has been polled since, so its trace is stale.
pub(crate) fn fixture() -> (Model, TaskDumpResponse) {
    let mut refresher = task(6, 5, TaskState::Idle, 90);
    refresher.name = "refresher".into();
    let mut blocking = task(7, 6, TaskState::Running, 95);
    blocking.kind = TaskKind::Blocking as i32;
    let mut running = task(4, 1, TaskState::Running, 99);
    running.last_poll_start_nanos = 99 * SEC + SEC / 2;
    let mut polled_since = task(2, 1, TaskState::Idle, 99);
    polled_since.last_poll_start_nanos = 99 * SEC + SEC / 2;
    polled_since.last_poll_end_nanos = 99 * SEC + SEC / 2;
    let snapshot = Snapshot {
        now_nanos: 100 * SEC,
        locations: vec![
            location(1, "src/server.rs", 40),
            location(2, "src/server.rs", 12),
            location(3, "src/cache.rs", 7),
            location(4, "src/cache.rs", 20),
            location(5, "src/cache.rs", 30),
            location(6, "src/render.rs", 5),
        ],
        tasks: vec![
            task(1, 1, TaskState::Idle, 40),
            polled_since,
            task(3, 1, TaskState::Idle, 70),
            running,
            task(5, 4, TaskState::Idle, 96),
            refresher,
            blocking,
        ],
        resources: vec![
            Resource {
                id: 10,
                kind: ResourceKind::Semaphore as i32,
                concrete_type: "Semaphore".into(),
                internal: true,
                location_id: 2,
                ..Resource::default()
            },
            Resource {
                id: 11,
                kind: ResourceKind::Mutex as i32,
                concrete_type: "Mutex".into(),
                location_id: 3,
                locked: true,
                holder_task_id: 6,
                ..Resource::default()
            },
        ],
        waits: vec![
            Wait { task_id: 1, resource_id: 10, op: "Acquire::new".into(), since_nanos: 40 * SEC },
            Wait { task_id: 2, resource_id: 10, op: "Acquire::new".into(), since_nanos: 99 * SEC },
            Wait { task_id: 3, resource_id: 10, op: "Acquire::new".into(), since_nanos: 70 * SEC },
            Wait { task_id: 5, resource_id: 11, op: "Mutex::lock".into(), since_nanos: 96 * SEC },
        ],
        poll_stats: vec![LocationPollStats {
            location_id: 5,
            long_polls: 3,
            long_poll_nanos: 90_000_000,
            max_poll_nanos: 50_000_000,
            ..LocationPollStats::default()
        }],
        ..Snapshot::default()
    };
    let send = |handler_line: u32, extra: Option<Frame>| {
        let mut frames = runtime();
        frames.push(frame("app::server::handle::{{closure}}", "src/server.rs", handler_line));
        frames.extend(extra);
        frames.push(frame(
            "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}",
            &format!("{TOKIO}/sync/mpsc/bounded.rs"),
            795,
        ));
        frames.push(frame(
            "tokio::sync::batch_semaphore::Acquire::poll",
            &format!("{TOKIO}/sync/batch_semaphore.rs"),
            601,
        ));
        vec![Backtrace { frames }]
    };
    let mut lock = runtime();
    lock.push(frame("app::cache::write::{{closure}}", "src/cache.rs", 24));
    lock.push(frame(
        "tokio::sync::mutex::Mutex<T>::lock::{{closure}}",
        &format!("{TOKIO}/sync/mutex.rs"),
        680,
    ));
    let dump = TaskDumpResponse {
        status: DumpStatus::Ok as i32,
        taken_at_nanos: 99 * SEC,
        duration_nanos: SEC / 10,
        traces: vec![
            TaskTrace { task_id: 1, backtraces: send(52, None) },
            TaskTrace { task_id: 2, backtraces: send(52, None) },
            TaskTrace {
                task_id: 3,
                backtraces: send(
                    55,
                    Some(frame("<[u8; 8] as app::Sink>::push::{{closure}}", "src/fill.rs", 9)),
                ),
            },
            TaskTrace { task_id: 5, backtraces: vec![Backtrace { frames: lock }] },
        ],
        ..TaskDumpResponse::default()
    };
    let mut model = Model::new(Sources::all());
    model.set_target(TargetInfo { process_name: "app".into(), ..TargetInfo::default() });
    model.apply_snapshot(snapshot);
    model.apply_dump(dump.clone());
    (model, dump)
}

/// The folded stacks of the default column, with the column named on a first comment line.
pub(crate) fn folded_text(profile: &Profile) -> String {
    let column = profile.default_type().map(ToString::to_string).unwrap_or_default();
    let mut out = format!("# {column}\n");
    for line in folded::folded_lines(profile, profile.default_sample_type) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A decoded pprof message as text: every table, ids and string indices resolved.
pub(crate) fn describe_pprof(message: &proto::Profile) -> String {
    let s = |i: i64| format!("{:?}", message.string_table[i as usize]);
    let mut out = String::new();
    let _ = writeln!(out, "strings: {}", message.string_table.len());
    for t in &message.sample_type {
        let _ = writeln!(out, "sample_type {} {}", s(t.r#type), s(t.unit));
    }
    let _ = writeln!(out, "default_sample_type {}", s(message.default_sample_type));
    if let Some(t) = &message.period_type {
        let _ =
            writeln!(out, "period_type {} {} period {}", s(t.r#type), s(t.unit), message.period);
    }
    let _ = writeln!(
        out,
        "time_nanos {} duration_nanos {}",
        message.time_nanos, message.duration_nanos
    );
    for c in &message.comment {
        let _ = writeln!(out, "comment {}", s(*c));
    }
    for m in &message.mapping {
        let _ = writeln!(
            out,
            "mapping {} {} functions={} filenames={} lines={}",
            m.id,
            s(m.filename),
            m.has_functions,
            m.has_filenames,
            m.has_line_numbers
        );
    }
    for f in &message.function {
        let _ = writeln!(
            out,
            "function {} {} system_name {} {} start_line {}",
            f.id,
            s(f.name),
            s(f.system_name),
            s(f.filename),
            f.start_line
        );
    }
    for l in &message.location {
        let lines: Vec<String> = l
            .line
            .iter()
            .map(|line| format!("fn {} line {}", line.function_id, line.line))
            .collect();
        let _ = writeln!(out, "location {} mapping {} [{}]", l.id, l.mapping_id, lines.join(", "));
    }
    for sample in &message.sample {
        let labels: Vec<String> =
            sample.label.iter().map(|l| format!("{}={}", s(l.key), s(l.str))).collect();
        let _ = writeln!(
            out,
            "sample {:?} locations {:?} labels [{}]",
            sample.value,
            sample.location_id,
            labels.join(", ")
        );
    }
    out
}
