//! The `snapshot` command itself: connect, watch, (when asked) dump, analyse, print.

use std::io::Write as _;
use std::time::Duration;

use leakscope_analysis::{Config, Group, Model, Report, analyze, format_count, group_tasks};
use leakscope_client::{Backend, ClientError, Connection, Target};
use leakscope_gate::RuntimeStatus;
use leakscope_proto::v1::{
    AggregateRequest, GroupTasksRequest, HelloResponse, MAX_AGGREGATE_WAIT_SECS,
};
use tokio_stream::StreamExt as _;

use super::args::{Format, SnapshotArgs};
use super::page::{Ask, Page, PageTask};
use super::{json, page, text};
use crate::connect::{model_for, take_dump, warn_stalled};
use crate::exit::{CliError, ExitStatus};
use crate::runtime::block_on;

/// The longest `--wait` an agent watches for when it analyses.
const MAX_AGENT_WAIT: Duration = Duration::from_secs(MAX_AGGREGATE_WAIT_SECS);
/// How long the target may send nothing at all (no part of an update) before it counts as
/// silent.
const SILENCE_LIMIT: Duration = Duration::from_secs(10);
/// The first update's time limit is this...
const FIRST_UPDATE_BASE: Duration = Duration::from_secs(10);
/// ...plus this per live task the handshake reported (10 s more per million tasks: a 1M-task
/// first update streams in about 5 s on two cores).
const FIRST_UPDATE_PER_TASK: Duration = Duration::from_micros(10);

/// The first update's time limit: `--first-update-timeout`, or one derived from the target's
/// size (its runtimes' live tasks at the handshake).
pub(crate) fn first_update_limit(asked: Option<Duration>, hello: &HelloResponse) -> Duration {
    asked.unwrap_or_else(|| {
        let tasks: u64 = hello.runtimes.iter().map(|r| r.alive_tasks).sum();
        FIRST_UPDATE_BASE + FIRST_UPDATE_PER_TASK * u32::try_from(tasks).unwrap_or(u32::MAX)
    })
}

/// What the renderers print: the analysis, the kind of source, who analysed, the runtimes'
/// health as the last update reported it, and the page of a group's tasks `--tasks-of` asked
/// for.
pub(crate) struct Observed {
    pub(crate) report: Report,
    pub(crate) backend: Backend,
    pub(crate) analysed_by: AnalysedBy,
    pub(crate) runtimes: Vec<RuntimeStatus>,
    pub(crate) page: Option<Page>,
}

/// Where the analysis ran: in this command, from every task the target sent, or in the agent
/// (`--in-agent`), which sent its report alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AnalysedBy {
    Client,
    Agent,
}

impl AnalysedBy {
    /// `client` or `agent`, as the JSON's `analysed_by` says.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Client => "client",
            Self::Agent => "agent",
        }
    }
}

/// Why the first update did not arrive: the target said nothing, or it is busy sending a large
/// one ("busy: N of M tasks sent"), with what to do about it.
fn first_update_late(model: &Model, limit: Duration, whole_limit: bool) -> String {
    match model.streaming() {
        Some((sent, total)) if whole_limit => format!(
            "the agent is busy: {} of {} tasks sent within {}s (raise --first-update-timeout)",
            format_count(sent),
            format_count(total),
            limit.as_secs_f64()
        ),
        Some((sent, total)) => format!(
            "the agent went silent: {} of {} tasks sent, then nothing for {}s",
            format_count(sent),
            format_count(total),
            SILENCE_LIMIT.as_secs()
        ),
        None if whole_limit => format!("no update within {}s", limit.as_secs_f64()),
        None => format!("no update within {}s", SILENCE_LIMIT.as_secs()),
    }
}

