//! The `healthcheck` subcommand: one plain HTTP/1.1 request, for images with no curl.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);

/// Whether `GET http://127.0.0.1:{port}/health` answers `200`.
pub(crate) fn is_healthy(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, TIMEOUT) else {
        return false;
    };
    if stream.set_read_timeout(Some(TIMEOUT)).is_err()
        || stream.set_write_timeout(Some(TIMEOUT)).is_err()
    {
        return false;
    }
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bedrock-sse-healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    // The status line is all that matters: "HTTP/1.1 200 OK".
    let mut head = Vec::with_capacity(64);
    let mut buffer = [0; 64];
    while !head.contains(&b'\n') && head.len() < 1024 {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
    status_is_ok(&head)
}

fn status_is_ok(head: &[u8]) -> bool {
    let line = head.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let mut words = line.split(|&byte| byte == b' ');
    matches!(
        (words.next(), words.next()),
        (Some(version), Some(b"200")) if version.starts_with(b"HTTP/1.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_status_line_is_healthy() {
        assert!(status_is_ok(b"HTTP/1.1 200 OK\r\ncontent-type: x"));
        assert!(status_is_ok(b"HTTP/1.0 200 OK\r\n"));
        assert!(!status_is_ok(b"HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(!status_is_ok(b"HTTP/1.1 2000 OK\r\n"));
        assert!(!status_is_ok(b""));
        assert!(!status_is_ok(b"garbage"));
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(!is_healthy(port));
    }
}
