//! The gRPC service, on the agent's own thread and current-thread runtime, which never appear in
//! the agent's data.

use crate::builder::Config;
use crate::collect::{self, Collector, StreamGuard, WatchState};
use crate::follow::Follower;
use crate::{Error, aggregate, clock, cpu, dump};
use leakscope_proto::v1::agent_server::{Agent, AgentServer};
use leakscope_proto::v1::{
    AgentConfig, AggregateRequest, AggregateResponse, CpuProfileRequest, CpuProfileResponse,
    GroupTasksRequest, GroupTasksResponse, HelloRequest, HelloResponse, PROTOCOL_VERSION, Snapshot,
    SnapshotRequest, TaskDumpRequest, TaskDumpResponse, WatchMessage, WatchRequest,
};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

static STARTED: AtomicBool = AtomicBool::new(false);

/// Largest message the agent sends: a snapshot of a few hundred thousand tasks.
pub(crate) const MAX_MESSAGE_BYTES: usize = 512 << 20;

/// Installs the collector, binds, and starts the agent thread. Returns the bound addresses: the
/// gRPC service's, and the HTTP endpoints' when they were asked for.
pub(crate) fn start(config: Config) -> Result<(SocketAddr, Option<SocketAddr>), Error> {
    if STARTED.swap(true, Ordering::AcqRel) {
        return Err(Error::AlreadyRunning);
    }
    let result = start_once(config);
    if result.is_err() {
        STARTED.store(false, Ordering::Release);
    }
    result
}

fn start_once(config: Config) -> Result<(SocketAddr, Option<SocketAddr>), Error> {
    let listener = std::net::TcpListener::bind(config.bind)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| Error::Bind { addr: config.bind, source })?;
    let local_addr =
        listener.local_addr().map_err(|source| Error::Bind { addr: config.bind, source })?;
    // Bound before the collector is taken, which cannot be undone if binding fails.
    let http = crate::http::bind(&config)?;
    let http_addr = http.as_ref().map(crate::http::Listener::local_addr);
    let extra = take_collector(&config)?;
    let collector = Arc::new(Mutex::new(Collector::new(config)));
    std::thread::Builder::new()
        .name("leakscope-agent".into())
        .spawn(move || serve(listener, collector, extra, http))
        .map_err(Error::Thread)?;
    Ok((local_addr, http_addr))
}

/// Whether the collector is installed, and what serving still needs from its installation.
enum Installed {
    No,
    /// Installed; the parts the server needs until a server takes them.
    Yes(Option<Extra>),
    /// Another global tracing subscriber was there first; that never changes.
    Refused,
}

static INSTALLED: Mutex<Installed> = Mutex::new(Installed::No);

/// Installs the collector (the registry and the global tracing subscriber) once per process,
/// without serving. Later calls, and a later [`start`], reuse it.
pub(crate) fn install(config: &Config) -> Result<(), Error> {
    let mut installed = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    match *installed {
        Installed::No => match install_collector(config) {
            Ok(extra) => {
                clock::now();
                *installed = Installed::Yes(Some(extra));
                Ok(())
            }
            Err(err) => {
                *installed = Installed::Refused;
                Err(err)
            }
        },
        Installed::Yes(_) => Ok(()),
        Installed::Refused => Err(Error::SubscriberTaken),
    }
}

/// Installs the collector if needed and takes what the server needs from it.
fn take_collector(config: &Config) -> Result<Extra, Error> {
    install(config)?;
    match &mut *INSTALLED.lock().unwrap_or_else(PoisonError::into_inner) {
        Installed::Yes(extra) => extra.take().ok_or(Error::AlreadyRunning),
        Installed::No | Installed::Refused => Err(Error::SubscriberTaken),
    }
}

/// What the `console` feature adds to the server: console-api's service and aggregator.
#[cfg(all(tokio_unstable, feature = "console"))]
type Extra = crate::console::ConsoleParts;
/// Nothing: without the feature the agent serves only its own service.
#[cfg(not(all(tokio_unstable, feature = "console")))]
struct Extra;

#[cfg(tokio_unstable)]
fn install_collector(config: &Config) -> Result<Extra, Error> {
    crate::capture::set_enabled(config.wait_capture);
    let registry = crate::registry::install(
        config.long_poll_threshold.as_nanos() as u64,
        config.retain_finished_max,
    );
    #[cfg(feature = "console")]
    return crate::console::install(registry, &config.adoption);
    #[cfg(not(feature = "console"))]
    {
        crate::adopt::install(registry, &config.adoption)?;
        Ok(Extra)
    }
}

#[cfg(not(tokio_unstable))]
fn install_collector(config: &Config) -> Result<Extra, Error> {
    crate::adopt::install_stable(&config.adoption)?;
    Ok(Extra)
}

