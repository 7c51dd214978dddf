//! The server: a listener (plain or TLS), HTTP routing, one task per WebSocket, and the handle
//! tests hold to start, inspect, break and stop it.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::config::Config;
use crate::http::{self, Request};
use crate::hub::{After, Hub, JoinFault, Observed, Out, RestMessage};
use crate::postgres::RowChange;
use crate::wire::{self, Data, Frame, UserBroadcast, Vsn};

/// A running server. Dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    hub: Arc<Hub>,
    tls: Option<(TlsAcceptor, String)>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// A stream that yields some already-read bytes first (what followed the upgrade request).
struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn tls_acceptor() -> io::Result<(TlsAcceptor, String)> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(io::Error::other)?;
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .map_err(io::Error::other)?;
    Ok((TlsAcceptor::from(Arc::new(config)), pem))
}

impl Server {
    /// Starts on `127.0.0.1` on a free port.
    pub async fn start(config: Config) -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts on `addr` (port 0 picks a free one).
    pub async fn start_on(addr: SocketAddr, config: Config) -> io::Result<Self> {
        let tls = if config.tls { Some(tls_acceptor()?) } else { None };
        let hub = Arc::new(Hub::new(config));
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task =
            tokio::spawn(accept_loop(listener, hub.clone(), tls.as_ref().map(|t| t.0.clone()), stopped));
        Ok(Self { addr, hub, tls, stop, task: Some(task) })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Realtime URL clients are given: `ws://127.0.0.1:<port>/realtime/v1` (`wss` with TLS);
    /// they append `/websocket`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/realtime/v1", self.addr)
    }

    /// The URL a plain Phoenix client is given in the Phoenix mode: `ws://127.0.0.1:<port>/socket`
    /// (an Elixir app's `socket "/socket", ...`); it appends `/websocket`.
    pub fn socket_url(&self) -> String {
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        format!("{scheme}://{}/socket", self.addr)
    }

    /// The HTTP base of the REST endpoints: `http://127.0.0.1:<port>/realtime/v1`.
    pub fn http_url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}/realtime/v1", self.addr)
    }

    /// With TLS: the generated certificate (PEM), for clients to trust.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.1.as_str())
    }

    /// Every frame clients sent, in order (the last 10,000).
    pub fn observed(&self) -> Vec<Observed> {
        self.hub.observed()
    }

    /// Connections that agreed to permessage-deflate since the server started
    /// ([`Config::deflate`](crate::config::Config::deflate)).
    pub fn deflated_connections(&self) -> usize {
        self.hub.deflated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sockets connected now.
    pub fn connections(&self) -> usize {
        self.hub.socket_count()
    }

    /// Drops every connection at once, without a close frame (a network loss); returns how many.
    pub fn drop_all_connections(&self) -> usize {
        self.hub.end_all(None)
    }

    /// Closes every connection with this close code and reason.
    pub fn close_all(&self, code: u16, reason: &str) -> usize {
        self.hub.end_all(Some((code, reason.to_string())))
    }

    /// Answers heartbeats (the default) or stops answering them.
    pub fn set_heartbeat_replies(&self, on: bool) {
        self.hub.set_heartbeat_replies(on);
    }

    /// How joins are answered from now on.
    pub fn set_join_fault(&self, fault: JoinFault) {
        self.hub.set_join_fault(fault);
    }

    /// Refuses new connections (503) for this long.
    pub fn refuse_connections_for(&self, d: Duration) {
        self.hub.refuse_for(d);
    }

    /// Sends `phx_error` to every channel on the sub-topic `topic` (its process "crashed").
    pub fn crash_channel(&self, topic: &str) -> usize {
        self.hub.channel_event(topic, "phx_error")
    }

    /// Sends `phx_close` to every channel on the sub-topic `topic`.
    pub fn close_channel(&self, topic: &str) -> usize {
        self.hub.channel_event(topic, "phx_close")
    }

    /// Sends every socket a text frame that no serializer reads.
    pub fn send_malformed(&self) {
        self.hub.send_malformed(Frame::Text("{not json".into()));
    }

    /// Emits a row change to the channels whose bindings match; returns how many got it.
    pub fn emit_change(&self, change: &RowChange) -> usize {
        self.hub.emit_change(change)
    }

    /// Stops and starts again on the same port: every connection drops and all state (channels,
    /// presence) is gone, as after a server restart.
    pub async fn restart(&mut self) -> io::Result<()> {
        self.shutdown().await;
        self.hub.forget_sockets();
        let listener = bind_again(self.addr).await?;
        let (stop, stopped) = watch::channel(false);
        self.stop = stop;
        let tls = self.tls.as_ref().map(|t| t.0.clone());
        self.task = Some(tokio::spawn(accept_loop(listener, self.hub.clone(), tls, stopped)));
        Ok(())
    }

    async fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        self.hub.end_all(None);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops: the listener closes and every connection drops.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.hub.end_all(None);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Binds `addr` again, retrying briefly while the old socket lingers.
async fn bind_again(addr: SocketAddr) -> io::Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(last.unwrap_or_else(|| io::Error::other("bind failed")))
}

