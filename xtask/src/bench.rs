//! `cargo xtask bench`: what leakscope's instrumentation costs an app, measured in one run side by
//! side with plain tokio and console-subscriber, and written to docs/benchmarks.md.
//!
//! The machine is small and noisy, so no figure stands alone: every workload runs as a fresh
//! `leakscope-bench` process per mode, the modes interleaved round by round (the order rotating),
//! and the tables give medians and ratios against plain tokio from the same run. Every number in
//! the report, the workload sizes included, is read from the processes' reports of this run.

mod adoption;
mod report;
mod ui;

use report::{Machine, Summary, number};

use anyhow::Context as _;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
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
    /// leakscope with `wait_capture(false)`: beside leakscope, what the wait capture costs.
    LeakscopeNoCapture,
    LeakscopeConsole,
    /// An app's own fmt subscriber with `leakscope::layer()` in it.
    LeakscopeLayer,
    /// An app's own fmt subscriber carried by the agent's (`Builder::forward_to`).
    LeakscopeForward,
}

const MODES: [Mode; 7] = [
    Mode::Plain,
    Mode::Console,
    Mode::Leakscope,
    Mode::LeakscopeNoCapture,
    Mode::LeakscopeConsole,
    Mode::LeakscopeLayer,
    Mode::LeakscopeForward,
];

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Plain => "plain",
            Mode::Console => "console",
            Mode::Leakscope => "leakscope",
            Mode::LeakscopeNoCapture => "leakscope-no-capture",
            Mode::LeakscopeConsole => "leakscope-console",
            Mode::LeakscopeLayer => "leakscope-layer",
            Mode::LeakscopeForward => "leakscope-forward",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Mode::Plain => "plain tokio",
            Mode::Console => "console-subscriber",
            Mode::Leakscope => "leakscope",
            Mode::LeakscopeNoCapture => "leakscope without wait capture",
            Mode::LeakscopeConsole => "leakscope + `console` feature",
            Mode::LeakscopeLayer => "leakscope layer + fmt",
            Mode::LeakscopeForward => "leakscope forwarding to fmt",
        }
    }
}

/// Workloads, in the order they run (the slowest, idle memory, last).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Workload {
    Spawn,
    /// `yield_now`: every poll includes a driver turn and a waker clone (a wait capture).
    Poll,
    /// A task that wakes itself and returns `Pending`: a poll with no driver turn, issue 11's
    /// fast poll.
    SelfWake,
    /// Pairs of tasks parking on mpsc receivers in turn: what a park costs, wait capture included.
    PingPong,
    Idle,
    Http,
    Burst,
    /// The idle workload's task count as one burst with console-api watched from before: what
    /// each instrumentation drops (console-subscriber's count is unreadable after the idle run).
    Flood,
}

/// Table order: the issue's numbering.
const WORKLOADS: [Workload; 7] = [
    Workload::Spawn,
    Workload::Poll,
    Workload::SelfWake,
    Workload::PingPong,
    Workload::Idle,
    Workload::Http,
    Workload::Burst,
];

/// The workloads with a target, in table order. The ping-pong has none of its own: it shows what
/// a park costs, which the targets do not bound directly.
const TARGETS: [Workload; 6] = [
    Workload::Spawn,
    Workload::Poll,
    Workload::SelfWake,
    Workload::Idle,
    Workload::Http,
    Workload::Burst,
];

/// Run order: the quick, noisy ones first, the memory-hungry ones last.
const RUN_ORDER: [Workload; 8] = [
    Workload::Spawn,
    Workload::Poll,
    Workload::SelfWake,
    Workload::PingPong,
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
            Workload::SelfWake => "self-wake",
            Workload::PingPong => "ping-pong",
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
            Workload::SelfWake => "2b. poll (self-wake, no driver turn)",
            Workload::PingPong => "2c. park and wake (mpsc ping-pong)",
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
            (Workload::Spawn | Workload::Poll | Workload::SelfWake, false) => 7,
            (Workload::PingPong | Workload::Http, false) => 7,
            (Workload::Burst | Workload::Idle, false) => 3,
        }
    }

    /// A process still running after this is killed and its round counted as failed.
    fn timeout(self) -> Duration {
        Duration::from_secs(match self {
            Workload::Spawn | Workload::Poll | Workload::SelfWake | Workload::PingPong => 60,
            Workload::Http | Workload::Burst => 90,
            Workload::Idle | Workload::Flood => 180,
        })
    }

    /// Plain tokio has nothing to ask how many tasks it sees. leakscope without its wait capture
    /// runs only where the capture is on the measured path (a spawn's first poll, a poll's waker
    /// clone, a park, an idle task's chain); HTTP and the bursts are left out to save time. The
    /// two adoption forms (an app's own fmt subscriber with the layer in it, or carried by the
    /// agent's) run the spawn, poll, HTTP and idle workloads: what each form adds per task, per
    /// poll, per request and per idle task.
    fn runs_under(self, mode: Mode) -> bool {
        match mode {
            Mode::LeakscopeLayer | Mode::LeakscopeForward => {
                matches!(self, Workload::Spawn | Workload::Poll | Workload::Http | Workload::Idle)
            }
            Mode::Plain => !matches!(self, Workload::Burst | Workload::Flood),
            Mode::LeakscopeNoCapture => matches!(
                self,
                Workload::Spawn
                    | Workload::Poll
                    | Workload::SelfWake
                    | Workload::PingPong
                    | Workload::Idle
            ),
            Mode::Console | Mode::Leakscope | Mode::LeakscopeConsole => true,
        }
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
        (Mode::LeakscopeNoCapture, &binaries.main),
        (Mode::LeakscopeLayer, &binaries.main),
        (Mode::LeakscopeForward, &binaries.main),
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
    // Last: the cold builds take the machine for minutes and would disturb the timed runs.
    let builds = adoption::run(&root, quick);
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
    let builds = adoption::section(&builds);
    println!("{builds}");
    if let Some(at) = document.find("\n## Machine") {
        document.insert_str(at + 1, &builds);
    }
    std::fs::write(&path, document)
        .with_context(|| format!("failed to write {}", path.display()))?;
    eprintln!("bench: wrote {} in {:.0} s", path.display(), started.elapsed().as_secs_f64());
    Ok(())
}

