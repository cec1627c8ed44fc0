//! Test helpers: small constructors for proto values, so test cases read as data.

use leakscope_proto::v1::{
    Backtrace, Frame, Location, Resource, ResourceKind, Snapshot, SpawnerSpan, Task, TaskKind,
    TaskState, Wait,
};

use crate::finding::{Finding, FindingKind};
use crate::location::SourceLocation;
use crate::{Config, Model, Sources, analyze};

/// Seconds on the agent clock to nanoseconds.
pub(crate) fn nanos(secs: f64) -> u64 {
    (secs * 1e9).round() as u64
}

/// Location `id` is `src/l<id>.rs:<id>0:5`, so expectations can name it.
pub(crate) fn location(id: u32) -> Location {
    Location { id, file: format!("src/l{id}.rs"), line: id * 10, col: 5 }
}

/// A snapshot at `now` seconds with these tasks and locations 1 to 9.
pub(crate) fn snapshot(now: f64, tasks: Vec<Task>) -> Snapshot {
    Snapshot {
        now_nanos: nanos(now),
        locations: (1..10).map(location).collect(),
        tasks,
        ..Snapshot::default()
    }
}

/// A model of one full snapshot from a source with everything.
pub(crate) fn model(snapshot: Snapshot) -> Model {
    let mut model = Model::new(Sources::all());
    model.apply_snapshot(snapshot);
    model
}

/// A task builder. A new task is an async task spawned at time 0 at location 1, polled once at
/// time 0, idle, with one live waker: healthy.
pub(crate) struct T(Task);

impl T {
    pub(crate) fn new(id: u64) -> Self {
        Self(Task {
            id,
            kind: TaskKind::Async as i32,
            location_id: 1,
            state: TaskState::Idle as i32,
            polls: 1,
            waker_count: 1,
            wakes: 1,
            ..Task::default()
        })
    }

    pub(crate) fn loc(mut self, location_id: u32) -> Self {
        self.0.location_id = location_id;
        self
    }

    pub(crate) fn name(mut self, name: &str) -> Self {
        self.0.name = name.to_owned();
        self
    }

    pub(crate) fn kind(mut self, kind: TaskKind) -> Self {
        self.0.kind = kind as i32;
        self
    }

    pub(crate) fn state(mut self, state: TaskState) -> Self {
        self.0.state = state as i32;
        self
    }

    pub(crate) fn created(mut self, at: f64) -> Self {
        self.0.created_nanos = nanos(at);
        self
    }

    /// Idle since `at`: its last poll ended then.
    pub(crate) fn idle(self, at: f64) -> Self {
        self.state(TaskState::Idle).polled(at, at)
    }

    /// Running since `at`: a poll started then and has not ended.
    pub(crate) fn running(self, at: f64) -> Self {
        let mut t = self.state(TaskState::Running);
        t.0.last_poll_start_nanos = nanos(at);
        t
    }

    pub(crate) fn polled(mut self, start: f64, end: f64) -> Self {
        self.0.polls = self.0.polls.max(1);
        self.0.last_poll_start_nanos = nanos(start);
        self.0.last_poll_end_nanos = nanos(end);
        self
    }

    pub(crate) fn polls(mut self, polls: u64) -> Self {
        self.0.polls = polls;
        self
    }

    pub(crate) fn wakers(mut self, count: i64) -> Self {
        self.0.waker_count = count;
        self
    }

    pub(crate) fn woken(mut self, at: f64) -> Self {
        self.0.last_wake_nanos = nanos(at);
        self
    }

    pub(crate) fn wakes(mut self, wakes: u64, self_wakes: u64) -> Self {
        self.0.wakes = wakes;
        self.0.self_wakes = self_wakes;
        self
    }

    pub(crate) fn parent(mut self, id: u64) -> Self {
        self.0.parent_task_id = id;
        self
    }

    pub(crate) fn span(mut self, span_id: u64, name: &str, closed: bool) -> Self {
        self.0.spawner_span =
            Some(Box::new(SpawnerSpan { span_id, name: name.to_owned(), location_id: 0, closed }));
        self
    }

    pub(crate) fn dropped(mut self, at: f64) -> Self {
        self.0.dropped_nanos = nanos(at);
        self
    }

    pub(crate) fn size(mut self, bytes: u64) -> Self {
        self.0.size_bytes = bytes;
        self
    }

    pub(crate) fn build(self) -> Task {
        self.0
    }
}

/// A resource of `kind`, created at location 0 unless changed.
pub(crate) fn resource(id: u64, kind: ResourceKind) -> Resource {
    Resource { id, kind: kind as i32, concrete_type: format!("{kind:?}"), ..Resource::default() }
}

/// `task` parked on `resource` since `since` seconds.
pub(crate) fn wait(task_id: u64, resource_id: u64, op: &str, since: f64) -> Wait {
    Wait { task_id, resource_id, op: op.to_owned(), since_nanos: nanos(since) }
}

/// Frames from `function@file:line:col` strings, root first.
pub(crate) fn frames(stack: &[&str]) -> Vec<Frame> {
    stack
        .iter()
        .map(|entry| {
            let (function, place) = entry.split_once('@').unwrap_or((entry, ""));
            let place: SourceLocation = place.parse().unwrap_or_else(|never| match never {});
            Frame {
                function: function.to_owned(),
                file: place.file,
                line: place.line,
                col: place.col,
            }
        })
        .collect()
}

pub(crate) fn backtrace(stack: &[&str]) -> Backtrace {
    Backtrace { frames: frames(stack) }
}

/// One line per finding: `severity kind[+merged kinds] location ×count oldest waiting_on [ids]`.
pub(crate) fn render(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            let waiting = f.waiting_on.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
            let kinds: Vec<&str> = f.kinds().iter().map(|k| k.as_str()).collect();
            format!(
                "{} {} {} ×{} {} {} {:?}",
                f.severity,
                kinds.join("+"),
                f.location,
                f.count,
                crate::format_secs(f.oldest_secs),
                waiting,
                f.task_ids
            )
        })
        .collect()
}

/// The rendered findings that carry `kind` (as their own or merged) that `analyze` gives for
/// `model` under `config`.
pub(crate) fn findings_of(kind: FindingKind, model: &Model, config: &Config) -> Vec<String> {
    let report = analyze(model, config);
    let of_kind: Vec<Finding> = report.findings.into_iter().filter(|f| f.has_kind(kind)).collect();
    render(&of_kind)
}
