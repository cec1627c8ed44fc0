//! console-api to leakscope: a stateful converter that turns the `Instrument.WatchUpdates` stream
//! of an app running only console-subscriber into leakscope `Update`s, so every client reads one
//! kind of data.
//!
//! console-subscriber sends a full picture first, then every publish interval (1 s by default)
//! the tasks, resources and async ops whose statistics changed. The converter keeps the whole
//! picture and emits the same shape the agent's `Watch` does: a full update, then deltas with the
//! changed tasks and every resource and wait replaced wholesale.
//!
//! What the mapping does, field by field:
//!
//! - **Clock.** console-api timestamps are wall-clock. The agent clock of the converted data starts
//!   at the earliest timestamp of the first update (`HelloResponse.origin_unix_nanos`); anything
//!   earlier is clamped to 1 ns, because 0 means "never" in leakscope's protocol.
//! - **Tasks.** `Task.id` is tokio's task id (the span's `task.id` field; console's own span id
//!   when it is missing). Kind, name and future size come from the span's fields, the live waker
//!   count is `waker_clones - waker_drops` (console-subscriber counts a wake by value as a drop),
//!   and the state is derived from the poll and wake timestamps: running while the last poll has
//!   not ended, scheduled when woken since it began (or never polled), otherwise idle.
//! - **Long polls.** console-api has no long-poll records, but each task's statistics carry its
//!   latest poll's start and end. A latest poll of at least [`CONSOLE_LONG_POLL_THRESHOLD`]
//!   becomes a `LongPoll`: a sample (at most one poll per task per update), not every long poll.
//! - **Resources.** Kind from `concrete_type` (`Mutex`, `RwLock`, `Semaphore`, `Barrier`,
//!   `Sender|Receiver` is a oneshot, `Sleep` a timer) and state from the attributes tokio reports
//!   (`locked`, `write_locked`, `current_readers`, `permits`, `size`, `arrived`, the oneshot flags,
//!   `duration` in ms). tokio does not say which task holds a lock, so `holder_task_id` stays 0.
//!   As the agent does, timers and oneshots are sent only while waited on.
//! - **Waits.** A live async op that has been polled by a live task is a wait of that task on its
//!   resource, since its first poll. A wait on a semaphore tokio keeps inside another primitive
//!   (a `Mutex`'s, say) is folded into the wait on that primitive.
//! - **Health.** Events console-subscriber dropped (its channel was full) are summed into
//!   `AgentStats.spans_dropped_total`: such tasks are missing from every count.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use console_api as api;
use console_api::field::{Name, Value};
use leakscope_proto::v1::{
    AgentConfig, AgentStats, Capabilities, HelloResponse, Location, LongPoll, PROTOCOL_VERSION,
    Resource, ResourceKind, Snapshot, Task, TaskKind, TaskState, Update, Wait,
};

/// A console-api task's latest poll at least this long becomes a `LongPoll` record: the agent's
/// default long-poll threshold, so both sources feed `blocking` the same way.
pub const CONSOLE_LONG_POLL_THRESHOLD: Duration = Duration::from_millis(10);

/// console-subscriber's default publish interval, reported as the watch interval.
const CONSOLE_PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// How long a finished task stays in the converter's picture after it was dropped: the agent's
/// retention, so a full snapshot shows recently finished tasks the same way.
const RETAIN_FINISHED_NANOS: u64 = 60_000_000_000;

/// What the handshake with a console-subscriber app says: who it is (unknown: console-api has no
/// handshake), what it can provide, and what it cannot.
pub(crate) fn console_hello() -> HelloResponse {
    HelloResponse {
        protocol_version: PROTOCOL_VERSION,
        agent_version: "console-subscriber (console-api 0.9)".to_owned(),
        pid: 0,
        process_name: String::new(),
        origin_unix_nanos: 0,
        capabilities: Some(Capabilities {
            tasks: true,
            resources: true,
            task_dump: false,
            runtime_metrics: false,
            console_api: true,
            console_subscriber: true,
            ..Capabilities::default()
        }),
        missing: vec![
            "parent tasks and spawner spans: console-api does not carry them".to_owned(),
            "lock holders: tokio reports that a lock is held, not by which task".to_owned(),
            "task dumps: console-api has no task dump".to_owned(),
            "wait points: console-api carries no await chains, only resource waits".to_owned(),
            "long polls are sampled: only each task's latest poll per update is seen".to_owned(),
            "runtime metrics: console-api does not carry them".to_owned(),
        ],
        config: Some(AgentConfig {
            long_poll_threshold_nanos: nanos_of(CONSOLE_LONG_POLL_THRESHOLD),
            watch_interval_nanos: nanos_of(CONSOLE_PUBLISH_INTERVAL),
            ..AgentConfig::default()
        }),
        runtimes: Vec::new(),
        // console-api does not say which tokio the app runs.
        tokio_version: String::new(),
        tokio_minimum: String::new(),
    }
}

