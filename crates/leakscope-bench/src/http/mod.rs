//! A minimal HTTP/1.1 keep-alive server and load generator over loopback, for the `http` workload.

pub(crate) mod client;
pub(crate) mod parse;
pub(crate) mod server;
