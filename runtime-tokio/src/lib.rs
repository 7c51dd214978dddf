//! Supabase Realtime on tokio: a thin driver of the sans-IO [`realtime_core`] client.
//!
//! The protocol (heartbeats, reconnects, rejoins, push buffers, presence, postgres changes)
//! lives in the core; this crate adds TCP (`TCP_NODELAY`), TLS (rustls: webpki roots by default,
//! native or custom roots as options, SNI), HTTP CONNECT proxies (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `NO_PROXY`), tokio timers, OS randomness, and an async API:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_tokio::{ChannelConfig, Config, RealtimeClient};
//! let client = RealtimeClient::new(Config::new("ws://127.0.0.1:4000/realtime/v1", "anon-key"))?;
//! let room = client.channel("room1", ChannelConfig::new().broadcast_self(true)).await?;
//! let mut cursors = room.on_broadcast("cursor").await;
//! room.subscribe().await?;
//! room.send("cursor", &serde_json::json!({"x": 1})).await?;
//! while let Some(b) = cursors.recv().await {
//!     println!("{} {:?}", b.event, b.json::<serde_json::Value>());
//! }
//! # Ok(()) }
//! ```
//!
//! # Drop and cancellation
//! - [`RealtimeClient`] is a cheap clone of a handle; the driver task ends (closing the socket
//!   politely) when the last handle and every [`Channel`] of it are dropped.
//! - Dropping a [`Channel`] does not leave it: call [`Channel::unsubscribe`] or
//!   [`Channel::remove`].
//! - Every `async fn` here is cancel-safe in the sense that dropping its future never corrupts
//!   the client: the command was either not sent, or it was sent and takes effect (a dropped
//!   `send` still goes out; only its outcome is not awaited).
//! - Streams are bounded ([`Config::stream_capacity`]): when the app does not read one, new
//!   items for it are dropped (with a `tracing` warning), never buffered without bound.

mod driver;
mod transport;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, oneshot, watch};

pub use realtime_core::phoenix::channel_config::ChannelConfig;
pub use realtime_core::phoenix::client::{
    ChannelErrorReason, ChannelStatus, ClientConfig, ConnectionState, PushOutcome,
};
pub use realtime_core::phoenix::postgres::{Binding, Change, ChangeEvent, Filter};
pub use realtime_core::phoenix::presence::{Presence, PresenceEvent};
pub use transport::{Proxy, Roots};

use driver::{Command, Driver, Watches};
use realtime_core::phoenix::client::{ChannelError, ChannelId, Client, PushError};
use realtime_core::phoenix::serializer::BroadcastData;

/// An async source of access tokens: called when the core asks for one (before connecting,
/// before a join with a missing or expiring token, after a refusal).
pub type TokenSource = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Option<String>> + Send>> + Send + Sync>;

/// The client's settings: the core's, plus what the runtime adds.
#[derive(Clone)]
pub struct Config {
    /// The protocol settings (endpoint, API key, timings, limits).
    pub client: ClientConfig,
    /// Which CAs TLS trusts.
    pub roots: Roots,
    /// How connections reach the server.
    pub proxy: Proxy,
    /// The socket read buffer (16 KiB); it grows if a frame needs more.
    pub read_buffer: usize,
    /// Items each stream holds before new ones are dropped (256).
    pub stream_capacity: usize,
    /// An async token source (see [`TokenSource`]).
    pub token_source: Option<TokenSource>,
}

impl Config {
    /// The defaults for this Realtime URL and API key.
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            client: ClientConfig::new(endpoint, api_key),
            roots: Roots::default(),
            proxy: Proxy::default(),
            read_buffer: 16 * 1024,
            stream_capacity: 256,
            token_source: None,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("client", &self.client)
            .field("roots", &self.roots)
            .field("proxy", &self.proxy)
            .field("read_buffer", &self.read_buffer)
            .field("stream_capacity", &self.stream_capacity)
            .field("token_source", &self.token_source.is_some())
            .finish()
    }
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used.
    Config(String),
    /// TLS could not be set up.
    Tls(std::io::Error),
    /// The client's task is gone (its runtime shut down).
    Closed,
    /// A channel command was refused.
    Channel(ChannelError),
    /// A push was refused (nothing was sent).
    Push(PushError),
    /// The subscription did not succeed: its first status.
    Subscribe(ChannelStatus),
    /// The server answered a push with an error (its response as raw JSON).
    Rejected(String),
    /// No reply in time, or the connection died after the push was written.
    TimedOut,
    /// The push was never written (dropped from a full buffer, or its channel closed).
    NotSent,
    /// A payload could not be serialized or deserialized.
    Json(serde_json::Error),
    /// A REST request failed.
    Rest(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Config(e) => write!(f, "configuration: {e}"),
            Self::Tls(e) => write!(f, "tls: {e}"),
            Self::Closed => f.write_str("the client is closed"),
            Self::Channel(e) => write!(f, "channel: {e}"),
            Self::Push(e) => write!(f, "push: {e}"),
            Self::Subscribe(s) => write!(f, "subscribe: {s:?}"),
            Self::Rejected(r) => write!(f, "the server refused the push: {r}"),
            Self::TimedOut => f.write_str("no reply in time"),
            Self::NotSent => f.write_str("the push was never sent"),
            Self::Json(e) => write!(f, "json: {e}"),
            Self::Rest(e) => write!(f, "rest: {e}"),
        }
    }
}

