//! `cargo xtask bench`: what leakscope's instrumentation costs an app, measured in one run side by
//! side with plain tokio and console-subscriber, and written to docs/benchmarks.md.
//!
//! The machine is small and noisy, so no figure stands alone: every workload runs as a fresh
//! `leakscope-bench` process per mode, the modes interleaved round by round (the order rotating),
//! and the tables give medians and ratios against plain tokio from the same run. Every number in
//! the report, the workload sizes included, is read from the processes' reports of this run.

mod ui;

use anyhow::Context as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the generated report goes; `--quick` writes beside the binaries instead.
const DOC: &str = "docs/benchmarks.md";

/// Instrumentation modes, in table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Plain,
    Console,
    Leakscope,
    LeakscopeConsole,
}

const MODES: [Mode; 4] = [Mode::Plain, Mode::Console, Mode::Leakscope, Mode::LeakscopeConsole];

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Console => "console",
            Mode::Leakscope => "leakscope",
            Mode::LeakscopeConsole => "leakscope-console",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Mode::Plain => "plain tokio",
            Mode::Console => "console-subscriber",
            Mode::Leakscope => "leakscope",
            Mode::LeakscopeConsole => "leakscope + `console` feature",
        }
    }
}

/// Workloads, in the order they run (the slowest, idle memory, last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Spawn,
    Poll,
    Idle,
    Http,
    Burst,
    /// The idle workload's task count as one burst with console-api watched from before: what
    /// each instrumentation drops (console-subscriber's count is unreadable after the idle run).
    Flood,
}

/// Table order: the issue's numbering.
const WORKLOADS: [Workload; 5] =
    [Workload::Spawn, Workload::Poll, Workload::Idle, Workload::Http, Workload::Burst];

/// Run order: the quick, noisy ones first, the memory-hungry ones last.
const RUN_ORDER: [Workload; 6] = [
    Workload::Spawn,
    Workload::Poll,
    Workload::Http,
    Workload::Burst,
    Workload::Idle,
    Workload::Flood,
];

impl Workload {
    fn arg(self) -> &'static str {
        match self {
            Workload::Spawn => "spawn",
            Workload::Poll => "poll",
            Workload::Idle => "idle",
            Workload::Http => "http",
            Workload::Burst => "burst",
            Workload::Flood => "flood",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Workload::Spawn => "1. spawn+finish",
            Workload::Poll => "2. poll (`yield_now` loop)",
            Workload::Idle => "3. idle memory",
            Workload::Http => "4. HTTP throughput",
            Workload::Burst => "5. burst accounting",
            Workload::Flood => "3b. idle-sized burst, watched",
        }
    }

    /// Rounds per mode. The timed workloads are the noisiest and cheapest, so they get the most.
    fn rounds(self, quick: bool) -> usize {
        match (self, quick) {
            (_, true) | (Workload::Flood, _) => 1,
            (Workload::Spawn | Workload::Poll | Workload::Http, false) => 7,
            (Workload::Burst | Workload::Idle, false) => 3,
        }
    }

    /// A process still running after this is killed and its round counted as failed.
    fn timeout(self) -> Duration {
        Duration::from_secs(match self {
            Workload::Spawn | Workload::Poll => 60,
            Workload::Http | Workload::Burst => 90,
            Workload::Idle | Workload::Flood => 180,
        })
    }

    /// Plain tokio has nothing to ask how many tasks it sees.
    fn runs_under(self, mode: Mode) -> bool {
        !(matches!(self, Workload::Burst | Workload::Flood) && mode == Mode::Plain)
    }
}

/// One process's result.
#[derive(Debug, Clone)]
struct Sample {
    value: f64,
    unit: String,
    detail: Map<String, Value>,
}

impl Sample {
    fn u64(&self, key: &str) -> Option<u64> {
        self.detail.get(key)?.as_u64()
    }

    fn f64(&self, key: &str) -> Option<f64> {
        self.detail.get(key)?.as_f64()
    }
}

/// The two builds of the benchmark binary.
struct Binaries {
    main: PathBuf,
    /// leakscope with its `console` feature, or why that mode is not measured.
    console: Result<PathBuf, String>,
}

