//! `growth`: a spawn site keeps adding live tasks that do not finish.
//!
//! Two witnesses, either enough:
//!
//! - **At first sight** ([`crate::site`]): the site's live tasks that outlive every finished task
//!   of the site were spawned steadily, recently and for long enough. One snapshot shows it; no
//!   watch window is needed.
//! - **Watched**: a least-squares line fitted to the site's history of live counts is steep
//!   enough over the whole window *and* at least half as steep over its recent half (a pool that
//!   filled up and levelled off is not a leak), explains the data (R²), and rose by enough in
//!   absolute terms. Every default and its reason is on [`GrowthConfig`](crate::GrowthConfig).
//!
//! A `suspect`: the app's intent decides (clients that keep opening connections and never close
//! them grow a server the same way). The evidence gives the numbers of each witness that holds.

use std::collections::BTreeMap;

use crate::config::Config;
use crate::context::{Ctx, Tally};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::history::{Series, SeriesKey};
use crate::hits::MAX_SAMPLE;
use crate::model::Model;
use crate::report::Pending;
use crate::site::Accumulation;
use crate::wait_point::WaitPoint;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    (!model.sources().tasks)
        .then(|| "needs per-task records, which this source does not provide".to_owned())
}

/// The watched trend of a series, if it counts as growth under `config`.
struct Trend {
    slope: f64,
    r_squared: f64,
    from: u32,
    to: u32,
    window_secs: f64,
}

fn growing(series: &Series, config: &Config) -> Option<Trend> {
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
    grows.then_some(Trend {
        slope: fit.slope_per_sec,
        r_squared: fit.r_squared,
        from: first.count,
        to: last.count,
        window_secs: fit.window_secs,
    })
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let mut location_ids: Vec<u32> = ctx.sites.keys().copied().collect();
    location_ids.extend(
        ctx.model
            .history()
            .iter()
            .filter(|(k, _)| k.wait_point.is_none())
            .map(|(k, _)| k.location_id),
    );
    location_ids.sort_unstable();
    location_ids.dedup();
    let mut findings = Vec::new();
    for location_id in location_ids {
        let site = ctx.sites.get(&location_id);
        let first_sight = site.and_then(|s| s.accumulation);
        let trend = ctx
            .model
            .history()
            .series(&SeriesKey::location(location_id))
            .and_then(|series| growing(series, ctx.config));
        let location = ctx.model.location(location_id);
        if first_sight.is_none() && trend.is_none() {
            if let Some((count, span)) = site.and_then(|s| s.forming) {
                let needed = ctx.config.growth.min_spawn_span.as_secs_f64();
                tally.pending.push(Pending {
                    kind: FindingKind::Growth,
                    location: Some(location.clone()),
                    tasks: count,
                    secs_left: needed - Ctx::secs(span),
                    reason: format!(
                        "{count} tasks spawned at {location} over the last {} are all still alive; \
                         judged once they span {}",
                        format_secs(Ctx::secs(span)),
                        format_secs(needed)
                    ),
                });
            }
            continue;
        }
        let mut here: Vec<_> =
            ctx.live.iter().filter(|l| l.task.location_id == location_id).collect();
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
        let live = here.len() as u64;
        let mut evidence = Vec::new();
        let mut sentences = Vec::new();
        if let (Some(a), Some(site)) = (first_sight, site) {
            evidence.push(accumulation_evidence(&a, live, site));
            let finished = match (a.drained, site.longest_finished_nanos) {
                (Some((spawned, done)), _) => format!(
                    "since the oldest of them the site spawned {spawned} tasks and finished only \
                     {done}"
                ),
                (None, None) => "none of them has finished".to_owned(),
                (None, Some(longest)) => format!(
                    "{} of the site's tasks finished recently, none of them having lived {}",
                    site.finished,
                    crate::duration::longer_than(Ctx::secs(longest))
                ),
            };
            sentences.push(format!(
                "{} tasks spawned at {location} keep accumulating: {} of them were spawned \
                 steadily over {} ({:.1} a second, the latest {} ago) and {finished}; the oldest is \
                 {} old{parked}.",
                live,
                a.outliving,
                format_secs(Ctx::secs(a.span_nanos)),
                a.rate_per_sec,
                format_secs(Ctx::secs(a.since_last_nanos)),
                format_secs(Ctx::secs(a.ages[2])),
            ));
        }
        if let Some(t) = &trend {
            evidence.push(Evidence::note(format!(
                "watched: live tasks {} → {} over {} ({:+.2}/s, R² {:.2})",
                t.from,
                t.to,
                format_secs(t.window_secs),
                t.slope,
                t.r_squared
            )));
            sentences.push(format!(
                "Watched, live tasks spawned at {location} rose from {} to {} over {} ({:.1} a \
                 minute, steadily){}: they are spawned faster than they finish.",
                t.from,
                t.to,
                format_secs(t.window_secs),
                t.slope * 60.0,
                if first_sight.is_some() { "" } else { parked.as_str() },
            ));
        }
        let oldest_secs = match (first_sight, &trend) {
            (Some(a), _) => Ctx::secs(a.ages[2]),
            (None, Some(t)) => t.window_secs,
            (None, None) => 0.0,
        };
        findings.push(Finding {
            kind: FindingKind::Growth,
            severity: Severity::Suspect,
            location: location.clone(),
            task_name: name.map(str::to_owned),
            count: live,
            oldest_secs,
            waiting_on: dominant,
            user_frame: here.iter().find_map(|l| l.wait.user_frame.as_deref().cloned()),
            task_ids: here.iter().take(MAX_SAMPLE).map(|l| l.task.id).collect(),
            evidence,
            explanation: sentences.join(" "),
            fix: "Find what the new tasks wait on (see the groups at this location) and make sure it completes or times out; bound concurrency with a `Semaphore` or a `JoinSet`, and give every spawned task a way to end (a timeout, a `CancellationToken`).".to_owned(),
            doc: FindingKind::Growth.doc(),
        });
    }
    findings
}

