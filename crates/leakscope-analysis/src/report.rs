//! The analysis entry point and its output: target, task summary, groups, findings, and what
//! could not be evaluated.

use leakscope_proto::v1::{DumpStatus, TaskState};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::context::{Ctx, Tally};
use crate::detect::{
    blocking, deadlock, growth, large_future, lock_contention, lost_waker, self_wake, stuck,
    uncancelled,
};
use crate::finding::{Finding, FindingKind, Severity};
use crate::group::{Group, StateCounts, groups};
use crate::model::Model;
use crate::sources::Sources;

/// Everything one analysis found; what the CLI prints as JSON (`target`, `tasks`, `groups`,
/// `findings`, plus `unevaluated` and `suppressed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Who was analysed, and from what data.
    pub target: Target,
    /// Task counts.
    pub tasks: TaskSummary,
    /// Live tasks by spawn location and wait point, largest first.
    pub groups: Vec<Group>,
    /// Findings, most severe first, then most tasks, then oldest.
    pub findings: Vec<Finding>,
    /// Detectors that could not run on this data, and why: absent findings of these kinds mean
    /// nothing.
    pub unevaluated: Vec<Unevaluated>,
    /// Findings hidden by suppressions in the configuration.
    pub suppressed: usize,
}

/// Who was analysed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// Process name, from the agent's `Hello`.
    pub process_name: String,
    /// Process id.
    pub pid: u32,
    /// The agent's version.
    pub agent_version: String,
    /// Where the agent was reached; set by the caller (the analysis does no I/O).
    pub address: Option<String>,
    /// The latest observation, seconds on the agent clock.
    pub now_secs: f64,
    /// Seconds between the first and the latest observation.
    pub window_secs: f64,
    /// Updates applied.
    pub observations: u64,
    /// What the data source provides.
    pub sources: Sources,
    /// What the agent said it cannot collect.
    pub missing: Vec<String>,
    /// Spans the agent could not track (its arena was full): such tasks are missing from every
    /// count and finding.
    pub untracked_spans: u64,
    /// Status of the latest task dump, when one was applied (`ok`, `timed-out: …`, …).
    pub dump: Option<String>,
}

/// Task counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSummary {
    /// Live tasks.
    pub live: u64,
    /// Live tasks by state.
    pub states: StateCounts,
    /// Finished tasks the model still holds.
    pub finished: u64,
}

/// A detector that could not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unevaluated {
    /// Which.
    pub kind: FindingKind,
    /// What data it lacked.
    pub reason: String,
}

impl Report {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The findings at or above `severity`.
    pub fn at_least(&self, severity: Severity) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |f| f.severity >= severity)
    }
}

type Unevaluable = fn(&Model, &Config) -> Option<String>;
type Detect = fn(&Ctx<'_>, &mut Tally) -> Vec<Finding>;

fn detector(kind: FindingKind) -> (Unevaluable, Detect) {
    match kind {
        FindingKind::LostWaker => (lost_waker::unevaluable, lost_waker::detect),
        FindingKind::Stuck => (stuck::unevaluable, stuck::detect),
        FindingKind::Uncancelled => (uncancelled::unevaluable, uncancelled::detect),
        FindingKind::Growth => (growth::unevaluable, growth::detect),
        FindingKind::Blocking => (blocking::unevaluable, blocking::detect),
        FindingKind::LockContention => (lock_contention::unevaluable, lock_contention::detect),
        FindingKind::Deadlock => (deadlock::unevaluable, deadlock::detect),
        FindingKind::SelfWake => (self_wake::unevaluable, self_wake::detect),
        FindingKind::LargeFuture => (large_future::unevaluable, large_future::detect),
    }
}

/// Why `kind` cannot be judged while a runtime is stalled, if it cannot: the detectors that read
/// how long tasks wait, or how many pile up, would blame the app's tasks for a runtime whose
/// workers cannot run them.
fn stalled(model: &Model, kind: FindingKind) -> Option<String> {
    let timed = matches!(
        kind,
        FindingKind::LostWaker
            | FindingKind::Stuck
            | FindingKind::Uncancelled
            | FindingKind::Growth
            | FindingKind::LockContention
    );
    let runtime = model.runtimes().iter().find(|r| r.stalled).filter(|_| timed)?;
    Some(format!(
        "runtime {} is stalled (its heartbeat is {:.1} s old): its tasks cannot run, so how long \
         they wait says nothing about the app's own waits",
        runtime.runtime_id,
        runtime.heartbeat_age_nanos as f64 / 1e9
    ))
}

/// Runs every detector over `model` under `config`.
pub fn analyze(model: &Model, config: &Config) -> Report {
    let ctx = Ctx::new(model, config);
    let mut tally = Tally::default();
    let mut findings = Vec::new();
    let mut unevaluated = Vec::new();
    for kind in FindingKind::ALL {
        let (unevaluable, detect) = detector(kind);
        match unevaluable(model, config).or_else(|| stalled(model, kind)) {
            Some(reason) => unevaluated.push(Unevaluated { kind, reason }),
            None => findings.extend(detect(&ctx, &mut tally)),
        }
    }
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.count.cmp(&a.count))
            .then(b.oldest_secs.total_cmp(&a.oldest_secs))
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.waiting_on.cmp(&b.waiting_on))
    });
    let mut states = StateCounts::default();
    for live in &ctx.live {
        states.add(live.state);
    }
    let target = model.target();
    Report {
        target: Target {
            process_name: target.process_name.clone(),
            pid: target.pid,
            agent_version: target.agent_version.clone(),
            address: None,
            now_secs: Ctx::secs(model.now_nanos()),
            window_secs: Ctx::secs(model.window_nanos()),
            observations: model.observations(),
            sources: model.sources(),
            missing: target.missing.clone(),
            untracked_spans: model.agent_stats().map_or(0, |s| s.spans_dropped_total),
            dump: model.dump_status().map(|(status, message)| {
                let status = match status {
                    DumpStatus::Ok => "ok",
                    DumpStatus::TimedOut => "timed-out",
                    DumpStatus::Unsupported => "unsupported",
                    DumpStatus::NoRuntime => "no-runtime",
                    DumpStatus::Refused => "refused",
                    DumpStatus::Unspecified => "unspecified",
                };
                if message.is_empty() { status.to_owned() } else { format!("{status}: {message}") }
            }),
        },
        tasks: TaskSummary {
            live: ctx.live.len() as u64,
            states,
            finished: model
                .tasks()
                .filter(|t| t.dropped_nanos != 0 || t.state == TaskState::Done as i32)
                .count() as u64,
        },
        groups: groups(&ctx, &tally),
        findings,
        unevaluated,
        suppressed: tally.suppressed,
    }
}

