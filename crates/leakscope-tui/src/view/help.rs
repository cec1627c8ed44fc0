//! The `?` help: every key, over the current screen, in a box that fits the terminal (80x24
//! included). Descriptions wrap under themselves; when the keys still do not fit, the box
//! scrolls with the arrows and says which lines it shows.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::input::HELP;
use crate::view::{chrome, format, wrap};

/// Where the box goes on `area`, its wrapped lines and how many of them show at once.
struct Placed {
    popup: Rect,
    lines: Vec<Line<'static>>,
    rows: usize,
}

fn layout(area: Rect) -> Placed {
    let width = area.width.saturating_sub(2).min(100);
    let inner = usize::from(width.saturating_sub(2));
    let keys_width = HELP.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let lines: Vec<Line<'static>> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{keys:<keys_width$}  "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    let lines = wrap::wrap(lines, inner);
    // Two borders and the footer line.
    let height = (lines.len() as u16 + 3).min(area.height);
    let rows = usize::from(height.saturating_sub(3));
    let popup = chrome::centered(area, width, height);
    Placed { popup, lines, rows }
}

/// How far the help scrolls on `area` (0 when every key shows).
pub(crate) fn scroll_max(area: Rect) -> u16 {
    let layout = layout(area);
    u16::try_from(layout.lines.len().saturating_sub(layout.rows)).unwrap_or(u16::MAX)
}

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect, scroll: u16) {
    let Placed { popup, lines, rows } = layout(area);
    let total = lines.len();
    let first = usize::from(scroll).min(total.saturating_sub(rows));
    let mut shown: Vec<Line<'static>> = lines.into_iter().skip(first).take(rows).collect();
    let footer = if total > rows {
        format!(
            "↑↓ scroll · lines {}–{} of {total} · Esc or ? closes",
            first + 1,
            (first + rows).min(total)
        )
    } else {
        "Esc or ? closes this help".to_owned()
    };
    shown.push(Line::from(Span::styled(footer, format::dim())));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}
