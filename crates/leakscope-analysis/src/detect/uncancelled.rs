//! `uncancelled`: a task still alive long after whatever spawned it ended: its parent task
//! finished, or the tracing span current at spawn (a request, typically) closed. Nobody is left
//! to cancel it, so if it waits for something that will not come it lives forever: the most
//! common leak in request-driven services.
//!
//! The time since the end is exact for a parent task (its drop time). For a span it is the first
//! observation that showed the span closed when the model saw it open before; otherwise the
//! span's close time is unknown and the time is measured from the task's spawn (the earliest the
//! span could have closed), which the evidence says. A suspect, not a leak: some tasks are meant
//! to outlive their spawner (suppress their location).
//!
//! A settled population waiting for work is left alone: tasks parked where healthy servers idle
//! (a receive, an accept, a socket read, a notification, a timer) at a site that does not leave
//! tasks behind ([`crate::site`]: it does not accumulate, and fewer than `growth.min-increase`
//! distinct spawners of its live tasks ended) are workers, listeners and subscribers a set-up
//! task started and left to run. Otherwise, or parked where a peer owes progress, or running,
//! they count.
//!
//! Near misses: the spawner still alive, or ended less than the threshold ago; a task with no
//! spawner (`parent_task_id` 0 and no span); a parent the model never saw (its end is unknown);
//! `block_on` tasks.

use leakscope_proto::v1::TaskKind;

use crate::config::Config;
use crate::context::{Ctx, Live, Tally, nanos, tasks};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::{TaskHit, group_hits};
use crate::model::{EndedAt, Model};
use crate::wait_point::WaitPoint;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    let sources = model.sources();
    (!(sources.tasks && (sources.parents || sources.spawner_spans))).then(|| {
        "needs parent tasks or spawner spans, which this source does not provide".to_owned()
    })
}

/// When `live`'s spawner ended, whether that time was observed, and the evidence.
fn spawner_end(
    ctx: &Ctx<'_>,
    live: &Live<'_>,
    parent_ended: &mut EndedAt<'_>,
) -> Option<(u64, bool, Evidence)> {
    let sources = ctx.model.sources();
    let task = live.task;
    let mut ends = Vec::new();
    if sources.parents
        && task.parent_task_id != 0
        && let Some(end) = parent_ended.get(task.parent_task_id)
    {
        let parent_location =
            ctx.model.task(task.parent_task_id).map(|_| ctx.task_location(task.parent_task_id));
        ends.push((end, true, Some(task.parent_task_id), parent_location, None));
    }
    if let Some(span) = task.spawner_span.as_ref().filter(|s| sources.spawner_spans && s.closed) {
        let (end, observed) = match ctx.model.span_closed(span.span_id) {
            Some(close) if close.observed => (close.at_nanos, true),
            _ => (task.created_nanos, false),
        };
        ends.push((end, observed, None, None, Some(span.name.clone())));
    }
    // Prefer an observed end; among those, the earliest.
    let (end, observed, parent_task_id, parent_location, span) =
        ends.into_iter().min_by_key(|(end, observed, ..)| (!observed, *end))?;
    let evidence = Evidence::Spawner {
        parent_task_id,
        parent_location,
        span,
        ended_secs_ago: Ctx::secs(ctx.now.saturating_sub(end)),
        observed,
    };
    Some((end, observed, evidence))
}

