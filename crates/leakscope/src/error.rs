//! Why the agent could not start.

use std::net::SocketAddr;

/// Errors from [`Builder::try_init`](crate::Builder::try_init).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A non-loopback address was asked for without the explicit opt-in.
    #[error(
        "refusing to bind non-loopback address {0}: set LEAKSCOPE_ALLOW_REMOTE=1 or Builder::allow_remote(true)"
    )]
    NotLoopback(SocketAddr),
    /// The listening socket could not be bound.
    #[error("failed to bind {addr}: {source}")]
    Bind {
        /// Address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// An environment variable held something unusable.
    #[error("failed to read {var}={value:?}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// Another tracing subscriber is already the global default, so tokio's instrumentation cannot
    /// reach the agent. Put [`layer()`](crate::layer()) in that subscriber, or hand it to
    /// [`Builder::forward_to`](crate::Builder::forward_to) instead of installing it.
    #[error(
        "failed to install the task collector: a global tracing subscriber is already set (add leakscope::layer() to it, or pass it to Builder::forward_to instead)"
    )]
    SubscriberTaken,
    /// The configuration asks for something this build cannot do.
    #[error("failed to start: {0}")]
    Unsupported(&'static str),
    /// [`init`](crate::init) or [`try_init`](crate::try_init) already ran in this process.
    #[error("failed to start: the leakscope agent is already running in this process")]
    AlreadyRunning,
    /// The agent's own thread could not be started.
    #[error("failed to start the agent thread: {0}")]
    Thread(std::io::Error),
}
