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
use crate::finding::{Evidence, Finding, FindingKind, Severity};
use crate::group::{Group, StateCounts, groups};
use crate::location::SourceLocation;
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
    /// What is not known yet: tasks on their way to a finding whose threshold they have not
    /// reached, with the time left. Empty when nothing is on its way.
    #[serde(default)]
    pub pending: Vec<Pending>,
}

/// Something a detector will be able to judge after a while, and how long that is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The kind that will be judged.
    pub kind: FindingKind,
    /// The spawn site, when one site is meant.
    pub location: Option<SourceLocation>,
    /// How many tasks are on their way.
    pub tasks: u64,
    /// Seconds until the first of them can be judged.
    pub secs_left: f64,
    /// One sentence: what is seen and when it is judged.
    pub reason: String,
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
    /// What the target's build lets it see, from its `Hello` (`leakscope doctor`'s checks);
    /// absent without a `Hello`.
    #[serde(default)]
    pub facts: Option<crate::Facts>,
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
    /// Live tasks as the runtimes' own metrics count them (summed over runtimes); `None` without
    /// runtime metrics. The only count there is for an app built without `tokio_unstable`,
    /// whose `live` is then 0 for want of per-task records.
    #[serde(default)]
    pub runtime_alive: Option<u64>,
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
    let mut findings = merge(findings);
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.count.cmp(&a.count))
            .then(b.oldest_secs.total_cmp(&a.oldest_secs))
            .then(a.kind.cmp(&b.kind))
            .then_with(|| a.location.cmp(&b.location))
            .then_with(|| a.waiting_on.cmp(&b.waiting_on))
    });
    let mut pending = std::mem::take(&mut tally.pending);
    // Only what is not already a finding is pending.
    pending.retain(|p| {
        !findings.iter().any(|f| f.has_kind(p.kind) && Some(&f.location) == p.location.as_ref())
    });
    pending.sort_by(|a, b| a.secs_left.total_cmp(&b.secs_left).then(b.tasks.cmp(&a.tasks)));
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
            facts: model.facts().cloned(),
        },
        tasks: TaskSummary {
            live: ctx.live.len() as u64,
            states,
            finished: model
                .tasks()
                .filter(|t| t.dropped_nanos != 0 || t.state == TaskState::Done as i32)
                .count() as u64,
            runtime_alive: (!model.runtimes().is_empty())
                .then(|| model.runtimes().iter().map(|r| r.alive_tasks).sum()),
        },
        groups: {
            tally.settle();
            groups(&ctx, &tally)
        },
        findings,
        unevaluated,
        suppressed: tally.suppressed,
        pending,
    }
}

