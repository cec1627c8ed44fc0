//! The Tasks screen's view of the live tasks: which ones (all, one group's, one finding's, a
//! resource's waiters), filtered by `/` text, sorted on any column. Rebuilding touches every
//! row, so it happens when the view changes and at most once a second as data arrives; drawing
//! only looks rows up.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakscope_analysis::{SourceLocation, WaitPoint};

use crate::state::background::{BUILD_ELSEWHERE, Background, Polled};
use crate::state::columns::{Sort, TaskColumn};
use crate::state::data::{Data, TaskRow};
use crate::state::list::ListState;

/// How often a shown task list follows new data at most.
pub(crate) const REBUILD_EVERY: Duration = Duration::from_secs(1);

/// Which tasks a Tasks page lists.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scope {
    /// Every live task.
    All,
    /// The tasks of one group: spawned at `location`, parked in `waiting_on`.
    Group {
        /// Spawn location.
        location: SourceLocation,
        /// Wait point.
        waiting_on: WaitPoint,
    },
    /// The tasks a finding covers: its sample ids, plus the tasks at its location and wait point.
    Finding {
        /// What the finding is, for the title.
        label: String,
        /// Its location.
        location: SourceLocation,
        /// Its wait point, if it has one.
        waiting_on: Option<WaitPoint>,
        /// Its sample ids.
        ids: Vec<u64>,
    },
    /// Given tasks (a resource's waiters and holder).
    Ids {
        /// What they are, for the title.
        label: String,
        /// Their ids.
        ids: Vec<u64>,
    },
}

impl Scope {
    /// The page's title.
    pub(crate) fn title(&self) -> String {
        match self {
            Self::All => "all tasks".to_owned(),
            Self::Group { location, waiting_on } => format!("{location} · {waiting_on}"),
            Self::Finding { label, .. } | Self::Ids { label, .. } => label.clone(),
        }
    }
}

/// One Tasks page.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TasksPage {
    /// Which tasks.
    pub(crate) scope: Scope,
    /// Case-insensitive text a row's location, name, state, wait point or flags contain.
    pub(crate) filter: String,
    /// Sort column and direction.
    pub(crate) sort: Sort<TaskColumn>,
    /// Selection and scroll.
    pub(crate) list: ListState,
    /// The listed task ids, in order.
    pub(crate) ids: Vec<u64>,
    /// The observation the list was built from, whether it carried the rows, and when.
    built: Option<(u64, bool, Instant)>,
    /// A build of a large list on a thread of its own, with the observation, rows flag and
    /// time it is built for.
    pending: Background<Vec<u64>, (u64, bool, Instant)>,
}

impl TasksPage {
    /// A page of `scope`, idle tasks longest first.
    pub(crate) fn new(scope: Scope) -> Self {
        Self {
            scope,
            filter: String::new(),
            sort: Sort::by(TaskColumn::Idle),
            list: ListState::default(),
            ids: Vec::new(),
            built: None,
            pending: Background::default(),
        }
    }

    /// Whether a new order is being built off the screen's thread.
    pub(crate) fn building(&self) -> bool {
        self.pending.running()
    }

    /// Whether the list shown was built from rows (and no build is under way).
    pub(crate) fn listed(&self) -> bool {
        !self.building() && self.built.is_some_and(|(_, rows, _)| rows)
    }

    /// The selected task's id.
    pub(crate) fn selected(&self) -> Option<u64> {
        self.ids.get(self.list.selected).copied()
    }

    /// Forgets the list so the next refresh rebuilds it at once (after a filter or sort change).
    pub(crate) fn invalidate(&mut self) {
        self.built = None;
        self.pending.clear();
    }

    /// Rebuilds the list if it was invalidated, if the rows it was built without have come, or
    /// if newer data arrived and the last build is at least [`REBUILD_EVERY`] old.
    pub(crate) fn refresh(&mut self, data: &Arc<Data>, now: Instant) {
        match self.pending.poll() {
            Polled::Done(ids, built) => {
                self.built = Some(built);
                self.take(ids);
            }
            // Still building: the page keeps the list it has.
            Polled::Running => return,
            // Nothing under way, or the thread died (then it is built here, below).
            Polled::Idle | Polled::Lost => {}
        }
        let due = match self.built {
            None => true,
            Some((_, rows, _)) if rows != data.lists.tasks => true,
            Some((observation, _, at)) => {
                observation != data.observations
                    && now.saturating_duration_since(at) >= REBUILD_EVERY
            }
        };
        if !due {
            return;
        }
        if data.tasks.len() >= BUILD_ELSEWHERE {
            let (scope, filter, sort) = (self.scope.clone(), self.filter.clone(), self.sort);
            let source = Arc::clone(data);
            let built = (data.observations, data.lists.tasks, now);
            if self.pending.start(built, move || order(&scope, &filter, sort, &source)) {
                return;
            }
        }
        self.take(order(&self.scope, &self.filter, self.sort, data));
        self.built = Some((data.observations, data.lists.tasks, now));
    }