/// Runs `leakscope snapshot`.
pub(crate) fn run(args: SnapshotArgs) -> Result<ExitStatus, CliError> {
    let config = args.thresholds.load()?;
    let target = Target::parse(&args.addr)?;
    if args.in_agent && args.wait > MAX_AGENT_WAIT {
        return Err(CliError::Usage(format!(
            "--in-agent watches for at most {}s (the agent's limit); --wait {:?} is longer",
            MAX_AGENT_WAIT.as_secs(),
            args.wait
        )));
    }
    let observed = if args.in_agent {
        block_on(observe_in_agent(&args, &target, &config))??
    } else {
        block_on(observe(&args, &target, &config))??
    };
    let output = match (&observed.page, args.format) {
        (Some(tasks), Format::Text) => page::text(&observed, tasks),
        (Some(tasks), Format::Json) => page::json(&observed, tasks),
        (None, Format::Text) => text::render(&observed, args.groups),
        (None, Format::Json) => json::render(&observed),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(output.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::Output)?;
    Ok(ExitStatus::Success)
}

/// Connects and says at once what the handshake found stalled; the interval to ask for, and
/// whether it was cut to `--wait` (said on stderr).
async fn connect(
    args: &SnapshotArgs,
    target: &Target,
) -> Result<(Connection, Option<Duration>, bool), CliError> {
    let connection = Connection::connect(target).await?;
    warn_stalled(&connection);
    let (interval, cut) = args.watch_interval();
    let interval_cut = cut.is_some();
    if let Some(cut) = cut {
        eprintln!("leakscope: {cut}");
    }
    Ok((connection, interval, interval_cut))
}

/// Connects, applies updates for `--wait`, takes a dump when `--task-dump` asks, and analyses.
async fn observe(
    args: &SnapshotArgs,
    target: &Target,
    config: &Config,
) -> Result<Observed, CliError> {
    let (mut connection, interval, interval_cut) = connect(args, target).await?;
    let mut model = model_for(&connection);
    let addr = target.to_string();
    let disconnected = || ClientError::Disconnected { addr: addr.clone() };
    let mut updates = connection.watch(interval).await?;
    // The first (full) update comes at once from an agent, and within its publish interval
    // from console-subscriber; `--wait` counts from it. A large one streams in parts.
    let limit = first_update_limit(args.first_update_timeout, connection.hello());
    let first_deadline = tokio::time::Instant::now() + limit;
    loop {
        let silence = tokio::time::Instant::now() + SILENCE_LIMIT;
        match tokio::time::timeout_at(first_deadline.min(silence), updates.next()).await {
            Err(_) => {
                return Err(ClientError::Request {
                    what: "watch",
                    addr: addr.clone(),
                    reason: first_update_late(&model, limit, first_deadline <= silence),
                }
                .into());
            }
            Ok(part) => {
                if model.apply_part(part.ok_or_else(disconnected)??) {
                    break;
                }
            }
        }
    }
    // Updates until the first one at or past the deadline, so that the observed window is at
    // least `--wait` (a `--wait 30s` meets a 30 s growth window). An update late by more than
    // the grace ends the watch with what arrived.
    let deadline = tokio::time::Instant::now() + args.wait;
    // `interval` is at most `--wait`, itself at most `MAX_DURATION`: no overflow here.
    let grace = interval.unwrap_or(Duration::from_secs(1)).max(Duration::from_secs(1)) * 2;
    // With the interval cut to `--wait`, the one update of the window arrives about at the
    // deadline, a little before or after; the watch ends at the deadline rather than a whole
    // interval later.
    let end = if interval_cut { deadline } else { deadline + grace };
    while !args.wait.is_zero() {
        match tokio::time::timeout_at(end, updates.next()).await {
            Err(_) => break,
            Ok(part) => {
                if !model.apply_part(part.ok_or_else(disconnected)??) {
                    continue;
                }
            }
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
    let page = match args.page() {
        Some(ask) => {
            let group = ranked(&report, ask)?;
            let page = group_tasks(
                &model,
                &group.location.to_string(),
                &group.waiting_on.to_string(),
                ask.order.analysis(),
                usize::try_from(ask.offset).unwrap_or(usize::MAX),
                ask.limit as usize,
            );
            let now = model.now_nanos();
            let tasks = page.tasks.iter().map(|t| PageTask::from_record(t, now)).collect();
            Some(Page::new(ask, report.groups.len(), page.total, tasks))
        }
        None => None,
    };
    let observed = Observed {
        report,
        backend: connection.backend(),
        analysed_by: AnalysedBy::Client,
        runtimes: RuntimeStatus::all(model.runtimes()),
        page,
    };
    // The process ends after printing: freeing a million records one by one would only delay
    // the report (over a second at 1M tasks); the OS takes the memory back at exit.
    std::mem::forget(model);
    Ok(observed)
}

/// `--in-agent`: the agent follows its updates for `--wait` and analyses under the same
/// thresholds; the command receives the report, and with `--tasks-of` one page of a group's
/// tasks, never the tasks themselves.
async fn observe_in_agent(
    args: &SnapshotArgs,
    target: &Target,
    config: &Config,
) -> Result<Observed, CliError> {
    let (mut connection, interval, _) = connect(args, target).await?;
    let addr = target.to_string();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let request = AggregateRequest {
        wait_nanos: nanos(args.wait),
        interval_nanos: interval.map_or(0, nanos),
        config_json: serde_json::to_string(config).map_err(|err| {
            CliError::Usage(format!("the thresholds cannot be sent to the agent: {err}"))
        })?,
        dump_timeout_millis: if args.task_dump {
            u64::try_from(args.dump_timeout.as_millis()).unwrap_or(u64::MAX).max(1)
        } else {
            0
        },
    };
    // The agent watches for `--wait`, after a first update that takes as long as a client's
    // would, then dumps when asked: the answer is late past all three.
    let first = first_update_limit(args.first_update_timeout, connection.hello());
    let dump = if args.task_dump { args.dump_timeout } else { Duration::ZERO };
    let limit = args.wait.saturating_add(first).saturating_add(dump).saturating_add(SILENCE_LIMIT);
    let late = || ClientError::Request {
        what: "aggregate",
        addr: addr.clone(),
        reason: format!(
            "no report within {}s (the agent watches for --wait, after its first update: raise \
             --first-update-timeout for a very large app)",
            limit.as_secs_f64()
        ),
    };
    let response =
        tokio::time::timeout(limit, connection.aggregate(request)).await.map_err(|_| late())??;
    let mut report: Report =
        serde_json::from_slice(&response.report_json).map_err(|err| ClientError::Request {
            what: "aggregate",
            addr: addr.clone(),
            reason: format!("the agent's report does not parse: {err}"),
        })?;
    report.target.address = Some(addr);
    let page = match args.page() {
        Some(ask) => {
            let group = ranked(&report, ask)?;
            let request = GroupTasksRequest {
                location: group.location.to_string(),
                waiting_on: group.waiting_on.to_string(),
                order: ask.order.wire() as i32,
                offset: ask.offset,
                limit: ask.limit,
            };
            let answer = connection.group_tasks(request).await?;
            let tasks = answer.tasks.iter().map(PageTask::from_wire).collect();
            Some(Page::new(ask, report.groups.len(), answer.total, tasks))
        }
        None => None,
    };
    Ok(Observed {
        report,
        backend: connection.backend(),
        analysed_by: AnalysedBy::Agent,
        runtimes: RuntimeStatus::all(&response.runtimes),
        page,
    })
}

/// The group `--tasks-of` names, or why there is none.
fn ranked(report: &Report, ask: Ask) -> Result<&Group, CliError> {
    report.groups.get(ask.rank - 1).ok_or_else(|| {
        CliError::Usage(match report.groups.len() {
            0 => format!("--tasks-of {}: the report has no group of live tasks", ask.rank),
            1 => format!("--tasks-of {}: the report has 1 group", ask.rank),
            n => format!("--tasks-of {}: the report has {n} groups", ask.rank),
        })
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use leakscope_analysis::Model;
    use leakscope_proto::v1::{
        HelloResponse, RuntimeMetrics, Snapshot, Task, Update, WatchMessage,
    };

    use super::{first_update_late, first_update_limit};

    #[test]
    fn the_first_update_limit_scales_with_the_target_or_follows_the_flag() {
        let check = |alive: &[u64], asked: Option<u64>, expected_secs: u64| {
            let hello = HelloResponse {
                runtimes: alive
                    .iter()
                    .map(|&alive_tasks| RuntimeMetrics { alive_tasks, ..RuntimeMetrics::default() })
                    .collect(),
                ..HelloResponse::default()
            };
            let limit = first_update_limit(asked.map(Duration::from_secs), &hello);
            assert_eq!(limit, Duration::from_secs(expected_secs), "{alive:?} {asked:?}");
        };
        check(&[], None, 10);
        check(&[100_000], None, 11);
        check(&[600_000, 400_000], None, 20);
        check(&[1_000_000], Some(3), 3);
    }

    #[test]
    fn a_late_first_update_says_how_far_it_got() {
        let mut model = Model::from_hello(&HelloResponse::default());
        let limit = Duration::from_secs(20);
        assert_eq!(first_update_late(&model, limit, true), "no update within 20s");
        assert_eq!(first_update_late(&model, limit, false), "no update within 10s");
        let part = WatchMessage {
            update: Some(Update {
                full: true,
                snapshot: Some(Snapshot {
                    tasks: vec![Task { id: 1, ..Task::default() }],
                    ..Snapshot::default()
                }),
            }),
            more: true,
            part: 0,
            tasks_sent: 420_000,
            tasks_total: 1_000_000,
            ..WatchMessage::default()
        };
        assert!(!model.apply_part(part));
        assert_eq!(
            first_update_late(&model, limit, true),
            "the agent is busy: 420,000 of 1,000,000 tasks sent within 20s (raise \
             --first-update-timeout)"
        );
        assert_eq!(
            first_update_late(&model, limit, false),
            "the agent went silent: 420,000 of 1,000,000 tasks sent, then nothing for 10s"
        );
    }
}
