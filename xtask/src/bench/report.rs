//! The report `cargo xtask bench` writes: the results and targets tables, the supporting figures,
//! a reading written from the figures, the machine, how each workload is measured and every
//! sample, in Markdown (docs/benchmarks.md). Data in, text out: the measuring is in `bench.rs`.

mod machine;
mod method;
mod reading;

pub(super) use machine::Machine;

use super::{MODES, Mode, Sample, TARGETS, WORKLOADS, Workload};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

pub(super) fn median(values: &[f64]) -> Option<f64> {
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
pub(super) fn number(value: f64) -> String {
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
        let text = format!("{value:.1}");
        // A tiny negative value rounds to zero, which has no sign.
        if text == "-0.0" { "0.0".to_owned() } else { text }
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

/// A results cell for a mode `workload` does not run under, saying why.
fn not_run(mode: Mode) -> &'static str {
    match mode {
        Mode::Plain => "— (nothing to ask)",
        Mode::LeakscopeNoCapture => "— (not run, to save time)",
        Mode::LeakscopeLayer | Mode::LeakscopeForward => "— (spawn, poll, HTTP and idle only)",
        Mode::Console | Mode::Leakscope | Mode::LeakscopeConsole => "—",
    }
}

/// Whether leakscope met one of the issue's targets.
struct Verdict {
    target: &'static str,
    /// What was measured, as compared with the target.
    measured: String,
    pass: bool,
}

/// The agent's counters of what it could not keep, as the report names them.
const AGENT_COUNTERS: [(&str, &str); 5] = [
    ("agent_spans_dropped_total", "`spans_dropped_total`"),
    ("agent_long_polls_evicted_total", "`long_polls_evicted_total`"),
    ("agent_watch_lagged_total", "`watch_lagged_total`"),
    ("agent_wait_chains_dropped_total", "`wait_chains_dropped_total`"),
    ("agent_finished_evicted_total", "`finished_evicted_total`"),
];

/// Everything measured, and how to show it.
pub(super) struct Summary {
    pub(super) results: BTreeMap<(Workload, Mode), Vec<Result<Sample, String>>>,
    pub(super) quick: bool,
    /// Why leakscope's `console` feature was not measured, when it was not.
    pub(super) console: Option<String>,
    /// Time spent measuring (builds excluded).
    pub(super) measuring: Duration,
    /// The whole run, builds included.
    pub(super) elapsed: Duration,
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
    /// each round in which both ran (see [`super::round_order`]: they ran back to back).
    fn paired(&self, workload: Workload, mode: Mode, compare: fn(f64, f64) -> f64) -> Vec<f64> {
        self.paired_with(workload, mode, Mode::Plain, compare)
    }

    /// `mode` against `base`, round by round: `compare(mode's value, base's value)` for each
    /// round in which both ran.
    fn paired_with(
        &self,
        workload: Workload,
        mode: Mode,
        base: Mode,
        compare: fn(f64, f64) -> f64,
    ) -> Vec<f64> {
        let (Some(runs), Some(base)) =
            (self.results.get(&(workload, mode)), self.results.get(&(workload, base)))
        else {
            return Vec::new();
        };
        runs.iter()
            .zip(base)
            .filter_map(|(run, base)| {
                Some(compare(run.as_ref().ok()?.value, base.as_ref().ok()?.value))
            })
            .collect()
    }

    /// What the wait capture adds: the median over the rounds of leakscope's value less that of
    /// leakscope without the capture (they ran back to back, see [`super::round_order`]).
    fn capture_adds(&self, workload: Workload) -> Option<f64> {
        median(&self.paired_with(workload, Mode::Leakscope, Mode::LeakscopeNoCapture, |a, b| a - b))
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
            Workload::Poll | Workload::SelfWake => format!("{} ns/poll", number(value)),
            Workload::PingPong => format!("{} ns/round trip", number(value)),
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
                None if !workload.runs_under(mode) => not_run(mode).to_owned(),
                None => "—".to_owned(),
            };
        };
        let absolute = self.absolute(workload, mode).unwrap_or_default();
        if mode == Mode::Plain {
            return format!("baseline ({absolute})");
        }
        let against = match workload {
            Workload::Spawn | Workload::Poll | Workload::SelfWake | Workload::PingPong => {
                self.ratio_to_plain(workload, mode).map(ratio)
            }
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

    /// leakscope (with its wait capture, as it ships) against the target of `workload`.
    fn verdict(&self, workload: Workload) -> Option<Verdict> {
        self.verdict_of(workload, Mode::Leakscope)
    }

    /// `mode` against the target of `workload`.
    fn verdict_of(&self, workload: Workload, mode: Mode) -> Option<Verdict> {
        Some(match workload {
            Workload::Spawn | Workload::Poll | Workload::SelfWake => {
                let (target, limit) = match workload {
                    Workload::Spawn => ("≤ 3x plain tokio per spawned task", 3.0),
                    Workload::Poll => ("≤ 2x plain tokio per poll (with a driver turn)", 2.0),
                    _ => ("≤ 2x plain tokio per poll (no driver turn)", 2.0),
                };
                let r = self.ratio_to_plain(workload, mode)?;
                Verdict { target, measured: ratio(r), pass: r <= limit }
            }
            Workload::Idle => {
                let extra = self.beyond_plain(workload, mode)?;
                Verdict {
                    target: "≤ 1 KiB more RSS than plain tokio per live idle task",
                    measured: format!("{} B/task", signed(extra)),
                    pass: extra <= 1024.0,
                }
            }
            Workload::Http => {
                let lost = 1.0 - self.ratio_to_plain(workload, mode)?;
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
                let values = self.values(workload, mode);
                if values.is_empty() {
                    return None;
                }
                let fewest = values.iter().copied().fold(f64::INFINITY, f64::min);
                let all: Vec<String> = values.iter().map(|v| number(*v)).collect();
                Verdict {
                    target: "every live task of the burst reported by `Agent.GetSnapshot`",
                    measured: format!("{} of {} in every round", all.join(", "), number(spawned)),
                    pass: fewest >= spawned && values.len() == self.rounds_of(workload, mode),
                }
            }
            Workload::PingPong | Workload::Flood => return None,
        })
    }

    /// The modes with any result, in table order.
    fn modes(&self) -> Vec<Mode> {
        MODES.into_iter().filter(|m| self.results.keys().any(|(_, mode)| mode == m)).collect()
    }

    /// The results, the targets and the dropped-event counters, in Markdown (it reads as plain
    /// text too).
    pub(super) fn tables(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "Each cell: the figure against plain tokio in this run, then the mode's median. Against \
             plain tokio means: spawn, the polls and the round trip, the median over the rounds of \
             the time over plain's in the same round; idle, the median of the RSS per task beyond plain's; HTTP, the \
             median of the requests/s gained or lost against plain's; burst, the share of the live \
             tasks the instrumentation's own API reports. leakscope without wait capture is the \
             agent with `wait_capture(false)`, run beside leakscope to show what the capture \
             costs; it runs only where the capture is on the measured path (spawn, the polls, the \
             ping-pong and idle memory), and HTTP and the burst are left out to save time. The two \
             adoption forms are an app with its own fmt subscriber (INFO and above, written to a \
             sink): `leakscope::layer()` in it, or the agent's subscriber carrying it \
             (`Builder::forward_to`); they run spawn, poll, HTTP and idle memory \
             (docs/adoption.md).\n\n",
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
                "| {} | not measured: {} |{}",
                Mode::LeakscopeConsole.title(),
                why.replace('|', "/"),
                "|".repeat(WORKLOADS.len() - 1)
            );
        }

        out.push_str(
            "\n**leakscope against the targets** (judged with the wait capture on, as leakscope \
             ships; the last column is the same measure with it off, for comparison)\n\n",
        );
        out.push_str(
            "| workload | target | measured | met | leakscope without wait capture |\n\
             |---|---|---|---|---|\n",
        );
        for workload in TARGETS {
            let (target, measured, met) = match self.verdict(workload) {
                Some(v) => (v.target, v.measured, if v.pass { "yes" } else { "**NO**" }),
                None => ("—", "not measured".to_owned(), "**NO**"),
            };
            let without = match self.verdict_of(workload, Mode::LeakscopeNoCapture) {
                Some(v) => format!("{} ({})", v.measured, if v.pass { "within" } else { "over" }),
                None if !workload.runs_under(Mode::LeakscopeNoCapture) => {
                    "not run, to save time".to_owned()
                }
                None => "not measured".to_owned(),
            };
            let _ = writeln!(
                out,
                "| {} | {target} | {measured} | {met} | {without} |",
                workload.title()
            );
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
            Workload::SelfWake,
            Workload::PingPong,
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

    /// A mode's median CPU time per operation (a detail of `workload`), with its ratio to plain
    /// tokio's.
    fn cpu_cell(&self, workload: Workload, mode: Mode, key: &str) -> String {
        let plain = self.detail_median(workload, Mode::Plain, key);
        match (self.detail_median(workload, mode, key), plain) {
            (Some(cpu), Some(plain)) if mode != Mode::Plain && plain > 0.0 => {
                format!("{} ns ({})", number(cpu), ratio(cpu / plain))
            }
            (Some(cpu), _) => format!("{} ns", number(cpu)),
            (None, _) if !workload.runs_under(mode) => not_run(mode).to_owned(),
            (None, _) => "—".to_owned(),
        }
    }

    /// Figures that explain the results: what the process spent in CPU time per request, poll
    /// and round trip, and how many of the idle and burst tasks each instrumentation's API
    /// showed.
    fn supporting(&self) -> String {
        let mut out = String::from(
            "\n**Supporting figures** (medians; CPU time is the measured process's, all its \
             threads, over the operations of the timed run)\n\n| mode | HTTP: server CPU per \
             request | poll (`yield_now`): CPU per poll | poll (self-wake): CPU per poll | \
             ping-pong: CPU per round trip | idle: live tasks its API showed after the workload \
             | idle-sized burst, watched: live tasks its API showed | burst: when the count was \
             taken |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let idle_tasks = self.detail_u64(Workload::Idle, "tasks");
        for mode in self.modes() {
            let cpu = [
                (Workload::Http, "server_cpu_ns_per_request"),
                (Workload::Poll, "cpu_ns_per_poll"),
                (Workload::SelfWake, "cpu_ns_per_poll"),
                (Workload::PingPong, "cpu_ns_per_round_trip"),
            ]
            .map(|(workload, key)| self.cpu_cell(workload, mode, key))
            .join(" | ");
            // leakscope's agent counts its own live tasks; console-api's view is folded from the
            // first update a client attaching after the workload gets.
            let seen = match mode {
                // The workload runs, but plain tokio has nothing to ask.
                Mode::Plain => None,
                Mode::Console => self.detail_median(Workload::Idle, mode, "console_api_seen_after"),
                Mode::Leakscope
                | Mode::LeakscopeNoCapture
                | Mode::LeakscopeConsole
                | Mode::LeakscopeLayer
                | Mode::LeakscopeForward => {
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
                _ if mode == Mode::Plain => not_run(mode).to_owned(),
                _ => "—".to_owned(),
            };
            let when = match self.detail_median(
                Workload::Burst,
                mode,
                "console_api_seconds_after_burst",
            ) {
                Some(secs) => format!("console-api: {secs:.1} s after the burst"),
                None if matches!(mode, Mode::Leakscope) => "as soon as asked".to_owned(),
                None if !Workload::Burst.runs_under(mode) => not_run(mode).to_owned(),
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
                None if !Workload::Flood.runs_under(mode) => not_run(mode).to_owned(),
                None => "—".to_owned(),
            };
            let _ = writeln!(out, "| {} | {cpu} | {seen} | {flood} | {when} |", mode.title());
        }
        out
    }

    pub(super) fn document(&self, machine: &Machine, tables: &str) -> String {
        let mut doc = String::new();
        doc.push_str("# Benchmarks\n\n");
        doc.push_str(
            "<!-- Generated by `cargo xtask bench` (xtask/src/bench.rs and xtask/src/bench/, \
             crates/leakscope-bench); every run rewrites this file whole. -->\n\n",
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
            "Run it from the repository root (about 15 minutes; `--quick` is a two-minute smoke \
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
            "| whole run | {:.0} s ({:.0} s building, {:.0} s measuring) |",
            self.elapsed.as_secs_f64(),
            self.elapsed.saturating_sub(self.measuring).as_secs_f64(),
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
                    Workload::Spawn
                    | Workload::Poll
                    | Workload::SelfWake
                    | Workload::PingPong
                    | Workload::Http => {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

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
        check(-0.04, "0.0");
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

    /// A summary of one round per (workload, mode, value), with `detail` on every sample.
    fn summary(rounds: &[(Workload, Mode, f64)], detail: &[(&str, Value)]) -> Summary {
        let mut results: BTreeMap<(Workload, Mode), Vec<Result<Sample, String>>> = BTreeMap::new();
        for &(workload, mode, value) in rounds {
            let detail: Map<String, Value> =
                detail.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            let sample = Sample { value, unit: "ns".to_owned(), detail };
            results.entry((workload, mode)).or_default().push(Ok(sample));
        }
        Summary {
            results,
            quick: false,
            console: None,
            measuring: Duration::ZERO,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn poll_targets_hold_at_twice_plain_tokio() {
        let check = |workload: Workload, plain: f64, leakscope: f64, expected: Option<bool>| {
            let summary = summary(
                &[(workload, Mode::Plain, plain), (workload, Mode::Leakscope, leakscope)],
                &[],
            );
            let pass = summary.verdict(workload).map(|v| v.pass);
            assert_eq!(pass, expected, "{workload:?}: {leakscope} against {plain}");
        };
        check(Workload::Poll, 500.0, 999.0, Some(true));
        check(Workload::Poll, 500.0, 1001.0, Some(false));
        check(Workload::SelfWake, 60.0, 120.0, Some(true));
        check(Workload::SelfWake, 60.0, 121.0, Some(false));
        check(Workload::Spawn, 400.0, 1200.0, Some(true));
        // The ping-pong is reported, not judged.
        check(Workload::PingPong, 200.0, 1000.0, None);
    }

    #[test]
    fn the_fast_poll_has_its_own_target_line_and_the_ping_pong_none() {
        let rounds = [
            (Workload::SelfWake, Mode::Plain, 60.0),
            (Workload::SelfWake, Mode::Leakscope, 150.0),
            (Workload::PingPong, Mode::Plain, 200.0),
            (Workload::PingPong, Mode::Leakscope, 500.0),
        ];
        let tables = summary(&rounds, &[]).tables();
        let line = |prefix: &str| tables.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
        assert_eq!(
            line("| 2b. poll (self-wake, no driver turn) | ≤ 2x").as_deref(),
            Some(
                "| 2b. poll (self-wake, no driver turn) | ≤ 2x plain tokio per poll (no driver turn) | 2.50x | **NO** | not measured |"
            )
        );
        assert_eq!(line("| 2c. park and wake (mpsc ping-pong) | ≤"), None);
        let results = line("| leakscope |").expect("a results row for leakscope");
        assert!(results.contains("**2.50x** (150 ns/poll)"), "{results}");
        assert!(results.contains("**2.50x** (500 ns/round trip)"), "{results}");
    }

    #[test]
    fn a_park_costs_the_round_trip_less_its_two_polls() {
        let rounds = [
            (Workload::SelfWake, Mode::Plain, 60.0),
            (Workload::SelfWake, Mode::Leakscope, 100.0),
            (Workload::PingPong, Mode::Plain, 200.0),
            (Workload::PingPong, Mode::Leakscope, 500.0),
        ];
        let detail = [("parks_per_round_trip", Value::from(2.0)), ("agent_wait_chains", 3.into())];
        let sentence = summary(&rounds, &detail).park_cost().expect("both workloads ran");
        // (300 - 2 * 40) / 2 parks.
        assert!(sentence.starts_with("- Per park, leakscope adds about 110 ns"), "{sentence}");
        assert!(sentence.contains("held 3 distinct chains"), "{sentence}");
        assert_eq!(summary(&rounds[..2], &detail).park_cost(), None);
    }

    #[test]
    fn the_capture_costs_leakscope_less_leakscope_without_it() {
        use Mode::{Leakscope, LeakscopeNoCapture, Plain};
        let rounds = [
            (Workload::Poll, Plain, 500.0),
            (Workload::Poll, Leakscope, 800.0),
            (Workload::Poll, LeakscopeNoCapture, 650.0),
            (Workload::PingPong, Plain, 200.0),
            (Workload::PingPong, Leakscope, 500.0),
            (Workload::PingPong, LeakscopeNoCapture, 300.0),
            (Workload::Idle, Plain, 700.0),
            (Workload::Idle, Leakscope, 1300.0),
            (Workload::Idle, LeakscopeNoCapture, 1200.0),
        ];
        let detail = [("parks_per_round_trip", Value::from(2.0))];
        let sentence = summary(&rounds, &detail).capture_cost().expect("both modes ran");
        assert!(sentence.contains("+150 ns per `yield_now` poll"), "{sentence}");
        assert!(sentence.contains("+200 ns per ping-pong round trip, about +100 ns per park"));
        assert!(sentence.contains("+100 B per idle task"), "{sentence}");
        assert!(
            sentence.contains("costs 1.30x per `yield_now` poll, 1.50x per round trip, +500 B")
        );
        assert!(!sentence.contains("no saving"), "{sentence}");
        // A negative difference is called what it is.
        let mut faster = rounds.to_vec();
        faster.extend([
            (Workload::SelfWake, Plain, 50.0),
            (Workload::SelfWake, Leakscope, 110.0),
            (Workload::SelfWake, LeakscopeNoCapture, 150.0),
        ]);
        let sentence = summary(&faster, &detail).capture_cost().expect("both modes ran");
        assert!(sentence.contains("-40 ns per self-wake poll"), "{sentence}");
        assert!(sentence.contains("a negative difference is no saving"), "{sentence}");
        // Nothing to compare without the mode.
        let with_capture_only: Vec<_> =
            rounds.iter().copied().filter(|(_, m, _)| *m != LeakscopeNoCapture).collect();
        assert_eq!(summary(&with_capture_only, &detail).capture_cost(), None);
    }

    #[test]
    fn targets_are_judged_with_the_capture_and_shown_without_it() {
        use Mode::{Leakscope, LeakscopeNoCapture, Plain};
        let rounds = [
            (Workload::Poll, Plain, 500.0),
            (Workload::Poll, Leakscope, 1100.0),
            (Workload::Poll, LeakscopeNoCapture, 900.0),
            (Workload::Http, Plain, 1000.0),
            (Workload::Http, Leakscope, 950.0),
        ];
        let summary = summary(&rounds, &[]);
        let tables = summary.tables();
        let line = |prefix: &str| tables.lines().find(|l| l.starts_with(prefix)).map(str::to_owned);
        assert_eq!(
            line("| 2. poll (`yield_now` loop) | ≤ 2x").as_deref(),
            Some(
                "| 2. poll (`yield_now` loop) | ≤ 2x plain tokio per poll (with a driver turn) | 2.20x | **NO** | 1.80x (within) |"
            )
        );
        let http = line("| 4. HTTP throughput | ≤").expect("an HTTP target line");
        assert!(http.ends_with("| yes | not run, to save time |"), "{http}");
        let row = line("| leakscope without wait capture |").expect("a results row");
        assert!(row.contains("**1.80x** (900 ns/poll)"), "{row}");
        assert!(row.contains("— (not run, to save time)"), "{row}");
        let reading = summary.reading();
        let met = "met 1 of the 6 targets, judged with its wait capture on (without it, 1 of the 1";
        assert!(reading.contains(met), "{reading}");
    }
}