impl std::error::Error for Error {}

/// A broadcast's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// JSON text, exactly as it came.
    Json(String),
    /// Bytes (a binary broadcast).
    Binary(Vec<u8>),
}

/// A broadcast received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast {
    /// The user event.
    pub event: String,
    /// The payload.
    pub payload: Payload,
    /// Metadata as raw JSON (`{"id":..}` for replayed or batch-REST messages), if any.
    pub meta: Option<String>,
}

impl Broadcast {
    /// The JSON payload as the app's own type (an error for a binary payload or another shape).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.payload {
            Payload::Json(t) => serde_json::from_str(t).map_err(Error::Json),
            Payload::Binary(_) => Err(Error::Json(serde::de::Error::custom("binary payload"))),
        }
    }
}

/// A stream of items from the client: `recv().await`, or use it as a `futures::Stream`.
#[derive(Debug)]
pub struct Receiver<T>(mpsc::Receiver<T>);

impl<T> Receiver<T> {
    /// The next item; `None` once the client is gone.
    ///
    /// Cancel-safe: a dropped `recv` loses no item.
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await
    }
}

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A stream of broadcasts deserialized into `T`.
#[derive(Debug)]
pub struct Typed<T> {
    inner: Receiver<Broadcast>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Typed<T> {
    /// The next payload as `T` (or why it is not one); `None` once the client is gone.
    ///
    /// Cancel-safe: a dropped `recv` loses no item.
    pub async fn recv(&mut self) -> Option<Result<T, Error>> {
        self.inner.recv().await.map(|b| b.json())
    }
}

impl<T: DeserializeOwned> futures_core::Stream for Typed<T> {
    type Item = Result<T, Error>;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx).map(|o| o.map(|b| b.json()))
    }
}

struct Shared {
    commands: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<ConnectionState>,
    latency: watch::Receiver<Option<Duration>>,
    error: watch::Receiver<Option<String>>,
    capacity: usize,
    client_config: ClientConfig,
    roots: Roots,
    proxy: Proxy,
}

/// The client: a cloneable handle to the task that drives the connection.
#[derive(Clone)]
pub struct RealtimeClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for RealtimeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeClient").field("state", &*self.shared.state.borrow()).finish_non_exhaustive()
    }
}

