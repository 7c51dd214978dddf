//! A hand-written Realtime client for the server's integration tests: real loopback TCP (or
//! TLS), tokio-tungstenite for the WebSocket, and the wire formats spelled out by hand (v2
//! arrays, v1 objects, kind-3 pushes, kind-4 deliveries), so the tests check exactly the bytes a
//! client gets.

// Each test binary uses a different part of this module.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderName;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How long any expected frame may take. Generous: the machine is shared.
pub const WAIT: Duration = Duration::from_secs(10);

/// Any byte stream a WebSocket can run over (plain TCP or TLS).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What the client read next.
#[derive(Debug)]
pub enum Got {
    /// A text frame, parsed as JSON.
    Json(Value),
    /// A binary frame.
    Binary(Vec<u8>),
    /// A close frame (then the stream ends).
    Close(Option<CloseFrame>),
    /// The stream ended without a close frame: the error, or `None` for a plain end.
    End(Option<String>),
}

/// A connected client socket.
pub struct Client {
    ws: WebSocketStream<Box<dyn Io>>,
    next_ref: u64,
}

/// The URL of the socket endpoint of `server` with `query` (such as `vsn=2.0.0`).
pub fn ws_url(base: &str, query: &str) -> String {
    format!("{base}/websocket?{query}")
}

/// A refused upgrade: its HTTP status.
#[derive(Debug)]
pub struct Refused(pub u16);

