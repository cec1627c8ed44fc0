//! `lock-contention`: tasks queue on a tokio `Mutex`, `RwLock` or `Semaphore`: a waiter has been
//! parked at least the threshold (default 1 s) or at least `max-waiters` (default 10) wait at
//! once. The finding names the holder, where it was spawned and what it is doing, following the
//! chain when the holder itself waits on another lock: a holder parked in an `.await` while
//! holding the guard is the usual culprit.
//!
//! One finding per place to look (the locks' creation site) and wait point, with the number of
//! contended instances made there: 50 mutexes created at one line are one thing to fix.
//!
//! Internal semaphores (the ones inside bounded channels and locks) are left out: a full channel
//! is backpressure, reported by `stuck` as `mpsc::Sender::send`. Resources in a deadlock are left
//! to `deadlock`.

use std::collections::{BTreeMap, HashSet};

use leakscope_proto::v1::{Resource, ResourceKind, TaskState};

use crate::config::Config;
use crate::context::{Ctx, Tally, nanos, tasks};
use crate::detect::deadlock::{Edge, link};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::MAX_SAMPLE;
use crate::location::SourceLocation;
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

/// One contended lock instance.
struct Contended<'a> {
    resource: &'a Resource,
    waits: Vec<&'a leakscope_proto::v1::Wait>,
    longest: u64,
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let threshold = nanos(ctx.config.lock_contention.threshold);
    let max_waiters = ctx.config.lock_contention.max_waiters;
    let lockish =
        [ResourceKind::Mutex as i32, ResourceKind::RwLock as i32, ResourceKind::Semaphore as i32];
    // One entry per place to look and wait point: 50 mutexes made at one line are one thing to
    // fix, reported once with the instance count.
    let mut sites: BTreeMap<(SourceLocation, String), Vec<Contended<'_>>> = BTreeMap::new();
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
        let location = place(ctx, resource, waits[0].task_id);
        let point = wait_point_from_wait(waits[0], Some(resource)).to_string();
        sites.entry((location, point)).or_default().push(Contended { resource, waits, longest });
    }
    let mut findings = Vec::new();
    for ((location, _), mut instances) in sites {
        // The instance waited on longest speaks for the site.
        instances.sort_by(|a, b| b.longest.cmp(&a.longest).then(a.resource.id.cmp(&b.resource.id)));
        let worst = &instances[0];
        let resource = worst.resource;
        let name = ctx.task_name(worst.waits[0].task_id);
        if ctx.config.is_suppressed(FindingKind::LockContention, &location, name) {
            tally.suppressed += 1;
            continue;
        }
        let mut waits: Vec<&leakscope_proto::v1::Wait> =
            instances.iter().flat_map(|c| c.waits.iter().copied()).collect();
        waits.sort_by_key(|w| (w.since_nanos, w.task_id));
        for wait in &waits {
            tally.mark_task(wait.task_id, FindingKind::LockContention);
        }
        let created = ctx.model.location(resource.location_id);
        let created_by_app = resource.location_id != 0 && is_app_file(&created.file);
        let origin = if created_by_app {
            format!("created at {created}")
        } else if resource.location_id != 0 {
            format!("created inside a dependency (at {created})")
        } else {
            "created at an unknown place".to_owned()
        };
        let point = wait_point_from_wait(worst.waits[0], Some(resource));
        let kind_name = if resource.concrete_type.is_empty() {
            point.to_string()
        } else {
            resource.concrete_type.clone()
        };
        let mut evidence: Vec<Evidence> = instances
            .iter()
            .take(MAX_SAMPLE)
            .map(|c| Evidence::Resource {
                id: c.resource.id,
                kind: kind_name.clone(),
                location: ctx.model.location(c.resource.location_id).clone(),
                detail: format!(
                    "{}; {} waiting, the longest for {}",
                    state(c.resource),
                    c.waits.len(),
                    format_secs(Ctx::secs(c.longest))
                ),
            })
            .collect();
        let chain = holder_chain(ctx, worst.waits[0].task_id, resource);
        if !chain.is_empty() {
            evidence
                .push(Evidence::WaitChain { links: chain.iter().map(|e| link(ctx, e)).collect() });
        }
        let on = match instances.len() {
            1 => format!("on the {kind_name} {origin}"),
            n => format!("on {n} {kind_name} instances {origin}"),
        };
        let holder = if instances.len() == 1 {
            holder_sentence(ctx, resource)
        } else {
            format!("on the one waited on longest, {}", holder_sentence(ctx, resource))
        };
        findings.push(Finding {
            kind: FindingKind::LockContention,
            severity: Severity::Warn,
            location: location.clone(),
            task_name: name.map(str::to_owned),
            count: waits.len() as u64,
            oldest_secs: Ctx::secs(worst.longest),
            waiting_on: Some(point.clone()),
            user_frame: None,
            task_ids: waits.iter().take(MAX_SAMPLE).map(|w| w.task_id).collect(),
            evidence,
            explanation: format!(
                "{} {} in {point} {on}, the longest for {}; {holder}.",
                tasks(waits.len()),
                if waits.len() == 1 { "waits" } else { "wait" },
                format_secs(Ctx::secs(worst.longest)),
            ),
            fix: "Don't hold the guard across a slow `.await`: copy what you need out and drop it first, or restructure so the critical section has no awaits (then a `std::sync::Mutex` is cheaper). Keep critical sections short; bound waits with `tokio::time::timeout`.".to_owned(),
            doc: FindingKind::LockContention.doc(),
        });
    }
    findings
}

