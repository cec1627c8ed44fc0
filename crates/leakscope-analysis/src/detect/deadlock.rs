//! `deadlock`: a cycle in the wait-for graph. Task A waits on a resource held by task B, which
//! waits on one held by A (or a task waits on a lock it already holds: tokio's locks are not
//! reentrant). None of them can ever proceed: a certain leak.
//!
//! Edges come from waits on resources whose holder is known (`Resource.holder_task_id`), between
//! live tasks, and at least `min-wait` old (default 1 s): a snapshot can catch a holder an
//! instant before it releases, but a real deadlock never ends.

use leakscope_proto::v1::Resource;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::config::Config;
use crate::context::{Ctx, Tally};
use crate::duration::format_secs;
use crate::finding::{ChainLink, Evidence, Finding, FindingKind, Severity};
use crate::hits::MAX_SAMPLE;
use crate::model::{Model, is_live};
use crate::wait_point::{WaitPoint, wait_point_from_wait};

/// One edge of the wait-for graph: `waiter` is parked on `resource`, which `holder` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) waiter: u64,
    pub(crate) resource: u64,
    pub(crate) holder: u64,
    pub(crate) since: u64,
    pub(crate) point: WaitPoint,
}

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    let sources = model.sources();
    (!(sources.resources && sources.lock_holders))
        .then(|| "needs resources with their holders and the waits on them, which this source does not provide".to_owned())
}

/// Every wait-for cycle, each rotated to start at its smallest task id, in order of that id.
/// Iterative depth-first search: each task is visited once, however long the chains.
pub(crate) fn cycles(model: &Model, now: u64, min_wait: u64) -> Vec<Vec<Edge>> {
    let alive = |id: u64| model.task(id).is_some_and(is_live);
    // Only a held resource makes an edge: found once, not by a search per wait (a million
    // tasks parked on their oneshots are a million waits on resources nobody holds).
    let held: HashMap<u64, &Resource> =
        model.resources().filter(|r| r.holder_task_id != 0).map(|r| (r.id, r)).collect();
    let mut graph: BTreeMap<u64, Vec<Edge>> = BTreeMap::new();
    for wait in model.waits() {
        let Some(&resource) = held.get(&wait.resource_id) else { continue };
        let holder = resource.holder_task_id;
        if !alive(wait.task_id) || !alive(holder) || now.saturating_sub(wait.since_nanos) < min_wait
        {
            continue;
        }
        graph.entry(wait.task_id).or_default().push(Edge {
            waiter: wait.task_id,
            resource: resource.id,
            holder,
            since: wait.since_nanos,
            point: wait_point_from_wait(wait, Some(resource)),
        });
    }
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Color {
        OnPath,
        Done,
    }
    let mut color: HashMap<u64, Color> = HashMap::new();
    let mut found: Vec<Vec<Edge>> = Vec::new();
    let mut seen_sets: BTreeSet<Vec<u64>> = BTreeSet::new();
    for &start in graph.keys() {
        if color.contains_key(&start) {
            continue;
        }
        // (task, index of its next edge to follow); path[i] is the edge from stack[i] onwards.
        let mut stack: Vec<(u64, usize)> = vec![(start, 0)];
        let mut path: Vec<&Edge> = Vec::new();
        color.insert(start, Color::OnPath);
        while let Some(&(task, next)) = stack.last() {
            let edges = graph.get(&task).map_or(&[][..], Vec::as_slice);
            let Some(edge) = edges.get(next) else {
                color.insert(task, Color::Done);
                stack.pop();
                path.pop();
                continue;
            };
            if let Some(top) = stack.last_mut() {
                top.1 += 1;
            }
            match color.get(&edge.holder) {
                None => {
                    color.insert(edge.holder, Color::OnPath);
                    path.push(edge);
                    stack.push((edge.holder, 0));
                }
                Some(Color::OnPath) => {
                    let from = stack.iter().position(|(t, _)| *t == edge.holder).unwrap_or(0);
                    let mut cycle: Vec<Edge> = path[from..].iter().map(|e| (*e).clone()).collect();
                    cycle.push(edge.clone());
                    let min = cycle
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, e)| e.waiter)
                        .map_or(0, |(i, _)| i);
                    cycle.rotate_left(min);
                    let mut set: Vec<u64> = cycle.iter().map(|e| e.waiter).collect();
                    set.sort_unstable();
                    if seen_sets.insert(set) {
                        found.push(cycle);
                    }
                }
                Some(Color::Done) => {}
            }
        }
    }
    found.sort_by_key(|cycle| cycle.first().map(|e| e.waiter));
    found
}

