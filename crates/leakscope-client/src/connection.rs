//! One connection to a target: the handshake, then snapshots, update streams and task dumps.

use crate::{ClientError, Target};
use leakscope_proto::v1::agent_client::AgentClient;
use leakscope_proto::v1::{
    HelloRequest, HelloResponse, PROTOCOL_VERSION, Snapshot, SnapshotRequest, TaskDumpRequest,
    TaskDumpResponse, Update, WatchRequest,
};
use std::pin::Pin;
use std::time::Duration;
use tokio_stream::{Stream, StreamExt as _};
use tonic::transport::{Channel, Endpoint};

/// How long connecting plus the handshake may take before the target is declared unreachable or
/// not an agent (a port that accepts and never answers must not hang the CLI).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Snapshots of 100k+ tasks are large; tonic's 4 MiB default is far too small.
const MAX_MESSAGE: usize = 1 << 30;

/// What kind of endpoint answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A leakscope agent (the `leakscope` crate).
    Leakscope,
}

/// A stream of updates: the first is always full.
pub type Updates = Pin<Box<dyn Stream<Item = Result<Update, ClientError>> + Send>>;

/// A handshaken connection to a target.
#[derive(Debug, Clone)]
pub struct Connection {
    target: Target,
    hello: HelloResponse,
    agent: AgentClient<Channel>,
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
            let mut agent = AgentClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE);
            let request = HelloRequest {
                client_protocol_version: PROTOCOL_VERSION,
                client: format!("leakscope-client {}", env!("CARGO_PKG_VERSION")),
            };
            match agent.hello(request).await {
                Ok(hello) => Ok((agent, hello.into_inner())),
                Err(status) => Err(ClientError::NotAnAgent {
                    addr: addr.clone(),
                    reason: describe_status(&status),
                }),
            }
        };
        let (agent, hello) = match tokio::time::timeout(limit, handshake).await {
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
        Ok(Connection { target: target.clone(), hello, agent })
    }

    /// The address connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// What kind of endpoint this is.
    pub fn backend(&self) -> Backend {
        Backend::Leakscope
    }

    /// The handshake's answer: version, process, capabilities and what the target cannot collect.
    pub fn hello(&self) -> &HelloResponse {
        &self.hello
    }

    /// Everything the target knows now, including retained finished tasks.
    pub async fn snapshot(&mut self) -> Result<Snapshot, ClientError> {
        let request = SnapshotRequest { include_finished: true };
        match self.agent.get_snapshot(request).await {
            Ok(snapshot) => Ok(snapshot.into_inner()),
            Err(status) => Err(self.request_error("snapshot", &status)),
        }
    }

    /// A full snapshot, then deltas every `interval` (`None`: the agent's default).
    pub async fn watch(&mut self, interval: Option<Duration>) -> Result<Updates, ClientError> {
        let interval_nanos =
            interval.map_or(0, |i| u64::try_from(i.as_nanos()).unwrap_or(u64::MAX));
        let stream = match self.agent.watch(WatchRequest { interval_nanos }).await {
            Ok(stream) => stream.into_inner(),
            Err(status) => return Err(self.request_error("watch", &status)),
        };
        let addr = self.target.to_string();
        Ok(Box::pin(stream.map(move |item| {
            item.map_err(|status| match status.code() {
                tonic::Code::Unavailable | tonic::Code::Cancelled | tonic::Code::Unknown => {
                    ClientError::Disconnected { addr: addr.clone() }
                }
                _ => ClientError::Request {
                    what: "watch",
                    addr: addr.clone(),
                    reason: describe_status(&status),
                },
            })
        })))
    }

    /// Asks for a task dump under `timeout` (the agent enforces it); `Ok(None)` when the target
    /// cannot dump at all (its `Capabilities.task_dump` is false).
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

    /// The raw gRPC client, for requests this type does not wrap.
    pub fn agent(&mut self) -> &mut AgentClient<Channel> {
        &mut self.agent
    }

    fn request_error(&self, what: &'static str, status: &tonic::Status) -> ClientError {
        let addr = self.target.to_string();
        match status.code() {
            tonic::Code::Unavailable => ClientError::Disconnected { addr },
            _ => ClientError::Request { what, addr, reason: describe_status(status) },
        }
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
