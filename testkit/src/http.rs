//! The HTTP side: the request head (httparse), the WebSocket upgrade's answer, the REST
//! broadcast endpoints and the test-control endpoints.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest request head read.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// The largest REST body read.
pub(crate) const MAX_BODY: usize = 8 * 1024 * 1024;

/// A parsed request head, and the bytes read past it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: HashMap<String, String>,
    /// Header names lower-cased.
    pub(crate) headers: HashMap<String, String>,
    /// Bytes after the head (a body's start, or early WebSocket frames).
    pub(crate) rest: Vec<u8>,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub(crate) fn is_upgrade(&self) -> bool {
        self.header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a request head (at most [`MAX_HEAD`] bytes).
pub(crate) async fn read_head<S: AsyncRead + Unpin>(io: &mut S) -> Option<Request> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = io.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let target = req.path.unwrap_or("/");
                let (path, q) = target.split_once('?').unwrap_or((target, ""));
                let query = q
                    .split('&')
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (k, v) = p.split_once('=').unwrap_or((p, ""));
                        (percent_decode(k), percent_decode(v))
                    })
                    .collect();
                let headers = req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                return Some(Request {
                    method: req.method.unwrap_or("GET").to_string(),
                    path: path.to_string(),
                    query,
                    headers,
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            _ => return None,
        }
    }
}

/// Reads the body the head announces (Content-Length only), up to [`MAX_BODY`].
pub(crate) async fn read_body<S: AsyncRead + Unpin>(io: &mut S, req: &mut Request) -> Result<Vec<u8>, u16> {
    let len: usize = match req.header("content-length") {
        Some(l) => l.trim().parse().map_err(|_| 400u16)?,
        None if req.header("transfer-encoding").is_some() => return Err(411),
        None => 0,
    };
    if len > MAX_BODY {
        return Err(413);
    }
    let mut body = std::mem::take(&mut req.rest);
    body.truncate(len);
    let mut chunk = [0u8; 8192];
    while body.len() < len {
        let n = io.read(&mut chunk).await.map_err(|_| 400u16)?;
        if n == 0 {
            return Err(400);
        }
        let take = n.min(len - body.len());
        body.extend_from_slice(&chunk[..take]);
    }
    Ok(body)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes a complete response and flushes it.
pub(crate) async fn respond<S: AsyncWrite + Unpin>(io: &mut S, status: u16, body: &Value) {
    let body = body.to_string();
    // Any origin may call (a page under test on another port, as the hosted server allows).
    let head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\naccess-control-allow-origin: *\r\nconnection: close\r\n\r\n",
        reason(status),
        body.len()
    );
    // One write, so a client that parses only its first read (as tungstenite does with a
    // refused upgrade) sees the body too.
    let _ = io.write_all(format!("{head}{body}").as_bytes()).await;
    let _ = io.flush().await;
}

/// The answer to a browser's CORS preflight (`OPTIONS`): any origin, the methods and headers
/// the REST endpoints take.
pub(crate) async fn preflight<S: AsyncWrite + Unpin>(io: &mut S) {
    let head = "HTTP/1.1 204 No Content\r\naccess-control-allow-origin: *\r\naccess-control-allow-methods: GET, POST, OPTIONS\r\naccess-control-allow-headers: apikey, authorization, content-type, x-client-info\r\naccess-control-max-age: 600\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let _ = io.write_all(head.as_bytes()).await;
    let _ = io.flush().await;
}

/// The 101 answer to an upgrade with `key`.
pub(crate) fn switching_protocols(key: &str, extensions: Option<&str>) -> String {
    let mut sha = Sha1::new();
    sha.update(key.trim().as_bytes());
    // RFC 6455 section 1.3's GUID (it read `...C5AB0DC11B85` before, so no client accepted the
    // upgrade).
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = STANDARD.encode(sha.finalize());
    let extensions = extensions.map(|e| format!("sec-websocket-extensions: {e}\r\n")).unwrap_or_default();
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n{extensions}\r\n"
    )
}

/// The `{"error": ...}` body of a refused upgrade (spec A.1).
pub(crate) fn error_body(message: &str) -> Value {
    json!({"error": message})
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rfc_6455_accept_example() {
        let answer = super::switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", None);
        assert!(answer.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{answer}");
    }
}
