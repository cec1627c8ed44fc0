//! HTTP throughput: the instrumented process serves loopback HTTP/1.1 while a separate,
//! uninstrumented process (this binary, `--role client`) loads it; requests per second.

use crate::cli::Args;
use crate::cpu;
use crate::http::client::Outcome;
use crate::http::server;
use crate::report::Report;
use anyhow::{Context as _, bail};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Serves on a fresh loopback port, runs the load generator to completion and reports its count.
pub(crate) async fn run(args: &Args) -> anyhow::Result<Report> {
    let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .context("failed to bind the HTTP listener")?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(server::serve(listener));

    let measure = args.measure_time();
    let mut client = Command::new(std::env::current_exe().context("failed to find this binary")?);
    client
        .args(["--role", "client", "--addr", &addr.to_string()])
        .args(["--connections", &args.connections.to_string()])
        .args(["--seconds", &measure.as_secs_f64().to_string()])
        .args(["--warmup-ms", &args.warmup_ms.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let cpu_before = cpu::used();
    let child = client.spawn().context("failed to start the load generator")?;
    // Waited for on a plain thread: the workers stay the server's.
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("bench-client-wait".into())
        .spawn(move || {
            let _ = done_tx.send(child.wait_with_output());
        })
        .context("failed to start a thread")?;
    // The client stops by itself after warm-up plus measuring time; this bound is a backstop.
    let limit = measure + Duration::from_millis(args.warmup_ms) + Duration::from_secs(30);
    let output = tokio::time::timeout(limit, done_rx)
        .await
        .context("the load generator did not finish in time")?
        .context("the load generator's waiting thread died")?
        .context("failed to wait for the load generator")?;
    let cpu_after = cpu::used();
    server.abort();
    if !output.status.success() {
        bail!("the load generator failed ({})", output.status);
    }
    let line = String::from_utf8_lossy(&output.stdout);
    let outcome: Outcome = serde_json::from_str(line.trim())
        .with_context(|| format!("failed to read the load generator's result {line:?}"))?;
    // What each request cost the serving process, warm-up included: steadier than throughput on
    // a shared machine, since time other processes take is not in it.
    let cpu_per_request = cpu::per(cpu_before, cpu_after, outcome.total);
    Ok(Report::new(outcome.requests as f64 / outcome.seconds, "req/s")
        .with("requests", outcome.requests)
        .with("requests_with_warmup", outcome.total)
        .with("seconds", outcome.seconds)
        .with("connections", args.connections as u64)
        .with("client_errors", outcome.errors)
        .with("server_cpu_ns_per_request", cpu_per_request))
}
