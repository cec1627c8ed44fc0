//! The Groups, Findings and Resources lists: which rows pass the filter and in what order, with
//! the selection kept on the same row when the data or the order changes.

use std::collections::HashMap;

use leakscope_analysis::{Chunked, Finding, Group, Report, Severity};
use leakscope_proto::v1::{Resource, ResourceKind, Wait};

use crate::state::columns::{Column, FindingColumn, GroupColumn, ResourceColumn, Sort};
use crate::state::data::Data;
use crate::state::list::ListState;

/// One list screen's view: filter, sort, the resulting order and the selection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ListView<C> {
    /// Selection and scroll.
    pub(crate) list: ListState,
    /// Case-insensitive text every shown row contains.
    pub(crate) filter: String,
    /// Sort column and direction.
    pub(crate) sort: Sort<C>,
    /// Indices into the source list (report groups, findings, resources), in display order.
    pub(crate) order: Vec<usize>,
}

impl<C: Column> ListView<C> {
    /// An empty view sorted on `column`.
    pub(crate) fn new(column: C) -> Self {
        Self {
            list: ListState::default(),
            filter: String::new(),
            sort: Sort::by(column),
            order: Vec::new(),
        }
    }

    /// The source index of the selected row.
    pub(crate) fn selected(&self) -> Option<usize> {
        self.order.get(self.list.selected).copied()
    }

    /// Replaces the order, keeping the selection on the row whose key was selected.
    pub(crate) fn reorder<K: PartialEq>(
        &mut self,
        order: Vec<usize>,
        key: impl Fn(usize) -> Option<K>,
        old: Option<K>,
    ) {
        self.order = order;
        if let Some(old) = old
            && let Some(pos) = self.order.iter().position(|&i| key(i).as_ref() == Some(&old))
        {
            self.list.selected = pos;
        }
        self.list.follow(self.order.len());
    }
}

fn matches(filter: &str, texts: &[&str]) -> bool {
    if filter.is_empty() {
        return true;
    }
    let filter = filter.to_lowercase();
    texts.iter().any(|t| t.to_lowercase().contains(&filter))
}

/// The most severe finding that flags `group`: same kind as one of its flags, and at its spawn
/// location or covering one of its tasks.
pub(crate) fn group_severity(report: &Report, group: &Group) -> Option<Severity> {
    report
        .findings
        .iter()
        .filter(|f| f.kinds().iter().any(|k| group.flags.contains(k)))
        .filter(|f| {
            f.location == group.location || f.task_ids.iter().any(|id| group.task_ids.contains(id))
        })
        .map(|f| f.severity)
        .max()
        .or_else(|| (!group.flags.is_empty()).then_some(Severity::Warn))
}

fn group_key(group: &Group) -> (String, String) {
    (group.location.to_string(), group.waiting_on.to_string())
}

/// Rebuilds the Groups order from the latest report.
pub(crate) fn build_groups(view: &mut ListView<GroupColumn>, data: &Data) {
    let Some(report) = &data.report else {
        view.order.clear();
        view.list.follow(0);
        return;
    };
    let groups = &report.groups;
    let old = view.selected().and_then(|i| groups.get(i)).map(group_key);
    let severity: Vec<Option<Severity>> =
        groups.iter().map(|g| group_severity(report, g)).collect();
    let mut order: Vec<usize> = (0..groups.len())
        .filter(|&i| {
            let g = &groups[i];
            let flags: Vec<&str> = g.flags.iter().map(|k| k.as_str()).collect();
            let location = g.location.to_string();
            let point = g.waiting_on.to_string();
            let name = g.task_name.as_deref().unwrap_or("");
            matches(&view.filter, &[&location, &point, name, &flags.join(" ")])
        })
        .collect();
    let sort = view.sort;
    order.sort_by(|&a, &b| {
        let (ga, gb) = (&groups[a], &groups[b]);
        let ascending = match sort.column {
            GroupColumn::Severity => severity[a].cmp(&severity[b]).then(ga.count.cmp(&gb.count)),
            GroupColumn::Count => ga.count.cmp(&gb.count),
            GroupColumn::Idle => ga.oldest_idle_secs.total_cmp(&gb.oldest_idle_secs),
            GroupColumn::Trend => {
                ga.trend_per_sec.unwrap_or(0.0).total_cmp(&gb.trend_per_sec.unwrap_or(0.0))
            }
            GroupColumn::Location => ga.location.cmp(&gb.location),
            GroupColumn::Wait => ga.waiting_on.cmp(&gb.waiting_on),
        };
        sort.direct(ascending).then(gb.count.cmp(&ga.count)).then(a.cmp(&b))
    });
    view.reorder(order, |i| groups.get(i).map(group_key), old);
}

