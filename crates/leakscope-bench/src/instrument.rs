//! Installing each mode's instrumentation the way an app adopts it: first thing, inside the
//! runtime.

use crate::cli::Mode;
use anyhow::Context as _;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// Where the installed instrumentation can be asked what it sees.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Installed {
    /// The leakscope agent's gRPC address.
    pub(crate) agent: Option<SocketAddr>,
    /// Where console-api's `Instrument` service is served (console-subscriber's own server, or
    /// the agent's port with leakscope's `console` feature).
    pub(crate) console: Option<SocketAddr>,
}

/// A mode this build cannot run (exit code 3).
#[derive(Debug)]
pub(crate) struct Unavailable(pub(crate) &'static str);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Unavailable {}

/// Installs `mode`'s instrumentation. Must run inside the runtime the workload uses.
pub(crate) fn install(mode: Mode) -> anyhow::Result<Installed> {
    match mode {
        Mode::Plain => Ok(Installed::default()),
        Mode::Console => install_console(),
        Mode::Leakscope => install_leakscope(true),
        Mode::LeakscopeNoCapture => install_leakscope(false),
        Mode::LeakscopeConsole => {
            if cfg!(feature = "leakscope-console") {
                // The feature serves console-api's `Instrument` on the agent's own port.
                let installed = install_leakscope(true)?;
                Ok(Installed { console: installed.agent, ..installed })
            } else {
                Err(Unavailable(
                    "mode leakscope-console needs leakscope-bench's `leakscope-console` feature",
                )
                .into())
            }
        }
        Mode::LeakscopeLayer => install_leakscope_layer(),
        Mode::LeakscopeForward => install_leakscope_forward(),
    }
}

/// The app's own logging: fmt, enabled for INFO and above (so the app's INFO events are
/// formatted), writing to a sink so that terminal I/O is not what is measured.
fn app_logs<S>() -> impl tracing_subscriber::Layer<S> + Send + Sync + 'static
where
    S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer as _;
    tracing_subscriber::fmt::layer()
        .with_writer(std::io::sink)
        .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
}

/// `leakscope::layer()`'s form, with the agent's settings fixed as in [`install_leakscope`].
fn install_leakscope_layer() -> anyhow::Result<Installed> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let (layer, agent) = leakscope::Builder::new()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .try_layer()
        .context("failed to start the leakscope agent as a layer")?;
    tracing_subscriber::registry()
        .with(layer)
        .with(app_logs())
        .try_init()
        .context("failed to install the app's subscriber")?;
    Ok(Installed { agent: Some(agent.local_addr()), console: None })
}

/// `Builder::forward_to`'s form: the agent's subscriber carrying the app's fmt subscriber.
fn install_leakscope_forward() -> anyhow::Result<Installed> {
    use tracing_subscriber::layer::SubscriberExt as _;

    let app = tracing_subscriber::registry().with(app_logs());
    let agent = leakscope::Builder::new()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .forward_to(app)
        .try_init()
        .context("failed to start the leakscope agent forwarding to the app's subscriber")?;
    Ok(Installed { agent: Some(agent.local_addr()), console: None })
}

/// The agent with every collection at its default (`Builder::new` ignores the `LEAKSCOPE_*`
/// environment, so nothing outside the run can change what is measured), the wait capture on or
/// off.
fn install_leakscope(wait_capture: bool) -> anyhow::Result<Installed> {
    let agent = leakscope::Builder::new()
        .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .wait_capture(wait_capture)
        .try_init()
        .context("failed to start the leakscope agent")?;
    Ok(Installed { agent: Some(agent.local_addr()), console: None })
}

/// console-subscriber as its docs compose it: `ConsoleLayer` (with its own server thread) on a
/// `tracing-subscriber` registry, all settings at their defaults but the address.
fn install_console() -> anyhow::Result<Installed> {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let addr = free_loopback_addr()?;
    let layer = console_subscriber::ConsoleLayer::builder().server_addr(addr).spawn();
    tracing_subscriber::registry()
        .with(layer)
        .try_init()
        .context("failed to install console-subscriber as the global subscriber")?;
    Ok(Installed { agent: None, console: Some(addr) })
}

/// A loopback port free right now. console-subscriber binds on its own thread and does not tell
/// which port it got, so it cannot be given port 0; the window in which another process could take
/// the port is tiny and would only fail this one measurement.
fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .context("failed to find a free loopback port")?;
    Ok(listener.local_addr()?)
}
