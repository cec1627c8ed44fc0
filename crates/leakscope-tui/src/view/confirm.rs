//! The task-dump confirmation: what a dump costs and risks, over the current screen, until the
//! user answers (`y` takes it, any other key cancels).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

/// The risk, in two lines: a dump stops the app, and can stop it for good.
pub(crate) const RISK: [&str; 2] = [
    "A task dump pauses every worker of the app while it runs (about 1 s at 100k",
    "tasks) and can wedge a busy runtime for good (tokio-rs/tokio#7478).",
];

pub(crate) fn draw(frame: &mut Frame<'_>, area: Rect) {
    let width = RISK.iter().map(|l| l.chars().count() as u16).max().unwrap_or(0) + 4;
    let width = width.min(area.width);
    let height = (RISK.len() as u16 + 4).min(area.height);
    let popup = super::chrome::centered(area, width, height);
    let mut lines: Vec<Line<'_>> = RISK.iter().map(|l| Line::from(*l)).collect();
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled("y", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" take it · any other key cancels"),
    ]));
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(Style::new().fg(Color::Yellow))
        .title(" take a task dump? ");
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block), popup);
}
