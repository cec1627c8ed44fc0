//! `large-future`: spawned futures of at least `min-bytes` (default 1024, tokio-console's
//! `LargeFuture` lint). A spawn copies the future and every live task keeps it for its whole
//! life, so large futures cost memory per task and time per spawn; they are a multiplier when
//! tasks leak.

use crate::config::Config;
use crate::context::{Ctx, Tally, tasks};
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::hits::{TaskHit, group_hits};
use crate::model::Model;

pub(crate) fn unevaluable(model: &Model, _: &Config) -> Option<String> {
    let sources = model.sources();
    (!(sources.tasks && sources.future_sizes)).then(|| {
        "needs the size of each spawned future, which this source does not provide".to_owned()
    })
}

pub(crate) fn detect(ctx: &Ctx<'_>, tally: &mut Tally) -> Vec<Finding> {
    let min = ctx.config.large_future.min_bytes;
    let hits = ctx
        .live
        .iter()
        .filter(|live| live.task.size_bytes >= min)
        .map(|live| TaskHit {
            live,
            severity: Severity::Warn,
            secs: Ctx::secs(live.age_nanos(ctx.now)),
        })
        .collect();
    let evidence = |hit: &TaskHit<'_>| {
        let task = hit.live.task;
        vec![Evidence::note(format!("task {}: future of {} bytes", task.id, task.size_bytes))]
    };
    group_hits(ctx, tally, FindingKind::LargeFuture, hits, false, evidence, |group, _| {
        let largest = group.hits.iter().map(|h| h.live.task.size_bytes).max().unwrap_or(0);
        let what = if group.count() == 1 {
            format!("is a future of {largest} bytes")
        } else {
            format!("are futures of up to {largest} bytes")
        };
        let explanation = format!(
            "{} spawned at {} {what} (at least {min}): each spawn copies that much and each live task holds it.",
            tasks(group.count()),
            group.location,
        );
        let fix = "Box the future before spawning (`tokio::spawn(Box::pin(fut))`), or move large locals and buffers (arrays, big structs held across `.await`) to the heap.".to_owned();
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
            findings_of(
                FindingKind::LargeFuture,
                &model(snapshot(100.0, tasks)),
                &Config::default()
            ),
            expected
        );
    }

    #[test]
    fn large_futures() {
        check(
            vec![T::new(1).size(1024).build(), T::new(2).size(16_384).build()],
            &["warn large-future src/l1.rs:10:5 ×2 1m40s - [1, 2]"],
        );
    }

    #[test]
    fn near_misses() {
        check(vec![T::new(1).size(1023).build()], &[]);
        check(vec![T::new(1).build()], &[]);
        check(vec![T::new(1).size(4096).dropped(50.0).build()], &[]);
    }
}
