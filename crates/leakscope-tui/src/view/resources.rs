//! The Resources screen: locks, semaphores and channels with their holders and waiters, the most
//! waited-on first; below the list, the selected one's waiters.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row};

use leakscope_proto::v1::{Resource, ResourceKind};

use crate::state::Column as _;
use crate::state::{App, ResourceColumn, resource_label};
use crate::view::chrome::{ListTable, column_title, split};
use crate::view::format;

/// A resource's state in a few words.
fn state(resource: &Resource) -> String {
    match ResourceKind::try_from(resource.kind).unwrap_or(ResourceKind::Unspecified) {
        ResourceKind::Mutex | ResourceKind::RwLock if resource.locked => {
            if resource.holder_task_id != 0 {
                format!("held by task {}", resource.holder_task_id)
            } else if resource.readers > 0 {
                format!("{} readers", resource.readers)
            } else {
                "locked".to_owned()
            }
        }
        ResourceKind::Mutex | ResourceKind::RwLock => "free".to_owned(),
        ResourceKind::Semaphore => format!("{} permits", resource.permits),
        ResourceKind::Barrier => {
            format!("{}/{} arrived", resource.barrier_arrived, resource.barrier_size)
        }
        ResourceKind::Oneshot => {
            let flags = [
                (resource.value_sent, "sent"),
                (resource.value_received, "received"),
                (resource.tx_dropped, "tx dropped"),
                (resource.rx_dropped, "rx dropped"),
            ];
            let set: Vec<&str> =
                flags.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect();
            if set.is_empty() { "pending".to_owned() } else { set.join(", ") }
        }
        ResourceKind::Timer => format::nanos(resource.timer_duration_nanos),
        _ => String::new(),
    }
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (top, bottom) = split(area);
    let data = &app.data;
    let view = &app.resources;
    let title_of = |column: ResourceColumn| {
        column_title(column.title(), view.sort.column == column, view.sort.descending())
    };
    let columns = vec![
        (title_of(ResourceColumn::Id), Constraint::Length(6)),
        (title_of(ResourceColumn::Kind), Constraint::Length(15)),
        ("STATE".to_owned(), Constraint::Length(18)),
        (title_of(ResourceColumn::Waiters), Constraint::Length(8)),
        (title_of(ResourceColumn::Oldest), Constraint::Length(7)),
        (title_of(ResourceColumn::Location), Constraint::Min(16)),
    ];
    let location_width = usize::from(top.width.saturating_sub(6 + 15 + 18 + 8 + 7 + 6).max(16));
    let mut rows = Vec::new();
    let mut selected = None;
    for pos in view.list.visible(view.order.len()) {
        let resource = &data.resources[view.order[pos]];
        if pos == view.list.selected {
            selected = Some(rows.len());
        }
        let (waiters, since) = crate::state::waiters(resource.id, &data.waits);
        let oldest = since.map_or(0.0, |s| data.now_nanos.saturating_sub(s) as f64 / 1e9);
        rows.push(Row::new(vec![
            Cell::from(resource.id.to_string()),
            Cell::from(resource_label(resource, &data.waits)),
            Cell::from(format::head(&state(resource), 18)),
            Cell::from(format::count(waiters as u64)),
            Cell::from(format::secs(oldest)),
            Cell::from(format::tail(
                &data.strings.location(resource.location_id).to_string(),
                location_width,
            )),
        ]));
    }
    let mut title = vec![
        Span::styled(" Resources ", format::section()),
        Span::raw(format!(
            "{} of {} · locks, semaphores, channels",
            view.order.len(),
            data.resources.len()
        )),
    ];
    if !view.filter.is_empty() {
        title.push(Span::raw(format!(" · filter \"{}\"", view.filter)));
    }
    ListTable {
        title: Line::from(title),
        columns,
        rows,
        selected,
        empty: "no instrumented resources",
    }
    .render(frame, top);

    let mut lines = Vec::new();
    if let Some(resource) = view.selected().and_then(|i| data.resources.get(i)) {
        let label = resource_label(resource, &data.waits);
        lines.push(Line::from(vec![
            Span::styled(
                format!(" {label} {}", resource.id),
                Style::new().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                " created at {} · {}",
                data.strings.location(resource.location_id),
                state(resource)
            )),
        ]));
        if resource.holder_task_id != 0 {
            lines.push(Line::from(format!("   holder: task {}", resource.holder_task_id)));
        }
        let waits: Vec<_> = data.waits.iter().filter(|w| w.resource_id == resource.id).collect();
        if waits.is_empty() {
            lines.push(Line::from(Span::styled("   no waiters", format::dim())));
        }
        for wait in waits.iter().take(usize::from(bottom.height.saturating_sub(2))) {
            lines.push(Line::from(format!(
                "   task {} waits in {} for {}",
                wait.task_id,
                wait.op,
                format::secs(data.now_nanos.saturating_sub(wait.since_nanos) as f64 / 1e9)
            )));
        }
        if waits.len() > usize::from(bottom.height.saturating_sub(2)) {
            lines.push(Line::from(Span::styled("   … Enter lists them all", format::dim())));
        }
    }
    frame.render_widget(Paragraph::new(lines), bottom);
}