    /// Shows `ids` (a new order), keeping the selected task selected.
    fn take(&mut self, ids: Vec<u64>) {
        let old = self.selected();
        self.ids = ids;
        if let Some(old) = old
            && let Some(pos) = self.ids.iter().position(|&id| id == old)
        {
            self.list.selected = pos;
        }
        self.list.follow(self.ids.len());
    }
}

/// The ids of `data`'s rows that `scope` and `filter` keep, in `sort`'s order (by id among
/// equals).
fn order(scope: &Scope, filter: &str, sort: Sort<TaskColumn>, data: &Data) -> Vec<u64> {
    let keep = Keep::new(scope, data, filter);
    let mut rows: Vec<&TaskRow> = data.tasks.iter().filter(|row| keep.keeps(row, data)).collect();
    rows.sort_by(|a, b| sort.direct(compare(sort.column, a, b, data)).then(a.id.cmp(&b.id)));
    rows.iter().map(|r| r.id).collect()
}

fn compare(column: TaskColumn, a: &TaskRow, b: &TaskRow, data: &Data) -> std::cmp::Ordering {
    let strings = &data.strings;
    let now = data.now_nanos;
    match column {
        TaskColumn::Id => a.id.cmp(&b.id),
        TaskColumn::State => a.state.cmp(&b.state),
        // Against one clock: the longest idle went idle first (a row keeps when, not how long).
        TaskColumn::Idle => a.idle_secs(now).total_cmp(&b.idle_secs(now)),
        TaskColumn::Age => a.age_secs(now).total_cmp(&b.age_secs(now)),
        TaskColumn::Polls => a.polls.cmp(&b.polls),
        TaskColumn::Busy => a.busy_secs.total_cmp(&b.busy_secs),
        TaskColumn::Wakes => a.wakes.cmp(&b.wakes),
        TaskColumn::Wakers => a.wakers.cmp(&b.wakers),
        TaskColumn::Wait => strings.point(a.point).cmp(strings.point(b.point)),
        TaskColumn::Location => {
            if a.location_id == b.location_id {
                std::cmp::Ordering::Equal
            } else {
                strings.locations.get(&a.location_id).cmp(&strings.locations.get(&b.location_id))
            }
        }
        TaskColumn::Name => strings.name(a.name).cmp(&strings.name(b.name)),
        TaskColumn::Flags => {
            let flags = |row: &TaskRow| data.group_of(row).map_or(0, |g| g.flags.len());
            flags(a).cmp(&flags(b))
        }
    }
}

/// The scope and filter, prepared once per rebuild so each of 100k rows costs a few lookups.
struct Keep {
    /// Location ids and point ids a row must have (scopes by location and wait point).
    locations: Option<HashSet<u32>>,
    points: Option<HashSet<u16>>,
    ids: Option<HashSet<u64>>,
    /// Lowercase filter and, per location, point, name and group, whether it matches.
    filter: Option<Filter>,
}

struct Filter {
    locations: HashSet<u32>,
    points: HashSet<u16>,
    names: HashSet<u32>,
    groups: HashSet<u32>,
    states: Vec<crate::state::data::RowState>,
}

