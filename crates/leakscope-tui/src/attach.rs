//! `leakscope attach`: check everything that can fail before the screen is taken over (address,
//! terminal, connection: each a one-line error), then run the session.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use leakscope_analysis::Config;
use leakscope_client::{ClientError, Connection, Target};

use crate::args::AttachArgs;
use crate::session::{self, FlamegraphHook, Options};

/// Why attaching failed. Each displays as one line; every one of them means "could not do its
/// job" (the CLI's exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Reaching the target failed (bad address, nothing there, not an agent, wrong protocol).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// stdin or stdout is not a terminal.
    #[error(
        "attach needs an interactive terminal; `leakscope snapshot` prints the same findings for scripts"
    )]
    NoTerminal,
    /// The terminal could not be set up or drawn on.
    #[error("the terminal failed: {0}")]
    Terminal(#[source] std::io::Error),
    /// The async runtime or a thread could not start.
    #[error("failed to start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The demo's zoo did not start.
    #[error("the demo's zoo did not start: {0}")]
    Demo(String),
    /// `--bench-frames` could not measure.
    #[error("failed to measure: {0}")]
    Bench(String),
}

/// The demo's thresholds: the defaults, shortened so the zoo's leaks are reported within a
/// minute of starting (a real app keeps the defaults: a 10-second wait is no leak there).
pub fn demo_config() -> Config {
    let mut config = Config::default();
    config.stuck.threshold = Duration::from_secs(10);
    config.uncancelled.threshold = Duration::from_secs(10);
    config.growth.min_window = Duration::from_secs(15);
    config
}

/// Runs `leakscope attach` on a runtime of its own, until the user quits.
///
/// `f` writes its flame graphs with [`flamegraph_writer`](crate::flamegraph_writer) into
/// `args.out_dir`. The `flamegraph` argument is no longer used (a caller's writer would not know
/// `--out-dir`); it stays so that callers written for the earlier signature still build.
pub fn attach(
    args: &AttachArgs,
    config: Config,
    flamegraph: Option<FlamegraphHook>,
) -> Result<(), AttachError> {
    drop(flamegraph);
    let flamegraph = Some(crate::flamegraph_writer(args.out_dir.clone()));
    let options = Options { config, interval: args.interval, flamegraph };
    runtime()?.block_on(run(&args.addr, options, args.bench_frames, Instant::now()))
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, AttachError> {
    // Two workers: the feed decodes large updates while the screen stays responsive; the
    // engine has a thread of its own.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(AttachError::Runtime)
}

/// Connects to `addr` and runs the UI (or, with `bench_frames`, the measurement).
pub(crate) async fn run(
    addr: &str,
    options: Options,
    bench_frames: Option<u32>,
    started: Instant,
) -> Result<(), AttachError> {
    let target = Target::parse(addr)?;
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if bench_frames.is_none() && !interactive {
        return Err(AttachError::NoTerminal);
    }
    let connection = Connection::connect(&target).await?;
    match bench_frames {
        Some(frames) => crate::bench::run(connection, target, options, frames, started).await,
        None => session::run(connection, target, options).await.map_err(AttachError::Terminal),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::demo_config;

    #[test]
    fn demo_thresholds_are_short_but_sane() {
        let config = demo_config();
        assert_eq!(config.stuck.threshold, Duration::from_secs(10));
        assert_eq!(config.uncancelled.threshold, Duration::from_secs(10));
        assert!(config.validate().is_ok());
    }
}
