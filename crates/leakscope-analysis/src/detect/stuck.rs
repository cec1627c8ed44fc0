//! `stuck`: a task parked in one await for longer than the threshold, named by what it waits on
//! ("in mpsc::Sender::send for 4m12s").
//!
//! Severity follows the wait point and the task's spawn site ([`crate::site`]): where a peer owes
//! the task progress (a full channel's receiver, a lock holder, a oneshot sender) it is a
//! suspect. Where healthy servers idle (receiving, accepting, reading a quiet socket, waiting
//! for a notification, or an await nothing identifies), it is a suspect when the site leaves
//! tasks behind (it keeps accumulating them, or many spawners that ended each left one), and
//! nothing at all otherwise: idle connections, subscribers, worker pools and housekeeping tasks
//! are a population made once that waits for work, however long.
//!
//! Timers are the near miss: a task sleeping in a pending timer is *not* stuck, however long it
//! has idled, because the timer will fire; periodic jobs and back-offs idle exactly like that,
//! and tasks piling up behind long timeouts are `growth`'s to find. Two exceptions, both
//! warnings: a timer set for at least `long-timer` (default 1 h; usually a unit mistake or a
//! "park forever" idiom), and a timer overdue by more than the threshold (it should have fired:
//! a blocked worker stalls the timer wheel, or the task waits on something else as well). A
//! sleeping task whose timer duration is unknown is left alone.
//!
//! Also left alone: tasks never polled, blocking and `block_on` tasks (the latter is `main`,
//! which waits for the app by design), tasks that lost their waker (`lost-waker` is more
//! precise) and tasks in a deadlock (`deadlock` explains them).

use leakscope_proto::v1::{TaskKind, TaskState};

use crate::config::Config;
use crate::context::{Ctx, Live, Tally, nanos, tasks};
use crate::detect::lost_waker;
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::{TaskHit, group_hits};
use crate::model::Model;
use crate::wait_point::WaitPoint;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    (!model.sources().tasks)
        .then(|| "needs per-task records, which this source does not provide".to_owned())
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let threshold = nanos(ctx.config.stuck.threshold);
    let long_timer = nanos(ctx.config.stuck.long_timer);
    let grace = nanos(ctx.config.lost_waker.grace);
    let mut hits = Vec::new();
    // Tasks that will be suspects once parked for the threshold: (count, longest parked).
    let mut coming: std::collections::BTreeMap<&crate::location::SourceLocation, (u64, u64)> =
        std::collections::BTreeMap::new();
    for live in &ctx.live {
        if live.state != TaskState::Idle
            || live.task.polls == 0
            || matches!(live.kind, TaskKind::Blocking | TaskKind::BlockOn)
            || ctx.deadlocked_tasks.contains(&live.task.id)
            || lost_waker::is_lost(live, ctx.now, grace)
        {
            continue;
        }
        let idle = live.idle_nanos(ctx.now);
        let wait = live.wait;
        // A timer overdue or set for long is a warning; a wait a peer owes progress on, a
        // suspect.
        let (severity, parked) = if wait.point == WaitPoint::Sleep {
            let Some(timer) = wait.timer_nanos() else { continue };
            let overdue = idle.saturating_sub(timer);
            if overdue < threshold && (timer < long_timer || idle < threshold) {
                continue;
            }
            (Severity::Warn, idle)
        } else {
            let parked = parked_nanos(ctx, live);
            // Waiting for work at a site that does not accumulate: a server's idle population.
            if !wait.point.owes_progress() && !ctx.leaves_tasks_behind(live.task.location_id) {
                continue;
            }
            if parked < threshold {
                // A wait a quarter of the way there, or any at an accumulating site, is on its
                // way; a send or a lock wait of a few milliseconds is a busy service.
                let accumulating = ctx.leaves_tasks_behind(live.task.location_id);
                if !accumulating && parked < threshold / 4 {
                    continue;
                }
                let entry = coming.entry(live.location).or_default();
                entry.0 += 1;
                entry.1 = entry.1.max(parked);
                continue;
            }
            (Severity::Suspect, parked)
        };
        hits.push(TaskHit { live, severity, secs: Ctx::secs(parked) });
    }
    for (location, (count, parked)) in coming {
        tally.pending.push(crate::report::Pending {
            kind: FindingKind::Stuck,
            location: Some(location.clone()),
            tasks: count,
            secs_left: Ctx::secs(threshold.saturating_sub(parked)),
            reason: format!(
                "{} spawned at {location} parked for up to {} where a leak parks; judged at {}",
                tasks(count as usize),
                format_secs(Ctx::secs(parked)),
                format_secs(Ctx::secs(threshold))
            ),
        });
    }
    let evidence = |hit: &TaskHit<'_>| vec![Evidence::note(note(ctx, threshold, hit.live))];
    group_hits(ctx, tally, FindingKind::Stuck, hits, true, evidence, |group, evidence| {
        let point = group.waiting_on.cloned().unwrap_or(WaitPoint::Unknown(String::new()));
        let oldest = format_secs(group.oldest().secs);
        let at = group
            .hits
            .iter()
            .find_map(|h| h.live.wait.user_frame.as_deref())
            .map(|frame| format!(", awaiting at {}", frame.location))
            .unwrap_or_default();
        let verb = if group.count() == 1 { "has" } else { "have" };
        let explanation = match &point {
            WaitPoint::Sleep => format!(
                "{} spawned at {} {verb} been asleep for up to {oldest}{at}: {}.",
                tasks(group.count()),
                group.location,
                evidence.first().map(ToString::to_string).unwrap_or_default()
            ),
            WaitPoint::Unknown(_) => format!(
                "{} spawned at {} {verb} been parked for up to {oldest}{at}, in an await nothing identifies (`leakscope profile tasks` draws the await chains the agent captured).",
                tasks(group.count()),
                group.location,
            ),
            point => format!(
                "{} spawned at {} {verb} been parked in {point} for up to {oldest}{at}.",
                tasks(group.count()),
                group.location,
            ),
        };
        (explanation, point.fix().to_owned())
    })
}

