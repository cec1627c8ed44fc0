//! The Findings screen: every finding, most severe first; below the list, the selected one's
//! explanation, fix and evidence.

use leakscope_analysis::Finding;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::Column as _;
use crate::state::{App, FindingColumn};
use crate::view::chrome::{Col, FitTable, column_title, position, split};
use crate::view::{format, wrap};

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
            " · {} · oldest {} · {}",
            format::counted(finding.count, "task"),
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
    let cols = vec![
        Col::whole(title_of(FindingColumn::Severity)),
        Col::text(title_of(FindingColumn::Kind), 12),
        Col::whole(title_of(FindingColumn::Count)),
        Col::whole(title_of(FindingColumn::Oldest)),
        Col::text("WAITING ON".to_owned(), 14).optional(),
        Col::path(title_of(FindingColumn::Location), 16),
    ];
    let plain = Style::new();
    let mut rows = Vec::new();
    let mut selected = None;
    let findings = app.data.report.as_ref().map(|r| r.findings.as_slice()).unwrap_or_default();
    for pos in view.list.visible(view.order.len()) {
        let finding = &findings[view.order[pos]];
        if pos == view.list.selected {
            selected = Some(rows.len());
        }
        let severity = Some(finding.severity);
        rows.push(vec![
            (format::severity_label(severity).to_owned(), format::severity_style(severity)),
            (finding.kinds_label(), plain),
            (format::count(finding.count), plain),
            (format::secs(finding.oldest_secs), plain),
            (finding.waiting_on.as_ref().map(ToString::to_string).unwrap_or_default(), plain),
            (finding.location.to_string(), plain),
        ]);
    }
    let unevaluated = app.data.report.as_ref().map_or(0, |r| r.unevaluated.len());
    let mut title = vec![
        Span::styled(" Findings ", format::section()),
        Span::raw(format!(
            "{} of {} · {}",
            format::count(view.order.len() as u64),
            format::count(findings.len() as u64),
            position(view.list.selected, view.order.len())
        )),
    ];
    if unevaluated > 0 {
        title.push(Span::styled(
            format!(
                " · {} could not run (see Overview)",
                format::counted(unevaluated as u64, "detector")
            ),
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
    FitTable { title: Line::from(title), cols, rows, selected, empty }.render(frame, top);

    let mut lines = Vec::new();
    if let Some(finding) = view.selected().and_then(|i| findings.get(i)) {
        describe(&mut lines, finding);
    }
    // Wrapped here so that continuation lines keep their indentation.
    frame.render_widget(Paragraph::new(wrap::wrap(lines, usize::from(bottom.width))), bottom);
}
