//! The terminal UI at scale (issue 4): `leakscope attach --bench-frames N` against a target
//! holding 100,000 live tasks, once per kind of target: a leakscope agent, and an app running only
//! console-subscriber (read through console-api, as tokio-console reads it).

use super::{Mode, built_executable, cargo, last_line, number};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// The targets the UI is attached to, in table order.
const TARGETS: [Mode; 2] = [Mode::Leakscope, Mode::Console];
/// How long a target may take to park its tasks and say where to attach.
const READY_LIMIT: Duration = Duration::from_secs(180);
/// How long one `attach --bench-frames` may take, first analysis included.
const ATTACH_LIMIT: Duration = Duration::from_secs(400);

/// One target's figures: the UI's JSON line, or why there is none.
pub(super) struct Run {
    mode: Mode,
    tasks: u64,
    figures: Result<Value, String>,
}

/// Builds the CLI, then attaches it to each kind of target in turn.
pub(super) fn run(bench: &Path, quick: bool) -> Vec<Run> {
    let cli = match build_cli() {
        Ok(cli) => cli,
        Err(err) => {
            eprintln!("bench: the UI's figures are not measured: {err}");
            return TARGETS
                .iter()
                .map(|&mode| Run { mode, tasks: 0, figures: Err(err.clone()) })
                .collect();
        }
    };
    let frames = if quick { "60" } else { "300" };
    TARGETS
        .iter()
        .map(|&mode| {
            let (tasks, figures) = match Target::start(bench, mode, quick) {
                Ok(target) => {
                    let figures = last_line(
                        &cli,
                        &["attach", &target.addr, "--bench-frames", frames],
                        ATTACH_LIMIT,
                    )
                    .and_then(|line| {
                        serde_json::from_str::<Value>(&line)
                            .map_err(|_| format!("unreadable figures {line:?}"))
                    });
                    (target.tasks, figures)
                }
                Err(err) => (0, Err(err)),
            };
            match &figures {
                Ok(f) => eprintln!("bench: ui {}: {f}", mode.arg()),
                Err(e) => eprintln!("bench: ui {}: failed: {e}", mode.arg()),
            }
            Run { mode, tasks, figures }
        })
        .collect()
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

/// A `leakscope-bench --workload hold` process: killed on drop.
struct Target {
    child: Child,
    addr: String,
    tasks: u64,
}

impl Target {
    fn start(bench: &Path, mode: Mode, quick: bool) -> Result<Self, String> {
        let mut args = vec!["--mode", mode.arg(), "--workload", "hold"];
        if quick {
            args.push("--quick");
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
        let mut target = Self { child, addr: String::new(), tasks: 0 };
        let line = match rx.recv_timeout(READY_LIMIT) {
            Ok(Some(line)) => line,
            Ok(None) => return Err("the target exited before it was ready".to_owned()),
            Err(_) => return Err(format!("the target was not ready within {READY_LIMIT:?}")),
        };
        let ready: Value =
            serde_json::from_str(&line).map_err(|_| format!("unreadable target line {line:?}"))?;
        let key = if mode == Mode::Console { "console" } else { "agent" };
        target.addr = ready[key].as_str().ok_or(format!("the target has no {key} address"))?.into();
        target.tasks = ready["tasks"].as_u64().unwrap_or(0);
        Ok(target)
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
         the CLI's peak RSS. Against the console-subscriber app the UI reads console-api, as \
         tokio-console does. tokio-console itself is not measured: it is not built on this \
         machine, and it has no headless mode to time. The live-task column is how many of the \
         target's tasks the UI was told about: console-subscriber's aggregator falls behind on \
         large counts (see the burst above), so against it the UI has far fewer to draw.\n\n",
    );
    doc.push_str(
        "| target | live tasks | first full frame | frame p50 | frame p99 | frame max | engine: \
         apply one update / analyse | CLI peak RSS |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for run in runs {
        let title = match run.mode {
            Mode::Console => "console-subscriber app (console-api)",
            _ => "leakscope agent",
        };
        match &run.figures {
            Ok(f) => {
                let ms = |v: &Value| v.as_f64().map_or("?".to_owned(), |x| format!("{x:.1} ms"));
                let rss = f["peak_rss_bytes"]
                    .as_f64()
                    .map_or("?".to_owned(), |b| format!("{} MiB", number(b / 1_048_576.0)));
                let _ = writeln!(
                    doc,
                    "| {title} | {} of {} | {} | {} | {} | {} | {} / {} | {rss} |",
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
                let _ = writeln!(doc, "| {title} | not measured: {err} |||||||");
            }
        }
    }
    doc.push('\n');
    for run in runs {
        if let Ok(f) = &run.figures {
            let _ = writeln!(doc, "- {}: `{f}`", run.mode.arg());
        }
    }
    doc.push('\n');
    doc
}
