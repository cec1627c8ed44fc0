//! The engine: owns the findings model on its own worker, applies what the feed receives, runs
//! the analysis when it is due (throttled by its own cost), and publishes an immutable [`Data`]
//! for the screens. At 100k live tasks applying one update and analysing cost hundreds of
//! milliseconds, so none of it may run on the loop that draws.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use leakscope_analysis::{Chunked, Config, Model, Report, TaskRecord, WaitPoint, analyze, is_live};
use leakscope_proto::v1::{
    Backtrace, DumpStatus, HelloResponse, RuntimeMetrics, TaskDumpResponse, TaskState, Update,
    WatchMessage,
};
use tokio::sync::{mpsc, watch};

use crate::state::{
    AnalysisInfo, Data, DumpView, Focus, FocusWait, Lists, RowState, Rows, RowsBuilder, Sample,
    Strings, TaskRow, resource_label,
};

/// Samples kept for the live-task sparkline and rates (5 minutes at the default interval).
const MAX_SAMPLES: usize = 600;
/// Children ids listed in a task's detail.
const MAX_CHILDREN: usize = 8;
/// Long polls listed in a task's detail.
const MAX_LONG_POLLS: usize = 8;
/// Analysis runs at most this often...
const MIN_ANALYSIS_EVERY: Duration = Duration::from_secs(1);
/// ...and, when it is expensive, spends at most a quarter of the engine's time.
const ANALYSIS_COST_FACTOR: u32 = 4;

/// What the engine is told.
#[derive(Debug)]
pub(crate) enum EngineInput {
    /// Connected (again): a new process gets a fresh model.
    Hello(Box<HelloResponse>),
    /// A part of a `Watch` update.
    Update(Box<WatchMessage>),
    /// A task dump.
    Dump(Box<TaskDumpResponse>),
    /// The task shown in detail changed.
    Focus(Option<u64>),
    /// The lists the open screens show changed.
    Lists(Lists),
    /// The task-wait stacks of these tasks (`None`: every live task), folded, for a flamegraph.
    Flamegraph(Option<Vec<u64>>, tokio::sync::oneshot::Sender<Vec<(String, u64)>>),
}

/// The model and everything derived from it.
pub(crate) struct Engine {
    config: Config,
    address: String,
    model: Model,
    report: Option<Arc<Report>>,
    analysis: AnalysisInfo,
    analysed_at: Option<Instant>,
    dirty: bool,
    rows_dirty: bool,
    strings: Strings,
    strings_dirty: bool,
    point_ids: HashMap<WaitPoint, u16>,
    name_ids: HashMap<String, u32>,
    samples: Vec<Sample>,
    dump: Option<Arc<DumpView>>,
    /// The latest successful dump as it came, for the task-wait stacks' await chains.
    raw_dump: Option<TaskDumpResponse>,
    focus: Option<u64>,
    focus_seen: Option<(u64, u64)>,
    histogram: Vec<u64>,
    /// The runtimes as the handshake found them, shown until the first update says more: a
    /// runtime already stalled is in the header at once.
    hello_runtimes: Vec<RuntimeMetrics>,
    /// The lists to publish.
    lists: Lists,
    last: Arc<Data>,
}

impl Engine {
    /// An engine analysing under `config` what comes from `address`.
    pub(crate) fn new(config: Config, address: impl Into<String>) -> Self {
        Self {
            config,
            address: address.into(),
            model: Model::new(leakscope_analysis::Sources::none()),
            report: None,
            analysis: AnalysisInfo::default(),
            analysed_at: None,
            dirty: false,
            rows_dirty: true,
            strings: Strings {
                points: vec![WaitPoint::Unknown(String::new())],
                names: vec![String::new()],
                ..Strings::default()
            },
            strings_dirty: true,
            point_ids: HashMap::from([(WaitPoint::Unknown(String::new()), 0)]),
            name_ids: HashMap::from([(String::new(), 0)]),
            samples: Vec::new(),
            dump: None,
            raw_dump: None,
            focus: None,
            focus_seen: None,
            histogram: vec![0; Focus::BUCKETS],
            hello_runtimes: Vec::new(),
            lists: Lists::default(),
            last: Arc::new(Data::default()),
        }
    }

