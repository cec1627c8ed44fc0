//! `/metrics`: the model and its analysis in the Prometheus text format (version 0.0.4).
//!
//! Names follow Prometheus conventions: a `leakscope_` prefix, base units (seconds, bytes),
//! `_total` on counters. Per-location series are bounded: the `top` locations with the most live
//! tasks are named, the rest summed under `location="other"`, which is always present.
//! Without `--cfg tokio_unstable` there are no task records: the families built from them are
//! left out and `leakscope_tasks_alive` comes from the runtimes' own count.

use leakscope_analysis::{FindingKind, Model, Report, Severity};
use leakscope_proto::v1::{ResourceKind, TaskState};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// The content type Prometheus asks for (`text/plain; version=0.0.4`).
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label value that stands for every location past the top ones.
pub(crate) const OTHER: &str = "other";

const SEVERITIES: [Severity; 3] = [Severity::Leak, Severity::Suspect, Severity::Warn];

/// The text of one scrape. `extra_memory` is what the HTTP endpoints themselves hold (their
/// model), added to the agent's own count.
pub(crate) fn render(model: &Model, report: &Report, top: usize, extra_memory: u64) -> String {
    let mut out = Writer::default();
    let sources = model.sources();
    let stats = model.agent_stats().copied().unwrap_or_default();

    if sources.tasks {
        let (total, by_location) = live_by_location(model, top);
        out.family("leakscope_tasks_alive", "gauge", "Live tasks: spawned and not yet finished.");
        out.sample("leakscope_tasks_alive", &[], total as f64);
        out.family(
            "leakscope_location_tasks_alive",
            "gauge",
            "Live tasks per spawn location, for the locations with the most; the rest are summed under location=\"other\".",
        );
        for (location, count) in &by_location {
            out.sample("leakscope_location_tasks_alive", &[("location", location)], *count as f64);
        }
        out.family("leakscope_tasks_in_state", "gauge", "Live tasks per state.");
        let states = states(model);
        for (state, count) in states {
            out.sample("leakscope_tasks_in_state", &[("state", state)], count as f64);
        }
        out.family(
            "leakscope_tasks_spawned_total",
            "counter",
            "Tasks spawned since the agent started.",
        );
        out.sample("leakscope_tasks_spawned_total", &[], stats.tasks_spawned_total as f64);
        out.family(
            "leakscope_tasks_completed_total",
            "counter",
            "Tasks finished (their future dropped) since the agent started.",
        );
        out.sample("leakscope_tasks_completed_total", &[], stats.tasks_finished_total as f64);
        findings(&mut out, report);
        long_polls(&mut out, model, stats.long_polls_total);
        lock_waits(&mut out, model);
    } else {
        let alive: u64 = model.runtimes().iter().map(|r| r.alive_tasks).sum();
        out.family(
            "leakscope_tasks_alive",
            "gauge",
            "Live tasks, as the registered runtimes count them (no task records in this build).",
        );
        out.sample("leakscope_tasks_alive", &[], alive as f64);
    }
    runtimes(&mut out, model);

    out.family(
        "leakscope_agent_dropped_total",
        "counter",
        "Records the agent could not keep: spans (its arena was full; such tasks are counted, not listed), long_polls and finished_tasks (evicted before a client read them), watch_updates (a slow client got a full snapshot instead).",
    );
    for (what, count) in [
        ("spans", stats.spans_dropped_total),
        ("long_polls", stats.long_polls_evicted_total),
        ("finished_tasks", stats.finished_evicted_total),
        ("watch_updates", stats.watch_lagged_total),
    ] {
        out.sample("leakscope_agent_dropped_total", &[("what", what)], count as f64);
    }
    out.family(
        "leakscope_agent_memory_bytes",
        "gauge",
        "Bytes the agent holds for its records, its HTTP endpoints' model included.",
    );
    out.sample("leakscope_agent_memory_bytes", &[], (stats.memory_bytes + extra_memory) as f64);
    out.family(
        "leakscope_agent_info",
        "gauge",
        "The agent's version and what this build can see; always 1.",
    );
    let yes_no = |b: bool| if b { "true" } else { "false" };
    out.sample(
        "leakscope_agent_info",
        &[
            ("version", &model.target().agent_version),
            ("tasks", yes_no(sources.tasks)),
            ("task_dump", yes_no(sources.task_dump)),
        ],
        1.0,
    );
    out.text
}

