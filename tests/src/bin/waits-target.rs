//! A busy tokio app with tasks parked at every wait point leakscope names, for the stress test
//! (`tests/tests/e2e/stress.rs`): default commands must neither freeze it nor need a task dump to
//! say where each task waits.
//!
//! It runs on a multi-thread runtime with exactly two workers, links the agent from the
//! environment (`LEAKSCOPE_BIND`, `LEAKSCOPE_HTTP_BIND`, ...) and keeps the workers busy: 3,000
//! tasks on one-second intervals, a burst of 400 short tasks every 100 ms, and a TCP echo server
//! the test measures round trips against. Beside the load, five tasks per wait point park for
//! good: channels, locks, sockets, timers, a `JoinHandle`, a `select!` over two waits, and a
//! hand-written future that is not tokio's.
//!
//! Its first stdout line is `waits-target: echo=IP:PORT http=IP:PORT agent=IP:PORT` (`http=` only
//! when the HTTP endpoints are on), printed once every parked task has been spawned. It exits
//! after `--duration SECS` (default 600) or when killed.
//!
//! Each parked kind's spawn line carries `// spawn: <kind>` and its awaiting line
//! `// wait: <kind>`; the test looks both up to know which group is which and which line each
//! must be named at.

use std::any::Any;
use std::future::Future;
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{Barrier, Mutex, Notify, RwLock, Semaphore, broadcast, mpsc, oneshot, watch};

/// Tasks parked per wait point.
const PER_KIND: usize = 5;
/// Tasks ticking on one-second intervals.
const TICKERS: usize = 3_000;
/// Short tasks spawned every [`BURST_EVERY`].
const BURST: usize = 400;
const BURST_EVERY: Duration = Duration::from_millis(100);
/// Long enough to outlive any test run: a parked timer, not a finishing one.
const FOREVER: Duration = Duration::from_secs(3_600);

/// What must stay alive for the parked tasks to stay parked (the senders nobody uses, the peers
/// that never read or write); held by `main` until it exits.
type Keep = Vec<Box<dyn Any + Send>>;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let duration = leakscope_tests::duration_arg(600);
    // `leakscope::init()` reads the same environment but keeps the agent's handle to itself;
    // `try_init` is that call with the handle returned, so the bound addresses can be printed.
    let agent = leakscope::try_init()?;

    let mut keep = Keep::new();
    park_every_kind(&mut keep).await?;
    let echo = start_echo_server().await?;
    for _ in 0..TICKERS {
        tokio::spawn(tick_every_second()); // spawn: interval
    }
    tokio::spawn(bursts());

    let http = agent.http_addr().map(|http| format!(" http={http}")).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "waits-target: echo={echo}{http} agent={}", agent.local_addr())?;
    out.flush()?;
    drop(out);

    tokio::time::sleep(Duration::from_secs(duration)).await;
    drop(keep);
    Ok(())
}

/// One of the 3,000 background tickers: parked in `Interval::tick` most of the time, woken once
/// a second, all of them at about the same moment.
async fn tick_every_second() {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    let mut ticks = 0_u64;
    loop {
        interval.tick().await; // wait: interval
        ticks = std::hint::black_box(ticks.wrapping_add(1));
    }
}

/// Every [`BURST_EVERY`], [`BURST`] tasks that do a little work and finish: spawn and finish
/// records keep arriving while the commands read the agent.
async fn bursts() {
    let mut every = tokio::time::interval(BURST_EVERY);
    let mut seed = 1_u64;
    loop {
        every.tick().await;
        for _ in 0..BURST {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            tokio::spawn(short_work(seed));
        }
    }
}

async fn short_work(seed: u64) -> u64 {
    let mut x = seed;
    for _ in 0..200 {
        x = std::hint::black_box(x.rotate_left(5) ^ 0x9e37_79b9_7f4a_7c15);
    }
    x
}

/// A loopback echo server: each connection gets back what it sends. The test's probe measures
/// its round trips, so a frozen runtime shows as a missing or late answer.
async fn start_echo_server() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((socket, _)) => {
                    tokio::spawn(echo(socket));
                }
                // Out of descriptors, most likely: back off instead of spinning on the error.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(addr)
}

