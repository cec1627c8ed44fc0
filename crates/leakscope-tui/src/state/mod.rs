//! The UI's state: plain data and the transitions between states, no terminal and no drawing
//! (no ratatui import), so every transition is tested without a screen.

mod action;
mod app;
mod background;
mod columns;
mod data;
mod link;
mod list;
mod lists;
mod rows;
mod tasks;

pub(crate) use action::{Action, Mode, Tab};
pub(crate) use app::{App, Effect, Geometry, Page, TaskPage};
pub(crate) use columns::{Column, FindingColumn, GroupColumn, ResourceColumn, TaskColumn};
pub(crate) use data::{
    AnalysisInfo, Data, DumpView, Focus, FocusWait, Lists, RowState, Sample, Strings, TaskRow,
};
pub(crate) use lists::{
    ResourceStats, group_severity, label as resource_kind_label, resource_label,
};
pub(crate) use rows::{Rows, RowsBuilder};
pub(crate) use tasks::TasksPage;
