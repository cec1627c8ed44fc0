//! The HTTP endpoints when the `http` feature is off: nothing is ever bound, because
//! `HttpConfig::check` turns down an HTTP address before the agent starts.

use crate::Error;
use crate::builder::Config;
use crate::follow::Follower;
use std::net::SocketAddr;
use std::sync::Arc;

/// Never made: there is no listener without the feature.
#[derive(Debug)]
pub(crate) enum Listener {}

impl Listener {
    pub(crate) fn local_addr(&self) -> SocketAddr {
        match *self {}
    }
}

/// Binds nothing; an HTTP address was already refused by the configuration check.
pub(crate) fn bind(config: &Config) -> Result<Option<Listener>, Error> {
    match config.http.bind {
        None => Ok(None),
        Some(_) => Err(super::config::FEATURE_OFF),
    }
}

pub(crate) async fn serve(listener: Listener, _follower: Arc<Follower>) {
    match listener {}
}
