//! The frames the model-based profiles share: a task's spawn frame, its await chain from a dump,
//! and the frame that names what it waits on.

use std::collections::HashMap;

use leakscope_analysis::names::{clean_function, is_runtime_frame};
use leakscope_analysis::{
    Model, TaskRecord, TaskWait, WaitPoint, names, task_wait_point, wait_point,
};
use leakscope_proto::v1::{Backtrace, DumpStatus, TaskDumpResponse, TaskKind, TaskState};

use crate::profile::{Frame, Label, Profile, ValueType};
use crate::site;

/// The root frame of a task's stacks: how and where it was spawned, e.g. `tokio::spawn` at
/// `src/handler.rs:42`, with the task's name when it has one.
pub(crate) fn spawn_frame(model: &Model, task: &TaskRecord) -> Frame {
    let how = match TaskKind::try_from(task.kind).unwrap_or(TaskKind::Unspecified) {
        TaskKind::Async | TaskKind::Unspecified => site::SPAWN,
        TaskKind::Blocking => site::SPAWN_BLOCKING,
        TaskKind::BlockOn => site::BLOCK_ON,
        TaskKind::Local => site::SPAWN_LOCAL,
    };
    let function =
        if task.name.is_empty() { how.to_owned() } else { format!("{how} \"{}\"", task.name) };
    let location = model.location(task.location_id);
    Frame::new(function, location.file.clone(), location.line)
}

/// Each task's await chains: from a task dump the user asked for while it is fresh, else from
/// the agent's always-on capture.
pub struct Dumped<'a> {
    model: &'a Model,
    traces: HashMap<u64, &'a [Backtrace]>,
    valid_until: u64,
    taken: bool,
}

impl<'a> Dumped<'a> {
    /// The chains `model` captured, and the traces of `dump` where it succeeded.
    pub fn new(model: &'a Model, dump: Option<&'a TaskDumpResponse>) -> Self {
        let Some(dump) = dump.filter(|d| d.status == DumpStatus::Ok as i32) else {
            return Self { model, traces: HashMap::new(), valid_until: 0, taken: false };
        };
        Self {
            model,
            traces: dump.traces.iter().map(|t| (t.task_id, t.backtraces.as_slice())).collect(),
            valid_until: dump.taken_at_nanos.saturating_add(dump.duration_nanos),
            taken: true,
        }
    }

    /// Whether a dump succeeded (so a task missing from it is worth saying so).
    pub fn taken(&self) -> bool {
        self.taken
    }

    /// Where [`Dumped::of`] finds the task's chains: `dump` or `capture`.
    pub fn source(&self, task: &TaskRecord) -> &'static str {
        if self.fresh_dump(task).is_some() { "dump" } else { "capture" }
    }

    fn fresh_dump(&self, task: &TaskRecord) -> Option<&'a [Backtrace]> {
        self.traces
            .get(&task.id)
            .copied()
            .filter(|traces| !traces.is_empty())
            .filter(|_| task.last_poll_start_nanos <= self.valid_until)
    }

    /// The task's await chains: its dump backtraces unless it has been polled since the dump
    /// (its chain may have moved on), as the model's own rule; else its captured chains.
    pub fn of(&self, task: &TaskRecord) -> Option<&'a [Backtrace]> {
        self.fresh_dump(task).or_else(|| self.model.captured_chains(task.id))
    }
}

/// The await chain of a dumped task, root first: the backtrace that names what the task waits
/// on (a select's resource branch over its timer), without the runtime's frames above the task's
/// own future. Returns the point that backtrace names too.
pub(crate) fn await_chain(traces: &[Backtrace]) -> (Vec<Frame>, WaitPoint) {
    let (chain, point) = wait_chain(traces);
    let frames = chain
        .iter()
        .map(|f| Frame::new(clean_function(&f.function, &f.file), f.file.clone(), f.line))
        .collect();
    (frames, point)
}

/// A dumped task's frames as the dump gave them, root first: of its backtraces the one that
/// names what the task waits on (a select's resource branch over its timer), without the
/// runtime's frames above the task's own future; and the point it names.
pub fn wait_chain(traces: &[Backtrace]) -> (&[leakscope_proto::v1::Frame], WaitPoint) {
    let (point, _) = task_wait_point(traces);
    let chosen = traces
        .iter()
        .find(|bt| wait_point(&bt.frames) == point)
        .or_else(|| traces.first())
        .map_or(&[][..], |bt| bt.frames.as_slice());
    let start = chosen.iter().position(|f| !is_runtime_frame(&f.function)).unwrap_or(chosen.len());
    (&chosen[start..], point)
}

/// The leaf frame that says what a task waits on: `wait: Mutex::lock` at the lock's creation,
/// or its state when it is not parked (`state: running`).
pub(crate) fn wait_frame(
    model: &Model,
    task: &TaskRecord,
    wait: &TaskWait,
    point: &WaitPoint,
) -> Frame {
    match TaskState::try_from(task.state).unwrap_or(TaskState::Unspecified) {
        TaskState::Running => Frame::new(format!("{}running", site::STATE), "", 0),
        TaskState::Scheduled => Frame::new(format!("{}scheduled", site::STATE), "", 0),
        _ => {
            let location = wait
                .resource_id()
                .and_then(|id| model.resource(id))
                .map(|r| model.location(r.location_id))
                .filter(|l| !l.is_unknown());
            let function = format!("{}{point}", site::WAIT);
            match location {
                Some(l) => Frame::new(function, l.file.clone(), l.line),
                None => Frame::new(function, "", 0),
            }
        }
    }
}

/// Labels every task sample carries: its state and where its wait point came from.
pub(crate) fn task_labels(task: &TaskRecord, source: &str) -> Vec<Label> {
    let state = match TaskState::try_from(task.state).unwrap_or(TaskState::Unspecified) {
        TaskState::Running => "running",
        TaskState::Scheduled => "scheduled",
        TaskState::Idle => "idle",
        TaskState::Done => "done",
        TaskState::Unspecified => "unknown",
    };
    vec![
        Label { key: "state".into(), value: state.into() },
        Label { key: "wait_source".into(), value: source.into() },
    ]
}

/// How long `task` has been idle at the model's time ([`names::idle_nanos`]).
pub(crate) fn idle_nanos(model: &Model, task: &TaskRecord) -> u64 {
    names::idle_nanos(model.now_nanos(), task)
}

/// A model-based profile with these columns, the first the default and counting one per sample
/// (pprof's period, as Go's goroutine, mutex and block profiles have), titled, and naming the
/// model's process.
pub(crate) fn model_profile(model: &Model, title: &str, columns: [ValueType; 2]) -> Profile {
    let period = (columns[0].clone(), 1);
    let mut profile = Profile::new(columns.into());
    profile.period = Some(period);
    profile.title = title.into();
    profile.subtitle = target_subtitle(model);
    profile.program.clone_from(&model.target().process_name);
    profile
}

/// The subtitle a model gives: the process and when its data was observed.
fn target_subtitle(model: &Model) -> String {
    let target = model.target();
    match (target.process_name.is_empty(), target.pid) {
        (true, 0) => String::new(),
        (false, 0) => target.process_name.clone(),
        (true, pid) => format!("pid {pid}"),
        (false, pid) => format!("{} (pid {pid})", target.process_name),
    }
}

/// Nanoseconds as a pprof value.
pub(crate) fn nanos(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