    /// Takes a handshake: the first, or one from a different process, starts a fresh model; a
    /// reconnection to the same process keeps what is known.
    pub(crate) fn hello(&mut self, hello: &HelloResponse) {
        let target = self.model.target();
        let same = self.model.observations() > 0
            && target.pid == hello.pid
            && target.process_name == hello.process_name;
        if !same {
            let address = std::mem::take(&mut self.address);
            let config = std::mem::take(&mut self.config);
            let lists = self.lists;
            *self = Self::new(config, address);
            self.lists = lists;
            self.model = Model::from_hello(hello);
        }
        self.hello_runtimes.clone_from(&hello.runtimes);
        self.dirty = true;
    }

    /// Applies updates; consecutive deltas are merged first so a lagging engine applies once.
    pub(crate) fn apply(&mut self, updates: Vec<Update>) {
        let Some(update) = merge(updates) else { return };
        let started = Instant::now();
        self.model.apply_update(update);
        self.applied(started);
    }

    /// Applies update parts as they came: whole updates (one part each, with their resources
    /// and waits whole) are merged as by [`Engine::apply`]; the parts of a large update, and
    /// updates whose resources and waits are unchanged or changes, are applied one by one, and
    /// the screens change only when an update's last part is in (a model holding half an update
    /// would show half the tasks as ended).
    pub(crate) fn apply_parts(&mut self, parts: Vec<WatchMessage>) {
        let mut whole = Vec::new();
        for part in parts {
            let lists_whole = !part.resources_unchanged && !part.resources_delta;
            if part.part == 0 && !part.more && lists_whole {
                whole.extend(part.update);
                continue;
            }
            self.apply(std::mem::take(&mut whole));
            let started = Instant::now();
            if self.model.apply_part(part) {
                self.applied(started);
            } else {
                self.analysis.apply_ms += started.elapsed().as_secs_f64() * 1e3;
            }
        }
        self.apply(whole);
    }

    /// After a complete update: marks what changed.
    fn applied(&mut self, started: Instant) {
        self.analysis.apply_ms = started.elapsed().as_secs_f64() * 1e3;
        self.dirty = true;
        self.rows_dirty = true;
        self.record_sample();
        self.track_focus();
    }

    /// Applies a task dump. Only a successful one replaces the traces (and reaches the model):
    /// a dump that timed out because a worker is blocked must not make every wait point unknown
    /// again; the feed reports its status to the screen.
    pub(crate) fn apply_dump(&mut self, dump: TaskDumpResponse) {
        if DumpStatus::try_from(dump.status) != Ok(DumpStatus::Ok) {
            return;
        }
        let traces =
            dump.traces.iter().map(|trace| (trace.task_id, trace.backtraces.clone())).collect();
        self.dump = Some(Arc::new(DumpView {
            status: "ok".to_owned(),
            taken_at_nanos: dump.taken_at_nanos,
            duration_nanos: dump.duration_nanos,
            traces,
        }));
        self.raw_dump = Some(dump.clone());
        self.model.apply_dump(dump);
        self.dirty = true;
        self.rows_dirty = true;
        // A dump names wait points the agent's waits cannot: analyse with it at once.
        self.analysed_at = None;
    }

    /// The task-wait stacks of `ids`, folded (`root;…;leaf`, count): exactly the stacks of
    /// `leakscope profile tasks` for those tasks, from the profile builder itself.
    pub(crate) fn wait_stacks(&self, ids: Option<Vec<u64>>) -> Vec<(String, u64)> {
        use leakscope_profile::{TaskFilter, folded::folded_lines, task_wait_profile};
        let filter = ids.map_or_else(TaskFilter::all, TaskFilter::ids);
        let profile = task_wait_profile(&self.model, self.raw_dump.as_ref(), &filter);
        folded_lines(&profile, 0)
            .into_iter()
            .filter_map(|line| {
                let (stack, count) = line.rsplit_once(' ')?;
                Some((stack.to_owned(), count.parse().ok()?))
            })
            .collect()
    }

    /// Shows `id` in detail (or nothing).
    pub(crate) fn set_focus(&mut self, id: Option<u64>) {
        if self.focus != id {
            self.focus = id;
            self.focus_seen = None;
            self.histogram = vec![0; Focus::BUCKETS];
            self.track_focus();
        }
    }

    /// Publishes from now on the lists `lists` says (see [`Lists`]).
    pub(crate) fn set_lists(&mut self, lists: Lists) {
        if lists.tasks && !self.lists.tasks {
            self.rows_dirty = true;
        }
        self.lists = lists;
    }