fn nanos_of(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Turns one console-api `WatchUpdates` stream into leakscope updates. One converter per stream:
/// the first console update must be the stream's first (full) one.
#[derive(Debug, Default)]
pub(crate) struct Converter {
    /// Unix nanoseconds of agent-clock zero; set by the first update.
    origin: Option<i128>,
    updates: u64,
    /// Field names per metadata id, for fields that name themselves by index.
    field_names: HashMap<u64, Vec<String>>,
    location_ids: HashMap<(String, u32, u32), u32>,
    locations: Vec<Location>,
    /// How many of `locations` have been sent.
    locations_sent: usize,
    /// By console id.
    tasks: HashMap<u64, Task>,
    resources: HashMap<u64, ResourceEntry>,
    async_ops: HashMap<u64, AsyncOpEntry>,
    /// Start of the latest poll already turned into a `LongPoll`, per console task id.
    long_poll_seen: HashMap<u64, u64>,
    dropped_events: u64,
}

#[derive(Debug)]
struct ResourceEntry {
    resource: Resource,
    parent: Option<u64>,
    dropped: bool,
}

#[derive(Debug, Default)]
struct AsyncOpEntry {
    resource_id: u64,
    source: String,
    /// Console id of the task that polled it.
    task: Option<u64>,
    polls: u64,
    first_poll_nanos: u64,
    dropped: bool,
}

impl Converter {
    /// Applies one console-api update and returns the leakscope update it amounts to: full for the
    /// first, a delta after that.
    pub(crate) fn apply(&mut self, update: api::instrument::Update) -> Update {
        let full = self.updates == 0;
        self.updates += 1;
        if self.origin.is_none() {
            self.origin = earliest(&update);
        }
        let now = self.time(update.now.as_ref()).max(1);
        if let Some(metadata) = update.new_metadata {
            for new in metadata.metadata {
                if let (Some(id), Some(meta)) = (new.id, new.metadata) {
                    self.field_names.insert(id.id, meta.field_names);
                }
            }
        }
        let mut changed = HashSet::new();
        let mut long_polls = Vec::new();
        if let Some(tasks) = update.task_update {
            self.dropped_events += tasks.dropped_events;
            for task in tasks.new_tasks {
                if let Some(id) = task.id.as_ref().map(|id| id.id) {
                    let converted = self.new_task(&task);
                    self.tasks.entry(id).or_insert(converted);
                    changed.insert(id);
                }
            }
            for (id, stats) in tasks.stats_update {
                if self.apply_task_stats(id, &stats, &mut long_polls) {
                    changed.insert(id);
                }
            }
        }
        if let Some(resources) = update.resource_update {
            self.dropped_events += resources.dropped_events;
            for resource in resources.new_resources {
                self.new_resource(resource);
            }
            for (id, stats) in resources.stats_update {
                self.apply_resource_stats(id, &stats);
            }
        }
        if let Some(ops) = update.async_op_update {
            self.dropped_events += ops.dropped_events;
            for op in ops.new_async_ops {
                self.new_async_op(op);
            }
            for (id, stats) in ops.stats_update {
                self.apply_async_op_stats(id, &stats);
            }
        }
        let changed = if full { None } else { Some(&changed) };
        let snapshot = Snapshot { long_polls, ..self.snapshot_at(now, changed) };
        self.locations_sent = self.locations.len();
        self.purge(now);
        Update { full, snapshot: Some(snapshot) }
    }

    /// The converted picture at `now`: every task when `changed` is `None`, else those tasks.
    fn snapshot_at(&self, now: u64, changed: Option<&HashSet<u64>>) -> Snapshot {
        let mut tasks: Vec<Task> = match changed {
            None => self.tasks.values().cloned().collect(),
            Some(ids) => ids.iter().filter_map(|id| self.tasks.get(id)).cloned().collect(),
        };
        tasks.sort_by_key(|t| t.id);
        let locations = match changed {
            None => self.locations.clone(),
            Some(_) => self.locations[self.locations_sent..].to_vec(),
        };
        let waits = self.waits();
        let waited: HashSet<u64> = waits.iter().map(|w| w.resource_id).collect();
        let mut resources: Vec<Resource> = self
            .resources
            .iter()
            .filter(|(_, entry)| !entry.dropped)
            .filter(|(id, entry)| waited.contains(id) || always_sent(&entry.resource))
            .map(|(_, entry)| entry.resource.clone())
            .collect();
        resources.sort_by_key(|r| r.id);
        let live = self.tasks.values().filter(|t| t.dropped_nanos == 0).count() as u64;
        Snapshot {
            now_nanos: now,
            locations,
            tasks,
            resources,
            waits,
            stats: Some(AgentStats {
                tasks_live: live,
                spans_dropped_total: self.dropped_events,
                resources_live: self.resources.values().filter(|r| !r.dropped).count() as u64,
                ..AgentStats::default()
            }),
            ..Snapshot::default()
        }
    }

    fn waits(&self) -> Vec<Wait> {
        let live_task = |console_id: u64| {
            self.tasks.get(&console_id).filter(|t| t.dropped_nanos == 0).map(|t| t.id)
        };
        let raw: Vec<(u64, u64, &AsyncOpEntry)> = self
            .async_ops
            .values()
            .filter(|op| !op.dropped && op.polls > 0)
            .filter(|op| self.resources.get(&op.resource_id).is_some_and(|r| !r.dropped))
            .filter_map(|op| Some((live_task(op.task?)?, op.resource_id, op)))
            .collect();
        let pairs: HashSet<(u64, u64)> = raw.iter().map(|(task, res, _)| (*task, *res)).collect();
        let mut seen = HashSet::new();
        let mut waits: Vec<Wait> = raw
            .into_iter()
            .filter_map(|(task_id, resource_id, op)| {
                let resource = &self.resources[&resource_id];
                let resource_id = match resource.parent {
                    // The semaphore inside a lock: the wait on the lock itself says more.
                    Some(parent) if resource.resource.internal => {
                        if pairs.contains(&(task_id, parent)) {
                            return None;
                        }
                        parent
                    }
                    _ => resource_id,
                };
                seen.insert((task_id, resource_id)).then(|| Wait {
                    task_id,
                    resource_id,
                    op: op.source.clone(),
                    since_nanos: op.first_poll_nanos,
                })
            })
            .collect();
        waits.sort_by_key(|w| (w.task_id, w.resource_id));
        waits
    }

    /// Forgets dropped resources and async ops, and finished tasks past their retention.
    fn purge(&mut self, now: u64) {
        self.resources.retain(|_, r| !r.dropped);
        self.async_ops.retain(|_, op| !op.dropped);
        let gone: Vec<u64> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.dropped_nanos != 0 && now.saturating_sub(t.dropped_nanos) > RETAIN_FINISHED_NANOS
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.tasks.remove(&id);
            self.long_poll_seen.remove(&id);
        }
    }

    /// Agent-clock nanoseconds of a console timestamp; 0 for none, at least 1 otherwise.
    fn time(&self, at: Option<&prost_types::Timestamp>) -> u64 {
        let (Some(at), Some(origin)) = (at, self.origin) else { return 0 };
        let since = unix_nanos(at) - origin;
        u64::try_from(since.max(1)).unwrap_or(u64::MAX)
    }

    fn location_id(&mut self, location: Option<&api::Location>) -> u32 {
        let Some(location) = location else { return 0 };
        let Some(file) = location.file.clone().filter(|f| !f.is_empty()) else { return 0 };
        let key = (file, location.line.unwrap_or(0), location.column.unwrap_or(0));
        if let Some(&id) = self.location_ids.get(&key) {
            return id;
        }
        let id = u32::try_from(self.locations.len() + 1).unwrap_or(u32::MAX);
        self.locations.push(Location { id, file: key.0.clone(), line: key.1, col: key.2 });
        self.location_ids.insert(key, id);
        id
    }

    fn field_name<'a>(&'a self, field: &'a api::Field) -> Option<&'a str> {
        match field.name.as_ref()? {
            Name::StrName(name) => Some(name),
            Name::NameIdx(index) => {
                let names = self.field_names.get(&field.metadata_id.as_ref()?.id)?;
                names.get(usize::try_from(*index).ok()?).map(String::as_str)
            }
        }
    }

    fn new_task(&mut self, task: &api::tasks::Task) -> Task {
        let console_id = task.id.as_ref().map_or(0, |id| id.id);
        let mut converted = Task {
            id: console_id,
            kind: if task.kind == api::tasks::task::Kind::Blocking as i32 {
                TaskKind::Blocking as i32
            } else {
                TaskKind::Async as i32
            },
            state: TaskState::Scheduled as i32,
            ..Task::default()
        };
        let mut size = None;
        let mut original_size = None;
        for field in &task.fields {
            let (Some(name), Some(value)) = (self.field_name(field), field.value.as_ref()) else {
                continue;
            };
            match (name, value) {
                ("task.id", Value::U64Val(id)) => converted.id = *id,
                ("task.name", value) => converted.name = text(value),
                ("kind", value) => converted.kind = task_kind(&text(value)) as i32,
                ("size.bytes", Value::U64Val(bytes)) => size = Some(*bytes),
                ("original_size.bytes", Value::U64Val(bytes)) => original_size = Some(*bytes),
                _ => {}
            }
        }
        // tokio boxes a future too large to spawn inline; `original_size` is the future's own.
        converted.size_bytes = original_size.or(size).unwrap_or(0);
        converted.location_id = self.location_id(task.location.as_ref());
        converted
    }

    /// Returns whether the task is known (and so changed).
    fn apply_task_stats(
        &mut self,
        console_id: u64,
        stats: &api::tasks::Stats,
        long_polls: &mut Vec<LongPoll>,
    ) -> bool {
        let poll = stats.poll_stats.unwrap_or_default();
        let created = self.time(stats.created_at.as_ref());
        let dropped = self.time(stats.dropped_at.as_ref());
        let started = self.time(poll.last_poll_started.as_ref());
        let ended = self.time(poll.last_poll_ended.as_ref());
        let last_wake = self.time(stats.last_wake.as_ref());
        let Some(task) = self.tasks.get_mut(&console_id) else { return false };
        task.created_nanos = created;
        task.dropped_nanos = dropped;
        task.polls = poll.polls;
        task.busy_nanos = poll.busy_time.map_or(0, |d| duration_nanos(&d));
        task.last_poll_start_nanos = started;
        task.last_poll_end_nanos = ended;
        task.wakes = stats.wakes;
        task.self_wakes = stats.self_wakes;
        task.last_wake_nanos = last_wake;
        let wakers = i128::from(stats.waker_clones) - i128::from(stats.waker_drops);
        task.waker_count =
            i64::try_from(wakers.clamp(i128::from(i64::MIN), i128::from(i64::MAX))).unwrap_or(0);
        task.state = task_state(task) as i32;
        let threshold = nanos_of(CONSOLE_LONG_POLL_THRESHOLD);
        let ended_poll = started != 0 && ended >= started;
        if ended_poll
            && ended - started >= threshold
            && task.kind != TaskKind::Blocking as i32
            && self.long_poll_seen.get(&console_id) != Some(&started)
        {
            self.long_poll_seen.insert(console_id, started);
            task.long_polls += 1;
            long_polls.push(LongPoll {
                task_id: task.id,
                location_id: task.location_id,
                start_nanos: started,
                duration_nanos: ended - started,
                ..LongPoll::default()
            });
        }
        true
    }

    fn new_resource(&mut self, resource: api::resources::Resource) {
        let Some(id) = resource.id.as_ref().map(|id| id.id) else { return };
        let timer = resource.kind.as_ref().and_then(|k| k.kind.as_ref()).is_some_and(|k| {
            matches!(k, api::resources::resource::kind::Kind::Known(known)
                if *known == api::resources::resource::kind::Known::Timer as i32)
        });
        let kind = if timer { ResourceKind::Timer } else { resource_kind(&resource.concrete_type) };
        let location_id = self.location_id(resource.location.as_ref());
        let converted = Resource {
            id,
            kind: kind as i32,
            // As the agent sends it: `kind` names a oneshot or a timer.
            concrete_type: if matches!(kind, ResourceKind::Oneshot | ResourceKind::Timer) {
                String::new()
            } else {
                resource.concrete_type
            },
            location_id,
            internal: resource.is_internal,
            ..Resource::default()
        };
        let parent = resource.parent_resource_id.map(|p| p.id);
        self.resources.entry(id).or_insert(ResourceEntry {
            resource: converted,
            parent,
            dropped: false,
        });
    }

    fn apply_resource_stats(&mut self, id: u64, stats: &api::resources::Stats) {
        let created = self.time(stats.created_at.as_ref());
        let dropped = stats.dropped_at.is_some();
        let attributes: Vec<(String, Value, Option<String>)> = stats
            .attributes
            .iter()
            .filter_map(|attribute| {
                let field = attribute.field.as_ref()?;
                Some((
                    self.field_name(field)?.to_owned(),
                    field.value.clone()?,
                    attribute.unit.clone(),
                ))
            })
            .collect();
        let Some(entry) = self.resources.get_mut(&id) else { return };
        entry.dropped = dropped;
        let resource = &mut entry.resource;
        resource.created_nanos = created;
        for (name, value, unit) in attributes {
            match (name.as_str(), value) {
                ("locked" | "write_locked", Value::BoolVal(locked)) => resource.locked = locked,
                ("current_readers", Value::U64Val(readers)) => resource.readers = readers,
                ("permits", Value::U64Val(permits)) => {
                    resource.permits = i64::try_from(permits).unwrap_or(i64::MAX);
                }
                ("permits", Value::I64Val(permits)) => resource.permits = permits,
                ("size", Value::U64Val(size)) => resource.barrier_size = size,
                ("arrived", Value::U64Val(arrived)) => resource.barrier_arrived = arrived,
                ("tx_dropped", Value::BoolVal(flag)) => resource.tx_dropped = flag,
                ("rx_dropped", Value::BoolVal(flag)) => resource.rx_dropped = flag,
                ("value_sent", Value::BoolVal(flag)) => resource.value_sent = flag,
                ("value_received", Value::BoolVal(flag)) => resource.value_received = flag,
                ("duration", Value::U64Val(duration)) => {
                    let scale = match unit.as_deref() {
                        Some("ns") => 1,
                        Some("us" | "µs") => 1_000,
                        Some("s") => 1_000_000_000,
                        // tokio reports timer durations in milliseconds.
                        _ => 1_000_000,
                    };
                    resource.timer_duration_nanos = duration.saturating_mul(scale);
                }
                _ => {}
            }
        }
    }

    fn new_async_op(&mut self, op: api::async_ops::AsyncOp) {
        let Some(id) = op.id.as_ref().map(|id| id.id) else { return };
        let entry = self.async_ops.entry(id).or_default();
        entry.resource_id = op.resource_id.map_or(0, |r| r.id);
        entry.source = op.source;
    }

    fn apply_async_op_stats(&mut self, id: u64, stats: &api::async_ops::Stats) {
        let poll = stats.poll_stats.unwrap_or_default();
        let first_poll = self.time(poll.first_poll.as_ref());
        let Some(entry) = self.async_ops.get_mut(&id) else { return };
        entry.dropped = stats.dropped_at.is_some();
        entry.task = stats.task_id.as_ref().map(|t| t.id).or(entry.task);
        entry.polls = poll.polls;
        entry.first_poll_nanos = first_poll;
    }
}

