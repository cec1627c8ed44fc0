//! The `snapshot` command itself: connect, watch, dump, analyse, print.

use std::io::Write as _;
use std::time::Duration;

use leakscope_analysis::{Config, Report, analyze};
use leakscope_client::{Backend, ClientError, Connection, Target};
use tokio_stream::StreamExt as _;

use super::args::{Format, SnapshotArgs};
use super::{json, text};
use crate::connect::model_for;
use crate::exit::{CliError, ExitStatus};
use crate::runtime::block_on;

/// How long the first update may take before the target counts as silent.
const FIRST_UPDATE_LIMIT: Duration = Duration::from_secs(10);

/// Runs `leakscope snapshot`.
pub(crate) fn run(args: SnapshotArgs) -> Result<ExitStatus, CliError> {
    let config = args.thresholds.load()?;
    let target = Target::parse(&args.addr)?;
    let (report, backend) = block_on(observe(&args, &target, &config))??;
    let output = match args.format {
        Format::Text => text::render(&report, backend, args.groups),
        Format::Json => json::render(&report, backend),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::Output)?;
    Ok(ExitStatus::Success)
}

/// Connects, applies updates for `--wait`, takes a dump where the target can, and analyses.
async fn observe(
    args: &SnapshotArgs,
    target: &Target,
    config: &Config,
) -> Result<(Report, Backend), CliError> {
    let mut connection = Connection::connect(target).await?;
    let mut model = model_for(&connection);
    let addr = target.to_string();
    let disconnected = || ClientError::Disconnected { addr: addr.clone() };
    let mut updates = connection.watch(args.interval).await?;
    // The first (full) update comes at once from an agent, and within its publish interval
    // from console-subscriber; `--wait` counts from it.
    let first = tokio::time::timeout(FIRST_UPDATE_LIMIT, updates.next())
        .await
        .map_err(|_| ClientError::Request {
            what: "watch",
            addr: addr.clone(),
            reason: format!("no update within {}s", FIRST_UPDATE_LIMIT.as_secs()),
        })?
        .ok_or_else(disconnected)??;
    model.apply_update(first);
    // Updates until the first one at or past the deadline, so that the observed window is at
    // least `--wait` (a `--wait 30s` meets a 30 s growth window). An update late by more than
    // the grace ends the watch with what arrived.
    let deadline = tokio::time::Instant::now() + args.wait;
    let grace = args.interval.unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1)) * 2;
    while !args.wait.is_zero() {
        match tokio::time::timeout_at(deadline + grace, updates.next()).await {
            Err(_) => break,
            Ok(update) => model.apply_update(update.ok_or_else(disconnected)??),
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
    }
    drop(updates);
    if !args.dump_timeout.is_zero() {
        match connection.dump(args.dump_timeout).await {
            Ok(Some(dump)) => model.apply_dump(dump),
            Ok(None) => {}
            // The watch already gave the data; a failed dump only costs precision.
            Err(err) => eprintln!("leakscope: warning: {err}; analysing without a task dump"),
        }
    }
    let mut report = analyze(&model, config);
    report.target.address = Some(addr);
    Ok((report, connection.backend()))
}
