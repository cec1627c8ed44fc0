//! Asking the instrumentation what it sees, as its own client would: leakscope's `Agent` service
//! through `leakscope-client`, the CLI's own connection (handshake, protocol check, message
//! limits), and console-api's `Instrument` stream folded as tokio-console folds it.

use crate::instrument::{Installed, Unavailable};
use crate::report::Report;
use anyhow::{Context as _, bail};
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::instrument::{InstrumentRequest, Update};
use leakscope_client::{Connection, Target};
use leakscope_proto::v1::{AgentStats, Snapshot, SnapshotRequest};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tonic::transport::Channel;

/// console-api updates can be large; the CLI raises its limit the same way.
const MAX_MESSAGE_BYTES: usize = 512 << 20;
/// A view counts as settled once this many consecutive reads agree.
const STABLE_READS: usize = 3;

/// The `hello` workload: whether the leakscope agent serves console-api (its `console` feature).
pub(crate) async fn hello(installed: Installed) -> anyhow::Result<Report> {
    let Some(addr) = installed.agent else {
        return Err(Unavailable("hello needs a leakscope mode").into());
    };
    let connection = connect(addr).await?;
    let hello = connection.hello();
    let capabilities = hello.capabilities.unwrap_or_default();
    Ok(Report::new(if capabilities.console_api { 1.0 } else { 0.0 }, "console_api")
        .with("tasks", capabilities.tasks)
        .with("missing", hello.missing.clone()))
}

/// The CLI's connection to the agent at `addr`.
async fn connect(addr: SocketAddr) -> anyhow::Result<Connection> {
    let target = Target::parse(&addr.to_string())?;
    Connection::connect(&target)
        .await
        .with_context(|| format!("failed to connect to the leakscope agent at {addr}"))
}

/// `GetSnapshot` of the live tasks only, on the CLI's connection.
async fn live_snapshot(connection: &mut Connection) -> anyhow::Result<Snapshot> {
    Ok(connection
        .agent()
        .get_snapshot(SnapshotRequest { include_finished: false })
        .await
        .context("failed to call GetSnapshot")?
        .into_inner())
}

/// The agent's `AgentStats` (its counts of what it could not keep among them) and how many live
/// tasks it lists spawned in a file ending with `file_suffix`, read after a workload through
/// `GetSnapshot`, as the CLI reads them.
pub(crate) async fn agent_stats(
    addr: SocketAddr,
    file_suffix: &str,
) -> anyhow::Result<(AgentStats, u64)> {
    let mut connection = connect(addr).await?;
    let snapshot = live_snapshot(&mut connection).await?;
    let alive_at = alive_at(&snapshot, file_suffix);
    let stats = snapshot.stats.context("the snapshot carries no AgentStats")?;
    Ok((stats, alive_at))
}

/// Live tasks (`dropped_nanos == 0`) in a snapshot spawned in a file ending with `file_suffix`.
fn alive_at(snapshot: &Snapshot, file_suffix: &str) -> u64 {
    let at: HashSet<u32> =
        snapshot.locations.iter().filter(|l| l.file.ends_with(file_suffix)).map(|l| l.id).collect();
    snapshot.tasks.iter().filter(|t| t.dropped_nanos == 0 && at.contains(&t.location_id)).count()
        as u64
}

/// console-subscriber's largest update; it does not send a new watcher a first update above it.
const CONSOLE_MAX_UPDATE_BYTES: usize = 4 << 20;

/// What a tokio-console attaching after a workload is shown first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsoleFirst {
    /// Events console-subscriber says it dropped. A lower bound: it resets its count whenever it
    /// builds an update, including a first update it then finds too large to send.
    pub(crate) dropped_events: u64,
    /// The count is known to be incomplete: the update received is larger than console-subscriber
    /// sends as a first update, so an earlier, unsent one took part of the count.
    pub(crate) dropped_events_incomplete: bool,
    /// Live tasks shown spawned in a file ending with the given suffix.
    pub(crate) alive_at: u64,
    /// The update's encoded size.
    pub(crate) bytes: usize,
}