async fn accept_loop(
    listener: TcpListener,
    hub: Arc<Hub>,
    tls: Option<TlsAcceptor>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let hub = hub.clone();
                let tls = tls.clone();
                let stopped = stopped.clone();
                tasks.spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, hub, stopped).await;
                            }
                        }
                        None => serve(tcp, hub, stopped).await,
                    }
                });
            }
        }
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    // The connections end with the listener (a stop or restart).
    tasks.shutdown().await;
}

async fn serve<S>(mut io: S, hub: Arc<Hub>, stopped: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some(mut req) = http::read_head(&mut io).await else { return };
    let path = req.path.trim_end_matches('/').to_string();
    let ws_path = matches!(path.as_str(), "/realtime/v1/websocket" | "/socket/websocket" | "/websocket");
    if ws_path && req.is_upgrade() {
        upgrade(io, req, hub, stopped).await;
        return;
    }
    let api = path.strip_prefix("/realtime/v1").unwrap_or(&path).to_string();
    if req.method == "OPTIONS" {
        http::preflight(&mut io).await;
    } else if let Some(rest) = api.strip_prefix("/api/broadcast") {
        rest_broadcast(&mut io, &mut req, &hub, rest).await;
    } else if let Some(what) = api.strip_prefix("/testkit/") {
        control(&mut io, &mut req, &hub, what).await;
    } else {
        http::respond(&mut io, 404, &json!({"message": "Not Found"})).await;
    }
}

async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, hub: &Hub, status: u16, message: &str) {
    if let Some(d) = hub.config.limits.connect_error_delay {
        tokio::time::sleep(d).await;
    }
    http::respond(io, status, &http::error_body(message)).await;
}

async fn upgrade<S>(mut io: S, req: Request, hub: Arc<Hub>, stopped: watch::Receiver<bool>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if let Some(status) = hub.refuse() {
        let msg = if status == 429 { "Too many connected users" } else { "Server unavailable" };
        return refuse(&mut io, &hub, status, msg).await;
    }
    // The key comes from `x-api-key`, else the `apikey` query parameter (spec A.1).
    let key = req.header("x-api-key").map(str::to_string).or_else(|| req.query.get("apikey").cloned());
    let claims = match hub.check_api_key(key.as_deref()) {
        Ok(claims) => claims,
        Err(message) => return refuse(&mut io, &hub, 401, &message).await,
    };
    let Some(vsn) = Vsn::parse(req.query.get("vsn").map(String::as_str)) else {
        return refuse(&mut io, &hub, 400, "Unsupported vsn").await;
    };
    let Some(ws_key) = req.header("sec-websocket-key").map(str::to_string) else {
        return http::respond(&mut io, 400, &http::error_body("Missing Sec-WebSocket-Key")).await;
    };
    // Registered before the 101 goes out, so a client that has its answer is already counted
    // (by `connections()` and `max_concurrent_users`) and can be sent to.
    // permessage-deflate when configured and offered (`Config::deflate`).
    let deflate = hub
        .config
        .deflate
        .then(|| req.header("sec-websocket-extensions").and_then(crate::deflate::Agreed::from_offer))
        .flatten();
    let (tx, rx) = mpsc::unbounded_channel();
    let socket = hub.register(tx, vsn, claims, deflate.is_some());
    let answer = http::switching_protocols(&ws_key, deflate.map(|d| d.header()).as_deref());
    if io.write_all(answer.as_bytes()).await.is_err() {
        hub.unregister(socket);
        return;
    }
    let mut ws_config = WebSocketConfig::default();
    if let Some(max) = hub.config.limits.max_frame_bytes {
        ws_config = ws_config.max_frame_size(Some(max)).max_message_size(Some(max));
    }
    let stream = Prefixed { prefix: req.rest, pos: 0, inner: io };
    match deflate {
        Some(agreed) => {
            hub.deflated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let pipe = crate::deflate::pump(stream, agreed);
            let ws = WebSocketStream::from_raw_socket(pipe, Role::Server, Some(ws_config)).await;
            socket_task(ws, hub, (socket, rx), vsn, stopped).await;
        }
        None => {
            let ws = WebSocketStream::from_raw_socket(stream, Role::Server, Some(ws_config)).await;
            socket_task(ws, hub, (socket, rx), vsn, stopped).await;
        }
    }
}