fn finding_key(finding: &Finding) -> (String, String, Option<String>) {
    (
        finding.kinds_label(),
        finding.location.to_string(),
        finding.waiting_on.as_ref().map(ToString::to_string),
    )
}

/// Rebuilds the Findings order from the latest report.
pub(crate) fn build_findings(view: &mut ListView<FindingColumn>, data: &Data) {
    let Some(report) = &data.report else {
        view.order.clear();
        view.list.follow(0);
        return;
    };
    let findings = &report.findings;
    let old = view.selected().and_then(|i| findings.get(i)).map(finding_key);
    let mut order: Vec<usize> = (0..findings.len())
        .filter(|&i| {
            let f = &findings[i];
            let location = f.location.to_string();
            let point = f.waiting_on.as_ref().map(ToString::to_string).unwrap_or_default();
            let kinds = f.kinds_label();
            let texts = [
                kinds.as_str(),
                f.severity.as_str(),
                &location,
                &point,
                &f.explanation,
                f.task_name.as_deref().unwrap_or(""),
            ];
            matches(&view.filter, &texts)
        })
        .collect();
    let sort = view.sort;
    order.sort_by(|&a, &b| {
        let (fa, fb) = (&findings[a], &findings[b]);
        let ascending = match sort.column {
            // The analysis already orders by severity, count, age: keep its order.
            FindingColumn::Severity => b.cmp(&a),
            FindingColumn::Kind => fa.kind.cmp(&fb.kind),
            FindingColumn::Count => fa.count.cmp(&fb.count),
            FindingColumn::Oldest => fa.oldest_secs.total_cmp(&fb.oldest_secs),
            FindingColumn::Location => fa.location.cmp(&fb.location),
        };
        sort.direct(ascending).then(a.cmp(&b))
    });
    view.reorder(order, |i| findings.get(i).map(finding_key), old);
}

/// What a resource is, as the Resources screen names it. tokio's bounded mpsc channel is a
/// semaphore inside; a wait on it with `Acquire::new` is a `send` waiting for room.
pub(crate) fn resource_label(resource: &Resource, waits: &Chunked<Wait>) -> String {
    let acquired =
        waits.iter().any(|w| w.resource_id == resource.id && w.op.starts_with("Acquire"));
    label(resource, acquired).to_owned()
}

/// [`resource_label`], told whether some wait on the resource is an `Acquire` (a bounded mpsc
/// channel's sends wait on its internal semaphore that way).
pub(crate) fn label(resource: &Resource, acquired: bool) -> &str {
    let kind = ResourceKind::try_from(resource.kind).unwrap_or(ResourceKind::Unspecified);
    let channel = resource.internal && acquired;
    match kind {
        ResourceKind::Semaphore if channel => "mpsc channel",
        ResourceKind::Semaphore if resource.internal => "semaphore (internal)",
        ResourceKind::Mutex => "Mutex",
        ResourceKind::RwLock => "RwLock",
        ResourceKind::Semaphore => "Semaphore",
        ResourceKind::Barrier => "Barrier",
        ResourceKind::Oneshot => "oneshot channel",
        ResourceKind::Timer => "timer",
        ResourceKind::Other | ResourceKind::Unspecified if resource.concrete_type.is_empty() => {
            "other"
        }
        ResourceKind::Other | ResourceKind::Unspecified => &resource.concrete_type,
    }
}

