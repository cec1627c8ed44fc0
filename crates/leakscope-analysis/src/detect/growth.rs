//! `growth`: live tasks at one spawn location keep rising across the observation window.
//!
//! A least-squares line is fitted to the location's history of live counts. It fires when the
//! window is long enough, has enough samples, the slope is steep enough over the whole window
//! *and* at least half as steep over its recent half (a pool that filled up and levelled off is
//! not a leak), the line explains the data (R²), and the count rose by enough in absolute terms.
//! Every default and its reason is on [`GrowthConfig`](crate::GrowthConfig). One snapshot has no
//! window, so `growth` is then listed as not evaluated rather than passing.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::context::{Ctx, Tally, nanos};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::history::Series;
use crate::hits::MAX_SAMPLE;
use crate::model::Model;
use crate::wait_point::WaitPoint;

pub(crate) fn unevaluable(model: &Model, config: &Config) -> Option<String> {
    if !model.sources().tasks {
        return Some("needs per-task records, which this source does not provide".to_owned());
    }
    let window = model.window_nanos();
    (window < nanos(config.growth.min_window)).then(|| {
        format!(
            "needs at least {} of observations; have {} over {} (watch longer)",
            format_secs(config.growth.min_window.as_secs_f64()),
            format_secs(Ctx::secs(window)),
            match model.observations() {
                1 => "1 snapshot".to_owned(),
                n => format!("{n} updates"),
            }
        )
    })
}

/// The fitted trend of a series if it counts as growth under `config`.
fn growing(series: &Series, config: &Config) -> Option<(f64, f64, u32, u32, f64)> {
    let cfg = &config.growth;
    let samples = series.samples();
    let fit = series.fit()?;
    let (first, last) = (samples.first()?, samples.last()?);
    let increase = last.count.saturating_sub(first.count);
    let recent = series.fit_since(first.at_nanos + (last.at_nanos - first.at_nanos) / 2)?;
    let grows = samples.len() >= cfg.min_samples
        && fit.window_secs >= cfg.min_window.as_secs_f64()
        && fit.slope_per_sec >= cfg.min_slope_per_sec
        && fit.r_squared >= cfg.min_r_squared
        && increase >= cfg.min_increase
        && recent.slope_per_sec >= cfg.min_slope_per_sec / 2.0;
    grows.then_some((fit.slope_per_sec, fit.r_squared, first.count, last.count, fit.window_secs))
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (key, series) in ctx.model.history().iter().filter(|(key, _)| key.wait_point.is_none()) {
        let Some((slope, r_squared, from, to, window)) = growing(series, ctx.config) else {
            continue;
        };
        let location = ctx.model.location(key.location_id);
        let mut here: Vec<_> =
            ctx.live.iter().filter(|l| l.task.location_id == key.location_id).collect();
        let name = here.iter().find_map(|l| l.name());
        if ctx.config.is_suppressed(FindingKind::Growth, location, name) {
            tally.suppressed += 1;
            continue;
        }
        let mut points: BTreeMap<&WaitPoint, usize> = BTreeMap::new();
        for live in &here {
            *points.entry(&live.wait.point).or_default() += 1;
        }
        let dominant = points.iter().max_by_key(|(_, n)| **n).map(|(point, _)| (*point).clone());
        // The newest tasks are the ones the leak is still producing.
        here.sort_by(|a, b| {
            b.task.created_nanos.cmp(&a.task.created_nanos).then(a.task.id.cmp(&b.task.id))
        });
        tally.mark_location(location, FindingKind::Growth);
        let parked = dominant
            .as_ref()
            .filter(|p| p.known_name().is_some())
            .map(|p| format!("; most are parked in {p}"))
            .unwrap_or_default();
        findings.push(Finding {
            kind: FindingKind::Growth,
            severity: Severity::Suspect,
            location: location.clone(),
            task_name: name.map(str::to_owned),
            count: u64::from(to),
            oldest_secs: window,
            waiting_on: dominant,
            user_frame: here.iter().find_map(|l| l.wait.user_frame.clone()),
            task_ids: here.iter().take(MAX_SAMPLE).map(|l| l.task.id).collect(),
            evidence: vec![Evidence::note(format!(
                "live tasks {from} → {to} over {} ({slope:+.2}/s, R² {r_squared:.2})",
                format_secs(window)
            ))],
            explanation: format!(
                "Live tasks spawned at {location} rose from {from} to {to} over {} ({:.1} a minute, steadily){parked}: they are spawned faster than they finish.",
                format_secs(window),
                slope * 60.0,
            ),
            fix: "Find what the new tasks wait on (see the groups at this location) and make sure it completes or times out; bound concurrency with a `Semaphore` or a `JoinSet`, and give every spawned task a way to end (a timeout, a `CancellationToken`).".to_owned(),
            doc: FindingKind::Growth.doc(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::Update;

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::model::Model;
    use crate::sources::Sources;
    use crate::support::{T, findings_of, snapshot};

    /// Counts of live tasks at location 1, one full snapshot per second starting at t = 0.
    fn check(counts: &[u32], expected: &[&str]) {
        let mut model = Model::new(Sources::all());
        for (second, &count) in counts.iter().enumerate() {
            // Task ids are reused across snapshots: the first `count` stay alive.
            let tasks = (1..=u64::from(count))
                .map(|id| T::new(id).created(id as f64 * 0.1).build())
                .collect();
            model.apply_update(Update {
                full: true,
                snapshot: Some(snapshot(second as f64, tasks)),
            });
        }
        assert_eq!(findings_of(FindingKind::Growth, &model, &Config::default()), expected);
    }

    fn ramp(from: u32, per_second: f64, seconds: usize) -> Vec<u32> {
        (0..=seconds).map(|s| from + (s as f64 * per_second) as u32).collect()
    }

    #[test]
    fn a_steady_rise_is_growth() {
        check(
            &ramp(5, 1.0, 40),
            &[
                "suspect growth src/l1.rs:10:5 ×45 40s unknown [45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30]",
            ],
        );
        // Slow but steady: a task every 3 seconds for 2 minutes (the series starts with the first).
        check(
            &ramp(0, 0.34, 120),
            &[
                "suspect growth src/l1.rs:10:5 ×40 1m57s unknown [40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25]",
            ],
        );
    }

    #[test]
    fn near_misses() {
        // Too short a window (20 s).
        check(&ramp(5, 1.0, 20), &[]);
        // Flat.
        check(&[50; 40], &[]);
        // Rising, but by fewer than 10 tasks.
        check(&ramp(5, 0.2, 40), &[]);
        // A pool that filled in 10 s and levelled off.
        let mut pool = ramp(0, 5.0, 10);
        pool.extend([50; 30]);
        check(&pool, &[]);
        // Load that comes and goes.
        let wave: Vec<u32> = (0..60).map(|s| if (s / 5) % 2 == 0 { 10 } else { 40 }).collect();
        check(&wave, &[]);
        // Falling.
        check(&(0..40).map(|s| 60 - s).collect::<Vec<u32>>(), &[]);
    }

    #[test]
    fn one_snapshot_is_not_evaluated() {
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snapshot(10.0, vec![T::new(1).build()]));
        let report = crate::analyze(&model, &Config::default());
        let growth = report.unevaluated.iter().find(|u| u.kind == FindingKind::Growth).unwrap();
        assert_eq!(
            growth.reason,
            "needs at least 30s of observations; have 0s over 1 snapshot (watch longer)"
        );
    }
}