/// Runs the whole benchmark: build, measure, print the table, write the report.
pub(crate) fn run(quick: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let machine = Machine::read(&root);
    let binaries = build()?;
    // Each mode with the binary it runs in.
    let mut modes: Vec<(Mode, &Path)> = vec![
        (Mode::Plain, &binaries.main),
        (Mode::Console, &binaries.main),
        (Mode::Leakscope, &binaries.main),
    ];
    if let Ok(console) = &binaries.console {
        modes.push((Mode::LeakscopeConsole, console));
    }
    let measuring = Instant::now();
    let mut results: BTreeMap<(Workload, Mode), Vec<Result<Sample, String>>> = BTreeMap::new();
    for workload in RUN_ORDER {
        let available: Vec<Mode> =
            modes.iter().map(|(m, _)| *m).filter(|m| workload.runs_under(*m)).collect();
        let rounds = workload.rounds(quick);
        for round in 0..rounds {
            let order: Vec<(Mode, &Path)> = round_order(&available, round)
                .into_iter()
                .filter_map(|m| modes.iter().copied().find(|(mode, _)| *mode == m))
                .collect();
            for &(mode, binary) in &order {
                let outcome = measure(binary, mode, workload, quick);
                match &outcome {
                    Ok(s) => eprintln!(
                        "bench: {} {}/{rounds} {}: {} {}",
                        workload.arg(),
                        round + 1,
                        mode.arg(),
                        number(s.value),
                        s.unit
                    ),
                    Err(e) => eprintln!(
                        "bench: {} {}/{rounds} {}: failed: {e}",
                        workload.arg(),
                        round + 1,
                        mode.arg()
                    ),
                }
                results.entry((workload, mode)).or_default().push(outcome);
            }
        }
    }
    let ui = ui::run(&binaries.main, quick);
    let summary = Summary {
        results,
        quick,
        console: binaries.console.as_ref().err().cloned(),
        measuring: measuring.elapsed(),
        elapsed: started.elapsed(),
    };
    let tables = summary.tables();
    println!("{tables}");
    let path = if quick {
        let dir = binaries.main.parent().map_or_else(|| root.clone(), Path::to_path_buf);
        dir.join("benchmarks-quick.md")
    } else {
        root.join(DOC)
    };
    let mut document = summary.document(&machine, &tables);
    if let Some(at) = document.find("\n## Machine") {
        document.insert_str(at + 1, &ui::section(&ui));
    }
    std::fs::write(&path, document)
        .with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("bench: wrote {} in {:.0} s", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The order of the modes in one round. Plain tokio and leakscope run back to back, and so do the
/// two console-api modes, so that each ratio compares runs made under nearly the same background
/// load; which goes first, and which pair, alternates from round to round.
fn round_order(available: &[Mode], round: usize) -> Vec<Mode> {
    let mut pairs: Vec<Vec<Mode>> =
        [[Mode::Plain, Mode::Leakscope], [Mode::Console, Mode::LeakscopeConsole]]
            .iter()
            .map(|pair| pair.iter().copied().filter(|m| available.contains(m)).collect::<Vec<_>>())
            .filter(|pair| !pair.is_empty())
            .collect();
    if round % 2 == 1 {
        pairs.iter_mut().for_each(|pair| pair.reverse());
    }
    if (round / 2) % 2 == 1 {
        pairs.reverse();
    }
    pairs.concat()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(crate::workspace_root());
    cmd
}

/// Builds the benchmark in release twice (without and with leakscope's `console` feature). The
/// binary's path comes from cargo's own artifact messages, so it is wherever this cargo builds
/// (`CARGO_TARGET_DIR`, `build.target-dir` or `target/`); each build is copied aside into a
/// `bench/` directory there, since both write the same path.
fn build() -> anyhow::Result<Binaries> {
    eprintln!("bench: cargo build --release -p leakscope-bench");
    let main = cargo_build(&[])
        .map_err(|err| anyhow::anyhow!("failed to build leakscope-bench: {err}"))?;
    let aside = main
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("bench"), |target| target.join("bench"));
    std::fs::create_dir_all(&aside)
        .with_context(|| format!("failed to create {}", aside.display()))?;
    let copy = |from: &Path, name: &str| -> anyhow::Result<PathBuf> {
        let to = aside.join(name);
        std::fs::copy(from, &to)
            .with_context(|| format!("failed to copy {} to {}", from.display(), to.display()))?;
        Ok(to)
    };
    let main = copy(&main, "leakscope-bench")?;

    eprintln!("bench: cargo build --release -p leakscope-bench --features leakscope-console");
    let console = match cargo_build(&["--features", "leakscope-console"]) {
        Ok(built) => probe_console(&copy(&built, "leakscope-bench-console")?),
        Err(err) => Err(format!("does not build with `--features leakscope/console` ({err})")),
    };
    if let Err(why) = &console {
        eprintln!("bench: leakscope with `console` not measured: {why}");
    }
    Ok(Binaries { main, console })
}

/// Runs `cargo build --release -p leakscope-bench` with `extra` arguments and returns the
/// executable it reports, or the first error it printed.
fn cargo_build(extra: &[&str]) -> Result<PathBuf, String> {
    let output = cargo()
        .args(["build", "--release", "-p", "leakscope-bench"])
        .args(["--message-format", "json-render-diagnostics"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("failed to run cargo: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!("{stderr}");
    if !output.status.success() {
        let first = stderr.lines().find(|l| l.starts_with("error")).unwrap_or("cargo failed");
        return Err(format!("`{}`", first.trim()));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    built_executable(&stdout, "leakscope-bench")
        .ok_or_else(|| "cargo reported no leakscope-bench executable".to_owned())
}

/// The `executable` of the last `compiler-artifact` message for the binary target `name`.
fn built_executable(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
}

/// A feature that builds but does nothing would measure as plain leakscope: ask the agent whether
/// it actually serves console-api before measuring it.
fn probe_console(binary: &Path) -> Result<PathBuf, String> {
    let args = ["--mode", "leakscope-console", "--workload", "hello"];
    match run_process(binary, &args, Duration::from_secs(30)) {
        Ok(sample) if sample.value == 1.0 => Ok(binary.to_path_buf()),
        Ok(_) => Err("builds, but the agent's Hello reports `console_api = false`".to_owned()),
        Err(err) => Err(format!("builds, but asking the agent failed: {err}")),
    }
}

fn measure(binary: &Path, mode: Mode, workload: Workload, quick: bool) -> Result<Sample, String> {
    let mut args = vec!["--mode", mode.arg(), "--workload", workload.arg()];
    if quick {
        args.push("--quick");
    }
    run_process(binary, &args, workload.timeout())
}

/// Runs one measurement process, killing it at `timeout`, and reads its JSON line.
fn run_process(binary: &Path, args: &[&str], timeout: Duration) -> Result<Sample, String> {
    let line = last_line(binary, args, timeout)?;
    parse_sample(&line).ok_or_else(|| format!("unreadable report {line:?}"))
}

/// Runs `binary`, killing it at `timeout`, and returns the last non-empty line it printed, or
/// why it failed.
fn last_line(binary: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("failed to start {}: {e}", binary.display()))?;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn std::io::Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Err(e) => return Err(format!("failed to wait for the process: {e}")),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        let reason = stderr.lines().last().unwrap_or("no message").trim();
        return Err(format!("{status}: {reason}"));
    }
    Ok(stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_owned())
}

fn parse_sample(line: &str) -> Option<Sample> {
    let Value::Object(mut report) = serde_json::from_str(line).ok()? else {
        return None;
    };
    let value = report.get("value")?.as_f64()?;
    let unit = report.get("unit")?.as_str()?.to_owned();
    let detail = match report.remove("detail") {
        Some(Value::Object(detail)) => detail,
        _ => Map::new(),
    };
    Some(Sample { value, unit, detail })
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// A number for a table: thousands separated, no decimals beyond what the size needs.
fn number(value: f64) -> String {
    if value.abs() >= 100.0 || value == value.trunc() {
        let whole = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if value < 0.0 && whole != "0" { format!("-{grouped}") } else { grouped }
    } else {
        format!("{value:.1}")
    }
}

/// A difference, with its sign.
fn signed(value: f64) -> String {
    if value > 0.0 { format!("+{}", number(value)) } else { number(value) }
}

/// A ratio against plain tokio: two decimals below 10, fewer above.
fn ratio(value: f64) -> String {
    if value < 10.0 { format!("{value:.2}x") } else { format!("{value:.0}x") }
}

/// Whether leakscope met one of the issue's targets.
struct Verdict {
    target: &'static str,
    /// What was measured, as compared with the target.
    measured: String,
    pass: bool,
}

/// The agent's counters of what it could not keep, as the report names them.
const AGENT_COUNTERS: [(&str, &str); 4] = [
    ("agent_spans_dropped_total", "`spans_dropped_total`"),
    ("agent_long_polls_evicted_total", "`long_polls_evicted_total`"),
    ("agent_watch_lagged_total", "`watch_lagged_total`"),
    ("agent_finished_evicted_total", "`finished_evicted_total`"),
];

/// Everything measured, and how to show it.
struct Summary {
    results: BTreeMap<(Workload, Mode), Vec<Result<Sample, String>>>,
    quick: bool,
    /// Why leakscope's `console` feature was not measured, when it was not.
    console: Option<String>,
    /// Time spent measuring (builds excluded).
    measuring: Duration,
    /// The whole run, builds included.
    elapsed: Duration,
}

impl Summary {
    fn samples(&self, workload: Workload, mode: Mode) -> Vec<&Sample> {
        self.results
            .get(&(workload, mode))
            .map(|runs| runs.iter().filter_map(|r| r.as_ref().ok()).collect())
            .unwrap_or_default()
    }

    fn values(&self, workload: Workload, mode: Mode) -> Vec<f64> {
        self.samples(workload, mode).iter().map(|s| s.value).collect()
    }

    fn median(&self, workload: Workload, mode: Mode) -> Option<f64> {
        median(&self.values(workload, mode))
    }

    /// The sample nearest the median, whose details the report shows.
    fn median_sample(&self, workload: Workload, mode: Mode) -> Option<&Sample> {
        let m = self.median(workload, mode)?;
        self.samples(workload, mode)
            .into_iter()
            .min_by(|a, b| (a.value - m).abs().total_cmp(&(b.value - m).abs()))
    }

    /// A detail of the median sample of the first mode that has it (workload sizes are the
    /// same under every mode).
    fn detail_u64(&self, workload: Workload, key: &str) -> Option<u64> {
        MODES.iter().find_map(|&m| self.median_sample(workload, m)?.u64(key))
    }

    fn detail_f64(&self, workload: Workload, key: &str) -> Option<f64> {
        MODES.iter().find_map(|&m| self.median_sample(workload, m)?.f64(key))
    }

    /// The largest value of a counter over every round of `mode`, and whether any round could
    /// not read it.
    fn counter_max(&self, workload: Workload, mode: Mode, key: &str) -> Option<(u64, bool)> {
        let samples = self.samples(workload, mode);
        if samples.is_empty() {
            return None;
        }
        let read: Vec<u64> = samples.iter().filter_map(|s| s.u64(key)).collect();
        Some((read.iter().copied().max()?, read.len() < samples.len()))
    }

    /// console-subscriber's dropped events over the rounds of `mode`, as a cell: the largest
    /// count, marked as a lower bound where console-subscriber lost part of its own count, or
    /// "unread" where no round could read it.
    fn console_dropped_cell(&self, workload: Workload, mode: Mode) -> String {
        let samples = self.samples(workload, mode);
        if samples.is_empty() {
            return "—".to_owned();
        }
        let read: Vec<&&Sample> =
            samples.iter().filter(|s| s.u64("console_dropped_events").is_some()).collect();
        let Some(max) = read.iter().filter_map(|s| s.u64("console_dropped_events")).max() else {
            return "unread (no update)".to_owned();
        };
        let incomplete = read.len() < samples.len()
            || read.iter().any(|s| {
                s.detail.get("console_dropped_events_incomplete") == Some(&Value::Bool(true))
            });
        if incomplete {
            format!("≥ {} (count partly lost)", number(max as f64))
        } else {
            number(max as f64)
        }
    }

    /// The median of a detail over the rounds of `mode`.
    fn detail_median(&self, workload: Workload, mode: Mode, key: &str) -> Option<f64> {
        let values: Vec<f64> =
            self.samples(workload, mode).iter().filter_map(|s| s.f64(key)).collect();
        median(&values)
    }

    fn spawned(&self) -> Option<u64> {
        self.detail_u64(Workload::Burst, "spawned")
    }

    fn rounds_of(&self, workload: Workload, mode: Mode) -> usize {
        self.results.get(&(workload, mode)).map_or(0, Vec::len)
    }

    /// `mode` against plain tokio, round by round: `compare(mode's value, plain's value)` for
    /// each round in which both ran (see [`round_order`]: they ran back to back).
    fn paired(&self, workload: Workload, mode: Mode, compare: fn(f64, f64) -> f64) -> Vec<f64> {
        let (Some(runs), Some(plain)) =
            (self.results.get(&(workload, mode)), self.results.get(&(workload, Mode::Plain)))
        else {
            return Vec::new();
        };
        runs.iter()
            .zip(plain)
            .filter_map(|(run, plain)| {
                Some(compare(run.as_ref().ok()?.value, plain.as_ref().ok()?.value))
            })
            .collect()
    }

    /// The median over the rounds of `mode`'s value over plain tokio's.
    fn ratio_to_plain(&self, workload: Workload, mode: Mode) -> Option<f64> {
        median(&self.paired(workload, mode, |a, p| a / p))
    }

    /// The median over the rounds of `mode`'s value less plain tokio's.
    fn beyond_plain(&self, workload: Workload, mode: Mode) -> Option<f64> {
        median(&self.paired(workload, mode, |a, p| a - p))
    }

    /// The median with its unit.
    fn absolute(&self, workload: Workload, mode: Mode) -> Option<String> {
        let value = self.median(workload, mode)?;
        Some(match workload {
            Workload::Spawn => format!("{} ns/task", number(value)),
            Workload::Poll => format!("{} ns/poll", number(value)),
            Workload::Idle => format!("{} B/task", number(value)),
            Workload::Http => format!("{} req/s", number(value)),
            Workload::Burst | Workload::Flood => match self.detail_u64(workload, "spawned") {
                Some(spawned) => format!("{} of {}", number(value), number(spawned as f64)),
                None => number(value),
            },
        })
    }

    /// One cell of the results table: the figure against plain tokio, then the median.
    fn cell(&self, workload: Workload, mode: Mode) -> String {
        let Some(value) = self.median(workload, mode) else {
            return match self.results.get(&(workload, mode)) {
                Some(runs) => match runs.iter().find_map(|r| r.as_ref().err()) {
                    Some(err) => format!("failed: {}", err.replace('|', "/")),
                    None => "—".to_owned(),
                },
                None if !workload.runs_under(mode) => "— (nothing to ask)".to_owned(),
                None => "—".to_owned(),
            };
        };
        let absolute = self.absolute(workload, mode).unwrap_or_default();
        if mode == Mode::Plain {
            return format!("baseline ({absolute})");
        }
        let against = match workload {
            Workload::Spawn | Workload::Poll => self.ratio_to_plain(workload, mode).map(ratio),
            Workload::Idle => self.beyond_plain(workload, mode).map(|d| format!("{} B", signed(d))),
            Workload::Http => {
                self.ratio_to_plain(workload, mode).map(|r| format!("{:+.0}%", 100.0 * (r - 1.0)))
            }
            Workload::Burst | Workload::Flood => self
                .detail_u64(workload, "spawned")
                .filter(|spawned| *spawned > 0)
                .map(|spawned| format!("{:.0}%", 100.0 * value / spawned as f64)),
        };
        match against {
            Some(against) => format!("**{against}** ({absolute})"),
            None => absolute,
        }
    }

    fn verdict(&self, workload: Workload) -> Option<Verdict> {
        Some(match workload {
            Workload::Spawn | Workload::Poll => {
                let (target, limit) = match workload {
                    Workload::Spawn => ("≤ 3x plain tokio per spawned task", 3.0),
                    _ => ("≤ 2x plain tokio per poll", 2.0),
                };
                let r = self.ratio_to_plain(workload, Mode::Leakscope)?;
                Verdict { target, measured: ratio(r), pass: r <= limit }
            }
            Workload::Idle => {
                let extra = self.beyond_plain(workload, Mode::Leakscope)?;
                Verdict {
                    target: "≤ 1 KiB more RSS than plain tokio per live idle task",
                    measured: format!("{} B/task", signed(extra)),
                    pass: extra <= 1024.0,
                }
            }
            Workload::Http => {
                let lost = 1.0 - self.ratio_to_plain(workload, Mode::Leakscope)?;
                Verdict {
                    target: "≤ 15% of plain tokio's requests/s lost",
                    measured: if lost >= 0.0 {
                        format!("{:.1}% lost", 100.0 * lost)
                    } else {
                        format!("none lost ({:.1}% more, within the noise)", -100.0 * lost)
                    },
                    pass: lost <= 0.15,
                }
            }
            Workload::Burst => {
                // Every round must see every task, not just the median one.
                let spawned = self.spawned()? as f64;
                let values = self.values(workload, Mode::Leakscope);
                let fewest = values.iter().copied().fold(f64::INFINITY, f64::min);
                let all: Vec<String> = values.iter().map(|v| number(*v)).collect();
                Verdict {
                    target: "every live task of the burst reported by `Agent.GetSnapshot`",
                    measured: format!("{} of {} in every round", all.join(", "), number(spawned)),
                    pass: fewest >= spawned
                        && values.len() == self.rounds_of(workload, Mode::Leakscope),
                }
            }
            Workload::Flood => return None,
        })
    }

    /// The modes with any result, in table order.
    fn modes(&self) -> Vec<Mode> {
        MODES.into_iter().filter(|m| self.results.keys().any(|(_, mode)| mode == m)).collect()
    }

    /// The results, the targets and the dropped-event counters, in Markdown (it reads as plain
    /// text too).
    fn tables(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "Each cell: the figure against plain tokio in this run, then the mode's median. Against \
             plain tokio means: spawn and poll, the median over the rounds of the time over plain's \
             in the same round; idle, the median of the RSS per task beyond plain's; HTTP, the \
             median of the requests/s gained or lost against plain's; burst, the share of the live \
             tasks the instrumentation's own API reports.\n\n",
        );
        out.push_str("| mode |");
        for workload in WORKLOADS {
            let _ = write!(out, " {} |", workload.title());
        }
        out.push_str("\n|---|");
        for _ in WORKLOADS {
            out.push_str("---:|");
        }
        out.push('\n');
        for mode in self.modes() {
            let _ = write!(out, "| {} |", mode.title());
            for workload in WORKLOADS {
                let _ = write!(out, " {} |", self.cell(workload, mode));
            }
            out.push('\n');
        }
        if let Some(why) = &self.console {
            let _ = writeln!(
                out,
                "| {} | not measured: {} |||||",
                Mode::LeakscopeConsole.title(),
                why.replace('|', "/")
            );
        }

        out.push_str("\n**leakscope against the targets**\n\n");
        out.push_str("| workload | target | measured | met |\n|---|---|---|---|\n");
        for workload in WORKLOADS {
            let (target, measured, met) = match self.verdict(workload) {
                Some(v) => (v.target, v.measured, if v.pass { "yes" } else { "**NO**" }),
                None => ("—", "not measured".to_owned(), "**NO**"),
            };
            let _ = writeln!(out, "| {} | {target} | {measured} | {met} |", workload.title());
        }

        out.push_str(&self.supporting());
        out.push_str(
            "\n**What the instrumentation could not keep** (largest value over the rounds; the \
             agent's `AgentStats` read after each workload, console-subscriber's \
             `dropped_events`)\n\n",
        );
        out.push_str("| workload |");
        for (_, name) in AGENT_COUNTERS {
            let _ = write!(out, " leakscope {name} |");
        }
        out.push_str(" console-subscriber `dropped_events` |");
        let with_console = self.console.is_none();
        if with_console {
            out.push_str(
                " leakscope + console: `spans_dropped_total` | leakscope + console: console-api `dropped_events` |",
            );
        }
        out.push_str("\n|---|");
        for _ in 0..AGENT_COUNTERS.len() + 1 + if with_console { 2 } else { 0 } {
            out.push_str("---:|");
        }
        out.push('\n');
        let show = |counter: Option<(u64, bool)>| match counter {
            None => "—".to_owned(),
            Some((max, false)) => number(max as f64),
            Some((max, true)) => format!("{} (unread in some rounds)", number(max as f64)),
        };
        let counter_rows = [
            Workload::Spawn,
            Workload::Poll,
            Workload::Idle,
            Workload::Flood,
            Workload::Http,
            Workload::Burst,
        ];
        for workload in counter_rows {
            let _ = write!(out, "| {} |", workload.title());
            for (key, _) in AGENT_COUNTERS {
                let _ =
                    write!(out, " {} |", show(self.counter_max(workload, Mode::Leakscope, key)));
            }
            let _ = write!(out, " {} |", self.console_dropped_cell(workload, Mode::Console));
            if with_console {
                let mode = Mode::LeakscopeConsole;
                let spans = self.counter_max(workload, mode, "agent_spans_dropped_total");
                let _ = write!(
                    out,
                    " {} | {} |",
                    show(spans),
                    self.console_dropped_cell(workload, mode)
                );
            }
            out.push('\n');
        }
        out
    }

    /// Figures that explain the results: what the HTTP server spent per request, and how many of
    /// the idle and burst tasks each instrumentation's API showed.
    fn supporting(&self) -> String {
        let mut out = String::from(
            "\n**Supporting figures** (medians)\n\n| mode | HTTP: server CPU per request | \
             idle: live tasks its API showed after the workload | idle-sized burst, watched: live \
             tasks its API showed | burst: when the count was taken |\n\
             |---|---:|---:|---:|---:|\n",
        );
        let plain_cpu =
            self.detail_median(Workload::Http, Mode::Plain, "server_cpu_ns_per_request");
        let idle_tasks = self.detail_u64(Workload::Idle, "tasks");
        for mode in self.modes() {
            let cpu = match (
                self.detail_median(Workload::Http, mode, "server_cpu_ns_per_request"),
                plain_cpu,
            ) {
                (Some(cpu), Some(plain)) if mode != Mode::Plain => {
                    format!("{} ns ({})", number(cpu), ratio(cpu / plain))
                }
                (Some(cpu), _) => format!("{} ns", number(cpu)),
                (None, _) => "—".to_owned(),
            };
            // leakscope's agent counts its own live tasks; console-api's view is folded from the
            // first update a client attaching after the workload gets.
            let seen = match mode {
                Mode::Plain => None,
                Mode::Console => self.detail_median(Workload::Idle, mode, "console_api_seen_after"),
                Mode::Leakscope | Mode::LeakscopeConsole => {
                    self.detail_median(Workload::Idle, mode, "agent_seen_after")
                }
            };
            let seen = match (seen, idle_tasks) {
                (Some(seen), Some(tasks)) => {
                    let mut cell = format!("{} of {}", number(seen), number(tasks as f64));
                    if mode == Mode::LeakscopeConsole
                        && let Some(console) =
                            self.detail_median(Workload::Idle, mode, "console_api_seen_after")
                    {
                        let _ = write!(cell, " (console-api: {})", number(console));
                    }
                    cell
                }
                _ => "—".to_owned(),
            };
            let when = match self.detail_median(
                Workload::Burst,
                mode,
                "console_api_seconds_after_burst",
            ) {
                Some(secs) => format!("console-api: {secs:.1} s after the burst"),
                None if matches!(mode, Mode::Leakscope) => "as soon as asked".to_owned(),
                None => "—".to_owned(),
            };
            let flood = match self.median_sample(Workload::Flood, mode) {
                Some(sample) => {
                    let mut cell = self.absolute(Workload::Flood, mode).unwrap_or_default();
                    if mode == Mode::LeakscopeConsole
                        && let Some(console) = sample.u64("console_api_seen")
                    {
                        let _ = write!(cell, " (console-api: {})", number(console as f64));
                    }
                    if let Some(secs) = sample.f64("console_api_seconds_after_burst") {
                        let _ = write!(cell, ", {secs:.0} s after");
                    }
                    cell
                }
                None => "—".to_owned(),
            };
            let _ = writeln!(out, "| {} | {cpu} | {seen} | {flood} | {when} |", mode.title());
        }
        out
    }

    fn document(&self, machine: &Machine, tables: &str) -> String {
        let mut doc = String::new();
        doc.push_str("# Benchmarks\n\n");
        doc.push_str(
            "<!-- Generated by `cargo xtask bench` (xtask/src/bench.rs, crates/leakscope-bench); \
             every run rewrites this file whole. -->\n\n",
        );
        doc.push_str(
            "What leakscope's instrumentation costs an app, measured in one run side by side with \
             plain tokio and with console-subscriber (what tokio-console attaches to). The machine \
             is small and shared, so absolute figures move from run to run; the ratios against \
             plain tokio from the same run are the figures to compare.\n\n",
        );
        if self.quick {
            doc.push_str(
                "**This is a `--quick` smoke run: one round each, shorter and smaller workloads; \
                 its figures are not the ones to quote.**\n\n",
            );
        }
        doc.push_str(
            "Run it from the repository root (about 10 minutes; `--quick` is a two-minute smoke \
             run that writes beside the binaries and leaves this file alone). The first run also \
             installs tokio-console into the target directory (`cargo install --locked`, about 2 \
             minutes) to compare the terminal UIs:\n\n\
             ```sh\ncargo xtask bench\n```\n\n",
        );
        doc.push_str("## Results\n\n");
        doc.push_str(tables);
        doc.push_str("\n## Reading\n\n");
        doc.push_str(&self.reading());
        doc.push_str("\n## Machine\n\n");
        let _ = writeln!(doc, "| | |\n|---|---|");
        for (key, value) in &machine.facts {
            let _ = writeln!(doc, "| {key} | {value} |");
        }
        let _ = writeln!(
            doc,
            "| whole run | {:.0} s ({:.0} s measuring, the rest building) |",
            self.elapsed.as_secs_f64(),
            self.measuring.as_secs_f64()
        );
        doc.push('\n');
        doc.push_str(&self.how_measured());
        doc.push_str("\n## Every sample\n\n");
        doc.push_str(
            "Values of every round in the order run, and the details of the round nearest the \
             median (`agent_*` are the agent's `AgentStats` read after the workload).\n\n",
        );
        for workload in WORKLOADS.into_iter().chain([Workload::Flood]) {
            let _ = writeln!(doc, "### {}\n", workload.title());
            for ((w, mode), runs) in &self.results {
                if *w != workload {
                    continue;
                }
                let values: Vec<String> = runs
                    .iter()
                    .map(|r| match r {
                        Ok(s) => number(s.value),
                        Err(e) => format!("failed ({e})"),
                    })
                    .collect();
                let unit = self
                    .samples(workload, *mode)
                    .first()
                    .map_or("", |s| s.unit.as_str())
                    .to_owned();
                let _ = write!(doc, "- {}: {} {unit}", mode.arg(), values.join(", "));
                if let Some(sample) = self.median_sample(workload, *mode) {
                    let details: Vec<String> = sample
                        .detail
                        .iter()
                        .map(|(k, v)| match v.as_f64() {
                            Some(f) if v.is_f64() => format!("{k} {f:.3}"),
                            _ => format!("{k} {v}"),
                        })
                        .collect();
                    let _ = write!(doc, " ({})", details.join(", "));
                }
                let paired: Vec<String> = match workload {
                    _ if *mode == Mode::Plain => Vec::new(),
                    Workload::Spawn | Workload::Poll | Workload::Http => {
                        self.paired(workload, *mode, |a, p| a / p).into_iter().map(ratio).collect()
                    }
                    Workload::Idle => self
                        .paired(workload, *mode, |a, p| a - p)
                        .into_iter()
                        .map(|d| format!("{} B", signed(d)))
                        .collect(),
                    Workload::Burst | Workload::Flood => Vec::new(),
                };
                if !paired.is_empty() {
                    let _ = write!(doc, "; against plain, round by round: {}", paired.join(", "));
                }
                doc.push('\n');
            }
            doc.push('\n');
        }
        doc
    }

    /// A short reading of the figures against the targets, written from the figures.
    fn reading(&self) -> String {
        let mut out = String::new();
        let verdicts: Vec<(Workload, Option<Verdict>)> =
            WORKLOADS.iter().map(|&w| (w, self.verdict(w))).collect();
        let met = verdicts.iter().filter(|(_, v)| v.as_ref().is_some_and(|v| v.pass)).count();
        let _ =
            writeln!(out, "- In this run leakscope met {met} of the {} targets.", verdicts.len());
        for (workload, verdict) in &verdicts {
            match verdict {
                Some(v) if !v.pass => {
                    let _ = writeln!(
                        out,
                        "- **Missed: {}**: target {}, measured {}.",
                        workload.title(),
                        v.target,
                        v.measured
                    );
                }
                None => {
                    let _ = writeln!(out, "- **Not measured: {}.**", workload.title());
                }
                Some(_) => {}
            }
        }
        let ratio_of = |w: Workload, m: Mode| self.ratio_to_plain(w, m);
        let extra = |w: Workload, m: Mode| self.beyond_plain(w, m);
        for (workload, what) in
            [(Workload::Spawn, "Spawning and finishing a task"), (Workload::Poll, "A poll")]
        {
            if let (Some(plain), Some(l), Some(c), Some(lr), Some(cr)) = (
                self.median(workload, Mode::Plain),
                extra(workload, Mode::Leakscope),
                extra(workload, Mode::Console),
                ratio_of(workload, Mode::Leakscope),
                ratio_of(workload, Mode::Console),
            ) {
                let _ = writeln!(
                    out,
                    "- {what}: plain tokio {} ns{}; leakscope adds {} ns ({}), \
                     console-subscriber {} ns ({}).",
                    number(plain),
                    if workload == Workload::Poll {
                        " (each yield includes a turn of tokio's I/O driver)"
                    } else {
                        ""
                    },
                    number(l),
                    ratio(lr),
                    number(c),
                    ratio(cr)
                );
            }
        }
        if let (Some(p), Some(l), Some(c)) = (
            self.median(Workload::Idle, Mode::Plain),
            extra(Workload::Idle, Mode::Leakscope),
            extra(Workload::Idle, Mode::Console),
        ) {
            let tasks = self.detail_u64(Workload::Idle, "tasks").unwrap_or(0);
            let _ = write!(
                out,
                "- With {} idle tasks, leakscope adds {} B per task to plain tokio's {} B (its \
                 task slot plus the slots of each task's oneshot resource and async operation); \
                 console-subscriber adds {} B",
                number(tasks as f64),
                number(l),
                number(p),
                number(c),
            );
            if let Some(seen) =
                self.detail_median(Workload::Idle, Mode::Console, "console_api_seen_after")
            {
                let _ = write!(
                    out,
                    ", and a tokio-console attaching after the workload would have been shown {} \
                     of the {} tasks",
                    number(seen),
                    number(tasks as f64)
                );
            }
            match self.median_sample(Workload::Flood, Mode::Console) {
                Some(flood) if flood.u64("console_dropped_events").is_some_and(|d| d > 0) => {
                    let _ = write!(
                        out,
                        ". That many tasks overflow console-subscriber's event buffer: spawned \
                         as one burst with a watch attached, it dropped {} events and showed {} \
                         of the {} tasks. A task whose spawn event is dropped gets no record, so \
                         its memory figure at this size counts records for only part of the tasks",
                        number(flood.u64("console_dropped_events").unwrap_or(0) as f64),
                        number(flood.value),
                        number(flood.u64("spawned").unwrap_or(0) as f64),
                    );
                }
                Some(flood) => {
                    let _ = write!(
                        out,
                        ". Spawned as one burst with a watch attached, console-subscriber \
                         dropped no events and showed {} of the {} tasks",
                        number(flood.value),
                        number(flood.u64("spawned").unwrap_or(0) as f64),
                    );
                }
                None => {}
            }
            out.push_str(".\n");
        }
        if let (Some(l), Some(c)) =
            (ratio_of(Workload::Http, Mode::Leakscope), ratio_of(Workload::Http, Mode::Console))
        {
            let _ = write!(
                out,
                "- Under HTTP load leakscope serves {:.0}% of plain tokio's requests per second, \
                 console-subscriber {:.0}% (medians of the round-by-round ratios; the machine's \
                 other work moves single rounds by tens of percent, see every sample below)",
                100.0 * l,
                100.0 * c
            );
            let cpu = |m: Mode| self.detail_median(Workload::Http, m, "server_cpu_ns_per_request");
            if let (Some(plain), Some(ls), Some(cs)) =
                (cpu(Mode::Plain), cpu(Mode::Leakscope), cpu(Mode::Console))
            {
                let _ = write!(
                    out,
                    ". The serving process's CPU time per request, which other processes disturb \
                     less, was {} ns plain, {} ns under leakscope ({:+.0}%) and {} ns under \
                     console-subscriber ({:+.0}%)",
                    number(plain),
                    number(ls),
                    100.0 * (ls / plain - 1.0),
                    number(cs),
                    100.0 * (cs / plain - 1.0)
                );
            }
            out.push_str(".\n");
        }
        if let Some(sample) = self.median_sample(Workload::Burst, Mode::Console) {
            let seen = sample.value;
            let spawned = self.spawned().unwrap_or(0);
            let secs = sample.f64("console_api_seconds_after_burst").unwrap_or(0.0);
            let dropped = sample.u64("console_dropped_events").unwrap_or(0);
            let _ = write!(
                out,
                "- Of a burst of {} live tasks, tokio-console's view (console-api, folded as \
                 tokio-console folds it) showed {} {:.0} s after the burst{}; console-subscriber \
                 reported {} dropped events",
                number(spawned as f64),
                number(seen),
                secs,
                if sample.detail.get("console_api_settled") == Some(&Value::Bool(false)) {
                    ", still rising when the wait ended"
                } else {
                    ""
                },
                number(dropped as f64),
            );
            if dropped == 0 {
                out.push_str(", so the gap is its aggregator falling behind, not loss");
            }
            if secs > 0.0 && seen > 0.0 {
                let _ = write!(out, " (it learned of about {:.0} tasks a second)", seen / secs);
            }
            out.push_str(
                ". leakscope's agent writes a task's record on the spawn path, so its answer is \
                 complete as soon as the spawn returns.\n",
            );
        }
        if let Some(sample) = self.median_sample(Workload::Burst, Mode::LeakscopeConsole)
            && let Some(seen) = sample.u64("console_api_seen")
        {
            let _ = writeln!(
                out,
                "- With the `console` feature, the agent's own API reported {} of the burst and \
                 the console-api service on the same port {}: a tokio-console attached to the \
                 agent inherits console-subscriber's lag, and the feature costs about what \
                 console-subscriber costs (see its row), so it stays off by default.",
                number(sample.value),
                number(seen as f64)
            );
        }
        let dropped: u64 = WORKLOADS
            .iter()
            .filter_map(|&w| self.counter_max(w, Mode::Leakscope, "agent_spans_dropped_total"))
            .map(|(max, _)| max)
            .sum();
        let _ = writeln!(
            out,
            "- leakscope's agent dropped {} spans over the worst rounds of all workloads \
             (`spans_dropped_total`). `finished_evicted_total` counts finished tasks beyond the \
             retention bound that no client read; it grows with every task the spawn and HTTP \
             workloads finish and is not a loss of live data.",
            number(dropped as f64)
        );
        out
    }

    /// The "how measured" section; sizes are read from the processes' reports.
    fn how_measured(&self) -> String {
        let rounds =
            |w: Workload| self.rounds_of(w, Mode::Plain).max(self.rounds_of(w, Mode::Leakscope));
        let known = |v: Option<u64>| v.map_or("?".to_owned(), |v| number(v as f64));
        let secs = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1} s"));
        let spawn_batch = known(self.detail_u64(Workload::Spawn, "batch"));
        let spawn_secs = secs(self.detail_f64(Workload::Spawn, "seconds"));
        let poll_secs = secs(self.detail_f64(Workload::Poll, "seconds"));
        let idle_tasks = known(self.detail_u64(Workload::Idle, "tasks"));
        let connections = known(self.detail_u64(Workload::Http, "connections"));
        let http_secs = secs(self.detail_f64(Workload::Http, "seconds"));
        let burst = known(self.spawned());
        let flood_secs = self
            .detail_median(Workload::Flood, Mode::Console, "console_api_seconds_after_burst")
            .map_or("some seconds".to_owned(), |v| format!("{v:.0} s"));
        let (spawn_rounds, poll_rounds, idle_rounds, http_rounds, burst_rounds) = (
            rounds(Workload::Spawn),
            rounds(Workload::Poll),
            rounds(Workload::Idle),
            rounds(Workload::Http),
            rounds(Workload::Burst),
        );
        format!(
            "## How measured

Every figure comes from a fresh process of `crates/leakscope-bench`, built with `cargo build \
--release` (the workspace's release profile, with line tables) and `--cfg tokio_unstable` for \
every mode, plain included, so only the installed instrumentation differs. `cargo xtask bench` \
runs each workload under each mode several times (spawn {spawn_rounds}, poll {poll_rounds}, idle \
{idle_rounds}, HTTP {http_rounds}, burst {burst_rounds} rounds). In every round plain tokio and \
leakscope run back to back, and so do the two console-api modes, the order alternating from round \
to round, so that a comparison with plain tokio is between runs made under nearly the same \
background load; a comparison is the median of the round-by-round comparisons, and the absolute \
figures are medians too. The app runtime is \
tokio's multi-thread runtime with one worker per core, built as `#[tokio::main]` builds it; the \
instrumentation is installed first, inside it, and no client is attached while a figure is \
measured (except in the burst, where asking is the point):

- **plain tokio**: nothing installed.
- **console-subscriber** (0.5): `ConsoleLayer::builder().server_addr(a free loopback \
  port).spawn()` on `tracing_subscriber::registry()`, every other setting at its default, as its \
  docs compose it.
- **leakscope**: `leakscope::Builder::new().bind(127.0.0.1:0).try_init()`. Everything it collects \
  is on (it has no switches to turn collection off): tasks, wakers, resources and async \
  operations, the app's spans, long polls, retention of finished tasks.
- **leakscope + `console` feature**: the same call in a build with `--features \
  leakscope/console`, which also serves console-api's `Instrument` service (console-subscriber's \
  aggregator) on the agent's port. It is measured only when it builds and the agent's `Hello` \
  reports `console_api`.

After each workload, with its tasks still alive, the process reads the agent's `AgentStats` \
through `Agent.GetSnapshot` (the counters of what it dropped, and the live tasks it lists), and \
folds the first update of a fresh console-api watch as tokio-console would (the tasks a \
tokio-console attaching then is shown, and console-subscriber's `dropped_events`). \
console-subscriber keeps counting dropped events until it builds an update, so that first update \
carries the count since start, unless an earlier first update was built and found larger than its \
4 MiB limit, which resets the count unsent: the table then shows a lower bound (\"≥\"). In the \
burst, the watch opened before the burst gives the count instead.

### 1. spawn+finish

A driver task spawns {spawn_batch} tasks that do nothing (`black_box` of a number), then awaits \
their join handles, in a loop for about {spawn_secs} after one untimed batch. Figure: wall time \
over tasks spawned, in ns per task.

### 2. poll (`yield_now` loop)

One task per worker loops on `tokio::task::yield_now().await`, looking at the clock every 1,000 \
yields, for about {poll_secs} after an untimed tenth of that. Figure: wall time divided by the \
polls each worker made, in ns per poll. Each yield is a whole trip through the scheduler, and \
tokio turns its I/O and timer driver before running a yielded task again, so plain tokio's figure \
includes that turn; the instrumentation adds its span enter and exit and its waker events on top.

### 3. idle memory

RSS (`VmRSS` from `/proc/self/status`) is read once the process has started and settled; then \
{idle_tasks} tasks are spawned, each parked on its own `tokio::sync::oneshot` receiver (the \
senders are held), and once every task has been polled, RSS is read again after it has settled. \
Settled means the last five samples, 200 ms apart, differ by less than 2 MiB (bounded in time; \
the sample details say whether it settled). console-subscriber's aggregator works through its \
event channel on its own thread, which is why memory is given time to settle. Figure: RSS growth \
over the tasks, in bytes per task; the results table gives the growth beyond plain tokio's, which \
is what the instrumentation costs per live task.

### 3b. idle-sized burst, watched

Run once per mode after the idle rounds, because console-subscriber's count of dropped events \
cannot be read after them (see above): the idle workload's number of tasks, spawned as in the \
burst below with a console-api watch attached before, so that the watch receives every update. \
It gives what each instrumentation dropped while that many tasks arrived, and how many of them \
its API showed {flood_secs} later (leakscope: `GetSnapshot` once settled).

### 4. HTTP throughput

The measured process serves HTTP/1.1 with keep-alive on a loopback port: tokio TCP, a \
hand-written request parser, one task per connection, and per request an FNV hash of the path (a \
little work) and one spawned task that renders the body and is awaited. The load comes from a \
separate, uninstrumented process (the same binary with `--role client`, on a current-thread \
runtime): {connections} connections, each a loop of one request at a time that stops by itself \
after a warm-up and {http_secs} counted; both processes share the machine's cores. Figure: \
answered requests per second. Supporting figure: the serving process's CPU time (user + system, \
all its threads, the instrumentation's included, from `/proc/self/stat`) over the requests it \
answered, warm-up included.

### 5. burst accounting

{burst} tasks are spawned in one burst from one task, each parked on a oneshot receiver, and once \
all have been polled the instrumentation's own client is asked how many it sees alive at the \
burst's spawn location. leakscope: `Agent.GetSnapshot` over gRPC on loopback (the generated \
leakscope-proto client), counting tasks with `dropped_nanos == 0` whose location is the burst's, \
read every 200 ms until three reads agree; the target needs every round to see every task. \
console-subscriber (and the console-api service of leakscope's `console` feature): a console-api \
`Instrument.WatchUpdates` stream opened before the burst, as an attached tokio-console would be, \
folded the way tokio-console folds it (a new task is kept when its metadata is known and its \
stats came with it; alive means no `dropped_at`), until three updates agree or the wait bound \
passes (the supporting figures give how long after the burst the count was taken). \
console-subscriber's aggregator (0.5) drains its event channel once per publish interval, or \
sooner only when the channel nears its capacity, with a non-blocking receive that tokio's \
cooperative budget stops after 128 events; a burst too small to fill the channel is therefore \
learned 128 events a second. Plain tokio has nothing to ask.
"
        )
    }
}

/// Facts about the machine the run was made on.
struct Machine {
    facts: Vec<(&'static str, String)>,
}

impl Machine {
    fn read(root: &Path) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split_once(':')))
            .map_or("unknown".to_owned(), |(_, model)| model.trim().to_owned());
        let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map_or("unknown".to_owned(), |kib| {
                format!("{:.1} GiB", kib as f64 / (1 << 20) as f64)
            });
        let clocksource = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .map_or("unknown".to_owned(), |s| s.trim().to_owned());
        let load = std::fs::read_to_string("/proc/loadavg").map_or("unknown".to_owned(), |s| {
            s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
        });
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
        let versions = ["tokio", "tracing-subscriber", "console-subscriber", "tonic"]
            .iter()
            .map(|name| format!("{name} {}", locked_version(&lock, name).unwrap_or("?")))
            .collect::<Vec<_>>()
            .join(", ");
        let commit = output("git", &["rev-parse", "--short", "HEAD"]);
        let dirty = !output("git", &["status", "--porcelain"]).is_empty();
        Self {
            facts: vec![
                ("date", output("date", &["-u", "+%Y-%m-%d %H:%M UTC"])),
                ("CPU", cpu),
                ("cores (available parallelism)", nproc.to_string()),
                ("memory", memory),
                ("kernel (uname -r)", output("uname", &["-r"])),
                ("clock source", clocksource),
                ("load average at start (1, 5, 15 min)", load),
                ("rustc", output("rustc", &["--version"])),
                ("crates", versions),
                (
                    "commit",
                    if dirty { format!("{commit} with uncommitted changes") } else { commit },
                ),
            ],
        }
    }
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .current_dir(crate::workspace_root())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_owned(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
}

/// The version of `name` in a Cargo.lock, when it is locked once.
fn locked_version<'a>(lock: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("name = \"{name}\"\nversion = \"");
    let at = lock.find(&needle)? + needle.len();
    lock[at..].split('"').next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let check = |values: &[f64], expected: Option<f64>| assert_eq!(median(values), expected);
        check(&[], None);
        check(&[3.0], Some(3.0));
        check(&[5.0, 1.0, 3.0], Some(3.0));
        check(&[4.0, 1.0, 3.0, 2.0], Some(2.5));
    }

    #[test]
    fn numbers() {
        let check = |value: f64, expected: &str| assert_eq!(number(value), expected);
        check(0.0, "0");
        check(12.34, "12.3");
        check(999.6, "1,000");
        check(1_234_567.0, "1,234,567");
        check(-2048.0, "-2,048");
        check(-0.2, "-0.2");
    }

    #[test]
    fn signed_numbers() {
        let check = |value: f64, expected: &str| assert_eq!(signed(value), expected);
        check(600.4, "+600");
        check(-12.0, "-12");
        check(0.0, "0");
    }

    #[test]
    fn ratios() {
        let check = |value: f64, expected: &str| assert_eq!(ratio(value), expected);
        check(1.234, "1.23x");
        check(46.09, "46x");
    }

    #[test]
    fn reports_are_read() {
        let sample =
            parse_sample(r#"{"workload":"spawn","mode":"plain","value":12.5,"unit":"ns/task","detail":{"tasks":3}}"#)
                .unwrap();
        assert_eq!((sample.value, sample.unit.as_str()), (12.5, "ns/task"));
        assert_eq!(sample.u64("tasks"), Some(3));
        assert!(parse_sample("not json").is_none());
        assert!(parse_sample(r#"{"value":"x","unit":"u"}"#).is_none());
    }

    #[test]
    fn executables_are_found_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"leakscope"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"leakscope-bench"},"executable":"/t/release/leakscope-bench"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
            "\nnot json\n",
        );
        assert_eq!(
            built_executable(messages, "leakscope-bench"),
            Some(PathBuf::from("/t/release/leakscope-bench"))
        );
        assert_eq!(built_executable(messages, "leakscope"), None);
    }

    #[test]
    fn rounds_keep_plain_and_leakscope_side_by_side() {
        let all = MODES;
        let check = |available: &[Mode], round: usize, expected: &[Mode]| {
            assert_eq!(round_order(available, round), expected, "round {round}");
        };
        use Mode::*;
        check(&all, 0, &[Plain, Leakscope, Console, LeakscopeConsole]);
        check(&all, 1, &[Leakscope, Plain, LeakscopeConsole, Console]);
        check(&all, 2, &[Console, LeakscopeConsole, Plain, Leakscope]);
        check(&all, 3, &[LeakscopeConsole, Console, Leakscope, Plain]);
        check(&all, 4, &[Plain, Leakscope, Console, LeakscopeConsole]);
        check(&[Console, Leakscope, LeakscopeConsole], 0, &[Leakscope, Console, LeakscopeConsole]);
        check(&[Plain, Console, Leakscope], 3, &[Console, Leakscope, Plain]);
    }

    #[test]
    fn locked_versions() {
        let lock = "[[package]]\nname = \"tokio\"\nversion = \"1.54.1\"\n";
        assert_eq!(locked_version(lock, "tokio"), Some("1.54.1"));
        assert_eq!(locked_version(lock, "tonic"), None);
    }
}