fn serve(
    listener: std::net::TcpListener,
    collector: Arc<Mutex<Collector>>,
    extra: Extra,
    http: Option<crate::http::Listener>,
) {
    #[cfg(tokio_unstable)]
    crate::subscriber::mark_agent_thread();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!(
                "leakscope: failed to start the agent runtime: {err}; no data will be served"
            );
            return;
        }
    };
    runtime.block_on(async move {
        // Every registered runtime gets a heartbeat, including one registered later.
        tokio::spawn(async {
            let mut ticker = tokio::time::interval(crate::runtime::HEARTBEAT_PERIOD);
            loop {
                ticker.tick().await;
                crate::runtime::start_heartbeats();
                #[cfg(tokio_unstable)]
                crate::restate::rebuild_if_learned();
            }
        });
        // One model for every client the agent analyses for; `/metrics` keeps it for good.
        let follower = Arc::new(Follower::new(collector.clone(), http.is_some()));
        if let Some(http) = http {
            tokio::spawn(crate::http::serve(http, follower.clone()));
        }
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(err) => {
                eprintln!("leakscope: failed to listen: {err}; no data will be served");
                return;
            }
        };
        let service = AgentServer::new(Service { collector, follower })
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
            .max_decoding_message_size(1 << 20);
        let incoming = TcpListenerStream::new(listener);
        #[cfg(all(tokio_unstable, feature = "console"))]
        let served = crate::console::serve(service, extra, incoming).await;
        #[cfg(not(all(tokio_unstable, feature = "console")))]
        let served = {
            let Extra = extra;
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(incoming)
                .await
        };
        if let Err(err) = served {
            eprintln!("leakscope: the agent's server stopped: {err}");
        }
    });
}

struct Service {
    collector: Arc<Mutex<Collector>>,
    follower: Arc<Follower>,
}

