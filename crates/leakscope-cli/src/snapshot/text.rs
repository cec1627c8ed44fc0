//! `--format text`: the report for people. A header saying what was read, the findings as an
//! aligned table (most severe first) and then one by one with their explanation, evidence and
//! fix, the largest task groups, and the kinds of finding this data could not evaluate.

use std::fmt::Write as _;

use leakscope_analysis::{Finding, Group, Pending, Report, Severity, format_secs};
use leakscope_client::Backend;
use leakscope_gate::RuntimeStatus;

use super::command::{AnalysedBy, Observed};

/// Explanations and fixes are wrapped to this many columns.
const WIDTH: usize = 100;

/// Evidence lines shown per finding; the JSON has them all.
const EVIDENCE_SHOWN: usize = 3;

/// Renders what was observed; `groups` caps the group table (0: all).
pub(crate) fn render(observed: &Observed, groups: usize) -> String {
    let report = &observed.report;
    let mut out = String::new();
    header(&mut out, report, observed.backend, observed.analysed_by, &observed.runtimes);
    findings(&mut out, &report.findings, report.suppressed, !report.pending.is_empty());
    pending(&mut out, &report.pending);
    group_table(&mut out, &report.groups, groups);
    if !report.unevaluated.is_empty() {
        out.push_str("\nNOT EVALUATED (so no finding of these kinds means nothing here)\n");
        let rows =
            report.unevaluated.iter().map(|u| vec![u.kind.to_string(), u.reason.clone()]).collect();
        out.push_str(&table(&["KIND", "WHY"], &[], rows));
    }
    out
}

fn header(
    out: &mut String,
    report: &Report,
    backend: Backend,
    analysed_by: AnalysedBy,
    runtimes: &[RuntimeStatus],
) {
    let t = &report.target;
    let who = match (t.process_name.as_str(), t.pid) {
        ("", 0) => "an app".to_owned(),
        ("", pid) => format!("pid {pid}"),
        (name, 0) => name.to_owned(),
        (name, pid) => format!("{name} (pid {pid})"),
    };
    let at = t.address.as_deref().map(|a| format!(" at {a}")).unwrap_or_default();
    let _ = writeln!(out, "leakscope snapshot of {who}{at}");
    let source = match (backend, analysed_by) {
        (Backend::Leakscope, AnalysedBy::Client) => format!("leakscope agent {}", t.agent_version),
        (Backend::Leakscope, AnalysedBy::Agent) => {
            format!("leakscope agent {}, which analysed", t.agent_version)
        }
        (Backend::Console, _) => t.agent_version.clone(),
    };
    let updates =
        if t.observations == 1 { "1 update".into() } else { format!("{} updates", t.observations) };
    let dump = match &t.dump {
        Some(status) => format!("task dump {status}"),
        None => "no task dump".to_owned(),
    };
    let _ = writeln!(
        out,
        "  source: {source}; watched {} ({updates}); {dump}",
        format_secs(t.window_secs)
    );
    // A stalled runtime first: while it lasts, its tasks' waits say nothing about the app.
    for runtime in runtimes.iter().filter(|r| r.stalled) {
        let _ = writeln!(out, "  {runtime}");
    }
    let s = &report.tasks.states;
    let mut states = vec![
        (s.running, "running"),
        (s.scheduled, "scheduled"),
        (s.idle, "idle"),
        (s.unknown, "state unknown"),
    ];
    states.retain(|(n, _)| *n > 0);
    let states: Vec<String> = states.iter().map(|(n, what)| format!("{n} {what}")).collect();
    let states =
        if states.is_empty() { String::new() } else { format!(" ({})", states.join(", ")) };
    if t.sources.tasks {
        let _ = writeln!(
            out,
            "  tasks: {} live{states}, {} finished",
            report.tasks.live, report.tasks.finished
        );
    } else {
        // No per-task records (stable tokio): the runtimes' own count is the only one there is.
        let live = match report.tasks.runtime_alive {
            Some(alive) => format!("{alive} live (runtime metrics)"),
            None => "live count unknown (no runtime metrics)".to_owned(),
        };
        let _ = writeln!(out, "  tasks: {live}; no per-task records, so no groups or findings");
    }
    // What the target's build lets it see, on one line (`leakscope doctor` has the fixes).
    if let Some(facts) = &t.facts {
        let _ = writeln!(out, "  {}", facts.summary());
    }
    if t.untracked_spans > 0 {
        let _ = writeln!(
            out,
            "  warning: {} spans could not be tracked; their tasks are missing from every count",
            t.untracked_spans
        );
    }
}

