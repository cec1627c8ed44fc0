//! A realistic, healthy server under load, for the first-sight test
//! (`tests/tests/e2e/first_sight.rs`): leakscope must raise nothing about it, however long its
//! tasks have been parked.
//!
//! - A TCP server: an accept loop, and a task per connection in a `select!` over the socket's
//!   next request and a shutdown broadcast. Forty keep-alive clients connect at start-up and stay
//!   idle; a load loop opens a short connection every 50 ms (request, answer, close).
//! - Each request is handed to a worker pool (four workers, each with its own channel, started by
//!   a set-up task that then ends) and answered through a oneshot.
//! - Pub/sub: ten subscribers parked in a broadcast `recv` on a topic nobody publishes to during
//!   the test.
//! - A TTL purge task waiting on a `Notify` for a key with an expiry (none is ever set).
//!
//! With `--leaks` it also carries two planted leaks of the kinds real servers ship:
//!
//! - every request spawns an audit task that sends the request to an audit channel whose consumer
//!   never reads: past the channel's capacity each of them parks in `send` for good;
//! - every connection spawns a heartbeat loop that nothing stops when the connection ends.
//!
//! Its `stats` request (on the server's own port) answers with the live tasks of each leak,
//! `audit=N heartbeat=M`: the truth the test holds leakscope's counts against.
//!
//! It links the agent from the environment (`LEAKSCOPE_BIND`), prints
//! `healthy-server: agent=IP:PORT server=IP:PORT` once everything is started, and exits after
//! `--duration SECS` (default 120) or when killed.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, broadcast, mpsc, oneshot};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Keep-alive clients that connect at start-up and stay idle.
const KEEP_ALIVE: usize = 40;
/// Workers in the pool.
const WORKERS: usize = 4;
/// Subscribers of the quiet topic.
const SUBSCRIBERS: usize = 10;
/// A short connection every this long.
const LOAD_EVERY: Duration = Duration::from_millis(50);
/// The audit channel's capacity: the first this many audit tasks send and end.
const AUDIT_CAPACITY: usize = 8;

/// The planted leaks, when `--leaks` is given.
struct Leaks {
    /// The audit channel; its receiver is kept, never read.
    audit: mpsc::Sender<Vec<u8>>,
    /// Live audit tasks and heartbeat loops: incremented before the spawn, decremented when the
    /// task ends.
    audits: AtomicUsize,
    heartbeats: AtomicUsize,
}

/// A job for the pool: a request and where its answer goes.
type Job = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// The pool's inputs, one per worker, served round-robin.
struct Pool {
    workers: Vec<mpsc::Sender<Job>>,
    next: AtomicUsize,
}