impl Service {
    fn with<R>(&self, f: impl FnOnce(&mut Collector) -> R) -> R {
        f(&mut self.collector.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[tonic::async_trait]
impl Agent for Service {
    async fn hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        let config = self.with(|c| c.config().clone());
        Ok(Response::new(hello(&config)))
    }

    async fn get_snapshot(
        &self,
        request: Request<SnapshotRequest>,
    ) -> Result<Response<Snapshot>, Status> {
        let include_finished = request.into_inner().include_finished;
        Ok(Response::new(self.with(|c| c.snapshot(include_finished))))
    }

    type WatchStream = ReceiverStream<Result<WatchMessage, Status>>;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let request = request.into_inner();
        let interval = match request.interval_nanos {
            0 => self.with(|c| c.config().watch_interval),
            n => Duration::from_nanos(n).max(Duration::from_millis(10)),
        };
        let part_records = match request.part_records {
            0 => collect::DEFAULT_PART_RECORDS,
            n => n as usize,
        };
        // A small buffer: the agent builds a part only when the client has taken the one before
        // but one, so a large update costs a client two parts of memory at a time, and a client
        // that cannot keep up between updates gets a full snapshot when it catches up, rather
        // than an ever-growing queue in the app.
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(stream_updates(self.collector.clone(), tx, interval, part_records));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn task_dump(
        &self,
        request: Request<TaskDumpRequest>,
    ) -> Result<Response<TaskDumpResponse>, Status> {
        let millis = request.into_inner().timeout_millis;
        let timeout =
            if millis == 0 { dump::DEFAULT_TIMEOUT } else { Duration::from_millis(millis) };
        Ok(Response::new(dump::take(timeout).await))
    }

    async fn cpu_profile(
        &self,
        request: Request<CpuProfileRequest>,
    ) -> Result<Response<CpuProfileResponse>, Status> {
        Ok(Response::new(cpu::profile(request.into_inner()).await))
    }

    async fn aggregate(
        &self,
        request: Request<AggregateRequest>,
    ) -> Result<Response<AggregateResponse>, Status> {
        let interval = self.with(|c| c.config().watch_interval);
        aggregate::aggregate(&self.follower, request.into_inner(), interval)
            .await
            .map(Response::new)
    }

    async fn group_tasks(
        &self,
        request: Request<GroupTasksRequest>,
    ) -> Result<Response<GroupTasksResponse>, Status> {
        let interval = self.with(|c| c.config().watch_interval);
        Ok(Response::new(aggregate::tasks(&self.follower, request.into_inner(), interval).await))
    }
}

/// The handshake's answer: who the agent is, what this build can collect and what it cannot.
/// Also what the agent's own analysis model takes as its `Hello` (`follow.rs`), so that its
/// report names the same sources and build facts as a client's.
pub(crate) fn hello(config: &Config) -> HelloResponse {
    let (capabilities, mut missing) = collect::capabilities();
    let build = crate::probe::build_facts();
    if !cfg!(feature = "cpu") {
        missing.push("CPU profiles: the app built leakscope without its `cpu` feature".to_owned());
    } else if !cpu::SUPPORTED {
        missing.push("CPU profiles: they need Linux on x86_64 or aarch64".to_owned());
    } else if capabilities.frame_pointers
        == leakscope_proto::v1::capabilities::Presence::Absent as i32
    {
        missing.push(
            "CPU profile stacks: the app was built without frame pointers, so samples stop \
             at their first frame (-C force-frame-pointers=yes)"
                .to_owned(),
        );
    }
    HelloResponse {
        protocol_version: PROTOCOL_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        process_name: process_name(),
        origin_unix_nanos: clock::origin_unix_nanos(),
        capabilities: Some(capabilities),
        missing,
        config: Some(AgentConfig {
            long_poll_threshold_nanos: config.long_poll_threshold.as_nanos() as u64,
            retain_finished_max: config.retain_finished_max as u32,
            retain_finished_nanos: config.retain_finished_for.as_nanos() as u64,
            watch_interval_nanos: config.watch_interval.as_nanos() as u64,
            stall_threshold_nanos: crate::runtime::STALL_THRESHOLD.as_nanos() as u64,
        }),
        runtimes: crate::runtime::metrics(),
        tokio_version: build.tokio_version.clone(),
        tokio_minimum: crate::probe::TOKIO_MINIMUM.to_owned(),
    }
}

/// The share of one core a `Watch` stream may take from the app to build its updates: at a
/// million tasks a delta takes the agent's thread about 0.2 s, every 500 ms by default, so
/// deltas are spaced out until building them takes no more than this (see [`pace`]). A full
/// update, paid once per client, sets no pace.
const WATCH_WORK_SHARE: u32 = 10;
/// The longest a stream waits between updates because of [`WATCH_WORK_SHARE`]: clients count a
/// target as silent after 10 s without a message.
const MAX_WATCH_PACE: Duration = Duration::from_secs(5);

/// How long to wait before the next update when the last one took `work` to build, if longer
/// than the stream's `interval`: enough that building takes at most 1/[`WATCH_WORK_SHARE`] of
/// the time, and no more than [`MAX_WATCH_PACE`].
pub(crate) fn pace(interval: Duration, work: Duration) -> Option<Duration> {
    let paced = work.saturating_mul(WATCH_WORK_SHARE - 1).min(MAX_WATCH_PACE);
    (paced > interval).then_some(paced)
}

/// Sends one client's `Watch` updates, each in parts, until the client leaves.
///
/// Each part is built under the collector's lock and sent with the lock released; awaiting the
/// send lets the agent's runtime serve other clients (and `Hello`) in between, so a client
/// connecting while a 1M-task update streams is answered at once. When the client leaves, tonic
/// drops the stream's receiver, the next send fails and this task returns: the plan, its keys and
/// the stream's state are freed with it.
async fn stream_updates(
    collector: Arc<Mutex<Collector>>,
    tx: mpsc::Sender<Result<WatchMessage, Status>>,
    interval: Duration,
    part_records: usize,
) {
    let lock = || collector.lock().unwrap_or_else(PoisonError::into_inner);
    let mut guard = StreamGuard::new();
    let mut state = WatchState::default();
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lagged = false;
    loop {
        ticker.tick().await;
        if tx.is_closed() {
            return;
        }
        // The client has not read the last update's final parts yet: skip this tick. The next
        // delta is against what was sent, so it covers the ticks skipped.
        if tx.capacity() == 0 {
            if !lagged {
                collect::note_lagged();
            }
            lagged = true;
            continue;
        }
        let building = crate::clock::WorkTimer::start();
        let mut plan = lock().begin(&mut state, part_records);
        let full = plan.is_full();
        let mut work = building.elapsed();
        guard.hold(state.memory_bytes() + plan.memory_bytes());
        lagged = false;
        loop {
            let building = crate::clock::WorkTimer::start();
            let part = lock().next_part(&mut plan);
            work += building.elapsed();
            let Some(part) = part else { break };
            if tx.send(Ok(part)).await.is_err() {
                return;
            }
            // A client that reads as fast as parts come never makes `send` wait: yield anyway,
            // so that `Hello` and the other streams get the thread between parts.
            tokio::task::yield_now().await;
        }
        guard.hold(state.memory_bytes());
        // A full update is paid once per client (or after a lag): only deltas set the pace.
        if let Some(wait) = pace(interval, work).filter(|_| !full) {
            ticker.reset_after(wait);
        }
    }
}

fn process_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{MAX_WATCH_PACE, pace};
    use std::time::Duration;

    #[test]
    fn updates_are_spaced_out_only_when_building_them_takes_a_tenth_of_the_interval() {
        let interval = Duration::from_millis(500);
        // 100k tasks: an update builds in about 20 ms; the interval stands.
        assert_eq!(pace(interval, Duration::from_millis(20)), None);
        assert_eq!(pace(interval, Duration::from_millis(55)), None);
        // 1M tasks: about 0.2 s, so the next one comes 1.8 s later (a tenth of the time).
        assert_eq!(pace(interval, Duration::from_millis(200)), Some(Duration::from_millis(1800)));
        // Never so long that a client counts the target as silent.
        assert_eq!(pace(interval, Duration::from_secs(3)), Some(MAX_WATCH_PACE));
        // A client asking for slower updates than that is not sped up.
        assert_eq!(pace(Duration::from_secs(10), Duration::from_secs(3)), None);
    }
}
