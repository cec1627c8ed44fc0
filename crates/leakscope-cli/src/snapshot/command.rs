//! The `snapshot` command itself: connect, watch, (when asked) dump, analyse, print.

use std::io::Write as _;
use std::time::Duration;

use leakscope_analysis::{Config, Report, analyze};
use leakscope_client::{Backend, ClientError, Connection, Target};
use leakscope_gate::RuntimeStatus;
use tokio_stream::StreamExt as _;

use super::args::{Format, SnapshotArgs};
use super::{json, text};
use crate::connect::{model_for, take_dump, warn_stalled};
use crate::exit::{CliError, ExitStatus};
use crate::runtime::block_on;

/// How long the first update may take before the target counts as silent.
const FIRST_UPDATE_LIMIT: Duration = Duration::from_secs(10);

/// What the renderers print: the analysis, the kind of source, and the runtimes' health as the
/// last update reported it.
pub(crate) struct Observed {
    pub(crate) report: Report,
    pub(crate) backend: Backend,
    pub(crate) runtimes: Vec<RuntimeStatus>,
}

/// Runs `leakscope snapshot`.
pub(crate) fn run(args: SnapshotArgs) -> Result<ExitStatus, CliError> {
    let config = args.thresholds.load()?;
    let target = Target::parse(&args.addr)?;
    let observed = block_on(observe(&args, &target, &config))??;
    let output = match args.format {
        Format::Text => text::render(&observed, args.groups),
        Format::Json => json::render(&observed),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::Output)?;
    Ok(ExitStatus::Success)
}

/// Connects, applies updates for `--wait`, takes a dump when `--task-dump` asks, and analyses.
async fn observe(
    args: &SnapshotArgs,
    target: &Target,
    config: &Config,
) -> Result<Observed, CliError> {
    let mut connection = Connection::connect(target).await?;
    warn_stalled(&connection);
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
    // A dump that does not succeed only costs precision (the capture still names wait points);
    // the report's `dump` says what became of it.
    let mut unanswered = None;
    if args.task_dump {
        match take_dump(&mut connection, args.dump_timeout).await {
            Ok(dump) => model.apply_dump(dump),
            Err(outcome) => unanswered = Some(outcome),
        }
    }
    let mut report = analyze(&model, config);
    report.target.address = Some(addr);
    if unanswered.is_some() {
        report.target.dump = unanswered;
    }
    Ok(Observed {
        report,
        backend: connection.backend(),
        runtimes: RuntimeStatus::all(model.runtimes()),
    })
}
