//! The agent's opt-in HTTP endpoints for fleets: `/metrics` in the Prometheus text format and
//! `/debug/pprof/{profile,tasks}` shaped like Go's `net/http/pprof`, served on the agent's own
//! thread and runtime next to the gRPC service.

mod config;
mod metrics;
mod request;
mod routes;
mod server;
mod tasks_text;

pub(crate) use config::{HttpConfig, MAX_TOP_LOCATIONS};
pub(crate) use server::{Listener, bind, serve};

#[cfg(test)]
mod fixture;
