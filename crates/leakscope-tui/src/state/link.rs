//! The connection to the target as the header shows it.

use std::time::{Duration, Instant};

/// Connected, or retrying with a reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Link {
    /// Receiving updates.
    Connected {
        /// Since when.
        since: Instant,
    },
    /// The target went away; the next attempt is at `retry_at`.
    Retrying {
        /// Why the last connection or attempt failed.
        reason: String,
        /// Attempts so far.
        attempt: u32,
        /// When the next attempt starts.
        retry_at: Instant,
    },
}

impl Link {
    /// The header's text for it at `now`.
    pub(crate) fn describe(&self, now: Instant) -> String {
        match self {
            Self::Connected { .. } => "connected".to_owned(),
            Self::Retrying { attempt, retry_at, .. } => {
                let wait = retry_at.saturating_duration_since(now);
                let when = if wait < Duration::from_millis(100) {
                    "now".to_owned()
                } else {
                    format!("in {:.0}s", wait.as_secs_f64().ceil())
                };
                format!("disconnected, retrying {when} (attempt {attempt})")
            }
        }
    }

    /// Why the connection is down, if it is.
    pub(crate) fn reason(&self) -> Option<&str> {
        match self {
            Self::Connected { .. } => None,
            Self::Retrying { reason, .. } => Some(reason),
        }
    }

    /// Whether updates are arriving.
    pub(crate) fn is_connected(&self) -> bool {
        matches!(self, Self::Connected { .. })
    }
}
