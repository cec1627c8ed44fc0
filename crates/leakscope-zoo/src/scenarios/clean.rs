//! `clean`: the kinds of work the other scenarios get wrong, done right. It must never look leaky.
//!
//! Each request starts a heartbeat and stops it when it ends (`CancellationToken`, via a drop
//! guard so an early return stops it too), calls a loopback upstream with the deadline on the
//! call itself, runs its blocking part on the blocking pool, streams a few items through a channel
//! it then closes, holds the cache lock only for the write, and hands a slow job to background
//! work bounded by a `Semaphore` (shedding it when full). When the load stops, `run` waits for the
//! background jobs and shuts the upstream down: nothing outlives it. No task but the upstream's
//! accept loop (polled for every request) lives more than a fraction of a second, and the task
//! count is flat whatever the load.

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

/// Background jobs allowed at once; past this, new ones are shed.
const JOBS: usize = 8;
/// How long a background job takes.
const JOB_TIME: Duration = Duration::from_millis(200);
/// Deadline of an upstream call, connect to last byte; and of the upstream serving one.
const UPSTREAM_DEADLINE: Duration = Duration::from_millis(500);
/// Heartbeat period.
const TICK: Duration = Duration::from_millis(10);
/// How long a request's own work takes.
const WORK: Duration = Duration::from_millis(20);

pub(crate) async fn run(opts: &LoadOptions) -> io::Result<()> {
    let upstream = Upstream::start().await?;
    let state = Arc::new(State {
        upstream: upstream.addr,
        jobs: Arc::new(Semaphore::new(JOBS)),
        cache: Mutex::default(),
    });
    load::drive(Scenario::Clean, opts, |request| handle(state.clone(), request)).await;

    // Every permit back means every background job has finished.
    let _all = state.jobs.acquire_many(JOBS as u32).await;
    upstream.stop().await;
    Ok(())
}

struct State {
    upstream: SocketAddr,
    jobs: Arc<Semaphore>,
    cache: Mutex<HashMap<u64, u64>>,
}

async fn handle(state: Arc<State>, request: Request) {
    let seq = request.seq;
    let stop = CancellationToken::new();
    let heartbeat = tokio::spawn(heartbeat(stop.clone()));
    // Cancels the heartbeat when dropped: at the end below, or on any early exit or cancellation.
    let stop_heartbeat = stop.drop_guard();

    // The deadline covers the I/O itself, so giving up also closes the socket.
    let quote = timeout(UPSTREAM_DEADLINE, call_upstream(state.upstream)).await;
    let quote = quote.ok().and_then(Result::ok).map_or(0, |body| body.len() as u64);

    // Blocking work goes to the blocking pool, not a runtime worker.
    let rendered = tokio::task::spawn_blocking(move || render(seq)).await.unwrap_or_default();

    // The channel closes when `tx` is dropped, which ends the consumer's loop.
    let (tx, rx) = mpsc::channel(8);
    let consumer = tokio::spawn(sum(rx));
    for item in [quote, rendered, seq] {
        if tx.send(item).await.is_err() {
            break;
        }
    }
    drop(tx);
    let total = consumer.await.unwrap_or_default();

    // Slow work first, then the lock, only for the write.
    tokio::time::sleep(WORK).await;
    state.cache.lock().await.insert(seq % 64, total);

    // Bounded: with no permit left the job is shed, not queued without limit.
    if let Ok(permit) = state.jobs.clone().try_acquire_owned() {
        tokio::spawn(audit(seq, permit));
    }

    drop(stop_heartbeat);
    let _ = heartbeat.await;
}

async fn heartbeat(stop: CancellationToken) {
    let mut ticker = tokio::time::interval(TICK);
    let mut beats = 0_u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => beats = std::hint::black_box(beats + 1),
        }
    }
}

async fn call_upstream(upstream: SocketAddr) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    stream.write_all(b"GET /quote HTTP/1.0\r\n\r\n").await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

/// Stands in for a blocking call (a file, a synchronous client), which is fine on this thread.
fn render(seq: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(2));
    seq.wrapping_mul(31)
}

async fn sum(mut rx: mpsc::Receiver<u64>) -> u64 {
    let mut total = 0_u64;
    while let Some(item) = rx.recv().await {
        total = total.wrapping_add(item);
    }
    total
}

async fn audit(seq: u64, _permit: OwnedSemaphorePermit) {
    tokio::time::sleep(JOB_TIME).await;
    std::hint::black_box(seq);
}

/// A loopback upstream that answers every request, and stops when told.
struct Upstream {
    addr: SocketAddr,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, shutdown.clone()));
        Ok(Self { addr, shutdown, server })
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
    }
}

async fn serve(listener: TcpListener, shutdown: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next() => {}
            accepted = listener.accept() => {
                match accepted {
                    Ok((socket, _)) => {
                        // A client that stalls cannot hold a connection task longer than this.
                        connections.spawn(timeout(UPSTREAM_DEADLINE, answer(socket)));
                    }
                    // Out of descriptors, most likely: back off instead of spinning on the error.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        }
    }
    // Dropping `connections` here aborts any call still open.
}

async fn answer(mut socket: TcpStream) -> io::Result<()> {
    let mut request = [0_u8; 256];
    if socket.read(&mut request).await? == 0 {
        // The caller gave up before sending anything.
        return Ok(());
    }
    socket.write_all(b"HTTP/1.0 200 OK\r\n\r\n42\n").await?;
    socket.shutdown().await
}