/// `Some(())` when `live` is one of a settled population waiting for work (an await where
/// healthy servers idle, at a site that does not accumulate): a worker, listener or subscriber
/// started by a set-up task that has since ended. Such tasks are meant to outlive their spawner.
fn settled_service(ctx: &Ctx<'_>, live: &Live<'_>) -> Option<()> {
    let point = &live.wait.point;
    // A known await where servers idle (timers included: a flush loop ticks); an unknown one
    // says nothing, so it is not excused.
    let waits_for_work = point.known_name().is_some() && !point.owes_progress();
    (waits_for_work && !ctx.leaves_tasks_behind(live.task.location_id)).then_some(())
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let threshold = nanos(ctx.config.uncancelled.threshold);
    let mut coming: Vec<(&crate::location::SourceLocation, u64)> = Vec::new();
    let mut parent_ended = EndedAt::new(ctx.model);
    let hits = ctx
        .live
        .iter()
        .filter(|live| live.kind != TaskKind::BlockOn)
        .filter(|live| settled_service(ctx, live).is_none())
        .filter_map(|live| {
            let (end, _, _) = spawner_end(ctx, live, &mut parent_ended)?;
            let since = ctx.now.saturating_sub(end);
            if since < threshold {
                // On its way: said as pending when the spawner ended a while ago.
                if since >= threshold / 4 {
                    coming.push((live.location, threshold - since));
                }
                return None;
            }
            Some(TaskHit { live, severity: Severity::Suspect, secs: Ctx::secs(since) })
        })
        .collect();
    let mut by_location: std::collections::BTreeMap<&crate::location::SourceLocation, (u64, u64)> =
        std::collections::BTreeMap::new();
    for (location, left) in coming {
        let entry = by_location.entry(location).or_insert((0, u64::MAX));
        entry.0 += 1;
        entry.1 = entry.1.min(left);
    }
    for (location, (count, left)) in by_location {
        tally.pending.push(crate::report::Pending {
            kind: FindingKind::Uncancelled,
            location: Some(location.clone()),
            tasks: count,
            secs_left: Ctx::secs(left),
            reason: format!(
                "{} spawned at {location} outlive their spawner; judged {} after it ended",
                tasks(count as usize),
                format_secs(Ctx::secs(threshold))
            ),
        });
    }
    let evidence = |hit: &TaskHit<'_>| {
        let mut parent_ended = EndedAt::new(ctx.model);
        spawner_end(ctx, hit.live, &mut parent_ended).map(|(.., e)| e).into_iter().collect()
    };
    group_hits(ctx, tally, FindingKind::Uncancelled, hits, true, evidence, |group, evidence| {
        let oldest = group.oldest();
        let parked = group
            .waiting_on
            .filter(|point| !matches!(point, WaitPoint::Unknown(_)))
            .map(|point| format!(", parked in {point}"))
            .unwrap_or_default();
        let spawner = evidence.first().map(ToString::to_string).unwrap_or_default();
        let explanation = format!(
            "{} spawned at {} {} still alive up to {} after {} spawner ended ({spawner}){parked}; nothing is left to cancel {}.",
            tasks(group.count()),
            group.location,
            if group.count() == 1 { "is" } else { "are" },
            format_secs(oldest.secs),
            if group.count() == 1 { "its" } else { "their" },
            if group.count() == 1 { "it" } else { "them" },
        );
        let fix = "Tie the task's lifetime to its spawner: keep the `JoinHandle` and abort it when the spawner ends (`tokio_util::task::AbortOnDropHandle`), spawn into a `JoinSet` the spawner owns, or pass a `CancellationToken` and `select!` on it. If the task is meant to outlive its spawner, suppress this location in leakscope.toml.".to_owned();
        (explanation, fix)
    })
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Snapshot, Task, TaskKind, Update};

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::model::Model;
    use crate::sources::Sources;
    use crate::support::{T, findings_of, model, snapshot};

    /// Tasks observed at t = 100 s.
    fn check(tasks: Vec<Task>, expected: &[&str]) {
        let got = findings_of(
            FindingKind::Uncancelled,
            &model(snapshot(100.0, tasks)),
            &Config::default(),
        );
        assert_eq!(got, expected);
    }

    /// `count` tasks at location 2 spawned by task 1 (ended at 20 s), one every `every`
    /// seconds from 10 s, parked in an mpsc receive (captured), seen at 100 s.
    fn receivers(count: u64, every: f64) -> Vec<String> {
        let mut tasks = vec![T::new(1).loc(9).dropped(20.0).build()];
        tasks.extend((0..count).map(|i| {
            let at = 10.0 + i as f64 * every;
            Task {
                wait_chain_ids: vec![7],
                ..T::new(10 + i).loc(2).parent(1).created(at).idle(at.max(95.0)).build()
            }
        }));
        let mut snap = snapshot(100.0, tasks);
        snap.wait_chains = vec![leakscope_proto::v1::WaitChain {
            id: 7,
            frames: crate::support::frames(&[
                "app::worker::{{closure}}@src/worker.rs:9:5",
                "tokio::sync::mpsc::chan::recv@x:1",
            ]),
        }];
        findings_of(FindingKind::Uncancelled, &model(snap), &Config::default())
    }

    #[test]
    fn a_settled_population_waiting_for_work_may_outlive_its_spawner() {
        // A pool of 8 workers a set-up task started at once and left: meant to outlive it.
        assert_eq!(receivers(8, 0.01), Vec::<String>::new());
        // One every second, still coming, all outliving the task that spawned them: counted
        // (and merged with the site's growth).
        let got = receivers(90, 1.0);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("suspect uncancelled+growth src/l2.rs:20:5 ×90"), "{got:?}");
    }

    #[test]
    fn tasks_left_behind_by_many_spawners_count_after_spawning_stopped() {
        // Twelve requests, each ended and each leaving a receiver behind, all in a burst long
        // ago: no longer accumulating, but one per request, not a pool.
        let mut tasks = Vec::new();
        for i in 0_u32..12 {
            let at = 10.0 + f64::from(i) * 0.01;
            tasks.push(T::new(100 + u64::from(i)).loc(9).created(at).dropped(at + 0.5).build());
            tasks.push(Task {
                wait_chain_ids: vec![7],
                ..T::new(200 + u64::from(i))
                    .loc(2)
                    .parent(100 + u64::from(i))
                    .created(at)
                    .idle(at)
                    .build()
            });
        }
        let mut snap = snapshot(100.0, tasks);
        snap.wait_chains = vec![leakscope_proto::v1::WaitChain {
            id: 7,
            frames: crate::support::frames(&[
                "app::w::{{closure}}@src/w.rs:9:5",
                "tokio::sync::mpsc::chan::recv@x:1",
            ]),
        }];
        let got = findings_of(FindingKind::Uncancelled, &model(snap), &Config::default());
        assert_eq!(got.len(), 1, "{got:?}");
        // Parked 90 s in a receive, left by twelve spawners: `stuck` too.
        assert!(got[0].starts_with("suspect stuck+uncancelled src/l2.rs:20:5 ×12"), "{got:?}");
    }

    #[test]
    fn outlives_a_finished_parent() {
        check(
            vec![
                T::new(1).loc(9).dropped(20.0).build(),
                T::new(2).loc(2).parent(1).idle(15.0).build(),
                T::new(3).loc(2).parent(1).running(99.0).build(),
            ],
            &["suspect uncancelled src/l2.rs:20:5 ×2 1m20s unknown [2, 3]"],
        );
    }

    #[test]
    fn outlives_a_closed_span_first_seen_closed() {
        // The close was not observed: measured from spawn.
        check(
            vec![T::new(2).created(40.0).span(7, "request", true).idle(45.0).build()],
            &["suspect uncancelled src/l1.rs:10:5 ×1 1m00s unknown [2]"],
        );
    }

    #[test]
    fn a_span_seen_closing_is_timed_from_the_observation() {
        let task = |closed| T::new(2).created(10.0).span(7, "request", closed).idle(15.0).build();
        let mut m = Model::new(Sources::all());
        for (now, closed) in [(20.0, false), (50.0, true), (70.0, true)] {
            m.apply_update(Update {
                full: true,
                snapshot: Some(snapshot(now, vec![task(closed)])),
            });
        }
        // Closed at 50 (first seen), now 70: 20 s, under the threshold.
        assert_eq!(
            findings_of(FindingKind::Uncancelled, &m, &Config::default()),
            Vec::<String>::new()
        );
        m.apply_update(Update {
            full: false,
            snapshot: Some(Snapshot { now_nanos: 81_000_000_000, ..Snapshot::default() }),
        });
        assert_eq!(
            findings_of(FindingKind::Uncancelled, &m, &Config::default()),
            ["suspect uncancelled src/l1.rs:10:5 ×1 31s unknown [2]"]
        );
        let report = crate::analyze(&m, &Config::default());
        assert_eq!(
            report.findings[0].evidence[0].to_string(),
            "spawned in span `request`, which closed 31s ago"
        );
    }

    #[test]
    fn near_misses() {
        // Parent alive.
        check(vec![T::new(1).idle(1.0).build(), T::new(2).parent(1).idle(1.0).build()], &[]);
        // Parent ended 10 s ago.
        check(vec![T::new(1).dropped(90.0).build(), T::new(2).parent(1).idle(1.0).build()], &[]);
        // Parent never seen.
        check(vec![T::new(2).parent(77).idle(1.0).build()], &[]);
        // No spawner at all.
        check(vec![T::new(2).idle(1.0).build()], &[]);
        // Span still open.
        check(vec![T::new(2).span(7, "request", false).idle(1.0).build()], &[]);
        // Span closed, task spawned 20 s ago.
        check(vec![T::new(2).created(80.0).span(7, "request", true).idle(81.0).build()], &[]);
        // The task itself finished.
        check(
            vec![T::new(1).dropped(20.0).build(), T::new(2).parent(1).dropped(30.0).build()],
            &[],
        );
        // block_on.
        check(
            vec![
                T::new(1).dropped(20.0).build(),
                T::new(2).kind(TaskKind::BlockOn).parent(1).build(),
            ],
            &[],
        );
    }
}