    /// Whether the analysis should run now; and if not, when it will be due.
    pub(crate) fn analysis_due(&self, now: Instant) -> Result<(), Option<Duration>> {
        if !self.dirty || self.model.observations() == 0 || self.model.streaming().is_some() {
            return Err(None);
        }
        match self.analysed_at {
            None => Ok(()),
            Some(at) => {
                let every = self.analysis_every();
                let since = now.saturating_duration_since(at);
                if since >= every { Ok(()) } else { Err(Some(every - since)) }
            }
        }
    }

    fn analysis_every(&self) -> Duration {
        let cost = Duration::from_secs_f64(self.analysis.took_ms / 1e3);
        (cost * ANALYSIS_COST_FACTOR).max(MIN_ANALYSIS_EVERY)
    }

    /// Runs the analysis.
    pub(crate) fn analyze(&mut self, now: Instant) {
        let started = Instant::now();
        let mut report = analyze(&self.model, &self.config);
        report.target.address = Some(self.address.clone());
        self.analysis.took_ms = started.elapsed().as_secs_f64() * 1e3;
        self.analysis.at_observation = self.model.observations();
        self.analysis.every_secs = self.analysis_every().as_secs_f64();
        self.analysed_at = Some(now);
        self.report = Some(Arc::new(report));
        self.dirty = false;
        self.rows_dirty = true;
    }

    /// Runs the analysis if it is due.
    pub(crate) fn analyze_if_due(&mut self, now: Instant) {
        if self.analysis_due(now).is_ok() {
            self.analyze(now);
        }
    }

    /// What the screens show now. Parts that did not change are shared with the previous
    /// publication.
    pub(crate) fn publish(&mut self) -> Arc<Data> {
        let (tasks, groups) = if !self.lists.tasks {
            // Not kept for later either: the rows of a million tasks are 64 MB.
            self.rows_dirty = true;
            if self.last.tasks.is_empty() {
                (Arc::clone(&self.last.tasks), Arc::clone(&self.last.groups))
            } else {
                (Arc::default(), Arc::default())
            }
        } else if self.rows_dirty {
            self.rows_dirty = false;
            let rows = Arc::new(self.rows());
            (rows, Arc::new(self.groups()))
        } else {
            (Arc::clone(&self.last.tasks), Arc::clone(&self.last.groups))
        };
        // Shared with the model, not copied: a million resources are a hundred megabytes. Only
        // while shown: a delta makes the model copy the chunks it changes, which a screen
        // holding the last list keeps alive beside the new ones.
        let (resources, waits) = if self.lists.resources {
            let resources = self.model.shared_resources().clone();
            if !resources.is_same(&self.last.resources) {
                for resource in resources.iter() {
                    self.intern_location(resource.location_id);
                }
            }
            (resources, self.model.shared_waits().clone())
        } else if self.last.lists.resources {
            (Chunked::default(), Chunked::default())
        } else {
            (self.last.resources.clone(), self.last.waits.clone())
        };
        let focus = self.focus_view();
        let strings = if self.strings_dirty {
            self.strings_dirty = false;
            Arc::new(self.strings.clone())
        } else {
            Arc::clone(&self.last.strings)
        };
        // By state from the same tasks as the live count, so that the Overview's states add up
        // to it: the rows when they are built, else the model's live tasks (what the rows would
        // be built from).
        let mut states = leakscope_analysis::StateCounts::default();
        let mut count = |state| match state {
            RowState::Running => states.running += 1,
            RowState::Scheduled => states.scheduled += 1,
            RowState::Idle => states.idle += 1,
            RowState::Unknown => states.unknown += 1,
        };
        let live = if !self.model.sources().tasks {
            self.live_count()
        } else if self.lists.tasks {
            tasks.iter().for_each(|row| count(row.state));
            tasks.len() as u64
        } else {
            let mut live = 0;
            for task in self.model.live_tasks() {
                count(row_state(task));
                live += 1;
            }
            live
        };
        let data = Data {
            target: self.model.target().clone(),
            live,
            states,
            now_nanos: self.model.now_nanos(),
            observations: self.model.observations(),
            report: self.report.clone(),
            analysis: self.analysis,
            lists: self.lists,
            tasks,
            groups,
            strings,
            resources,
            waits,
            runtimes: Arc::new(match self.model.runtimes() {
                [] => self.hello_runtimes.clone(),
                runtimes => runtimes.to_vec(),
            }),
            stats: self.model.agent_stats().copied(),
            samples: Arc::new(self.samples.clone()),
            dump: self.dump.clone(),
            focus: focus.map(Arc::new),
        };
        self.last = Arc::new(data);
        Arc::clone(&self.last)
    }