/// Live tasks in total, and per location: the `top` largest by count (ties by name), then
/// `other` with the rest.
fn live_by_location(model: &Model, top: usize) -> (u64, Vec<(String, u64)>) {
    let mut counts: HashMap<u32, u64> = HashMap::new();
    for task in model.live_tasks() {
        *counts.entry(task.location_id).or_default() += 1;
    }
    // Distinct ids may name one place (never in practice; cheap to be exact).
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (id, count) in counts {
        *by_name.entry(model.location(id).to_string()).or_default() += count;
    }
    let total = by_name.values().sum();
    let mut ranked: Vec<(String, u64)> = by_name.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let rest: u64 = ranked.iter().skip(top).map(|(_, count)| count).sum();
    ranked.truncate(top);
    ranked.push((OTHER.to_owned(), rest));
    (total, ranked)
}

fn states(model: &Model) -> [(&'static str, u64); 3] {
    let mut counts = [("running", 0), ("scheduled", 0), ("idle", 0)];
    for task in model.live_tasks() {
        let slot = match TaskState::try_from(task.state).unwrap_or(TaskState::Unspecified) {
            TaskState::Running => 0,
            TaskState::Scheduled => 1,
            TaskState::Idle => 2,
            TaskState::Done | TaskState::Unspecified => continue,
        };
        counts[slot].1 += 1;
    }
    counts
}

fn findings(out: &mut Writer, report: &Report) {
    let mut found: HashMap<(FindingKind, Severity), (u64, u64)> = HashMap::new();
    // An entry carries every kind found at its site and wait point: it counts under each, at
    // the severity that kind was found at, so a kind's series agrees with the JSON's `kinds`.
    for finding in &report.findings {
        for kind in finding.kinds() {
            let severity = finding.severity_of(kind).unwrap_or(finding.severity);
            let entry = found.entry((kind, severity)).or_default();
            entry.0 += 1;
            entry.1 += finding.count;
        }
    }
    out.family(
        "leakscope_findings",
        "gauge",
        "Findings of leakscope's analysis (default thresholds) now, per kind and severity; see docs/leak-patterns.md.",
    );
    for kind in FindingKind::ALL {
        for severity in SEVERITIES {
            let (count, _) = found.get(&(kind, severity)).copied().unwrap_or_default();
            let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
            out.sample("leakscope_findings", &labels, count as f64);
        }
    }
    out.family(
        "leakscope_finding_tasks",
        "gauge",
        "Tasks covered by the current findings, per kind and severity (for blocking: long polls seen).",
    );
    for kind in FindingKind::ALL {
        for severity in SEVERITIES {
            let (_, tasks) = found.get(&(kind, severity)).copied().unwrap_or_default();
            let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
            out.sample("leakscope_finding_tasks", &labels, tasks as f64);
        }
    }
    out.family(
        "leakscope_findings_unevaluated",
        "gauge",
        "1 when a detector could not run on the data so far (growth needs history), else 0.",
    );
    for kind in FindingKind::ALL {
        let unevaluated = report.unevaluated.iter().any(|u| u.kind == kind);
        let value = if unevaluated { 1.0 } else { 0.0 };
        out.sample("leakscope_findings_unevaluated", &[("kind", kind.as_str())], value);
    }
}

fn long_polls(out: &mut Writer, model: &Model, total: u64) {
    out.family(
        "leakscope_long_polls_total",
        "counter",
        "Polls longer than the long-poll threshold (each blocked a worker thread).",
    );
    out.sample("leakscope_long_polls_total", &[], total as f64);
    let nanos: u64 = model.poll_stats().map(|s| s.long_poll_nanos).sum();
    out.family(
        "leakscope_long_poll_seconds_total",
        "counter",
        "Time spent in polls longer than the long-poll threshold.",
    );
    out.sample("leakscope_long_poll_seconds_total", &[], seconds(nanos));
    out.family(
        "leakscope_long_poll_threshold_seconds",
        "gauge",
        "A poll longer than this is counted as a long poll.",
    );
    let threshold = model.target().long_poll_threshold_nanos;
    out.sample("leakscope_long_poll_threshold_seconds", &[], seconds(threshold));
}

/// Tasks waiting on a tokio lock the app created (channels' internal semaphores left out), and
/// the longest such wait.
fn lock_waits(out: &mut Writer, model: &Model) {
    let locks = [
        (ResourceKind::Mutex, "Mutex"),
        (ResourceKind::RwLock, "RwLock"),
        (ResourceKind::Semaphore, "Semaphore"),
    ];
    // The app's locks by id, with their place in `locks`: found once, not by a search per wait
    // (a million tasks parked on their oneshots are a million waits on no lock).
    let app_locks: HashMap<u64, usize> = model
        .resources()
        .filter(|r| !r.internal)
        .filter_map(|r| {
            let kind = ResourceKind::try_from(r.kind).unwrap_or(ResourceKind::Unspecified);
            locks.iter().position(|(k, _)| *k == kind).map(|slot| (r.id, slot))
        })
        .collect();
    let mut waiters = [0_u64; 3];
    let mut longest = 0_u64;
    for wait in model.waits() {
        let Some(&slot) = app_locks.get(&wait.resource_id) else { continue };
        waiters[slot] += 1;
        longest = longest.max(model.now_nanos().saturating_sub(wait.since_nanos));
    }
    out.family("leakscope_lock_waiters", "gauge", "Tasks waiting on a tokio lock now.");
    for ((_, name), count) in locks.iter().zip(waiters) {
        out.sample("leakscope_lock_waiters", &[("lock", name)], count as f64);
    }
    out.family(
        "leakscope_lock_wait_longest_seconds",
        "gauge",
        "How long the longest current wait on a tokio lock has lasted.",
    );
    out.sample("leakscope_lock_wait_longest_seconds", &[], seconds(longest));
}

fn runtimes(out: &mut Writer, model: &Model) {
    let runtimes = model.runtimes();
    if runtimes.is_empty() {
        return;
    }
    type Field = fn(&leakscope_proto::v1::RuntimeMetrics) -> f64;
    let gauges: [(&str, &str, Field); 7] = [
        ("leakscope_runtime_workers", "Worker threads of the runtime.", |r| f64::from(r.workers)),
        ("leakscope_runtime_alive_tasks", "Live tasks as the runtime counts them.", |r| {
            r.alive_tasks as f64
        }),
        ("leakscope_runtime_global_queue_depth", "Tasks in the runtime's global queue.", |r| {
            r.global_queue_depth as f64
        }),
        (
            "leakscope_runtime_blocking_threads",
            "Threads of the blocking pool (tokio_unstable builds only).",
            |r| r.blocking_threads as f64,
        ),
        (
            "leakscope_runtime_blocking_queue_depth",
            "Tasks queued for the blocking pool (tokio_unstable builds only).",
            |r| r.blocking_queue_depth as f64,
        ),
        (
            "leakscope_runtime_stalled",
            "1 when the runtime's heartbeat is older than the stall threshold (1s by default): its workers are not running tasks (a blocking call, a busy loop, or a wedged runtime); else 0.",
            |r| f64::from(u8::from(r.stalled)),
        ),
        (
            "leakscope_runtime_heartbeat_age_seconds",
            "Time since the agent's heartbeat task (every 100ms) last ran on the runtime; 0 before the first beat.",
            |r| seconds(r.heartbeat_age_nanos),
        ),
    ];
    for (name, help, field) in gauges {
        out.family(name, "gauge", help);
        for runtime in runtimes {
            let id = runtime.runtime_id.to_string();
            out.sample(name, &[("runtime", &id)], field(runtime));
        }
    }
}

fn seconds(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

/// The text format's writer: families with their help and type, samples with escaped labels.
#[derive(Default)]
struct Writer {
    text: String,
}

impl Writer {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{key}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fixture;

    #[test]
    fn a_scrape_of_the_fixture() {
        let (model, _) = fixture::model();
        let report = leakscope_analysis::analyze(&model, &leakscope_analysis::Config::default());
        insta::assert_snapshot!(render(&model, &report, 2, 1000));
    }

    /// `counts[i]` live tasks at location i; returns the location series.
    fn check(counts: &[u64], top: usize, expected: &[(&str, u64)]) {
        let model = fixture::spread(counts);
        let (total, series) = live_by_location(&model, top);
        let series: Vec<(&str, u64)> = series.iter().map(|(l, c)| (l.as_str(), *c)).collect();
        assert_eq!(series, expected, "{counts:?} top {top}");
        assert_eq!(total, counts.iter().sum::<u64>());
        assert_eq!(series.iter().map(|(_, c)| c).sum::<u64>(), total, "the series add up");
    }

    #[test]
    fn locations_past_the_top_are_summed_as_other() {
        check(&[], 3, &[("other", 0)]);
        check(&[5], 3, &[("src/l0.rs:1:1", 5), ("other", 0)]);
        check(
            &[1, 7, 3, 3, 9],
            3,
            &[("src/l4.rs:1:1", 9), ("src/l1.rs:1:1", 7), ("src/l2.rs:1:1", 3), ("other", 4)],
        );
        check(&[2, 2, 2], 1, &[("src/l0.rs:1:1", 2), ("other", 4)]);
        let many: Vec<u64> = (1..=500).collect();
        let model = fixture::spread(&many);
        let (_, series) = live_by_location(&model, 20);
        assert_eq!(series.len(), 21, "top 20 plus other");
        assert_eq!(series[20], (OTHER.to_owned(), (1..=480).sum::<u64>()));
    }

    #[test]
    fn a_stalled_runtime_is_a_one_with_its_heartbeat_age() {
        let (model, _) = fixture::model();
        let mut snapshot = leakscope_proto::v1::Snapshot {
            now_nanos: model.now_nanos() + 1,
            runtimes: model.runtimes().to_vec(),
            ..Default::default()
        };
        snapshot.runtimes[0].stalled = true;
        snapshot.runtimes[0].heartbeat_age_nanos = 3_500_000_000;
        let mut model = model;
        model.apply_update(leakscope_proto::v1::Update { full: false, snapshot: Some(snapshot) });
        let report = leakscope_analysis::analyze(&model, &leakscope_analysis::Config::default());
        let text = render(&model, &report, 2, 0);
        assert!(text.contains("\nleakscope_runtime_stalled{runtime=\"1\"} 1\n"), "{text}");
        assert!(
            text.contains("\nleakscope_runtime_heartbeat_age_seconds{runtime=\"1\"} 3.5\n"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"C:\src\a "b".rs"#), r#"C:\\src\\a \"b\".rs"#);
        assert_eq!(escape("a\nb"), "a\\nb");
        let mut out = Writer::default();
        out.sample("x", &[("a", "1"), ("b", "q\"")], 2.5);
        out.sample("y", &[], 3.0);
        assert_eq!(out.text, "x{a=\"1\",b=\"q\\\"\"} 2.5\ny 3\n");
    }
}
