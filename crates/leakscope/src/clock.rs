//! The agent's clock: nanoseconds since its origin, the unit of every time on the wire.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static ORIGIN: OnceLock<(Instant, u64)> = OnceLock::new();

fn origin() -> &'static (Instant, u64) {
    ORIGIN.get_or_init(|| {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        (Instant::now(), unix)
    })
}

/// Nanoseconds since the origin; never 0, so 0 can mean "never" in records.
#[inline]
pub(crate) fn now() -> u64 {
    (origin().0.elapsed().as_nanos() as u64).max(1)
}

/// Wall-clock time of the origin, in nanoseconds since the Unix epoch.
pub(crate) fn origin_unix_nanos() -> u64 {
    origin().1
}
