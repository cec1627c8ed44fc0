//! Reading the collector for the check: which live tasks are the test's ([`census`]), and for the
//! listing, where they were spawned and what they wait on ([`listing`], through
//! `leakscope-analysis`, which owns every wait-point rule and detector).

use super::leaks::LeakGroup;
use super::tracker::Tracker;
use leakscope_analysis::{
    Config, Glob, Model, Severity, SourceLocation, Sources, WaitPoint, analyze,
};
use leakscope_proto::v1::{Location, Snapshot, Task, TaskDumpResponse};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// Whose tasks count.
pub(crate) enum Scope<'a> {
    /// Those spawned on the test's own runtime, and their children anywhere.
    Runtime(&'a Tracker),
    /// Every task that appeared after `Baseline`.
    Process(&'a Baseline),
}

/// What was alive when a process-wide check began.
pub(crate) struct Baseline {
    ids: HashSet<u64>,
    /// Tasks alive on the caller's runtime, for counting without records.
    alive: usize,
}

impl Baseline {
    pub(crate) fn take(recording: bool) -> Self {
        let ids = if recording {
            crate::collect::live_snapshot().tasks.iter().map(|t| t.id).collect()
        } else {
            HashSet::new()
        };
        let alive = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        Self { ids, alive }
    }
}

/// Tasks an ignore rule lets outlive the test.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    pub(crate) locations: Vec<Glob>,
    pub(crate) names: Vec<Glob>,
}

impl Filters {
    pub(crate) fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.names.is_empty()
    }

    fn ignores(&self, location: &SourceLocation, name: Option<&str>) -> bool {
        let text = location.to_string();
        self.locations.iter().any(|g| g.matches(&location.file) || g.matches(&text))
            || name.is_some_and(|name| self.names.iter().any(|g| g.matches(name)))
    }
}

/// The test's live tasks at one moment, ignored ones left out.
#[derive(Default)]
pub(crate) struct Census {
    /// Ids of leaked tasks the collector has records of.
    recorded: Vec<u64>,
    /// Leaked tasks the hooks know and the collector does not, with where they were spawned.
    hooked: Vec<(u64, &'static std::panic::Location<'static>)>,
    /// Without records: how many tasks are alive.
    counted: usize,
    /// The records read, for the listing.
    snapshot: Option<Snapshot>,
    /// Moves when the set of tasks changes.
    pub(crate) fingerprint: u64,
}

impl Census {
    pub(crate) fn count(&self) -> usize {
        self.recorded.len() + self.hooked.len() + self.counted
    }

    /// Whether the tasks could only be counted.
    pub(crate) fn counted_only(&self) -> bool {
        self.counted > 0
    }
}

/// Reads which of the test's tasks are alive now. `recording` says whether the collector has
/// records (it is installed and tokio is instrumented).
pub(crate) fn census(scope: &Scope<'_>, filters: &Filters, recording: bool) -> Census {
    let mut census = Census::default();
    let mut hasher = DefaultHasher::new();
    let hooked = match scope {
        Scope::Runtime(tracker) => {
            tracker.changes().hash(&mut hasher);
            tracker.alive()
        }
        Scope::Process(_) => Vec::new(),
    };
    if cfg!(tokio_unstable) && recording {
        let snapshot = crate::collect::live_snapshot();
        let ours = ours(scope, &snapshot, &hooked);
        let locations: HashMap<u32, &Location> =
            snapshot.locations.iter().map(|l| (l.id, l)).collect();
        for task in snapshot.tasks.iter().filter(|t| ours.contains(&t.id)) {
            let location = locations
                .get(&task.location_id)
                .map_or_else(SourceLocation::unknown, |l| SourceLocation::from(*l));
            let name = Some(task.name.as_str()).filter(|n| !n.is_empty());
            if !filters.ignores(&location, name) {
                census.recorded.push(task.id);
            }
        }
        census.hooked = hooked
            .into_iter()
            .filter(|(id, _)| !snapshot.tasks.iter().any(|t| t.id == *id))
            .filter(|(_, at)| !filters.ignores(&source_location(at), None))
            .collect();
        census.snapshot = Some(snapshot);
    } else if cfg!(tokio_unstable) && matches!(scope, Scope::Runtime(_)) {
        census.hooked = hooked
            .into_iter()
            .filter(|(_, at)| !filters.ignores(&source_location(at), None))
            .collect();
    } else {
        let alive = tokio::runtime::Handle::current().metrics().num_alive_tasks();
        census.counted = match scope {
            Scope::Runtime(_) => alive,
            Scope::Process(baseline) => alive.saturating_sub(baseline.alive),
        };
    }
    census.recorded.sort_unstable();
    census.recorded.hash(&mut hasher);
    census.hooked.iter().map(|(id, _)| id).for_each(|id| id.hash(&mut hasher));
    census.counted.hash(&mut hasher);
    census.fingerprint = hasher.finish();
    census
}

