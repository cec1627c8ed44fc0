//! The one event type the UI loop reads: input, new data, connection news, time, and signals.

use std::sync::Arc;

use crate::feed::LinkEvent;
use crate::state::Data;

/// Everything that can happen to the UI.
#[derive(Debug)]
pub(crate) enum Event {
    /// A key, mouse or resize event from the terminal.
    Input(crossterm::event::Event),
    /// The engine published new data.
    Data(Arc<Data>),
    /// News about the connection or a dump.
    Link(LinkEvent),
    /// Time passed (status messages expire, retry countdowns move, lists follow the data).
    Tick,
    /// SIGTERM, SIGHUP or SIGINT: leave as if `q` was pressed.
    Terminate,
}
