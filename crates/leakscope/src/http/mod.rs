//! The agent's opt-in HTTP endpoints for fleets: `/metrics` in the Prometheus text format and
//! `/debug/pprof/{profile,tasks}` shaped like Go's `net/http/pprof`, served on the agent's own
//! thread and runtime next to the gRPC service.
//!
//! The endpoints are the `http` cargo feature. Without it only the settings remain, and asking
//! for an HTTP address is an error that names the feature (`off.rs`).

mod config;
#[cfg(feature = "http")]
mod metrics;
#[cfg(not(feature = "http"))]
mod off;
#[cfg(feature = "http")]
mod request;
#[cfg(feature = "http")]
mod routes;
#[cfg(feature = "http")]
mod server;
#[cfg(feature = "http")]
mod tasks_text;

pub(crate) use config::{HttpConfig, MAX_TOP_LOCATIONS};
#[cfg(not(feature = "http"))]
pub(crate) use off::{Listener, bind, serve};
#[cfg(feature = "http")]
pub(crate) use server::{Listener, bind, serve};

#[cfg(all(test, feature = "http"))]
mod fixture;
