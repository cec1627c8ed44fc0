//! The Overview screen: live tasks over time, spawn and completion rates, task states, findings
//! by severity, runtime metrics, and the agent's own health (what it had to drop).

use leakscope_analysis::Severity;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};

use crate::state::App;
use crate::view::format;

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let data = &app.data;
    let [spark_title, spark, columns, rest] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(4),
        Constraint::Length(7),
        Constraint::Min(0),
    ])
    .areas(area);

    // Live tasks over time: the most recent samples that fit.
    let samples = &data.samples;
    let width = usize::from(spark.width.saturating_sub(2));
    let shown = &samples[samples.len().saturating_sub(width)..];
    // The header's figure: the live tasks of the latest update.
    let live = data.live;
    let peak = shown.iter().map(|s| s.live).max().unwrap_or(0);
    let low = shown.iter().map(|s| s.live).min().unwrap_or(0);
    let span = match (shown.first(), shown.last()) {
        (Some(first), Some(last)) => format::secs(last.at_secs - first.at_secs),
        _ => "-".to_owned(),
    };
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" Live tasks ", format::section()),
            Span::raw(format!("{}  ", format::count(live))),
            Span::styled(
                format!("(min {} · max {} over {span})", format::count(low), format::count(peak)),
                format::dim(),
            ),
        ])),
        spark_title,
    );
    // Scaled from the minimum so that growth on top of a large base still shows; a flat line
    // sits at half height.
    let bars: Vec<u64> = shown.iter().map(|s| s.live - low + 1).collect();
    let top = if peak == low { 2 } else { peak - low + 1 };
    let [_, spark] = Layout::horizontal([Constraint::Length(1), Constraint::Min(0)]).areas(spark);
    frame.render_widget(
        Sparkline::default().data(bars).max(top).style(Style::new().fg(Color::Cyan)),
        spark,
    );

    let [left, right] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(columns);
    frame.render_widget(Paragraph::new(tasks_lines(app)), left);
    frame.render_widget(Paragraph::new(findings_lines(app)), right);

    let [runtimes, agent] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(rest);
    frame.render_widget(Paragraph::new(runtime_lines(app)), runtimes);
    frame.render_widget(Paragraph::new(agent_lines(app)), agent);
}

fn row(name: &str, value: String) -> Line<'static> {
    Line::from(vec![Span::styled(format!(" {name:<16}"), format::dim()), Span::raw(value)])
}

fn tasks_lines(app: &App) -> Vec<Line<'static>> {
    let data = &app.data;
    let mut lines = vec![Line::from(Span::styled(" Tasks", format::section()))];
    let rates = data.rates(10.0);
    let rate = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.1}/s"));
    lines.push(row("spawned", rate(rates.map(|r| r.spawned_per_sec))));
    lines.push(row("completed", rate(rates.map(|r| r.finished_per_sec))));
    if let Some(report) = &data.report {
        // The live tasks' states as of the same update as the live count; without per-task
        // records, the analysis's (empty) counts.
        let s = if data.tasks.is_empty() { report.tasks.states } else { data.states };
        lines.push(row("live", format::count(data.live)));
        lines.push(row(
            "idle/sched/run",
            format!(
                "{} / {} / {}",
                format::count(s.idle),
                format::count(s.scheduled),
                format::count(s.running)
            ),
        ));
        lines.push(row("groups", format::count(report.groups.len() as u64)));
    }
    lines
}

