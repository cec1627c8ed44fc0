//! The `?` help: every key, over the current screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use crate::input::HELP;
use crate::view::format;

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect) {
    let height = (HELP.len() as u16 + 4).min(area.height);
    let width = area.width.saturating_sub(4).min(96);
    let [_, row, _] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(height), Constraint::Min(0)])
            .areas(area);
    let [_, popup, _] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(width), Constraint::Min(0)])
            .areas(row);
    let keys_width = HELP.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
    let mut lines: Vec<Line<'_>> = HELP
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
    lines.push(Line::from(Span::styled("Esc or ? closes this help", format::dim())));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::default().borders(Borders::ALL).title(" keys ")),
        popup,
    );
}
