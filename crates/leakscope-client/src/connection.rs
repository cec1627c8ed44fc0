//! One connection to a target: the handshake, then snapshots, update streams and task dumps.
//!
//! The target is a leakscope agent, or an app running only console-subscriber: when the agent's
//! `Hello` is unimplemented, the connection tries console-api's `Instrument` service and, if that
//! answers, converts its stream (see `console.rs`) so callers read the same messages either way.

use crate::console::{Converter, console_hello};
use crate::{ClientError, Target};
use console_api::instrument::InstrumentRequest;
use console_api::instrument::instrument_client::InstrumentClient;
use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{
    AggregateRequest, AggregateResponse, GroupTasksRequest, GroupTasksResponse, HelloRequest,
    HelloResponse, PROTOCOL_VERSION, Snapshot, SnapshotRequest, TaskDumpRequest, TaskDumpResponse,
    Update, WatchMessage, WatchRequest,
};
use std::pin::Pin;
use std::time::Duration;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::{Channel, Endpoint};

/// How long connecting plus the handshake may take before the target is declared unreachable or
/// not an agent (a port that accepts and never answers must not hang the CLI).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `GetSnapshot` answers hold every task (100k+ tasks is tens of MiB; tonic's 4 MiB default is
/// far too small). `Watch` parts are bounded by the agent, a few MiB each.
const MAX_MESSAGE: usize = 1 << 30;

/// What kind of endpoint answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A leakscope agent (the `leakscope` crate).
    Leakscope,
    /// An app running only console-subscriber: console-api's `Instrument` service, converted.
    /// It has no parent tasks, spawner spans, lock holders, task dumps or runtime metrics, and
    /// its long polls are sampled (see [`Connection::hello`]'s `missing`).
    Console,
}

impl Backend {
    /// `leakscope` or `console`, as the CLI prints it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Leakscope => "leakscope",
            Self::Console => "console",
        }
    }
}

/// A stream of update parts (`WatchMessage`): the first update is always full, and an update of
/// many records arrives as several parts, the last with `more` false. Apply each part as it comes
/// (`Model::apply_part`); `tasks_sent` and `tasks_total` say how far a large update is.
pub type Updates = Pin<Box<dyn Stream<Item = Result<WatchMessage, ClientError>> + Send>>;

/// A handshaken connection to a target.
#[derive(Debug, Clone)]
pub struct Connection {
    target: Target,
    hello: HelloResponse,
    agent: AgentClient<Channel>,
    /// Set when the target is console-subscriber rather than an agent.
    console: Option<InstrumentClient<Channel>>,
}

impl Connection {
    /// Connects to `target` and checks that it speaks a protocol this client understands, all
    /// within [`CONNECT_TIMEOUT`].
    pub async fn connect(target: &Target) -> Result<Self, ClientError> {
        Self::connect_within(target, CONNECT_TIMEOUT).await
    }

