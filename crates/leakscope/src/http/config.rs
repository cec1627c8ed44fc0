//! Settings of the HTTP endpoints: where they listen (nowhere unless asked) and how many spawn
//! locations `/metrics` names.

use crate::Error;
use std::net::SocketAddr;

/// Spawn locations `/metrics` names by default; the rest are summed under `location="other"`.
pub(crate) const DEFAULT_TOP_LOCATIONS: usize = 20;

/// Most spawn locations `/metrics` will name, whatever is asked: each is a series in every
/// scrape, and a Prometheus server pays for each.
pub(crate) const MAX_TOP_LOCATIONS: usize = 1000;

/// What asking for an HTTP address says when the endpoints were left out of the build.
pub(crate) const FEATURE_OFF: Error = Error::Unsupported(
    "LEAKSCOPE_HTTP_BIND (Builder::http_bind) needs leakscope's `http` cargo feature",
);

/// How the HTTP endpoints run; see the crate docs for the environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpConfig {
    /// Where to listen; `None` (the default) serves no HTTP at all.
    pub(crate) bind: Option<SocketAddr>,
    /// Spawn locations named in `/metrics`.
    pub(crate) top_locations: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { bind: None, top_locations: DEFAULT_TOP_LOCATIONS }
    }
}

impl HttpConfig {
    /// Defaults overridden by `LEAKSCOPE_HTTP_BIND` and `LEAKSCOPE_METRICS_TOP_LOCATIONS`.
    pub(crate) fn from_env() -> Result<Self, Error> {
        Self::from_vars(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
    }

    fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let mut config = Self::default();
        if let Some(v) = get("LEAKSCOPE_HTTP_BIND") {
            config.bind = Some(v.parse().map_err(|_| Error::Env {
                var: "LEAKSCOPE_HTTP_BIND",
                value: v.clone(),
                reason: "expected host:port, e.g. 127.0.0.1:6670",
            })?);
        }
        if let Some(v) = get("LEAKSCOPE_METRICS_TOP_LOCATIONS") {
            config.top_locations = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_TOP_LOCATIONS).contains(n))
                .ok_or_else(|| Error::Env {
                    var: "LEAKSCOPE_METRICS_TOP_LOCATIONS",
                    value: v.clone(),
                    reason: "expected a whole number from 1 to 1000",
                })?;
        }
        Ok(config)
    }

    /// The same rule as the gRPC service's: a non-loopback address needs the explicit opt-in,
    /// because neither service authenticates.
    pub(crate) fn check(&self, allow_remote: bool) -> Result<(), Error> {
        if cfg!(not(feature = "http")) && self.bind.is_some() {
            return Err(FEATURE_OFF);
        }
        match self.bind {
            Some(addr) if !allow_remote && !addr.ip().is_loopback() => {
                Err(Error::NotLoopback(addr))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(vars: &[(&str, &str)], expected: Result<(Option<&str>, usize), &str>) {
        let got = HttpConfig::from_vars(|var| {
            vars.iter().find(|(k, _)| *k == var).map(|(_, v)| (*v).to_owned())
        });
        let got = got
            .map(|c| (c.bind.map(|a| a.to_string()), c.top_locations))
            .map_err(|e| e.to_string());
        let expected =
            expected.map(|(bind, top)| (bind.map(str::to_owned), top)).map_err(str::to_owned);
        match (&got, &expected) {
            (Err(got), Err(part)) => assert!(got.contains(part.as_str()), "{got}"),
            _ => assert_eq!(got, expected, "{vars:?}"),
        }
    }

    #[test]
    fn environment_is_parsed_strictly() {
        check(&[], Ok((None, 20)));
        check(&[("LEAKSCOPE_HTTP_BIND", "127.0.0.1:6670")], Ok((Some("127.0.0.1:6670"), 20)));
        check(&[("LEAKSCOPE_HTTP_BIND", "[::1]:0")], Ok((Some("[::1]:0"), 20)));
        check(&[("LEAKSCOPE_METRICS_TOP_LOCATIONS", "5")], Ok((None, 5)));
        check(&[("LEAKSCOPE_HTTP_BIND", "localhost:80")], Err("LEAKSCOPE_HTTP_BIND"));
        check(&[("LEAKSCOPE_HTTP_BIND", "6670")], Err("expected host:port"));
        check(&[("LEAKSCOPE_METRICS_TOP_LOCATIONS", "0")], Err("from 1 to 1000"));
        check(&[("LEAKSCOPE_METRICS_TOP_LOCATIONS", "1001")], Err("from 1 to 1000"));
        check(&[("LEAKSCOPE_METRICS_TOP_LOCATIONS", "many")], Err("from 1 to 1000"));
    }

    #[test]
    #[cfg(not(feature = "http"))]
    fn an_http_address_names_the_missing_feature() {
        let local =
            HttpConfig { bind: Some("127.0.0.1:0".parse().unwrap()), ..HttpConfig::default() };
        let err = local.check(true).unwrap_err().to_string();
        assert!(err.contains("`http` cargo feature"), "{err}");
        assert!(HttpConfig::default().check(false).is_ok());
    }

    #[test]
    #[cfg(feature = "http")]
    fn non_loopback_needs_the_opt_in() {
        let remote =
            HttpConfig { bind: Some("0.0.0.0:0".parse().unwrap()), ..HttpConfig::default() };
        let err = remote.check(false).unwrap_err();
        assert!(matches!(err, Error::NotLoopback(_)), "{err}");
        assert!(remote.check(true).is_ok());
        let local =
            HttpConfig { bind: Some("127.0.0.1:0".parse().unwrap()), ..HttpConfig::default() };
        assert!(local.check(false).is_ok());
        assert!(HttpConfig::default().check(false).is_ok());
    }
}
