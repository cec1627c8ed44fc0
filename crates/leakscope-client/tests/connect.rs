//! Connecting to a real agent over loopback, and the one-line errors for everything else.

use leakscope_client::{ClientError, Connection, Target};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;

fn target(addr: SocketAddr) -> Target {
    Target::parse(&addr.to_string()).unwrap()
}

#[tokio::test]
async fn handshakes_with_an_agent_and_reads_from_it() {
    let agent = leakscope::Builder::new().bind("127.0.0.1:0".parse().unwrap()).try_init().unwrap();
    let target = Target::parse(&format!("http://{}/", agent.local_addr())).unwrap();
    let mut connection = Connection::connect(&target).await.unwrap();
    assert_eq!(connection.hello().pid, std::process::id());
    let snapshot = connection.snapshot().await.unwrap();
    assert!(snapshot.now_nanos > 0);
    let mut updates = connection.watch(Some(Duration::from_millis(50))).await.unwrap();
    let first = updates.next().await.unwrap().unwrap();
    assert!(first.update.unwrap().full, "a watch starts with a full snapshot");
    assert!(!first.more, "a small app's update is one part");
    let second = updates.next().await.unwrap().unwrap();
    assert!(!second.update.unwrap().full);
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Connection::connect(&target(addr)).await.unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    let message = err.to_string();
    assert!(message.starts_with(&format!("cannot connect to {addr}: ")), "{message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
    assert!(!message.contains('\n'));
}

#[tokio::test]
async fn an_http1_server_is_not_an_agent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0; 1024];
            let _ = socket.read(&mut buf).await;
            let reply = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
            let _ = socket.write_all(reply.as_bytes()).await;
        }
    });
    let err = Connection::connect(&target(addr)).await.unwrap_err();
    assert!(matches!(err, ClientError::NotAnAgent { .. }), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[tokio::test]
async fn a_silent_server_times_out_as_not_an_agent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hold, mut release) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut sockets = Vec::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => sockets.extend(accepted.ok()),
                _ = &mut release => break,
            }
        }
    });
    let err =
        Connection::connect_within(&target(addr), Duration::from_millis(500)).await.unwrap_err();
    assert!(matches!(err, ClientError::NotAnAgent { .. }), "{err}");
    assert!(err.to_string().contains("no gRPC answer within 0.5s"), "{err}");
    drop(hold);
}

/// An agent from another leakscope: it answers `Hello` with this protocol version, and nothing
/// else. With a future version, the client must refuse it with one line before asking for
/// anything; with ours, it stands for an older agent of the same protocol that lacks the calls
/// added since (`Aggregate`, `GroupTasks`), which tonic answers `UNIMPLEMENTED`.
struct OtherAgent(u32);

#[tonic::async_trait]
impl leakscope_proto::v1::agent_server::Agent for OtherAgent {
    async fn hello(
        &self,
        _: tonic::Request<leakscope_proto::v1::HelloRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::HelloResponse>, tonic::Status> {
        Ok(tonic::Response::new(leakscope_proto::v1::HelloResponse {
            protocol_version: self.0,
            agent_version: "0.0.9".into(),
            pid: 1,
            ..Default::default()
        }))
    }

    async fn get_snapshot(
        &self,
        _: tonic::Request<leakscope_proto::v1::SnapshotRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::Snapshot>, tonic::Status> {
        Err(tonic::Status::failed_precondition("asked before the handshake"))
    }

    type WatchStream =
        tokio_stream::Empty<Result<leakscope_proto::v1::WatchMessage, tonic::Status>>;

    async fn watch(
        &self,
        _: tonic::Request<leakscope_proto::v1::WatchRequest>,
    ) -> Result<tonic::Response<Self::WatchStream>, tonic::Status> {
        Err(tonic::Status::failed_precondition("asked before the handshake"))
    }

    async fn task_dump(
        &self,
        _: tonic::Request<leakscope_proto::v1::TaskDumpRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::TaskDumpResponse>, tonic::Status> {
        Err(tonic::Status::failed_precondition("asked before the handshake"))
    }

    async fn cpu_profile(
        &self,
        _: tonic::Request<leakscope_proto::v1::CpuProfileRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::CpuProfileResponse>, tonic::Status> {
        Err(tonic::Status::failed_precondition("asked before the handshake"))
    }

    async fn aggregate(
        &self,
        _: tonic::Request<leakscope_proto::v1::AggregateRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::AggregateResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this agent"))
    }

    async fn group_tasks(
        &self,
        _: tonic::Request<leakscope_proto::v1::GroupTasksRequest>,
    ) -> Result<tonic::Response<leakscope_proto::v1::GroupTasksResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this agent"))
    }
}

/// Serves `agent` on a free loopback port.
async fn serve(agent: OtherAgent) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let service = leakscope_proto::v1::agent_server::AgentServer::new(agent);
        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming)
            .await;
    });
    (addr, server)
}

#[tokio::test]
async fn an_agent_without_the_aggregate_call_is_told_to_update() {
    let (addr, server) = serve(OtherAgent(leakscope_proto::v1::PROTOCOL_VERSION)).await;
    let mut connection = Connection::connect(&target(addr)).await.unwrap();
    let err = connection.aggregate(Default::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "aggregate from {addr} failed: the agent (leakscope 0.0.9) does not answer this \
             call, which newer agents have: update the app's leakscope dependency"
        )
    );
    let err = connection.group_tasks(Default::default()).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("group tasks from {addr} failed: the agent")));
    server.abort();
}

#[tokio::test]
async fn an_agent_speaking_another_protocol_version_is_refused() {
    let (addr, server) = serve(OtherAgent(leakscope_proto::v1::PROTOCOL_VERSION + 1)).await;
    let err = Connection::connect(&target(addr)).await.unwrap_err();
    assert!(matches!(err, ClientError::Incompatible { .. }), "{err}");
    let ours = leakscope_proto::v1::PROTOCOL_VERSION;
    assert_eq!(
        err.to_string(),
        format!(
            "incompatible protocol at {addr}: the agent speaks leakscope protocol v{}, this \
             client speaks v{ours}",
            ours + 1
        )
    );
    server.abort();
}
