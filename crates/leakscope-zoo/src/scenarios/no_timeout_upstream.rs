//! `no-timeout-upstream`: a worker reads from an upstream with no deadline; its caller has one.
//!
//! What goes wrong: the handler spawns a worker for the upstream call and waits for it under a
//! 100 ms timeout. The upstream accepts and never answers. When the timeout fires the handler
//! returns, but dropping a `JoinHandle` does not cancel its task: the worker stays parked in
//! `read_to_end` forever, holding its socket.
//!
//! The fix: put the deadline on the I/O itself (`timeout(deadline, call_upstream(..))` inside the
//! worker, or no worker at all: await the call in the handler so that dropping it cancels it), or
//! abort the worker when giving up (`JoinHandle::abort`).

use crate::LoadOptions;
use crate::Scenario;
use crate::load::{self, Request};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The handler's own deadline: it gives up on the worker after this long.
const HANDLER_DEADLINE: Duration = Duration::from_millis(100);

pub(crate) async fn run(opts: &LoadOptions) -> io::Result<()> {
    let upstream = start_silent_upstream().await?;
    let state = Arc::new(State { upstream, stuck: AtomicUsize::new(0), budget: stuck_budget() });
    load::drive(Scenario::NoTimeoutUpstream, opts, |request| handle(state.clone(), request)).await;
    Ok(())
}

struct State {
    upstream: SocketAddr,
    /// Upstream calls in progress, which here means stuck.
    stuck: AtomicUsize,
    /// At most this many calls may be in progress; see [`stuck_budget`].
    budget: usize,
}

async fn handle(state: Arc<State>, _request: Request) {
    let Some(slot) = Slot::take(&state) else {
        // Out of sockets: fail fast, as a connection pool at its limit would.
        return;
    };
    let worker = tokio::spawn(call_upstream(slot)); // zoo:spawn no-timeout-upstream
    // Only the wait is bounded. When it times out the JoinHandle is dropped, which detaches the
    // worker rather than cancelling it: the client gets its 504, the worker keeps its socket.
    let _ = tokio::time::timeout(HANDLER_DEADLINE, worker).await;
}

/// Holds `slot` for as long as it runs.
async fn call_upstream(slot: Slot) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(slot.0.upstream).await?;
    stream.write_all(b"GET /quote HTTP/1.0\r\n\r\n").await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?; // zoo:wait no-timeout-upstream
    Ok(response)
}

/// A loopback upstream that accepts connections, keeps them open and never writes a byte.
async fn start_silent_upstream() -> io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    // It outlives the load on purpose: closing the held sockets would end the stuck reads.
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            match listener.accept().await {
                Ok((socket, _)) => held.push(socket),
                // Out of descriptors, most likely: back off instead of spinning on the error.
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Ok(addr)
}

/// One unit of [`State::budget`], given back when the worker ends (which here it never does).
struct Slot(Arc<State>);

impl Slot {
    fn take(state: &Arc<State>) -> Option<Slot> {
        let taken = state.stuck.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(state.clone());
        (taken < state.budget).then_some(slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.stuck.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How many upstream calls may be stuck at once: a quarter of the process's file-descriptor limit
/// (each call holds two, its own end and the upstream's). A real service would grow until
/// `accept` failed with "too many open files"; the zoo stops short of that so that the leakscope
/// agent, and the other scenarios of `--scenario all`, can still open sockets.
fn stuck_budget() -> usize {
    open_files_limit().map_or(256, |limit| (limit / 4).clamp(16, 100_000))
}

/// The soft `RLIMIT_NOFILE`, read from `/proc/self/limits` (Linux) to avoid a libc dependency.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_leaves_descriptors_for_everything_else() {
        let budget = stuck_budget();
        assert!(budget >= 16, "{budget}");
        if let Some(limit) = open_files_limit() {
            assert!(budget * 2 <= limit, "budget {budget} for limit {limit}");
        }
    }

    #[tokio::test]
    async fn slots_stop_at_the_budget_and_come_back_when_dropped() {
        let state = Arc::new(State {
            upstream: (Ipv4Addr::LOCALHOST, 9).into(),
            stuck: AtomicUsize::new(0),
            budget: 2,
        });
        let first = Slot::take(&state).expect("under budget");
        let second = Slot::take(&state).expect("under budget");
        assert!(Slot::take(&state).is_none());
        drop(first);
        let third = Slot::take(&state).expect("a slot came back");
        drop((second, third));
        assert_eq!(state.stuck.load(Ordering::Relaxed), 0);
    }
}