/// Mutexes, rwlocks, barriers and public semaphores are sent whether waited on or not (the agent
/// does the same); timers, oneshots and internal semaphores only while waited on.
fn always_sent(resource: &Resource) -> bool {
    !resource.internal
        && matches!(
            ResourceKind::try_from(resource.kind),
            Ok(ResourceKind::Mutex
                | ResourceKind::RwLock
                | ResourceKind::Barrier
                | ResourceKind::Semaphore)
        )
}

fn task_state(task: &Task) -> TaskState {
    let (started, ended) = (task.last_poll_start_nanos, task.last_poll_end_nanos);
    if task.dropped_nanos != 0 {
        TaskState::Done
    } else if started != 0 && started > ended {
        TaskState::Running
    } else if task.polls == 0 || task.last_wake_nanos > started {
        TaskState::Scheduled
    } else {
        TaskState::Idle
    }
}

fn task_kind(kind: &str) -> TaskKind {
    match kind {
        "blocking" => TaskKind::Blocking,
        "block_on" => TaskKind::BlockOn,
        "local" => TaskKind::Local,
        _ => TaskKind::Async,
    }
}

fn resource_kind(concrete_type: &str) -> ResourceKind {
    match concrete_type {
        "Mutex" => ResourceKind::Mutex,
        "RwLock" => ResourceKind::RwLock,
        "Semaphore" => ResourceKind::Semaphore,
        "Barrier" => ResourceKind::Barrier,
        "Sender|Receiver" => ResourceKind::Oneshot,
        "Sleep" => ResourceKind::Timer,
        _ => ResourceKind::Other,
    }
}

