//! The async runtime commands run their network I/O on.

use std::future::Future;

use crate::exit::CliError;

/// Runs `future` to completion on a current-thread runtime: a command talks to one target and
/// prints, so one thread is plenty and keeps the CLI's own footprint small.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    Ok(runtime.block_on(future))
}