/// Where to look for a lock: its creation site, unless that is inside a dependency (a `Mutex`
/// made by `Default::default()` is created in tokio's source): then the first waiter's spawn
/// site, which is the app's.
fn place(ctx: &Ctx<'_>, resource: &Resource, waiter: u64) -> SourceLocation {
    let created = ctx.model.location(resource.location_id);
    if resource.location_id != 0 && is_app_file(&created.file) {
        created.clone()
    } else {
        ctx.task_location(waiter)
    }
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
            // Parked 50 s in the lock at the same site: `stuck` too, merged into one entry.
            ["suspect stuck+lock-contention src/l2.rs:20:5 ×1 50s Mutex::lock [1]"]
        );
        let report = crate::analyze(&m, &Config::default());
        let finding = report.findings.iter().find(|f| f.has_kind(FindingKind::LockContention));
        // Merged under `stuck`: its explanation travels with the entry.
        let explanation = finding
            .and_then(|f| {
                f.evidence.iter().find_map(|e| match e {
                    crate::Evidence::AlsoFound {
                        kind: FindingKind::LockContention,
                        explanation,
                        ..
                    } => Some(explanation.as_str()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        assert!(
            explanation
                .contains("on the Mutex created inside a dependency (at /home/u/.cargo/registry/"),
            "{explanation}"
        );
    }

    #[test]
    fn locks_made_at_one_line_are_one_finding() {
        // Fifty mutexes created at one line (one per connection), each with a waiter for 3 s.
        let tasks: Vec<Task> = (1..=50).map(|id| T::new(id).loc(2).idle(97.0).build()).collect();
        let resources: Vec<Resource> = (1..=50).map(|id| mutex(100 + id, 0)).collect();
        let waits: Vec<Wait> = (1..=50)
            .map(|id| wait(id, 100 + id, "Mutex::lock", 97.0 - id as f64 / 100.0))
            .collect();
        let (found, explanation) = run(tasks, resources, waits);
        assert_eq!(
            found,
            [
                "warn lock-contention src/l9.rs:90:5 ×50 3.5s Mutex::lock [50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35]"
            ]
        );
        assert!(
            explanation.starts_with("50 tasks wait in Mutex::lock on 50 Mutex instances created at src/l9.rs:90:5, the longest for 3.5s; on the one waited on longest, "),
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