/// A field value as text: strings as they are, the rest as they display.
fn text(value: &Value) -> String {
    match value {
        Value::DebugVal(s) | Value::StrVal(s) => s.clone(),
        Value::U64Val(v) => v.to_string(),
        Value::I64Val(v) => v.to_string(),
        Value::BoolVal(v) => v.to_string(),
    }
}

fn unix_nanos(at: &prost_types::Timestamp) -> i128 {
    i128::from(at.seconds) * 1_000_000_000 + i128::from(at.nanos)
}

fn duration_nanos(duration: &prost_types::Duration) -> u64 {
    let nanos = i128::from(duration.seconds) * 1_000_000_000 + i128::from(duration.nanos);
    u64::try_from(nanos.max(0)).unwrap_or(u64::MAX)
}

/// The earliest timestamp of an update: its `now` and every creation time in it.
fn earliest(update: &api::instrument::Update) -> Option<i128> {
    let tasks = update.task_update.iter().flat_map(|u| u.stats_update.values());
    let resources = update.resource_update.iter().flat_map(|u| u.stats_update.values());
    let ops = update.async_op_update.iter().flat_map(|u| u.stats_update.values());
    update
        .now
        .iter()
        .chain(tasks.filter_map(|s| s.created_at.as_ref()))
        .chain(resources.filter_map(|s| s.created_at.as_ref()))
        .chain(ops.filter_map(|s| s.created_at.as_ref()))
        .map(unix_nanos)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(polls, last poll start, last poll end, last wake, dropped)` in seconds → state.
    fn check_state(
        (polls, started, ended, woken, dropped): (u64, u64, u64, u64, u64),
        expected: TaskState,
    ) {
        let task = Task {
            polls,
            last_poll_start_nanos: started,
            last_poll_end_nanos: ended,
            last_wake_nanos: woken,
            dropped_nanos: dropped,
            ..Task::default()
        };
        assert_eq!(task_state(&task), expected, "{task:?}");
    }

    #[test]
    fn states_follow_poll_and_wake_times() {
        check_state((0, 0, 0, 0, 0), TaskState::Scheduled);
        check_state((1, 5, 0, 0, 0), TaskState::Running);
        check_state((3, 9, 7, 8, 0), TaskState::Running);
        check_state((3, 5, 6, 0, 0), TaskState::Idle);
        check_state((3, 5, 6, 4, 0), TaskState::Idle);
        // A wake at the start of the last poll was that poll's cause; one after it began means
        // the task is on its way back to a worker.
        check_state((3, 5, 6, 5, 0), TaskState::Idle);
        check_state((3, 5, 6, 6, 0), TaskState::Scheduled);
        check_state((3, 5, 6, 0, 9), TaskState::Done);
    }

    fn check_kind(concrete_type: &str, expected: ResourceKind) {
        assert_eq!(resource_kind(concrete_type), expected, "{concrete_type}");
    }

    #[test]
    fn resource_kinds_from_tokio_concrete_types() {
        check_kind("Mutex", ResourceKind::Mutex);
        check_kind("RwLock", ResourceKind::RwLock);
        check_kind("Semaphore", ResourceKind::Semaphore);
        check_kind("Barrier", ResourceKind::Barrier);
        check_kind("Sender|Receiver", ResourceKind::Oneshot);
        check_kind("Sleep", ResourceKind::Timer);
        check_kind("Notify", ResourceKind::Other);
    }

    #[test]
    fn timestamps_count_from_the_first_update() {
        let at = |seconds, nanos| prost_types::Timestamp { seconds, nanos };
        let mut converter = Converter::default();
        let update = converter.apply(api::instrument::Update {
            now: Some(at(1_000, 500)),
            ..api::instrument::Update::default()
        });
        assert!(update.full);
        assert_eq!(update.snapshot.as_ref().map(|s| s.now_nanos), Some(1));
        assert_eq!(converter.time(Some(&at(1_002, 500))), 2_000_000_000);
        assert_eq!(converter.time(Some(&at(999, 0))), 1, "earlier than the origin is clamped");
        assert_eq!(converter.time(None), 0);
        let second = converter.apply(api::instrument::Update::default());
        assert!(!second.full);
    }
}
