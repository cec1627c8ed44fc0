//! The terminal UI at scale (issue 4): `leakscope attach --bench-frames N` against a target
//! holding 100,000 live tasks, once per kind of target: a leakscope agent, and an app running only
//! console-subscriber (read through console-api, as tokio-console reads it). On the latter,
//! tokio-console itself too (installed with `cargo install` into the target directory), watched
//! in a pseudo-terminal from script(1): what its screen shows, and its memory and CPU. In a full
//! run, also a leakscope agent holding 1,000,000 tasks (issue 14): the UI as above, and
//! `leakscope snapshot` of it (time, exact count, the CLI's peak RSS).

use super::{Mode, built_executable, cargo, last_line, number};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The targets the UI is attached to, in table order, with their task count when not the idle
/// workload's default; the last only in a full run.
const TARGETS: [(Mode, Option<usize>); 3] =
    [(Mode::Leakscope, None), (Mode::Console, None), (Mode::Leakscope, Some(LARGE))];
/// The large target's tasks: where the Go incident this project started from was heading.
const LARGE: usize = 1_000_000;
/// How long `snapshot` of the large target may take.
const SNAPSHOT_LIMIT: Duration = Duration::from_secs(300);
/// How long a target may take to park its tasks and say where to attach.
const READY_LIMIT: Duration = Duration::from_secs(180);
/// How long one `attach --bench-frames` may take, first analysis included.
const ATTACH_LIMIT: Duration = Duration::from_secs(400);
/// How long tokio-console is watched.
const CONSOLE_WATCH: Duration = Duration::from_secs(20);
/// tokio-console's terminal.
const CONSOLE_ROWS: u16 = 48;
const CONSOLE_COLS: u16 = 160;

/// One target's figures: the UI's JSON line, or why there is none.
pub(super) struct Run {
    mode: Mode,
    tasks: u64,
    figures: Result<Value, String>,
    /// tokio-console on the same target (console-subscriber targets only).
    tokio_console: Option<Result<Value, String>>,
    /// `leakscope snapshot` of the target (the large target only).
    snapshot: Option<Result<Value, String>>,
    /// `leakscope snapshot --in-agent` of the target, after the figures above, with what it cost
    /// the target (the large agent target only).
    in_agent: Option<Result<Value, String>>,
    /// The app's side at the large size, against a plain tokio target of the same size (the
    /// large target only): see [`AppFigures`].
    app: Option<Result<AppFigures, String>>,
}

/// What holding the large target's tasks costs the app, with a client served: spawn and park
/// time and RSS of the plain tokio target and of the agent's, the agent's at rest (settled after
/// parking, no client yet) and at its peak after a `snapshot` and an `attach` were served.
#[derive(Debug)]
pub(super) struct AppFigures {
    plain_spawn_seconds: f64,
    plain_rss: u64,
    agent_spawn_seconds: f64,
    agent_rss_at_rest: u64,
    agent_rss_peak_serving: u64,
    /// Spawn and park times, (plain tokio, the agent), of the targets above and of
    /// [`SPAWN_ROUNDS`] more pairs started for nothing else: one pair is at the machine's mercy.
    spawn_rounds: Vec<(f64, f64)>,
}

/// Pairs of large targets (plain tokio, then the agent) started only to time spawning and
/// parking, after the measured pair.
const SPAWN_ROUNDS: usize = 3;

/// The agent's spawn-and-park time over plain tokio's, the median of the rounds' ratios.
fn median_spawn_ratio(rounds: &[(f64, f64)]) -> Option<f64> {
    let ratios: Vec<f64> = rounds.iter().map(|&(plain, agent)| agent / plain.max(1e-9)).collect();
    super::report::median(&ratios)
}

