//! What a spawn site's tasks say about it at first sight, from one snapshot: whether it is
//! accumulating (spawning tasks steadily that outlive every task of the site that finished) or a
//! population that was made and stays (a pool, listeners, connections opened at start-up, a purge
//! task). `growth` reports accumulating sites; `stuck` and `uncancelled` judge a parked task by
//! whether its site accumulates.
//!
//! The rule, for the live tasks of one site (`block_on` tasks left out):
//!
//! 1. Keep those older than the longest-lived finished task of the site the model holds (all of
//!    them when none finished): a site whose tasks routinely live a minute has one-minute-old
//!    live tasks and is fine; a request handler that leaks one call in a hundred has live tasks
//!    far older than any that finished.
//! 2. Of those, at least `growth.min-increase` (10), spawned over at least
//!    `growth.min-spawn-span` (5 s), steadily: their spawn times against their rank fit a line
//!    with R² ≥ `growth.min-r-squared` (0.8), and no gap between consecutive spawns exceeds half
//!    the span (two batches of connections are not a trend).
//! 3. Still spawning: the latest of them is at most half the span old (a pool that warmed up
//!    over ten seconds and stopped is not accumulating once it has stopped for five).
//!
//! 1b. When rule 1 leaves too few (the site's tasks do finish, in order: a queue behind a lock or
//!    a slow consumer), all live tasks, if since the oldest of them was spawned the site finished
//!    at most half as many tasks as it spawned, and the finished tasks the model holds reach back
//!    that far (the agent keeps the latest finished tasks; older ones are evicted first). Then
//!    rules 2 and 3 apply to them. In a steady state a site finishes as many as it spawns,
//!    whatever its tasks' lifetimes.
//!
//! Besides, a site whose live tasks were left behind by many spawners that have ended (at least
//! `growth.min-increase` distinct parent tasks or spawner spans) leaves tasks behind even when
//! it has stopped spawning: one per request or connection, not a pool one set-up task made.
//!
//! No watch window is needed: the agent sends every live task's spawn time. The watched trend
//! (`growth`'s least-squares fit over the model's history) stays as a second witness.

use std::collections::{HashMap, HashSet};

use leakscope_proto::v1::TaskKind;

use crate::config::Config;
use crate::context::nanos;
use crate::history::{Sample, fit};
use crate::model::{EndedAt, Model, ended_at, is_live};
use crate::task_record::TaskRecord;

/// One spawn site's tasks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Site {
    /// Live tasks spawned there (`block_on` excluded).
    pub(crate) live: u64,
    /// Finished tasks of the site the model holds.
    pub(crate) finished: u64,
    /// The longest lifetime among those.
    pub(crate) longest_finished_nanos: Option<u64>,
    /// Set when the site accumulates.
    pub(crate) accumulation: Option<Accumulation>,
    /// How many distinct spawners (parent tasks, or spawner spans) of the site's live tasks have
    /// ended. Many means one task per request or connection left behind by each; a pool, a
    /// listener or subscribers made by one set-up task have one.
    pub(crate) ended_spawners: u64,
    /// Set when enough tasks outlive their finished siblings but the first of them was spawned
    /// less than `min-spawn-span` ago: (how many, how long ago the first was spawned).
    pub(crate) forming: Option<(u64, u64)>,
}

/// The numbers behind an accumulating site.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Accumulation {
    /// Live tasks older than every finished task of the site.
    pub(crate) outliving: u64,
    /// From their first spawn to their latest.
    pub(crate) span_nanos: u64,
    /// Their spawns per second over that span.
    pub(crate) rate_per_sec: f64,
    /// Since the latest of them was spawned.
    pub(crate) since_last_nanos: u64,
    /// Their ages: median, 90th percentile, oldest.
    pub(crate) ages: [u64; 3],
    /// By rule 1b: (spawned, finished) since the oldest live task was spawned.
    pub(crate) drained: Option<(u64, u64)>,
}

