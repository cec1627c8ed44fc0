//! `lock-contention`: tasks queue on a tokio `Mutex`, `RwLock` or `Semaphore`: a waiter has been
//! parked at least the threshold (default 1 s) or at least `max-waiters` (default 10) wait at
//! once. The finding names the holder, where it was spawned and what it is doing, following the
//! chain when the holder itself waits on another lock: a holder parked in an `.await` while
//! holding the guard is the usual culprit.
//!
//! Internal semaphores (the ones inside bounded channels and locks) are left out: a full channel
//! is backpressure, reported by `stuck` as `mpsc::Sender::send`. Resources in a deadlock are left
//! to `deadlock`.

use std::collections::HashSet;

use leakscope_proto::v1::{Resource, ResourceKind, TaskState};

use crate::config::Config;
use crate::context::{Ctx, Tally, nanos, tasks};
use crate::detect::deadlock::{Edge, link};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::MAX_SAMPLE;
use crate::model::{Model, is_live};
use crate::names::is_app_file;
use crate::wait_point::wait_point_from_wait;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    (!model.sources().resources).then(|| {
        "needs resources and the waits on them, which this source does not provide".to_owned()
    })
}

/// Links from a lock's waiter to its holder, then onwards while each holder itself waits on a
/// resource with a known holder; at most 8 links, never revisiting a task.
fn holder_chain(ctx: &Ctx<'_>, waiter: u64, resource: &Resource) -> Vec<Edge> {
    let mut chain = Vec::new();
    let mut visited = HashSet::from([waiter]);
    let (mut task, mut resource) = (waiter, resource);
    while chain.len() < 8 && resource.holder_task_id != 0 {
        let Some(wait) = ctx.model.waits_of(task).find(|w| w.resource_id == resource.id) else {
            break;
        };
        let holder = resource.holder_task_id;
        chain.push(Edge {
            waiter: task,
            resource: resource.id,
            holder,
            since: wait.since_nanos,
            point: wait_point_from_wait(wait, Some(resource)),
        });
        if !visited.insert(holder) {
            break;
        }
        let next = ctx
            .model
            .waits_of(holder)
            .filter_map(|w| ctx.model.resource(w.resource_id))
            .find(|r| r.holder_task_id != 0);
        match next {
            Some(next) => (task, resource) = (holder, next),
            None => break,
        }
    }
    chain
}

/// What the resource's state says, for the evidence.
fn state(resource: &Resource) -> String {
    let holder = match resource.holder_task_id {
        0 => "holder unknown".to_owned(),
        id => format!("held by task {id}"),
    };
    match ResourceKind::try_from(resource.kind).unwrap_or(ResourceKind::Unspecified) {
        ResourceKind::Semaphore => format!("{} permits available, {holder}", resource.permits),
        ResourceKind::RwLock if resource.readers > 0 => {
            format!("{} readers, {holder}", resource.readers)
        }
        _ if resource.locked => format!("locked, {holder}"),
        _ => holder,
    }
}

