//! A service that leaks 20 tasks a second, for the gate's first-sight test
//! (`tests/tests/e2e/first_sight.rs`): 40 calls a second, each registering a reply channel in a
//! pending-call map and spawning a task that waits in `recv` for the reply. Every other reply
//! never comes, and the map is never cleaned, so that call's task stays parked for good (its
//! sender lives on in the map); the answered calls' tasks finish within a few milliseconds.
//!
//! It links the agent from the environment (`LEAKSCOPE_BIND`), prints
//! `leaking-service: agent=IP:PORT` once serving, and exits after `--duration SECS` (default 120)
//! or when killed. The leaking spawn line carries `// spawn: leak`.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The pending-call map: call id to the sender its reply would go through.
type Pending = Arc<Mutex<HashMap<u64, mpsc::Sender<u64>>>>;

/// Calls per second; every other one is answered.
const CALLS_PER_SEC: u64 = 40;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let duration = leakscope_tests::duration_arg(120);
    let agent = leakscope::try_init()?;
    let pending: Pending = Arc::default();
    tokio::spawn(caller(pending.clone()));

    let mut out = std::io::stdout().lock();
    writeln!(out, "leaking-service: agent={}", agent.local_addr())?;
    out.flush()?;
    drop(out);

    tokio::time::sleep(Duration::from_secs(duration)).await;
    Ok(())
}

/// Issues the calls, and answers every other one after a moment.
async fn caller(pending: Pending) {
    let mut ticker = tokio::time::interval(Duration::from_millis(1000 / CALLS_PER_SEC));
    for id in 0_u64.. {
        ticker.tick().await;
        let (tx, rx) = mpsc::channel(1);
        pending.lock().expect("not poisoned").insert(id, tx.clone());
        tokio::spawn(await_reply(id, rx)); // spawn: leak
        if id % 2 == 1 {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let _ = tx.send(id).await;
            });
        }
    }
}

/// Waits for the reply to call `id`. The map keeps a sender, so an unanswered call waits forever.
async fn await_reply(id: u64, mut rx: mpsc::Receiver<u64>) {
    if let Some(reply) = rx.recv().await {
        std::hint::black_box((id, reply));
    }
}