/// The order of the modes in one round. Plain tokio, leakscope, leakscope without its wait
/// capture and the two adoption forms run back to back, and so do the two console-api modes, so that each comparison is
/// between runs made under nearly the same background load. Within a group the order rotates by
/// one each round (a pair alternates), and which group goes first alternates every two rounds.
fn round_order(available: &[Mode], round: usize) -> Vec<Mode> {
    let groups: [&[Mode]; 2] = [
        &[
            Mode::Plain,
            Mode::Leakscope,
            Mode::LeakscopeNoCapture,
            Mode::LeakscopeLayer,
            Mode::LeakscopeForward,
        ],
        &[Mode::Console, Mode::LeakscopeConsole],
    ];
    let mut groups: Vec<Vec<Mode>> = groups
        .iter()
        .map(|group| group.iter().copied().filter(|m| available.contains(m)).collect::<Vec<_>>())
        .filter(|group| !group.is_empty())
        .collect();
    for group in &mut groups {
        let len = group.len();
        group.rotate_left(round % len);
    }
    if (round / 2) % 2 == 1 {
        groups.reverse();
    }
    groups.concat()
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let check = |available: &[Mode], round: usize, expected: &[Mode]| {
            assert_eq!(round_order(available, round), expected, "round {round}");
        };
        use Mode::*;
        let four = [Plain, Console, Leakscope, LeakscopeConsole];
        check(&four, 0, &[Plain, Leakscope, Console, LeakscopeConsole]);
        check(&four, 1, &[Leakscope, Plain, LeakscopeConsole, Console]);
        check(&four, 2, &[Console, LeakscopeConsole, Plain, Leakscope]);
        check(&four, 3, &[LeakscopeConsole, Console, Leakscope, Plain]);
        check(&four, 4, &[Plain, Leakscope, Console, LeakscopeConsole]);
        check(&[Console, Leakscope, LeakscopeConsole], 0, &[Leakscope, Console, LeakscopeConsole]);
        check(&[Plain, Console, Leakscope], 3, &[Console, Leakscope, Plain]);
        // Without the capture, leakscope joins plain tokio's group and takes every place in turn.
        let all = [Plain, Console, Leakscope, LeakscopeNoCapture, LeakscopeConsole];
        check(&all, 0, &[Plain, Leakscope, LeakscopeNoCapture, Console, LeakscopeConsole]);
        check(&all, 1, &[Leakscope, LeakscopeNoCapture, Plain, LeakscopeConsole, Console]);
        check(&all, 2, &[Console, LeakscopeConsole, LeakscopeNoCapture, Plain, Leakscope]);
        check(&all, 3, &[LeakscopeConsole, Console, Plain, Leakscope, LeakscopeNoCapture]);
        // The adoption forms share plain tokio's group, so each is measured beside it.
        let group = [Plain, Leakscope, LeakscopeLayer, LeakscopeForward];
        check(&group, 1, &[Leakscope, LeakscopeLayer, LeakscopeForward, Plain]);
    }

    #[test]
    fn the_capture_is_turned_off_only_where_it_is_on_the_measured_path() {
        let under = |mode: Mode| -> Vec<&str> {
            RUN_ORDER.iter().filter(|w| w.runs_under(mode)).map(|w| w.arg()).collect()
        };
        assert_eq!(
            under(Mode::LeakscopeNoCapture),
            ["spawn", "poll", "self-wake", "ping-pong", "idle"]
        );
        assert_eq!(under(Mode::Plain).len(), RUN_ORDER.len() - 2);
        assert_eq!(under(Mode::Leakscope).len(), RUN_ORDER.len());
        assert_eq!(under(Mode::LeakscopeLayer), ["spawn", "poll", "http", "idle"]);
        assert_eq!(under(Mode::LeakscopeForward), under(Mode::LeakscopeLayer));
    }
}