#[cfg(test)]
mod tests {
    use leakscope_proto::v1::{
        Capabilities, HelloResponse, ResourceKind, RuntimeMetrics, Snapshot, Task,
    };

    use crate::config::Config;
    use crate::finding::{FindingKind, Severity};
    use crate::model::Model;
    use crate::sources::Sources;
    use crate::support::{T, model, render, resource, snapshot, wait};

    use super::analyze;

    /// A mixed app at t = 100 s: two lost wakers, three stuck senders, a large future.
    fn app() -> Snapshot {
        let mut internal = resource(50, ResourceKind::Semaphore);
        internal.internal = true;
        let mut snap = snapshot(
            100.0,
            vec![
                T::new(1).loc(1).name("poller").idle(10.0).wakers(0).build(),
                T::new(2).loc(1).name("poller").idle(30.0).wakers(0).build(),
                T::new(3).loc(2).idle(20.0).build(),
                T::new(4).loc(2).idle(40.0).build(),
                T::new(5).loc(2).idle(50.0).build(),
                T::new(6).loc(3).size(2048).running(99.999).build(),
            ],
        );
        snap.resources = vec![internal];
        snap.waits = (3..=5).map(|id| wait(id, 50, "Acquire::new", 20.0)).collect();
        snap
    }

    /// `check(config text, expected rendered findings)`.
    fn check(config: &str, expected: &[&str]) {
        let report = analyze(&model(app()), &Config::from_toml(config).unwrap());
        assert_eq!(render(&report.findings), expected);
    }

    #[test]
    fn findings_are_sorted_most_severe_first_then_by_count() {
        check(
            "",
            &[
                "leak lost-waker src/l1.rs:10:5 ×2 1m30s unknown [1, 2]",
                "suspect stuck src/l2.rs:20:5 ×3 1m20s mpsc::Sender::send [3, 4, 5]",
                "warn large-future src/l3.rs:30:5 ×1 1m40s - [6]",
            ],
        );
    }

    #[test]
    fn suppressions_hide_and_are_counted() {
        check(
            "[[suppress]]\ntask = \"poll*\"\n",
            &[
                "suspect stuck src/l2.rs:20:5 ×3 1m20s mpsc::Sender::send [3, 4, 5]",
                "warn large-future src/l3.rs:30:5 ×1 1m40s - [6]",
            ],
        );
        check(
            "[[suppress]]\nkind = \"stuck\"\nlocation = \"src/l2.rs\"\n[[suppress]]\nkind = \"large-future\"\n",
            &["leak lost-waker src/l1.rs:10:5 ×2 1m30s unknown [1, 2]"],
        );
        let config = Config::from_toml("[[suppress]]\nlocation = \"src/l2.rs\"\n").unwrap();
        assert_eq!(analyze(&model(app()), &config).suppressed, 1);
        assert_eq!(analyze(&model(app()), &Config::default()).suppressed, 0);
    }

