//! Configuration and start-up: [`init`], [`try_init`] and [`Builder`].

use crate::Error;
use std::net::{Ipv4Addr, SocketAddr};
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
    pub fn try_init(self) -> Result<AgentHandle, Error> {
        let config = self.config;
        if !config.allow_remote && !config.bind.ip().is_loopback() {
            return Err(Error::NotLoopback(config.bind));
        }
        config.http.check(config.allow_remote)?;
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
pub fn init() {
    if env("LEAKSCOPE_DISABLE").is_some_and(|v| v == "1") {
        return;
    }
    if let Err(err) = try_init() {
        eprintln!("leakscope: {err}; the app continues without it");
    }
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