    /// The live tasks' rows, sharing with the last publication's every chunk that came again
    /// unchanged.
    fn rows(&mut self) -> Rows {
        if let Some(report) = &self.report {
            for group in &report.groups {
                intern_point(&mut self.strings, &mut self.point_ids, &group.waiting_on);
            }
            self.strings_dirty = true;
        }
        let model = &self.model;
        let old = Arc::clone(&self.last.tasks);
        let mut rows = RowsBuilder::new(&old);
        for task in model.live_tasks() {
            let point = &model.task_wait(task.id).point;
            let point_id = match self.point_ids.get(point) {
                Some(&id) => id,
                None => {
                    self.strings_dirty = true;
                    intern_point(&mut self.strings, &mut self.point_ids, point)
                }
            };
            let name = match self.name_ids.get(task.name.as_str()) {
                Some(&id) => id,
                None => {
                    let id = u32::try_from(self.strings.names.len()).unwrap_or(0);
                    self.strings.names.push(task.name.to_string());
                    self.name_ids.insert(task.name.to_string(), id);
                    self.strings_dirty = true;
                    id
                }
            };
            if let std::collections::hash_map::Entry::Vacant(slot) =
                self.strings.locations.entry(task.location_id)
            {
                slot.insert(model.location(task.location_id).clone());
                self.strings_dirty = true;
            }
            rows.push(row(task, point_id, name));
        }
        rows.finish()
    }

    /// The latest report's group of each (location id, wait point id) interned: a row's group,
    /// looked up rather than kept in the row (a new report reorders its groups).
    fn groups(&self) -> HashMap<(u32, u16), u32> {
        let Some(report) = &self.report else { return HashMap::new() };
        let mut groups = HashMap::new();
        for (i, group) in report.groups.iter().enumerate() {
            let Some(&point) = self.point_ids.get(&group.waiting_on) else { continue };
            for (&location_id, location) in &self.strings.locations {
                if *location == group.location {
                    groups.entry((location_id, point)).or_insert(i as u32);
                }
            }
        }
        groups
    }

    fn intern_location(&mut self, id: u32) {
        if !self.strings.locations.contains_key(&id) {
            self.strings.locations.insert(id, self.model.location(id).clone());
            self.strings_dirty = true;
        }
    }

    /// The live-task figure every screen shows (the header, the Overview, its sparkline): the
    /// live tasks of the latest update applied, as the Tasks screen lists them; for a target
    /// that sends no per-task records (stable tokio), its runtimes' own count. Not the agent's
    /// `tasks_live` counter (it runs ahead of the update) nor the last analysis's count (it
    /// lags by up to the analysis's interval): two figures a second apart disagreed on screen.
    fn live_count(&self) -> u64 {
        if self.model.sources().tasks {
            self.model.live_tasks().count() as u64
        } else {
            self.model.runtimes().iter().map(|r| r.alive_tasks).sum()
        }
    }

    fn record_sample(&mut self) {
        let stats = self.model.agent_stats();
        let live = self.live_count();
        let runtime_spawned = self.model.runtimes().iter().map(|r| r.spawned_tasks_total).sum();
        let spawned_total = stats.map_or(runtime_spawned, |s| s.tasks_spawned_total);
        let finished_total = stats.map_or(0, |s| s.tasks_finished_total);
        self.samples.push(Sample {
            at_secs: secs(self.model.now_nanos()),
            live,
            spawned_total,
            finished_total,
        });
        if self.samples.len() > MAX_SAMPLES {
            let excess = self.samples.len() - MAX_SAMPLES;
            self.samples.drain(..excess);
        }
    }

    /// Adds the focused task's polls since the last observation to its histogram, at their mean
    /// duration (the agent sends totals, not each poll).
    fn track_focus(&mut self) {
        let Some(task) = self.focus.and_then(|id| self.model.task(id)) else { return };
        let (polls, busy) = (task.polls, task.busy_nanos);
        let (prev_polls, prev_busy) = self.focus_seen.unwrap_or((0, 0));
        if polls > prev_polls {
            let delta = polls - prev_polls;
            let mean = busy.saturating_sub(prev_busy) / delta;
            self.histogram[Focus::bucket(mean)] += delta;
        }
        self.focus_seen = Some((polls, busy));
    }