fn findings_lines(app: &App) -> Vec<Line<'static>> {
    let data = &app.data;
    let mut lines = vec![Line::from(Span::styled(" Findings", format::section()))];
    let Some(report) = &data.report else {
        lines.push(Line::from(Span::styled(" waiting for the first analysis…", format::dim())));
        return lines;
    };
    for severity in [Severity::Leak, Severity::Suspect, Severity::Warn] {
        let n = report.findings.iter().filter(|f| f.severity == severity).count();
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {:<16}", severity.as_str()),
                format::severity_style(Some(severity)),
            ),
            Span::raw(format::count(n as u64)),
        ]));
    }
    if !report.unevaluated.is_empty() {
        let kinds: Vec<&str> = report.unevaluated.iter().map(|u| u.kind.as_str()).collect();
        lines.push(row("not evaluated", kinds.join(", ")));
    }
    if !report.pending.is_empty() {
        // Judged once enough time has passed: say what is coming, and when the first is due.
        let mut kinds: Vec<&str> = Vec::new();
        for pending in &report.pending {
            if !kinds.contains(&pending.kind.as_str()) {
                kinds.push(pending.kind.as_str());
            }
        }
        let tasks: u64 = report.pending.iter().map(|p| p.tasks).sum();
        let first = report.pending.iter().map(|p| p.secs_left).fold(f64::INFINITY, f64::min);
        lines.push(row(
            "not yet known",
            format!(
                "{} ({}; the first judged in {})",
                kinds.join(", "),
                format::counted(tasks, "task"),
                format::secs(first)
            ),
        ));
    }
    let analysis = data.analysis;
    lines.push(Line::from(Span::styled(
        format!(
            " analysis {:.0}ms every {:.0}s · apply {:.0}ms",
            analysis.took_ms,
            analysis.every_secs.max(1.0),
            analysis.apply_ms
        ),
        format::dim(),
    )));
    if let Some(dump) = &data.dump {
        lines.push(row(
            "task dump",
            format!("{} ({})", dump.status, format::counted(dump.traces.len() as u64, "task")),
        ));
    }
    lines
}

fn runtime_lines(app: &App) -> Vec<Line<'static>> {
    let data = &app.data;
    let mut lines = vec![Line::from(Span::styled(" Runtimes", format::section()))];
    if data.runtimes.is_empty() {
        lines.push(Line::from(Span::styled(" none reported", format::dim())));
    }
    for runtime in data.runtimes.iter() {
        lines.push(Line::from(format!(
            " #{} {} · {} · {} alive",
            runtime.runtime_id,
            runtime.flavor,
            format::counted(u64::from(runtime.workers), "worker"),
            format::count(runtime.alive_tasks)
        )));
        if runtime.stalled {
            lines.push(Line::from(Span::styled(
                format!(
                    "   STALLED: heartbeat {:.1}s old",
                    runtime.heartbeat_age_nanos as f64 / 1e9
                ),
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            )));
        }
        lines.push(Line::from(Span::styled(
            format!(
                "   global queue {} · blocking {} ({} idle) · queue {}",
                format::count(runtime.global_queue_depth),
                format::count(runtime.blocking_threads),
                format::count(runtime.idle_blocking_threads),
                format::count(runtime.blocking_queue_depth)
            ),
            format::dim(),
        )));
    }
    for missing in &data.target.missing {
        lines.push(Line::from(Span::styled(
            format!(" missing: {missing}"),
            Style::new().fg(Color::Yellow),
        )));
    }
    lines
}

fn agent_lines(app: &App) -> Vec<Line<'static>> {
    let data = &app.data;
    let mut lines = vec![Line::from(Span::styled(" Agent", format::section()))];
    let Some(stats) = &data.stats else {
        lines.push(Line::from(Span::styled(" no agent statistics", format::dim())));
        return lines;
    };
    lines.push(row("memory", format::bytes(stats.memory_bytes)));
    let dropped = [
        ("spans dropped", stats.spans_dropped_total),
        ("finished lost", stats.finished_evicted_total),
        ("long polls lost", stats.long_polls_evicted_total),
        ("updates lagged", stats.watch_lagged_total),
    ];
    for (name, n) in dropped {
        let style = if n > 0 { Style::new().fg(Color::Yellow) } else { Style::new() };
        lines.push(Line::from(vec![
            Span::styled(format!(" {name:<16}"), format::dim()),
            Span::styled(format::count(n), style),
        ]));
    }
    lines
}
