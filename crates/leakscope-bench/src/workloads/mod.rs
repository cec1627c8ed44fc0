//! The workloads, one file each; see docs/benchmarks.md for what each measures and how.

pub(crate) mod burst;
pub(crate) mod hold;
pub(crate) mod http;
pub(crate) mod idle;
pub(crate) mod park;
pub(crate) mod ping_pong;
pub(crate) mod poll;
pub(crate) mod spawn;
