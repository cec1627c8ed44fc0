//! Client side of leakscope: parse an attach address, connect, check the protocol version, and
//! read snapshots, update streams and task dumps, from a leakscope agent or (converted) from an
//! app running only console-subscriber ([`Backend::Console`]). The CLI's `snapshot`, `attach`, `gate` and
//! `profile` all connect through here, so every one of them gives the same one-line error for the
//! same bad address.
//!
//! ```no_run
//! # async fn run() -> Result<(), leakscope_client::ClientError> {
//! let target = leakscope_client::Target::parse("127.0.0.1:6669")?;
//! let mut connection = leakscope_client::Connection::connect(&target).await?;
//! let snapshot = connection.snapshot().await?;
//! println!("{} tasks", snapshot.tasks.len());
//! # Ok(())
//! # }
//! ```

mod addr;
mod connection;
mod console;
mod error;

pub use addr::{DEFAULT_ADDR, Target};
pub use connection::{Backend, CONNECT_TIMEOUT, Connection, Updates, whole};
pub use console::CONSOLE_LONG_POLL_THRESHOLD;
pub use error::ClientError;
