//! The leakscope terminal UI: `leakscope attach` (watch a running app's task groups, tasks,
//! findings and resources, live) and `leakscope demo` (the leak zoo with the UI attached).
//!
//! The findings come from [`leakscope_analysis`] and the data from [`leakscope_client`]; this
//! crate only shows them. Its parts:
//!
//! - `state/`: plain data and transitions (no ratatui), tested without a screen;
//! - `view/`: one file per screen, drawing from a borrowed [`App`];
//! - `input.rs`: keys and mouse events to [`Action`]s, pure;
//! - `engine.rs`: the findings model on its own thread, analysis throttled by its cost;
//! - `feed.rs`: the connection, reconnecting with backoff;
//! - `session.rs`: the one loop over one [`Event`](crate::event) type;
//! - `flamegraph.rs`: `f`'s SVG, written into `attach --out-dir`.
//!
//! ```no_run
//! use clap::Parser;
//! use std::process::ExitCode;
//!
//! #[derive(Parser)]
//! enum Command {
//!     Attach(leakscope_tui::AttachArgs),
//!     Demo(leakscope_tui::DemoArgs),
//! }
//!
//! fn main() -> ExitCode {
//!     let result = match Command::parse() {
//!         Command::Attach(args) => {
//!             leakscope_tui::attach(&args, leakscope_analysis::Config::default(), None)
//!                 .map(|()| ExitCode::SUCCESS)
//!         }
//!         Command::Demo(args) => leakscope_tui::demo(&args, None),
//!     };
//!     result.unwrap_or_else(|err| {
//!         eprintln!("leakscope: {err}");
//!         ExitCode::from(2)
//!     })
//! }
//! ```

mod args;
mod attach;
mod bench;
mod demo;
mod engine;
mod event;
mod feed;
mod flamegraph;
mod input;
mod session;
mod state;
mod terminal;
mod view;

#[cfg(test)]
mod fixture;

pub use args::{AttachArgs, DemoArgs};
pub use attach::{AttachError, attach, demo_config};
pub use demo::demo;
pub use flamegraph::flamegraph_writer;

pub use session::{FlamegraphHook, Options};

/// Takes over the terminal as `attach` does, runs `f`, and gives the terminal back, however `f`
/// ends: the end-to-end tests run a panic through it to check the panic path restores the terminal.
///
/// # Errors
///
/// When the terminal cannot be taken over (stdout is not a terminal).
#[doc(hidden)]
pub fn with_screen<T>(f: impl FnOnce() -> T) -> std::io::Result<T> {
    let screen = terminal::Screen::enter()?;
    let out = f();
    drop(screen);
    Ok(out)
}
