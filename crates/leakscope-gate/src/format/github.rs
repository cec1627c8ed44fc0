//! `--format github`: GitHub Actions workflow commands, so failures show up as annotations on the
//! spawn locations in the pull request (`::error file=…,line=…,col=…,title=…::message`), followed
//! by the text report for the log. With `GITHUB_STEP_SUMMARY` set, the gate also appends a
//! Markdown summary there ([`step_summary`]).

use std::fmt::Write as _;
use std::path::Path;

use leakscope_analysis::{Severity, SourceLocation};

use crate::limits::signed;
use crate::report::{GateReport, Verdict};

pub(super) fn render(report: &GateReport) -> String {
    let mut out = String::new();
    for check in report.failing_limits() {
        for violation in &check.violations {
            let title =
                format!("leakscope gate: {} {} ≤ {}", check.limit, check.scope, check.allowed);
            command(&mut out, "error", violation.location.as_ref(), &title, &violation.message);
        }
    }
    for f in &report.findings {
        let finding = &f.finding;
        let level = match (f.fails, finding.severity) {
            (true, _) => "error",
            (false, Severity::Leak | Severity::Suspect) => "warning",
            (false, Severity::Warn) => "notice",
        };
        let title = format!("leakscope gate: {} {}", finding.severity, finding.kinds_label());
        let message = format!("{} Fix: {} (see {})", finding.explanation, finding.fix, finding.doc);
        command(&mut out, level, Some(&finding.location), &title, &message);
    }
    if let Some(settle) = report.settle.as_ref().filter(|s| !s.passed) {
        for violation in &settle.violations {
            command(
                &mut out,
                "error",
                violation.location.as_ref(),
                "leakscope gate: tasks did not settle after the load",
                &violation.message,
            );
        }
    }
    for what in &report.unevaluated {
        command(&mut out, "warning", None, "leakscope gate: not evaluated", what);
    }
    for runtime in report.runtimes.iter().filter(|r| r.stalled) {
        command(&mut out, "warning", None, "leakscope gate: runtime stalled", &runtime.to_string());
    }
    if let Some(dump) = report.dump.as_deref().filter(|d| *d != "ok") {
        command(&mut out, "warning", None, "leakscope gate: the task dump did not succeed", dump);
    }
    out.push_str(&super::text::render(report));
    out
}

/// Appends one workflow command line to `out`.
fn command(
    out: &mut String,
    level: &str,
    location: Option<&SourceLocation>,
    title: &str,
    message: &str,
) {
    let mut properties = Vec::new();
    if let Some(location) = location
        && let Some(file) = repository_path(&location.file)
    {
        properties.push(format!("file={}", property(&file)));
        if location.line > 0 {
            properties.push(format!("line={}", location.line));
        }
        if location.col > 0 {
            properties.push(format!("col={}", location.col));
        }
    }
    properties.push(format!("title={}", property(title)));
    let _ = writeln!(out, "::{level} {}::{}", properties.join(","), data(message));
}

/// The path GitHub can place an annotation on: relative to the repository (the working
/// directory). Dependencies' absolute paths (`~/.cargo/registry/...`) are left out.
fn repository_path(file: &str) -> Option<String> {
    let path = Path::new(file);
    if file.is_empty() {
        return None;
    }
    if path.is_relative() {
        return Some(file.to_owned());
    }
    let cwd = std::env::current_dir().ok()?;
    path.strip_prefix(cwd).ok().map(|p| p.to_string_lossy().into_owned())
}

/// Escaping of a command's message.
fn data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escaping of a command's property values.
fn property(text: &str) -> String {
    data(text).replace(':', "%3A").replace(',', "%2C")
}