impl RealtimeClient {
    /// Starts the client's task on the current tokio runtime. It connects on the first
    /// `subscribe` (or [`connect`](Self::connect)).
    pub fn new(config: Config) -> Result<Self, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Config(format!("no OS randomness: {e}")))?;
        let mut client_config = config.client.clone();
        client_config.token_source = config.token_source.is_some();
        let token = client_config.access_token.clone();
        let client = Client::new(client_config.clone(), seed).map_err(|e| Error::Config(e.to_string()))?;
        let tls = if transport::needs_tls(&client_config.endpoint) {
            Some(transport::tls_connector(&config.roots).map_err(Error::Tls)?)
        } else {
            None
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(ConnectionState::Disconnected);
        let (latency_tx, latency) = watch::channel(None);
        let (error_tx, error) = watch::channel(None);
        let driver = Driver {
            client,
            commands: rx,
            self_tx: tx.downgrade(),
            watches: Watches { state: state_tx, latency: latency_tx, error: error_tx },
            tls,
            proxy: config.proxy.clone(),
            read_buffer: config.read_buffer.max(1024),
            token_source: config.token_source.clone(),
            token,
            batch: Vec::new(),
        };
        // Every event of the task is in this span; it names no URL or credential.
        let span = tracing::info_span!("realtime", vsn = ?client_config.vsn);
        tokio::spawn(tracing::Instrument::instrument(driver.run(), span));
        let shared = Shared {
            commands: tx,
            state,
            latency,
            error,
            capacity: config.stream_capacity.max(1),
            client_config,
            roots: config.roots,
            proxy: config.proxy,
        };
        Ok(Self { shared: Arc::new(shared) })
    }

    fn send(&self, cmd: Command) -> Result<(), Error> {
        self.shared.commands.send(cmd).map_err(|_| Error::Closed)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Connects now (subscribing connects too).
    pub fn connect(&self) -> Result<(), Error> {
        self.send(Command::Connect)
    }

    /// Closes the connection (code 1000); channels stay and rejoin on the next connect.
    pub fn disconnect(&self) -> Result<(), Error> {
        self.send(Command::Disconnect)
    }

    /// The app came back to the foreground: check the link now (a heartbeat probe), or
    /// reconnect at once if waiting to.
    pub fn resume(&self) -> Result<(), Error> {
        self.send(Command::Resume)
    }

    /// Sets the access token: joined channels get it at once, later joins carry it.
    pub fn set_access_token(&self, token: Option<String>) -> Result<(), Error> {
        self.send(Command::SetToken(token))
    }

    /// The connection's state, to read or watch.
    pub fn connection_state(&self) -> watch::Receiver<ConnectionState> {
        self.shared.state.clone()
    }

    /// Why the last connection attempt or connection failed (`None` while connected, or after a
    /// manual disconnect): the io error of a failed connect (refused, unreachable, an untrusted
    /// certificate), the HTTP status of a refused upgrade, or the server's close.
    pub fn last_error(&self) -> Option<String> {
        self.shared.error.borrow().clone()
    }

    /// The latest heartbeat round trip, to read or watch.
    pub fn heartbeat_latency(&self) -> watch::Receiver<Option<Duration>> {
        self.shared.latency.clone()
    }

    /// The channel `realtime:<name>`: a new one, or another handle to it when the config is
    /// the same.
    ///
    /// Cancel: if dropped after the command went out, the channel (or handle) exists but its id is lost; `remove_all_channels` clears it.
    pub async fn channel(&self, name: &str, config: ChannelConfig) -> Result<Channel, Error> {
        let name = name.to_string();
        let id = self
            .ask(|reply| Command::Channel { name: name.clone(), config: Box::new(config), reply })
            .await?
            .map_err(Error::Channel)?;
        Ok(Channel { client: self.clone(), id, name })
    }

    /// Leaves and removes every channel.
    pub fn remove_all_channels(&self) -> Result<(), Error> {
        self.send(Command::RemoveAll)
    }

    /// Closes the connection politely (a close frame, code 1000) and ends the client's task;
    /// returns once the socket is closed. Every handle is unusable afterwards.
    ///
    /// Cancel: the shutdown goes ahead; only the wait for it is dropped.
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.ask(|reply| Command::Shutdown { reply }).await
    }

    fn receiver<T>(&self) -> (mpsc::Sender<T>, Receiver<T>) {
        let (tx, rx) = mpsc::channel(self.shared.capacity);
        (tx, Receiver(rx))
    }
}

/// A channel of a [`RealtimeClient`].
#[derive(Clone, Debug)]
pub struct Channel {
    client: RealtimeClient,
    id: ChannelId,
    name: String,
}

impl Channel {
    /// The channel's name (its topic without `realtime:`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Joins (connecting if needed) and waits for the first outcome: `Ok` once subscribed,
    /// else the status that came first (timed out, refused, closed). Later statuses (rejoins
    /// after reconnects, errors) come on [`statuses`](Self::statuses).
    ///
    /// Cancel: the join goes ahead (and rejoins as usual); only the wait for the first outcome is dropped.
    pub async fn subscribe(&self) -> Result<(), Error> {
        let id = self.id;
        match self.client.ask(|reply| Command::Subscribe { id, reply }).await?.map_err(Error::Channel)? {
            ChannelStatus::Subscribed => Ok(()),
            other => Err(Error::Subscribe(other)),
        }
    }

    /// Every status from now on.
    ///
    /// Cancel-safe: nothing is registered until it returns (dropping the receiver unregisters).
    pub async fn statuses(&self) -> Receiver<ChannelStatus> {
        let (tx, rx) = self.client.receiver();
        let _ = self.client.send(Command::ListenStatus { id: self.id, tx });
        rx
    }

