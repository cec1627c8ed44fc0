//! The little of HTTP/1.x the endpoints need: a request line, its path and query, and the
//! answers, each with a one-line body when it is an error.

use std::fmt::Write as _;

/// What a client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// `HEAD` asks for the headers only.
    pub(crate) head_only: bool,
    /// The path, e.g. `/debug/pprof/tasks`.
    pub(crate) path: String,
    /// Query parameters in order, percent-decoded.
    pub(crate) query: Vec<(String, String)>,
}

impl Request {
    /// The last value of a query parameter (as Go's `FormValue` takes the first; a repeated
    /// parameter is rare enough that either is fine, and the last is what a person appending
    /// `&seconds=5` to a URL means).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An answer: status, content type, extra headers and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

/// Plain text, as the text endpoints and every error answer use.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    /// A text answer.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        Self { status, content_type: TEXT, headers: Vec::new(), body: body.into().into_bytes() }
    }

    /// An error answer: one line, newline-terminated.
    pub(crate) fn error(status: u16, message: impl std::fmt::Display) -> Self {
        Self::text(status, format!("{message}\n"))
    }

    /// A profile download, with the headers Go's `net/http/pprof` sends.
    pub(crate) fn profile(body: Vec<u8>) -> Self {
        Self {
            status: 200,
            content_type: "application/octet-stream",
            headers: vec![
                ("Content-Disposition", "attachment; filename=\"profile\"".to_owned()),
                ("X-Content-Type-Options", "nosniff".to_owned()),
            ],
            body,
        }
    }

    /// The status line and headers; the body follows unless the request was `HEAD`.
    pub(crate) fn head(&self) -> String {
        let mut out = format!("HTTP/1.1 {} {}\r\n", self.status, reason(self.status));
        let _ = write!(out, "Content-Type: {}\r\n", self.content_type);
        let _ = write!(out, "Content-Length: {}\r\n", self.body.len());
        for (name, value) in &self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        out.push_str("Cache-Control: no-store\r\nConnection: close\r\n\r\n");
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Where the request head ends in what was read so far (after the blank line), if it does.
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|at| at + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|at| at + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Parses a request head (request line and headers; only the request line matters). The error
/// is the answer to send.
pub(crate) fn parse(head: &[u8]) -> Result<Request, Response> {
    let bad = |message: &str| Response::error(400, message);
    let text = std::str::from_utf8(head).map_err(|_| bad("bad request: not utf-8"))?;
    let line = text.lines().next().unwrap_or_default().trim_end_matches('\r');
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("bad request line: expected `GET /path HTTP/1.1`"));
    };
    if !version.starts_with("HTTP/1.") {
        if version.starts_with("HTTP/") {
            return Err(Response::error(505, "only HTTP/1.0 and HTTP/1.1 are served"));
        }
        return Err(bad("bad request line: expected `GET /path HTTP/1.1`"));
    }
    let head_only = match method {
        "GET" => false,
        "HEAD" => true,
        _ => {
            let mut response =
                Response::error(405, format_args!("method {method} not allowed: use GET"));
            response.headers.push(("Allow", "GET, HEAD".to_owned()));
            return Err(response);
        }
    };
    // An absolute-form target (`http://host/path`) is allowed by HTTP/1.1; proxies send it.
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |at| &rest[at..]),
        None => target,
    };
    if !target.starts_with('/') {
        return Err(bad("bad request target: expected a path starting with /"));
    }
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode(key)?, decode(value)?))
        })
        .collect::<Result<_, Response>>()?;
    Ok(Request { head_only, path: path.to_owned(), query })
}

/// Percent-decodes a query component (`+` is a space, as in forms).
fn decode(text: &str) -> Result<String, Response> {
    let bad = || Response::error(400, "bad query: invalid percent-encoding");
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed request (path, query, HEAD?) or the status and body of the answer.
    type Expected<'a> = Result<(&'a str, &'a [(&'a str, &'a str)], bool), (u16, &'a str)>;

    fn check(head: &str, expected: Expected<'_>) {
        let got = parse(head.as_bytes());
        match (got, expected) {
            (Ok(request), Ok((path, query, head_only))) => {
                let query: Vec<(String, String)> =
                    query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
                assert_eq!(
                    request,
                    Request { head_only, path: path.to_owned(), query },
                    "{head:?}"
                );
            }
            (Err(response), Err((status, body))) => {
                let text = String::from_utf8(response.body).unwrap();
                assert_eq!((response.status, text.as_str()), (status, body), "{head:?}");
                assert_eq!(text.lines().count(), 1, "one line: {text:?}");
            }
            (got, expected) => panic!("{head:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn request_lines() {
        check("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Ok(("/metrics", &[], false)));
        check("HEAD /metrics HTTP/1.0\r\n\r\n", Ok(("/metrics", &[], true)));
        check(
            "GET /debug/pprof/profile?seconds=5&x HTTP/1.1\r\n\r\n",
            Ok(("/debug/pprof/profile", &[("seconds", "5"), ("x", "")], false)),
        );
        check(
            "GET /debug/pprof/tasks?debug=1&name=a%20b+c#frag HTTP/1.1\n\n",
            Ok(("/debug/pprof/tasks", &[("debug", "1"), ("name", "a b c")], false)),
        );
        check(
            "GET http://h:1/metrics?a=1 HTTP/1.1\r\n\r\n",
            Ok(("/metrics", &[("a", "1")], false)),
        );
        check("GET http://h:1 HTTP/1.1\r\n\r\n", Ok(("/", &[], false)));
        check("POST /metrics HTTP/1.1\r\n\r\n", Err((405, "method POST not allowed: use GET\n")));
        check(
            "GET /metrics HTTP/2.0\r\n\r\n",
            Err((505, "only HTTP/1.0 and HTTP/1.1 are served\n")),
        );
        let bad_line = "bad request line: expected `GET /path HTTP/1.1`\n";
        check("GET /metrics\r\n\r\n", Err((400, bad_line)));
        check("GET /metrics HTTP/1.1 extra\r\n\r\n", Err((400, bad_line)));
        check("\r\n\r\n", Err((400, bad_line)));
        check("GET /metrics SMTP\r\n\r\n", Err((400, bad_line)));
        check(
            "GET metrics HTTP/1.1\r\n\r\n",
            Err((400, "bad request target: expected a path starting with /\n")),
        );
        check("GET /x?a=%zz HTTP/1.1\r\n\r\n", Err((400, "bad query: invalid percent-encoding\n")));
        check("GET /x?a=%2 HTTP/1.1\r\n\r\n", Err((400, "bad query: invalid percent-encoding\n")));
    }

    #[test]
    fn heads_end_at_the_first_blank_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    }

    #[test]
    fn responses_carry_length_and_close() {
        let response = Response::profile(vec![1, 2, 3]);
        let head = response.head();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.contains("Content-Type: application/octet-stream\r\n"), "{head}");
        assert!(head.contains("Content-Length: 3\r\n"), "{head}");
        assert!(head.contains("Content-Disposition: attachment; filename=\"profile\"\r\n"));
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
        assert_eq!(Response::error(404, "not found").body, b"not found\n");
    }
}
