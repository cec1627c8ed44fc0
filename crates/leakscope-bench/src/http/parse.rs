//! A tiny HTTP/1.1 message parser: just enough for keep-alive requests and responses with
//! `Content-Length` bodies (no chunked encoding, no pipelining limits beyond the buffer).

/// Largest header block accepted; beyond it the peer is misbehaving.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// The start of a buffer, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<T> {
    /// A whole message: what it says, and how many bytes of the buffer it took.
    Complete(T, usize),
    /// Not all of it has arrived yet.
    Partial,
    /// Not something this parser accepts; the connection should be closed.
    Invalid(&'static str),
}

/// What the server needs from a request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Request<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    /// The client asked for the connection to be closed after this response.
    pub(crate) close: bool,
}

/// What the client needs from a response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body_len: usize,
}

/// Parses one request from the start of `buf`.
pub(crate) fn request(buf: &[u8]) -> Parsed<Request<'_>> {
    let Some((head, head_len)) = split_head(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Invalid("header too large")
        } else {
            Parsed::Partial
        };
    };
    let mut lines = head.split("\r\n");
    let mut parts = lines.next().unwrap_or("").split(' ');
    let (Some(method), Some(path), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Parsed::Invalid("malformed request line");
    };
    let mut close = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Parsed::Invalid("unsupported HTTP version"),
    };
    if method.is_empty() || !path.starts_with('/') {
        return Parsed::Invalid("malformed request line");
    }
    let headers = match Headers::parse(lines) {
        Ok(headers) => headers,
        Err(reason) => return Parsed::Invalid(reason),
    };
    if let Some(connection) = headers.connection {
        close = connection.eq_ignore_ascii_case("close")
            || (close && !connection.eq_ignore_ascii_case("keep-alive"));
    }
    let total = head_len + headers.content_length;
    if buf.len() < total {
        return Parsed::Partial;
    }
    Parsed::Complete(Request { method, path, close }, total)
}

/// Parses one response from the start of `buf`.
pub(crate) fn response(buf: &[u8]) -> Parsed<Response> {
    let Some((head, head_len)) = split_head(buf) else {
        return if buf.len() > MAX_HEAD {
            Parsed::Invalid("header too large")
        } else {
            Parsed::Partial
        };
    };
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let (Some("HTTP/1.1" | "HTTP/1.0"), Some(code)) = (parts.next(), parts.next()) else {
        return Parsed::Invalid("malformed status line");
    };
    let Ok(status) = code.parse::<u16>() else {
        return Parsed::Invalid("malformed status code");
    };
    let headers = match Headers::parse(lines) {
        Ok(headers) => headers,
        Err(reason) => return Parsed::Invalid(reason),
    };
    let total = head_len + headers.content_length;
    if buf.len() < total {
        return Parsed::Partial;
    }
    Parsed::Complete(Response { status, body_len: headers.content_length }, total)
}

/// The header block as text, and its length including the blank line.
fn split_head(buf: &[u8]) -> Option<(&str, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    // Non-UTF-8 headers are refused as an empty (and so malformed) head.
    Some((std::str::from_utf8(&buf[..end]).unwrap_or(""), end + 4))
}

#[derive(Default)]
struct Headers<'a> {
    content_length: usize,
    connection: Option<&'a str>,
}

impl<'a> Headers<'a> {
    fn parse(lines: impl Iterator<Item = &'a str>) -> Result<Self, &'static str> {
        let mut headers = Headers::default();
        for line in lines {
            let (name, value) = line.split_once(':').ok_or("malformed header")?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                headers.content_length = value.parse().map_err(|_| "malformed content-length")?;
            } else if name.eq_ignore_ascii_case("connection") {
                headers.connection = Some(value);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err("transfer-encoding is not supported");
            }
        }
        Ok(headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_request(input: &str, expected: Parsed<Request<'_>>) {
        assert_eq!(request(input.as_bytes()), expected, "{input:?}");
    }

    fn check_response(input: &str, expected: Parsed<Response>) {
        assert_eq!(response(input.as_bytes()), expected, "{input:?}");
    }

    fn get(path: &str, close: bool) -> Request<'_> {
        Request { method: "GET", path, close }
    }

    #[test]
    fn requests() {
        check_request("GET /a HTTP/1.1\r\nHost: x\r\n\r\n", Parsed::Complete(get("/a", false), 28));
        check_request("GET /a HTTP/1.1\r\n\r\nGET /b", Parsed::Complete(get("/a", false), 19));
        check_request("GET /a HTTP/1.1\r\nHost: x\r\n", Parsed::Partial);
        check_request("", Parsed::Partial);
        check_request("GET /a HTTP/1.0\r\n\r\n", Parsed::Complete(get("/a", true), 19));
        check_request(
            "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Parsed::Complete(get("/a", false), 43),
        );
        check_request(
            "GET /a HTTP/1.1\r\nconnection: Close\r\n\r\n",
            Parsed::Complete(get("/a", true), 38),
        );
        check_request(
            "POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            Parsed::Complete(Request { method: "POST", path: "/p", close: false }, 42),
        );
        check_request("POST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nab", Parsed::Partial);
        check_request("GET /a HTTP/2\r\n\r\n", Parsed::Invalid("unsupported HTTP version"));
        check_request("GET a HTTP/1.1\r\n\r\n", Parsed::Invalid("malformed request line"));
        check_request("GET /a\r\n\r\n", Parsed::Invalid("malformed request line"));
        check_request("GET /a HTTP/1.1\r\nnocolon\r\n\r\n", Parsed::Invalid("malformed header"));
        check_request(
            "GET /a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
            Parsed::Invalid("malformed content-length"),
        );
        check_request(
            "GET /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            Parsed::Invalid("transfer-encoding is not supported"),
        );
        assert_eq!(request(&[b'a'; MAX_HEAD + 1]), Parsed::Invalid("header too large"));
    }

    #[test]
    fn responses() {
        let ok = |body_len| Response { status: 200, body_len };
        check_response(
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            Parsed::Complete(ok(2), 40),
        );
        check_response("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh", Parsed::Partial);
        check_response("HTTP/1.1 200 OK\r\n\r\n", Parsed::Complete(ok(0), 19));
        check_response(
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            Parsed::Complete(Response { status: 404, body_len: 0 }, 45),
        );
        check_response("HTTP/1.1 2x0 OK\r\n\r\n", Parsed::Invalid("malformed status code"));
        check_response("SPDY 200 OK\r\n\r\n", Parsed::Invalid("malformed status line"));
    }
}
