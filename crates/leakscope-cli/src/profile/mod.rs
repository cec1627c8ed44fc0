//! `leakscope profile`: CPU, task-wait, lock-wait and blocking profiles of a running app, and the
//! difference of two, written as flame graphs, pprof or folded stacks (leakscope-profile does the
//! building and the formats; this module reads the target and writes the file).

mod args;
mod command;

pub use args::{
    BlockingArgs, BlockingWeight, CpuArgs, DiffArgs, LocksArgs, LocksWeight, OutputArgs,
    ProfileArgs, ProfileKind, TasksArgs, TasksWeight,
};
pub(crate) use command::run;
