//! What every screen shares: the header (target, connection, counts), the tab bar, the status
//! line (hints, messages, the filter being typed), the layout of a list screen, and the
//! geometry mouse clicks are resolved against.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use leakscope_analysis::Severity;

use crate::state::{App, Geometry, Mode, Page, Tab};
use crate::view::format;

/// The rows of the screen.
pub(crate) struct Areas {
    pub(crate) header: Rect,
    pub(crate) tabs: Rect,
    pub(crate) body: Rect,
    pub(crate) status: Rect,
}

impl Areas {
    pub(crate) fn new(area: Rect) -> Self {
        let [header, tabs, body, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(0),
            Constraint::Length(1),
        ])
        .areas(area);
        Self { header, tabs, body, status }
    }
}

/// A list screen's list and detail parts (Findings, Resources).
pub(crate) fn split(body: Rect) -> (Rect, Rect) {
    let list = (body.height / 2).max(5).min(body.height);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(list), Constraint::Min(0)]).areas(body);
    (top, bottom)
}

/// Where a page's list rows are: below a title line and a header line.
fn list_rows(area: Rect) -> (u16, u16) {
    (area.y.saturating_add(2), area.height.saturating_sub(2))
}

/// Tab labels and their columns in the tab bar.
fn tab_spans(area: Rect) -> Vec<(u16, u16, Tab)> {
    let mut x = area.x + 1;
    let mut spans = Vec::new();
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        let width = tab_label(i, tab).chars().count() as u16;
        spans.push((x, x + width, tab));
        x += width + 1;
    }
    spans
}

fn tab_label(i: usize, tab: Tab) -> String {
    format!(" {} {} ", i + 1, tab.title())
}

/// Where things are for `app` on a screen of `area`.
pub(crate) fn geometry(area: Rect, app: &App) -> Geometry {
    let areas = Areas::new(area);
    let (list_top, list_height) = match app.page() {
        Page::Groups | Page::Tasks(_) => list_rows(areas.body),
        Page::Findings | Page::Resources => list_rows(split(areas.body).0),
        Page::Overview | Page::Task(_) => (0, 0),
    };
    let scroll_max = match app.page() {
        Page::Task(page) => crate::view::task::scroll_max(app, page, areas.body),
        _ => 0,
    };
    Geometry {
        tab_row: areas.tabs.y,
        tabs: tab_spans(areas.tabs),
        list_top,
        list_height,
        scroll_max,
    }
}