impl Pool {
    async fn run(&self, request: Vec<u8>) -> Option<Vec<u8>> {
        let (tx, rx) = oneshot::channel();
        let worker = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        self.workers[worker].send((request, tx)).await.ok()?;
        rx.await.ok()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let duration = leakscope_tests::duration_arg(120);
    let agent = leakscope::try_init()?;

    let pool = tokio::spawn(start_pool()).await?;
    let (shutdown, _) = broadcast::channel::<()>(1);
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let (audit, _unread_audit) = mpsc::channel(AUDIT_CAPACITY);
    let leaks = std::env::args().any(|arg| arg == "--leaks").then(|| {
        Arc::new(Leaks { audit, audits: AtomicUsize::new(0), heartbeats: AtomicUsize::new(0) })
    });
    tokio::spawn(accept_loop(listener, Arc::new(pool), shutdown.clone(), leaks));

    let (topic, _) = broadcast::channel::<String>(16);
    for _ in 0..SUBSCRIBERS {
        tokio::spawn(subscribe(topic.subscribe()));
    }
    let expiries = Arc::new(Notify::new());
    tokio::spawn(purge(expiries.clone()));

    let mut clients = Vec::new();
    for _ in 0..KEEP_ALIVE {
        clients.push(TcpStream::connect(addr).await?);
    }
    tokio::spawn(load(addr));

    let mut out = std::io::stdout().lock();
    writeln!(out, "healthy-server: agent={} server={addr}", agent.local_addr())?;
    out.flush()?;
    drop(out);

    tokio::time::sleep(Duration::from_secs(duration)).await;
    let _ = shutdown.send(());
    drop((clients, topic, expiries));
    Ok(())
}

/// Starts the workers and returns their inputs; the set-up task itself then ends.
async fn start_pool() -> Pool {
    let workers = (0..WORKERS)
        .map(|_| {
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(work(rx));
            tx
        })
        .collect();
    Pool { workers, next: AtomicUsize::new(0) }
}

/// A worker: answers each job with its request reversed.
async fn work(mut jobs: mpsc::Receiver<Job>) {
    while let Some((mut request, reply)) = jobs.recv().await {
        request.reverse();
        let _ = reply.send(request);
    }
}

async fn accept_loop(
    listener: TcpListener,
    pool: Arc<Pool>,
    shutdown: broadcast::Sender<()>,
    leaks: Option<Arc<Leaks>>,
) {
    loop {
        match listener.accept().await {
            Ok((socket, _)) => {
                tokio::spawn(serve(socket, pool.clone(), shutdown.subscribe(), leaks.clone()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One connection: answers each request until the client closes or the server shuts down.
async fn serve(
    mut socket: TcpStream,
    pool: Arc<Pool>,
    mut shutdown: broadcast::Receiver<()>,
    leaks: Option<Arc<Leaks>>,
) {
    if let Some(leaks) = &leaks {
        leaks.heartbeats.fetch_add(1, Ordering::SeqCst);
        // Planted leak: nothing stops this loop when the connection ends.
        tokio::spawn(heartbeat(leaks.clone())); // planted: heartbeat
    }
    let mut buf = [0_u8; 256];
    loop {
        tokio::select! {
            _ = shutdown.recv() => return,
            read = socket.read(&mut buf) => {
                let n = match read {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let answer = match &leaks {
                    Some(leaks) if &buf[..n] == b"stats" => {
                        let audits = leaks.audits.load(Ordering::SeqCst);
                        let heartbeats = leaks.heartbeats.load(Ordering::SeqCst);
                        format!("audit={audits} heartbeat={heartbeats}\n").into_bytes()
                    }
                    Some(leaks) => {
                        leaks.audits.fetch_add(1, Ordering::SeqCst);
                        // Planted leak: the audit channel's consumer never reads.
                        tokio::spawn(audit(leaks.clone(), buf[..n].to_vec())); // planted: audit
                        let Some(answer) = pool.run(buf[..n].to_vec()).await else { return };
                        answer
                    }
                    None => {
                        let Some(answer) = pool.run(buf[..n].to_vec()).await else { return };
                        answer
                    }
                };
                if socket.write_all(&answer).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends one request to the audit channel; parks for good once the channel is full.
async fn audit(leaks: Arc<Leaks>, request: Vec<u8>) {
    let _ = leaks.audit.send(request).await;
    leaks.audits.fetch_sub(1, Ordering::SeqCst);
}

/// A per-connection heartbeat that should have ended with its connection.
async fn heartbeat(leaks: Arc<Leaks>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(5));
    loop {
        ticker.tick().await;
        std::hint::black_box(&leaks);
    }
}

/// A subscriber of a topic.
async fn subscribe(mut topic: broadcast::Receiver<String>) {
    while let Ok(message) = topic.recv().await {
        std::hint::black_box(message);
    }
}

/// Purges expired keys; with no key to expire it waits to be told of one.
async fn purge(expiries: Arc<Notify>) {
    loop {
        expiries.notified().await;
    }
}

/// A short connection every [`LOAD_EVERY`]: one request, its answer, close.
async fn load(addr: SocketAddr) {
    let mut ticker = tokio::time::interval(LOAD_EVERY);
    loop {
        ticker.tick().await;
        tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else { return };
            if stream.write_all(b"ping").await.is_ok() {
                let mut answer = [0_u8; 4];
                let _ = stream.read_exact(&mut answer).await;
            }
        });
    }
}
