//! Watching the agent: each `Watch` update goes into the analysis [`Model`] and becomes one
//! [`Sample`] of live-task counts, total and per spawn location, from which the window's
//! [`Counts`] are measured.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use leakscope_analysis::{Model, SourceLocation, fit, is_live};
use leakscope_client::{Connection, Updates};
use tokio_stream::StreamExt as _;

use crate::error::GateError;
use crate::limits::Counts;

/// Live tasks at one observation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    /// Agent clock, nanoseconds.
    pub(crate) at_nanos: u64,
    pub(crate) total: u64,
    /// Per spawn location id; absent means none.
    pub(crate) by_location: HashMap<u32, u64>,
}

/// The update stream, the model it feeds, and the samples taken.
pub(crate) struct Watcher {
    updates: Updates,
    pub(crate) model: Model,
    pub(crate) samples: Vec<Sample>,
    /// No update part for this long means the agent is gone or wedged (a large update streams
    /// in parts, each of which counts as a sign of life).
    stall: Duration,
    addr: String,
}

impl Watcher {
    /// Starts watching `connection` at `interval`.
    pub(crate) async fn start(
        connection: &mut Connection,
        interval: Duration,
    ) -> Result<Self, GateError> {
        let model = Model::from_hello(connection.hello());
        let updates = connection.watch(Some(interval)).await?;
        Ok(Self {
            updates,
            model,
            samples: Vec::new(),
            stall: (interval * 20).max(Duration::from_secs(10)),
            addr: connection.target().to_string(),
        })
    }

    /// Applies updates until `stop` completes, and returns its output.
    pub(crate) async fn until<F: Future>(&mut self, stop: F) -> Result<F::Output, GateError> {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                biased;
                out = &mut stop => return Ok(out),
                next = self.next() => next?,
            }
        }
    }

    /// Waits for the next update and applies it.
    async fn next(&mut self) -> Result<(), GateError> {
        match tokio::time::timeout(self.stall, self.updates.next()).await {
            Err(_) => {
                Err(GateError::Stalled { addr: self.addr.clone(), secs: self.stall.as_secs_f64() })
            }
            Ok(None) => Err(GateError::Disconnected { addr: self.addr.clone() }),
            Ok(Some(update)) => {
                self.apply(update?);
                Ok(())
            }
        }
    }

    /// Watches for `duration`, and at least until one sample exists.
    pub(crate) async fn watch_for(&mut self, duration: Duration) -> Result<(), GateError> {
        self.until(tokio::time::sleep(duration)).await?;
        while self.samples.is_empty() {
            self.next().await?;
        }
        Ok(())
    }

    /// Applies one part of an update; a sample is taken when the update is complete (a large
    /// update streams in parts, and a part alone is half a picture).
    fn apply(&mut self, part: leakscope_proto::v1::WatchMessage) {
        if self.model.apply_part(part) {
            let sample = sample(&self.model);
            self.samples.push(sample);
        }
    }

    /// Index of the latest sample: where a window that starts now starts.
    pub(crate) fn mark(&self) -> usize {
        self.samples.len().saturating_sub(1)
    }
}

/// Counts the model's live tasks now.
fn sample(model: &Model) -> Sample {
    let mut by_location = HashMap::new();
    let total = if model.sources().tasks {
        let mut total = 0;
        for task in model.tasks().filter(|t| is_live(t)) {
            total += 1;
            *by_location.entry(task.location_id).or_insert(0) += 1;
        }
        total
    } else {
        // Without per-task records (an agent built without tokio_unstable), the runtimes say
        // how many tasks are alive.
        model.runtimes().iter().map(|r| r.alive_tasks).sum()
    };
    Sample { at_nanos: model.now_nanos(), total, by_location }
}

/// The window's counts, total and per location, from `samples[from..]`.
#[derive(Clone)]
pub(crate) struct Measured {
    pub(crate) total: Counts,
    /// By location id, with its location.
    pub(crate) locations: Vec<(u32, SourceLocation, Counts)>,
    /// Samples in the window.
    pub(crate) samples: usize,
    /// Agent seconds the window spans.
    pub(crate) window_secs: f64,
}