/// Spawn and park times of `rounds` more pairs of large targets: plain tokio, then `mode`, each
/// alone. A pair that fails to start is left out.
fn spawn_rounds(bench: &Path, mode: Mode, size: Option<usize>, rounds: usize) -> Vec<(f64, f64)> {
    let time = |mode| Target::start(bench, mode, false, size).and_then(|target| target.idle());
    (0..rounds)
        .filter_map(|round| {
            let pair = time(Mode::Plain).and_then(|(plain, _)| Ok((plain, time(mode)?.0)));
            eprintln!("bench: spawn and park, round {}: {pair:?}", round + 2);
            pair.ok()
        })
        .collect()
}

/// Builds the CLI, then attaches it to each kind of target in turn.
pub(super) fn run(bench: &Path, quick: bool) -> Vec<Run> {
    let cli = match build_cli() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("bench: the UI's figures are not measured: {err}");
            return TARGETS
                .iter()
                .map(|&(mode, _)| Run {
                    mode,
                    tasks: 0,
                    figures: Err(err.clone()),
                    tokio_console: None,
                    snapshot: None,
                    in_agent: None,
                    app: None,
                })
                .collect();
        }
    };
    let frames = if quick { "60" } else { "300" };
    TARGETS
        .iter()
        .filter(|(_, size)| !quick || size.is_none())
        .map(|&(mode, size)| {
            let mut snapshot = None;
            let mut in_agent = None;
            let mut app = None;
            // The plain tokio target first, alone, so that the two never share the cores.
            let plain = size.map(|_| {
                Target::start(bench, Mode::Plain, quick, size).and_then(|plain| plain.idle())
            });
            let (tasks, figures, tokio_console) = match Target::start(bench, mode, quick, size) {
                Ok(target) => {
                    if size.is_some() {
                        let measured = measure_snapshot(&cli, &target.addr, &[]);
                        eprintln!("bench: snapshot of {} tasks: {measured:?}", target.tasks);
                        snapshot = Some(measured);
                    }
                    // Fewer frames at 1M, as each may take a while and the limit is shared, but
                    // enough to open every screen (the session opens one every 20 frames, the
                    // Resources list of a million oneshots at the 140th).
                    let frames = if size.is_some() { "200" } else { frames };
                    // What serving the UI costs the target: its CPU time over the session.
                    let cpu_before = cpu_seconds(target.child.id());
                    let attached = std::time::Instant::now();
                    let figures = last_line(
                        &cli,
                        &["attach", &target.addr, "--bench-frames", frames],
                        ATTACH_LIMIT,
                    )
                    .and_then(|line| {
                        serde_json::from_str::<Value>(&line)
                            .map_err(|_| format!("unreadable figures {line:?}"))
                    })
                    .map(|mut figures| {
                        let cpu = cpu_before
                            .zip(cpu_seconds(target.child.id()))
                            .map(|(before, after)| after - before);
                        figures["target_cpu_seconds"] = cpu.into();
                        figures["attached_seconds"] = attached.elapsed().as_secs_f64().into();
                        figures
                    });
                    let tokio_console = (mode == Mode::Console).then(|| {
                        tokio_console(bench).and_then(|exe| watch_tokio_console(&exe, &target.addr))
                    });
                    app = plain.map(|plain| {
                        let (plain_spawn_seconds, plain_rss) = plain?;
                        let (agent_spawn_seconds, agent_rss_at_rest) = target.idle()?;
                        let agent_rss_peak_serving = peak_rss(target.child.id())
                            .ok_or("the target's peak RSS is unreadable")?;
                        Ok(AppFigures {
                            plain_spawn_seconds,
                            plain_rss,
                            agent_spawn_seconds,
                            agent_rss_at_rest,
                            agent_rss_peak_serving,
                            spawn_rounds: vec![(plain_spawn_seconds, agent_spawn_seconds)],
                        })
                    });
                    if let Some(app) = &app {
                        eprintln!("bench: the app at {} tasks: {app:?}", target.tasks);
                    }
                    // After the app's figures: the model the agent builds for it would raise
                    // the serving peak above what one attached client costs.
                    if size.is_some() && mode == Mode::Leakscope {
                        let measured = measure_in_agent(&cli, &target);
                        eprintln!("bench: snapshot --in-agent: {measured:?}");
                        in_agent = Some(measured);
                    }
                    (target.tasks, figures, tokio_console)
                }
                Err(err) => (0, Err(err), None),
            };
            // With the measured target gone, so that nothing else shares the cores.
            if let Some(Ok(app)) = &mut app {
                app.spawn_rounds.extend(spawn_rounds(bench, mode, size, SPAWN_ROUNDS));
            }
            match &figures {
                Ok(f) => eprintln!("bench: ui {}: {f}", mode.arg()),
                Err(e) => eprintln!("bench: ui {}: failed: {e}", mode.arg()),
            }
            match &tokio_console {
                Some(Ok(f)) => eprintln!("bench: tokio-console {}: {f}", mode.arg()),
                Some(Err(e)) => eprintln!("bench: tokio-console {}: failed: {e}", mode.arg()),
                None => {}
            }
            Run { mode, tasks, figures, tokio_console, snapshot, in_agent, app }
        })
        .collect()
}

