//! The listener and the connections: one request per connection, a bounded request head read
//! under a timeout, at most [`MAX_CONNECTIONS`] at once, and a request abandoned as soon as its
//! client goes away (a CPU profile stops sampling then).
//!
//! A hand-written HTTP/1.x server rather than hyper's: the endpoints answer a handful of GETs from
//! scrapers, and this keeps the library apps link free of another HTTP stack.

use super::request::{self, Response};
use super::routes::State;
use crate::Error;
use crate::builder::Config;
use crate::follow::Follower;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::ReadHalf;

/// Largest request head (request line and headers) read; a longer one is answered 431.
pub(crate) const MAX_HEAD_BYTES: usize = 8 << 10;
/// Time a client has to send its request head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Time a client has to take the answer.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more are answered 503 at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;

/// A bound HTTP listener, waiting for the agent thread.
#[derive(Debug)]
pub(crate) struct Listener {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl Listener {
    /// The address it is bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Binds the HTTP listener when the configuration asks for one (the loopback rule was checked
/// with the gRPC address, in `Builder::try_init`).
pub(crate) fn bind(config: &Config) -> Result<Option<Listener>, Error> {
    let Some(addr) = config.http.bind else { return Ok(None) };
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| Error::Bind { addr, source })?;
    let addr = listener.local_addr().map_err(|source| Error::Bind { addr, source })?;
    Ok(Some(Listener { listener, addr }))
}

/// Serves until the process ends. Runs on the agent's runtime.
pub(crate) async fn serve(listener: Listener, follower: Arc<Follower>) {
    let listener = match tokio::net::TcpListener::from_std(listener.listener) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("leakscope: failed to serve HTTP: {err}; /metrics will not be served");
            return;
        }
    };
    let state = Arc::new(State::new(follower));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, or a connection reset before it was accepted: wait a
            // little rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = state.clone();
        let permit = slots.clone().try_acquire_owned();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match permit {
                Ok(_permit) => connection(stream, &state).await,
                Err(_) => {
                    let busy = Response::error(503, "too many connections: try again shortly");
                    respond(stream, &busy, false).await;
                }
            }
        });
    }
}

async fn connection(mut stream: TcpStream, state: &State) {
    let head = match tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(Some(answer))) => return respond(stream, &answer, false).await,
        Ok(Err(None)) => return,
        Err(_) => {
            let secs = HEAD_TIMEOUT.as_secs();
            let slow = Response::error(
                408,
                format_args!("request timeout: send the request head within {secs} s"),
            );
            return respond(stream, &slow, false).await;
        }
    };
    let request = match request::parse(&head) {
        Ok(request) => request,
        Err(answer) => return respond(stream, &answer, false).await,
    };
    let (mut reader, _) = stream.split();
    let response = tokio::select! {
        response = state.route(&request) => response,
        // Dropping the route's future stops its work (a CPU profile's sampling).
        () = gone(&mut reader) => return,
    };
    respond(stream, &response, request.head_only).await;
}

/// Reads up to the end of the request head. `Err(Some(answer))` for a head that is too large,
/// `Err(None)` when the client left.
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, Option<Response>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0_u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        // Search only where the new bytes could complete the blank line.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = request::head_end(&buf[from..]) {
            buf.truncate(from + end);
            return Ok(buf);
        }
        if buf.len() > MAX_HEAD_BYTES {
            let limit = MAX_HEAD_BYTES >> 10;
            return Err(Some(Response::error(
                431,
                format_args!("request head too large: at most {limit} KiB"),
            )));
        }
    }
}

/// Resolves when the client closes its side or the connection fails. Whatever else it sends
/// (a pipelined request, a body) is read and dropped: one request per connection.
async fn gone(reader: &mut ReadHalf<'_>) {
    let mut scratch = [0_u8; 512];
    while let Ok(n) = reader.read(&mut scratch).await {
        if n == 0 {
            return;
        }
    }
}

async fn respond(mut stream: TcpStream, response: &Response, head_only: bool) {
    let write = async {
        stream.write_all(response.head().as_bytes()).await?;
        if !head_only {
            stream.write_all(&response.body).await?;
        }
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(WRITE_TIMEOUT, write).await;
}