/// The Markdown summary for `GITHUB_STEP_SUMMARY`: the verdict, what failed, and the counts.
pub fn step_summary(report: &GateReport) -> String {
    let mut out = String::new();
    let verdict = match report.verdict {
        Verdict::Pass => "✅ pass",
        Verdict::Fail => "❌ fail",
    };
    let _ = writeln!(out, "### leakscope gate: {verdict}\n");
    for check in report.failing_limits() {
        for violation in &check.violations {
            let _ = writeln!(out, "- **{}**: {}", check.limit, violation.message);
        }
    }
    for finding in report.failing_findings() {
        let _ = writeln!(
            out,
            "- **{}** at `{}` ({} tasks): {}",
            finding.kinds_label(),
            finding.location,
            finding.count,
            finding.explanation
        );
    }
    if let Some(settle) = report.settle.as_ref().filter(|s| !s.passed) {
        let _ = writeln!(
            out,
            "- **settle**: {} live tasks after the load, {} before it",
            settle.end, settle.baseline
        );
    }
    out.push_str(
        "\n| start | peak | end | growth | rate/s | live tasks |\n|---:|---:|---:|---:|---:|---|\n",
    );
    let row = |out: &mut String, c: &crate::limits::Counts, label: &str| {
        let rate =
            c.rate_per_sec.map_or_else(|| "-".to_owned(), |r| signed((r * 10.0).round() / 10.0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {rate} | {label} |",
            c.start,
            c.peak,
            c.end,
            signed(c.growth as f64)
        );
    };
    row(&mut out, &report.total, "total");
    for location in &report.locations {
        row(&mut out, &location.counts, &format!("`{}`", location.location));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::fixture::{failing, passing};

    #[test]
    fn annotations_point_at_spawn_locations() {
        let out = render(&failing());
        let commands: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(
            commands,
            [
                "::error title=leakscope gate%3A max-growth total ≤ 20::live tasks in total grew by 68 (14 → 82; limit 20)",
                "::error file=crates/app/src/handler.rs,line=42,col=9,title=leakscope gate%3A max-rate each location matching ** ≤ 2/s::live tasks at crates/app/src/handler.rs:42:9 rose at +21.9/s (limit 2/s)",
                "::error file=crates/app/src/handler.rs,line=42,col=9,title=leakscope gate%3A leak lost-waker::40 tasks are idle with no waker: nothing can wake them again. Fix: Keep the waker & call it. (see docs/leak-patterns.md#lost-waker)",
                "::notice file=crates/app/src/handler.rs,line=42,col=9,title=leakscope gate%3A warn blocking::3 polls held a worker for up to 50ms. Fix: Move blocking work to spawn_blocking. (see docs/leak-patterns.md#blocking)",
                "::error file=crates/app/src/handler.rs,line=42,col=9,title=leakscope gate%3A tasks did not settle after the load::live tasks at crates/app/src/handler.rs:42:9 stayed at 68 (baseline 0, tolerance 5)",
                "::warning title=leakscope gate%3A not evaluated::deadlock: needs resources",
            ]
        );
        // The counts follow, as in the text report.
        assert!(out.contains("     14      82      82     +68    +21.8  total"), "{out}");
        let passing = render(&passing());
        assert!(!passing.contains("::error"), "{passing}");
        assert!(passing.starts_with("leakscope gate: PASS"), "{passing}");
    }

    #[test]
    fn stalls_and_unsuccessful_dumps_are_warnings() {
        let mut report = passing();
        report.runtimes = vec![crate::RuntimeStatus {
            id: 1,
            flavor: "multi_thread".into(),
            workers: 2,
            stalled: true,
            heartbeat_age_secs: Some(3.2),
        }];
        report.dump = Some("refused: not attempted".into());
        let out = render(&report);
        let commands: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(
            commands,
            [
                "::warning title=leakscope gate%3A runtime stalled::runtime 1 (multi_thread, 2 workers): STALLED: heartbeat 3.2 s old",
                "::warning title=leakscope gate%3A the task dump did not succeed::refused: not attempted",
            ]
        );
        report.dump = Some("ok".into());
        report.runtimes[0].stalled = false;
        assert!(!render(&report).contains("::warning"));
    }

    #[test]
    fn escaping() {
        assert_eq!(data("50% done\nnext"), "50%25 done%0Anext");
        assert_eq!(property("a:b,c"), "a%3Ab%2Cc");
        assert_eq!(repository_path("src/x.rs").as_deref(), Some("src/x.rs"));
        assert_eq!(repository_path("/nowhere/near/x.rs"), None);
        assert_eq!(repository_path(""), None);
    }

    #[test]
    fn summary() {
        let out = step_summary(&failing());
        assert!(out.starts_with("### leakscope gate: ❌ fail\n"), "{out}");
        assert!(
            out.contains("- **lost-waker** at `crates/app/src/handler.rs:42:9` (40 tasks)"),
            "{out}"
        );
        assert!(
            out.contains("| 0 | 68 | 68 | +68 | +21.9 | `crates/app/src/handler.rs:42:9` |"),
            "{out}"
        );
    }
}
