//! The instrumented side of the `http` workload: each connection a task, each request a little
//! work plus one short spawned task, as a real handler does (a database call, a cache refresh).

use crate::http::parse::{self, Parsed};
use std::io;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections until the task is dropped.
pub(crate) async fn serve(listener: TcpListener) {
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            // A peer that goes away mid-request is not the server's problem.
            let _ = connection(socket).await;
        });
    }
}

async fn connection(mut socket: TcpStream) -> io::Result<()> {
    socket.set_nodelay(true)?;
    let mut buf = Vec::with_capacity(4096);
    let mut out = Vec::with_capacity(512);
    loop {
        // Answer every whole request in the buffer, then write the answers in one go.
        let mut close = false;
        loop {
            match parse::request(&buf) {
                Parsed::Complete(request, len) => {
                    let (status, body) = handle(request.method, request.path).await;
                    write_response(&mut out, status, &body);
                    close = request.close;
                    buf.drain(..len);
                    if close {
                        break;
                    }
                }
                Parsed::Partial => break,
                Parsed::Invalid(reason) => {
                    write_response(&mut out, 400, reason);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            socket.write_all(&out).await?;
            out.clear();
        }
        if close {
            return Ok(());
        }
        if socket.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    }
}

async fn handle(method: &str, path: &str) -> (u16, String) {
    if method != "GET" {
        return (405, "only GET\n".to_owned());
    }
    let key = digest(path.as_bytes());
    // The short task a handler hands work to; its result is part of the answer.
    match tokio::spawn(async move { format!("{{\"item\":\"{key:016x}\",\"ok\":true}}\n") }).await {
        Ok(body) => (200, body),
        Err(_) => (500, "worker task failed\n".to_owned()),
    }
}

/// A little CPU work per request: FNV-1a over the path, a few dozen rounds.
fn digest(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64;
    for round in 0..32u8 {
        for &b in bytes {
            hash ^= u64::from(b ^ round);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

fn write_response(out: &mut Vec<u8>, status: u16, body: &str) {
    use std::io::Write as _;
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_parse_back() {
        let mut out = Vec::new();
        write_response(&mut out, 200, "hello");
        write_response(&mut out, 400, "no");
        let Parsed::Complete(first, len) = parse::response(&out) else { panic!("{out:?}") };
        assert_eq!((first.status, first.body_len), (200, 5));
        let Parsed::Complete(second, _) = parse::response(&out[len..]) else { panic!("{out:?}") };
        assert_eq!((second.status, second.body_len), (400, 2));
    }
}