    fn focus_view(&mut self) -> Option<Focus> {
        let id = self.focus?;
        let model = &self.model;
        let now = model.now_nanos();
        let task = model.task(id).cloned();
        let live = task.as_ref().is_some_and(is_live);
        let location = task.as_ref().map(|t| model.location(t.location_id).clone());
        let parent = task.as_ref().filter(|t| t.parent_task_id != 0).map(|t| {
            let parent = t.parent_task_id;
            let location = model
                .task(parent)
                .map(|p| model.location(p.location_id).clone())
                .unwrap_or_default();
            let ended = model.task_ended_at(parent).map(|at| secs(now.saturating_sub(at)));
            (parent, location, ended)
        });
        let mut children = (0, Vec::new());
        for child in model.live_tasks().filter(|t| t.parent_task_id == id) {
            children.0 += 1;
            if children.1.len() < MAX_CHILDREN {
                children.1.push(child.id);
            }
        }
        let captured = task
            .as_ref()
            .filter(|_| live)
            .and_then(|t| model.captured_chains(t.id))
            .map(<[Backtrace]>::to_vec)
            .unwrap_or_default();
        Some(Focus {
            captured,
            wait: live.then(|| model.task_wait(id).clone()),
            task,
            location: location.unwrap_or_default(),
            parent,
            children,
            poll_histogram: self.histogram.clone(),
            long_polls: model
                .long_polls()
                .iter()
                .filter(|p| p.task_id == id)
                .take(MAX_LONG_POLLS)
                .cloned()
                .collect(),
            waits: model
                .waits_of(id)
                .map(|w| {
                    let resource = model.resource(w.resource_id).cloned();
                    let label = resource.as_ref().map_or_else(
                        || "resource".to_owned(),
                        |r| resource_label(r, model.waits()),
                    );
                    FocusWait { wait: w.clone(), resource, label }
                })
                .collect(),
        })
    }

    /// Handles one batch of inputs: everything queued is taken at once.
    pub(crate) fn handle(&mut self, inputs: Vec<EngineInput>) {
        let mut updates = Vec::new();
        for input in inputs {
            match input {
                EngineInput::Update(update) => updates.push(*update),
                other => {
                    self.apply_parts(std::mem::take(&mut updates));
                    match other {
                        EngineInput::Hello(hello) => self.hello(&hello),
                        EngineInput::Dump(dump) => self.apply_dump(*dump),
                        EngineInput::Focus(id) => self.set_focus(id),
                        EngineInput::Lists(lists) => self.set_lists(lists),
                        EngineInput::Flamegraph(ids, reply) => {
                            let _ = reply.send(self.wait_stacks(ids));
                        }
                        EngineInput::Update(_) => unreachable!("matched above"),
                    }
                }
            }
        }
        self.apply_parts(updates);
    }
}

/// The id of a wait point, interning it; more than 65,535 distinct points (never seen in
/// practice: they are API names) fall back to "unknown".
fn intern_point(
    strings: &mut Strings,
    ids: &mut HashMap<WaitPoint, u16>,
    point: &WaitPoint,
) -> u16 {
    if let Some(&id) = ids.get(point) {
        return id;
    }
    let Ok(id) = u16::try_from(strings.points.len()) else { return 0 };
    strings.points.push(point.clone());
    ids.insert(point.clone(), id);
    id
}

fn row_state(task: &TaskRecord) -> RowState {
    match TaskState::try_from(task.state) {
        Ok(TaskState::Running) => RowState::Running,
        Ok(TaskState::Scheduled) => RowState::Scheduled,
        Ok(TaskState::Idle) => RowState::Idle,
        _ => RowState::Unknown,
    }
}

fn row(task: &TaskRecord, point: u16, name: u32) -> TaskRow {
    let state = row_state(task);
    TaskRow {
        id: task.id,
        location_id: task.location_id,
        name,
        point,
        state,
        created_nanos: task.created_nanos,
        // As `names::idle_nanos` counts it.
        idle_since_nanos: if state == RowState::Idle {
            task.last_poll_end_nanos.max(task.created_nanos)
        } else {
            TaskRow::NOT_IDLE
        },
        polls: task.polls,
        busy_secs: secs(task.busy_nanos) as f32,
        wakes: task.wakes,
        wakers: i32::try_from(task.waker_count).unwrap_or(if task.waker_count < 0 {
            i32::MIN
        } else {
            i32::MAX
        }),
    }
}

fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// Merges consecutive updates into one that the model applies with the same result: tasks are
/// upserted in order (a later record of a task wins), resources, waits, statistics and runtimes
/// are replaced wholesale by the latest, long polls and locations accumulate, and a full update
/// discards everything before it.
pub(crate) fn merge(updates: Vec<Update>) -> Option<Update> {
    let mut merged: Option<Update> = None;
    for update in updates {
        let Some(next) = update.snapshot else { continue };
        match merged.as_mut().and_then(|m| m.snapshot.as_mut()) {
            Some(acc) if !update.full => {
                acc.now_nanos = acc.now_nanos.max(next.now_nanos);
                acc.locations.extend(next.locations);
                acc.tasks.extend(next.tasks);
                acc.resources = next.resources;
                acc.waits = next.waits;
                acc.long_polls.extend(next.long_polls);
                acc.poll_stats = next.poll_stats;
                acc.runtimes = next.runtimes;
                // Deltas carry the wait chains their tasks refer to: keep every one.
                acc.wait_chains.extend(next.wait_chains);
                if next.stats.is_some() {
                    acc.stats = next.stats;
                }
            }
            _ => merged = Some(Update { full: update.full, snapshot: Some(next) }),
        }
    }
    merged
}

/// Starts the engine on its own thread (named `leakscope-engine`), so neither the screen nor
/// the connection ever waits for an update to be applied or an analysis to finish, whatever
/// runtime the caller uses. It runs until `input` closes or nobody reads `output`.
pub(crate) fn spawn(
    engine: Engine,
    input: mpsc::Receiver<EngineInput>,
    output: watch::Sender<Arc<Data>>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("leakscope-engine".into()).spawn(move || {
        // Only to wait for input with a deadline; the work runs on this thread directly.
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_time().build()
        else {
            return;
        };
        runtime.block_on(run(engine, input, output));
    })
}