fn findings(out: &mut String, findings: &[Finding], suppressed: usize, pending: bool) {
    let hidden = match suppressed {
        0 => String::new(),
        1 => " (1 more hidden by a suppression)".to_owned(),
        n => format!(" ({n} more hidden by suppressions)"),
    };
    if findings.is_empty() {
        // With something on its way, "none" would claim more than is known.
        let yet = if pending { " yet (see NOT YET KNOWN)" } else { "" };
        let _ = writeln!(out, "\nFINDINGS: none{yet}{hidden}");
        return;
    }
    let by_severity: Vec<String> = [Severity::Leak, Severity::Suspect, Severity::Warn]
        .into_iter()
        .filter_map(|severity| {
            let n = findings.iter().filter(|f| f.severity == severity).count();
            (n > 0).then(|| format!("{n} {severity}"))
        })
        .collect();
    let _ = writeln!(out, "\nFINDINGS: {}{hidden}", by_severity.join(", "));
    let rows = findings
        .iter()
        .enumerate()
        .map(|(i, f)| {
            vec![
                format!("#{}", i + 1),
                f.severity.to_string(),
                f.kinds_label(),
                f.count.to_string(),
                format_secs(f.oldest_secs),
                f.location.to_string(),
                f.waiting_on.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
            ]
        })
        .collect();
    out.push_str(&table(
        &["", "SEVERITY", "KIND", "COUNT", "OLDEST", "LOCATION", "WAITING ON"],
        &[3, 4],
        rows,
    ));
    for (i, finding) in findings.iter().enumerate() {
        detail(out, i + 1, finding);
    }
}

fn detail(out: &mut String, number: usize, f: &Finding) {
    let name = f.task_name.as_deref().map(|n| format!(" (tasks named `{n}`)")).unwrap_or_default();
    let _ = writeln!(out, "\n#{number} {} {} at {}{name}", f.severity, f.kinds_label(), f.location);
    wrap(out, "    ", &f.explanation);
    if let Some(frame) = &f.user_frame {
        let _ = writeln!(out, "    awaiting at: {frame}");
    }
    for evidence in f.evidence.iter().take(EVIDENCE_SHOWN) {
        wrap(out, "    - ", &evidence.to_string());
    }
    if f.evidence.len() > EVIDENCE_SHOWN {
        let _ = writeln!(out, "    - and {} more", f.evidence.len() - EVIDENCE_SHOWN);
    }
    if !f.task_ids.is_empty() {
        let ids: Vec<String> = f.task_ids.iter().map(u64::to_string).collect();
        let more = if (f.task_ids.len() as u64) < f.count && f.kind.as_str() != "blocking" {
            ", …"
        } else {
            ""
        };
        let _ = writeln!(out, "    tasks: {}{more}", ids.join(", "));
    }
    wrap(out, "    fix: ", &f.fix);
    let _ = writeln!(out, "    docs: {}", f.doc);
}

/// What the detectors cannot judge yet, with the time left.
fn pending(out: &mut String, pending: &[Pending]) {
    if pending.is_empty() {
        return;
    }
    out.push_str(
        "\nNOT YET KNOWN (judged when the time left has passed; take another snapshot then)\n",
    );
    let rows = pending
        .iter()
        .map(|p| {
            vec![
                p.kind.to_string(),
                p.tasks.to_string(),
                format_secs(p.secs_left),
                p.location.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string),
                p.reason.clone(),
            ]
        })
        .collect();
    out.push_str(&table(&["KIND", "TASKS", "LEFT", "LOCATION", "WHAT IS SEEN"], &[1, 2], rows));
}

fn group_table(out: &mut String, groups: &[Group], limit: usize) {
    if groups.is_empty() {
        let _ = writeln!(out, "\nGROUPS: no live tasks");
        return;
    }
    let shown = if limit == 0 { groups.len() } else { limit.min(groups.len()) };
    let of = if shown < groups.len() {
        format!("the {shown} largest of {}", groups.len())
    } else {
        groups.len().to_string()
    };
    let _ = writeln!(out, "\nGROUPS: {of}, by spawn location and wait point");
    let rows = groups
        .iter()
        .take(shown)
        .map(|g| {
            let flags: Vec<&str> = g.flags.iter().map(|k| k.as_str()).collect();
            vec![
                g.count.to_string(),
                g.states.running.to_string(),
                g.states.scheduled.to_string(),
                g.states.idle.to_string(),
                format_secs(g.oldest_idle_secs),
                format!("{} / {}", format_secs(g.ages.p50_secs), format_secs(g.ages.p90_secs)),
                g.trend_per_sec.map_or_else(|| "-".to_owned(), |t| format!("{t:+.2}/s")),
                g.location.to_string(),
                g.waiting_on.to_string(),
                if flags.is_empty() { "-".to_owned() } else { flags.join(",") },
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "TASKS",
            "RUN",
            "SCHED",
            "IDLE",
            "OLDEST IDLE",
            "AGE p50 / p90",
            "TREND",
            "LOCATION",
            "WAITING ON",
            "FLAGS",
        ],
        &[0, 1, 2, 3, 4, 5, 6],
        rows,
    ));
}

