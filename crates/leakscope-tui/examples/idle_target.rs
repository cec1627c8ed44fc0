//! A target for measuring the terminal UI at scale: the leakscope agent and N idle tasks (100k by
//! default) parked in four different ways, plus a trickle of short-lived ones so updates keep
//! arriving. Prints `idle-target: tasks=N agent=ADDR` when they are all spawned; stops when stdin
//! closes or after `--seconds`.
//!
//! ```sh
//! cargo run --release -p leakscope-tui --example idle_target -- --tasks 100000 &
//! leakscope attach ADDR --bench-frames 300
//! ```

use std::io::{Read as _, Write as _};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tasks = arg("--tasks", 100_000);
    let seconds = arg("--seconds", 600);
    // The agent on `LEAKSCOPE_BIND` when it is set, as for any app; else on a free port (the
    // start-up line names it), so that several targets can run at once.
    let mut builder = leakscope::Builder::from_env()?;
    if std::env::var_os("LEAKSCOPE_BIND").is_none() {
        builder = builder.bind("127.0.0.1:0".parse()?);
    }
    let agent = builder.try_init()?;
    let notify = Arc::new(Notify::new());
    let (keep, _rx) = mpsc::channel::<()>(1);
    let (_tx, rx) = mpsc::channel::<()>(1);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    for i in 0..tasks {
        match i % 4 {
            0 => {
                let notify = Arc::clone(&notify);
                tokio::spawn(async move { notify.notified().await });
            }
            1 => {
                tokio::spawn(async move { tokio::time::sleep(Duration::from_secs(3600)).await });
            }
            2 => {
                let keep = keep.clone();
                tokio::spawn(async move {
                    let _ = keep.reserve().await;
                    std::future::pending::<()>().await;
                });
            }
            _ => {
                let rx = Arc::clone(&rx);
                tokio::spawn(async move {
                    let _ = rx.lock().await.recv().await;
                });
            }
        }
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "idle-target: tasks={tasks} agent={}", agent.local_addr())?;
    out.flush()?;
    drop(out);
    // A trickle of short tasks, so the agent has changes to send.
    tokio::spawn(async {
        loop {
            tokio::spawn(tokio::time::sleep(Duration::from_millis(50)));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let stdin_closed = tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
    });
    tokio::select! {
        _ = stdin_closed => {}
        () = tokio::time::sleep(Duration::from_secs(seconds)) => {}
    }
    Ok(())
}