    /// [`Connection::connect`] with an explicit time limit.
    pub async fn connect_within(target: &Target, limit: Duration) -> Result<Self, ClientError> {
        let addr = target.to_string();
        let endpoint = Endpoint::from_shared(target.uri())
            .map_err(|err| ClientError::InvalidAddress {
                input: addr.clone(),
                reason: err.to_string(),
            })?
            .connect_timeout(limit);
        let handshake = async {
            let channel = endpoint.connect().await.map_err(|err| ClientError::Unreachable {
                addr: addr.clone(),
                reason: root_cause(&err),
            })?;
            let mut agent = AgentClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            let request = HelloRequest {
                client_protocol_version: PROTOCOL_VERSION,
                client: format!("leakscope-client {}", env!("CARGO_PKG_VERSION")),
            };
            match agent.hello(request).await {
                Ok(hello) => Ok((agent, hello.into_inner(), None)),
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    let console = probe_console(channel, &addr).await?;
                    Ok((agent, console_hello(), Some(console)))
                }
                Err(status) => Err(ClientError::NotAnAgent {
                    addr: addr.clone(),
                    reason: describe_status(&status),
                }),
            }
        };
        let (agent, hello, console) = match tokio::time::timeout(limit, handshake).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(ClientError::NotAnAgent {
                    addr,
                    reason: format!("no gRPC answer within {}s", limit.as_secs_f64()),
                });
            }
        };
        if hello.protocol_version != PROTOCOL_VERSION {
            return Err(ClientError::Incompatible {
                addr,
                theirs: hello.protocol_version,
                ours: PROTOCOL_VERSION,
            });
        }
        Ok(Connection { target: target.clone(), hello, agent, console })
    }

    /// The address connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What kind of endpoint this is.
    pub fn backend(&self) -> Backend {
        if self.console.is_some() { Backend::Console } else { Backend::Leakscope }
    }

    /// The handshake's answer: version, process, capabilities and what the target cannot collect.
    /// For a console-subscriber target it is made up here: console-api has no handshake, so the
    /// pid and process name are unknown (0 and empty), and `missing` lists what console-api
    /// lacks.
    pub fn hello(&self) -> &HelloResponse {
        &self.hello
    }

    /// Everything the target knows now, including retained finished tasks. From
    /// console-subscriber, this is its stream's first (full) update, converted.
    pub async fn snapshot(&mut self) -> Result<Snapshot, ClientError> {
        if self.console.is_some() {
            let mut updates = self.watch(None).await?;
            return match updates.next().await {
                Some(part) => Ok(part?.update.and_then(|u| u.snapshot).unwrap_or_default()),
                None => Err(ClientError::Disconnected { addr: self.target.to_string() }),
            };
        }
        let request = SnapshotRequest { include_finished: true };
        match self.agent.get_snapshot(request).await {
            Ok(snapshot) => Ok(snapshot.into_inner()),
            Err(status) => Err(self.request_error("snapshot", &status)),
        }
    }

    /// A full snapshot, then deltas every `interval` (`None`: the agent's default). A
    /// console-subscriber target publishes on its own interval (1 s unless the app changed it),
    /// so `interval` is ignored there.
    pub async fn watch(&mut self, interval: Option<Duration>) -> Result<Updates, ClientError> {
        if let Some(console) = self.console.as_mut() {
            let stream = match console.watch_updates(InstrumentRequest {}).await {
                Ok(stream) => stream.into_inner(),
                Err(status) => return Err(self.request_error("watch", &status)),
            };
            let addr = self.target.to_string();
            let mut converter = Converter::default();
            // console-api sends each update whole: one part each.
            return Ok(Box::pin(stream.map(move |item| match item {
                Ok(update) => Ok(whole(converter.apply(update))),
                Err(status) => Err(stream_error(&addr, &status)),
            })));
        }
        let interval_nanos =
            interval.map_or(0, |i| u64::try_from(i.as_nanos()).unwrap_or(u64::MAX));
        let request = WatchRequest { interval_nanos, part_records: 0 };
        let stream = match self.agent.watch(request).await {
            Ok(stream) => stream.into_inner(),
            Err(status) => return Err(self.request_error("watch", &status)),
        };
        let addr = self.target.to_string();
        Ok(Box::pin(stream.map(move |item| item.map_err(|status| stream_error(&addr, &status)))))
    }

    /// Asks for a task dump under `timeout` (the agent enforces it); `Ok(None)` when the target
    /// cannot dump at all (its `Capabilities.task_dump` is false, as for console-subscriber).
    pub async fn dump(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<TaskDumpResponse>, ClientError> {
        if !self.hello.capabilities.is_some_and(|c| c.task_dump) {
            return Ok(None);
        }
        let timeout_millis = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        match self.agent.task_dump(TaskDumpRequest { timeout_millis }).await {
            Ok(dump) => Ok(Some(dump.into_inner())),
            Err(status) => Err(self.request_error("task dump", &status)),
        }
    }

    /// The agent's own analysis, made after it followed its updates for the request's window
    /// (`Aggregate` in agent.proto): a report of a few kilobytes whatever the app's size. Only
    /// a leakscope agent that has the call can: for console-subscriber or an older agent, the
    /// error says so.
    pub async fn aggregate(
        &mut self,
        request: AggregateRequest,
    ) -> Result<AggregateResponse, ClientError> {
        self.can_aggregate("aggregate")?;
        match self.agent.aggregate(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.request_error("aggregate", &status)),
        }
    }

    /// A page of one group's tasks, sorted by the agent (`GroupTasks` in agent.proto).
    pub async fn group_tasks(
        &mut self,
        request: GroupTasksRequest,
    ) -> Result<GroupTasksResponse, ClientError> {
        self.can_aggregate("group tasks")?;
        match self.agent.group_tasks(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(self.request_error("group tasks", &status)),
        }
    }

    fn can_aggregate(&self, what: &'static str) -> Result<(), ClientError> {
        match self.console {
            Some(_) => Err(ClientError::Request {
                what,
                addr: self.target.to_string(),
                reason: "console-subscriber does not analyse for its clients; only a leakscope \
                         agent does"
                    .to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The raw gRPC client, for requests this type does not wrap. On a console-subscriber target
    /// its calls fail as unimplemented.
    pub fn agent(&mut self) -> &mut AgentClient<Channel> {
        &mut self.agent
    }

    fn request_error(&self, what: &'static str, status: &tonic::Status) -> ClientError {
        let addr = self.target.to_string();
        match status.code() {
            tonic::Code::Unavailable => ClientError::Disconnected { addr },
            tonic::Code::Unimplemented => ClientError::Request {
                what,
                addr,
                reason: format!(
                    "the agent (leakscope {}) does not answer this call, which newer agents \
                     have: update the app's leakscope dependency",
                    self.hello.agent_version
                ),
            },
            _ => ClientError::Request { what, addr, reason: describe_status(status) },
        }
    }
}

/// An update that travels whole, as the one part of itself.
pub fn whole(update: Update) -> WatchMessage {
    let tasks = update.snapshot.as_ref().map_or(0, |s| s.tasks.len() as u64);
    WatchMessage {
        update: Some(update),
        more: false,
        part: 0,
        tasks_sent: tasks,
        tasks_total: tasks,
        ..WatchMessage::default()
    }
}

/// Asks for console-api's update stream, to tell a console-subscriber app from anything else.
/// The stream is dropped at once: the answer's status is all this needs.
async fn probe_console(
    channel: Channel,
    addr: &str,
) -> Result<InstrumentClient<Channel>, ClientError> {
    let mut console = InstrumentClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    match console.watch_updates(InstrumentRequest {}).await {
        Ok(_) => Ok(console),
        Err(status) if status.code() == tonic::Code::Unimplemented => {
            Err(ClientError::NotAnAgent {
                addr: addr.to_owned(),
                reason: "it serves neither leakscope.v1.Agent nor console-api's Instrument service"
                    .to_owned(),
            })
        }
        Err(status) => {
            Err(ClientError::NotAnAgent { addr: addr.to_owned(), reason: describe_status(&status) })
        }
    }
}

/// An error in the middle of an update stream.
fn stream_error(addr: &str, status: &tonic::Status) -> ClientError {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
            ClientError::Disconnected { addr: addr.to_owned() }
        }
        _ => ClientError::Request {
            what: "watch",
            addr: addr.to_owned(),
            reason: describe_status(status),
        },
    }
}

/// The innermost error message: "Connection refused (os error 111)" rather than "transport error".
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

fn describe_status(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let message = match status.source() {
        Some(source) => root_cause(source),
        None => status.message().to_owned(),
    };
    match status.code() {
        tonic::Code::Unimplemented => "it does not serve leakscope.v1.Agent".to_owned(),
        _ if message.is_empty() => format!("{:?}", status.code()),
        _ => message,
    }
}
