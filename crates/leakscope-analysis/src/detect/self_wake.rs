//! `self-wake`: tasks that wake themselves in more than half of their wakes (tokio-console's
//! `SelfWakePercent` lint, same default). Such a task goes round the scheduler without waiting
//! for anything: a busy loop through `yield_now` or a `poll` that wakes its own waker. It burns a
//! worker and starves its neighbours. Tasks woken fewer than `min-wakes` times are left out (one
//! `yield_now` in a young task is 100% self-wakes and means nothing).

use crate::config::Config;
use crate::context::{Ctx, Tally, tasks};
use crate::duration::format_secs;
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::{TaskHit, group_hits};
use crate::model::Model;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    (!model.sources().tasks)
        .then(|| "needs per-task records, which this source does not provide".to_owned())
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let cfg = ctx.config.self_wake;
    let hits = ctx
        .live
        .iter()
        .filter(|live| {
            let t = live.task;
            t.wakes >= cfg.min_wakes
                && u128::from(t.self_wakes) * 100
                    > u128::from(cfg.min_percent) * u128::from(t.wakes)
        })
        .map(|live| TaskHit {
            live,
            severity: Severity::Warn,
            secs: Ctx::secs(live.age_nanos(ctx.now)),
        })
        .collect();
    let evidence = |hit: &TaskHit<'_>| {
        let t = hit.live.task;
        vec![Evidence::note(format!(
            "task {}: {} of {} wakes were self-wakes ({}%)",
            t.id,
            t.self_wakes,
            t.wakes,
            t.self_wakes * 100 / t.wakes.max(1)
        ))]
    };
    group_hits(ctx, tally, FindingKind::SelfWake, hits, false, evidence, |group, _| {
        let worst = group
            .hits
            .iter()
            .map(|h| h.live.task.self_wakes * 100 / h.live.task.wakes.max(1))
            .max()
            .unwrap_or(0);
        let explanation = format!(
            "{} spawned at {} wake {} in more than {}% of wakes (up to {worst}%; oldest {} old): {} spin through the scheduler instead of waiting.",
            tasks(group.count()),
            group.location,
            if group.count() == 1 { "itself" } else { "themselves" },
            cfg.min_percent,
            format_secs(group.oldest().secs),
            if group.count() == 1 { "it" } else { "they" },
        );
        let fix = "Wait on a real event (a channel, `Notify`, a timer) instead of looping through `yield_now` or calling `cx.waker().wake_by_ref()` in `poll`.".to_owned();
        (explanation, fix)
    })
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::Task;

    use crate::config::Config;
    use crate::finding::FindingKind;
    use crate::support::{T, findings_of, model, snapshot};

    fn check(tasks: Vec<Task>, expected: &[&str]) {
        assert_eq!(
            findings_of(FindingKind::SelfWake, &model(snapshot(100.0, tasks)), &Config::default()),
            expected
        );
    }

    #[test]
    fn mostly_self_woken() {
        check(
            vec![T::new(1).wakes(100, 80).build(), T::new(2).created(40.0).wakes(10, 6).build()],
            &["warn self-wake src/l1.rs:10:5 ×2 1m40s - [1, 2]"],
        );
    }

    #[test]
    fn near_misses() {
        // Exactly half is not more than half (tokio-console's comparison).
        check(vec![T::new(1).wakes(100, 50).build()], &[]);
        // Too few wakes to mean anything.
        check(vec![T::new(1).wakes(3, 3).build()], &[]);
        check(vec![T::new(1).wakes(0, 0).build()], &[]);
        // Finished.
        check(vec![T::new(1).wakes(100, 90).dropped(50.0).build()], &[]);
    }
}
