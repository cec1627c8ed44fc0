//! `--tasks-of N`: one page of a group's tasks, as text or JSON, in place of the report. The
//! agent sorts and pages them with `--in-agent`; otherwise the command does, from its model.

use std::fmt::Write as _;

use clap::ValueEnum;
use leakscope_analysis::{Group, TaskOrder, TaskRecord, format_count, format_secs, names};
use leakscope_proto::v1::{GroupTask, GroupTaskOrder, TaskState};
use serde::Serialize;

use super::command::Observed;
use super::json::JSON_SCHEMA_VERSION;

/// How `--tasks-of` sorts a group's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// The longest idle first, as a group's sample of ids.
    Idle,
    /// The oldest first.
    Age,
    /// The most polled first.
    Polls,
    /// By id, lowest first.
    Id,
}

impl Order {
    pub(crate) const fn analysis(self) -> TaskOrder {
        match self {
            Self::Idle => TaskOrder::Idle,
            Self::Age => TaskOrder::Age,
            Self::Polls => TaskOrder::Polls,
            Self::Id => TaskOrder::Id,
        }
    }

    pub(crate) const fn wire(self) -> GroupTaskOrder {
        match self {
            Self::Idle => GroupTaskOrder::Idle,
            Self::Age => GroupTaskOrder::Age,
            Self::Polls => GroupTaskOrder::Polls,
            Self::Id => GroupTaskOrder::Id,
        }
    }

    const fn phrase(self) -> &'static str {
        match self {
            Self::Idle => "the longest idle first",
            Self::Age => "the oldest first",
            Self::Polls => "the most polled first",
            Self::Id => "by id",
        }
    }
}

/// The page asked for: which group (1 = the largest), the order, where it starts and how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ask {
    pub(crate) rank: usize,
    pub(crate) order: Order,
    pub(crate) offset: u64,
    pub(crate) limit: u32,
}

/// One page of a group's tasks.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Page {
    /// The group's place in the report, 1 the largest; and how many groups it has.
    pub(crate) rank: usize,
    pub(crate) groups: usize,
    pub(crate) order: Order,
    pub(crate) offset: u64,
    /// The group's tasks in all.
    pub(crate) total: u64,
    pub(crate) tasks: Vec<PageTask>,
}

/// One task of a page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct PageTask {
    pub(crate) id: u64,
    pub(crate) name: Option<String>,
    pub(crate) state: &'static str,
    pub(crate) age_secs: f64,
    /// Since its last poll ended, when idle; 0 otherwise.
    pub(crate) idle_secs: f64,
    pub(crate) polls: u64,
}

impl Page {
    /// The page `ask` asked for of a report of `groups` groups: `tasks` of the group's `total`.
    pub(crate) fn new(ask: Ask, groups: usize, total: u64, tasks: Vec<PageTask>) -> Self {
        Self { rank: ask.rank, groups, order: ask.order, offset: ask.offset, total, tasks }
    }
}

impl PageTask {
    /// A task of the command's own model, at `now` on the agent's clock.
    pub(crate) fn from_record(task: &TaskRecord, now: u64) -> Self {
        Self {
            id: task.id,
            name: Some(task.name.as_str()).filter(|n| !n.is_empty()).map(str::to_owned),
            state: state(task.state),
            age_secs: secs(now.saturating_sub(task.created_nanos)),
            idle_secs: secs(names::idle_nanos(now, task)),
            polls: task.polls,
        }
    }

    /// A task of a page the agent sent.
    pub(crate) fn from_wire(task: &GroupTask) -> Self {
        Self {
            id: task.id,
            name: Some(task.name.as_str()).filter(|n| !n.is_empty()).map(str::to_owned),
            state: state(task.state),
            age_secs: secs(task.age_nanos),
            idle_secs: secs(task.idle_nanos),
            polls: task.polls,
        }
    }
}

fn secs(nanos: u64) -> f64 {
    // Milliseconds are enough, and keep the JSON short.
    (nanos as f64 / 1e6).round() / 1e3
}

fn state(state: i32) -> &'static str {
    match TaskState::try_from(state).unwrap_or(TaskState::Unspecified) {
        TaskState::Running => "running",
        TaskState::Scheduled => "scheduled",
        TaskState::Idle => "idle",
        TaskState::Done => "done",
        TaskState::Unspecified => "unknown",
    }
}

/// The group the page is of.
pub(crate) fn group<'r>(observed: &'r Observed, page: &Page) -> &'r Group {
    &observed.report.groups[page.rank - 1]
}

/// The page for people: which group, which tasks of it, then a table.
pub(crate) fn text(observed: &Observed, page: &Page) -> String {
    let group = group(observed, page);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "GROUP {} of {}: {} tasks spawned at {}, waiting on {}",
        page.rank,
        page.groups,
        format_count(group.count),
        group.location,
        group.waiting_on
    );
    let shown = match page.tasks.len() as u64 {
        0 => format!("no task at offset {} of {}", page.offset, format_count(page.total)),
        n => format!(
            "tasks {}-{} of {}, {}",
            format_count(page.offset + 1),
            format_count(page.offset + n),
            format_count(page.total),
            page.order.phrase()
        ),
    };
    let _ = writeln!(out, "  {shown} (analysed by the {})", observed.analysed_by.as_str());
    if page.tasks.is_empty() {
        return out;
    }
    let rows = page
        .tasks
        .iter()
        .map(|t| {
            vec![
                t.id.to_string(),
                t.state.to_owned(),
                format_secs(t.age_secs),
                if t.state == "idle" { format_secs(t.idle_secs) } else { "-".to_owned() },
                t.polls.to_string(),
                t.name.clone().unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    out.push_str(&super::text::table(
        &["ID", "STATE", "AGE", "IDLE", "POLLS", "NAME"],
        &[0, 2, 3, 4],
        rows,
    ));
    out
}

/// The page for programs (docs/json-schema.md, "A group's tasks").
pub(crate) fn json(observed: &Observed, page: &Page) -> String {
    #[derive(Serialize)]
    struct Document<'a> {
        schema_version: u32,
        backend: &'static str,
        analysed_by: &'static str,
        group: &'a Group,
        #[serde(flatten)]
        page: &'a Page,
    }
    let document = Document {
        schema_version: JSON_SCHEMA_VERSION,
        backend: observed.backend.as_str(),
        analysed_by: observed.analysed_by.as_str(),
        group: group(observed, page),
        page,
    };
    let mut text = serde_json::to_string_pretty(&document)
        .expect("a page holds only strings, numbers and lists");
    text.push('\n');
    text
}
