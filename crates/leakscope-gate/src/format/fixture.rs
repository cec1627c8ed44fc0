//! Fixed reports the format tests render: one failing every way, one passing.

use leakscope_analysis::{Facts, Finding, FindingKind, Severity, SourceLocation, WaitPoint};

use crate::limits::{Counts, LimitCheck, LimitKind, Violation};
use crate::report::{
    GateFinding, GateReport, LocationRow, Mode, SettleCheck, TargetInfo, Verdict, WindowInfo,
};
use crate::runtime::RuntimeStatus;

fn counts(start: u64, peak: u64, end: u64, rate: Option<f64>) -> Counts {
    Counts { start, peak, end, growth: end as i64 - start as i64, rate_per_sec: rate }
}

/// A Linux build's facts with everything, frame pointers as given.
fn facts(frame_pointers: Option<bool>) -> Facts {
    Facts {
        tokio_unstable: true,
        frame_pointers,
        line_tables: Some(true),
        tokio_version: Some("1.54.1".into()),
        tokio_minimum: Some("1.54".into()),
        task_dump: true,
        runtime_metrics: true,
        cpu_profile: true,
        ..Facts::default()
    }
}

fn handler() -> SourceLocation {
    SourceLocation::new("crates/app/src/handler.rs", 42, 9)
}

/// A run-mode gate that failed a limit, a finding and the settle check.
pub(crate) fn failing() -> GateReport {
    GateReport {
        verdict: Verdict::Fail,
        target: TargetInfo {
            address: "127.0.0.1:6669".into(),
            process_name: "app".into(),
            pid: 4242,
            mode: Mode::Run,
            command: Some("./app --port 8080".into()),
            load: Some("k6 run load.js".into()),
        },
        window: WindowInfo { warmup_secs: 1.0, window_secs: 3.0, settle_secs: 2.5, samples: 21 },
        total: counts(14, 82, 82, Some(21.75)),
        locations: vec![
            LocationRow {
                location: handler(),
                task_name: None,
                waiting_on: Some("sleep".into()),
                counts: counts(0, 68, 68, Some(21.9)),
            },
            LocationRow {
                location: SourceLocation::new("/home/ci/.cargo/registry/src/hyper-1.0/src/server.rs", 7, 1),
                task_name: Some("conn <&>".into()),
                waiting_on: None,
                counts: counts(14, 14, 14, Some(0.0)),
            },
        ],
        limits: vec![
            LimitCheck {
                limit: LimitKind::MaxGrowth,
                scope: "total".into(),
                allowed: "20".into(),
                passed: false,
                violations: vec![Violation {
                    location: None,
                    actual: 68.0,
                    message: "live tasks in total grew by 68 (14 → 82; limit 20)".into(),
                }],
            },
            LimitCheck {
                limit: LimitKind::MaxRate,
                scope: "each location matching **".into(),
                allowed: "2/s".into(),
                passed: false,
                violations: vec![Violation {
                    location: Some(handler()),
                    actual: 21.9,
                    message: "live tasks at crates/app/src/handler.rs:42:9 rose at +21.9/s (limit 2/s)".into(),
                }],
            },
            LimitCheck {
                limit: LimitKind::MaxTasks,
                scope: "total".into(),
                allowed: "1000".into(),
                passed: true,
                violations: Vec::new(),
            },
        ],
        fail_on: vec![FindingKind::LostWaker, FindingKind::Deadlock],
        fail_severity: Severity::Suspect,
        findings: vec![
            GateFinding {
                fails: true,
                kinds: vec![FindingKind::LostWaker],
                finding: Finding {
                    kind: FindingKind::LostWaker,
                    severity: Severity::Leak,
                    location: handler(),
                    task_name: None,
                    count: 40,
                    oldest_secs: 3.0,
                    waiting_on: Some(WaitPoint::Unknown(String::new())),
                    user_frame: None,
                    task_ids: vec![7, 9],
                    evidence: Vec::new(),
                    explanation: "40 tasks are idle with no waker: nothing can wake them again.".into(),
                    fix: "Keep the waker & call it.".into(),
                    doc: "docs/leak-patterns.md#lost-waker".into(),
                },
            },
            GateFinding {
                fails: false,
                kinds: vec![FindingKind::Blocking],
                finding: Finding {
                    kind: FindingKind::Blocking,
                    severity: Severity::Warn,
                    location: handler(),
                    task_name: None,
                    count: 3,
                    oldest_secs: 0.05,
                    waiting_on: None,
                    user_frame: None,
                    task_ids: vec![11],
                    evidence: Vec::new(),
                    explanation: "3 polls held a worker for up to 50ms.".into(),
                    fix: "Move blocking work to spawn_blocking.".into(),
                    doc: "docs/leak-patterns.md#blocking".into(),
                },
            },
        ],
        settle: Some(SettleCheck {
            baseline: 14,
            end: 82,
            tolerance: 5,
            waited_secs: 2.5,
            passed: false,
            violations: vec![Violation {
                location: Some(handler()),
                actual: 68.0,
                message: "live tasks at crates/app/src/handler.rs:42:9 stayed at 68 (baseline 0, tolerance 5)".into(),
            }],
        }),
        unevaluated: vec!["deadlock: needs resources".into()],
        runtimes: vec![RuntimeStatus {
            id: 1,
            flavor: "multi_thread".into(),
            workers: 4,
            stalled: false,
            heartbeat_age_secs: Some(0.05),
        }],
        dump: None,
        facts: Some(facts(Some(false))),
    }
}

/// An attach-mode gate that passed.
pub(crate) fn passing() -> GateReport {
    GateReport {
        verdict: Verdict::Pass,
        target: TargetInfo {
            address: "127.0.0.1:6669".into(),
            process_name: "app".into(),
            pid: 7,
            mode: Mode::Attach,
            command: None,
            load: None,
        },
        window: WindowInfo { warmup_secs: 5.0, window_secs: 60.0, settle_secs: 0.0, samples: 61 },
        total: counts(10, 12, 10, Some(-0.01)),
        locations: vec![LocationRow {
            location: SourceLocation::new("src/main.rs", 3, 5),
            task_name: None,
            waiting_on: Some("accept".into()),
            counts: counts(1, 1, 1, Some(0.0)),
        }],
        limits: vec![LimitCheck {
            limit: LimitKind::MaxGrowth,
            scope: "total".into(),
            allowed: "20".into(),
            passed: true,
            violations: Vec::new(),
        }],
        fail_on: vec![FindingKind::LostWaker],
        fail_severity: Severity::Suspect,
        findings: Vec::new(),
        settle: None,
        unevaluated: Vec::new(),
        runtimes: Vec::new(),
        dump: None,
        facts: Some(facts(Some(true))),
    }
}
