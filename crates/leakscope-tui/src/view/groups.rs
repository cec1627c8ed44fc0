//! The Groups screen: live tasks by spawn location and wait point, most severe and largest
//! first, with their states, oldest idle time, trend and finding flags.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::state::Column as _;
use crate::state::{App, GroupColumn, group_severity};
use crate::view::chrome::{Col, FitTable, column_title, position};
use crate::view::format;

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let view = &app.groups;
    let wide = area.width >= 110;
    let title_of = |column: GroupColumn| {
        column_title(column.title(), view.sort.column == column, view.sort.descending())
    };
    // Each column as wide as its content; the spawn location takes what is left and is cut
    // from the left only when the wait point and flags already gave way to their minimum.
    let mut cols =
        vec![Col::whole(title_of(GroupColumn::Severity)), Col::whole(title_of(GroupColumn::Count))];
    if wide {
        cols.push(Col::whole("STATES".to_owned()));
    }
    cols.extend([
        Col::whole(title_of(GroupColumn::Idle)),
        Col::whole(title_of(GroupColumn::Trend)),
        Col::text(title_of(GroupColumn::Wait), 14),
        Col::path(title_of(GroupColumn::Location), 16),
        Col::text("FLAGS".to_owned(), 11).optional(),
    ]);

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
            let plain = Style::new();
            let mut cells = vec![
                (format::severity_label(severity).to_owned(), format::severity_style(severity)),
                (format::count(group.count), plain),
            ];
            if wide {
                let s = group.states;
                cells.push((
                    format!(
                        "{}i {}s {}r",
                        format::count(s.idle),
                        format::count(s.scheduled),
                        format::count(s.running)
                    ),
                    plain,
                ));
            }
            cells.extend([
                (format::secs(group.oldest_idle_secs), plain),
                (format::trend(group.trend_per_sec), plain),
                (group.waiting_on.to_string(), plain),
                (group.location.to_string(), plain),
                (flags.join(","), format::severity_style(severity)),
            ]);
            rows.push(cells);
        }
    }
    let total = app.data.report.as_ref().map_or(0, |r| r.groups.len());
    let mut title = vec![
        Span::styled(" Groups ", format::section()),
        Span::raw(format!(
            "{} of {} · tasks by spawn location and wait point · {}",
            format::count(view.order.len() as u64),
            format::count(total as u64),
            position(view.list.selected, view.order.len())
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
    FitTable { title: Line::from(title), cols, rows, selected, empty }.render(frame, area);
}
