//! Bounded history of live-task counts per spawn location (and per location and wait point), and
//! the least-squares trend over it.
//!
//! Each series keeps at most [`HistoryLimits::max_samples`] samples at least
//! [`HistoryLimits::min_interval`] apart. When a series fills up, every other sample is dropped and
//! its interval doubles: the whole observation window stays covered at coarser resolution, and
//! memory stays bounded however long a client watches.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One observation: how many live tasks, at what agent time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// Agent clock, nanoseconds.
    pub at_nanos: u64,
    /// Live tasks.
    pub count: u32,
}

/// Which tasks a series counts.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    /// Spawn location id (0 for tasks of unknown location).
    pub location_id: u32,
    /// `None`: every live task spawned there; `Some(name)`: only those parked in that wait point
    /// (its [`WaitPoint`](crate::WaitPoint) name).
    pub wait_point: Option<String>,
}

impl SeriesKey {
    /// All live tasks spawned at `location_id`.
    pub const fn location(location_id: u32) -> Self {
        Self { location_id, wait_point: None }
    }
}

/// A straight line fitted to a series by least squares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Change in live tasks per second.
    pub slope_per_sec: f64,
    /// How well the line explains the samples, 0 to 1 (1 for a flat series).
    pub r_squared: f64,
    /// Samples the fit used.
    pub samples: usize,
    /// Time between the first and last of them, in seconds.
    pub window_secs: f64,
}

/// Fits `count = a + slope · t` to `samples`; `None` with fewer than two distinct times.
pub fn fit(samples: &[Sample]) -> Option<Fit> {
    let first = samples.first()?.at_nanos;
    let points: Vec<(f64, f64)> =
        samples.iter().map(|s| ((s.at_nanos - first) as f64 / 1e9, f64::from(s.count))).collect();
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in &points {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope_per_sec = sxy / sxx;
    let r_squared = if syy <= 0.0 { 1.0 } else { (sxy * sxy) / (sxx * syy) };
    let window_secs = points.last().map_or(0.0, |p| p.0);
    Some(Fit { slope_per_sec, r_squared, samples: points.len(), window_secs })
}

/// The samples of one series, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series {
    samples: Vec<Sample>,
    /// Current spacing; doubles at each compaction.
    interval_nanos: u64,
    /// Last time the count was above zero, for choosing what to evict.
    last_nonzero_nanos: u64,
}

impl Series {
    /// The samples, oldest first.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The latest count.
    pub fn latest(&self) -> u32 {
        self.samples.last().map_or(0, |s| s.count)
    }

    /// Time between the first and the latest sample, in seconds.
    pub fn window_secs(&self) -> f64 {
        match (self.samples.first(), self.samples.last()) {
            (Some(first), Some(last)) => (last.at_nanos - first.at_nanos) as f64 / 1e9,
            _ => 0.0,
        }
    }

    /// The trend over every sample.
    pub fn fit(&self) -> Option<Fit> {
        fit(&self.samples)
    }

    /// The trend over the samples taken at or after `from_nanos`.
    pub fn fit_since(&self, from_nanos: u64) -> Option<Fit> {
        let start = self.samples.partition_point(|s| s.at_nanos < from_nanos);
        fit(&self.samples[start..])
    }

    fn push(&mut self, at_nanos: u64, count: u32, limits: &HistoryLimits) {
        if count > 0 {
            self.last_nonzero_nanos = at_nanos;
        }
        let sample = Sample { at_nanos, count };
        let len = self.samples.len();
        match self.samples.last_mut() {
            Some(last) if at_nanos < last.at_nanos => return,
            Some(last) if at_nanos == last.at_nanos => {
                last.count = count;
                return;
            }
            _ => {}
        }
        // Keep the latest value without crowding: while the newest sample is less than an
        // interval past the one before it, it is provisional and moves forward.
        if len >= 2
            && self.samples[len - 1].at_nanos - self.samples[len - 2].at_nanos < self.interval_nanos
        {
            self.samples[len - 1] = sample;
            return;
        }
        if len >= limits.max_samples.max(2) {
            let mut index = 0;
            self.samples.retain(|_| {
                index += 1;
                index % 2 == 1
            });
            self.interval_nanos = self.interval_nanos.saturating_mul(2);
        }
        self.samples.push(sample);
    }
}

/// Bounds on the history a [`Model`](crate::Model) keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryLimits {
    /// Samples per series before resolution halves. Default 512: with one-second sampling that is
    /// eight and a half minutes at full resolution, 16 bytes a sample.
    pub max_samples: usize,
    /// Spacing between samples at full resolution. Default 1 s: watch updates come every 500 ms,
    /// and a leak is a matter of seconds to minutes.
    pub min_interval: Duration,
    /// Series kept at most; past it, the series idle longest are dropped. Default 2048: spawn
    /// sites × wait points of a large service, at most 16 MiB.
    pub max_series: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        Self { max_samples: 512, min_interval: Duration::from_secs(1), max_series: 2048 }
    }
}

/// Live-task counts over time, per [`SeriesKey`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    series: HashMap<SeriesKey, Series>,
    limits: HistoryLimits,
}

impl History {
    /// An empty history with these bounds.
    pub fn new(limits: HistoryLimits) -> Self {
        Self { series: HashMap::new(), limits }
    }