/// Opens a console-api `WatchUpdates` stream after a workload and folds its first update as
/// tokio-console would. console-subscriber makes updates only while a client watches, so the first
/// one carries every event it dropped since it started. `None` when no update came within `limit`.
pub(crate) async fn console_first_update(
    addr: SocketAddr,
    file_suffix: &str,
    limit: Duration,
) -> anyhow::Result<Option<ConsoleFirst>> {
    let mut client = connect_console(addr, limit).await?;
    let first = tokio::time::timeout(limit, async {
        let mut stream = client
            .watch_updates(InstrumentRequest {})
            .await
            .context("failed to call WatchUpdates")?
            .into_inner();
        stream.message().await.context("failed to read the first update")
    })
    .await;
    let update = match first {
        Ok(Ok(Some(update))) => update,
        Ok(Ok(None)) | Err(_) => return Ok(None),
        Ok(Err(err)) => return Err(err),
    };
    let bytes = prost::Message::encoded_len(&update);
    let mut state = ConsoleState::default();
    state.apply(update, file_suffix);
    Ok(Some(ConsoleFirst {
        dropped_events: state.dropped_events,
        dropped_events_incomplete: bytes >= CONSOLE_MAX_UPDATE_BYTES,
        alive_at: state.alive_at,
        bytes,
    }))
}

/// Task, resource and async-op events an update says were dropped.
fn dropped_events(update: &Update) -> u64 {
    update.task_update.as_ref().map_or(0, |u| u.dropped_events)
        + update.resource_update.as_ref().map_or(0, |u| u.dropped_events)
        + update.async_op_update.as_ref().map_or(0, |u| u.dropped_events)
}

/// What the leakscope agent reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LeakscopeView {
    /// Live tasks (`dropped_nanos == 0`) spawned in a file ending with the given suffix.
    pub(crate) alive_at: u64,
}

