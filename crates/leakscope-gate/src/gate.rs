//! The gate itself: attach mode (watch a running service through its window) and run mode
//! (start the service, wait for its agent, run the load, then check growth during it and
//! settling after it), each ending in a [`GateReport`] written in every asked-for format.
//!
//! Never flaky: a limit that looks exceeded at the end of the window is measured again, with
//! backoff, for up to `--settle`; a burst of requests in flight passes, a leak does not. Findings
//! come from `leakscope-analysis`, whose own thresholds (a second of grace for lost wakers and
//! deadlocks) keep a snapshot taken mid-operation from counting.

use std::future::Future;
use std::io::Write as _;
use std::time::{Duration, Instant};

use leakscope_analysis::{Config, SourceLocation};
use leakscope_client::{Connection, Target};

use crate::args::{ADDR_ENV, Format, GateArgs};
use crate::error::GateError;
use crate::format;
use crate::limits::{self, Counts, LimitCheck, Violation};
use crate::observe::{Measured, Watcher, measure};
use crate::process::{self, Child};
use crate::report::{self, GateReport, Mode, Parts, SettleCheck, TargetInfo, Verdict};

/// Default of `--startup-timeout`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of `--settle-tolerance`.
const SETTLE_TOLERANCE: u64 = 5;
/// How long the task dump `--task-dump` asks for may take.
const DUMP_TIMEOUT: Duration = Duration::from_secs(2);
/// The first re-measurement of an exceeded limit comes this soon; then the pause doubles.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// Longest pause between re-measurements.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Runs the gate described by `args`, with the analysis thresholds in `config`, writes its
/// reports, and returns the verdict. An `Err` means no verdict; its kind decides the exit code
/// (the CLI's `CliError::from_gate`: 2 for leakscope's side, 3 for the service's, 130 when
/// interrupted). `--report` paths are checked before anything connects.
pub async fn run(args: GateArgs, config: Config) -> Result<Verdict, GateError> {
    // A report that cannot be written fails now, not after the whole window.
    for file in &args.report {
        crate::input::check_writable(&file.path)
            .map_err(|reason| GateError::Unwritable { path: file.path.clone(), reason })?;
    }
    // Listening before the gate starts anything: a signal that comes as soon as the service
    // speaks must find the handler in place, not the default action (death by SIGINT, no report).
    let signal = shutdown_signal();
    let interrupted = async {
        signal.await;
        Err::<GateReport, _>(GateError::Interrupted)
    };
    let gate = async {
        match &args.run {
            None => attach(&args, &config).await,
            Some(command) => run_mode(&args, &config, command).await,
        }
    };
    let report = tokio::select! {
        report = gate => report?,
        interrupted = interrupted => interrupted?,
    };
    write_reports(&args, &report)?;
    Ok(report.verdict)
}