    /// One series.
    pub fn series(&self, key: &SeriesKey) -> Option<&Series> {
        self.series.get(key)
    }

    /// Every series, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&SeriesKey, &Series)> {
        self.series.iter()
    }

    /// Records the counts observed at `at_nanos`. A series missing from `counts` records zero:
    /// its tasks are gone.
    pub(crate) fn record(&mut self, at_nanos: u64, mut counts: HashMap<SeriesKey, u32>) {
        let limits = self.limits;
        let interval = u64::try_from(limits.min_interval.as_nanos()).unwrap_or(u64::MAX);
        for (key, series) in &mut self.series {
            series.push(at_nanos, counts.remove(key).unwrap_or(0), &limits);
        }
        for (key, count) in counts {
            let mut series = Series { interval_nanos: interval, ..Series::default() };
            series.push(at_nanos, count, &limits);
            self.series.insert(key, series);
        }
        if self.series.len() > limits.max_series {
            let mut idle: Vec<(u64, SeriesKey)> =
                self.series.iter().map(|(key, s)| (s.last_nonzero_nanos, key.clone())).collect();
            idle.sort();
            let excess = self.series.len() - limits.max_series;
            for (_, key) in idle.into_iter().take(excess) {
                self.series.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::{History, HistoryLimits, Sample, SeriesKey, fit};

    const SEC: u64 = 1_000_000_000;

    fn samples(points: &[(f64, u32)]) -> Vec<Sample> {
        points.iter().map(|&(t, count)| Sample { at_nanos: (t * 1e9) as u64, count }).collect()
    }

    /// `expected` is `(slope, r²)` rounded to two decimals, or `None`.
    fn check(points: &[(f64, u32)], expected: Option<(f64, f64)>) {
        let got = fit(&samples(points)).map(|f| {
            ((f.slope_per_sec * 100.0).round() / 100.0, (f.r_squared * 100.0).round() / 100.0)
        });
        assert_eq!(got, expected, "fit of {points:?}");
    }

    #[test]
    fn fits_lines() {
        check(&[], None);
        check(&[(0.0, 3)], None);
        check(&[(1.0, 3), (1.0, 5)], None);
        check(&[(0.0, 0), (10.0, 10)], Some((1.0, 1.0)));
        check(&[(0.0, 10), (1.0, 11), (2.0, 12), (3.0, 13)], Some((1.0, 1.0)));
        check(&[(0.0, 5), (5.0, 5), (10.0, 5)], Some((0.0, 1.0)));
        check(&[(0.0, 20), (10.0, 10), (20.0, 0)], Some((-1.0, 1.0)));
        // Noise around a flat line: a slope near zero that explains little.
        check(
            &[(0.0, 10), (1.0, 14), (2.0, 9), (3.0, 13), (4.0, 10), (5.0, 12)],
            Some((0.06, 0.0)),
        );
    }

    fn record_all(history: &mut History, points: &[(u64, u32)]) {
        for &(secs_tenths, count) in points {
            let counts = HashMap::from([(SeriesKey::location(1), count)]);
            history.record(secs_tenths * SEC / 10, counts);
        }
    }

    #[test]
    fn samples_are_spaced_and_the_latest_is_kept() {
        let mut history = History::new(HistoryLimits::default());
        // Updates every half second; samples end up a second apart, the last one current.
        record_all(&mut history, &[(0, 1), (5, 2), (10, 3), (15, 4), (20, 5), (25, 6)]);
        let series = history.series(&SeriesKey::location(1)).unwrap();
        let got: Vec<(u64, u32)> =
            series.samples().iter().map(|s| (s.at_nanos * 10 / SEC, s.count)).collect();
        assert_eq!(got, [(0, 1), (10, 3), (20, 5), (25, 6)]);
        assert_eq!(series.latest(), 6);
    }

    #[test]
    fn full_series_halve_their_resolution_and_keep_the_window() {
        let limits =
            HistoryLimits { max_samples: 4, min_interval: Duration::from_secs(1), max_series: 10 };
        let mut history = History::new(limits);
        record_all(&mut history, &(0..10).map(|i| (i * 10, i as u32)).collect::<Vec<_>>());
        let series = history.series(&SeriesKey::location(1)).unwrap();
        assert!(series.samples().len() <= 4, "{:?}", series.samples());
        assert_eq!(series.samples()[0].count, 0, "the start of the window survives");
        assert_eq!(series.latest(), 9);
        assert_eq!(series.window_secs(), 9.0);
    }

    #[test]
    fn missing_series_record_zero_and_idle_ones_are_evicted_first() {
        let limits = HistoryLimits { max_series: 2, ..HistoryLimits::default() };
        let mut history = History::new(limits);
        history
            .record(0, HashMap::from([(SeriesKey::location(1), 5), (SeriesKey::location(2), 5)]));
        history.record(2 * SEC, HashMap::from([(SeriesKey::location(2), 6)]));
        assert_eq!(history.series(&SeriesKey::location(1)).unwrap().latest(), 0);
        history.record(
            4 * SEC,
            HashMap::from([(SeriesKey::location(2), 6), (SeriesKey::location(3), 1)]),
        );
        let mut keys: Vec<u32> = history.iter().map(|(k, _)| k.location_id).collect();
        keys.sort_unstable();
        assert_eq!(keys, [2, 3]);
    }
}