/// `leakscope snapshot ADDR --wait 2s --format json --in-agent`, three times: what each took,
/// the CLI's peak RSS and the target's CPU time, the target's RSS with the agent's model, and
/// its RSS once the agent dropped the model (35 s after the last request, past its 30 s keep).
fn measure_in_agent(cli: &Path, target: &Target) -> Result<Value, String> {
    let pid = target.child.id();
    let rss_before = rss(pid).ok_or("the target's RSS is unreadable")?;
    let mut runs = Vec::new();
    for _ in 0..3 {
        let cpu_before = cpu_seconds(pid);
        let mut run = measure_snapshot(cli, &target.addr, &["--in-agent"])?;
        let cpu = cpu_before.zip(cpu_seconds(pid)).map(|(before, after)| after - before);
        run["target_cpu_seconds"] = cpu.into();
        runs.push(run);
    }
    let rss_held = rss(pid).ok_or("the target's RSS is unreadable")?;
    std::thread::sleep(Duration::from_secs(35));
    let rss_released = rss(pid).ok_or("the target's RSS is unreadable")?;
    Ok(serde_json::json!({
        "runs": runs,
        "target_rss_before": rss_before,
        "target_rss_held": rss_held,
        "target_rss_released": rss_released,
    }))
}

/// A process's resident set now (`VmRSS`), in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// `leakscope snapshot ADDR --wait 2s --format json` with `extra` flags: how long it takes, the
/// live count it reports, and its peak RSS (the kernel's high-water mark, read while it runs).
fn measure_snapshot(cli: &Path, addr: &str, extra: &[&str]) -> Result<Value, String> {
    let started = Instant::now();
    let mut child = Command::new(cli)
        .args(["snapshot", addr, "--wait", "2s", "--format", "json"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to start the snapshot: {e}"))?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let mut peak_kib = 0_u64;
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(kib) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_kib = peak_kib.max(kib);
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < SNAPSHOT_LIMIT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", SNAPSHOT_LIMIT.as_secs()));
            }
            Err(e) => return Err(format!("failed to wait for the snapshot: {e}")),
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let text = reader.join().unwrap_or_default();
    let report: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    if !status.success() {
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        return Err(format!("exit {status}: {}", stderr.trim()));
    }
    Ok(serde_json::json!({
        "seconds": seconds,
        "live": report["tasks"]["live"],
        "peak_rss_bytes": peak_kib * 1024,
    }))
}

/// `cargo build --release -p leakscope-cli`, and the `leakscope` executable it reports.
fn build_cli() -> Result<PathBuf, String> {
    eprintln!("bench: cargo build --release -p leakscope-cli");
    let output = cargo()
        .args(["build", "--release", "-p", "leakscope-cli"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("failed to run cargo: {e}"))?;
    if !output.status.success() {
        return Err("leakscope-cli does not build".to_owned());
    }
    built_executable(&String::from_utf8_lossy(&output.stdout), "leakscope")
        .ok_or_else(|| "cargo reported no leakscope executable".to_owned())
}

/// tokio-console, installed into `<target>/tools` by `cargo install --locked` when not there yet.
fn tokio_console(bench: &Path) -> Result<PathBuf, String> {
    let root = bench
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("tools"), |target| target.join("tools"));
    let exe = root.join("bin").join("tokio-console");
    if exe.exists() {
        return Ok(exe);
    }
    eprintln!("bench: cargo install tokio-console --locked --root {}", root.display());
    let status = cargo()
        .args(["install", "tokio-console", "--locked", "--root"])
        .arg(&root)
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("failed to run cargo install: {e}"))?;
    if !status.success() || !exe.exists() {
        return Err("`cargo install tokio-console` failed".to_owned());
    }
    Ok(exe)
}

