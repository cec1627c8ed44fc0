//! `--format text`: the verdict, the counts table, then limits, findings, settling and what could
//! not be checked.

use std::fmt::Write as _;

use leakscope_analysis::{Evidence, format_secs};

use crate::limits::{Counts, signed};
use crate::report::{GateReport, Mode, Verdict};

pub(super) fn render(report: &GateReport) -> String {
    let mut out = String::new();
    let verdict = match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    let _ = writeln!(out, "leakscope gate: {verdict}");
    let t = &report.target;
    let how = match t.mode {
        Mode::Attach => "attached".to_owned(),
        Mode::Run => format!("started with `{}`", t.command.as_deref().unwrap_or_default()),
    };
    let _ = writeln!(out, "  target  {} (pid {}) at {}, {how}", t.process_name, t.pid, t.address);
    if let Some(load) = &t.load {
        let _ = writeln!(out, "  load    `{load}`");
    }
    let w = &report.window;
    let _ = write!(
        out,
        "  window  {} after a {} warmup, {} samples",
        format_secs(w.window_secs),
        format_secs(w.warmup_secs),
        w.samples
    );
    if w.settle_secs > 0.0 {
        let _ = write!(out, ", then {} settling", format_secs(w.settle_secs));
    }
    out.push('\n');
    for runtime in report.runtimes.iter().filter(|r| r.stalled) {
        let _ = writeln!(out, "  {runtime}");
    }
    if let Some(dump) = &report.dump {
        let _ = writeln!(out, "  task dump {dump}");
    }
    if let Some(facts) = &report.facts {
        let _ = writeln!(out, "  {}", facts.summary());
    }
    out.push('\n');
    out.push_str(&table(report));

    if !report.limits.is_empty() {
        out.push_str("\nlimits\n");
        for check in &report.limits {
            let status = if check.passed { "ok  " } else { "FAIL" };
            let _ =
                writeln!(out, "  {status}  {} {} ≤ {}", check.limit, check.scope, check.allowed);
            for violation in &check.violations {
                let _ = writeln!(out, "        {}", violation.message);
            }
        }
    }

    let kinds: Vec<&str> = report.fail_on.iter().map(|k| k.as_str()).collect();
    let failing_on = if kinds.is_empty() {
        "none".to_owned()
    } else {
        format!("{} at {} or worse", kinds.join(", "), report.fail_severity)
    };
    let _ = writeln!(out, "\nfindings (failing on {failing_on})");
    if report.findings.is_empty() {
        out.push_str("  none\n");
    }
    for f in &report.findings {
        let status = if f.fails { "FAIL" } else { "note" };
        let finding = &f.finding;
        let _ = writeln!(
            out,
            "  {status}  {} {} at {}, {} task{}, {}",
            finding.severity,
            finding.kinds_label(),
            finding.location,
            finding.count,
            if finding.count == 1 { "" } else { "s" },
            format_secs(finding.oldest_secs)
        );
        if f.fails {
            let _ = writeln!(out, "        {}", finding.explanation);
            // The numbers behind the verdict.
            for evidence in
                finding.evidence.iter().filter(|e| !matches!(e, Evidence::AlsoFound { .. })).take(3)
            {
                let _ = writeln!(out, "        evidence: {evidence}");
            }
            let _ = writeln!(out, "        fix: {}", finding.fix);
        }
    }

    if let Some(settle) = &report.settle {
        let status = if settle.passed { "ok  " } else { "FAIL" };
        let _ = writeln!(
            out,
            "\nsettle after the load\n  {status}  {} live tasks before the load, {} after waiting {} (tolerance {})",
            settle.baseline,
            settle.end,
            format_secs(settle.waited_secs),
            settle.tolerance
        );
        for violation in &settle.violations {
            let _ = writeln!(out, "        {}", violation.message);
        }
    }

    if !report.unevaluated.is_empty() {
        out.push_str("\nnot evaluated\n");
        for what in &report.unevaluated {
            let _ = writeln!(out, "  {what}");
        }
    }
    out
}

/// The counts table: total, then each listed location. Shared with the JUnit and GitHub outputs.
pub(crate) fn table(report: &GateReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>7} {:>7} {:>7} {:>7} {:>8}  live tasks",
        "start", "peak", "end", "growth", "rate/s"
    );
    row(&mut out, &report.total, "total");
    for location in &report.locations {
        let mut label = location.location.to_string();
        if let Some(name) = &location.task_name {
            let _ = write!(label, " {name:?}");
        }
        if let Some(point) = &location.waiting_on {
            let _ = write!(label, " ({point})");
        }
        row(&mut out, &location.counts, &label);
    }
    out
}

