//! An app that installs its own global subscriber (fmt logs on stdout) and only then calls
//! `leakscope::init()`: the agent must say in one stderr line what to do instead, and the app must
//! keep running with its logs (`tests/tests/e2e/adopt.rs`).
//!
//! The first stdout line is `adopt-late-init: ready`; then INFO log lines every 100 ms. It exits
//! when killed.

use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(std::io::stdout)
        .with_max_level(tracing::Level::INFO)
        .init();
    leakscope::init();
    println!("adopt-late-init: ready");
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        tracing::info!("adopt-late-init tick");
    }
}