    #[test]
    fn groups_flag_their_findings() {
        let report = analyze(&model(app()), &Config::default());
        let rendered: Vec<String> = report
            .groups
            .iter()
            .map(|g| {
                let flags: Vec<&str> = g.flags.iter().map(|k| k.as_str()).collect();
                format!(
                    "{} {} ×{} idle={} oldest={} {:?} {:?}",
                    g.location,
                    g.waiting_on,
                    g.count,
                    g.states.idle,
                    g.oldest_idle_secs,
                    g.task_ids,
                    flags
                )
            })
            .collect();
        assert_eq!(
            rendered,
            [
                "src/l2.rs:20:5 mpsc::Sender::send ×3 idle=3 oldest=80 [3, 4, 5] [\"stuck\"]",
                "src/l1.rs:10:5 unknown ×2 idle=2 oldest=90 [1, 2] [\"lost-waker\"]",
                "src/l3.rs:30:5 unknown ×1 idle=0 oldest=0 [6] [\"large-future\"]",
            ]
        );
        assert_eq!(report.tasks.live, 6);
        assert_eq!(report.tasks.states.running, 1);
        assert_eq!(report.worst(), Some(Severity::Leak));
        assert_eq!(report.at_least(Severity::Suspect).count(), 2);
    }

    #[test]
    fn json_has_the_documented_shape() {
        let report = analyze(&model(app()), &Config::default());
        let json = serde_json::to_value(&report).unwrap();
        let top: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(top, ["findings", "groups", "suppressed", "target", "tasks", "unevaluated"]);
        let finding = &json["findings"][1];
        assert_eq!(finding["kind"], "stuck");
        assert_eq!(finding["severity"], "suspect");
        assert_eq!(finding["location"], "src/l2.rs:20:5");
        assert_eq!(finding["count"], 3);
        assert_eq!(finding["oldest_secs"], 80.0);
        assert_eq!(finding["waiting_on"], "mpsc::Sender::send");
        assert_eq!(finding["doc"], "docs/leak-patterns.md#stuck");
        assert!(
            finding["explanation"].as_str().unwrap().contains("mpsc::Sender::send for up to 1m20s")
        );
        let back: super::Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, report);
    }

    /// Which kinds a source cannot evaluate.
    fn check_unevaluated(model: &Model, expected: &[FindingKind]) {
        let report = analyze(model, &Config::default());
        let kinds: Vec<FindingKind> = report.unevaluated.iter().map(|u| u.kind).collect();
        assert_eq!(kinds, expected);
    }

    #[test]
    fn missing_data_is_listed_not_passed() {
        let tasks = || vec![T::new(1).build()];
        let mut console = Model::new(Sources::console_api());
        console.apply_snapshot(snapshot(10.0, tasks()));
        check_unevaluated(
            &console,
            &[FindingKind::Deadlock, FindingKind::Uncancelled, FindingKind::Growth],
        );
        let hello = HelloResponse {
            capabilities: Some(Capabilities { runtime_metrics: true, ..Capabilities::default() }),
            ..HelloResponse::default()
        };
        let mut bare = Model::from_hello(&hello);
        bare.apply_snapshot(snapshot(10.0, Vec::<Task>::new()));
        check_unevaluated(&bare, &FindingKind::ALL);
    }

    #[test]
    fn a_stalled_runtime_blames_none_of_its_tasks() {
        // Tasks parked for a minute with no waker look lost, unless their runtime cannot run.
        let tasks = || vec![T::new(1).loc(1).idle(1.0).wakers(0).build()];
        let mut healthy = Model::new(Sources::all());
        healthy.apply_snapshot(snapshot(60.0, tasks()));
        let report = analyze(&healthy, &Config::default());
        assert!(report.findings.iter().any(|f| f.kind == FindingKind::LostWaker));

        let mut stalled = Model::new(Sources::all());
        let mut snap = snapshot(60.0, tasks());
        snap.runtimes = vec![RuntimeMetrics {
            runtime_id: 1,
            stalled: true,
            heartbeat_age_nanos: 4_000_000_000,
            ..RuntimeMetrics::default()
        }];
        stalled.apply_snapshot(snap);
        let report = analyze(&stalled, &Config::default());
        assert!(report.findings.iter().all(|f| f.kind != FindingKind::LostWaker), "{report:#?}");
        let lost = report.unevaluated.iter().find(|u| u.kind == FindingKind::LostWaker);
        let reason = &lost.expect("lost-waker is not evaluated").reason;
        assert!(reason.contains("runtime 1 is stalled (its heartbeat is 4.0 s old)"), "{reason}");
    }
}
