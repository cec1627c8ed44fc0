//! The process: parse the command line, start the runtime, install the mode's instrumentation,
//! run one workload and print its report.

use crate::cli::{Args, Role, Workload};
use crate::instrument::{self, Installed, Unavailable};
use crate::report::Report;
use crate::workloads::poll::Pause;
use crate::{http, observe, workloads};
use anyhow::Context as _;
use clap::Parser as _;
use serde_json::Value;
use std::process::ExitCode;
use std::time::Duration;

/// How long console-subscriber is given to send a fresh watcher its first update after a
/// workload; it may have a backlog of events to aggregate first.
const CONSOLE_FIRST_UPDATE: Duration = Duration::from_secs(15);

/// Runs the program with the process's arguments; see the crate docs for the exit codes.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.role {
        Role::Server => run_server(&args),
        Role::Client => http::client::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("leakscope-bench: {err:#}");
            if err.downcast_ref::<Unavailable>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run_server(args: &Args) -> anyhow::Result<()> {
    // The default multi-thread runtime, one worker per core, as `#[tokio::main]` builds it.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the tokio runtime")?;
    if args.workload == Workload::Hold {
        return runtime.block_on(async {
            let installed = instrument::install(args.mode)?;
            workloads::hold::run(args.task_count(), installed, args.settle_limit()).await
        });
    }
    let report = runtime.block_on(measure(args))?;
    report.print().context("failed to print the report")
}

async fn measure(args: &Args) -> anyhow::Result<Report> {
    let installed = instrument::install(args.mode)?;
    // Parked tasks' senders, held until the instrumentation has been asked about the tasks.
    let mut parked = Vec::new();
    let mut report = match args.workload {
        Workload::Spawn => workloads::spawn::run(args.measure_time()).await?,
        Workload::Poll => workloads::poll::run(args.measure_time(), Pause::Yield).await?,
        Workload::SelfWake => workloads::poll::run(args.measure_time(), Pause::SelfWake).await?,
        Workload::PingPong => workloads::ping_pong::run(args.measure_time()).await?,
        Workload::Idle => {
            let (report, senders) =
                workloads::idle::run(args.task_count(), args.settle_limit()).await?;
            parked = senders;
            report
        }
        Workload::Http => workloads::http::run(args).await?,
        Workload::Burst | Workload::Flood => {
            let (report, senders) = workloads::burst::run(
                args.task_count(),
                installed,
                args.settle_limit(),
                args.watch_limit(),
            )
            .await?;
            parked = senders;
            report
        }
        Workload::Hello => observe::hello(installed).await?,
        Workload::Hold => anyhow::bail!("`hold` is a target, not a measurement"),
    };
    if args.workload != Workload::Hello {
        report = with_dropped_counters(report, args.workload, installed).await?;
    }
    drop(parked);
    report.workload = args.workload.name();
    report.mode = args.mode.name();
    Ok(report)
}

/// Adds what the instrumentation says it could not keep during the workload: the leakscope agent's
/// `AgentStats` counters, and what console-subscriber shows a client attaching now (unless the
/// workload watched console-api itself, from before it started, and so has better figures).
async fn with_dropped_counters(
    mut report: Report,
    workload: Workload,
    installed: Installed,
) -> anyhow::Result<Report> {
    // The idle workload's tasks are the ones worth counting; elsewhere, every live task.
    let file = if workload == Workload::Idle { workloads::park::FILE } else { "" };
    if let Some(addr) = installed.agent {
        let (stats, seen) = observe::agent_stats(addr, file).await?;
        report = report
            .with("agent_seen_after", seen)
            .with("agent_spans_dropped_total", stats.spans_dropped_total)
            .with("agent_long_polls_evicted_total", stats.long_polls_evicted_total)
            .with("agent_watch_lagged_total", stats.watch_lagged_total)
            .with("agent_finished_evicted_total", stats.finished_evicted_total)
            .with("agent_long_polls_total", stats.long_polls_total)
            .with("agent_tasks_spawned_total", stats.tasks_spawned_total)
            .with("agent_tasks_live", stats.tasks_live)
            .with("agent_memory_bytes", stats.memory_bytes)
            .with("agent_wait_chains", stats.wait_chains)
            .with("agent_wait_chains_dropped_total", stats.wait_chains_dropped_total);
    }
    if let Some(addr) = installed.console
        && !report.detail.contains_key("console_dropped_events")
    {
        match observe::console_first_update(addr, file, CONSOLE_FIRST_UPDATE).await? {
            Some(first) => {
                report = report
                    .with("console_dropped_events", first.dropped_events)
                    .with("console_dropped_events_incomplete", first.dropped_events_incomplete)
                    .with("console_api_seen_after", first.alive_at)
                    .with("console_first_update_bytes", first.bytes as u64);
            }
            None => report = report.with("console_dropped_events", Value::Null),
        }
    }
    Ok(report)
}