impl Site {
    /// Whether the site accumulates.
    pub(crate) fn accumulates(&self) -> bool {
        self.accumulation.is_some()
    }

    /// Whether its live tasks look like a leak even if spawning has stopped: the site
    /// accumulates, or at least `min_spawners` distinct spawners of its live tasks have ended
    /// (each request or connection left one behind).
    pub(crate) fn leaves_tasks_behind(&self, min_spawners: u32) -> bool {
        self.accumulates() || self.ended_spawners >= u64::from(min_spawners)
    }
}

/// Every site with a live or retained finished task, by location id.
pub(crate) fn sites(model: &Model, config: &Config) -> HashMap<u32, Site> {
    let now = model.now_nanos();
    let mut created: HashMap<u32, Vec<u64>> = HashMap::new();
    let mut spawners: HashMap<u32, HashSet<(bool, u64)>> = HashMap::new();
    let mut sites: HashMap<u32, Site> = HashMap::new();
    // Finished tasks per site, (spawned, ended); and the earliest end held anywhere: the agent
    // keeps the latest finished tasks, so every finish after it is held.
    let mut finished: HashMap<u32, Vec<(u64, u64)>> = HashMap::new();
    let mut held_since = u64::MAX;
    let mut parent_ended = EndedAt::new(model);
    for task in model.tasks().filter(|t| counts(t)) {
        let site = sites.entry(task.location_id).or_default();
        if !is_live(task)
            && let Some(end) = ended_at(task)
        {
            finished.entry(task.location_id).or_default().push((task.created_nanos, end));
            held_since = held_since.min(end);
        }
        if is_live(task) {
            site.live += 1;
            created.entry(task.location_id).or_default().push(task.created_nanos);
            if let Some(spawner) = ended_spawner(model, task, &mut parent_ended) {
                spawners.entry(task.location_id).or_default().insert(spawner);
            }
        } else if let Some(end) = ended_at(task) {
            site.finished += 1;
            let lifetime = end.saturating_sub(task.created_nanos);
            site.longest_finished_nanos =
                Some(site.longest_finished_nanos.map_or(lifetime, |l| l.max(lifetime)));
        }
    }
    for (location_id, ended) in spawners {
        sites.entry(location_id).or_default().ended_spawners = ended.len() as u64;
    }
    for (location_id, mut times) in created {
        let site = sites.entry(location_id).or_default();
        times.sort_unstable();
        let mut outliving = times.clone();
        if let Some(longest) = site.longest_finished_nanos {
            outliving.retain(|&at| now.saturating_sub(at) > longest);
        }
        // Rule 1: the tasks that outlive every finished one.
        site.accumulation = judge(&outliving, now, config).map_err(|f| site.forming = f).ok();
        if site.accumulation.is_some() {
            continue;
        }
        // Rule 1b: all live tasks, when the site finished at most half of what it spawned since
        // the oldest of them (a queue filling faster than it drains), and the finished tasks
        // held reach back that far.
        let Some(&oldest) = times.first() else { continue };
        let ends = finished.get(&location_id).map_or(&[][..], Vec::as_slice);
        if ends.is_empty() || held_since > oldest {
            continue;
        }
        let spawned = times.len() as u64
            + ends.iter().filter(|(created, _)| *created >= oldest).count() as u64;
        let done = ends.iter().filter(|(_, end)| *end >= oldest).count() as u64;
        if done * 2 > spawned {
            continue;
        }
        if let Ok(mut accumulation) = judge(&times, now, config) {
            accumulation.drained = Some((spawned, done));
            site.accumulation = Some(accumulation);
        }
    }
    sites
}