/// Reads `GetSnapshot` until [`STABLE_READS`] reads agree, or `limit` passes.
pub(crate) async fn leakscope_settled(
    addr: SocketAddr,
    file_suffix: &str,
    limit: Duration,
) -> anyhow::Result<(LeakscopeView, bool)> {
    let mut connection = connect(addr).await?;
    let until = Instant::now() + limit;
    let mut reads: Vec<LeakscopeView> = Vec::new();
    loop {
        let snapshot = live_snapshot(&mut connection).await?;
        let alive_at = alive_at(&snapshot, file_suffix);
        reads.push(LeakscopeView { alive_at });
        let last = reads[reads.len() - 1];
        if reads.len() >= STABLE_READS
            && reads[reads.len() - STABLE_READS..].iter().all(|r| *r == last)
        {
            return Ok((last, true));
        }
        if Instant::now() >= until {
            return Ok((last, false));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What tokio-console would show, rebuilt from console-api's `Instrument.WatchUpdates` stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConsoleView {
    /// Tasks shown alive (no `dropped_at`) spawned in a file ending with the given suffix.
    pub(crate) alive_at: u64,
    /// Tasks shown alive anywhere.
    pub(crate) alive: u64,
    /// `dropped_events` of every update (tasks, resources, async ops) summed: events
    /// console-subscriber says it lost since it started.
    pub(crate) dropped_events: u64,
    /// Updates received after the burst.
    pub(crate) updates: usize,
    /// The count stopped changing before the limit.
    pub(crate) settled: bool,
    /// From the end of the burst to the last update read.
    pub(crate) waited: Duration,
}

/// A console-api watch started before the workload, as a tokio-console attached to the app.
pub(crate) struct ConsoleWatch {
    go: oneshot::Sender<()>,
    view: tokio::task::JoinHandle<anyhow::Result<ConsoleView>>,
}

impl ConsoleWatch {
    /// Connects to console-subscriber at `addr` (its server may still be starting) and returns
    /// once the first update has arrived.
    pub(crate) async fn start(
        addr: SocketAddr,
        file_suffix: &'static str,
        limit: Duration,
    ) -> anyhow::Result<Self> {
        let mut client = connect_console(addr, Duration::from_secs(10)).await?;
        let mut stream = client
            .watch_updates(InstrumentRequest {})
            .await
            .context("failed to call WatchUpdates")?
            .into_inner();
        let mut state = ConsoleState::default();
        let first = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .context("console-subscriber sent no first update")??
            .context("console-subscriber closed the watch")?;
        state.apply(first, file_suffix);
        let (go, mut go_rx) = oneshot::channel::<()>();
        let view = tokio::spawn(async move {
            // Until told the workload is in place, only keep up with the stream.
            loop {
                tokio::select! {
                    _ = &mut go_rx => break,
                    update = stream.message() => match update? {
                        Some(update) => state.apply(update, file_suffix),
                        None => bail!("console-subscriber closed the watch"),
                    },
                }
            }
            let from = Instant::now();
            let until = from + limit;
            let mut counts = Vec::new();
            let mut last_read = from;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                let Ok(update) = tokio::time::timeout(left, stream.message()).await else {
                    return Ok(state.view(&counts, false, last_read - from));
                };
                last_read = Instant::now();
                match update? {
                    Some(update) => state.apply(update, file_suffix),
                    None => bail!("console-subscriber closed the watch"),
                }
                counts.push(state.alive_at);
                let last = counts[counts.len() - 1];
                if counts.len() >= STABLE_READS
                    && counts[counts.len() - STABLE_READS..].iter().all(|c| *c == last)
                {
                    return Ok(state.view(&counts, true, last_read - from));
                }
            }
        });
        Ok(Self { go, view })
    }

    /// Tells the watch the workload is in place and waits for tokio-console's view to settle.
    pub(crate) async fn finish(self) -> anyhow::Result<ConsoleView> {
        let _ = self.go.send(());
        self.view.await.context("the console watch task failed")?
    }
}

async fn connect_console(
    addr: SocketAddr,
    limit: Duration,
) -> anyhow::Result<InstrumentClient<Channel>> {
    let until = Instant::now() + limit;
    loop {
        match InstrumentClient::connect(format!("http://{addr}")).await {
            Ok(client) => return Ok(client.max_decoding_message_size(MAX_MESSAGE_BYTES)),
            Err(err) if Instant::now() >= until => {
                return Err(err)
                    .with_context(|| format!("failed to connect to console-subscriber at {addr}"));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// tokio-console's task table, reduced to what the count needs. Like tokio-console's
/// `TasksState::update_tasks`, a new task is kept only if its metadata is known and its stats came
/// in the same update, and stats for a task it does not hold are ignored.
#[derive(Default)]
struct ConsoleState {
    metas: HashSet<u64>,
    /// Span id to (spawned at the suffix, dropped).
    tasks: HashMap<u64, (bool, bool)>,
    alive_at: u64,
    dropped_events: u64,
}

impl ConsoleState {
    fn apply(&mut self, update: Update, file_suffix: &str) {
        self.dropped_events += dropped_events(&update);
        if let Some(metadata) = update.new_metadata {
            self.metas.extend(metadata.metadata.iter().filter_map(|m| m.id.map(|id| id.id)));
        }
        let Some(tasks) = update.task_update else {
            return;
        };
        let mut stats = tasks.stats_update;
        for task in tasks.new_tasks {
            let (Some(id), Some(meta)) = (task.id, task.metadata) else {
                continue;
            };
            if !self.metas.contains(&meta.id) {
                continue;
            }
            let Some(task_stats) = stats.remove(&id.id) else {
                continue;
            };
            let at =
                task.location.and_then(|l| l.file).is_some_and(|file| file.ends_with(file_suffix));
            self.tasks.insert(id.id, (at, task_stats.dropped_at.is_some()));
        }
        for (id, task_stats) in stats {
            if let Some(entry) = self.tasks.get_mut(&id) {
                entry.1 = task_stats.dropped_at.is_some();
            }
        }
        self.alive_at = self.tasks.values().filter(|(at, dropped)| *at && !dropped).count() as u64;
    }

    fn view(&self, counts: &[u64], settled: bool, waited: Duration) -> ConsoleView {
        ConsoleView {
            alive_at: self.alive_at,
            alive: self.tasks.values().filter(|(_, dropped)| !dropped).count() as u64,
            dropped_events: self.dropped_events,
            updates: counts.len(),
            settled,
            waited,
        }
    }
}
