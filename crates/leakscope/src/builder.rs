//! Configuration and start-up: [`init`], [`try_init`], [`layer`] and [`Builder`].

use crate::Error;
use crate::adopt::{Adoption, AppSubscriber};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Settings the agent runs with; see the crate docs for the environment variables behind each.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) bind: SocketAddr,
    pub(crate) allow_remote: bool,
    pub(crate) long_poll_threshold: Duration,
    pub(crate) retain_finished_max: usize,
    pub(crate) retain_finished_for: Duration,
    pub(crate) watch_interval: Duration,
    pub(crate) http: crate::http::HttpConfig,
    pub(crate) wait_capture: bool,
    /// How the collector reaches tokio's instrumentation (see `crate::adopt`).
    pub(crate) adoption: crate::adopt::Adoption,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, leakscope_proto::v1::DEFAULT_PORT)),
            allow_remote: false,
            long_poll_threshold: Duration::from_millis(10),
            retain_finished_max: 4096,
            retain_finished_for: Duration::from_secs(60),
            watch_interval: Duration::from_millis(500),
            http: crate::http::HttpConfig::default(),
            wait_capture: true,
            adoption: crate::adopt::Adoption::Global,
        }
    }
}

/// Configures and starts the agent.
///
/// [`Builder::new`] starts from the defaults; [`Builder::from_env`] from the `LEAKSCOPE_*`
/// environment variables, which is what [`init`] uses.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    config: Config,
}

impl Builder {
    /// Defaults, ignoring the environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defaults overridden by the `LEAKSCOPE_*` environment variables.
    pub fn from_env() -> Result<Self, Error> {
        let mut config = Config::default();
        if let Some(v) = env("LEAKSCOPE_BIND") {
            config.bind = v.parse().map_err(|_| Error::Env {
                var: "LEAKSCOPE_BIND",
                value: v.clone(),
                reason: "expected host:port, e.g. 127.0.0.1:6669",
            })?;
        }
        if let Some(v) = env("LEAKSCOPE_ALLOW_REMOTE") {
            config.allow_remote = flag("LEAKSCOPE_ALLOW_REMOTE", &v)?;
        }
        if let Some(v) = env("LEAKSCOPE_LONG_POLL_MS") {
            config.long_poll_threshold =
                Duration::from_millis(number("LEAKSCOPE_LONG_POLL_MS", &v)?);
        }
        if let Some(v) = env("LEAKSCOPE_RETAIN_FINISHED") {
            config.retain_finished_max = number("LEAKSCOPE_RETAIN_FINISHED", &v)? as usize;
        }
        if let Some(v) = env("LEAKSCOPE_RETAIN_SECS") {
            config.retain_finished_for = Duration::from_secs(number("LEAKSCOPE_RETAIN_SECS", &v)?);
        }
        if let Some(v) = env("LEAKSCOPE_WATCH_INTERVAL_MS") {
            let ms = number("LEAKSCOPE_WATCH_INTERVAL_MS", &v)?.max(10);
            config.watch_interval = Duration::from_millis(ms);
        }
        if let Some(v) = env("LEAKSCOPE_WAIT_CAPTURE") {
            config.wait_capture = flag("LEAKSCOPE_WAIT_CAPTURE", &v)?;
        }
        config.http = crate::http::HttpConfig::from_env()?;
        Ok(Self { config })
    }

