//! The zoo's integration tests, in one binary: the command line as a process, and every scenario
//! run against a real tokio runtime.

mod cli;
mod markers;
mod scenarios;
mod support;
