//! The task-wait profile, tokio's counterpart of Go's goroutine profile: one stack per live task,
//! its spawn location first, then its await chain from a task dump, then what it waits on.

use std::collections::BTreeSet;

use leakscope_analysis::{Model, TaskRecord, WaitPoint, WaitSource};
use leakscope_proto::v1::TaskDumpResponse;

use super::frames::{
    Dumped, await_chain, idle_nanos, model_profile, nanos, spawn_frame, task_labels, wait_frame,
};
use crate::profile::{Profile, ValueType};

/// Which live tasks a model-based profile covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only these tasks (for the terminal UI: the ones on screen). `None`: all.
    pub task_ids: Option<BTreeSet<u64>>,
    /// Only tasks whose spawn location, name or wait point contains this text (ignoring case).
    pub text: Option<String>,
}

impl TaskFilter {
    /// Every live task.
    pub fn all() -> Self {
        Self::default()
    }

    /// Only these tasks.
    pub fn ids(ids: impl IntoIterator<Item = u64>) -> Self {
        Self { task_ids: Some(ids.into_iter().collect()), text: None }
    }

    /// Only tasks whose spawn location, name or wait point mentions `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self { task_ids: None, text: Some(text.into()) }
    }

    pub(crate) fn matches(&self, model: &Model, task: &TaskRecord) -> bool {
        if self.task_ids.as_ref().is_some_and(|ids| !ids.contains(&task.id)) {
            return false;
        }
        let Some(text) = self.text.as_deref().filter(|t| !t.is_empty()) else { return true };
        let text = text.to_lowercase();
        let location = model.location(task.location_id).to_string();
        let point = model.task_wait(task.id).point.to_string();
        [location.as_str(), task.name.as_str(), point.as_str()]
            .iter()
            .any(|field| field.to_lowercase().contains(&text))
    }
}

/// What the flame graph's widths show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weight {
    /// One per task (`tasks/count`).
    #[default]
    Count,
    /// How long each task has been idle (`wait/nanoseconds`): old waits stand out.
    Idle,
}

impl Weight {
    /// The sample type this weight shows.
    pub fn sample_type(self) -> &'static str {
        match self {
            Self::Count => "tasks",
            Self::Idle => "wait",
        }
    }
}

/// The task-wait profile of the live tasks the filter selects: per task, its spawn frame
/// (`tokio::spawn (src/handler.rs:42)`), its await chain from `dump` when the dump has it and
/// the task has not been polled since (the runtime's own frames above the task's future left
/// out), and a last frame naming what it waits on (`wait: mpsc::Sender::send`, at the
/// resource's creation when known) or its state (`state: running`). Without a dump the stack is
/// the spawn frame and that last frame, from the agent's wait records.
///
/// Two value columns: `tasks/count` (default; see [`Weight`]) and `wait/nanoseconds` (time since
/// the task's last poll ended, for idle tasks). Labels: `state` and `wait_source` (dump,
/// capture, wait, unknown). `dump` is the latest dump, whether or not it was applied to the model.
pub fn task_wait_profile(
    model: &Model,
    dump: Option<&TaskDumpResponse>,
    filter: &TaskFilter,
) -> Profile {
    let mut profile = model_profile(
        model,
        "leakscope task-wait profile",
        [ValueType::new("tasks", "count"), ValueType::new("wait", "nanoseconds")],
    );
    let dumped = Dumped::new(model, dump);
    for task in model.live_tasks().filter(|t| filter.matches(model, t)) {
        let wait = model.task_wait(task.id);
        let mut stack = vec![spawn_frame(model, task)];
        let (point, source) = match dumped.of(task) {
            Some(traces) => {
                let (chain, point) = await_chain(traces);
                stack.extend(chain);
                // A leaf the classifier does not know, where a wait record does: the record
                // names it, as in the model.
                match point {
                    WaitPoint::Unknown(_) if !matches!(wait.point, WaitPoint::Unknown(_)) => {
                        (wait.point.clone(), "wait")
                    }
                    point => (point, dumped.source(task)),
                }
            }
            None => (
                wait.point.clone(),
                match wait.source {
                    WaitSource::Dump => "dump",
                    WaitSource::Capture => "capture",
                    WaitSource::Wait => "wait",
                    WaitSource::Unknown => "unknown",
                },
            ),
        };
        stack.push(wait_frame(model, task, wait, &point));
        profile.add(stack, vec![1, nanos(idle_nanos(model, task))], task_labels(task, source));
    }
    profile.normalize();
    profile
}