    /// Address the gRPC service listens on. Port 0 picks a free port; see
    /// [`AgentHandle::local_addr`].
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }

    /// Allow a non-loopback bind address. The service has no authentication: only do this on a
    /// network you trust.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.config.allow_remote = allow;
        self
    }

    /// A poll longer than this is recorded as a long (blocking) poll. Default 10 ms.
    pub fn long_poll_threshold(mut self, threshold: Duration) -> Self {
        self.config.long_poll_threshold = threshold;
        self
    }

    /// Keep at most `max` finished tasks, each for at most `age`. Defaults 4096 and 60 s.
    pub fn retain_finished(mut self, max: usize, age: Duration) -> Self {
        self.config.retain_finished_max = max;
        self.config.retain_finished_for = age;
        self
    }

    /// Period of `Watch` updates. Default 500 ms; at least 10 ms.
    pub fn watch_interval(mut self, interval: Duration) -> Self {
        self.config.watch_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// Capture where every parked task waits, at the moment it parks (a frame-pointer walk of
    /// the polling thread's stack, see docs/ARCHITECTURE.md). Default on; off, wait points come
    /// only from an explicitly requested task dump. Takes effect when the collector is
    /// installed.
    pub fn wait_capture(mut self, on: bool) -> Self {
        self.config.wait_capture = on;
        self
    }

    /// Also serve `/metrics` (Prometheus) and `/debug/pprof/{profile,tasks}` over HTTP on this
    /// address, under the same loopback rule as the gRPC service. Off by default. Port 0 picks a
    /// free port; see [`AgentHandle::http_addr`].
    pub fn http_bind(mut self, addr: SocketAddr) -> Self {
        self.config.http.bind = Some(addr);
        self
    }

    /// How many spawn locations `/metrics` names (those with the most live tasks); the rest are
    /// summed under `location="other"`, so the number of series stays bounded. Default 20, at
    /// most 1000.
    pub fn metrics_top_locations(mut self, n: usize) -> Self {
        self.config.http.top_locations = n.clamp(1, crate::http::MAX_TOP_LOCATIONS);
        self
    }

    /// Install the collector and start serving. Call it before the app spawns the tasks it wants
    /// seen: tasks spawned earlier are counted by the runtime metrics but have no records.
    ///
    /// Called inside a tokio runtime, it registers that runtime (metrics, task dumps); otherwise
    /// call [`register_runtime`](crate::register_runtime) once the runtime exists.
    ///
    /// Fails with [`Error::SubscriberTaken`] when the app already set a global tracing subscriber
    /// (and this mode would set one): give that subscriber to [`Builder::forward_to`] instead, or
    /// put [`layer()`](crate::layer()) in it. [`Builder::init`] then still serves runtime metrics
    /// and says why tasks are missing.
    pub fn try_init(self) -> Result<AgentHandle, Error> {
        let config = self.config;
        if !config.allow_remote && !config.bind.ip().is_loopback() {
            return Err(Error::NotLoopback(config.bind));
        }
        config.http.check(config.allow_remote)?;
        if config.adoption.sets_global() && crate::adopt::foreign_global() {
            if matches!(config.adoption, Adoption::Global) {
                crate::facts::note_foreign_subscriber();
            }
            return Err(Error::SubscriberTaken);
        }
        let (local_addr, http_addr) = crate::server::start(config)?;
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            crate::runtime::register_runtime(&handle);
        }
        Ok(AgentHandle { local_addr, http_addr })
    }

    /// Install the collector without serving: tasks are recorded in this process, and nothing
    /// listens. The in-process leak check ([`testing`](crate::testing), `#[leakscope::test]`)
    /// calls this (from [`Builder::from_env`]) so that tests need no port; call it yourself to
    /// choose the settings first.
    ///
    /// The collector is installed once per process: later calls, with any settings, succeed
    /// without changing it, and a later [`try_init`](Builder::try_init) serves the same records.
    /// Fails with [`Error::SubscriberTaken`] when another global tracing subscriber is set.
    pub fn install_collector(self) -> Result<(), Error> {
        crate::server::install(&self.config)
    }

    /// Carry the app's own subscriber: the agent's subscriber becomes the global one and passes
    /// every span and event that is not tokio's instrumentation to `subscriber`, unchanged and
    /// with the ids `subscriber` gave them, so the app's logs, its current span and
    /// OpenTelemetry work as before. Install nothing else; start with [`Builder::init`] or
    /// [`Builder::try_init`]:
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// use tracing_subscriber::prelude::*;
    ///
    /// let logs = tracing_subscriber::registry().with(tracing_subscriber::fmt::layer());
    /// leakscope::Builder::from_env().unwrap().forward_to(logs).init();
    /// tracing::info!("the app's log lines still print");
    /// # }
    /// ```
    ///
    /// If the agent cannot start, [`Builder::init`] installs `subscriber` on its own, so the app
    /// keeps its logs either way. The collector does not record the app's spans in this mode:
    /// tasks are not labelled with the span they were spawned under (docs/adoption.md).
    pub fn forward_to<S>(mut self, subscriber: S) -> Self
    where
        S: tracing_core::Subscriber + Send + Sync + 'static,
    {
        self.config.adoption = Adoption::Forward(AppSubscriber(Arc::new(subscriber)));
        self
    }

    /// [`Builder::try_init`] that never fails and never stops the app: if the agent cannot
    /// start, one line on stderr says why and the app runs on. The subscriber given to
    /// [`Builder::forward_to`] is installed either way; with `LEAKSCOPE_DISABLE=1` it is
    /// installed alone. When the app set its own subscriber first, the line says what to do
    /// instead and the agent serves runtime metrics only.
    pub fn init(self) {
        let adoption = self.config.adoption.clone();
        if env("LEAKSCOPE_DISABLE").is_some_and(|v| v == "1") {
            if let Adoption::Forward(app) = &adoption {
                app.install_alone();
            }
            return;
        }
        let fallback = self.config.clone();
        match self.try_init() {
            Ok(_) => {}
            Err(Error::SubscriberTaken) if matches!(adoption, Adoption::Global) => {
                eprintln!("leakscope: {}", crate::adopt::FOREIGN_ADVICE);
                // Serve what needs no subscriber (runtime metrics, and the reason tasks are
                // missing); a failure here was said in the line above.
                let config = Config { adoption: Adoption::Off, ..fallback };
                let _ = Builder { config }.try_init();
            }
            Err(err) => {
                eprintln!("leakscope: {err}; the app continues without it");
                if let Adoption::Forward(app) = &adoption {
                    app.install_alone();
                }
            }
        }
    }

    /// The agent as a layer of the app's own subscriber, and its handle. Starts serving now
    /// (the agent's own thread, like `console_subscriber::spawn()`); the layer records once the
    /// app installs its subscriber. See [`layer()`](crate::layer()).
    #[cfg(feature = "layer")]
    pub fn try_layer<S>(
        mut self,
    ) -> Result<(impl tracing_subscriber::Layer<S> + Send + Sync + 'static, AgentHandle), Error>
    where
        S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        self.config.adoption = Adoption::Layer;
        let handle = self.try_init()?;
        Ok((crate::layer::CollectorLayer::installed().filtered(), handle))
    }

    /// [`Builder::try_layer`] that never fails: if the agent cannot start, one line on stderr
    /// says why and the layer records nothing.
    #[cfg(feature = "layer")]
    pub fn layer<S>(self) -> impl tracing_subscriber::Layer<S> + Send + Sync + 'static
    where
        S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        self.collector_layer().filtered()
    }

    #[cfg(feature = "layer")]
    fn collector_layer(mut self) -> crate::layer::CollectorLayer {
        if env("LEAKSCOPE_DISABLE").is_some_and(|v| v == "1") {
            return crate::layer::CollectorLayer::inert();
        }
        self.config.adoption = Adoption::Layer;
        if let Err(err) = self.try_init() {
            eprintln!("leakscope: {err}; the app continues without it");
        }
        // Another start may have installed the collector already: feed it all the same.
        crate::layer::CollectorLayer::installed()
    }
}