fn row(out: &mut String, counts: &Counts, label: &str) {
    let growth = signed(counts.growth as f64);
    let rate =
        counts.rate_per_sec.map_or_else(|| "-".to_owned(), |r| signed((r * 10.0).round() / 10.0));
    let _ = writeln!(
        out,
        "{:>7} {:>7} {:>7} {:>7} {:>8}  {label}",
        counts.start, counts.peak, counts.end, growth, rate
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixture::{failing, passing};
    use crate::runtime::RuntimeStatus;

    fn check(report: &GateReport, expected: &str) {
        let got = render(report);
        assert_eq!(got, expected, "got:\n{got}");
    }

    #[test]
    fn failing_report() {
        check(
            &failing(),
            "leakscope gate: FAIL
  target  app (pid 4242) at 127.0.0.1:6669, started with `./app --port 8080`
  load    `k6 run load.js`
  window  3s after a 1s warmup, 21 samples, then 2.5s settling
  build: missing frame pointers; `leakscope doctor` gives the fixes

  start    peak     end  growth   rate/s  live tasks
     14      82      82     +68    +21.8  total
      0      68      68     +68    +21.9  crates/app/src/handler.rs:42:9 (sleep)
     14      14      14       0        0  /home/ci/.cargo/registry/src/hyper-1.0/src/server.rs:7:1 \"conn <&>\"

limits
  FAIL  max-growth total ≤ 20
        live tasks in total grew by 68 (14 → 82; limit 20)
  FAIL  max-rate each location matching ** ≤ 2/s
        live tasks at crates/app/src/handler.rs:42:9 rose at +21.9/s (limit 2/s)
  ok    max-tasks total ≤ 1000

findings (failing on lost-waker, deadlock at suspect or worse)
  FAIL  leak lost-waker at crates/app/src/handler.rs:42:9, 40 tasks, 3s
        40 tasks are idle with no waker: nothing can wake them again.
        fix: Keep the waker & call it.
  note  warn blocking at crates/app/src/handler.rs:42:9, 3 tasks, 50ms

settle after the load
  FAIL  14 live tasks before the load, 82 after waiting 2.5s (tolerance 5)
        live tasks at crates/app/src/handler.rs:42:9 stayed at 68 (baseline 0, tolerance 5)

not evaluated
  deadlock: needs resources
",
        );
    }

    #[test]
    fn a_stalled_runtime_and_a_refused_dump_are_named() {
        let mut report = passing();
        report.runtimes = vec![
            RuntimeStatus {
                id: 1,
                flavor: "multi_thread".into(),
                workers: 2,
                stalled: true,
                heartbeat_age_secs: Some(3.24),
            },
            RuntimeStatus {
                id: 2,
                flavor: "current_thread".into(),
                workers: 1,
                stalled: false,
                heartbeat_age_secs: Some(0.05),
            },
        ];
        report.dump = Some("refused: not attempted: a runtime is stalled".into());
        let text = render(&report);
        let head: Vec<&str> = text.lines().take(7).collect();
        assert_eq!(
            head,
            [
                "leakscope gate: PASS",
                "  target  app (pid 7) at 127.0.0.1:6669, attached",
                "  window  1m00s after a 5s warmup, 61 samples",
                "  runtime 1 (multi_thread, 2 workers): STALLED: heartbeat 3.2 s old",
                "  task dump refused: not attempted: a runtime is stalled",
                "  build: sees everything (tokio_unstable, frame pointers, line tables, tokio \
                 1.54.1, task dumps, CPU profiles)",
                "",
            ],
            "{text}"
        );
        assert!(!text.contains("runtime 2"), "healthy runtimes are not listed:\n{text}");
    }

    #[test]
    fn passing_report() {
        check(
            &passing(),
            "leakscope gate: PASS
  target  app (pid 7) at 127.0.0.1:6669, attached
  window  1m00s after a 5s warmup, 61 samples
  build: sees everything (tokio_unstable, frame pointers, line tables, tokio 1.54.1, task dumps, CPU profiles)

  start    peak     end  growth   rate/s  live tasks
     10      12      10       0        0  total
      1       1       1       0        0  src/main.rs:3:5 (accept)

limits
  ok    max-growth total ≤ 20

findings (failing on lost-waker at suspect or worse)
  none
",
        );
    }
}