fn to_message(frame: Frame) -> Message {
    match frame {
        Frame::Text(t) => Message::text(t),
        Frame::Binary(b) => Message::binary(b),
    }
}

async fn socket_task<S>(
    ws: WebSocketStream<S>,
    hub: Arc<Hub>,
    (socket, mut rx): (u64, mpsc::UnboundedReceiver<Out>),
    vsn: Vsn,
    mut stopped: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let idle = hub.config.limits.idle_timeout;
    let mut idle_at = idle.map(|d| tokio::time::Instant::now() + d);
    let mut recheck = tokio::time::interval(hub.config.token_recheck);
    recheck.tick().await;
    loop {
        let idle_sleep = async {
            match idle_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stopped.changed() => break,
            _ = idle_sleep => {
                let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "idle".into() }))).await;
                break;
            }
            _ = recheck.tick() => hub.recheck_tokens(),
            out = rx.recv() => {
                let Some(out) = out else { break };
                match out {
                    Out::Frame(f) => {
                        if sink.feed(to_message(f)).await.is_err() {
                            break;
                        }
                        // Batch what is queued, then flush once.
                        let mut end = None;
                        while let Ok(next) = rx.try_recv() {
                            match next {
                                Out::Frame(f) => {
                                    if sink.feed(to_message(f)).await.is_err() {
                                        end = Some(None);
                                        break;
                                    }
                                }
                                other => {
                                    end = Some(Some(other));
                                    break;
                                }
                            }
                        }
                        let _ = sink.flush().await;
                        match end {
                            None => {}
                            Some(Some(Out::Close(code, reason))) => {
                                let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                                break;
                            }
                            Some(_) => break,
                        }
                    }
                    Out::Close(code, reason) => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: CloseCode::from(code), reason: reason.into() }))).await;
                        break;
                    }
                    Out::Kill => break,
                }
            }
            msg = stream.next() => {
                let msg = match msg {
                    Some(Ok(msg)) => msg,
                    // A frame over `max_frame_bytes`: close with 1009 "message too big" (RFC 6455
                    // 7.4.1, what Cowboy sends) rather than drop the TCP connection unexplained.
                    Some(Err(WsError::Capacity(_))) => {
                        let close = CloseFrame { code: CloseCode::Size, reason: "message too big".into() };
                        let _ = sink.send(Message::Close(Some(close))).await;
                        break;
                    }
                    _ => break,
                };
                idle_at = idle.map(|d| tokio::time::Instant::now() + d);
                let inbound = match msg {
                    Message::Text(t) => wire::decode_text(vsn, t.as_str()),
                    Message::Binary(b) if vsn == Vsn::V2 => wire::decode_binary(&b),
                    Message::Close(_) => {
                        // Complete the close handshake: tungstenite has queued the echo of the
                        // client's close frame and writes it on flush. Without it realtime-js saw
                        // 1006 after its own `disconnect()` and reported CHANNEL_ERROR.
                        let _ = sink.close().await;
                        break;
                    }
                    // Pings are answered by tungstenite; others are dropped.
                    _ => continue,
                };
                // A malformed frame is logged and dropped by the real server.
                let Ok(inbound) = inbound else { continue };
                match hub.handle(socket, inbound) {
                    After::Nothing => {}
                    After::PostgresReady { channel, join_ref } => {
                        let hub = hub.clone();
                        let delay = hub.config.postgres_ready_delay;
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            hub.postgres_ready(channel, join_ref.as_deref());
                        });
                    }
                    After::Later { delay, frames, then_close } => {
                        let hub = hub.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(delay).await;
                            hub.deliver(socket, frames, then_close);
                        });
                    }
                }
            }
        }
    }
    hub.unregister(socket);
}