/// The header line: a stalled runtime first, then the connection (it is what changes), then
/// who, then the counts.
pub(crate) fn header(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let data = &app.data;
    let target = &data.target;
    let connected = app.link.is_connected();
    let style = if connected {
        Style::new().fg(Color::Green)
    } else {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    };
    let mut spans =
        vec![Span::styled(" ● ", style), Span::styled(app.link.describe(app.now), style)];
    let mut who = Vec::new();
    if !target.process_name.is_empty() {
        who.push(format!("{} (pid {})", target.process_name, target.pid));
    }
    who.push(app.address.clone());
    spans.push(Span::raw(format!(" · {}", who.join(" · "))));
    if let Some(report) = &data.report {
        spans.push(Span::raw(format!(" · {} tasks", format::count(report.tasks.live))));
        for severity in [Severity::Leak, Severity::Suspect, Severity::Warn] {
            let n = report.findings.iter().filter(|f| f.severity == severity).count();
            if n > 0 {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(
                    format!("{n} {severity}"),
                    format::severity_style(Some(severity)),
                ));
            }
        }
    }
    // A stalled runtime leads the line: while it lasts, nothing below says much about the app.
    let stalled: Vec<String> = data
        .runtimes
        .iter()
        .filter(|r| r.stalled)
        .map(|r| {
            format!(
                "runtime {} heartbeat {:.1}s old",
                r.runtime_id,
                r.heartbeat_age_nanos as f64 / 1e9
            )
        })
        .collect();
    if !stalled.is_empty() {
        spans.insert(
            0,
            Span::styled(
                format!(" STALLED: {} ", stalled.join(", ")),
                Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD),
            ),
        );
    }
    if app.paused {
        spans.insert(
            0,
            Span::styled(
                " PAUSED ",
                Style::new().fg(Color::Black).bg(Color::Yellow).add_modifier(Modifier::BOLD),
            ),
        );
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The tab bar.
pub(crate) fn tabs(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let current = app.tab();
    let mut spans = vec![Span::raw(" ")];
    for (i, tab) in Tab::ALL.into_iter().enumerate() {
        let style = if tab == current {
            Style::new().fg(Color::Black).bg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new()
        };
        spans.push(Span::styled(tab_label(i, tab), style));
        spans.push(Span::raw(" "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
    let brand = Line::from(Span::styled("leakscope ", Style::new().add_modifier(Modifier::BOLD)));
    frame.render_widget(Paragraph::new(brand).alignment(ratatui::layout::Alignment::Right), area);
}

/// Key hints for the current page.
fn hints(app: &App) -> &'static str {
    match app.page() {
        Page::Overview => "Tab screens · Enter groups · d dump · p pause · ? help · q quit",
        Page::Groups => "↑↓ select · Enter tasks · / filter · s/S sort · d dump · ? help · q quit",
        Page::Tasks(_) => "↑↓ select · Enter detail · Esc back · / filter · s/S sort · ? help",
        Page::Task(_) => "↑↓ scroll · Esc back · d dump · f flamegraph · ? help · q quit",
        Page::Findings | Page::Resources => {
            "↑↓ select · Enter tasks · / filter · s/S sort · ? help · q quit"
        }
    }
}

/// The status line: the filter being typed, else a message, else hints.
pub(crate) fn status(frame: &mut Frame<'_>, area: Rect, app: &App) {
    let line = if app.mode == Mode::Filter {
        Line::from(vec![
            Span::styled(" / ", Style::new().fg(Color::Black).bg(Color::Yellow)),
            Span::raw(" "),
            Span::raw(app.filter().unwrap_or("").to_owned()),
            Span::styled("█", Style::new().add_modifier(Modifier::SLOW_BLINK)),
            Span::styled("   Enter keep · Esc clear", format::dim()),
        ])
    } else if let Some(message) = app.message() {
        Line::from(Span::styled(format!(" {message}"), Style::new().fg(Color::Yellow)))
    } else if let Some(reason) = app.link.reason() {
        Line::from(Span::styled(format!(" {reason}"), Style::new().fg(Color::Red)))
    } else {
        Line::from(Span::styled(format!(" {}", hints(app)), format::dim()))
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// A list: a title line, a header, and the visible rows only (built by the caller for
/// `visible`), the selected one highlighted.
pub(crate) struct ListTable<'a> {
    pub(crate) title: Line<'a>,
    pub(crate) columns: Vec<(String, Constraint)>,
    pub(crate) rows: Vec<Row<'a>>,
    /// The selected row's position among `rows`.
    pub(crate) selected: Option<usize>,
    /// Shown when there are no rows.
    pub(crate) empty: &'a str,
}

impl ListTable<'_> {
    pub(crate) fn render(self, frame: &mut Frame<'_>, area: Rect) {
        let [title, table] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(Paragraph::new(self.title), title);
        let empty = self.rows.is_empty();
        let widths: Vec<Constraint> = self.columns.iter().map(|(_, w)| *w).collect();
        let header =
            Row::new(self.columns.into_iter().map(|(t, _)| Cell::from(t))).style(format::header());
        let selected = self.selected;
        let rows =
            self.rows.into_iter().enumerate().map(|(i, row)| {
                if Some(i) == selected { row.style(format::selected()) } else { row }
            });
        frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), table);
        if empty {
            let [_, below] =
                Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(table);
            frame.render_widget(
                Paragraph::new(Span::styled(format!(" {}", self.empty), format::dim())),
                below,
            );
        }
    }
}

/// A column title with the sort arrow when it is the sort column.
pub(crate) fn column_title(title: &str, sorted: bool, descending: bool) -> String {
    match (sorted, descending) {
        (true, true) => format!("{title}↓"),
        (true, false) => format!("{title}↑"),
        (false, _) => title.to_owned(),
    }
}