/// Merges the findings at one spawn site and wait point into one entry: the most severe (then
/// the first in [`FindingKind::ALL`]) keeps its place, the others become its
/// [`Evidence::AlsoFound`] with their own evidence after it; counts and ages are the largest.
/// Findings with no wait point (`blocking`, `large-future`, `self-wake`) stay apart.
fn merge(findings: Vec<Finding>) -> Vec<Finding> {
    let rank = |f: &Finding| {
        let order = FindingKind::ALL.iter().position(|k| *k == f.kind).unwrap_or(usize::MAX);
        (std::cmp::Reverse(f.severity), order)
    };
    let mut keyed: Vec<Finding> = Vec::new();
    let mut sorted = findings;
    sorted.sort_by_key(rank);
    for finding in sorted {
        let same = finding.waiting_on.as_ref().and_then(|point| {
            keyed
                .iter_mut()
                .find(|f| f.location == finding.location && f.waiting_on.as_ref() == Some(point))
        });
        let Some(entry) = same else {
            keyed.push(finding);
            continue;
        };
        entry.count = entry.count.max(finding.count);
        entry.oldest_secs = entry.oldest_secs.max(finding.oldest_secs);
        if entry.user_frame.is_none() {
            entry.user_frame = finding.user_frame;
        }
        if entry.task_name.is_none() {
            entry.task_name = finding.task_name;
        }
        for id in finding.task_ids {
            if entry.task_ids.len() < crate::MAX_SAMPLE && !entry.task_ids.contains(&id) {
                entry.task_ids.push(id);
            }
        }
        entry.evidence.push(Evidence::AlsoFound {
            kind: finding.kind,
            severity: finding.severity,
            explanation: finding.explanation,
        });
        entry.evidence.extend(finding.evidence);
    }
    keyed
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
        assert_eq!(
            top,
            ["findings", "groups", "pending", "suppressed", "target", "tasks", "unevaluated"]
        );
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
        // Growth is judged at first sight, from spawn times: one snapshot is enough.
        check_unevaluated(&console, &[FindingKind::Deadlock, FindingKind::Uncancelled]);
        let hello = HelloResponse {
            capabilities: Some(Capabilities { runtime_metrics: true, ..Capabilities::default() }),
            ..HelloResponse::default()
        };
        let mut bare = Model::from_hello(&hello);
        bare.apply_snapshot(snapshot(10.0, Vec::<Task>::new()));
        check_unevaluated(&bare, &FindingKind::ALL);
    }

    /// A server at t = 100 s, up since t = 0.5 s: keep-alive connections (a `select!` over the
    /// socket and a shutdown broadcast) and their subscribers opened in one go at start-up, a
    /// worker pool started by a set-up task that ended, a purge task waiting for work, request
    /// handlers that finish in 50 ms (two in flight), and `main`. Plus, when `leak` is set, a
    /// pending-call map that leaks 20 tasks a second since t = 50 s, each parked in a receive.
    fn server(leak: bool) -> Model {
        let chain = |id: u32, leaf: &str| leakscope_proto::v1::WaitChain {
            id,
            frames: crate::support::frames(&["app::f::{{closure}}@src/app.rs:1:1", leaf]),
        };
        let parked = |task: Task, chains: &[u32]| Task { wait_chain_ids: chains.to_vec(), ..task };
        let mut tasks = vec![
            T::new(1)
                .kind(leakscope_proto::v1::TaskKind::BlockOn)
                .loc(9)
                .created(0.5)
                .idle(0.6)
                .build(),
            T::new(2).loc(8).created(0.5).dropped(1.0).build(),
            parked(T::new(3).loc(5).created(0.6).idle(70.0).build(), &[4]),
        ];
        for i in 0_u32..50 {
            let at = 1.0 + f64::from(i) * 0.01;
            let id = 100 + u64::from(i);
            tasks.push(parked(
                T::new(id).loc(1).parent(1).created(at).idle(at + 0.1).build(),
                &[1, 2],
            ));
            tasks.push(parked(
                T::new(id + 100).loc(2).parent(id).created(at).idle(at).build(),
                &[2],
            ));
        }
        for i in 0..4 {
            tasks.push(parked(
                T::new(300 + i).loc(3).parent(2).created(0.7).idle(5.0).build(),
                &[3],
            ));
        }
        for i in 0_u32..40 {
            let at = 90.0 + f64::from(i) * 0.25;
            tasks.push(T::new(400 + u64::from(i)).loc(4).created(at).dropped(at + 0.05).build());
        }
        tasks.push(T::new(500).loc(4).created(99.998).running(99.999).build());
        tasks.push(T::new(501).loc(4).created(99.98).idle(99.985).build());
        if leak {
            for i in 0_u32..1000 {
                let at = 50.0 + f64::from(i) * 0.05;
                tasks.push(parked(
                    T::new(1000 + u64::from(i)).loc(6).created(at).idle(at).build(),
                    &[3],
                ));
            }
        }
        let mut snap = snapshot(100.0, tasks);
        snap.wait_chains = vec![
            chain(1, "tokio::net::tcp::stream::TcpStream::poll_read@x:1"),
            chain(2, "tokio::sync::broadcast::Receiver<T>::recv@x:1"),
            chain(3, "tokio::sync::mpsc::chan::recv@x:1"),
            chain(4, "tokio::sync::notify::Notified::poll_notified@x:1"),
        ];
        model(snap)
    }

    #[test]
    fn a_healthy_server_raises_nothing_and_a_leak_beside_it_is_named() {
        let report = analyze(&server(false), &Config::default());
        assert_eq!(render(&report.findings), Vec::<String>::new());
        assert_eq!(report.pending, []);
        let groups: Vec<String> = report
            .groups
            .iter()
            .map(|g| {
                format!("{} {} ×{} {:?}", g.location, g.waiting_on, g.count, g.also_waiting_on)
            })
            .collect();
        // A `select!` task is one group, named by its work (the socket), not its shutdown branch.
        assert!(
            groups.contains(&"src/l1.rs:10:5 socket read ×50 [BroadcastRecv]".to_owned()),
            "{groups:?}"
        );

        let report = analyze(&server(true), &Config::default());
        assert_eq!(
            render(&report.findings),
            [
                "suspect stuck+growth src/l6.rs:60:5 ×1000 50s mpsc::Receiver::recv [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015]"
            ]
        );
        assert!(
            report.pending.iter().all(|p| p.location.as_ref().is_some_and(|l| l.line == 60)),
            "{:?}",
            report.pending
        );
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
