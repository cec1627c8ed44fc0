//! Drawing: one file per screen, each drawing from the borrowed [`App`]. Nothing here changes
//! state.

mod chrome;
mod confirm;
mod findings;
mod format;
mod groups;
mod help;
mod overview;
mod resources;
mod task;
mod tasks;
mod wrap;

#[cfg(test)]
mod tests;

use ratatui::Frame;

use crate::state::{App, Mode, Page};

pub(crate) use chrome::geometry;

/// Draws the whole screen.
pub(crate) fn draw(frame: &mut Frame<'_>, app: &App) {
    let areas = chrome::Areas::new(frame.area());
    chrome::header(frame, areas.header, app);
    chrome::tabs(frame, areas.tabs, app);
    match app.page() {
        Page::Overview => overview::draw(frame, areas.body, app),
        Page::Groups => groups::draw(frame, areas.body, app),
        Page::Tasks(page) => tasks::draw(frame, areas.body, app, page),
        Page::Task(page) => task::draw(frame, areas.body, app, page),
        Page::Findings => findings::draw(frame, areas.body, app),
        Page::Resources => resources::draw(frame, areas.body, app),
    }
    chrome::status(frame, areas.status, app);
    match app.mode {
        Mode::Help => help::draw(frame, frame.area(), app.help_scroll),
        Mode::ConfirmDump => confirm::draw(frame, frame.area()),
        Mode::Normal | Mode::Filter => {}
    }
}