async fn echo(mut socket: TcpStream) {
    let _ = socket.set_nodelay(true);
    let mut buf = [0_u8; 1024];
    loop {
        match socket.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if socket.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Spawns [`PER_KIND`] tasks parked at each wait point, each kind from its own function, and
/// returns once every one has been spawned (the helpers that hold locks have taken them).
async fn park_every_kind(keep: &mut Keep) -> std::io::Result<()> {
    mpsc_recv(keep);
    mpsc_send(keep);
    notified(keep);
    oneshot_recv(keep);
    broadcast_recv(keep);
    watch_changed(keep);
    join_handle();
    socket_read(keep).await?;
    socket_write(keep).await?;
    accept().await?;
    sleep();
    mutex_lock().await;
    rwlock_write().await;
    rwlock_read().await;
    semaphore_acquire(keep);
    barrier_wait(keep);
    select(keep);
    stored_waker();
    Ok(())
}

fn mpsc_recv(keep: &mut Keep) {
    for _ in 0..PER_KIND {
        let (tx, rx) = mpsc::channel::<u64>(8);
        keep.push(Box::new(tx));
        tokio::spawn(wait_mpsc_recv(rx)); // spawn: mpsc-recv
    }
}

async fn wait_mpsc_recv(mut rx: mpsc::Receiver<u64>) -> Option<u64> {
    rx.recv().await // wait: mpsc-recv
}

fn mpsc_send(keep: &mut Keep) {
    let (tx, rx) = mpsc::channel::<u64>(1);
    tx.try_send(0).expect("an empty channel takes one message");
    keep.push(Box::new(rx));
    for i in 0..PER_KIND {
        tokio::spawn(wait_mpsc_send(tx.clone(), i as u64)); // spawn: mpsc-send
    }
}

async fn wait_mpsc_send(tx: mpsc::Sender<u64>, value: u64) {
    let _ = tx.send(value).await; // wait: mpsc-send
}

fn notified(keep: &mut Keep) {
    let notify = Arc::new(Notify::new());
    for _ in 0..PER_KIND {
        tokio::spawn(wait_notified(notify.clone())); // spawn: notified
    }
    keep.push(Box::new(notify));
}

async fn wait_notified(notify: Arc<Notify>) {
    notify.notified().await; // wait: notified
}

fn oneshot_recv(keep: &mut Keep) {
    for _ in 0..PER_KIND {
        let (tx, rx) = oneshot::channel::<u64>();
        keep.push(Box::new(tx));
        tokio::spawn(wait_oneshot(rx)); // spawn: oneshot
    }
}

async fn wait_oneshot(rx: oneshot::Receiver<u64>) {
    let _ = rx.await; // wait: oneshot
}

fn broadcast_recv(keep: &mut Keep) {
    let (tx, _) = broadcast::channel::<u64>(8);
    for _ in 0..PER_KIND {
        tokio::spawn(wait_broadcast(tx.subscribe())); // spawn: broadcast
    }
    keep.push(Box::new(tx));
}

async fn wait_broadcast(mut rx: broadcast::Receiver<u64>) {
    let _ = rx.recv().await; // wait: broadcast
}

fn watch_changed(keep: &mut Keep) {
    let (tx, rx) = watch::channel(0_u64);
    for _ in 0..PER_KIND {
        tokio::spawn(wait_watch(rx.clone())); // spawn: watch
    }
    keep.push(Box::new(tx));
}

async fn wait_watch(mut rx: watch::Receiver<u64>) {
    let _ = rx.changed().await; // wait: watch
}

fn join_handle() {
    for _ in 0..PER_KIND {
        let never_ends = tokio::spawn(tokio::time::sleep(FOREVER)); // spawn: join-inner
        tokio::spawn(wait_join(never_ends)); // spawn: join-handle
    }
}

async fn wait_join(handle: tokio::task::JoinHandle<()>) {
    let _ = handle.await; // wait: join-handle
}

/// Reads from connections whose peers (kept, never written to) stay silent.
async fn socket_read(keep: &mut Keep) -> std::io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    for _ in 0..PER_KIND {
        let stream = TcpStream::connect(addr).await?;
        let (peer, _) = listener.accept().await?;
        keep.push(Box::new(peer));
        tokio::spawn(wait_socket_read(stream)); // spawn: socket-read
    }
    keep.push(Box::new(listener));
    Ok(())
}

async fn wait_socket_read(mut stream: TcpStream) {
    let mut buf = [0_u8; 64];
    let _ = stream.read(&mut buf).await; // wait: socket-read
}

/// Writes to connections whose peers (kept) never read, until the socket buffers are full. The
/// buffers are made small so that takes a few kilobytes, not megabytes.
async fn socket_write(keep: &mut Keep) -> std::io::Result<()> {
    let socket = TcpSocket::new_v4()?;
    // Accepted sockets inherit the listener's receive buffer.
    socket.set_recv_buffer_size(4 * 1024)?;
    socket.bind((Ipv4Addr::LOCALHOST, 0).into())?;
    let listener = socket.listen(16)?;
    let addr = listener.local_addr()?;
    for _ in 0..PER_KIND {
        let socket = TcpSocket::new_v4()?;
        socket.set_send_buffer_size(4 * 1024)?;
        let stream = socket.connect(addr).await?;
        let (peer, _) = listener.accept().await?;
        keep.push(Box::new(peer));
        tokio::spawn(wait_socket_write(stream)); // spawn: socket-write
    }
    keep.push(Box::new(listener));
    Ok(())
}

async fn wait_socket_write(mut stream: TcpStream) {
    let chunk = [0x5a_u8; 16 * 1024];
    loop {
        let written = stream.write_all(&chunk).await; // wait: socket-write
        if written.is_err() {
            return;
        }
    }
}

/// Listeners nobody connects to.
async fn accept() -> std::io::Result<()> {
    for _ in 0..PER_KIND {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        tokio::spawn(wait_accept(listener)); // spawn: accept
    }
    Ok(())
}

async fn wait_accept(listener: TcpListener) {
    let _ = listener.accept().await; // wait: accept
}

fn sleep() {
    for _ in 0..PER_KIND {
        tokio::spawn(wait_sleep()); // spawn: sleep
    }
}

async fn wait_sleep() {
    tokio::time::sleep(FOREVER).await; // wait: sleep
}

/// A task that takes `lock` and then parks for good with it held; returns once it holds it, so
/// that the waiters spawned next find it taken.
async fn hold<G: Send + 'static>(take: impl Future<Output = G> + Send + 'static) {
    let (locked, taken) = oneshot::channel();
    tokio::spawn(async move {
        let _guard = take.await;
        let _ = locked.send(());
        tokio::time::sleep(FOREVER).await;
    });
    let _ = taken.await;
}