/// The ids of the live records that belong to the test.
fn ours(
    scope: &Scope<'_>,
    snapshot: &Snapshot,
    hooked: &[(u64, &'static std::panic::Location<'static>)],
) -> HashSet<u64> {
    let live = snapshot.tasks.iter().filter(|t| t.dropped_nanos == 0);
    match scope {
        Scope::Process(baseline) => live
            .filter(|t| !baseline.ids.contains(&t.id))
            // A `block_on` is a thread waiting, not a task: other tests start them all the time.
            .filter(|t| t.kind != leakscope_proto::v1::TaskKind::BlockOn as i32)
            .map(|t| t.id)
            .collect(),
        Scope::Runtime(tracker) => {
            // Spawned on the runtime, or by a task that was (on another runtime, or the blocking
            // pool), and so on down.
            let on_runtime: HashSet<u64> = hooked.iter().map(|(id, _)| *id).collect();
            let mut children: HashMap<u64, Vec<u64>> = HashMap::new();
            let mut found = HashSet::new();
            let mut todo = Vec::new();
            for task in live {
                children.entry(task.parent_task_id).or_default().push(task.id);
                let spawned_by_ours =
                    task.parent_task_id != 0 && tracker.spawned_here(task.parent_task_id);
                if on_runtime.contains(&task.id) || spawned_by_ours {
                    todo.push(task.id);
                }
            }
            while let Some(id) = todo.pop() {
                if found.insert(id) {
                    todo.extend(children.get(&id).into_iter().flatten().copied());
                }
            }
            found
        }
    }
}

fn source_location(at: &std::panic::Location<'_>) -> SourceLocation {
    SourceLocation::new(at.file(), at.line(), at.column())
}

/// The leaked tasks by location and wait point, and what the detectors say about them.
pub(crate) fn listing(
    census: &Census,
    dump: Option<TaskDumpResponse>,
) -> (Vec<LeakGroup>, Vec<String>) {
    let snapshot = census.snapshot.clone().unwrap_or_default();
    let keep: HashSet<u64> = census.recorded.iter().copied().collect();
    let mut tasks: Vec<Task> =
        snapshot.tasks.into_iter().filter(|t| keep.contains(&t.id)).collect();
    let mut locations = snapshot.locations;
    // Tasks only the hooks know get locations of their own, numbered down from the top.
    let mut synthetic: HashMap<(String, u32, u32), u32> = HashMap::new();
    for (id, at) in &census.hooked {
        let key = (at.file().to_owned(), at.line(), at.column());
        let next = u32::MAX - synthetic.len() as u32;
        let location_id = *synthetic.entry(key).or_insert_with(|| {
            locations.push(Location {
                id: next,
                file: at.file().into(),
                line: at.line(),
                col: at.column(),
            });
            next
        });
        tasks.push(Task { id: *id, location_id, ..Task::default() });
    }
    // What this build can see, decided as for any client from the agent's own capabilities;
    // a dump only when one was taken.
    let (capabilities, _) = crate::collect::capabilities();
    let sources =
        Sources { task_dump: dump.is_some(), ..Sources::from_capabilities(&capabilities) };
    let mut model = Model::new(sources);
    model.apply_snapshot(Snapshot {
        now_nanos: snapshot.now_nanos,
        locations,
        tasks,
        resources: snapshot.resources,
        waits: snapshot.waits,
        // The await chains the agent captured when each task parked: wait points with no dump.
        wait_chains: snapshot.wait_chains,
        ..Snapshot::default()
    });
    if let Some(dump) = dump {
        model.apply_dump(dump);
    }
    let report = analyze(&model, &Config::default());
    let groups = report
        .groups
        .iter()
        .map(|g| LeakGroup {
            location: g.location.to_string(),
            waiting_on: match &g.waiting_on {
                WaitPoint::Unknown(what) if what.is_empty() => None,
                point => Some(point.to_string()),
            },
            frame: g.user_frame.as_ref().map(ToString::to_string),
            task_name: g.task_name.clone(),
            count: g.count as usize,
            task_ids: g.task_ids.clone(),
        })
        .collect();
    let findings = report
        .at_least(Severity::Suspect)
        .map(|f| format!("{} {} at {}: {}", f.severity, f.kinds_label(), f.location, f.explanation))
        .collect();
    (groups, findings)
}