    /// The channel's other server messages from now on, as (event, payload as raw JSON): the
    /// `system` messages (postgres changes ready or failing, a token re-check failing, ...) and
    /// anything else that is not a broadcast, presence or postgres change.
    ///
    /// Cancel-safe: dropping the receiver unregisters it.
    pub async fn on_messages(&self) -> Receiver<(String, String)> {
        let (tx, rx) = self.client.receiver();
        let _ = self.client.send(Command::ListenMessages { id: self.id, tx });
        rx
    }

    /// Broadcasts with this event (`*`: all), from now on.
    ///
    /// Cancel-safe: dropping the receiver unregisters it.
    pub async fn on_broadcast(&self, event: &str) -> Receiver<Broadcast> {
        let (tx, rx) = self.client.receiver();
        let _ = self.client.send(Command::ListenBroadcast { id: self.id, event: event.to_string(), tx });
        rx
    }

    /// Broadcasts with this event as the app's own type: an item is `Err` when a payload does
    /// not deserialize (or is binary), and the stream goes on.
    ///
    /// Cancel-safe: dropping the stream unregisters it.
    pub async fn on_broadcast_as<T: DeserializeOwned>(&self, event: &str) -> Typed<T> {
        Typed { inner: self.on_broadcast(event).await, _t: std::marker::PhantomData }
    }

    /// Presence joins, leaves and syncs. Listening turns presence on for the channel (a rejoin
    /// if it is joined without it).
    ///
    /// Cancel: presence is turned on for the channel once the command went out, even if the future is dropped.
    pub async fn on_presence(&self) -> Receiver<PresenceEvent> {
        let (tx, rx) = self.client.receiver();
        let _ = self.client.send(Command::ListenPresence { id: self.id, tx });
        rx
    }

    /// The presence state now: key -> presences.
    ///
    /// Cancel-safe: it only reads.
    pub async fn presence_state(&self) -> Result<Vec<(String, Vec<Presence>)>, Error> {
        let id = self.id;
        self.client.ask(|reply| Command::PresenceState { id, reply }).await
    }

    /// Row changes for this binding. Bindings go in the join, so add them before
    /// [`subscribe`](Self::subscribe) (after: [`Error::Channel`] `AlreadySubscribed`).
    ///
    /// Cancel: if dropped after the command went out, the binding is added (it goes in the next join) but its stream is gone.
    pub async fn on_postgres_changes(&self, binding: Binding) -> Result<Receiver<Arc<Change>>, Error> {
        let (tx, rx) = self.client.receiver();
        let id = self.id;
        self.client
            .ask(|reply| Command::AddBinding { id, binding: Box::new(binding), tx, reply })
            .await?
            .map_err(Error::Channel)?;
        Ok(rx)
    }

    async fn push(&self, event: &str, data: BroadcastData) -> Result<(), Error> {
        let (id, event) = (self.id, event.to_string());
        match self
            .client
            .ask(|reply| Command::Broadcast { id, push: Box::new((event, data)), reply })
            .await?
            .map_err(Error::Push)?
        {
            PushOutcome::Ok(_) => Ok(()),
            PushOutcome::Error(r) => Err(Error::Rejected(r)),
            PushOutcome::TimedOut => Err(Error::TimedOut),
            PushOutcome::NotSent(_) => Err(Error::NotSent),
        }
    }

    /// Broadcasts `payload` (any serde type) as `event`. Resolves on the server's ack when the
    /// channel asks for acks, else once written.
    ///
    /// Cancel: once the command went out the push is written as usual; only its outcome is not awaited.
    pub async fn send<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Result<(), Error> {
        let text = serde_json::to_string(payload).map_err(Error::Json)?;
        self.push(event, BroadcastData::Json(text)).await
    }

    /// Broadcasts bytes as `event` (a binary frame; vsn 2.0.0).
    ///
    /// Cancel: as for [`send`](Self::send).
    pub async fn send_binary(&self, event: &str, bytes: Vec<u8>) -> Result<(), Error> {
        self.push(event, BroadcastData::Binary(bytes)).await
    }

    /// Tracks this client's presence with `payload` (a serde type that serializes to an
    /// object); it is tracked again after every rejoin until [`untrack`](Self::untrack).
    ///
    /// Cancel: once the command went out the track stands (and is re-tracked after rejoins).
    pub async fn track<T: Serialize + ?Sized>(&self, payload: &T) -> Result<(), Error> {
        let payload = serde_json::to_string(payload).map_err(Error::Json)?;
        let id = self.id;
        self.client.ask(|reply| Command::Track { id, payload, reply }).await?.map_err(Error::Push)
    }

