//! The Resources screen: locks, semaphores and channels with their holders and waiters, the most
//! waited-on first; below the list, the selected one's waiters.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use leakscope_proto::v1::{Resource, ResourceKind};

use crate::state::Column as _;
use crate::state::{App, ResourceColumn, resource_kind_label};
use crate::view::chrome::{Col, FitTable, column_title, position, split};
use crate::view::format;

/// A resource's state in a few words.
fn state(resource: &Resource) -> String {
    match ResourceKind::try_from(resource.kind).unwrap_or(ResourceKind::Unspecified) {
        ResourceKind::Mutex | ResourceKind::RwLock if resource.locked => {
            if resource.holder_task_id != 0 {
                format!("held by task {}", resource.holder_task_id)
            } else if resource.readers > 0 {
                format::counted(resource.readers, "reader")
            } else {
                "locked".to_owned()
            }
        }
        ResourceKind::Mutex | ResourceKind::RwLock => "free".to_owned(),
        ResourceKind::Semaphore => match u64::try_from(resource.permits) {
            Ok(permits) => format::counted(permits, "permit"),
            Err(_) => format!("{} permits", resource.permits),
        },
        ResourceKind::Barrier => {
            format!(
                "{}/{} arrived",
                format::count(resource.barrier_arrived),
                format::count(resource.barrier_size)
            )
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

/// The resources by kind, most numerous first: `1,200 timers, 3 Mutexes, 1 mpsc channel`.
fn kinds(app: &App) -> String {
    let parts: Vec<String> =
        app.resource_kinds.iter().map(|(label, n)| format::counted(*n, label)).collect();
    if parts.is_empty() { "none".to_owned() } else { parts.join(", ") }
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let (top, bottom) = split(area);
    // The list's places are in the publication it was built from, which it reads alone.
    let data = &app.resource_data;
    let view = &app.resources;
    let title_of = |column: ResourceColumn| {
        column_title(column.title(), view.sort.column == column, view.sort.descending())
    };
    // Ids are whole: tokio's are 64-bit numbers, and a cut one names nothing.
    let cols = vec![
        Col::whole(title_of(ResourceColumn::Id)),
        Col::text(title_of(ResourceColumn::Kind), 8),
        Col::text("STATE".to_owned(), 8),
        Col::whole(title_of(ResourceColumn::Waiters)),
        Col::whole(title_of(ResourceColumn::Oldest)),
        Col::path(title_of(ResourceColumn::Location), 16),
    ];
    let plain = Style::new();
    let mut rows = Vec::new();
    let mut selected = None;
    for pos in view.list.visible(view.order.len()) {
        let resource = &data.resources[view.order[pos]];
        if pos == view.list.selected {
            selected = Some(rows.len());
        }
        let stats = app.resource_stats.get(view.order[pos]).copied().unwrap_or_default();
        let oldest =
            stats.earliest().map_or(0.0, |s| data.now_nanos.saturating_sub(s) as f64 / 1e9);
        rows.push(vec![
            (resource.id.to_string(), plain),
            (resource_kind_label(resource, stats.acquired).to_owned(), plain),
            (state(resource), plain),
            (format::count(u64::from(stats.waiters)), plain),
            (format::secs(oldest), plain),
            (data.strings.location(resource.location_id).to_string(), plain),
        ]);
    }
    // Timers are resources too: the title says what is listed, by kind.
    let mut title = vec![
        Span::styled(" Resources ", format::section()),
        Span::raw(format!(
            "{} of {} · {} · {}",
            format::count(view.order.len() as u64),
            format::count(data.resources.len() as u64),
            kinds(app),
            position(view.list.selected, view.order.len())
        )),
    ];
    if !view.filter.is_empty() {
        title.push(Span::raw(format!(" · filter \"{}\"", view.filter)));
    }
    if app.resources_building() {
        title.push(Span::styled(" · sorting…", format::dim()));
    }
    let empty =
        if data.lists.resources { "no instrumented resources" } else { "listing the resources…" };
    FitTable { title: Line::from(title), cols, rows, selected, empty }.render(frame, top);

    let mut lines = Vec::new();
    if let Some((resource, stats)) = view
        .selected()
        .and_then(|i| Some((data.resources.get(i)?, app.resource_stats.get(i).copied()?)))
    {
        let label = resource_kind_label(resource, stats.acquired);
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
            // No operation name on a oneshot or a timer: the kind in the title says it.
            let op = if wait.op.is_empty() { String::new() } else { format!(" in {}", wait.op) };
            lines.push(Line::from(format!(
                "   task {} waits{op} for {}",
                wait.task_id,
                format::secs(data.now_nanos.saturating_sub(wait.since_nanos) as f64 / 1e9)
            )));
        }
        if waits.len() > usize::from(bottom.height.saturating_sub(2)) {
            lines.push(Line::from(Span::styled("   … Enter lists them all", format::dim())));
        }
    }
    frame.render_widget(Paragraph::new(lines), bottom);
}