fn accumulation_evidence(a: &Accumulation, live: u64, site: &crate::site::Site) -> Evidence {
    Evidence::Accumulation {
        live,
        finished: site.finished,
        longest_finished_secs: site.longest_finished_nanos.map(Ctx::secs),
        outliving: a.outliving,
        span_secs: Ctx::secs(a.span_nanos),
        rate_per_sec: (a.rate_per_sec * 100.0).round() / 100.0,
        since_last_spawn_secs: Ctx::secs(a.since_last_nanos),
        age_p50_secs: Ctx::secs(a.ages[0]),
        age_p90_secs: Ctx::secs(a.ages[1]),
        age_max_secs: Ctx::secs(a.ages[2]),
        spawned_since_oldest: a.drained.map(|d| d.0),
        finished_since_oldest: a.drained.map(|d| d.1),
    }
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
    fn one_snapshot_shows_an_accumulating_site() {
        // 20 calls a second since t = 10 s, each parked for good; seen once at t = 20 s.
        let tasks = (0_u32..200)
            .map(|i| {
                let at = 10.05 + f64::from(i) * 0.05;
                T::new(u64::from(i) + 1).loc(2).created(at).idle(at + 0.001).build()
            })
            .collect();
        let mut model = Model::new(Sources::all());
        model.apply_snapshot(snapshot(20.0, tasks));
        let report = crate::analyze(&model, &Config::default());
        assert!(report.unevaluated.is_empty(), "{:?}", report.unevaluated);
        let rendered = crate::support::render(&report.findings);
        assert_eq!(
            rendered,
            [
                "suspect growth src/l2.rs:20:5 ×200 9.9s unknown [200, 199, 198, 197, 196, 195, 194, 193, 192, 191, 190, 189, 188, 187, 186, 185]"
            ]
        );
        let finding = &report.findings[0];
        assert_eq!(
            finding.evidence[0].to_string(),
            "200 of 200 live tasks spawned steadily over 9.9s (20.00/s, the latest 0s ago), ages p50 5s / p90 8.9s / max 9.9s; none of the site's tasks has finished"
        );
        assert!(
            finding.explanation.starts_with("200 tasks spawned at src/l2.rs:20:5 keep accumulating: 200 of them were spawned steadily over 9.9s (20.0 a second, the latest 0s ago)"),
            "{}",
            finding.explanation
        );
        // Parked for at most 10 s of the 30 s `stuck` needs: said, with the time left.
        let pending: Vec<String> = report
            .pending
            .iter()
            .map(|p| format!("{} ×{} {:.0}s", p.kind, p.tasks, p.secs_left))
            .collect();
        assert_eq!(pending, ["stuck ×200 20s"]);
    }
}
