//! The Tasks screen: the live tasks of one group, finding or resource, or all of them; sortable
//! on every column, filtered with `/`. Only the visible rows are built.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};

use crate::state::Column as _;
use crate::state::{App, Data, TaskColumn, TasksPage};
use crate::view::chrome::{ListTable, column_title};
use crate::view::format;

/// The columns shown at a width: narrow terminals drop age, busy, wakes and name (they still
/// sort; the title says which column is sorted).
fn columns(width: u16) -> Vec<(TaskColumn, u16)> {
    let wide = width >= 120;
    let mut columns = vec![(TaskColumn::Id, 7), (TaskColumn::State, 6), (TaskColumn::Idle, 7)];
    if wide {
        columns.push((TaskColumn::Age, 7));
    }
    columns.push((TaskColumn::Polls, 7));
    if wide {
        columns.extend([(TaskColumn::Busy, 7), (TaskColumn::Wakes, 7)]);
    }
    columns.extend([(TaskColumn::Wakers, 4), (TaskColumn::Wait, 20)]);
    if wide {
        columns.push((TaskColumn::Name, 14));
    }
    columns.extend([(TaskColumn::Location, 0), (TaskColumn::Flags, if wide { 20 } else { 10 })]);
    columns
}

fn cell(column: TaskColumn, id: u64, data: &Data, width: usize) -> Cell<'static> {
    let Some(row) = data.row(id) else {
        return match column {
            TaskColumn::Id => Cell::from(id.to_string()),
            TaskColumn::State => Cell::from("done"),
            _ => Cell::from(""),
        };
    };
    let strings = &data.strings;
    let text = match column {
        TaskColumn::Id => row.id.to_string(),
        TaskColumn::State => format::state_label(row.state).to_owned(),
        TaskColumn::Idle => format::secs(row.idle_secs),
        TaskColumn::Age => format::secs(row.age_secs),
        TaskColumn::Polls => format::count(row.polls),
        TaskColumn::Busy => format::nanos((row.busy_secs * 1e9) as u64),
        TaskColumn::Wakes => format::count(row.wakes),
        TaskColumn::Wakers => row.wakers.to_string(),
        TaskColumn::Wait => format::head(&strings.point(row.point).to_string(), width),
        TaskColumn::Location => format::tail(&strings.location(row.location_id).to_string(), width),
        TaskColumn::Name => format::head(strings.name(row.name).unwrap_or(""), width),
        TaskColumn::Flags => {
            let severity = data
                .report
                .as_ref()
                .zip(data.group_of(row))
                .and_then(|(report, group)| crate::state::group_severity(report, group));
            return Cell::from(format::head(&data.flags(row).join(","), width))
                .style(format::severity_style(severity));
        }
    };
    Cell::from(text)
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, page: &TasksPage) {
    let data = &app.data;
    let columns = columns(area.width);
    let fixed: u16 = columns.iter().map(|(_, w)| *w).sum::<u16>() + columns.len() as u16;
    let location_width = area.width.saturating_sub(fixed).max(12);
    let widths: Vec<u16> = columns
        .iter()
        .map(|(c, w)| if *c == TaskColumn::Location { location_width } else { *w })
        .collect();
    let sort = page.sort;
    let titles = columns
        .iter()
        .zip(&widths)
        .map(|((column, _), width)| {
            let title = column_title(column.title(), sort.column == *column, sort.descending());
            let constraint = if *column == TaskColumn::Location {
                Constraint::Min(*width)
            } else {
                Constraint::Length(*width)
            };
            (title, constraint)
        })
        .collect();
    let mut rows = Vec::new();
    let mut selected = None;
    for pos in page.list.visible(page.ids.len()) {
        if pos == page.list.selected {
            selected = Some(rows.len());
        }
        let id = page.ids[pos];
        let cells: Vec<Cell<'_>> = columns
            .iter()
            .zip(&widths)
            .map(|((column, _), width)| cell(*column, id, data, usize::from(*width)))
            .collect();
        rows.push(Row::new(cells));
    }
    let mut title = vec![
        Span::styled(" Tasks ", format::section()),
        Span::raw(format!("{} · {}", page.scope.title(), format::count(page.ids.len() as u64))),
        Span::styled(
            format!(
                " · sorted by {} {}",
                sort.column.title().to_lowercase(),
                if sort.descending() { "↓" } else { "↑" }
            ),
            format::dim(),
        ),
    ];
    if !page.filter.is_empty() {
        title.push(Span::raw(format!(" · filter \"{}\"", page.filter)));
    }
    let empty = if data.observations == 0 { "waiting for data…" } else { "no tasks match" };
    ListTable { title: Line::from(title), columns: titles, rows, selected, empty }
        .render(frame, area);
}
