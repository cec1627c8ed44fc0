//! Turning per-task hits into findings: one finding per spawn location and wait point, with the
//! oldest task's evidence and a bounded sample of ids.

use std::collections::BTreeMap;

use crate::context::{Ctx, Live, Tally};
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::location::SourceLocation;
use crate::wait_point::WaitPoint;

/// Task ids a finding or group lists at most; the count says how many there are.
pub const MAX_SAMPLE: usize = 16;

/// One task a per-task detector flagged.
pub(crate) struct TaskHit<'a> {
    pub(crate) live: &'a Live<'a>,
    pub(crate) severity: Severity,
    /// The value behind `oldest_secs` for this task.
    pub(crate) secs: f64,
}

/// Hits that become one finding, the oldest first.
pub(crate) struct HitGroup<'h, 'a> {
    pub(crate) location: &'a SourceLocation,
    pub(crate) waiting_on: Option<&'a WaitPoint>,
    pub(crate) hits: Vec<&'h TaskHit<'a>>,
}

impl<'a> HitGroup<'_, 'a> {
    pub(crate) fn count(&self) -> usize {
        self.hits.len()
    }

    pub(crate) fn oldest(&self) -> &TaskHit<'a> {
        self.hits[0]
    }
}

/// Groups hits by (location, wait point if `by_wait`, severity) after dropping suppressed ones;
/// `evidence` gives the evidence of a group's oldest hit (only its: at a million flagged tasks,
/// a note made for every hit was a quarter of the client's memory), and `describe` the group's
/// explanation and fix, given that evidence.
pub(crate) fn group_hits<'a>(
    ctx: &Ctx<'a>,
    tally: &mut Tally,
    kind: FindingKind,
    hits: Vec<TaskHit<'a>>,
    by_wait: bool,
    evidence: impl Fn(&TaskHit<'a>) -> Vec<Evidence>,
    describe: impl Fn(&HitGroup<'_, 'a>, &[Evidence]) -> (String, String),
) -> Vec<Finding> {
    type Key<'k> = (&'k SourceLocation, Option<&'k WaitPoint>, Severity);
    let mut groups: BTreeMap<Key<'a>, Vec<&TaskHit<'a>>> = BTreeMap::new();
    let mut suppressed: BTreeMap<Key<'a>, ()> = BTreeMap::new();
    for hit in &hits {
        let waiting_on = by_wait.then_some(&hit.live.wait.point);
        let key = (hit.live.location, waiting_on, hit.severity);
        if ctx.config.is_suppressed(kind, hit.live.location, hit.live.name()) {
            suppressed.insert(key, ());
        } else {
            groups.entry(key).or_default().push(hit);
        }
    }
    tally.suppressed += suppressed.keys().filter(|key| !groups.contains_key(key)).count();
    groups
        .into_iter()
        .map(|((location, waiting_on, severity), mut hits)| {
            hits.sort_by(|a, b| {
                b.secs.total_cmp(&a.secs).then(a.live.task.id.cmp(&b.live.task.id))
            });
            for hit in &hits {
                tally.mark_task(hit.live.task.id, kind);
            }
            let group = HitGroup { location, waiting_on, hits };
            let oldest = group.oldest();
            let evidence = evidence(oldest);
            let (explanation, fix) = describe(&group, &evidence);
            Finding {
                kind,
                severity,
                location: location.clone(),
                task_name: oldest.live.name().map(str::to_owned),
                count: group.count() as u64,
                oldest_secs: oldest.secs,
                waiting_on: waiting_on.cloned(),
                user_frame: group
                    .hits
                    .iter()
                    .find_map(|h| h.live.wait.user_frame.as_deref().cloned()),
                task_ids: group.hits.iter().take(MAX_SAMPLE).map(|h| h.live.task.id).collect(),
                evidence,
                explanation,
                fix,
                doc: kind.doc(),
            }
        })
        .collect()
}
