//! The command lines of `leakscope attach` and `leakscope demo` (clap `Args`, registered as
//! subcommands by the CLI).

use std::net::SocketAddr;
use std::time::Duration;

use leakscope_client::DEFAULT_ADDR;

fn duration(text: &str) -> Result<Duration, String> {
    leakscope_analysis::parse_duration(text)
}

/// `leakscope attach`'s own flags (the CLI adds the thresholds). Attaching fails before the
/// screen is taken over when the address is wrong, nothing answers there, it is not a leakscope
/// agent or console-subscriber endpoint, or there is no terminal; once attached, a target that
/// goes away is retried until the user quits.
#[derive(Debug, Clone, clap::Args)]
pub struct AttachArgs {
    /// The app's leakscope agent (or console-subscriber) address: host:port or http://host:port.
    #[arg(value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub addr: String,

    /// How often the agent sends updates, e.g. 500ms or 2s (default: the agent's, 500ms).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub interval: Option<Duration>,

    /// Measure instead of showing: draw this many frames off-screen, print JSON timings and the
    /// process's peak memory, and exit (for `cargo xtask bench`).
    #[arg(long, value_name = "N", hide = true)]
    pub bench_frames: Option<u32>,
}

/// `leakscope demo`'s flags. The zoo's workloads run in a child process (this program again,
/// `demo --serve`, with its agent on `--bind`) that stops when the UI quits; findings use
/// [`demo_config`](crate::demo_config)'s short thresholds so they appear within a minute.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Requests per second of each workload.
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate: u32,

    /// Where the zoo's agent listens (port 0 picks a free one).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    pub bind: SocketAddr,

    /// Serve the zoo in this process instead of attaching (how the demo starts its child).
    #[arg(long, hide = true)]
    pub serve: bool,
}
