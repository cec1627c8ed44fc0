//! The Findings screen: every finding, most severe first; below the list, the selected one's
//! explanation, fix and evidence.

use leakscope_analysis::Finding;
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Wrap};

use crate::state::Column as _;
use crate::state::{App, FindingColumn};
use crate::view::chrome::{ListTable, column_title, split};
use crate::view::format;

/// A finding's full text: headline, explanation, fix, evidence, link.
pub(crate) fn describe(lines: &mut Vec<Line<'static>>, finding: &Finding) {
    let severity = Some(finding.severity);
    let mut headline = vec![
        Span::styled(
            format!("   {} ", finding.severity.as_str().to_uppercase()),
            format::severity_style(severity),
        ),
        Span::styled(finding.kinds_label(), Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " · {} task{} · oldest {} · {}",
            format::count(finding.count),
            if finding.count == 1 { "" } else { "s" },
            format::secs(finding.oldest_secs),
            finding.location
        )),
    ];
    if let Some(point) = &finding.waiting_on {
        headline.push(Span::raw(format!(" · {point}")));
    }
    lines.push(Line::from(headline));
    lines.push(Line::from(format!("     {}", finding.explanation)));
    lines.push(Line::from(vec![
        Span::styled("     fix: ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(finding.fix.clone()),
    ]));
    if let Some(frame) = &finding.user_frame {
        lines.push(Line::from(format!("     awaits at {frame}")));
    }
    for evidence in &finding.evidence {
        lines.push(Line::from(Span::styled(format!("     · {evidence}"), format::dim())));
    }
    let ids: Vec<String> = finding.task_ids.iter().take(8).map(u64::to_string).collect();
    if !ids.is_empty() {
        lines.push(Line::from(Span::styled(
            format!("     tasks {}", ids.join(", ")),
            format::dim(),
        )));
    }
    lines.push(Line::from(Span::styled(format!("     see {}", finding.doc), format::dim())));
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (top, bottom) = split(area);
    let view = &app.findings;
    let title_of = |column: FindingColumn| {
        column_title(column.title(), view.sort.column == column, view.sort.descending())
    };
    let columns = vec![
        (title_of(FindingColumn::Severity), Constraint::Length(5)),
        (title_of(FindingColumn::Kind), Constraint::Length(16)),
        (title_of(FindingColumn::Count), Constraint::Length(7)),
        (title_of(FindingColumn::Oldest), Constraint::Length(8)),
        ("WAITING ON".to_owned(), Constraint::Length(20)),
        (title_of(FindingColumn::Location), Constraint::Min(16)),
    ];
    let location_width = usize::from(top.width.saturating_sub(5 + 16 + 7 + 8 + 20 + 6).max(16));
    let mut rows = Vec::new();
    let mut selected = None;
    let findings = app.data.report.as_ref().map(|r| r.findings.as_slice()).unwrap_or_default();
    for pos in view.list.visible(view.order.len()) {
        let finding = &findings[view.order[pos]];
        if pos == view.list.selected {
            selected = Some(rows.len());
        }
        let severity = Some(finding.severity);
        rows.push(Row::new(vec![
            Cell::from(format::severity_label(severity)).style(format::severity_style(severity)),
            Cell::from(finding.kinds_label()),
            Cell::from(format::count(finding.count)),
            Cell::from(format::secs(finding.oldest_secs)),
            Cell::from(format::head(
                &finding.waiting_on.as_ref().map(ToString::to_string).unwrap_or_default(),
                20,
            )),
            Cell::from(format::tail(&finding.location.to_string(), location_width)),
        ]));
    }
    let unevaluated = app.data.report.as_ref().map_or(0, |r| r.unevaluated.len());
    let mut title = vec![
        Span::styled(" Findings ", format::section()),
        Span::raw(format!("{} of {}", view.order.len(), findings.len())),
    ];
    if unevaluated > 0 {
        title.push(Span::styled(
            format!(" · {unevaluated} detectors could not run (see Overview)"),
            format::dim(),
        ));
    }
    if !view.filter.is_empty() {
        title.push(Span::raw(format!(" · filter \"{}\"", view.filter)));
    }
    let empty = if app.data.report.is_none() {
        "waiting for the first analysis…"
    } else {
        "no findings: nothing leaks so far"
    };
    ListTable { title: Line::from(title), columns, rows, selected, empty }.render(frame, top);

    let mut lines = Vec::new();
    if let Some(finding) = view.selected().and_then(|i| findings.get(i)) {
        describe(&mut lines, finding);
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), bottom);
}
