//! `lost-waker`: an idle task that has been polled and holds no live waker. Nothing can ever
//! wake it, so it will never finish: a certain leak.
//!
//! Near misses that must not fire: a running or scheduled task (a wake by value consumes the
//! waker on its way to scheduling the task), a task never polled (just spawned: it has not had a
//! chance to register one), blocking and `block_on` tasks (they are not woken through task
//! wakers), a task woken since its last poll began (the snapshot caught it between the wake and
//! the scheduling), and a task idle for less than the grace period.

use leakscope_proto::v1::{TaskKind, TaskState};

use crate::config::Config;
use crate::context::{Ctx, Live, Tally, nanos, tasks};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::{TaskHit, group_hits};
use crate::model::Model;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    let sources = model.sources();
    (!(sources.tasks && sources.wakers))
        .then(|| "needs per-task waker counts, which this source does not provide".to_owned())
}

/// Whether `live` has lost its waker, idle at least `grace_nanos` at `now`.
pub(crate) fn is_lost(live: &Live<'_>, now: u64, grace_nanos: u64) -> bool {
    let task = live.task;
    live.state == TaskState::Idle
        && matches!(live.kind, TaskKind::Async | TaskKind::Local | TaskKind::Unspecified)
        && task.polls > 0
        && task.waker_count == 0
        && live.idle_nanos(now) >= grace_nanos
        && task.last_wake_nanos <= task.last_poll_start_nanos
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let grace = nanos(ctx.config.lost_waker.grace);
    let hits = ctx
        .live
        .iter()
        .filter(|live| is_lost(live, ctx.now, grace))
        .map(|live| TaskHit {
            live,
            severity: Severity::Leak,
            secs: Ctx::secs(live.idle_nanos(ctx.now)),
        })
        .collect();
    let evidence = |hit: &TaskHit<'_>| {
        let live = hit.live;
        vec![Evidence::note(format!(
            "task {}: polled {} {}, 0 live wakers, idle {}",
            live.task.id,
            crate::format_count(live.task.polls),
            if live.task.polls == 1 { "time" } else { "times" },
            format_secs(Ctx::secs(live.idle_nanos(ctx.now)))
        ))]
    };
    group_hits(ctx, tally, FindingKind::LostWaker, hits, true, evidence, |group, _| {
        let parked = group
            .waiting_on
            .filter(|point| point.known_name().is_some())
            .map(|point| format!(" (last parked in {point})"))
            .unwrap_or_default();
        let explanation = format!(
            "{} spawned at {} {} idle with no live waker{parked}: nothing can wake {} again, so {} will never finish (oldest idle {}).",
            tasks(group.count()),
            group.location,
            if group.count() == 1 { "is" } else { "are" },
            if group.count() == 1 { "it" } else { "them" },
            if group.count() == 1 { "it" } else { "they" },
            format_secs(group.oldest().secs),
        );
        let fix = "A future returned `Poll::Pending` without keeping `cx.waker()`: usually a hand-written `Future` or `poll_fn` that forgot to register the waker, or one that dropped it on some path. Store (clone) the waker before returning `Pending`, or build on a tokio primitive that does.".to_owned();
        (explanation, fix)
    })
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{Task, TaskKind, TaskState};

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::support::{T, findings_of, model, snapshot};

    /// Tasks observed at t = 60 s.
    fn check(tasks: Vec<Task>, expected: &[&str]) {
        let got =
            findings_of(FindingKind::LostWaker, &model(snapshot(60.0, tasks)), &Config::default());
        assert_eq!(got, expected);
    }

    #[test]
    fn idle_polled_and_no_waker_is_a_leak() {
        check(
            vec![T::new(1).idle(10.0).wakers(0).build(), T::new(2).idle(20.0).wakers(0).build()],
            &["leak lost-waker src/l1.rs:10:5 ×2 50s unknown [1, 2]"],
        );
        // Local tasks lose wakers the same way; separate locations make separate findings.
        check(
            vec![T::new(3).loc(2).kind(TaskKind::Local).idle(59.0).wakers(0).build()],
            &["leak lost-waker src/l2.rs:20:5 ×1 1s unknown [3]"],
        );
    }

    #[test]
    fn near_misses() {
        // Healthy: a live waker.
        check(vec![T::new(1).idle(10.0).build()], &[]);
        // Running or scheduled: the waker was consumed by the wake that scheduled it.
        check(vec![T::new(1).running(10.0).wakers(0).build()], &[]);
        check(vec![T::new(1).idle(10.0).state(TaskState::Scheduled).wakers(0).build()], &[]);
        // Just spawned: never polled.
        check(vec![T::new(1).idle(10.0).polls(0).wakers(0).build()], &[]);
        // Idle for less than the grace period.
        check(vec![T::new(1).idle(59.5).wakers(0).build()], &[]);
        // Woken after its last poll began: caught between the wake and the scheduling.
        check(vec![T::new(1).idle(10.0).woken(10.5).wakers(0).build()], &[]);
        // Blocking and block_on tasks are not woken through task wakers.
        check(vec![T::new(1).kind(TaskKind::Blocking).idle(10.0).wakers(0).build()], &[]);
        check(vec![T::new(1).kind(TaskKind::BlockOn).idle(10.0).wakers(0).build()], &[]);
        // Finished tasks are not leaks.
        check(vec![T::new(1).idle(10.0).wakers(0).dropped(30.0).build()], &[]);
        check(vec![T::new(1).idle(10.0).wakers(0).state(TaskState::Done).build()], &[]);
        // An inconsistent negative count is not zero.
        check(vec![T::new(1).idle(10.0).wakers(-1).build()], &[]);
    }

    #[test]
    fn the_evidence_counts_polls_in_words() {
        let notes = |polls: u64| {
            let m =
                model(snapshot(60.0, vec![T::new(1).idle(10.0).polls(polls).wakers(0).build()]));
            let report = crate::analyze(&m, &Config::default());
            report.findings[0].evidence.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("|")
        };
        assert!(notes(1).contains("task 1: polled 1 time, 0 live wakers"), "{}", notes(1));
        assert!(notes(1_629).contains("polled 1,629 times"), "{}", notes(1_629));
    }

    #[test]
    fn says_nothing_when_the_source_has_no_waker_counts() {
        let mut m = model(snapshot(60.0, vec![T::new(1).idle(10.0).wakers(0).build()]));
        m.set_sources(crate::Sources { wakers: false, ..crate::Sources::all() });
        let report = crate::analyze(&m, &Config::default());
        assert!(report.findings.is_empty());
        assert_eq!(report.unevaluated[0].kind, FindingKind::LostWaker);
    }
}