impl Client {
    /// Connects over plain TCP to `url` with extra headers; a refused upgrade is `Err(status)`.
    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Self, Refused> {
        let mut req = url.into_client_request().expect("a valid URL");
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.as_bytes()).expect("a valid header name");
            req.headers_mut().insert(name, v.parse().expect("a valid header value"));
        }
        let host = req.uri().authority().expect("an authority").as_str().to_string();
        let tcp = TcpStream::connect(host).await.expect("TCP connect");
        Self::handshake(req, Box::new(tcp)).await
    }

    /// The WebSocket handshake over an already open stream.
    pub async fn handshake(
        req: tokio_tungstenite::tungstenite::handshake::client::Request,
        io: Box<dyn Io>,
    ) -> Result<Self, Refused> {
        match tokio::time::timeout(WAIT, tokio_tungstenite::client_async(req, io)).await {
            Ok(Ok((ws, _))) => Ok(Self { ws, next_ref: 100 }),
            Ok(Err(WsError::Http(resp))) => Err(Refused(resp.status().as_u16())),
            Ok(Err(e)) => panic!("handshake failed: {e}"),
            Err(_) => panic!("handshake timed out"),
        }
    }

    /// Connects to `url` (which must be accepted).
    pub async fn connect(url: &str) -> Self {
        match Self::try_connect(url, &[]).await {
            Ok(c) => c,
            Err(Refused(s)) => panic!("refused with {s}: {url}"),
        }
    }

    /// A v2 socket on the server at `base` (`Server::url()`).
    pub async fn v2(base: &str) -> Self {
        Self::connect(&ws_url(base, "vsn=2.0.0")).await
    }

    /// A socket on the server at `base` with this query.
    pub async fn at(base: &str, query: &str) -> Self {
        Self::connect(&ws_url(base, query)).await
    }

    /// A v1 socket on the server at `base`.
    pub async fn v1(base: &str) -> Self {
        Self::connect(&ws_url(base, "vsn=1.0.0")).await
    }

    /// A fresh ref.
    pub fn make_ref(&mut self) -> String {
        self.next_ref += 1;
        self.next_ref.to_string()
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Sends a JSON value as a text frame (v1 object or v2 array, as given).
    pub async fn send_json(&mut self, v: Value) {
        self.send_text(v.to_string()).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::binary(bytes)).await.expect("send");
    }

    /// Sends a close frame.
    pub async fn close(&mut self) {
        let _ = self.ws.close(None).await;
    }

    /// The next frame, or how the stream ended; pings and pongs are skipped. Panics after
    /// [`WAIT`].
    pub async fn recv(&mut self) -> Got {
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next()).await.expect("a frame in time");
            return match next {
                None => Got::End(None),
                Some(Err(e)) => Got::End(Some(e.to_string())),
                Some(Ok(Message::Text(t))) => Got::Json(
                    serde_json::from_str(t.as_str()).unwrap_or_else(|_| json!({"unparsed": t.as_str()})),
                ),
                Some(Ok(Message::Binary(b))) => Got::Binary(b.to_vec()),
                Some(Ok(Message::Close(f))) => Got::Close(f),
                Some(Ok(_)) => continue,
            };
        }
    }

    /// The next frame, which must be JSON text.
    pub async fn json(&mut self) -> Value {
        match self.recv().await {
            Got::Json(v) => v,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// The next frame, which must be binary.
    pub async fn binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            Got::Binary(b) => b,
            other => panic!("expected a binary frame, got {other:?}"),
        }
    }

    /// The next frame, which must be a close frame: its code and reason.
    pub async fn close_frame(&mut self) -> (u16, String) {
        match self.recv().await {
            Got::Close(Some(f)) => (u16::from(f.code), f.reason.to_string()),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }

    /// Sends a v2 frame.
    pub async fn push2(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        self.send_json(json!([join_ref, msg_ref, topic, event, payload])).await;
    }

    /// Joins `topic` on a v2 socket with `payload`; the join ref (= its ref) and the reply.
    pub async fn join2(&mut self, topic: &str, payload: Value) -> (String, Value) {
        let r = self.make_ref();
        self.push2(Some(&r), Some(&r), topic, "phx_join", payload).await;
        let reply = self.json().await;
        (r, reply)
    }

    /// Joins and asserts the ok reply with no postgres bindings; the join ref.
    pub async fn join_ok(&mut self, topic: &str, config: Value) -> String {
        let (r, reply) = self.join2(topic, json!({"config": config})).await;
        assert_eq!(
            reply,
            json!([r, r, topic, "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}])
        );
        r
    }

    /// Joins with a whole join payload and asserts the ok reply with no postgres bindings; the
    /// join ref.
    pub async fn join_ok_with(&mut self, topic: &str, payload: Value) -> String {
        let (r, reply) = self.join2(topic, payload).await;
        assert_eq!(
            reply,
            json!([r, r, topic, "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}])
        );
        r
    }

    /// Sends a heartbeat (v2) and returns every frame that arrived before its reply (which is
    /// checked). The server answers a socket's frames in order and queues fan-out before it
    /// replies, so an empty result proves nothing else was pending.
    pub async fn sync2(&mut self) -> Vec<Got> {
        let r = self.make_ref();
        self.push2(None, Some(&r), "phoenix", "heartbeat", json!({})).await;
        let want = json!([null, r, "phoenix", "phx_reply", {"status": "ok", "response": {}}]);
        let mut before = Vec::new();
        loop {
            match self.recv().await {
                Got::Json(v) if v == want => return before,
                Got::End(e) => panic!("socket ended during sync: {e:?}"),
                other => before.push(other),
            }
        }
    }

    /// As [`Client::sync2`] for a v1 socket.
    pub async fn sync1(&mut self) -> Vec<Got> {
        let r = self.make_ref();
        self.send_json(json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": r})).await;
        let want = json!({"topic": "phoenix", "event": "phx_reply", "ref": r, "payload": {"status": "ok", "response": {}}});
        let mut before = Vec::new();
        loop {
            match self.recv().await {
                Got::Json(v) if v == want => return before,
                Got::End(e) => panic!("socket ended during sync: {e:?}"),
                other => before.push(other),
            }
        }
    }

    /// Asserts nothing is pending (v2).
    pub async fn quiet2(&mut self) {
        let pending = self.sync2().await;
        assert!(pending.is_empty(), "unexpected frames: {pending:?}");
    }

    /// Asserts nothing is pending (v1).
    pub async fn quiet1(&mut self) {
        let pending = self.sync1().await;
        assert!(pending.is_empty(), "unexpected frames: {pending:?}");
    }

    /// Reads until the stream ends; panics on any frame in between.
    pub async fn expect_end(&mut self) -> Got {
        match self.recv().await {
            end @ (Got::End(_) | Got::Close(_)) => end,
            other => panic!("expected the end, got {other:?}"),
        }
    }
}

/// The first four elements of a v2 frame: `[join_ref, ref, topic, event]`.
pub fn head(frame: &Value) -> Value {
    Value::Array(frame.as_array().expect("a v2 array")[..4].to_vec())
}

/// A kind-3 user broadcast push (spec A.4): `encoding` 0 = binary, 1 = JSON.
pub fn kind3(
    join_ref: &str,
    msg_ref: &str,
    topic: &str,
    event: &str,
    meta: &str,
    encoding: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut out = vec![3];
    for f in [join_ref, msg_ref, topic, event, meta] {
        out.push(u8::try_from(f.len()).expect("a field of at most 255 bytes"));
    }
    out.push(encoding);
    for f in [join_ref, msg_ref, topic, event, meta] {
        out.extend_from_slice(f.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// A kind-4 user broadcast (spec A.4), built by hand for comparing.
pub fn kind4(topic: &str, event: &str, meta: &str, encoding: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![4];
    for f in [topic, event, meta] {
        out.push(u8::try_from(f.len()).expect("a field of at most 255 bytes"));
    }
    out.push(encoding);
    for f in [topic, event, meta] {
        out.extend_from_slice(f.as_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// An HTTP response: status and body bytes.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields, as sent.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("JSON body: {:?}", String::from_utf8_lossy(&self.body)))
    }
}

/// One HTTP/1.1 request by hand over a fresh connection; the server closes after answering,
/// so the response is read to the end.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut tcp = TcpStream::connect(addr).await.expect("TCP connect");
    let mut head =
        format!("{method} {target} HTTP/1.1\r\nhost: {addr}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    tcp.write_all(head.as_bytes()).await.expect("write");
    tcp.write_all(body).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut raw)).await.expect("a response in time").expect("read");
    parse_response(&raw)
}

/// A raw upgrade request by hand (to read a refusal's body to the end).
pub async fn raw_upgrade(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> Response {
    let mut all = vec![
        ("upgrade", "websocket"),
        ("connection", "Upgrade"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-version", "13"),
    ];
    all.extend_from_slice(headers);
    http(addr, "GET", target, &all, b"").await
}

fn parse_response(raw: &[u8]) -> Response {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = resp.parse(raw).expect("an HTTP response") else {
        panic!("a partial response: {:?}", String::from_utf8_lossy(raw));
    };
    let headers = resp
        .headers
        .iter()
        .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    Response { status: resp.code.expect("a status"), headers, body: raw[len..].to_vec() }
}

/// Waits until `f` holds, checking every 10 ms, for at most [`WAIT`].
pub async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