/// Runs tokio-console against `addr` in a pseudo-terminal (script(1)) for [`CONSOLE_WATCH`], its
/// output read through a terminal emulator: the task count its Tasks view shows, when it first
/// showed any, and its peak RSS and CPU time.
fn watch_tokio_console(exe: &Path, addr: &str) -> Result<Value, String> {
    // Its own warnings say why it shows what it shows.
    let logs = exe.with_file_name(format!("logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&logs);
    let command = format!(
        "stty rows {CONSOLE_ROWS} cols {CONSOLE_COLS}; exec '{}' --log warn --log-dir '{}' \
         http://{addr}",
        exe.display(),
        logs.display()
    );
    let started = Instant::now();
    let mut script = Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        // An open stdin: tokio-console quits on end of input.
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("failed to start script(1) for tokio-console: {e}"))?;
    let mut stdout = script.stdout.take().ok_or("no stdout")?;
    // (tasks its Tasks view shows, seconds until it first showed any)
    let seen = Arc::new(Mutex::new((None::<u64>, None::<f64>)));
    let reader = {
        let seen = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut screen = vt100::Parser::new(CONSOLE_ROWS, CONSOLE_COLS, 0);
            let mut buf = [0u8; 16384];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                screen.process(&buf[..n]);
                if let Some(count) = tasks_shown(&screen.screen().contents()) {
                    let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    seen.0 = Some(count);
                    if count > 0 && seen.1.is_none() {
                        seen.1 = Some(started.elapsed().as_secs_f64());
                    }
                }
            }
        })
    };
    std::thread::sleep(CONSOLE_WATCH);
    let console_pid = child_of(script.id());
    let usage = console_pid.map(|pid| (peak_rss(pid), cpu_seconds(pid)));
    if let Some(pid) = console_pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
    drop(script.stdin.take());
    let _ = script.kill();
    let _ = script.wait();
    let _ = reader.join();
    let (shown, first) = *seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some((rss, cpu)) = usage else {
        return Err("tokio-console was not running after the watch (it exited early)".to_owned());
    };
    let log: String = std::fs::read_dir(&logs)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
        .collect();
    let too_large: Vec<&str> =
        log.lines().filter(|l| l.contains("message length too large")).collect();
    Ok(serde_json::json!({
        "seconds": CONSOLE_WATCH.as_secs_f64(),
        "tasks_shown": shown,
        "first_tasks_after_seconds": first,
        "peak_rss_bytes": rss,
        "cpu_seconds": cpu,
        "updates_rejected_too_large": too_large.len(),
        "first_rejection": too_large.first().and_then(|l| l.rsplit("self: ").next()),
        "tasks_skipped_without_metadata": log.matches("no metadata for task, skipping").count(),
    }))
}