/// Listens for Ctrl-C (and SIGTERM on Unix) from the call on, and resolves when one comes.
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered now, not at the first poll (as `tokio::signal::ctrl_c` would).
        let interrupt = signal(SignalKind::interrupt());
        let terminate = signal(SignalKind::terminate());
        async move {
            match (interrupt, terminate) {
                (Ok(mut interrupt), Ok(mut terminate)) => {
                    tokio::select! {
                        _ = interrupt.recv() => {}
                        _ = terminate.recv() => {}
                    }
                }
                (Ok(mut only), Err(_)) | (Err(_), Ok(mut only)) => {
                    only.recv().await;
                }
                (Err(_), Err(_)) => std::future::pending().await,
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Attach mode: warmup, window, settle retries, verdict.
async fn attach(args: &GateArgs, config: &Config) -> Result<GateReport, GateError> {
    let target = Target::parse(args.addr.as_deref().unwrap_or(leakscope_client::DEFAULT_ADDR))?;
    let mut connection = Connection::connect(&target).await?;
    let mut watcher = Watcher::start(&mut connection, args.interval()).await?;
    watcher.watch_for(args.warmup).await?;
    let from = watcher.mark();
    watcher.watch_for(args.window).await?;
    let limits = args.limits();
    let window = measure(&watcher.model, &watcher.samples, from);
    let settling = Instant::now();
    let mut checks = check_limits(&limits, &window);
    let mut retried = false;
    // An exceeded growth or rate may be a burst in flight: measure again, with backoff, until it
    // passes or `--settle` is spent. A peak above `--max-tasks` was real and stays a failure.
    let mut pause = FIRST_RETRY;
    while checks.iter().any(|c| !c.passed && c.limit != limits::LimitKind::MaxTasks) {
        let left = args.settle.saturating_sub(settling.elapsed());
        if left.is_zero() {
            break;
        }
        watcher.watch_for(pause.min(left)).await?;
        retried = true;
        pause = (pause * 2).min(MAX_RETRY);
        checks = check_limits(&limits, &measure(&watcher.model, &watcher.samples, from));
    }
    let settle_secs = if retried { settling.elapsed().as_secs_f64() } else { 0.0 };
    // The counts run to the last re-measurement; the window is reported as it was asked for.
    let mut measured = measure(&watcher.model, &watcher.samples, from);
    measured.window_secs = window.window_secs;
    measured.samples = window.samples;
    let target_info = target_info(&connection, Mode::Attach, None, None);
    finish(args, config, &mut connection, watcher, measured, checks, None, target_info, settle_secs)
        .await
}

/// Run mode: start the service, gate it, stop it.
async fn run_mode(
    args: &GateArgs,
    config: &Config,
    command: &str,
) -> Result<GateReport, GateError> {
    let (target, env) = match &args.addr {
        Some(addr) => (Target::parse(addr)?, Vec::new()),
        None => {
            let addr = free_loopback_addr()
                .map_err(|source| GateError::Spawn { command: command.to_owned(), source })?;
            (Target::parse(&addr)?, vec![("LEAKSCOPE_BIND", addr)])
        }
    };
    let mut service = Child::spawn(command, &env)?;
    let result = gate_service(args, config, &target, &mut service).await;
    service.stop().await;
    result
}

async fn gate_service(
    args: &GateArgs,
    config: &Config,
    target: &Target,
    service: &mut Child,
) -> Result<GateReport, GateError> {
    let mut connection = wait_for_agent(target, service, args).await?;
    let mut watcher = Watcher::start(&mut connection, args.interval()).await?;
    guard(service, watcher.watch_for(args.warmup)).await??;
    let from = watcher.mark();
    let Some(load_command) = &args.load else {
        // No load: the service's own activity over the window is what is gated.
        guard(service, watcher.watch_for(args.window)).await??;
        let measured = measure(&watcher.model, &watcher.samples, from);
        let checks = check_limits(&args.limits(), &measured);
        let info = target_info(&connection, Mode::Run, Some(service.command()), None);
        return finish(args, config, &mut connection, watcher, measured, checks, None, info, 0.0)
            .await;
    };

    // The load's run is the window; growth and rate are measured over it.
    // LEAKSCOPE_ADDR is the name every leakscope command reads, so a load that runs
    // `leakscope snapshot` needs no address; LEAKSCOPE_AGENT is kept for loads written before it.
    let addr = target.to_string();
    let env = [(ADDR_ENV, addr.clone()), ("LEAKSCOPE_AGENT", addr)];
    let mut load = Child::spawn(load_command, &env)?;
    let status = guard(service, watcher.until(load.wait())).await???;
    if !status.success() {
        return Err(GateError::LoadFailed {
            command: load.command().to_owned(),
            status: process::describe(status),
        });
    }
    load.stop().await;
    let during = measure(&watcher.model, &watcher.samples, from);
    let load_end = watcher.samples.len();

    // Then tasks must come back to the baseline (within the tolerance), total and per location.
    let tolerance = args.settle_tolerance.unwrap_or(SETTLE_TOLERANCE);
    let settling = Instant::now();
    let mut pause = FIRST_RETRY;
    let mut settle = settle_check(&watcher, from, tolerance, 0.0);
    while !settle.passed {
        let left = args.settle.saturating_sub(settling.elapsed());
        if left.is_zero() {
            break;
        }
        guard(service, watcher.watch_for(pause.min(left))).await??;
        pause = (pause * 2).min(MAX_RETRY);
        settle = settle_check(&watcher, from, tolerance, settling.elapsed().as_secs_f64());
    }
    let settle_secs = settling.elapsed().as_secs_f64();
    // Limits judge the load's run; the report's end counts are those after settling.
    let checks = check_limits(&args.limits(), &during);
    let mut measured = measure(&watcher.model, &watcher.samples, from);
    measured.window_secs = during.window_secs;
    measured.samples = load_end.saturating_sub(from);
    let info = target_info(&connection, Mode::Run, Some(service.command()), Some(load_command));
    finish(
        args,
        config,
        &mut connection,
        watcher,
        measured,
        checks,
        Some(settle),
        info,
        settle_secs,
    )
    .await
}

/// Runs `work` unless the service exits first, which is an error.
async fn guard<F: Future>(service: &mut Child, work: F) -> Result<F::Output, GateError> {
    let command = service.command().to_owned();
    let exited = async {
        loop {
            match service.try_status() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(err) => return Err(err),
            }
        }
    };
    tokio::select! {
        out = work => Ok(out),
        status = exited => Err(GateError::ServiceExited {
            command,
            status: process::describe(status?),
        }),
    }
}

/// Connects to the service's agent, retrying with backoff until `--startup-timeout`.
async fn wait_for_agent(
    target: &Target,
    service: &mut Child,
    args: &GateArgs,
) -> Result<Connection, GateError> {
    let limit = args.startup_timeout.unwrap_or(STARTUP_TIMEOUT);
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        if let Some(status) = service.try_status()? {
            return Err(GateError::ExitedEarly {
                command: service.command().to_owned(),
                status: process::describe(status),
                addr: target.to_string(),
            });
        }
        let left = limit.saturating_sub(started.elapsed());
        let attempt = Duration::from_secs(1).min(left.max(Duration::from_millis(10)));
        let last = match Connection::connect_within(target, attempt).await {
            Ok(connection) => return Ok(connection),
            Err(err) => err.to_string(),
        };
        if started.elapsed() >= limit {
            return Err(GateError::StartupTimeout {
                command: service.command().to_owned(),
                addr: target.to_string(),
                secs: limit.as_secs_f64(),
                last,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// A loopback address with a port free a moment ago, for the service's agent.
fn free_loopback_addr() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.to_string())
}

fn check_limits(limits: &[limits::Limit], measured: &Measured) -> Vec<LimitCheck> {
    let locations: Vec<(SourceLocation, Counts)> =
        measured.locations.iter().map(|(_, l, c)| (l.clone(), *c)).collect();
    limits::check(limits, &measured.total, &locations)
}

/// Live tasks now against the baseline (the window's first sample), total and per location.
fn settle_check(watcher: &Watcher, from: usize, tolerance: u64, waited_secs: f64) -> SettleCheck {
    let (Some(baseline), Some(now)) = (watcher.samples.get(from), watcher.samples.last()) else {
        return SettleCheck {
            baseline: 0,
            end: 0,
            tolerance,
            waited_secs,
            passed: true,
            violations: Vec::new(),
        };
    };
    let mut violations = Vec::new();
    if now.total > baseline.total + tolerance {
        violations.push(Violation {
            location: None,
            actual: now.total as f64,
            message: format!(
                "live tasks in total stayed at {} (baseline {}, tolerance {tolerance})",
                now.total, baseline.total
            ),
        });
    }
    let mut locations: Vec<(&u32, &u64)> = now.by_location.iter().collect();
    locations.sort();
    for (id, &count) in locations {
        let before = baseline.by_location.get(id).copied().unwrap_or(0);
        if count > before + tolerance {
            let location = watcher.model.location(*id).clone();
            violations.push(Violation {
                message: format!(
                    "live tasks at {location} stayed at {count} (baseline {before}, tolerance {tolerance})"
                ),
                location: Some(location),
                actual: count as f64,
            });
        }
    }
    violations.sort_by(|a, b| b.actual.total_cmp(&a.actual));
    SettleCheck {
        baseline: baseline.total,
        end: now.total,
        tolerance,
        waited_secs,
        passed: violations.is_empty(),
        violations,
    }
}

fn target_info(
    connection: &Connection,
    mode: Mode,
    command: Option<&str>,
    load: Option<&str>,
) -> TargetInfo {
    let hello = connection.hello();
    TargetInfo {
        address: connection.target().to_string(),
        process_name: hello.process_name.clone(),
        pid: hello.pid,
        mode,
        command: command.map(str::to_owned),
        load: load.map(str::to_owned),
    }
}

/// Analyses the final state and builds the report. With `--task-dump`, a failing verdict also
/// takes a task dump (when the agent can, and will: it refuses while a runtime is stalled or its
/// run queues are long), so the report names what the tasks wait on exactly then; the report
/// says what became of it. Without it, wait points come from the agent's capture.
#[expect(clippy::too_many_arguments, reason = "the pieces of one report, assembled once")]
async fn finish(
    args: &GateArgs,
    config: &Config,
    connection: &mut Connection,
    mut watcher: Watcher,
    measured: Measured,
    limits: Vec<LimitCheck>,
    settle: Option<SettleCheck>,
    target: TargetInfo,
    settle_secs: f64,
) -> Result<GateReport, GateError> {
    let parts =
        |measured: Measured, limits: Vec<LimitCheck>, settle: Option<SettleCheck>, target| Parts {
            target,
            measured,
            limits,
            settle,
            warmup_secs: args.warmup.as_secs_f64(),
            settle_secs,
            fail_on: args.fail_on.0.clone(),
            fail_severity: args.fail_severity,
            top: args.top,
            per_location_limits: args.limits().iter().any(|l| l.locations.is_some()),
        };
    let mut report = report::build(
        &watcher.model,
        config,
        parts(measured.clone(), limits.clone(), settle.clone(), target.clone()),
    );
    if report.verdict == Verdict::Pass || !args.task_dump {
        return Ok(report);
    }
    // A dump that does not succeed leaves the findings as they were, and the report says why.
    match connection.dump(DUMP_TIMEOUT).await {
        Ok(Some(dump)) => {
            watcher.model.apply_dump(dump);
            report = report::build(&watcher.model, config, parts(measured, limits, settle, target));
        }
        Ok(None) => {
            report.dump = Some(
                "unsupported: this target cannot take task dumps (console-subscriber, or an \
                 agent built without --cfg tokio_unstable or off Linux)"
                    .to_owned(),
            );
        }
        Err(err) => report.dump = Some(format!("failed: {err}")),
    }
    Ok(report)
}

/// Prints the report on stdout in `--format`, writes every `--report` file, and appends the
/// GitHub step summary when asked for GitHub output inside Actions.
fn write_reports(args: &GateArgs, report: &GateReport) -> Result<(), GateError> {
    let text = format::render(report, args.format);
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()).map_err(GateError::Output)?;
    for file in &args.report {
        std::fs::write(&file.path, format::render(report, file.format))
            .map_err(|source| GateError::Report { path: file.path.clone(), source })?;
    }
    let github =
        args.format == Format::Github || args.report.iter().any(|r| r.format == Format::Github);
    if github && let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let path = std::path::PathBuf::from(path);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| GateError::Report { path: path.clone(), source })?;
        file.write_all(format::step_summary(report).as_bytes())
            .map_err(|source| GateError::Report { path, source })?;
    }
    Ok(())
}