    /// Stops tracking this client's presence.
    ///
    /// Cancel: once the command went out the untrack stands.
    pub async fn untrack(&self) -> Result<(), Error> {
        let id = self.id;
        self.client.ask(|reply| Command::Untrack { id, reply }).await?.map_err(Error::Push)
    }

    /// Leaves the channel (it can be subscribed again).
    pub fn unsubscribe(&self) -> Result<(), Error> {
        self.client.send(Command::Unsubscribe { id: self.id })
    }

    /// Drops this handle's claim on the channel; the last one leaves it.
    pub fn remove(self) -> Result<(), Error> {
        self.client.send(Command::Remove { id: self.id })
    }

    /// Broadcasts over the REST endpoint instead of the socket (`POST
    /// /api/broadcast/{topic}/events/{event}`), e.g. from a process that does not subscribe.
    ///
    /// Cancel: dropping it may leave the request sent and unanswered; the server may still deliver it.
    pub async fn http_send<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        private: bool,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(payload).map_err(Error::Json)?;
        let (url, token) = self.client.ask(|reply| Command::RestInfo { reply }).await?;
        let shared = &self.client.shared;
        rest::send(
            &url,
            &shared.client_config,
            token.as_deref(),
            &shared.roots,
            &shared.proxy,
            &self.name,
            event,
            private,
            &text,
        )
        .await
    }
}

mod rest {
    //! One REST broadcast: the core builds the request and reads the response; this moves the
    //! bytes.

    use realtime_core::Instant;
    use realtime_core::phoenix::client::ClientConfig;
    use realtime_core::phoenix::rest::{Auth, RestBody, RestRequest};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::TlsConnector;

    use crate::Error;
    use crate::transport::{self, Proxy, Roots};

    /// Runs `req` to its result: connect (proxy, TLS), write, read until the core has its
    /// answer or its deadline (on the clock `epoch` started) passes. A connection that cannot
    /// be made or ends early is the core's `Truncated`.
    pub(crate) async fn run(
        req: &mut RestRequest,
        tls: Option<&TlsConnector>,
        proxy: &Proxy,
        epoch: tokio::time::Instant,
    ) {
        let now = || Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX));
        let wait = |req: &RestRequest| {
            req.poll_timeout()
                .map(|at| std::time::Duration::from_micros(at.as_micros().saturating_sub(now().as_micros())))
        };
        let scheme = if req.is_tls() { "https" } else { "http" };
        let url = format!("{scheme}://{}:{}/", req.host(), req.port());
        let connect = transport::connect(&url, proxy, tls);
        let mut stream = match tokio::time::timeout(wait(req).unwrap_or_default(), connect).await {
            Ok(Ok(s)) => s,
            Ok(Err(_)) => return req.handle_eof(),
            Err(_) => return req.handle_timeout(now()),
        };
        let mut buf = vec![0u8; 8192];
        loop {
            let n = req.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            if stream.write_all(&buf[..n]).await.is_err() {
                return req.handle_eof();
            }
        }
        if stream.flush().await.is_err() {
            return req.handle_eof();
        }
        while req.result().is_none() {
            let read = stream.read(&mut buf);
            let n = match wait(req) {
                Some(w) => match tokio::time::timeout(w, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        req.handle_timeout(now());
                        continue;
                    }
                },
                None => read.await,
            };
            match n {
                Ok(0) | Err(_) => req.handle_eof(),
                Ok(n) => {
                    req.handle_input(&buf[..n]);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn send(
        socket_url: &str,
        config: &ClientConfig,
        token: Option<&str>,
        roots: &Roots,
        proxy: &Proxy,
        topic: &str,
        event: &str,
        private: bool,
        json: &str,
    ) -> Result<(), Error> {
        let epoch = tokio::time::Instant::now();
        let auth = Auth { api_key: &config.api_key, access_token: token };
        let body = RestBody::Json(json);
        let mut req =
            RestRequest::single(socket_url, auth, topic, event, private, body, Instant::ZERO, config.timeout)
                .map_err(|e| Error::Rest(e.to_string()))?;
        // A TLS setup only for an `https` endpoint (it costs memory).
        let tls =
            if req.is_tls() { Some(transport::tls_connector(roots).map_err(Error::Tls)?) } else { None };
        run(&mut req, tls.as_ref(), proxy, epoch).await;
        match req.result() {
            Some(Ok(())) => Ok(()),
            Some(Err(realtime_core::phoenix::rest::RestError::Timeout)) => Err(Error::TimedOut),
            Some(Err(e)) => Err(Error::Rest(e.to_string())),
            None => Err(Error::TimedOut),
        }
    }
}