/// How long `live` has been parked: since its last poll, or since its wait began when that was
/// earlier (a spurious poll in between).
fn parked_nanos(ctx: &Ctx<'_>, live: &Live<'_>) -> u64 {
    let since = live.wait.since_nanos().map_or(0, |since| ctx.now.saturating_sub(since));
    live.idle_nanos(ctx.now).max(since)
}

/// The evidence line of a flagged task: its overdue or long timer, or where it is parked and for
/// how long.
fn note(ctx: &Ctx<'_>, threshold: u64, live: &Live<'_>) -> String {
    let id = live.task.id;
    let idle = live.idle_nanos(ctx.now);
    match (&live.wait.point, live.wait.timer_nanos()) {
        (WaitPoint::Sleep, Some(timer)) if idle.saturating_sub(timer) >= threshold => format!(
            "task {id}: its {} timer is {} overdue",
            format_secs(Ctx::secs(timer)),
            format_secs(Ctx::secs(idle - timer))
        ),
        (WaitPoint::Sleep, Some(timer)) => {
            format!("task {id}: sleeping in a {} timer", format_secs(Ctx::secs(timer)))
        }
        (point, _) => format!(
            "task {id}: parked in {point} for {}",
            format_secs(Ctx::secs(parked_nanos(ctx, live)))
        ),
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{
        DumpStatus, Resource, ResourceKind, Task, TaskDumpResponse, TaskKind, TaskTrace, Wait,
    };

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::support::{T, backtrace, findings_of, model, nanos, resource, snapshot, wait};

    /// Tasks, resources and waits observed at t = 100 s.
    fn check(tasks: Vec<Task>, resources: Vec<Resource>, waits: Vec<Wait>, expected: &[&str]) {
        let mut snap = snapshot(100.0, tasks);
        snap.resources = resources;
        snap.waits = waits;
        let got = findings_of(FindingKind::Stuck, &model(snap), &Config::default());
        assert_eq!(got, expected);
    }

    fn timer(id: u64, secs: f64) -> Resource {
        Resource { timer_duration_nanos: nanos(secs), ..resource(id, ResourceKind::Timer) }
    }

    #[test]
    fn parked_long_on_a_resource() {
        let mut sem = resource(5, ResourceKind::Semaphore);
        sem.internal = true;
        check(
            vec![T::new(1).idle(20.0).build(), T::new(2).idle(50.0).build()],
            vec![sem],
            vec![wait(1, 5, "Acquire::new", 20.0), wait(2, 5, "Acquire::new", 50.0)],
            &["suspect stuck src/l1.rs:10:5 ×2 1m20s mpsc::Sender::send [1, 2]"],
        );
        // Where servers idle (here: an await nothing identifies), a task of a site that does
        // not accumulate is a server's idle population: nothing (it used to be a warning, which
        // blamed every healthy idle connection and subscriber).
        check(vec![T::new(1).loc(2).idle(40.0).build()], vec![], vec![], &[]);
        // A wait that began before the last (spurious) poll counts from its start.
        check(
            vec![T::new(1).idle(90.0).build()],
            vec![resource(5, ResourceKind::Mutex)],
            vec![wait(1, 5, "Mutex::lock", 10.0)],
            // The lock wait is also `lock-contention` (one waiter for over 1 s): one entry.
            &["suspect stuck+lock-contention src/l1.rs:10:5 ×1 1m30s Mutex::lock [1]"],
        );
    }

    #[test]
    fn dumps_name_the_wait_and_the_line() {
        let mut m = model(snapshot(100.0, vec![T::new(1).idle(10.0).build()]));
        m.apply_dump(TaskDumpResponse {
            status: DumpStatus::Ok as i32,
            taken_at_nanos: nanos(99.0),
            traces: vec![TaskTrace {
                task_id: 1,
                backtraces: vec![backtrace(&[
                    "app::relay::{{closure}}@src/relay.rs:31:14",
                    "tokio::sync::mpsc::bounded::Sender<T>::send::{{closure}}@x:1",
                ])],
            }],
            ..TaskDumpResponse::default()
        });
        let report = crate::analyze(&m, &Config::default());
        let stuck = report.findings.iter().find(|f| f.kind == FindingKind::Stuck).unwrap();
        assert_eq!(
            stuck.explanation,
            "1 task spawned at src/l1.rs:10:5 has been parked in mpsc::Sender::send for up to 1m30s, awaiting at src/relay.rs:31:14."
        );
        assert_eq!(
            stuck.user_frame.as_ref().unwrap().to_string(),
            "app::relay at src/relay.rs:31:14"
        );
    }

    #[test]
    fn timers() {
        // Near miss: a pending 5-minute timer, idle for 90 s. It will fire.
        check(
            vec![T::new(1).idle(10.0).build()],
            vec![timer(5, 300.0)],
            vec![wait(1, 5, "Sleep::new_timeout", 10.0)],
            &[],
        );
        // Near miss: a sleep of unknown duration.
        check(
            vec![T::new(1).idle(10.0).build()],
            vec![resource(5, ResourceKind::Timer)],
            vec![wait(1, 5, "Sleep::new_timeout", 10.0)],
            &[],
        );
        // A 2-hour timer is reported, as a warning.
        check(
            vec![T::new(1).idle(10.0).build()],
            vec![timer(5, 7_200.0)],
            vec![wait(1, 5, "Sleep::new_timeout", 10.0)],
            &["warn stuck src/l1.rs:10:5 ×1 1m30s sleep [1]"],
        );
        // A 10-second timer idle for 90 s is 80 s overdue: the timer wheel is stalled.
        check(
            vec![T::new(1).idle(10.0).build()],
            vec![timer(5, 10.0)],
            vec![wait(1, 5, "Sleep::new_timeout", 10.0)],
            &["warn stuck src/l1.rs:10:5 ×1 1m30s sleep [1]"],
        );
        // Near miss: overdue, but by less than the threshold.
        check(
            vec![T::new(1).idle(40.0).build()],
            vec![timer(5, 45.0)],
            vec![wait(1, 5, "Sleep::new_timeout", 40.0)],
            &[],
        );
    }

    #[test]
    fn near_misses() {
        let mutex = || vec![resource(5, ResourceKind::Mutex)];
        let on_mutex = || vec![wait(1, 5, "Mutex::lock", 10.0)];
        // Parked for less than the threshold.
        check(vec![T::new(1).idle(80.0).build()], vec![], vec![], &[]);
        // Running or scheduled tasks are not parked.
        check(vec![T::new(1).running(10.0).build()], mutex(), on_mutex(), &[]);
        check(
            vec![T::new(1).idle(10.0).state(leakscope_proto::v1::TaskState::Scheduled).build()],
            vec![],
            vec![],
            &[],
        );
        // Never polled.
        check(vec![T::new(1).idle(10.0).polls(0).build()], vec![], vec![], &[]);
        // `main` and blocking tasks.
        check(vec![T::new(1).kind(TaskKind::BlockOn).idle(10.0).build()], vec![], vec![], &[]);
        check(vec![T::new(1).kind(TaskKind::Blocking).idle(10.0).build()], vec![], vec![], &[]);
        // Lost wakers are lost-waker's.
        check(vec![T::new(1).idle(10.0).wakers(0).build()], vec![], vec![], &[]);
    }
}