/// What the waits say of one resource, gathered in [`build_resources`]'s one pass over them: the
/// screen reads it by place, where a pass over every wait for each row on screen was a tenth of
/// a second a frame at a million.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ResourceStats {
    /// How many tasks wait on it.
    pub(crate) waiters: u32,
    /// Whether some wait is an `Acquire` (see [`label`]).
    pub(crate) acquired: bool,
    /// The earliest wait's `since` (agent clock); `u64::MAX` for none.
    earliest: u64,
}

impl ResourceStats {
    /// The earliest wait's `since` (agent clock).
    pub(crate) fn earliest(&self) -> Option<u64> {
        (self.waiters > 0).then_some(self.earliest)
    }
}

/// The Resources list of one publication: how many resources there are of each kind, most
/// numerous first (the screen's title: timers are resources too, and usually most of them), each
/// resource's [`ResourceStats`] by place, and the order shown (places in `data.resources`).
#[derive(Clone, Debug, Default)]
pub(crate) struct ResourceList {
    pub(crate) kinds: Vec<(String, u64)>,
    pub(crate) stats: Vec<ResourceStats>,
    pub(crate) order: Vec<usize>,
}

/// The Resources list of `data` under `filter` and `sort`: one pass over the waits, a label per
/// resource, a sort. Pure, so that a large one is built off the screen's thread.
pub(crate) fn resource_list(filter: &str, sort: Sort<ResourceColumn>, data: &Data) -> ResourceList {
    // Flat, for the lookups and the sort below: 8 bytes a resource, while the list builds.
    let resources: Vec<&Resource> = data.resources.iter().collect();
    // One pass over the waits, not one per resource: a leaking app has as many of each. The
    // resources are sorted by id, so each wait finds its resource's place by a binary search:
    // (waiters, earliest since, acquired) by place, where a map of a million cost five times as
    // much.
    let none = ResourceStats { earliest: u64::MAX, ..ResourceStats::default() };
    let mut stats = vec![none; resources.len()];
    for wait in data.waits.iter() {
        let Ok(i) = resources.binary_search_by_key(&wait.resource_id, |r| r.id) else { continue };
        let entry = &mut stats[i];
        entry.waiters += 1;
        entry.earliest = entry.earliest.min(wait.since_nanos);
        entry.acquired |= wait.op.starts_with("Acquire");
    }
    let labels: Vec<&str> =
        resources.iter().zip(&stats).map(|(r, s)| label(r, s.acquired)).collect();
    let mut kinds: HashMap<&str, u64> = HashMap::new();
    for &label in &labels {
        *kinds.entry(label).or_default() += 1;
    }
    let mut kinds: Vec<(String, u64)> =
        kinds.into_iter().map(|(label, n)| (label.to_owned(), n)).collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut order: Vec<usize> = (0..resources.len())
        .filter(|&i| {
            filter.is_empty() || {
                let location = data.strings.location(resources[i].location_id).to_string();
                matches(filter, &[labels[i], &location, &resources[i].concrete_type])
            }
        })
        .collect();
    let now = data.now_nanos;
    order.sort_by(|&a, &b| {
        let (ra, rb) = (&resources[a], &resources[b]);
        let oldest = |i: usize| stats[i].earliest().map_or(0, |since| now.saturating_sub(since));
        let ascending = match sort.column {
            ResourceColumn::Waiters => {
                stats[a].waiters.cmp(&stats[b].waiters).then(oldest(a).cmp(&oldest(b)))
            }
            ResourceColumn::Oldest => oldest(a).cmp(&oldest(b)),
            ResourceColumn::Kind => labels[a].cmp(labels[b]),
            ResourceColumn::Location => {
                data.strings.location(ra.location_id).cmp(&data.strings.location(rb.location_id))
            }
            ResourceColumn::Id => ra.id.cmp(&rb.id),
        };
        sort.direct(ascending).then(ra.id.cmp(&rb.id))
    });
    ResourceList { kinds, stats, order }
}
