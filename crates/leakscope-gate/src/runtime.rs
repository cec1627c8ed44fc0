//! A runtime's health as the agent's heartbeat reports it, in the shape every report prints: the
//! gate's reports and `leakscope snapshot` (text and JSON) both use [`RuntimeStatus`], so a
//! stalled runtime reads the same everywhere.
//!
//! The agent runs one heartbeat task on each registered runtime; a heartbeat older than its stall
//! threshold (1 s by default) means the runtime's workers are not getting to their queues (a
//! blocking call, a busy loop, or a runtime wedged for good), and that its tasks' idle times say
//! nothing about the app's own waits.

use std::fmt;

use leakscope_proto::v1::RuntimeMetrics;
use serde::{Deserialize, Serialize};

/// One runtime: its identity and whether its heartbeat is late.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    /// The agent's number for it (registration order, from 1).
    pub id: u32,
    /// `multi_thread` or `current_thread`.
    pub flavor: String,
    /// Worker threads.
    pub workers: u32,
    /// Its heartbeat is older than the agent's stall threshold: the workers are not running
    /// tasks.
    pub stalled: bool,
    /// How old the heartbeat was when the agent last reported, in seconds; `None` when the agent
    /// has no heartbeat for it (not beaten yet, or an agent without heartbeats).
    pub heartbeat_age_secs: Option<f64>,
}

impl RuntimeStatus {
    /// The status of one runtime's metrics.
    pub fn from_metrics(metrics: &RuntimeMetrics) -> Self {
        Self {
            id: metrics.runtime_id,
            flavor: metrics.flavor.clone(),
            workers: metrics.workers,
            stalled: metrics.stalled,
            heartbeat_age_secs: (metrics.heartbeat_age_nanos > 0)
                .then(|| metrics.heartbeat_age_nanos as f64 / 1e9),
        }
    }

    /// The statuses of every runtime, in the agent's order.
    pub fn all(runtimes: &[RuntimeMetrics]) -> Vec<Self> {
        runtimes.iter().map(Self::from_metrics).collect()
    }
}

/// `runtime 1 (multi_thread, 2 workers): STALLED: heartbeat 3.2 s old`, or `…: heartbeat 0.1 s
/// old` for a healthy one.
impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let workers = if self.workers == 1 { "worker" } else { "workers" };
        write!(f, "runtime {} ({}, {} {workers}): ", self.id, self.flavor, self.workers)?;
        if self.stalled {
            f.write_str("STALLED: ")?;
        }
        match self.heartbeat_age_secs {
            Some(age) => write!(f, "heartbeat {age:.1} s old"),
            None => f.write_str("no heartbeat yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(metrics: RuntimeMetrics, expected: &str) {
        assert_eq!(RuntimeStatus::from_metrics(&metrics).to_string(), expected);
    }

    #[test]
    fn statuses_read_as_one_line() {
        let runtime = |workers, age_nanos, stalled| RuntimeMetrics {
            runtime_id: 1,
            flavor: "multi_thread".into(),
            workers,
            heartbeat_age_nanos: age_nanos,
            stalled,
            ..RuntimeMetrics::default()
        };
        check(
            runtime(2, 3_240_000_000, true),
            "runtime 1 (multi_thread, 2 workers): STALLED: heartbeat 3.2 s old",
        );
        check(
            runtime(1, 80_000_000, false),
            "runtime 1 (multi_thread, 1 worker): heartbeat 0.1 s old",
        );
        check(runtime(4, 0, false), "runtime 1 (multi_thread, 4 workers): no heartbeat yet");
        assert_eq!(RuntimeStatus::from_metrics(&runtime(2, 0, false)).heartbeat_age_secs, None);
    }
}
