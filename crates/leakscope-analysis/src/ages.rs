//! The ages of a group's tasks, as quantiles: how long ago they were spawned, the median, the
//! 90th percentile and the oldest. A group of a million tasks keeps a log-scale histogram of a
//! few kilobytes rather than a million ages, so the quantiles are within about 3% of the exact
//! ones; the oldest is exact.

use serde::{Deserialize, Serialize};

/// Buckets per doubling: each is at most 1/16 of its lower bound wide.
const SUB_BUCKETS: u32 = 16;
const SUB_BITS: u32 = SUB_BUCKETS.trailing_zeros();
/// Ages are counted in microseconds, up to 2^45 µs (about 13 months); older ones share the last
/// bucket (and `max` stays exact).
const MAX_OCTAVE: u32 = 45;
const BUCKETS: usize = ((MAX_OCTAVE - SUB_BITS + 2) * SUB_BUCKETS) as usize;

/// A group's tasks' ages, in seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgeQuantiles {
    /// Half the tasks are younger than this (within about 3%).
    pub p50_secs: f64,
    /// Nine in ten are younger than this (within about 3%).
    pub p90_secs: f64,
    /// The oldest.
    pub max_secs: f64,
}

/// A histogram of ages, by microsecond, log-scale.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ages {
    /// Allocated at the first age: most of the analysis's accumulators are for small groups,
    /// which still need it, but none is made for nothing.
    counts: Vec<u32>,
    total: u64,
    /// The youngest and the oldest, exact: a quantile is never outside them.
    min_nanos: u64,
    max_nanos: u64,
}

impl Ages {
    pub(crate) fn add(&mut self, age_nanos: u64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        let bucket = bucket(age_nanos / 1_000);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.min_nanos = if self.total == 0 { age_nanos } else { self.min_nanos.min(age_nanos) };
        self.total += 1;
        self.max_nanos = self.max_nanos.max(age_nanos);
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        if other.counts.is_empty() {
            return;
        }
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS];
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine = mine.saturating_add(*theirs);
        }
        self.min_nanos =
            if self.total == 0 { other.min_nanos } else { self.min_nanos.min(other.min_nanos) };
        self.total += other.total;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    /// The quantiles, each the middle of the bucket it falls in, within the youngest and the
    /// oldest.
    pub(crate) fn quantiles(&self) -> AgeQuantiles {
        let max_secs = self.max_nanos as f64 / 1e9;
        let min_secs = self.min_nanos as f64 / 1e9;
        let at = |q: f64| {
            // The rank of the q-quantile, 1-based, as the nearest-rank method defines it.
            let rank = ((self.total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0_u64;
            for (index, &count) in self.counts.iter().enumerate() {
                seen += u64::from(count);
                if seen >= rank {
                    return (middle_micros(index) / 1e6).clamp(min_secs, max_secs);
                }
            }
            max_secs
        };
        if self.total == 0 {
            return AgeQuantiles::default();
        }
        AgeQuantiles {
            p50_secs: round(at(0.5)),
            p90_secs: round(at(0.9)),
            max_secs: round(max_secs),
        }
    }
}

/// Three significant digits are all the histogram knows.
fn round(secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    let scale = 10_f64.powi(2 - secs.log10().floor() as i32);
    (secs * scale).round() / scale
}

/// The bucket of an age of `micros`: below 16 µs one per microsecond, then 16 per doubling.
fn bucket(micros: u64) -> usize {
    if micros < u64::from(SUB_BUCKETS) {
        return micros as usize;
    }
    let octave = (63 - micros.leading_zeros()).min(MAX_OCTAVE);
    if octave == MAX_OCTAVE && micros >> MAX_OCTAVE > 1 {
        return BUCKETS - 1;
    }
    let sub = (micros >> (octave - SUB_BITS)) & u64::from(SUB_BUCKETS - 1);
    ((octave - SUB_BITS + 1) * SUB_BUCKETS) as usize + sub as usize
}

/// The lower bound of a bucket, in microseconds.
fn lower_micros(index: usize) -> f64 {
    let index = index as u32;
    if index < SUB_BUCKETS {
        return f64::from(index);
    }
    let octave = index / SUB_BUCKETS - 1 + SUB_BITS;
    let sub = index % SUB_BUCKETS;
    ((u64::from(SUB_BUCKETS + sub)) << (octave - SUB_BITS)) as f64
}

/// The middle of a bucket, in microseconds.
fn middle_micros(index: usize) -> f64 {
    if index + 1 >= BUCKETS {
        return lower_micros(index);
    }
    (lower_micros(index) + lower_micros(index + 1)) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_in_order_and_each_age_falls_in_its_own() {
        for index in 1..BUCKETS {
            assert!(lower_micros(index) > lower_micros(index - 1), "bucket {index}");
        }
        for micros in (0..2_000_000_u64).step_by(37).chain([1 << 40, (1 << 45) - 1]) {
            let b = bucket(micros);
            assert!(lower_micros(b) <= micros as f64, "{micros} µs in bucket {b}");
            assert!(b + 1 == BUCKETS || lower_micros(b + 1) > micros as f64, "{micros} µs");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    /// Against the exact nearest-rank quantiles of known ages: within 3%, the oldest exact.
    #[test]
    fn quantiles_are_within_three_percent() {
        let mut ages = Ages::default();
        let mut exact: Vec<u64> =
            (1..=10_000_u64).map(|i| i * i * 7_919 % 3_600_000_000_000).collect();
        exact.iter().for_each(|&a| ages.add(a));
        exact.sort_unstable();
        let q = ages.quantiles();
        let nearest =
            |q: f64| exact[((exact.len() as f64 * q).ceil() as usize).max(1) - 1] as f64 / 1e9;
        for (got, want) in [(q.p50_secs, nearest(0.5)), (q.p90_secs, nearest(0.9))] {
            assert!((got - want).abs() <= want * 0.03, "{got} against {want}");
        }
        assert_eq!(q.max_secs, round(*exact.last().unwrap() as f64 / 1e9));
        // Split in two and merged: the same.
        let (mut one, mut other) = (Ages::default(), Ages::default());
        for (i, &a) in exact.iter().enumerate() {
            if i % 3 == 0 { one.add(a) } else { other.add(a) }
        }
        one.merge(&other);
        assert_eq!(one.quantiles(), q);
        assert_eq!(Ages::default().quantiles(), AgeQuantiles::default());
        // Alike ages are told exactly.
        let mut alike = Ages::default();
        (0..10).for_each(|_| alike.add(99_000_000_000));
        let q = alike.quantiles();
        assert_eq!((q.p50_secs, q.p90_secs, q.max_secs), (99.0, 99.0, 99.0));
    }
}