/// Measures `samples[from..]` (the first of them is the window's start).
pub(crate) fn measure(model: &Model, samples: &[Sample], from: usize) -> Measured {
    let window = &samples[from.min(samples.len())..];
    let total = counts(window, |s| s.total);
    let mut ids: BTreeMap<u32, ()> = BTreeMap::new();
    for sample in window {
        ids.extend(sample.by_location.keys().map(|id| (*id, ())));
    }
    let locations = ids
        .into_keys()
        .map(|id| {
            let counts = counts(window, |s| s.by_location.get(&id).copied().unwrap_or(0));
            (id, model.location(id).clone(), counts)
        })
        .collect();
    let window_secs = match (window.first(), window.last()) {
        (Some(first), Some(last)) => (last.at_nanos.saturating_sub(first.at_nanos)) as f64 / 1e9,
        _ => 0.0,
    };
    Measured { total, locations, samples: window.len(), window_secs }
}

fn counts(window: &[Sample], count: impl Fn(&Sample) -> u64) -> Counts {
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return Counts::default();
    };
    let (start, end) = (count(first), count(last));
    let points: Vec<leakscope_analysis::Sample> = window
        .iter()
        .map(|s| leakscope_analysis::Sample {
            at_nanos: s.at_nanos,
            count: u32::try_from(count(s)).unwrap_or(u32::MAX),
        })
        .collect();
    Counts {
        start,
        peak: window.iter().map(&count).max().unwrap_or(0),
        end,
        growth: end as i64 - start as i64,
        rate_per_sec: fit(&points).map(|f| f.slope_per_sec),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakscope_analysis::Sources;
    use leakscope_proto::v1::{Location, Snapshot, Task};

    fn s(secs: f64, total: u64, at_one: u64) -> Sample {
        let mut by_location = HashMap::new();
        if at_one > 0 {
            by_location.insert(1, at_one);
        }
        Sample { at_nanos: (secs * 1e9) as u64, total, by_location }
    }

    /// `check(samples, from, expected)`: renders total and location 1 as
    /// `start/peak/end growth rate`.
    fn check(samples: &[Sample], from: usize, expected: &str) {
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(Snapshot {
            locations: vec![Location { id: 1, file: "src/a.rs".into(), line: 3, col: 5 }],
            tasks: vec![Task { id: 9, location_id: 1, ..Task::default() }],
            ..Snapshot::default()
        });
        let m = measure(&model, samples, from);
        let render = |c: &Counts| {
            format!(
                "{}/{}/{} {:+} {}",
                c.start,
                c.peak,
                c.end,
                c.growth,
                c.rate_per_sec.map_or("-".to_owned(), |r| format!("{r:.2}"))
            )
        };
        let locations: Vec<String> =
            m.locations.iter().map(|(_, l, c)| format!("{l} {}", render(c))).collect();
        let got = format!(
            "total {} | {} | {} samples over {}s",
            render(&m.total),
            locations.join(", "),
            m.samples,
            m.window_secs
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn measures_the_window_only() {
        let samples = [s(0.0, 50, 40), s(1.0, 5, 0), s(2.0, 8, 2), s(3.0, 11, 4), s(4.0, 9, 6)];
        // The warmup's burst (the first sample) is outside a window that starts at 1.
        check(&samples, 1, "total 5/11/9 +4 1.50 | src/a.rs:3:5 0/6/6 +6 2.00 | 4 samples over 3s");
        check(
            &samples,
            0,
            "total 50/50/9 -41 -7.60 | src/a.rs:3:5 40/40/6 -34 -6.40 | 5 samples over 4s",
        );
        check(
            &samples[..1],
            0,
            "total 50/50/50 +0 - | src/a.rs:3:5 40/40/40 +0 - | 1 samples over 0s",
        );
        check(&[], 0, "total 0/0/0 +0 - |  | 0 samples over 0s");
    }
}