async fn rest_broadcast<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    req: &mut Request,
    hub: &Hub,
    rest: &str,
) {
    if req.method != "POST" {
        return http::respond(io, 405, &json!({"message": "Method Not Allowed"})).await;
    }
    let bearer = req.header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_string));
    let key = bearer.or_else(|| req.header("apikey").map(str::to_string));
    if let Err(message) = hub.check_api_key(key.as_deref()) {
        // The reason, as the hosted server gives it ("Token has expired ...").
        return http::respond(io, 401, &json!({"message": message})).await;
    }
    let body = match http::read_body(io, req).await {
        Ok(b) => b,
        Err(status) => return http::respond(io, status, &json!({"message": "Bad request body"})).await,
    };
    let result = if rest.is_empty() {
        // The batch endpoint: `{"messages":[{topic, event, payload, private?, id?}]}`.
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return http::respond(io, 422, &json!({"message": "Invalid JSON"})).await;
        };
        let Some(messages) = v["messages"].as_array() else {
            return http::respond(io, 422, &json!({"errors": {"messages": ["can't be blank"]}})).await;
        };
        let mut result = Ok(());
        for m in messages {
            let (Some(topic), Some(event)) = (m["topic"].as_str(), m["event"].as_str()) else {
                return http::respond(
                    io,
                    422,
                    &json!({"errors": {"messages": ["topic and event are required"]}}),
                )
                .await;
            };
            let mut payload = json!({"type": "broadcast", "event": event, "payload": m["payload"]});
            if let Some(id) = m["id"].as_str() {
                payload["meta"] = json!({"id": id});
            }
            let private = m["private"].as_bool().unwrap_or(false);
            // The batch endpoint answers an oversized payload as a validation error (spec A.7).
            let sent = hub
                .rest_broadcast(topic, private, RestMessage::Json(payload))
                .map_err(|s| if s == 413 { 422 } else { s });
            result = result.and(sent);
        }
        result
    } else {
        // The single endpoint: `/{topic}/events/{event}`.
        let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
        let [topic, "events", event] = parts[..] else {
            return http::respond(io, 404, &json!({"message": "Not Found"})).await;
        };
        let binary = req.header("content-type").is_some_and(|c| c.starts_with("application/octet-stream"));
        let data = if binary {
            Data::Binary(body)
        } else {
            match String::from_utf8(body) {
                Ok(t) if serde_json::from_str::<Value>(&t).is_ok() => Data::Json(t),
                _ => return http::respond(io, 422, &json!({"message": "Invalid JSON"})).await,
            }
        };
        let private = req.query.get("private").is_some_and(|p| p == "true");
        let b = UserBroadcast { event: event.to_string(), meta: None, data };
        hub.rest_broadcast(topic, private, RestMessage::User(b))
    };
    match result {
        Ok(()) => http::respond(io, 202, &json!({})).await,
        Err(status) => http::respond(io, status, &json!({"message": "Refused"})).await,
    }
}

/// Test control over HTTP, for peers in other languages: `POST /testkit/<what>`.
async fn control<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, req: &mut Request, hub: &Hub, what: &str) {
    let body = http::read_body(io, req).await.unwrap_or_default();
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let result = match what {
        "emit" => match row_change(&v) {
            Some(change) => json!({"delivered": hub.emit_change(&change)}),
            None => return http::respond(io, 422, &json!({"message": "need schema, table, type"})).await,
        },
        "drop" => json!({"dropped": hub.end_all(None)}),
        "close" => {
            let code = v["code"].as_u64().and_then(|c| u16::try_from(c).ok()).unwrap_or(1000);
            json!({"closed": hub.end_all(Some((code, v["reason"].as_str().unwrap_or("").to_string())))})
        }
        "heartbeats" => {
            hub.set_heartbeat_replies(v["reply"].as_bool().unwrap_or(true));
            json!({})
        }
        "crash" => json!({"channels": hub.channel_event(v["topic"].as_str().unwrap_or(""), "phx_error")}),
        "join_fault" => {
            hub.set_join_fault(match v["fail"].as_str() {
                Some(reason) => JoinFault::Fail(reason.to_string()),
                None => JoinFault::None,
            });
            json!({})
        }
        "observed" => json!({"frames": hub.observed().len()}),
        _ => return http::respond(io, 404, &json!({"message": "Not Found"})).await,
    };
    http::respond(io, 200, &result).await;
}

/// A row change from its JSON form: `{schema, table, type, record?, old_record?, columns?}`.
pub fn row_change(v: &Value) -> Option<RowChange> {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    let columns = v["columns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter_map(|c| Some((c["name"].as_str()?.to_string(), c["type"].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_else(|| {
            // Without columns: the record's keys, typed by their JSON values.
            let row = if v["record"].is_object() { &v["record"] } else { &v["old_record"] };
            row.as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, val)| {
                            let t = match val {
                                Value::Number(n) if n.is_i64() || n.is_u64() => "int8",
                                Value::Number(_) => "float8",
                                Value::Bool(_) => "bool",
                                Value::Object(_) | Value::Array(_) => "jsonb",
                                _ => "text",
                            };
                            (k.clone(), t.to_string())
                        })
                        .collect()
                })
                .unwrap_or_default()
        });
    Some(RowChange {
        schema: s("schema")?,
        table: s("table")?,
        kind: s("type")?.to_ascii_uppercase(),
        columns,
        record: v["record"].clone(),
        old_record: v["old_record"].clone(),
        commit_timestamp: s("commit_timestamp").unwrap_or_else(|| "2026-01-01T00:00:00.000Z".into()),
    })
}