async fn mutex_lock() {
    let mutex = Arc::new(Mutex::new(0_u64));
    hold(mutex.clone().lock_owned()).await;
    for _ in 0..PER_KIND {
        tokio::spawn(wait_mutex(mutex.clone())); // spawn: mutex
    }
}

async fn wait_mutex(mutex: Arc<Mutex<u64>>) {
    *mutex.lock().await += 1; // wait: mutex
}

async fn rwlock_write() {
    let lock = Arc::new(RwLock::new(0_u64));
    hold(lock.clone().read_owned()).await;
    for _ in 0..PER_KIND {
        tokio::spawn(wait_rwlock_write(lock.clone())); // spawn: rwlock-write
    }
}

async fn wait_rwlock_write(lock: Arc<RwLock<u64>>) {
    *lock.write().await += 1; // wait: rwlock-write
}

async fn rwlock_read() {
    let lock = Arc::new(RwLock::new(0_u64));
    hold(lock.clone().write_owned()).await;
    for _ in 0..PER_KIND {
        tokio::spawn(wait_rwlock_read(lock.clone())); // spawn: rwlock-read
    }
}

async fn wait_rwlock_read(lock: Arc<RwLock<u64>>) -> u64 {
    *lock.read().await // wait: rwlock-read
}

fn semaphore_acquire(keep: &mut Keep) {
    let semaphore = Arc::new(Semaphore::new(0));
    for _ in 0..PER_KIND {
        tokio::spawn(wait_semaphore(semaphore.clone())); // spawn: semaphore
    }
    keep.push(Box::new(semaphore));
}

async fn wait_semaphore(semaphore: Arc<Semaphore>) {
    let _ = semaphore.acquire().await; // wait: semaphore
}

fn barrier_wait(keep: &mut Keep) {
    // Twice as many parties as ever arrive.
    let barrier = Arc::new(Barrier::new(2 * PER_KIND));
    for _ in 0..PER_KIND {
        tokio::spawn(wait_barrier(barrier.clone())); // spawn: barrier
    }
    keep.push(Box::new(barrier));
}

async fn wait_barrier(barrier: Arc<Barrier>) {
    barrier.wait().await; // wait: barrier
}

fn select(keep: &mut Keep) {
    let notify = Arc::new(Notify::new());
    for _ in 0..PER_KIND {
        let (tx, rx) = mpsc::channel::<u64>(8);
        keep.push(Box::new(tx));
        tokio::spawn(wait_select(rx, notify.clone())); // spawn: select
    }
    keep.push(Box::new(notify));
}

/// Parked in two leaves at once. `biased` polls them in the written order every time; the
/// `select!` stays on one line (rustfmt leaves brace-delimited macros alone) because the line
/// tables give the macro's code the line it is invoked on.
async fn wait_select(mut rx: mpsc::Receiver<u64>, notify: Arc<Notify>) {
    tokio::select! { biased; _ = rx.recv() => {}, () = notify.notified() => {} } // wait: select
}

/// Wakers kept by [`StoredWaker`]: never woken, never dropped.
static STORED_WAKERS: std::sync::Mutex<Vec<Waker>> = std::sync::Mutex::new(Vec::new());

/// A future that is not tokio's: it keeps its task's waker in a static and stays pending. The
/// waker is live, so this is no lost waker, and no tokio leaf names the wait: the capture sees
/// this `poll` as the leaf.
struct StoredWaker;

impl Future for StoredWaker {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let waker = cx.waker().clone(); // wait: stored-waker
        STORED_WAKERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(waker);
        Poll::Pending
    }
}

fn stored_waker() {
    for _ in 0..PER_KIND {
        tokio::spawn(wait_stored_waker()); // spawn: stored-waker
    }
}

async fn wait_stored_waker() {
    StoredWaker.await; // wait: stored-waker-await
}
