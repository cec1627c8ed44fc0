//! The gate's report: the verdict, the counts at start, peak and end (total and top spawn
//! locations), every limit checked, the findings, and (run mode) whether tasks settled. Every
//! output format renders this one value; `--format json` is its serialisation.

use std::collections::HashMap;

use leakscope_analysis::{
    Config, Finding, FindingKind, Model, Severity, SourceLocation, WaitPoint, analyze, is_live,
};
use serde::{Deserialize, Serialize};

use crate::limits::{Counts, LimitCheck, Violation};
use crate::observe::Measured;
use crate::runtime::RuntimeStatus;

/// Pass or fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within every limit, no failing finding, settled: exit 0.
    Pass,
    /// Something exceeded or leaked: exit 1.
    Fail,
}

impl Verdict {
    /// The exit code: 0 pass, 1 fail (2, no verdict, is for errors).
    pub const fn code(self) -> u8 {
        match self {
            Self::Pass => 0,
            Self::Fail => 1,
        }
    }
}

/// Attached to a running service, or started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `leakscope gate ADDR`.
    Attach,
    /// `leakscope gate --run CMD`.
    Run,
}

/// The whole report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// Pass or fail.
    pub verdict: Verdict,
    /// Who was gated, how.
    pub target: TargetInfo,
    /// The observation's timing.
    pub window: WindowInfo,
    /// All live tasks.
    pub total: Counts,
    /// The top spawn locations (and every location over a limit), most tasks at the end first.
    pub locations: Vec<LocationRow>,
    /// Every limit, checked.
    pub limits: Vec<LimitCheck>,
    /// Finding kinds that fail the gate.
    pub fail_on: Vec<FindingKind>,
    /// ...at this severity or worse.
    pub fail_severity: Severity,
    /// Every finding, with whether it fails the gate.
    pub findings: Vec<GateFinding>,
    /// Run mode with a load: whether tasks came back to the baseline after it.
    pub settle: Option<SettleCheck>,
    /// What could not be checked, and why (a detector without the data it needs).
    pub unevaluated: Vec<String>,
    /// The app's runtimes as the agent last reported them: a stalled one (its heartbeat late)
    /// is named in every format.
    #[serde(default)]
    pub runtimes: Vec<RuntimeStatus>,
    /// The task dump's outcome, when `--task-dump` asked for one (only a failing verdict takes
    /// it): `ok`, `timed-out: …`, `refused: …`, `unsupported: …`, `no-runtime: …`, or `failed: …`
    /// when the request itself failed. `None` when no dump was asked for.
    #[serde(default)]
    pub dump: Option<String>,
    /// What the target's build lets it see, from its `Hello` (`leakscope doctor`'s checks);
    /// every format states it, the text on one line.
    #[serde(default)]
    pub facts: Option<leakscope_analysis::Facts>,
}

/// Who was gated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// The agent's address.
    pub address: String,
    /// The process name the agent reported.
    pub process_name: String,
    /// Its pid.
    pub pid: u32,
    /// Attach or run.
    pub mode: Mode,
    /// Run mode: the service's command.
    pub command: Option<String>,
    /// Run mode: the load's command.
    pub load: Option<String>,
}

/// The observation's timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowInfo {
    /// Watched before the window.
    pub warmup_secs: f64,
    /// The window, on the agent's clock (in run mode, the load's run).
    pub window_secs: f64,
    /// Extra time spent letting measurements settle before the verdict.
    pub settle_secs: f64,
    /// Samples in the window.
    pub samples: usize,
}

/// One spawn location's counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LocationRow {
    /// Where the tasks were spawned.
    pub location: SourceLocation,
    /// Their name, if they have one.
    pub task_name: Option<String>,
    /// What most of them are parked in, when known.
    pub waiting_on: Option<String>,
    /// Their counts.
    #[serde(flatten)]
    pub counts: Counts,
}

/// A finding of the analysis, and whether it fails the gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateFinding {
    /// One of its kinds is in `--fail-on`, found at `--fail-severity` or worse.
    pub fails: bool,
    /// Every kind this entry carries (findings at one site and wait point are one entry), its
    /// own first.
    #[serde(default)]
    pub kinds: Vec<FindingKind>,
    /// The finding.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Run mode: live tasks after the load against the baseline before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SettleCheck {
    /// Live tasks before the load.
    pub baseline: u64,
    /// Live tasks when the check ended.
    pub end: u64,
    /// How many above the baseline are allowed, total and per location.
    pub tolerance: u64,
    /// How long after the load the check waited.
    pub waited_secs: f64,
    /// Whether tasks came back within the tolerance.
    pub passed: bool,
    /// What stayed above it.
    pub violations: Vec<Violation>,
}

