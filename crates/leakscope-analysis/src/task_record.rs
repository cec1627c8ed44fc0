//! What the client's model keeps of each task: the agent's `Task` record without what the model
//! holds elsewhere, in 144 bytes where the protocol's record takes 184.
//!
//! The fields the client reads keep the protocol's names and types, so `task.polls` or
//! `task.state == TaskState::Idle as i32` read alike on either. Two differ:
//!
//! - `wait_chain_ids` is not here: the model keeps a task's chain ids beside its record, inline
//!   for up to three (`Model::captured_chains` gives the chains).
//! - `name` is a [`TaskName`]: one thin pointer, null for the unnamed task, shared by every task
//!   with the same name (the model interns them), where a `String` was 24 bytes a task.
//!
//! A `u32` index into a name table the model keeps would make the record 136 bytes (8 MB fewer
//! at a million tasks), but every reader of a name would then need the model (the terminal UI's
//! task page reads a cloned record), `From<Task>` could not keep the name, and the table would
//! need counts of its own to forget the names of tasks gone. Moving the chain ids (16 bytes) into
//! the record would save nothing: its padding is 4 bytes and its alignment 8.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use leakscope_proto::v1::{SpawnerSpan, Task};

/// One task as the model holds it: the protocol's [`Task`] with the same fields, but for
/// `wait_chain_ids` (held apart) and `name` (a shared [`TaskName`]). See the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskRecord {
    /// tokio's task id.
    pub id: u64,
    /// The name given at spawn (`tokio::task::Builder::name`); empty when none.
    pub name: TaskName,
    /// `TaskKind` as sent.
    pub kind: i32,
    /// Where it was spawned.
    pub location_id: u32,
    /// The task that spawned this one; 0 when spawned outside any task.
    pub parent_task_id: u64,
    /// The tracing span current at spawn.
    pub spawner_span: Option<Box<SpawnerSpan>>,
    /// When it was spawned (agent clock).
    pub created_nanos: u64,
    /// When it was dropped; 0 while alive.
    pub dropped_nanos: u64,
    /// Polls so far.
    pub polls: u64,
    /// Time spent in polls.
    pub busy_nanos: u64,
    /// When the latest poll started.
    pub last_poll_start_nanos: u64,
    /// When the latest poll ended.
    pub last_poll_end_nanos: u64,
    /// Wakes so far.
    pub wakes: u64,
    /// Wakes from inside its own poll.
    pub self_wakes: u64,
    /// When it was last woken.
    pub last_wake_nanos: u64,
    /// Live wakers: clones minus drops. Idle with zero means nothing can ever wake it.
    pub waker_count: i64,
    /// `TaskState` as sent.
    pub state: i32,
    /// Size of the spawned future in bytes.
    pub size_bytes: u64,
    /// Polls longer than the long-poll threshold.
    pub long_polls: u64,
}

impl From<Task> for TaskRecord {
    /// The record of `task`, its `wait_chain_ids` dropped (the model takes them out first).
    fn from(task: Task) -> Self {
        let Task {
            id,
            name,
            kind,
            location_id,
            parent_task_id,
            spawner_span,
            created_nanos,
            dropped_nanos,
            polls,
            busy_nanos,
            last_poll_start_nanos,
            last_poll_end_nanos,
            wakes,
            self_wakes,
            last_wake_nanos,
            waker_count,
            state,
            size_bytes,
            long_polls,
            wait_chain_ids: _,
        } = task;
        Self {
            id,
            name: TaskName::from(name),
            kind,
            location_id,
            parent_task_id,
            spawner_span,
            created_nanos,
            dropped_nanos,
            polls,
            busy_nanos,
            last_poll_start_nanos,
            last_poll_end_nanos,
            wakes,
            self_wakes,
            last_wake_nanos,
            waker_count,
            state,
            size_bytes,
            long_polls,
        }
    }
}

/// A task's name: one pointer, null when the task has none, and shared by the tasks with the
/// same name. Reads as a `&str` (`name.is_empty()`, `name.as_str()`, `{name}`), empty for none.
#[derive(Clone, Default)]
pub struct TaskName(Option<Arc<String>>);

impl TaskName {
    /// The name; empty when the task has none.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().map_or("", String::as_str)
    }

    /// Whether another holder shares this name's allocation (the model forgets a name only it
    /// holds).
    pub(crate) fn is_shared(&self) -> bool {
        self.0.as_ref().is_some_and(|name| Arc::strong_count(name) > 1)
    }

    /// Whether `self` and `other` share one allocation (or are both unnamed).
    pub fn ptr_eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl From<String> for TaskName {
    fn from(name: String) -> Self {
        Self((!name.is_empty()).then(|| Arc::new(name)))
    }
}

impl From<&str> for TaskName {
    fn from(name: &str) -> Self {
        Self::from(name.to_owned())
    }
}

impl Deref for TaskName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for TaskName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TaskName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for TaskName {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TaskName {}

impl PartialEq<str> for TaskName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TaskName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Hash for TaskName {
    // As the `str` it reads as, so that a set of names can be searched with a `&str`.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TaskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{SpawnerSpan, Task};

    use super::{TaskName, TaskRecord};

    #[test]
    fn a_record_keeps_every_field_but_the_chain_ids_in_less_room() {
        assert_eq!(std::mem::size_of::<TaskName>(), 8);
        assert_eq!(std::mem::size_of::<TaskRecord>(), 144);
        assert!(std::mem::size_of::<TaskRecord>() < std::mem::size_of::<Task>());
        let task = Task {
            id: 1,
            name: "worker".into(),
            kind: 2,
            location_id: 3,
            parent_task_id: 4,
            spawner_span: Some(Box::new(SpawnerSpan { span_id: 5, ..SpawnerSpan::default() })),
            created_nanos: 6,
            dropped_nanos: 7,
            polls: 8,
            busy_nanos: 9,
            last_poll_start_nanos: 10,
            last_poll_end_nanos: 11,
            wakes: 12,
            self_wakes: 13,
            last_wake_nanos: 14,
            waker_count: -15,
            state: 16,
            size_bytes: 17,
            long_polls: 18,
            wait_chain_ids: vec![19],
        };
        let record = TaskRecord::from(task.clone());
        let back = Task {
            id: record.id,
            name: record.name.to_string(),
            kind: record.kind,
            location_id: record.location_id,
            parent_task_id: record.parent_task_id,
            spawner_span: record.spawner_span,
            created_nanos: record.created_nanos,
            dropped_nanos: record.dropped_nanos,
            polls: record.polls,
            busy_nanos: record.busy_nanos,
            last_poll_start_nanos: record.last_poll_start_nanos,
            last_poll_end_nanos: record.last_poll_end_nanos,
            wakes: record.wakes,
            self_wakes: record.self_wakes,
            last_wake_nanos: record.last_wake_nanos,
            waker_count: record.waker_count,
            state: record.state,
            size_bytes: record.size_bytes,
            long_polls: record.long_polls,
            wait_chain_ids: vec![19],
        };
        assert_eq!(back, task);
    }

    #[test]
    fn a_name_reads_as_its_text_and_none_as_empty() {
        let none = TaskName::default();
        assert!(none.is_empty() && TaskName::from(String::new()).ptr_eq(&none));
        let name = TaskName::from("worker");
        assert_eq!(
            (name.as_str(), format!("{name} {name:?}")),
            ("worker", "worker \"worker\"".into())
        );
        let again = TaskName::from("worker");
        assert!(name == "worker" && name == *"worker" && name == again);
        assert!(!name.ptr_eq(&again) && name.ptr_eq(&name.clone()));
    }
}
