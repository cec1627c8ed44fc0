//! Attach addresses: `host:port` or `http://host:port`, defaulting to tokio-console's port.

use crate::ClientError;
use leakscope_proto::v1::DEFAULT_PORT;
use std::fmt;

/// The address every command uses when none is given.
pub const DEFAULT_ADDR: &str = "127.0.0.1:6669";

/// A parsed attach address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    host: String,
    port: u16,
}

impl Target {
    /// Parses `host:port`, `[v6]:port` or `http://host:port` (a trailing `/` is accepted).
    /// `https` is refused: the agent serves plain gRPC on loopback.
    pub fn parse(input: &str) -> Result<Self, ClientError> {
        let invalid = |reason: &str| ClientError::InvalidAddress {
            input: input.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = input.trim();
        let rest = match trimmed.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(invalid(&format!(
                    "scheme `{scheme}` is not supported, use host:port or http://host:port"
                )));
            }
            None => trimmed,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.is_empty() {
            return Err(invalid("expected host:port"));
        }
        if rest.contains('/') {
            return Err(invalid("expected host:port without a path"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6.split_once(']').ok_or_else(|| invalid("unclosed `[`"))?;
            let port = match after.strip_prefix(':') {
                Some(port) => Some(port),
                None if after.is_empty() => None,
                None => return Err(invalid("expected `:port` after `]`")),
            };
            (host, port)
        } else {
            match rest.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(invalid("write IPv6 addresses as [addr]:port"));
                }
                Some((host, port)) => (host, Some(port)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        let port = match port {
            Some(port) => port.parse::<u16>().map_err(|_| invalid("the port is not a number"))?,
            None => DEFAULT_PORT,
        };
        if port == 0 {
            return Err(invalid("port 0 cannot be attached to"));
        }
        Ok(Target { host: host.to_owned(), port })
    }

    /// The URI tonic connects to.
    pub fn uri(&self) -> String {
        format!("http://{self}")
    }

    /// The host part, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Default for Target {
    fn default() -> Self {
        Target { host: "127.0.0.1".into(), port: DEFAULT_PORT }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for Target {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Result<&str, &str>) {
        match (Target::parse(input), expected) {
            (Ok(target), Ok(display)) => assert_eq!(target.to_string(), display, "{input}"),
            (Err(err), Err(fragment)) => {
                let message = err.to_string();
                assert!(message.contains(fragment), "{input}: {message}");
            }
            (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parses_attach_addresses() {
        check("127.0.0.1:6669", Ok("127.0.0.1:6669"));
        check("http://127.0.0.1:7000", Ok("127.0.0.1:7000"));
        check("http://127.0.0.1:7000/", Ok("127.0.0.1:7000"));
        check("localhost", Ok("localhost:6669"));
        check("[::1]:9000", Ok("[::1]:9000"));
        check("http://[::1]", Ok("[::1]:6669"));
        check(" 127.0.0.2:1 ", Ok("127.0.0.2:1"));
        check("https://127.0.0.1:1", Err("scheme `https` is not supported"));
        check("127.0.0.1:http", Err("the port is not a number"));
        check("127.0.0.1:70000", Err("the port is not a number"));
        check("127.0.0.1:0", Err("port 0"));
        check("", Err("expected host:port"));
        check(":80", Err("the host is empty"));
        check("::1:80", Err("[addr]:port"));
        check("[::1", Err("unclosed"));
        check("host:1/path", Err("without a path"));
        assert_eq!(Target::default().to_string(), DEFAULT_ADDR);
    }
}