impl GateReport {
    /// The findings that fail the gate.
    pub fn failing_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.fails).map(|f| &f.finding)
    }

    /// The limits that failed.
    pub fn failing_limits(&self) -> impl Iterator<Item = &LimitCheck> {
        self.limits.iter().filter(|c| !c.passed)
    }
}

/// What [`build`] needs besides the model.
pub(crate) struct Parts {
    pub(crate) target: TargetInfo,
    pub(crate) measured: Measured,
    pub(crate) limits: Vec<LimitCheck>,
    pub(crate) settle: Option<SettleCheck>,
    pub(crate) warmup_secs: f64,
    pub(crate) settle_secs: f64,
    pub(crate) fail_on: Vec<FindingKind>,
    pub(crate) fail_severity: Severity,
    pub(crate) top: usize,
    pub(crate) per_location_limits: bool,
}

/// Runs the analysis on `model` under `config` and assembles the report.
pub(crate) fn build(model: &Model, config: &Config, parts: Parts) -> GateReport {
    let analysis = analyze(model, config);
    let findings: Vec<GateFinding> = analysis
        .findings
        .into_iter()
        .map(|finding| GateFinding {
            // A merged entry fails on any of its kinds, at the severity that kind was found at.
            fails: parts
                .fail_on
                .iter()
                .any(|&kind| finding.severity_of(kind).is_some_and(|s| s >= parts.fail_severity)),
            kinds: finding.kinds(),
            finding,
        })
        .collect();
    let mut unevaluated: Vec<String> = analysis
        .unevaluated
        .iter()
        .filter(|u| parts.fail_on.contains(&u.kind))
        .map(|u| format!("{}: {}", u.kind, u.reason))
        .collect();
    if parts.per_location_limits && !model.sources().tasks {
        unevaluated.push(
            "per-location limits: the agent has no per-task records (built without --cfg \
             tokio_unstable); only totals were checked"
                .to_owned(),
        );
    }
    // Every location over a limit is listed, whatever its rank.
    let over_limit = parts.limits.iter().flat_map(|c| &c.violations);
    let unsettled = parts.settle.iter().flat_map(|s| &s.violations);
    let flagged: Vec<&SourceLocation> =
        over_limit.chain(unsettled).filter_map(|v| v.location.as_ref()).collect();
    let mut rows: Vec<(u32, SourceLocation, Counts)> = parts.measured.locations;
    rows.sort_by(|a, b| {
        b.2.end.cmp(&a.2.end).then(b.2.peak.cmp(&a.2.peak)).then_with(|| a.1.cmp(&b.1))
    });
    let locations = rows
        .into_iter()
        .enumerate()
        .filter(|(rank, (_, location, _))| *rank < parts.top || flagged.contains(&location))
        .map(|(_, (id, location, counts))| {
            let (task_name, waiting_on) = describe(model, id);
            LocationRow { location, task_name, waiting_on, counts }
        })
        .collect();
    let failed = parts.limits.iter().any(|c| !c.passed)
        || findings.iter().any(|f| f.fails)
        || parts.settle.as_ref().is_some_and(|s| !s.passed);
    GateReport {
        verdict: if failed { Verdict::Fail } else { Verdict::Pass },
        target: parts.target,
        window: WindowInfo {
            warmup_secs: parts.warmup_secs,
            window_secs: parts.measured.window_secs,
            settle_secs: parts.settle_secs,
            samples: parts.measured.samples,
        },
        total: parts.measured.total,
        locations,
        limits: parts.limits,
        fail_on: parts.fail_on,
        fail_severity: parts.fail_severity,
        findings,
        settle: parts.settle,
        unevaluated,
        runtimes: RuntimeStatus::all(model.runtimes()),
        dump: analysis.target.dump,
        facts: analysis.target.facts,
    }
}

/// The name and the most common wait point of the live tasks spawned at `location_id`.
fn describe(model: &Model, location_id: u32) -> (Option<String>, Option<String>) {
    let mut name = None;
    let mut points: HashMap<String, usize> = HashMap::new();
    for task in model.tasks().filter(|t| is_live(t) && t.location_id == location_id) {
        if name.is_none() && !task.name.is_empty() {
            name = Some(task.name.to_string());
        }
        let point = &model.task_wait(task.id).point;
        if !matches!(point, WaitPoint::Unknown(what) if what.is_empty()) {
            *points.entry(point.to_string()).or_default() += 1;
        }
    }
    let point = points.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|p| p.0);
    (name, point)
}
