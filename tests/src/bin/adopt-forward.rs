//! An app whose own subscriber, fmt logs on stdout, is carried by the agent's subscriber
//! (`Builder::forward_to`): the form `tests/tests/e2e/adopt.rs` checks (its logs still print, and
//! a snapshot names the leak planted here).
//!
//! The agent is configured from the environment (`LEAKSCOPE_BIND`). The first stdout line is
//! `adopt-forward: ready`, printed once the leak is planted; then an INFO log line, and one every
//! 100 ms. It exits when killed.

use std::time::Duration;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

/// Producers planted stuck in `send` on a full channel whose receiver is never read.
const STUCK: usize = 3;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let logs = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::io::stdout)
            .with_filter(LevelFilter::INFO),
    );
    match leakscope::Builder::from_env() {
        Ok(builder) => builder.forward_to(logs).init(),
        Err(err) => {
            eprintln!("adopt-forward: {err}");
            std::process::exit(2);
        }
    }
    let mut receivers = Vec::new();
    for _ in 0..STUCK {
        let (tx, rx) = tokio::sync::mpsc::channel::<u32>(1);
        // Kept alive and never read: the producer fills the channel, then waits in `send`
        // for good.
        receivers.push(rx);
        tokio::spawn(produce(tx)); // adopt: leak
    }
    println!("adopt-forward: ready");
    tracing::info!(stuck = STUCK, "adopt-forward planted its workers");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        tracing::info!(receivers = receivers.len(), "adopt-forward tick");
    }
}

/// Sends until the receiver is gone: with a receiver that is never read, it parks in `send` as
/// soon as the channel is full.
async fn produce(tx: tokio::sync::mpsc::Sender<u32>) {
    for n in 0.. {
        if tx.send(n).await.is_err() {
            return;
        }
    }
}
