//! `leakscope snapshot`: watch a target for a while, take a task dump where it can, and print the
//! analysis as text for people or JSON for programs.

mod args;
mod command;
mod json;
mod page;
mod text;

#[cfg(test)]
mod fixture;

pub use args::{Format, SnapshotArgs};
pub(crate) use command::run;
pub use json::JSON_SCHEMA_VERSION;
