//! An app parking N idle tasks with the agent linked, for measuring and testing leakscope at
//! scale (`tests/tests/e2e/scale.rs`, and the figures in docs/ARCHITECTURE.md's scale section).
//!
//! `idle-tasks N [--duration SECS]`: spawns N tasks that each wait on a oneshot whose sender is
//! kept (so they stay parked and are never woken) on a two-worker runtime, prints
//! `idle-tasks: agent=IP:PORT tasks=N spawn_ms=MS` once they are all spawned, and exits after
//! `--duration SECS` (default 120) or when killed. The agent binds where `LEAKSCOPE_BIND` says
//! (default a free loopback port). `LEAKSCOPE_IDLE_NO_AGENT=1` runs the same workload without the
//! agent, for the plain-tokio baseline.

use std::io::Write as _;
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let count: usize = std::env::args()
        .nth(1)
        .ok_or("usage: idle-tasks N [--duration SECS]")?
        .parse()
        .map_err(|err| format!("idle-tasks: N must be a task count: {err}"))?;
    let duration = leakscope_tests::duration_arg(120);
    let with_agent = std::env::var_os("LEAKSCOPE_IDLE_NO_AGENT").is_none_or(|v| v != "1");
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(async move {
        let agent = if with_agent {
            let mut builder = leakscope::Builder::from_env()?;
            if std::env::var_os("LEAKSCOPE_BIND").is_none() {
                builder = builder.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
            }
            Some(builder.try_init()?)
        } else {
            None
        };
        let started = Instant::now();
        let mut senders = Vec::with_capacity(count);
        for _ in 0..count {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            senders.push(tx);
            tokio::spawn(async move {
                let _ = rx.await;
            });
        }
        let spawn_ms = started.elapsed().as_millis();
        let addr = agent.as_ref().map_or_else(|| "none".to_owned(), |a| a.local_addr().to_string());
        let mut out = std::io::stdout().lock();
        writeln!(out, "idle-tasks: agent={addr} tasks={count} spawn_ms={spawn_ms}")?;
        out.flush()?;
        drop(out);
        tokio::time::sleep(Duration::from_secs(duration)).await;
        drop(senders);
        Ok::<(), Error>(())
    })
}
