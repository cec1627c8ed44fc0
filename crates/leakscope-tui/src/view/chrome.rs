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
/// A `width` x `height` box in the middle of `area` (for the help and confirmation popups).
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [_, row, _] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(height), Constraint::Min(0)])
            .areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(width), Constraint::Min(0)])
            .areas(row);
    popup
}

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
        help_max: crate::view::help::scroll_max(area),
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
    let who_text = format!(" · {}", who.join(" · "));
    spans.push(Span::raw(who_text.clone()));
    if data.observations > 0 {
        // The same figure as the Overview's: the live tasks of the latest update.
        spans.push(Span::raw(format!(" · {}", format::counted(data.live, "live task"))));
    }
    if let Some(report) = &data.report {
        for (severity, noun) in
            [(Severity::Leak, "leak"), (Severity::Suspect, "suspect"), (Severity::Warn, "warning")]
        {
            let n = report.findings.iter().filter(|f| f.severity == severity).count();
            if n > 0 {
                spans.push(Span::raw(" "));
                spans.push(Span::styled(
                    format::counted(n as u64, noun),
                    format::severity_style(Some(severity)),
                ));
            }
        }
        // What the target's build hides, on the same line as `snapshot` prints it; nothing when
        // it hides nothing, to keep the line for what changes.
        if let Some(facts) = report.target.facts.as_ref().filter(|facts| !facts.complete()) {
            spans.push(Span::styled(
                format!(" · {}", facts.summary()),
                Style::new().fg(Color::Yellow),
            ));
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
    // On a narrow screen the counts matter more than the address, which the user typed: it
    // goes before the counts are cut.
    let width: usize = spans.iter().map(Span::width).sum();
    if width > usize::from(area.width)
        && who.len() > 1
        && let Some(span) = spans.iter_mut().find(|s| s.content == who_text)
    {
        *span = Span::raw(format!(" · {}", who[..who.len() - 1].join(" · ")));
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

/// How a cell wider than its column is cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Keep the start, `…` at the end (names, wait points, flags).
    End,
    /// Keep the end, `…` in front (paths: the file and line say the most).
    Start,
}

/// A column of a [`FitTable`]: its width comes from the widest cell of the visible rows.
#[derive(Clone, Debug)]
pub(crate) struct Col {
    /// The header (with the sort arrow).
    pub(crate) title: String,
    /// The narrowest it is cut to when the row does not fit; `None`: never cut (numbers, ids).
    pub(crate) min: Option<u16>,
    /// Which end a cut keeps.
    pub(crate) cut: Cut,
    /// Takes the width the others leave (the spawn location).
    pub(crate) fill: bool,
    /// Left out when no visible row has anything in it (a NAME column of unnamed tasks).
    pub(crate) optional: bool,
}

impl Col {
    /// A number or an id: always whole.
    pub(crate) fn whole(title: String) -> Self {
        Self { title, min: None, cut: Cut::End, fill: false, optional: false }
    }

    /// Text that may be cut at its end down to `min` characters.
    pub(crate) fn text(title: String, min: u16) -> Self {
        Self { title, min: Some(min), cut: Cut::End, fill: false, optional: false }
    }

    /// The path that takes the free width, cut from the left down to `min` when it must.
    pub(crate) fn path(title: String, min: u16) -> Self {
        Self { title, min: Some(min), cut: Cut::Start, fill: true, optional: false }
    }

    /// Left out when empty.
    pub(crate) fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

/// The width of each column (`None`: left out) for `rows` on `width` columns. Every column gets
/// what its content needs; the fill column (the path) gets what is left. Only when that is less
/// than the path's minimum do the other columns give way, the one with the most to spare first,
/// down to their minimum; numbers never do.
pub(crate) fn fit(cols: &[Col], rows: &[Vec<String>], width: u16) -> Vec<Option<u16>> {
    let chars = |text: &str| u16::try_from(text.chars().count()).unwrap_or(u16::MAX);
    let content: Vec<u16> = (0..cols.len())
        .map(|i| rows.iter().filter_map(|row| row.get(i)).map(|t| chars(t)).max().unwrap_or(0))
        .collect();
    let shown: Vec<bool> =
        cols.iter().zip(&content).map(|(col, &w)| !(col.optional && w == 0)).collect();
    let want: Vec<u16> =
        cols.iter().zip(&content).map(|(col, &w)| w.max(chars(&col.title))).collect();
    let floor = |i: usize| cols[i].min.map_or(want[i], |min| min.min(want[i]));
    let count = shown.iter().filter(|s| **s).count() as u16;
    let spacing = count.saturating_sub(1);
    let mut widths: Vec<u16> =
        (0..cols.len()).map(|i| if shown[i] && !cols[i].fill { want[i] } else { 0 }).collect();
    let fill = (0..cols.len()).find(|&i| shown[i] && cols[i].fill);
    let fill_min = fill.map_or(0, floor);
    // In u32: the widths of pathological cells (65,535 characters each) add up past u16.
    let used = |widths: &[u16]| -> u32 {
        widths.iter().map(|w| u32::from(*w)).sum::<u32>() + u32::from(spacing)
    };
    let mut deficit = (used(&widths) + u32::from(fill_min)).saturating_sub(u32::from(width));
    while deficit > 0 {
        let spare = (0..cols.len())
            .filter(|&i| shown[i] && !cols[i].fill)
            .map(|i| (widths[i].saturating_sub(floor(i)), i))
            .max();
        match spare {
            Some((surplus, i)) if surplus > 0 => {
                widths[i] -= 1;
                deficit -= 1;
            }
            _ => break,
        }
    }
    if let Some(i) = fill {
        let left = u32::from(width).saturating_sub(used(&widths));
        widths[i] = u16::try_from(left).unwrap_or(u16::MAX).min(want[i]);
    }
    (0..cols.len()).map(|i| shown[i].then_some(widths[i])).collect()
}

/// A list whose columns are fitted to the visible rows' content ([`fit`]), cells cut to fit.
pub(crate) struct FitTable<'a> {
    /// The title line.
    pub(crate) title: Line<'a>,
    /// The columns.
    pub(crate) cols: Vec<Col>,
    /// The visible rows: each cell's text and style.
    pub(crate) rows: Vec<Vec<(String, Style)>>,
    /// The selected row's position among `rows`.
    pub(crate) selected: Option<usize>,
    /// Shown when there are no rows.
    pub(crate) empty: &'a str,
}

impl FitTable<'_> {
    pub(crate) fn render(self, frame: &mut Frame<'_>, area: Rect) {
        let texts: Vec<Vec<String>> =
            self.rows.iter().map(|row| row.iter().map(|(t, _)| t.clone()).collect()).collect();
        let widths = fit(&self.cols, &texts, area.width);
        let columns = self
            .cols
            .iter()
            .zip(&widths)
            .filter_map(|(col, w)| w.map(|w| (col.title.clone(), Constraint::Length(w))))
            .collect();
        let rows = self
            .rows
            .into_iter()
            .map(|row| {
                let cells: Vec<Cell<'_>> = row
                    .into_iter()
                    .zip(self.cols.iter().zip(&widths))
                    .filter_map(|((text, style), (col, w))| {
                        let w = usize::from((*w)?);
                        let text = match col.cut {
                            Cut::End => format::head(&text, w),
                            Cut::Start => format::tail(&text, w),
                        };
                        Some(Cell::from(text).style(style))
                    })
                    .collect();
                Row::new(cells)
            })
            .collect();
        ListTable { title: self.title, columns, rows, selected: self.selected, empty: self.empty }
            .render(frame, area);
    }
}

/// `row N of M` for a list's title: where the selection is in the whole list.
pub(crate) fn position(selected: usize, len: usize) -> String {
    if len == 0 {
        "0 rows".to_owned()
    } else {
        format!("row {} of {}", format::count(selected as u64 + 1), format::count(len as u64))
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

#[cfg(test)]
mod tests {
    use super::{Col, fit};

    /// `check(columns, rows, width, expected widths)`.
    fn check(cols: &[Col], rows: &[&[&str]], width: u16, expected: &[Option<u16>]) {
        let rows: Vec<Vec<String>> =
            rows.iter().map(|r| r.iter().map(|t| (*t).to_owned()).collect()).collect();
        assert_eq!(fit(cols, &rows, width), expected, "{width}");
    }

    #[test]
    fn columns_get_their_content_before_the_path() {
        let cols = [
            Col::whole("N".into()),
            Col::text("WAITING ON".into(), 10),
            Col::text("NAME".into(), 4).optional(),
            Col::path("SPAWNED AT".into(), 16),
            Col::text("FLAGS".into(), 8),
        ];
        let wait = "unknown (tokio::runtime::task::harness)";
        let flags = "deadlock,uncancelled,growth";
        let path = "crates/leakscope-zoo/src/scenarios/deadlock.rs:40:5";
        let row: &[&str] = &["1,629", wait, "", path, flags];
        // Wide: everything whole, the empty NAME left out, the path whole too.
        check(&cols, &[row], 200, &[Some(5), Some(39), None, Some(51), Some(27)]);
        // Less room: the path gives way first, down to its minimum...
        check(&cols, &[row], 120, &[Some(5), Some(39), None, Some(46), Some(27)]);
        check(&cols, &[row], 90, &[Some(5), Some(39), None, Some(16), Some(27)]);
        // ...then the widest of the others, never the number.
        check(&cols, &[row], 80, &[Some(5), Some(29), None, Some(16), Some(27)]);
        check(&cols, &[row], 40, &[Some(5), Some(10), None, Some(14), Some(8)]);
        // A name shows when a row has one.
        let named: &[&str] = &["1", "sleep", "refresh", "src/a.rs:1:1", "stuck"];
        check(&cols, &[named], 80, &[Some(1), Some(10), Some(7), Some(12), Some(5)]);
        // Absurdly long cells are cut to fit, evenly, without overflowing.
        let huge = "x".repeat(70_000);
        let long: &[&str] = &["1", &huge, &huge, &huge, &huge];
        check(&cols, &[long], 80, &[Some(1), Some(23), Some(16), Some(16), Some(20)]);
    }
}
