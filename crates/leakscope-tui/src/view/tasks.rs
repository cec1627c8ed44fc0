//! The Tasks screen: the live tasks of one group, finding or resource, or all of them; sortable
//! on every column, filtered with `/`. Only the visible rows are built.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::state::Column as _;
use crate::state::{App, Data, TaskColumn, TasksPage};
use crate::view::chrome::{Col, FitTable, column_title, position};
use crate::view::format;

/// The columns shown at a width: narrow terminals drop age, busy, wakes and name (they still
/// sort; the title says which column is sorted). The name is left out, too, when no row on
/// screen has one.
fn columns(width: u16) -> Vec<TaskColumn> {
    let wide = width >= 120;
    let mut columns = vec![TaskColumn::Id, TaskColumn::State, TaskColumn::Idle];
    if wide {
        columns.push(TaskColumn::Age);
    }
    columns.push(TaskColumn::Polls);
    if wide {
        columns.extend([TaskColumn::Busy, TaskColumn::Wakes]);
    }
    columns.extend([TaskColumn::Wakers, TaskColumn::Wait]);
    if wide {
        columns.push(TaskColumn::Name);
    }
    columns.extend([TaskColumn::Location, TaskColumn::Flags]);
    columns
}

/// How a column is fitted: numbers whole, text cut at its end, the spawn location from its start.
fn col(column: TaskColumn, title: String) -> Col {
    match column {
        TaskColumn::Wait => Col::text(title, 14),
        TaskColumn::Name => Col::text(title, 8).optional(),
        TaskColumn::Flags => Col::text(title, 10).optional(),
        TaskColumn::Location => Col::path(title, 14),
        _ => Col::whole(title),
    }
}

fn cell(column: TaskColumn, id: u64, data: &Data) -> (String, Style) {
    let plain = Style::new();
    let Some(row) = data.row(id) else {
        return match column {
            TaskColumn::Id => (id.to_string(), plain),
            TaskColumn::State => ("done".to_owned(), plain),
            _ => (String::new(), plain),
        };
    };
    let strings = &data.strings;
    let text = match column {
        TaskColumn::Id => row.id.to_string(),
        TaskColumn::State => format::state_label(row.state).to_owned(),
        TaskColumn::Idle => format::secs(row.idle_secs(data.now_nanos)),
        TaskColumn::Age => format::secs(row.age_secs(data.now_nanos)),
        TaskColumn::Polls => format::count(row.polls),
        TaskColumn::Busy => format::nanos((f64::from(row.busy_secs) * 1e9) as u64),
        TaskColumn::Wakes => format::count(row.wakes),
        TaskColumn::Wakers => row.wakers.to_string(),
        TaskColumn::Wait => strings.point(row.point).to_string(),
        TaskColumn::Location => strings.location(row.location_id).to_string(),
        TaskColumn::Name => strings.name(row.name).unwrap_or("").to_owned(),
        TaskColumn::Flags => {
            let severity = data
                .report
                .as_ref()
                .zip(data.group_of(row))
                .and_then(|(report, group)| crate::state::group_severity(report, group));
            return (data.flags(row).join(","), format::severity_style(severity));
        }
    };
    (text, plain)
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App, page: &TasksPage) {
    let data = &app.data;
    let columns = columns(area.width);
    let sort = page.sort;
    let cols = columns
        .iter()
        .map(|column| {
            col(*column, column_title(column.title(), sort.column == *column, sort.descending()))
        })
        .collect();
    let mut rows = Vec::new();
    let mut selected = None;
    for pos in page.list.visible(page.ids.len()) {
        if pos == page.list.selected {
            selected = Some(rows.len());
        }
        let id = page.ids[pos];
        rows.push(columns.iter().map(|column| cell(*column, id, data)).collect());
    }
    let mut title = vec![
        Span::styled(" Tasks ", format::section()),
        // Where the cursor is comes before the scope, which can be long (a path and a wait point).
        Span::raw(format!(
            "{} · {}",
            position(page.list.selected, page.ids.len()),
            page.scope.title()
        )),
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
    if page.building() {
        title.push(Span::styled(" · sorting…", format::dim()));
    }
    let empty = if data.observations == 0 {
        "waiting for data…"
    } else if !data.lists.tasks || page.building() {
        "listing the tasks…"
    } else {
        "no tasks match"
    };
    FitTable { title: Line::from(title), cols, rows, selected, empty }.render(frame, area);
}
