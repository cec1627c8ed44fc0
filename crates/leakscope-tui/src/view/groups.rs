//! The Groups screen: live tasks by spawn location and wait point, most severe and largest
//! first, with their states, oldest idle time, trend and finding flags.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::state::Column as _;
use crate::state::{App, GroupColumn, group_severity};
use crate::view::chrome::{ListTable, column_title};
use crate::view::format;

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let view = &app.groups;
    let wide = area.width >= 110;
    let title_of = |column: GroupColumn| {
        column_title(column.title(), view.sort.column == column, view.sort.descending())
    };
    let mut columns = vec![
        (title_of(GroupColumn::Severity), Constraint::Length(5)),
        (title_of(GroupColumn::Count), Constraint::Length(7)),
    ];
    if wide {
        columns.push(("STATES".to_owned(), Constraint::Length(14)));
    }
    columns.extend([
        (title_of(GroupColumn::Idle), Constraint::Length(7)),
        (title_of(GroupColumn::Trend), Constraint::Length(8)),
        (title_of(GroupColumn::Wait), Constraint::Length(if wide { 26 } else { 20 })),
        (title_of(GroupColumn::Location), Constraint::Min(16)),
        ("FLAGS".to_owned(), Constraint::Length(if wide { 24 } else { 12 })),
    ]);
    let widths: Vec<u16> = columns
        .iter()
        .map(|(_, c)| match c {
            Constraint::Length(n) | Constraint::Min(n) => *n,
            _ => 0,
        })
        .collect();
    let fixed: u16 = widths.iter().sum::<u16>() - 16 + columns.len() as u16;
    let location_width = usize::from(area.width.saturating_sub(fixed).max(16));
    let wait_width = usize::from(if wide { 26u16 } else { 20 });
    let flag_width = if wide { 24 } else { 12 };

    let mut rows = Vec::new();
    let mut selected = None;
    if let Some(report) = &app.data.report {
        for (pos, i) in view.list.visible(view.order.len()).map(|pos| (pos, view.order[pos])) {
            let group = &report.groups[i];
            let severity = group_severity(report, group);
            if pos == view.list.selected {
                selected = Some(rows.len());
            }
            let flags: Vec<&str> = group.flags.iter().map(|k| k.as_str()).collect();
            let mut cells = vec![
                Cell::from(format::severity_label(severity))
                    .style(format::severity_style(severity)),
                Cell::from(format::count(group.count)),
            ];
            if wide {
                let s = group.states;
                cells.push(Cell::from(format!("{}i {}s {}r", s.idle, s.scheduled, s.running)));
            }
            cells.extend([
                Cell::from(format::secs(group.oldest_idle_secs)),
                Cell::from(format::trend(group.trend_per_sec)),
                Cell::from(format::head(&group.waiting_on.to_string(), wait_width)),
                Cell::from(format::tail(&group.location.to_string(), location_width)),
                Cell::from(format::head(&flags.join(","), flag_width))
                    .style(format::severity_style(severity)),
            ]);
            rows.push(Row::new(cells));
        }
    }
    let total = app.data.report.as_ref().map_or(0, |r| r.groups.len());
    let mut title = vec![
        Span::styled(" Groups ", format::section()),
        Span::raw(format!(
            "{} of {total} · tasks by spawn location and wait point",
            view.order.len()
        )),
    ];
    if !view.filter.is_empty() {
        title.push(Span::styled(format!(" · filter \"{}\"", view.filter), Style::new()));
    }
    let empty = if app.data.report.is_none() {
        "waiting for the first analysis…"
    } else {
        "no groups match"
    };
    ListTable { title: Line::from(title), columns, rows, selected, empty }.render(frame, area);
}