/// One sentence about the holder: who, where, doing what.
fn holder_sentence(ctx: &Ctx<'_>, resource: &Resource) -> String {
    let id = resource.holder_task_id;
    let Some(holder) = ctx.model.task(id).filter(|_| id != 0) else {
        return "the holder is not known".to_owned();
    };
    let location = ctx.model.location(holder.location_id);
    let name = Some(holder.name.as_str())
        .filter(|n| !n.is_empty())
        .map(|n| format!(" `{n}`"))
        .unwrap_or_default();
    let doing = if !is_live(holder) {
        "has finished without releasing it".to_owned()
    } else if holder.state == TaskState::Running as i32 {
        format!(
            "is running (for {})",
            format_secs(Ctx::secs(ctx.now.saturating_sub(holder.last_poll_start_nanos)))
        )
    } else if holder.state == TaskState::Idle as i32 {
        let idle = format_secs(Ctx::secs(ctx.now.saturating_sub(holder.last_poll_end_nanos)));
        match &ctx.model.task_wait(id).point {
            point if point.known_name().is_some() => {
                format!("is parked in {point} for {idle} while holding it")
            }
            _ => format!("is idle for {idle} while holding it"),
        }
    } else {
        "is scheduled".to_owned()
    };
    format!("it is held by task {id}{name} (spawned at {location}), which {doing}")
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let threshold = nanos(ctx.config.lock_contention.threshold);
    let max_waiters = ctx.config.lock_contention.max_waiters;
    let lockish =
        [ResourceKind::Mutex as i32, ResourceKind::RwLock as i32, ResourceKind::Semaphore as i32];
    let mut findings = Vec::new();
    for resource in ctx.model.resources().filter(|r| lockish.contains(&r.kind) && !r.internal) {
        if ctx.deadlocked_resources.contains(&resource.id) {
            continue;
        }
        let mut waits: Vec<_> = ctx
            .model
            .waits()
            .iter()
            .filter(|w| {
                w.resource_id == resource.id && ctx.model.task(w.task_id).is_some_and(is_live)
            })
            .collect();
        if waits.is_empty() {
            continue;
        }
        waits.sort_by_key(|w| (w.since_nanos, w.task_id));
        let longest = ctx.now.saturating_sub(waits[0].since_nanos);
        if longest < threshold && waits.len() < max_waiters {
            continue;
        }
        // Where to look is the lock's creation site, unless that is inside a dependency (a
        // `Mutex` made by `Default::default()` is created in tokio's source): then the waiters'
        // spawn site, which is the app's.
        let created = ctx.model.location(resource.location_id);
        let created_by_app = resource.location_id != 0 && is_app_file(&created.file);
        let location =
            if created_by_app { created.clone() } else { ctx.task_location(waits[0].task_id) };
        let origin = if created_by_app {
            format!("created at {created}")
        } else if resource.location_id != 0 {
            format!("created inside a dependency (at {created})")
        } else {
            "created at an unknown place".to_owned()
        };
        let name = ctx.task_name(waits[0].task_id);
        if ctx.config.is_suppressed(FindingKind::LockContention, &location, name) {
            tally.suppressed += 1;
            continue;
        }
        for wait in &waits {
            tally.mark_task(wait.task_id, FindingKind::LockContention);
        }
        let point = wait_point_from_wait(waits[0], Some(resource));
        let kind_name = if resource.concrete_type.is_empty() {
            point.to_string()
        } else {
            resource.concrete_type.clone()
        };
        let mut evidence = vec![Evidence::Resource {
            id: resource.id,
            kind: kind_name.clone(),
            location: ctx.model.location(resource.location_id).clone(),
            detail: state(resource),
        }];
        let chain = holder_chain(ctx, waits[0].task_id, resource);
        if !chain.is_empty() {
            evidence
                .push(Evidence::WaitChain { links: chain.iter().map(|e| link(ctx, e)).collect() });
        }
        findings.push(Finding {
            kind: FindingKind::LockContention,
            severity: Severity::Warn,
            location: location.clone(),
            task_name: name.map(str::to_owned),
            count: waits.len() as u64,
            oldest_secs: Ctx::secs(longest),
            waiting_on: Some(point.clone()),
            user_frame: None,
            task_ids: waits.iter().take(MAX_SAMPLE).map(|w| w.task_id).collect(),
            evidence,
            explanation: format!(
                "{} {} in {point} on the {kind_name} {origin}, the longest for {}; {}.",
                tasks(waits.len()),
                if waits.len() == 1 { "waits" } else { "wait" },
                format_secs(Ctx::secs(longest)),
                holder_sentence(ctx, resource),
            ),
            fix: "Don't hold the guard across a slow `.await`: copy what you need out and drop it first, or restructure so the critical section has no awaits (then a `std::sync::Mutex` is cheaper). Keep critical sections short; bound waits with `tokio::time::timeout`.".to_owned(),
            doc: FindingKind::LockContention.doc(),
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

    fn mutex(id: u64, holder: u64) -> Resource {
        Resource {
            holder_task_id: holder,
            locked: holder != 0,
            location_id: 9,
            ..resource(id, ResourceKind::Mutex)
        }
    }

    /// Observed at t = 100 s; returns the rendered findings and the first explanation.
    fn run(tasks: Vec<Task>, resources: Vec<Resource>, waits: Vec<Wait>) -> (Vec<String>, String) {
        let mut snap = snapshot(100.0, tasks);
        snap.resources = resources;
        snap.waits = waits;
        let m = model(snap);
        let report = crate::analyze(&m, &Config::default());
        let explanation = report
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::LockContention)
            .map(|f| f.explanation.clone())
            .unwrap_or_default();
        (findings_of(FindingKind::LockContention, &m, &Config::default()), explanation)
    }

    fn check(tasks: Vec<Task>, resources: Vec<Resource>, waits: Vec<Wait>, expected: &[&str]) {
        assert_eq!(run(tasks, resources, waits).0, expected);
    }

    #[test]
    fn a_slow_holder_names_itself() {
        let (found, explanation) = run(
            vec![
                T::new(1).loc(2).idle(97.0).build(),
                T::new(7).loc(3).name("flusher").idle(88.0).build(),
            ],
            vec![mutex(10, 7), resource(11, ResourceKind::Timer)],
            vec![wait(1, 10, "Mutex::lock", 97.0), wait(7, 11, "Sleep::new_timeout", 88.0)],
        );
        assert_eq!(found, ["warn lock-contention src/l9.rs:90:5 ×1 3s Mutex::lock [1]"]);
        assert_eq!(
            explanation,
            "1 task waits in Mutex::lock on the Mutex created at src/l9.rs:90:5, the longest for 3s; it is held by task 7 `flusher` (spawned at src/l3.rs:30:5), which is parked in sleep for 12s while holding it."
        );
    }

    #[test]
    fn many_waiters_or_long_waits() {
        let waiters: Vec<Task> = (1..=10).map(|id| T::new(id).idle(99.9).build()).collect();
        let waits: Vec<Wait> = (1..=10).map(|id| wait(id, 10, "Mutex::lock", 99.9)).collect();
        check(
            waiters,
            vec![mutex(10, 0)],
            waits,
            &[
                "warn lock-contention src/l9.rs:90:5 ×10 100ms Mutex::lock [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
            ],
        );
        let mut sem = resource(12, ResourceKind::Semaphore);
        sem.location_id = 4;
        check(
            vec![T::new(1).idle(50.0).build()],
            vec![sem],
            vec![wait(1, 12, "Semaphore::acquire", 50.0)],
            &["warn lock-contention src/l4.rs:40:5 ×1 50s Semaphore::acquire [1]"],
        );
    }

    #[test]
    fn a_lock_created_inside_a_dependency_points_at_its_waiters() {
        let mut snap = snapshot(100.0, vec![T::new(1).loc(2).idle(50.0).build()]);
        snap.locations.push(leakscope_proto::v1::Location {
            id: 20,
            file: "/home/u/.cargo/registry/src/index.crates.io-1/tokio-1.54.1/src/sync/mutex.rs"
                .into(),
            line: 806,
            col: 9,
        });
        snap.resources = vec![Resource { location_id: 20, ..mutex(10, 0) }];
        snap.waits = vec![wait(1, 10, "Mutex::lock", 50.0)];
        let m = model(snap);
        assert_eq!(
            findings_of(FindingKind::LockContention, &m, &Config::default()),
            ["warn lock-contention src/l2.rs:20:5 ×1 50s Mutex::lock [1]"]
        );
        let report = crate::analyze(&m, &Config::default());
        let finding = report.findings.iter().find(|f| f.kind == FindingKind::LockContention);
        let explanation = finding.map(|f| f.explanation.as_str()).unwrap_or_default();
        assert!(
            explanation
                .contains("on the Mutex created inside a dependency (at /home/u/.cargo/registry/"),
            "{explanation}"
        );
    }

    #[test]
    fn near_misses() {
        // A short wait with few waiters.
        check(
            vec![T::new(1).idle(99.5).build()],
            vec![mutex(10, 2)],
            vec![wait(1, 10, "Mutex::lock", 99.5)],
            &[],
        );
        // An internal semaphore: channel backpressure, not a lock.
        let mut internal = resource(12, ResourceKind::Semaphore);
        internal.internal = true;
        check(
            vec![T::new(1).idle(50.0).build()],
            vec![internal],
            vec![wait(1, 12, "Acquire::new", 50.0)],
            &[],
        );
        // Timers are not locks.
        check(
            vec![T::new(1).idle(50.0).build()],
            vec![resource(11, ResourceKind::Timer)],
            vec![wait(1, 11, "Sleep::new_timeout", 50.0)],
            &[],
        );
        // The waiter has finished.
        check(
            vec![T::new(1).dropped(60.0).build()],
            vec![mutex(10, 2)],
            vec![wait(1, 10, "Mutex::lock", 50.0)],
            &[],
        );
    }
}