/// The engine's loop: takes everything queued, applies it, analyses when due, publishes.
async fn run(
    mut engine: Engine,
    mut input: mpsc::Receiver<EngineInput>,
    output: watch::Sender<Arc<Data>>,
) {
    loop {
        let due = engine.analysis_due(Instant::now());
        let first = match due {
            Ok(()) => None,
            Err(Some(wait)) => tokio::select! {
                next = input.recv() => match next { Some(next) => Some(next), None => return },
                () = tokio::time::sleep(wait) => None,
            },
            Err(None) => match input.recv().await {
                Some(next) => Some(next),
                None => return,
            },
        };
        let mut batch: Vec<EngineInput> = first.into_iter().collect();
        while let Ok(next) = input.try_recv() {
            batch.push(next);
        }
        engine.handle(batch);
        engine.analyze_if_due(Instant::now());
        if output.send(engine.publish()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{
        Frame, HelloResponse, Location, RuntimeMetrics, Snapshot, Task, TaskState, Update,
        WaitChain,
    };

    use super::{Engine, merge};

    /// At a million tasks the rows and the resources are a hundred megabytes each: published
    /// only while a screen shows them, and a resources delta then changes the model's list in
    /// place, where a list still held by a screen had to be copied first.
    #[test]
    fn the_lists_are_published_only_while_a_screen_shows_them() {
        use crate::state::Lists;
        use leakscope_proto::v1::{Resource, Wait, WatchMessage};
        let task = |id, state: TaskState| Task { id, state: state as i32, ..Task::default() };
        let full = Snapshot {
            tasks: vec![
                task(1, TaskState::Idle),
                task(2, TaskState::Idle),
                task(3, TaskState::Running),
            ],
            resources: vec![Resource { id: 10, ..Resource::default() }],
            waits: vec![Wait { task_id: 1, resource_id: 10, ..Wait::default() }],
            ..Snapshot::default()
        };
        assert_eq!(std::mem::size_of::<crate::state::TaskRow>(), 64, "a row of a million");
        let mut engine = Engine::new(leakscope_analysis::Config::default(), "127.0.0.1:1");
        engine.hello(&crate::fixture::hello());
        engine.apply(vec![Update { full: true, snapshot: Some(full) }]);
        let data = engine.publish();
        assert!(data.tasks.is_empty() && data.resources.is_empty() && data.waits.is_empty());
        assert_eq!(
            (data.live, data.states.idle, data.states.running),
            (3, 2, 1),
            "counted all the same"
        );

        engine.set_lists(Lists { tasks: true, resources: false });
        let data = engine.publish();
        let ids: Vec<u64> = data.tasks.iter().map(|row| row.id).collect();
        assert_eq!((ids, data.live, data.states.idle), (vec![1, 2, 3], 3, 2));
        assert!(data.resources.is_empty());

        engine.set_lists(Lists { tasks: false, resources: true });
        let shown = engine.publish();
        assert!(shown.tasks.is_empty());
        assert_eq!((shown.resources.len(), shown.waits.len()), (1, 1));

        engine.set_lists(Lists::default());
        let hidden = engine.publish();
        assert!(hidden.resources.is_empty() && hidden.waits.is_empty());
        drop(shown);
        let held = engine.model.shared_resources().clone();
        let changes = Snapshot {
            resources: vec![Resource { id: 11, ..Resource::default() }],
            waits: vec![Wait { task_id: 2, resource_id: 11, ..Wait::default() }],
            ..Snapshot::default()
        };
        engine.apply_parts(vec![WatchMessage {
            update: Some(Update { full: false, snapshot: Some(changes) }),
            resources_delta: true,
            ..WatchMessage::default()
        }]);
        assert_eq!(engine.model.resources().count(), 2);
        // The list handed out before the delta still holds what it held: the delta went into
        // chunks of the model's own, not into the ones shared.
        let held: Vec<u64> = held.iter().map(|r| r.id).collect();
        assert_eq!(held, [10], "a list handed out is never changed");
        assert!(engine.publish().resources.is_empty(), "still not shown: {hidden:?}");
    }

    /// A new publication of the rows shares every chunk in which no task changed: at a million
    /// idle tasks a new list is a few chunks, not a second copy.
    #[test]
    fn rows_of_tasks_that_did_not_change_are_shared_with_the_last_publication() {
        use crate::state::Lists;
        let task = |id, polls| Task {
            id,
            polls,
            state: TaskState::Idle as i32,
            created_nanos: 1,
            last_poll_end_nanos: 2,
            ..Task::default()
        };
        let mut engine = Engine::new(leakscope_analysis::Config::default(), "127.0.0.1:1");
        engine.hello(&crate::fixture::hello());
        engine.set_lists(Lists { tasks: true, resources: false });
        let all = (1..=10_000).map(|id| task(id, 1)).collect();
        engine.apply(vec![Update {
            full: true,
            snapshot: Some(Snapshot { tasks: all, now_nanos: 3, ..Snapshot::default() }),
        }]);
        engine.analyze(std::time::Instant::now());
        let first = engine.publish();
        // Task 5,000 is polled; the clock moves on.
        let one = vec![task(5_000, 2)];
        engine.apply(vec![Update {
            full: false,
            snapshot: Some(Snapshot { tasks: one, now_nanos: 9, ..Snapshot::default() }),
        }]);
        engine.analyze(std::time::Instant::now());
        let second = engine.publish();
        assert!(!std::sync::Arc::ptr_eq(&first.tasks, &second.tasks), "rebuilt");
        assert_eq!(second.tasks.len(), 10_000);
        assert_eq!(second.row(5_000).map(|r| r.polls), Some(2));
        assert_eq!(second.row(4_999).map(|r| r.idle_secs(9)), Some(7e-9));
        // Ids 1-4,095 and 8,192-10,000 share their chunks; 4,096-8,191 is new.
        assert_eq!(second.tasks.shared_with(&first.tasks), 2);
    }

    #[test]
    fn a_delta_of_resources_is_applied_as_changes_not_merged_as_whole_lists() {
        use leakscope_proto::v1::{Resource, Wait, WatchMessage};
        let task = |id| Task { id, state: TaskState::Idle as i32, ..Task::default() };
        let full = Snapshot {
            tasks: vec![task(1), task(2)],
            resources: vec![Resource { id: 10, ..Resource::default() }],
            waits: vec![Wait { task_id: 1, resource_id: 10, ..Wait::default() }],
            ..Snapshot::default()
        };
        // Task 2 starts waiting on a new resource: the delta carries only that.
        let changes = Snapshot {
            resources: vec![Resource { id: 11, ..Resource::default() }],
            waits: vec![Wait { task_id: 2, resource_id: 11, ..Wait::default() }],
            ..Snapshot::default()
        };
        let mut engine = Engine::new(leakscope_analysis::Config::default(), "127.0.0.1:1");
        engine.apply_parts(vec![
            leakscope_client::whole(Update { full: true, snapshot: Some(full) }),
            WatchMessage {
                update: Some(Update { full: false, snapshot: Some(changes) }),
                resources_delta: true,
                ..WatchMessage::default()
            },
        ]);
        let resources: Vec<u64> = engine.model.resources().map(|r| r.id).collect();
        let waits: Vec<(u64, u64)> =
            engine.model.waits().iter().map(|w| (w.task_id, w.resource_id)).collect();
        assert_eq!((resources, waits), (vec![10, 11], vec![(1, 10), (2, 11)]));
    }

    #[test]
    fn merged_deltas_keep_every_wait_chain() {
        let delta = |task: u64, chain: u32| Update {
            full: false,
            snapshot: Some(Snapshot {
                tasks: vec![Task { id: task, wait_chain_ids: vec![chain], ..Task::default() }],
                wait_chains: vec![WaitChain { id: chain, frames: Vec::new() }],
                ..Snapshot::default()
            }),
        };
        let full = Update { full: true, snapshot: Some(Snapshot::default()) };
        let merged = merge(vec![full, delta(1, 7), delta(2, 8)]).unwrap();
        let snapshot = merged.snapshot.unwrap();
        let chains: Vec<u32> = snapshot.wait_chains.iter().map(|c| c.id).collect();
        assert_eq!(chains, [7, 8]);
        assert!(merged.full);
    }

    #[test]
    fn a_runtime_stalled_at_the_handshake_is_shown_before_the_first_update() {
        let runtime = |stalled| RuntimeMetrics {
            runtime_id: 1,
            flavor: "multi_thread".into(),
            workers: 1,
            heartbeat_age_nanos: if stalled { 3_000_000_000 } else { 10_000_000 },
            stalled,
            ..RuntimeMetrics::default()
        };
        let mut engine = Engine::new(leakscope_analysis::Config::default(), "127.0.0.1:1");
        engine.hello(&HelloResponse {
            pid: 7,
            runtimes: vec![runtime(true)],
            ..HelloResponse::default()
        });
        assert!(engine.publish().runtimes.iter().any(|r| r.stalled), "shown at once");
        // The first update's runtimes replace the handshake's.
        let update =
            Snapshot { now_nanos: 1, runtimes: vec![runtime(false)], ..Snapshot::default() };
        engine.apply(vec![Update { full: true, snapshot: Some(update) }]);
        assert!(!engine.publish().runtimes.iter().any(|r| r.stalled));
    }

    /// A task parked on a channel receive, its await chain captured by the agent (no dump).
    fn parked_receiver() -> Engine {
        let frame = |function: &str, file: &str, line: u32| Frame {
            function: function.into(),
            file: file.into(),
            line,
            ..Frame::default()
        };
        let mut engine = Engine::new(leakscope_analysis::Config::default(), "127.0.0.1:1");
        engine.hello(&HelloResponse { pid: 7, ..HelloResponse::default() });
        let snapshot = Snapshot {
            now_nanos: 10_000_000_000,
            locations: vec![Location { id: 1, file: "src/pending.rs".into(), line: 12, col: 5 }],
            tasks: vec![Task {
                id: 4,
                location_id: 1,
                state: TaskState::Idle as i32,
                created_nanos: 1_000_000_000,
                last_poll_end_nanos: 2_000_000_000,
                polls: 1,
                waker_count: 1,
                wait_chain_ids: vec![3],
                ..Task::default()
            }],
            wait_chains: vec![WaitChain {
                id: 3,
                frames: vec![
                    frame("app::pending::{{closure}}", "src/pending.rs", 14),
                    frame("tokio::sync::mpsc::bounded::Receiver<T>::recv", "", 0),
                ],
            }],
            ..Snapshot::default()
        };
        engine.apply(vec![Update { full: true, snapshot: Some(snapshot) }]);
        engine
    }

    #[test]
    fn flamegraph_stacks_are_the_task_profiles_and_carry_the_captured_chain() {
        let engine = parked_receiver();
        let stacks = engine.wait_stacks(Some(vec![4]));
        let [(stack, count)] = stacks.as_slice() else { panic!("{stacks:#?}") };
        assert_eq!(*count, 1);
        assert!(stack.starts_with("tokio::spawn (src/pending.rs:12)"), "{stack}");
        assert!(stack.contains("app::pending"), "the app's await line: {stack}");
        assert!(stack.ends_with("wait: mpsc::Receiver::recv"), "{stack}");
        assert!(engine.wait_stacks(Some(vec![99])).is_empty(), "no such task, no stack");
        assert_eq!(engine.wait_stacks(None), stacks, "every live task: the one parked");
    }

    #[test]
    fn the_focused_task_shows_its_captured_chain() {
        let mut engine = parked_receiver();
        engine.set_focus(Some(4));
        let focus = engine.focus_view().expect("the task is known");
        let [chain] = focus.captured.as_slice() else { panic!("{:?}", focus.captured) };
        assert_eq!(chain.frames[0].function, "app::pending::{{closure}}");
        assert_eq!(
            focus.wait.map(|w| w.point.to_string()).as_deref(),
            Some("mpsc::Receiver::recv")
        );
    }
}