/// The running agent.
#[derive(Debug, Clone)]
pub struct AgentHandle {
    local_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
}

impl AgentHandle {
    /// The address the gRPC service is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address the HTTP endpoints are bound to, when they were asked for
    /// ([`Builder::http_bind`], `LEAKSCOPE_HTTP_BIND`).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }
}

/// Start the agent from the environment (see the crate docs). Never panics and never stops the
/// app: if the agent cannot start, one line on stderr says why and the app runs on without it.
///
/// If the app already set its own global tracing subscriber, the line says what to do instead
/// (put [`layer()`](crate::layer()) in it, or hand it to [`Builder::forward_to`]) and the agent
/// serves runtime metrics only.
pub fn init() {
    if env("LEAKSCOPE_DISABLE").is_some_and(|v| v == "1") {
        return;
    }
    match Builder::from_env() {
        Ok(builder) => builder.init(),
        Err(err) => eprintln!("leakscope: {err}; the app continues without it"),
    }
}

/// The agent as a `tracing-subscriber` layer, for apps that build their own subscriber:
///
/// ```no_run
/// # #[tokio::main] async fn main() {
/// use tracing_subscriber::prelude::*;
///
/// tracing_subscriber::registry()
///     .with(leakscope::layer())
///     .with(tracing_subscriber::fmt::layer())
///     .init();
/// # }
/// ```
///
/// Configured from the environment like [`init`]; it starts the agent's server at once (on the
/// agent's own thread) and returns the layer, which records from the moment the subscriber is
/// installed. It never fails: if the agent cannot start, one line on stderr says why and the
/// layer records nothing. [`Builder::try_layer`] returns the error and the bound address.
///
/// The layer filters for itself (per-layer filtering): it takes tokio's instrumentation and the
/// app's spans, never the app's events, and hides nothing from the other layers.
#[cfg(feature = "layer")]
pub fn layer<S>() -> impl tracing_subscriber::Layer<S> + Send + Sync + 'static
where
    S: tracing_core::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    let layer = match Builder::from_env() {
        Ok(builder) => builder.collector_layer(),
        Err(err) => {
            eprintln!("leakscope: {err}; the app continues without it");
            crate::layer::CollectorLayer::inert()
        }
    };
    layer.filtered()
}

/// [`init`], returning the error instead of printing it.
pub fn try_init() -> Result<AgentHandle, Error> {
    Builder::from_env()?.try_init()
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

fn flag(var: &'static str, value: &str) -> Result<bool, Error> {
    match value {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(Error::Env { var, value: value.to_owned(), reason: "expected 1 or 0" }),
    }
}

fn number(var: &'static str, value: &str) -> Result<u64, Error> {
    value.parse().map_err(|_| Error::Env {
        var,
        value: value.to_owned(),
        reason: "expected a whole number",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_numbers_are_parsed_strictly() {
        assert!(flag("X", "1").unwrap());
        assert!(!flag("X", "0").unwrap());
        assert!(flag("X", "maybe").is_err());
        assert_eq!(number("X", "25").unwrap(), 25);
        assert!(number("X", "2.5").is_err());
    }

    #[test]
    fn non_loopback_needs_the_opt_in() {
        let err = Builder::new().bind("0.0.0.0:0".parse().unwrap()).try_init().unwrap_err();
        assert!(matches!(err, Error::NotLoopback(_)), "{err}");
        assert!(err.to_string().contains("LEAKSCOPE_ALLOW_REMOTE"));
    }
}