/// The chain of a cycle (or of a lock's holders) as evidence links.
pub(crate) fn link(ctx: &Ctx<'_>, edge: &Edge) -> ChainLink {
    ChainLink {
        task_id: edge.waiter,
        task_location: ctx.task_location(edge.waiter),
        waits_on: edge.point.to_string(),
        resource_id: edge.resource,
        resource_location: ctx
            .model
            .resource(edge.resource)
            .map_or_else(Default::default, |r| ctx.model.location(r.location_id).clone()),
        held_by: Some(edge.holder),
    }
}

/// What makes two cycles the same deadlock: the multiset of (waiter's spawn location, resource's
/// creation site, wait point) of their edges. A bug that deadlocks once a request makes one
/// cycle per request, all alike; they are one finding, as tasks alike are one group.
fn shape(ctx: &Ctx<'_>, cycle: &[Edge]) -> Vec<String> {
    let mut shape: Vec<String> = cycle
        .iter()
        .map(|edge| {
            let link = link(ctx, edge);
            format!("{} {} {}", link.task_location, link.resource_location, link.waits_on)
        })
        .collect();
    shape.sort_unstable();
    shape
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let age = |cycle: &[Edge]| cycle.iter().map(|e| ctx.now.saturating_sub(e.since)).max();
    let mut shapes: BTreeMap<Vec<String>, Vec<&Vec<Edge>>> = BTreeMap::new();
    for cycle in &ctx.cycles {
        shapes.entry(shape(ctx, cycle)).or_default().push(cycle);
    }
    let mut groups: Vec<Vec<&Vec<Edge>>> = shapes.into_values().collect();
    for cycles in &mut groups {
        // The oldest cycle first: it is the one shown.
        cycles.sort_by_key(|cycle| std::cmp::Reverse(age(cycle).unwrap_or(0)));
    }
    let mut findings = Vec::new();
    for cycles in groups {
        let Some(cycle) = cycles.first() else { continue };
        let Some(first) = cycle.first() else { continue };
        let location = ctx.task_location(first.waiter);
        let name = ctx.task_name(first.waiter);
        if ctx.config.is_suppressed(FindingKind::Deadlock, &location, name) {
            tally.suppressed += 1;
            continue;
        }
        for edge in cycles.iter().flat_map(|cycle| cycle.iter()) {
            tally.mark_task(edge.waiter, FindingKind::Deadlock);
        }
        let oldest = age(cycle).unwrap_or(0);
        let ids: Vec<String> = cycle.iter().map(|e| e.waiter.to_string()).collect();
        let explanation = match (cycles.len(), cycle.len()) {
            (1, 1) => format!(
                "Task {} (spawned at {location}) waits in {} on a lock it already holds; tokio's locks are not reentrant, so it can never proceed (for {}).",
                first.waiter,
                first.point,
                format_secs(Ctx::secs(oldest))
            ),
            (1, _) => format!(
                "Tasks {} → {} wait on locks held by each other (since up to {}): none can ever proceed.",
                ids.join(" → "),
                first.waiter,
                format_secs(Ctx::secs(oldest))
            ),
            (n, 1) => format!(
                "{n} tasks spawned at {location} each wait in {} on a lock they already hold, the oldest task {} for {}; tokio's locks are not reentrant, so none can ever proceed.",
                first.point,
                first.waiter,
                format_secs(Ctx::secs(oldest))
            ),
            (n, _) => format!(
                "{n} cycles of tasks wait on locks held by each other, all alike: the oldest, tasks {} → {}, since {}. None can ever proceed.",
                ids.join(" → "),
                first.waiter,
                format_secs(Ctx::secs(oldest))
            ),
        };
        let mut evidence =
            vec![Evidence::WaitChain { links: cycle.iter().map(|e| link(ctx, e)).collect() }];
        if cycles.len() > 1 {
            let more = cycles.len() - 1;
            evidence.push(Evidence::note(format!(
                "{more} more {} like this one, the newest {} old",
                if more == 1 { "cycle" } else { "cycles" },
                format_secs(Ctx::secs(cycles.iter().filter_map(|c| age(c)).min().unwrap_or(0)))
            )));
        }
        let tasks: Vec<u64> = cycles.iter().flat_map(|c| c.iter().map(|e| e.waiter)).collect();
        findings.push(Finding {
            kind: FindingKind::Deadlock,
            severity: Severity::Leak,
            location,
            task_name: name.map(str::to_owned),
            count: tasks.len() as u64,
            oldest_secs: Ctx::secs(oldest),
            waiting_on: Some(first.point.clone()),
            user_frame: ctx.model.task_wait(first.waiter).user_frame.as_deref().cloned(),
            task_ids: tasks.into_iter().take(MAX_SAMPLE).collect(),
            evidence,
            explanation,
            fix: "Take locks in one global order everywhere, or never await one lock while holding another (drop the first guard, or merge the state under one lock). A task must drop its guard before locking the same lock again.".to_owned(),
            doc: FindingKind::Deadlock.doc(),
        });
    }
    findings
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Resource, ResourceKind, Task, Wait};

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::support::{T, findings_of, model, resource, snapshot, wait};

    /// A mutex `id` held by `holder`, created at location 9.
    fn mutex(id: u64, holder: u64) -> Resource {
        Resource {
            holder_task_id: holder,
            locked: true,
            location_id: 9,
            ..resource(id, ResourceKind::Mutex)
        }
    }

    /// Observed at t = 100 s.
    fn check(tasks: Vec<Task>, resources: Vec<Resource>, waits: Vec<Wait>, expected: &[&str]) {
        let mut snap = snapshot(100.0, tasks);
        snap.resources = resources;
        snap.waits = waits;
        assert_eq!(findings_of(FindingKind::Deadlock, &model(snap), &Config::default()), expected);
    }

    fn idle(ids: &[u64]) -> Vec<Task> {
        ids.iter().map(|&id| T::new(id).loc(id as u32).idle(10.0).build()).collect()
    }

    #[test]
    fn cycles_are_deadlocks() {
        // 1 waits on A held by 2, 2 waits on B held by 1.
        check(
            idle(&[1, 2]),
            vec![mutex(10, 2), mutex(11, 1)],
            vec![wait(1, 10, "Mutex::lock", 20.0), wait(2, 11, "Mutex::lock", 30.0)],
            &["leak deadlock src/l1.rs:10:5 ×2 1m20s Mutex::lock [1, 2]"],
        );
        // A three-task cycle found from a task outside it, reported once.
        check(
            idle(&[1, 2, 3, 4]),
            vec![mutex(10, 2), mutex(11, 3), mutex(12, 1), mutex(13, 1)],
            vec![
                wait(4, 13, "Mutex::lock", 50.0),
                wait(1, 10, "Mutex::lock", 50.0),
                wait(2, 11, "Mutex::lock", 50.0),
                wait(3, 12, "Mutex::lock", 50.0),
            ],
            &["leak deadlock src/l1.rs:10:5 ×3 50s Mutex::lock [1, 2, 3]"],
        );
        // Locking a mutex it already holds.
        check(
            idle(&[5]),
            vec![mutex(10, 5)],
            vec![wait(5, 10, "Mutex::lock", 40.0)],
            &["leak deadlock src/l5.rs:50:5 ×1 1m00s Mutex::lock [5]"],
        );
    }

    #[test]
    fn alike_cycles_are_one_finding() {
        // Two AB/BA pairs from the same two spawn lines and lock sites, and a third cycle of
        // another shape (its tasks spawned elsewhere).
        let tasks = vec![
            T::new(1).loc(1).idle(10.0).build(),
            T::new(2).loc(2).idle(10.0).build(),
            T::new(3).loc(1).idle(10.0).build(),
            T::new(4).loc(2).idle(10.0).build(),
            T::new(5).loc(5).idle(10.0).build(),
            T::new(6).loc(6).idle(10.0).build(),
        ];
        let resources = vec![
            mutex(10, 2),
            mutex(11, 1),
            mutex(12, 4),
            mutex(13, 3),
            mutex(14, 6),
            mutex(15, 5),
        ];
        let waits = vec![
            wait(1, 10, "Mutex::lock", 20.0),
            wait(2, 11, "Mutex::lock", 20.0),
            wait(3, 12, "Mutex::lock", 60.0),
            wait(4, 13, "Mutex::lock", 60.0),
            wait(5, 14, "Mutex::lock", 90.0),
            wait(6, 15, "Mutex::lock", 90.0),
        ];
        check(
            tasks.clone(),
            resources.clone(),
            waits.clone(),
            &[
                "leak deadlock src/l1.rs:10:5 ×4 1m20s Mutex::lock [1, 2, 3, 4]",
                "leak deadlock src/l5.rs:50:5 ×2 10s Mutex::lock [5, 6]",
            ],
        );
        let mut snap = snapshot(100.0, tasks);
        snap.resources = resources;
        snap.waits = waits;
        let report = crate::analyze(&model(snap), &Config::default());
        let finding = &report.findings[0];
        assert_eq!(
            finding.explanation,
            "2 cycles of tasks wait on locks held by each other, all alike: the oldest, tasks 1 → 2 → 1, since 1m20s. None can ever proceed."
        );
        assert_eq!(
            finding.evidence[1].to_string(),
            "1 more cycle like this one, the newest 40s old"
        );
    }

    #[test]
    fn near_misses() {
        // A chain without a cycle is contention, not deadlock.
        check(idle(&[1, 2]), vec![mutex(10, 2)], vec![wait(1, 10, "Mutex::lock", 20.0)], &[]);
        // A cycle younger than a second: the snapshot may have caught a release in flight.
        check(
            idle(&[1, 2]),
            vec![mutex(10, 2), mutex(11, 1)],
            vec![wait(1, 10, "Mutex::lock", 99.5), wait(2, 11, "Mutex::lock", 30.0)],
            &[],
        );
        // The holder has finished.
        let mut tasks = idle(&[1]);
        tasks.push(T::new(2).dropped(50.0).build());
        check(
            tasks,
            vec![mutex(10, 2), mutex(11, 1)],
            vec![wait(1, 10, "Mutex::lock", 20.0), wait(2, 11, "Mutex::lock", 30.0)],
            &[],
        );
        // Holders unknown (semaphores, read locks).
        check(
            idle(&[1, 2]),
            vec![mutex(10, 0), mutex(11, 0)],
            vec![wait(1, 10, "Mutex::lock", 20.0), wait(2, 11, "Mutex::lock", 30.0)],
            &[],
        );
    }

    #[test]
    fn deadlocked_tasks_are_not_also_stuck_or_contended() {
        let mut snap = snapshot(100.0, idle(&[1, 2]));
        snap.resources = vec![mutex(10, 2), mutex(11, 1)];
        snap.waits = vec![wait(1, 10, "Mutex::lock", 20.0), wait(2, 11, "Mutex::lock", 30.0)];
        let report = crate::analyze(&model(snap), &Config::default());
        let kinds: Vec<FindingKind> = report.findings.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FindingKind::Deadlock]);
        assert_eq!(
            report.findings[0].evidence[0].to_string(),
            "task 1 (src/l1.rs:10:5) waits in Mutex::lock on resource 10 (src/l9.rs:90:5) held by task 2 → task 2 (src/l2.rs:20:5) waits in Mutex::lock on resource 11 (src/l9.rs:90:5) held by task 1"
        );
    }
}