/// The count in tokio-console's Tasks view title, `Tasks (1234)`.
fn tasks_shown(screen: &str) -> Option<u64> {
    let after = &screen[screen.find("Tasks (")? + "Tasks (".len()..];
    after[..after.find(')')?].trim().parse().ok()
}

/// The first process whose parent is `parent` (the program script(1) runs).
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        (fields.get(1)?.parse::<u32>().ok()? == parent).then_some(pid)
    })
}

/// A process's peak resident set (`VmHWM`), in bytes.
fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

/// A process's user plus system CPU time, in seconds (clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); here, after the name, 11 and 12.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// A `leakscope-bench --workload hold` process: killed on drop.
struct Target {
    child: Child,
    addr: String,
    tasks: u64,
    /// The hold workload's start-up line.
    ready: Value,
}

impl Target {
    fn start(bench: &Path, mode: Mode, quick: bool, size: Option<usize>) -> Result<Self, String> {
        let size = size.map(|n| n.to_string());
        let mut args = vec!["--mode", mode.arg(), "--workload", "hold"];
        if quick {
            args.push("--quick");
        }
        if let Some(size) = &size {
            args.extend(["--tasks", size]);
        }
        let mut child = std::process::Command::new(bench)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("failed to start {}: {e}", bench.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            lines.for_each(drop);
        });
        let mut target = Self { child, addr: String::new(), tasks: 0, ready: Value::Null };
        let line = match rx.recv_timeout(READY_LIMIT) {
            Ok(Some(line)) => line,
            Ok(None) => return Err("the target exited before it was ready".to_owned()),
            Err(_) => return Err(format!("the target was not ready within {READY_LIMIT:?}")),
        };
        let ready: Value =
            serde_json::from_str(&line).map_err(|_| format!("unreadable target line {line:?}"))?;
        target.tasks = ready["tasks"].as_u64().unwrap_or(0);
        if mode != Mode::Plain {
            let key = if mode == Mode::Console { "console" } else { "agent" };
            target.addr =
                ready[key].as_str().ok_or(format!("the target has no {key} address"))?.into();
        }
        target.ready = ready;
        Ok(target)
    }

    /// How long the target took to spawn and park its tasks, and its RSS once settled after.
    fn idle(&self) -> Result<(f64, u64), String> {
        let idle = &self.ready["idle"];
        let seconds = idle["spawned_and_parked_seconds"].as_f64();
        let rss = idle["rss_after"].as_u64();
        seconds
            .zip(rss)
            .ok_or_else(|| format!("the target's start-up line has no idle figures: {idle}"))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // Closing stdin ends the hold; the kill is for a target that does not notice.
        drop(self.child.stdin.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The section for docs/benchmarks.md.
pub(super) fn section(runs: &[Run]) -> String {
    let mut doc = String::from("## The terminal UI at scale\n\n");
    doc.push_str(
        "`leakscope attach --bench-frames N` against a process holding live idle tasks (the idle \
         workload's, plus 20 short tasks spawned every 100 ms so that updates keep arriving): \
         connect, first analysis, and the Tasks screen of every live task sorted, drawn \
         off-screen at 160x48 (time to the first full frame); then N frames paced at 16 ms, each \
         applying what arrived and drawing while the screens are cycled (steady frame time); and \
         the CLI's peak RSS. The target's CPU time (user and system) over the session says what \
         serving the UI cost the app; the agent spaces its updates out when building them takes \
         over a tenth of a core (docs/protocol.md). Against the console-subscriber app the UI \
         reads console-api, as \
         tokio-console does. The live-task column is how many of the target's tasks the UI was \
         told about: console-subscriber's aggregator falls behind on large counts (see the burst \
         above), so against it the UI has far fewer to draw.\n\n",
    );
    doc.push_str(
        "| target | live tasks | first full frame | frame p50 | frame p99 | frame max | engine: \
         apply one update / analyse | CLI peak RSS | target CPU while attached |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in runs {
        let title = match run.mode {
            Mode::Console => "console-subscriber app (console-api)",
            _ if run.snapshot.is_some() => "leakscope agent, 1M",
            _ => "leakscope agent",
        };
        match &run.figures {
            Ok(f) => {
                let ms = |v: &Value| v.as_f64().map_or("?".to_owned(), |x| format!("{x:.1} ms"));
                let rss = f["peak_rss_bytes"]
                    .as_f64()
                    .map_or("?".to_owned(), |b| format!("{} MiB", number(b / 1_048_576.0)));
                let cpu = match (f["target_cpu_seconds"].as_f64(), f["attached_seconds"].as_f64()) {
                    (Some(cpu), Some(wall)) => format!("{cpu:.1} s in {wall:.1} s"),
                    _ => "?".to_owned(),
                };
                let _ = writeln!(
                    doc,
                    "| {title} | {} of {} | {} | {} | {} | {} | {} / {} | {rss} | {cpu} |",
                    number(f["live_tasks"].as_f64().unwrap_or(0.0)),
                    number(run.tasks as f64),
                    ms(&f["first_frame_ms"]),
                    ms(&f["frame_ms"]["p50"]),
                    ms(&f["frame_ms"]["p99"]),
                    ms(&f["frame_ms"]["max"]),
                    ms(&f["engine_apply_ms"]),
                    ms(&f["engine_analysis_ms"]),
                );
            }
            Err(err) => {
                let _ = writeln!(doc, "| {title} | not measured: {err} ||||||||");
            }
        }
    }
    doc.push('\n');
    for run in runs {
        let Some(snapshot) = &run.snapshot else { continue };
        let _ = writeln!(
            doc,
            "**`leakscope snapshot` of {} idle tasks** (`--wait 2s --format json`; issue 14's \
             target: the exact count within 15 s, CLI peak RSS at most 500 MB):\n",
            number(run.tasks as f64),
        );
        match snapshot {
            Ok(s) => {
                let _ = writeln!(
                    doc,
                    "| live tasks reported | took | CLI peak RSS |\n|---:|---:|---:|\n| {} | {:.1} s \
                     | {} MiB |\n",
                    s["live"].as_f64().map_or("?".to_owned(), number),
                    s["seconds"].as_f64().unwrap_or(0.0),
                    number(s["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1_048_576.0),
                );
            }
            Err(err) => {
                let _ = writeln!(doc, "Not measured: {err}.\n");
            }
        }
    }
    for run in runs {
        let Some(in_agent) = &run.in_agent else { continue };
        let _ = writeln!(
            doc,
            "**`leakscope snapshot --in-agent` of {} idle tasks** (`--wait 2s --format json`, \
             three times in a row, after the figures above: the agent follows its updates and \
             analyses in the app, and sends the report alone; it keeps its model 30 s after the \
             last request):\n",
            number(run.tasks as f64),
        );
        match in_agent {
            Ok(v) => {
                let mib = |b: &Value| number(b.as_f64().unwrap_or(0.0) / 1_048_576.0);
                doc.push_str(
                    "| request | live tasks reported | took | CLI peak RSS | target CPU |\n\
                     |---|---:|---:|---:|---:|\n",
                );
                for (i, r) in v["runs"].as_array().into_iter().flatten().enumerate() {
                    let _ = writeln!(
                        doc,
                        "| {} | {} | {:.1} s | {} MiB | {:.1} s |",
                        if i == 0 { "first (builds the model)" } else { "then" },
                        r["live"].as_f64().map_or("?".to_owned(), number),
                        r["seconds"].as_f64().unwrap_or(0.0),
                        mib(&r["peak_rss_bytes"]),
                        r["target_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
                    );
                }
                let per_task = |b: &Value| {
                    let extra =
                        b.as_f64().unwrap_or(0.0) - v["target_rss_before"].as_f64().unwrap_or(0.0);
                    number(extra / run.tasks.max(1) as f64)
                };
                let change = (v["target_rss_released"].as_f64().unwrap_or(0.0)
                    - v["target_rss_before"].as_f64().unwrap_or(0.0))
                    / 1_048_576.0;
                let _ = writeln!(
                    doc,
                    "\nThe target's RSS: {} MiB before, {} MiB holding the model ({} B per task \
                     more), {} MiB 35 s after the last request, the model dropped ({change:+.0} \
                     MiB against before).\n",
                    mib(&v["target_rss_before"]),
                    mib(&v["target_rss_held"]),
                    per_task(&v["target_rss_held"]),
                    mib(&v["target_rss_released"]),
                );
            }
            Err(err) => {
                let _ = writeln!(doc, "Not measured: {err}.\n");
            }
        }
    }
    for run in runs {
        let Some(app) = &run.app else { continue };
        let _ = writeln!(
            doc,
            "**The app holding {} idle tasks** (the agent's target above, and a plain tokio \
             target of the same size run alone before it, each spawning and parking the tasks on \
             two workers; issue 14's targets: spawning at most 1.5x plain tokio's \
             time, and the agent's extra RSS, at rest plus serving one client, at most 1 KiB per \
             live task). At rest: settled after parking, before any client. Serving: the \
             target's peak RSS (VmHWM) after the `snapshot` and the `attach` above were served.\n",
            number(run.tasks as f64),
        );
        match app {
            Ok(a) => {
                let tasks = run.tasks.max(1) as f64;
                let mib = |b: u64| format!("{} MiB", number(b as f64 / 1_048_576.0));
                let extra = |b: u64| b.saturating_sub(a.plain_rss) as f64 / tasks;
                let _ = writeln!(
                    doc,
                    "| | spawn and park | RSS at rest | peak RSS, serving | extra per task over plain \
                     tokio, at rest / serving |\n|---|---:|---:|---:|---:|\n\
                     | plain tokio | {:.2} s | {} | — | — |\n\
                     | leakscope agent | {:.2} s ({:.2}x) | {} | {} | {} B / {} B |\n",
                    a.plain_spawn_seconds,
                    mib(a.plain_rss),
                    a.agent_spawn_seconds,
                    a.agent_spawn_seconds / a.plain_spawn_seconds.max(1e-9),
                    mib(a.agent_rss_at_rest),
                    mib(a.agent_rss_peak_serving),
                    number(extra(a.agent_rss_at_rest)),
                    number(extra(a.agent_rss_peak_serving)),
                );
                let ratios: Vec<String> = a
                    .spawn_rounds
                    .iter()
                    .map(|&(plain, agent)| {
                        format!("{agent:.2} s / {plain:.2} s = {:.2}x", agent / plain.max(1e-9))
                    })
                    .collect();
                if let Some(median) = median_spawn_ratio(&a.spawn_rounds) {
                    let _ = writeln!(
                        doc,
                        "Spawning and parking is judged on the median of {} rounds, each a plain \
                         tokio target and then the agent's, started one after the other (the \
                         pair above, then pairs started for nothing else): {}. **Median: \
                         {median:.2}x** plain tokio's time.\n",
                        a.spawn_rounds.len(),
                        ratios.join("; "),
                    );
                }
            }
            Err(err) => {
                let _ = writeln!(doc, "Not measured: {err}.\n");
            }
        }
    }
    for run in runs {
        let Some(console) = &run.tokio_console else { continue };
        let leakscope_ui = run.figures.as_ref().ok();
        doc.push_str(
            "**tokio-console on the same target.** tokio-console has no headless mode, so it runs \
             in a pseudo-terminal (script(1), 160x48) and its screen is read through a terminal \
             emulator for a fixed watch; tasks shown is the count in its Tasks view title at the \
             end, beside the leakscope UI's figures on the same target.\n\n",
        );
        doc.push_str(
            "| client | watched | tasks shown of the target's | first tasks shown after | peak RSS | CPU |\n\
             |---|---:|---:|---:|---:|---:|\n",
        );
        let mib = |v: &Value| {
            v.as_f64().map_or("?".to_owned(), |b| format!("{} MiB", number(b / 1_048_576.0)))
        };
        match console {
            Ok(c) => {
                let first = c["first_tasks_after_seconds"]
                    .as_f64()
                    .map_or("never".to_owned(), |s| format!("{s:.1} s"));
                let _ = writeln!(
                    doc,
                    "| tokio-console | {:.0} s | {} of {} | {first} | {} | {:.2} s |",
                    c["seconds"].as_f64().unwrap_or(0.0),
                    c["tasks_shown"].as_f64().map_or("?".to_owned(), number),
                    number(run.tasks as f64),
                    mib(&c["peak_rss_bytes"]),
                    c["cpu_seconds"].as_f64().unwrap_or(0.0),
                );
            }
            Err(err) => {
                let _ = writeln!(doc, "| tokio-console | not measured: {err} |||||");
            }
        }
        if let Some(f) = leakscope_ui {
            let _ = writeln!(
                doc,
                "| leakscope attach | {} frames | {} of {} | {:.1} s (first full frame) | {} | — |",
                f["frames"].as_u64().unwrap_or(0),
                number(f["live_tasks"].as_f64().unwrap_or(0.0)),
                number(run.tasks as f64),
                f["first_frame_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                mib(&f["peak_rss_bytes"]),
            );
        }
        if let Ok(c) = console {
            let rejected = c["updates_rejected_too_large"].as_u64().unwrap_or(0);
            let skipped = c["tasks_skipped_without_metadata"].as_u64().unwrap_or(0);
            if rejected + skipped > 0 {
                let _ = write!(
                    doc,
                    "\ntokio-console's own log says why: it skipped {} task updates because it \
                     had not received those tasks' metadata",
                    number(skipped as f64),
                );
                if rejected > 0 {
                    let _ = write!(
                        doc,
                        ", and rejected {rejected} update{} as larger than its 4 MiB gRPC \
                         message limit (tokio-rs/console#609)",
                        if rejected == 1 { "" } else { "s" },
                    );
                }
                doc.push_str(".\n");
            }
        }
        doc.push('\n');
    }
    for run in runs {
        if let Ok(f) = &run.figures {
            let size = if run.snapshot.is_some() { " (1M)" } else { "" };
            let _ = writeln!(doc, "- {}{size}: `{f}`", run.mode.arg());
        }
        if let Some(Ok(s)) = &run.snapshot {
            let _ = writeln!(doc, "- snapshot (1M): `{s}`");
        }
        if let Some(Ok(s)) = &run.in_agent {
            let _ = writeln!(doc, "- snapshot --in-agent (1M): `{s}`");
        }
        if let Some(Ok(c)) = &run.tokio_console {
            let _ = writeln!(doc, "- tokio-console on {}: `{c}`", run.mode.arg());
        }
    }
    doc.push('\n');
    doc
}

#[cfg(test)]
mod tests {
    use super::median_spawn_ratio;

    #[test]
    fn spawning_is_judged_on_the_median_ratio_of_the_rounds() {
        assert_eq!(median_spawn_ratio(&[]), None);
        assert_eq!(median_spawn_ratio(&[(1.0, 1.5)]), Some(1.5));
        // Ratios 2.0, 1.5, 1.2: the middle one, whatever the order.
        assert_eq!(median_spawn_ratio(&[(1.0, 2.0), (2.0, 3.0), (1.0, 1.2)]), Some(1.5));
        // Ratios 1.2, 1.4, 1.6, 3.0: between the middle two.
        let four = median_spawn_ratio(&[(1.0, 3.0), (1.0, 1.2), (1.0, 1.6), (1.0, 1.4)]);
        assert!((four.unwrap() - 1.5).abs() < 1e-9, "{four:?}");
    }
}