impl Keep {
    fn new(scope: &Scope, data: &Data, filter: &str) -> Self {
        let strings = &data.strings;
        let location_ids = |location: &SourceLocation| -> HashSet<u32> {
            strings.locations.iter().filter(|(_, l)| *l == location).map(|(id, _)| *id).collect()
        };
        let point_ids = |point: &WaitPoint| -> HashSet<u16> {
            (0..strings.points.len())
                .filter(|&i| strings.points[i] == *point)
                .map(|i| i as u16)
                .collect()
        };
        let (locations, points, ids) = match scope {
            Scope::All => (None, None, None),
            Scope::Group { location, waiting_on } => {
                (Some(location_ids(location)), Some(point_ids(waiting_on)), None)
            }
            Scope::Finding { location, waiting_on, ids, .. } => (
                Some(location_ids(location)),
                waiting_on.as_ref().map(point_ids),
                Some(ids.iter().copied().collect()),
            ),
            Scope::Ids { ids, .. } => (None, None, Some(ids.iter().copied().collect())),
        };
        let filter = (!filter.is_empty()).then(|| {
            let needle = filter.to_lowercase();
            let hit = |text: &str| text.to_lowercase().contains(&needle);
            let groups = data.report.as_ref().map_or_else(HashSet::new, |report| {
                (0..report.groups.len() as u32)
                    .filter(|&g| report.groups[g as usize].flags.iter().any(|k| hit(k.as_str())))
                    .collect()
            });
            Filter {
                locations: strings
                    .locations
                    .iter()
                    .filter(|(_, l)| hit(&l.to_string()))
                    .map(|(id, _)| *id)
                    .collect(),
                points: (0..strings.points.len())
                    .filter(|&i| hit(&strings.points[i].to_string()))
                    .map(|i| i as u16)
                    .collect(),
                names: (0..strings.names.len() as u32)
                    .filter(|&i| strings.name(i).is_some_and(hit))
                    .collect(),
                groups,
                states: [
                    crate::state::data::RowState::Running,
                    crate::state::data::RowState::Scheduled,
                    crate::state::data::RowState::Idle,
                    crate::state::data::RowState::Unknown,
                ]
                .into_iter()
                .filter(|s| hit(s.as_str()))
                .collect(),
            }
        });
        Self { locations, points, ids, filter }
    }

    fn keeps(&self, row: &TaskRow, data: &Data) -> bool {
        let in_place = self.locations.as_ref().is_none_or(|l| l.contains(&row.location_id))
            && self.points.as_ref().is_none_or(|p| p.contains(&row.point));
        let in_scope = match (&self.ids, &self.locations) {
            // A finding: its sample, or its location and wait point.
            (Some(ids), Some(_)) => ids.contains(&row.id) || in_place,
            (Some(ids), None) => ids.contains(&row.id),
            (None, _) => in_place,
        };
        in_scope
            && self.filter.as_ref().is_none_or(|f| {
                f.locations.contains(&row.location_id)
                    || f.points.contains(&row.point)
                    || f.names.contains(&row.name)
                    || f.groups.contains(&data.group_index(row))
                    || f.states.contains(&row.state)
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Scope, TasksPage};
    use crate::state::background::BUILD_ELSEWHERE;
    use crate::state::data::{Data, Lists, RowState, TaskRow};
    use crate::state::rows::Rows;

    /// A list too long to sort between two frames is sorted on a thread of its own; the page
    /// keeps what it had (here nothing) until the order comes, then shows it.
    #[test]
    fn a_large_list_is_sorted_off_the_screens_thread_and_shown_when_done() {
        const NOW: u64 = 10_000_000_000_000;
        let n = BUILD_ELSEWHERE as u64 + 10;
        let row = |id: u64| TaskRow {
            id,
            location_id: 1,
            name: 0,
            point: 0,
            state: RowState::Idle,
            created_nanos: 0,
            idle_since_nanos: NOW - (id % 1000) * 1_000_000_000,
            polls: 1,
            busy_secs: 0.0,
            wakes: 0,
            wakers: 1,
        };
        let data = Arc::new(Data {
            observations: 1,
            now_nanos: NOW,
            lists: Lists { tasks: true, resources: false },
            tasks: Arc::new(Rows::from((0..n).map(row).collect::<Vec<_>>())),
            ..Data::default()
        });
        let mut page = TasksPage::new(Scope::All);
        page.refresh(&data, Instant::now());
        assert!(page.building() && page.ids.is_empty() && !page.listed());
        let deadline = Instant::now() + Duration::from_secs(60);
        while page.building() {
            assert!(Instant::now() < deadline, "no order within a minute");
            std::thread::sleep(Duration::from_millis(2));
            page.refresh(&data, Instant::now());
        }
        assert!(page.listed());
        assert_eq!(page.ids.len() as u64, n);
        // The longest idle first, by id among equals.
        assert_eq!(page.ids[..3], [999, 1999, 2999]);
    }
}