/// The task's spawner if it has ended: `(false, parent task id)` or `(true, span id)`.
fn ended_spawner(
    model: &Model,
    task: &TaskRecord,
    parent_ended: &mut EndedAt<'_>,
) -> Option<(bool, u64)> {
    let sources = model.sources();
    if sources.parents
        && task.parent_task_id != 0
        && parent_ended.get(task.parent_task_id).is_some()
    {
        return Some((false, task.parent_task_id));
    }
    task.spawner_span
        .as_ref()
        .filter(|span| sources.spawner_spans && span.closed && span.span_id != 0)
        .map(|span| (true, span.span_id))
}

/// Tasks whose spawn time says something about their site: not `block_on` (the app's `main`),
/// with a spawn time.
fn counts(task: &TaskRecord) -> bool {
    task.kind != TaskKind::BlockOn as i32 && task.created_nanos != 0
}

/// Applies rules 2 and 3 to spawn times (sorted). `Err` carries what [`Site::forming`] says.
fn judge(times: &[u64], now: u64, config: &Config) -> Result<Accumulation, Option<(u64, u64)>> {
    let cfg = &config.growth;
    let n = times.len();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else { return Err(None) };
    if (n as u64) < u64::from(cfg.min_increase.max(2)) {
        return Err(None);
    }
    let span = last - first;
    if span < nanos(cfg.min_spawn_span) {
        // Spawning began too recently to tell a trend from a start-up batch.
        let spawning_for = now.saturating_sub(first);
        return Err((spawning_for < nanos(cfg.min_spawn_span)).then_some((n as u64, spawning_for)));
    }
    let largest_gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let since_last = now.saturating_sub(last);
    let ranks: Vec<Sample> = times
        .iter()
        .enumerate()
        .map(|(rank, &at)| Sample { at_nanos: at, count: u32::try_from(rank).unwrap_or(u32::MAX) })
        .collect();
    let steady = fit(&ranks).is_some_and(|f| f.r_squared >= cfg.min_r_squared);
    if !steady || largest_gap > span / 2 || since_last > span / 2 {
        return Err(None);
    }
    let age = |q: f64| {
        // Ages run opposite to spawn times: the q-quantile of ages is the (1 - q) one of times.
        let index = ((1.0 - q) * (n - 1) as f64).round() as usize;
        now.saturating_sub(times[index.min(n - 1)])
    };
    Ok(Accumulation {
        outliving: n as u64,
        span_nanos: span,
        rate_per_sec: (n - 1) as f64 / (span as f64 / 1e9),
        since_last_nanos: since_last,
        ages: [age(0.5), age(0.9), now.saturating_sub(first)],
        drained: None,
    })
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::Task;

    use crate::config::Config;
    use crate::support::{T, model, snapshot};

    use super::sites;

    /// Location 1's verdict at `now`: `accumulating n over span at rate/s, ages p50/p90/max`,
    /// `forming n over span`, or `settled`.
    fn check(now: f64, tasks: Vec<Task>, expected: &str) {
        let m = model(snapshot(now, tasks));
        let sites = sites(&m, &Config::default());
        let site = sites.get(&1).cloned().unwrap_or_default();
        let secs = |n: u64| n as f64 / 1e9;
        let got = match (site.accumulation, site.forming) {
            (Some(a), _) => format!(
                "accumulating {} over {:.1}s at {:.1}/s, ages {:.1}/{:.1}/{:.1}",
                a.outliving,
                secs(a.span_nanos),
                a.rate_per_sec,
                secs(a.ages[0]),
                secs(a.ages[1]),
                secs(a.ages[2])
            ),
            (None, Some((n, span))) => format!("forming {n} over {:.1}s", secs(span)),
            (None, None) => "settled".to_owned(),
        };
        assert_eq!(got, expected);
    }

    /// `count` live tasks spawned every `every` seconds from `from`, ids from `first_id`.
    fn spawned(first_id: u64, count: u64, from: f64, every: f64) -> Vec<Task> {
        (0..count)
            .map(|i| {
                let at = from + i as f64 * every;
                T::new(first_id + i).created(at).idle(at + 0.01).build()
            })
            .collect()
    }

    #[test]
    fn steady_spawns_that_never_finish_accumulate_at_first_sight() {
        // 20 a second for 10 s, none finished: seen in one snapshot.
        check(
            10.0,
            spawned(1, 200, 0.05, 0.05),
            "accumulating 200 over 9.9s at 20.0/s, ages 5.0/8.9/9.9",
        );
        // One every 3 s for 2 minutes.
        check(
            121.0,
            spawned(1, 40, 3.0, 3.0),
            "accumulating 40 over 117.0s at 0.3/s, ages 58.0/106.0/118.0",
        );
    }

    #[test]
    fn a_request_handler_that_leaks_some_calls_accumulates() {
        // Most calls finish within 50 ms; one in ten is left parked.
        let mut tasks = spawned(1, 30, 1.0, 1.0);
        tasks.extend((0..50).map(|i| {
            T::new(100 + i).created(20.0 + i as f64 * 0.2).dropped(20.05 + i as f64 * 0.2).build()
        }));
        // And two calls in flight right now.
        tasks.extend(spawned(200, 2, 30.98, 0.01));
        check(31.0, tasks, "accumulating 30 over 29.0s at 1.0/s, ages 15.0/27.0/30.0");
    }

    #[test]
    fn fixed_populations_do_not_accumulate() {
        // A pool, listeners or connections made at start-up, in one go.
        check(60.0, spawned(1, 50, 0.5, 0.02), "settled");
        // A pool that warmed up over ten seconds and then stopped twenty seconds ago.
        check(30.0, spawned(1, 20, 0.5, 0.5), "settled");
        // Two batches of connections, one at start and one later: not a trend.
        let mut batches = spawned(1, 20, 1.0, 0.01);
        batches.extend(spawned(100, 20, 20.0, 0.01));
        check(22.0, batches, "settled");
        // Too few.
        check(30.0, spawned(1, 9, 1.0, 3.0), "settled");
    }

    #[test]
    fn tasks_that_live_as_long_as_their_finished_siblings_do_not_accumulate() {
        // Long polls answered after 30 s: those alive are younger than those that finished.
        let mut tasks = spawned(1, 29, 31.0, 1.0);
        tasks.extend(
            (0..30).map(|i| T::new(100 + i).created(i as f64).dropped(i as f64 + 30.0).build()),
        );
        check(60.0, tasks, "settled");
    }

    #[test]
    fn a_queue_filling_faster_than_it_drains_accumulates() {
        // 20 a second arrive since t = 0, one lock holder serves 5 a second in order: at t = 20
        // the 100 served finished, 300 wait, all younger than the longest-lived finished one.
        let mut tasks = Vec::new();
        for i in 0..400_u32 {
            let at = f64::from(i) * 0.05;
            let task = T::new(u64::from(i) + 1).created(at);
            tasks.push(if i < 100 {
                task.dropped(0.2 * f64::from(i + 1)).build()
            } else {
                task.idle(at).build()
            });
        }
        check(20.0, tasks, "accumulating 300 over 14.9s at 20.0/s, ages 7.5/13.5/15.0");
    }

    #[test]
    fn a_steady_state_of_long_lived_tasks_does_not_accumulate() {
        // Two a second, each living exactly 10 s, for a minute: as many finish as are spawned.
        let mut tasks = Vec::new();
        for i in 0..120_u32 {
            let at = f64::from(i) * 0.5;
            let task = T::new(u64::from(i) + 1).created(at);
            tasks.push(if at + 10.0 <= 60.0 {
                task.dropped(at + 10.0).build()
            } else {
                task.idle(at).build()
            });
        }
        check(60.0, tasks, "settled");
    }

    #[test]
    fn a_short_history_is_forming() {
        check(3.5, spawned(1, 61, 0.5, 0.05), "forming 61 over 3.0s");
        // The same batch, seen later: it was a batch.
        check(30.0, spawned(1, 61, 0.5, 0.05), "settled");
    }
}