/// An aligned table indented by two spaces; the columns listed in `right` are right-aligned.
/// Trailing spaces are trimmed.
pub(super) fn table(headers: &[&str], right: &[usize], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let headers: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let mut out = String::new();
    for row in std::iter::once(&headers).chain(&rows) {
        let mut line = String::from("  ");
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = width - cell.chars().count();
            if right.contains(&i) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Writes `text` word-wrapped to [`WIDTH`] columns, the first line after `first`, the rest
/// indented to line up with it.
fn wrap(out: &mut String, first: &str, text: &str) {
    let indent = " ".repeat(first.chars().count());
    let mut line = first.to_owned();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line.clone_from(&indent);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::fixture;

    #[test]
    fn text_is_stable() {
        insta::assert_snapshot!(render(&fixture::observed(), 20));
    }

    #[test]
    fn a_stalled_runtime_and_a_refused_dump_are_in_the_header() {
        let mut observed = fixture::observed();
        observed.runtimes[0].stalled = true;
        observed.runtimes[0].heartbeat_age_secs = Some(3.24);
        observed.report.target.dump =
            Some("refused: not attempted: a runtime is stalled (its heartbeat is late)".into());
        let text = render(&observed, 20);
        let head: Vec<&str> = text.lines().take(4).collect();
        assert_eq!(
            head,
            [
                "leakscope snapshot of shop (pid 4242) at 127.0.0.1:6669",
                "  source: leakscope agent 0.1.0; watched 0s (1 update); task dump refused: not \
                 attempted: a runtime is stalled (its heartbeat is late)",
                "  runtime 1 (multi_thread, 2 workers): STALLED: heartbeat 3.2 s old",
                "  tasks: 6 live (1 running, 5 idle), 0 finished",
            ],
            "{text}"
        );
    }

    /// Stable tokio: no per-task records, so the count is the runtimes' and the build line says
    /// why; never `tasks: 0 live`.
    #[test]
    fn without_per_task_records_the_runtime_count_and_the_build_line_are_shown() {
        let mut observed = fixture::observed();
        observed.report.target.sources = leakscope_analysis::Sources::none();
        observed.report.tasks.live = 0;
        observed.report.tasks.runtime_alive = Some(1001);
        let facts = observed.report.target.facts.as_mut().expect("the fixture had a Hello");
        facts.tokio_unstable = false;
        facts.task_dump = false;
        let text = render(&observed, 20);
        let head: Vec<&str> = text.lines().skip(2).take(2).collect();
        assert_eq!(
            head,
            [
                "  tasks: 1001 live (runtime metrics); no per-task records, so no groups or findings",
                "  build: missing tokio_unstable, task dumps; `leakscope doctor` gives the fixes",
            ],
            "{text}"
        );
        observed.report.tasks.runtime_alive = None;
        let text = render(&observed, 20);
        assert!(text.contains("  tasks: live count unknown (no runtime metrics)"), "{text}");
        assert!(!text.contains("tasks: 0 live"), "{text}");
    }

    #[test]
    fn what_is_not_known_yet_is_said_instead_of_none() {
        let mut observed = fixture::observed();
        observed.report.findings.clear();
        observed.report.pending = vec![leakscope_analysis::Pending {
            kind: leakscope_analysis::FindingKind::Stuck,
            location: Some("src/calls.rs:31:9".parse().unwrap_or_else(|never| match never {})),
            tasks: 575,
            secs_left: 2.0,
            reason: "575 tasks spawned at src/calls.rs:31:9 parked for up to 28s where a leak \
                     parks; judged at 30s"
                .into(),
        }];
        let text = render(&observed, 0);
        assert!(text.contains("\nFINDINGS: none yet (see NOT YET KNOWN)\n"), "{text}");
        assert!(
            text.contains(
                "  KIND   TASKS  LEFT  LOCATION           WHAT IS SEEN\n  stuck    575    2s  \
                 src/calls.rs:31:9  575 tasks spawned at src/calls.rs:31:9 parked for up to 28s"
            ),
            "{text}"
        );
    }

    fn check_wrap(first: &str, text: &str, expected: &str) {
        let mut out = String::new();
        wrap(&mut out, first, text);
        assert_eq!(out, expected);
    }

    #[test]
    fn wraps_words_under_the_first_line() {
        check_wrap("  - ", "short", "  - short\n");
        let long = "word ".repeat(30);
        let mut out = String::new();
        wrap(&mut out, "fix: ", &long);
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("     word")), "{out}");
        check_wrap("x ", "", "x \n");
    }

    #[test]
    fn tables_align() {
        let rows =
            vec![vec!["1".to_owned(), "a".to_owned()], vec!["100".to_owned(), "bbb".to_owned()]];
        assert_eq!(table(&["N", "NAME"], &[0], rows), "    N  NAME\n    1  a\n  100  bbb\n");
    }
}
