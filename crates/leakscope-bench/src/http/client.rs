//! The load generator (`--role client`): a separate, uninstrumented process holding a fixed number
//! of keep-alive connections for a fixed time, one request in flight on each.

use crate::cli::Args;
use crate::http::parse::{self, Parsed};
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Upper bound on requests per connection, so that a run stops by count as well as by time.
const MAX_REQUESTS_PER_CONNECTION: u64 = 10_000_000;

/// What the load generator prints on stdout, as one JSON line.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub(crate) struct Outcome {
    /// Requests answered with 200 inside the counted window.
    pub(crate) requests: u64,
    /// Requests answered in all, warm-up included.
    pub(crate) total: u64,
    /// Length of the counted window.
    pub(crate) seconds: f64,
    /// Connections that failed (refused, reset, a malformed or non-200 answer).
    pub(crate) errors: u64,
}

/// Runs the client role: on one thread (the other core is the server's), loads `--addr` through
/// `--connections` connections for `--warmup-ms` uncounted and `--seconds` counted.
pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let addr = args.addr.context("--role client needs --addr")?;
    let warmup = Duration::from_millis(args.warmup_ms);
    let measure = args.measure_time();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the client runtime")?;
    let outcome = runtime.block_on(load(addr, args.connections.max(1), warmup, measure))?;
    println!("{}", serde_json::to_string(&outcome)?);
    Ok(())
}

async fn load(
    addr: SocketAddr,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> anyhow::Result<Outcome> {
    let start = Instant::now();
    let counted_from = start + warmup;
    let until = counted_from + measure;
    let tasks: Vec<_> =
        (0..connections).map(|n| tokio::spawn(connection(addr, n, counted_from, until))).collect();
    let mut requests = 0;
    let mut total = 0;
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok(Ok((counted, answered))) => {
                requests += counted;
                total += answered;
            }
            Ok(Err(_)) | Err(_) => errors += 1,
        }
    }
    if requests == 0 {
        bail!("no request was answered ({errors} of {connections} connections failed)");
    }
    Ok(Outcome { requests, total, seconds: measure.as_secs_f64(), errors })
}

/// Sends requests one after another until `until`; returns the answers that arrived inside
/// `[counted_from, until)`, and all answers.
async fn connection(
    addr: SocketAddr,
    n: usize,
    counted_from: Instant,
    until: Instant,
) -> anyhow::Result<(u64, u64)> {
    let mut socket = TcpStream::connect(addr).await.context("failed to connect")?;
    socket.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    let mut counted = 0;
    let mut answered = 0;
    for i in 0..MAX_REQUESTS_PER_CONNECTION {
        let request = format!("GET /items/{n}/{i} HTTP/1.1\r\nHost: bench\r\n\r\n");
        socket.write_all(request.as_bytes()).await?;
        loop {
            match parse::response(&buf) {
                Parsed::Complete(response, len) => {
                    if response.status != 200 {
                        bail!("the server answered {}", response.status);
                    }
                    buf.drain(..len);
                    break;
                }
                Parsed::Partial => {
                    if socket.read_buf(&mut buf).await? == 0 {
                        bail!("the server closed the connection");
                    }
                }
                Parsed::Invalid(reason) => bail!("malformed response: {reason}"),
            }
        }
        answered += 1;
        let now = Instant::now();
        if now >= until {
            break;
        }
        if now >= counted_from {
            counted += 1;
        }
    }
    Ok((counted, answered))
}
