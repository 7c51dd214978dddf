//! The client's configuration: endpoint, timings, schedules and limits.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::rate::RateLimit;
use crate::phoenix::backoff::Backoff;
use crate::phoenix::endpoint::{CLIENT_INFO, EndpointError, LogLevel};
use crate::phoenix::heartbeat::{
    DEFAULT_HEARTBEAT_DEADLINE, DEFAULT_HEARTBEAT_INTERVAL, HeartbeatConfigError,
};
use crate::phoenix::presence::DEFAULT_MAX_PRESENCE_ENTRIES;
use crate::phoenix::serializer::Vsn;
use crate::ws;

/// Default timeout of joins, leaves and pushes (all the reference clients).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default reply deadline of a liveness probe: short, because `resume` comes when the link is
/// in doubt, and a false alarm costs only a reconnect.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Default bound of a channel's push buffer (realtime-js).
pub const DEFAULT_PUSH_BUFFER: usize = 100;
/// Default bound of the event queue: byte input stops being consumed when it is full.
pub const DEFAULT_MAX_EVENTS: usize = 1024;
/// Default bound of messages written but not yet taken by `poll_transmit`/`poll_message`.
pub const DEFAULT_MAX_OUTGOING: usize = 1024;

/// How the runtime carries WebSocket messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// A byte stream (TCP, TLS): the client does the WebSocket handshake and framing
    /// (`handle_input`, `poll_transmit`).
    #[default]
    Bytes,
    /// A transport that frames by itself (a browser WebSocket, an existing tungstenite
    /// connection): whole messages in and out (`handle_message`, `poll_message`).
    Messages,
}

/// Which kind of server the client talks to: it decides what a refused upgrade or a close
/// means (and so whether the client reconnects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ServerKind {
    /// Supabase Realtime: design.md's connection-endings table (refused credentials and an
    /// unknown project stop, rate limits wait longest).
    #[default]
    Realtime,
    /// A plain Phoenix Channels server: like phoenix.js, every ending but a manual disconnect
    /// reconnects on the schedule.
    Phoenix,
}

/// What a full push buffer does with one more push.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest waiting push (reported as not sent), as realtime-js does.
    #[default]
    DropOldest,
    /// Refuse the new push with an error.
    Error,
}

/// Everything the client needs to know up front. Build with [`ClientConfig::new`], then set
/// fields. `Debug` never shows the API key or the access token.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The Realtime URL: `https://<ref>.supabase.co/realtime/v1`, a `ws(s)://` URL, or one
    /// already ending in `/websocket`.
    pub endpoint: String,
    /// The project's API key, sent as the `apikey` query parameter; `None` for a plain Phoenix
    /// server ([`ClientConfig::phoenix`]), which needs none.
    pub api_key: Option<String>,
    /// The kind of server ([`ServerKind::Realtime`]; `phoenix` sets [`ServerKind::Phoenix`]).
    pub server: ServerKind,
    /// Extra query parameters, in order.
    pub params: Vec<(String, String)>,
    /// The server's log level for this connection, if set.
    pub log_level: Option<LogLevel>,
    /// The serializer (2.0.0 by default).
    pub vsn: Vsn,
    /// Header fields of the upgrade request (`X-Client-Info` by default).
    pub headers: Vec<(String, String)>,
    /// Bytes or whole messages.
    pub transport: TransportKind,
    /// WebSocket limits and timeouts. `handshake_timeout` also bounds a whole connect attempt
    /// (TCP, TLS and the upgrade) on any transport.
    pub ws: ws::Config,
    /// Time between heartbeats (25 s).
    pub heartbeat_interval: Duration,
    /// Time a heartbeat reply may take, from its send (10 s; at most one interval). A dead link
    /// is found within `heartbeat_interval + heartbeat_deadline` (35 s by default).
    pub heartbeat_deadline: Duration,
    /// A WebSocket ping every this often, each pong due before the next ping, as a second
    /// liveness check (byte transports; off by default).
    pub ping_interval: Option<Duration>,
    /// Delays between reconnect attempts (1, 2, 5, 10 s).
    pub reconnect: Backoff,
    /// Delays between a channel's rejoin attempts (1, 2, 5, 10 s).
    pub rejoin: Backoff,
    /// Timeout of joins, leaves and pushes (10 s).
    pub timeout: Duration,
    /// How long the reply to a liveness probe (`resume`) may take (5 s).
    pub probe_timeout: Duration,
    /// Disconnect this long after the last channel is removed (two heartbeat intervals);
    /// `None` stays connected.
    pub disconnect_when_empty: Option<Duration>,
    /// Bound of each channel's push buffer (100).
    pub push_buffer: usize,
    /// What a full push buffer does.
    pub overflow: Overflow,
    /// An opt-in limit on each channel's pushes (none by default).
    pub rate_limit: Option<RateLimit>,
    /// Opt-in: a broadcast on a channel that cannot push (not joined, or the socket offline)
    /// goes over the REST endpoint instead of waiting (`poll_rest`), as realtime-js does.
    pub rest_fallback: bool,
    /// The access token sent in join payloads, if any.
    pub access_token: Option<String>,
    /// The app answers [`Event::TokenNeeded`](super::Event::TokenNeeded) with
    /// `set_access_token`: joins wait (up to `token_wait`) for a token that is missing, expiring
    /// or refused. Without a source the client uses the token it has and never waits.
    pub token_source: bool,
    /// Ask for a new token this long before the current one's `exp` (60 s; needs a wall clock).
    pub token_refresh_margin: Duration,
    /// How long a join waits for a token before going ahead with what it has (10 s).
    pub token_wait: Duration,
    /// Bound of the event queue (1024).
    pub max_events: usize,
    /// Bound of the outgoing message queue (1024): pushes beyond it are refused as busy.
    pub max_outgoing: usize,
    /// The most presences a channel keeps over all its keys (10,000): a `presence_state` or
    /// `presence_diff` that would take it over is refused with
    /// [`PresenceError::TooManyEntries`](crate::phoenix::presence::PresenceError::TooManyEntries).
    pub max_presence_entries: usize,
}

impl ClientConfig {
    /// The defaults for this endpoint and API key.
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            api_key: Some(api_key.into()),
            server: ServerKind::Realtime,
            params: Vec::new(),
            log_level: None,
            vsn: Vsn::V2,
            headers: vec![(String::from("X-Client-Info"), String::from(CLIENT_INFO))],
            transport: TransportKind::Bytes,
            ws: ws::Config::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            heartbeat_deadline: DEFAULT_HEARTBEAT_DEADLINE,
            ping_interval: None,
            reconnect: Backoff::default(),
            rejoin: Backoff::default(),
            timeout: DEFAULT_TIMEOUT,
            probe_timeout: DEFAULT_PROBE_TIMEOUT,
            disconnect_when_empty: Some(DEFAULT_HEARTBEAT_INTERVAL * 2),
            push_buffer: DEFAULT_PUSH_BUFFER,
            overflow: Overflow::DropOldest,
            rate_limit: None,
            rest_fallback: false,
            access_token: None,
            token_source: false,
            token_refresh_margin: Duration::from_secs(60),
            token_wait: DEFAULT_TIMEOUT,
            max_events: DEFAULT_MAX_EVENTS,
            max_outgoing: DEFAULT_MAX_OUTGOING,
            max_presence_entries: DEFAULT_MAX_PRESENCE_ENTRIES,
        }
    }

    /// The defaults for a plain Phoenix Channels server (`ws://host:4000/socket`, an Elixir
    /// app's `socket "/socket", ...`): no API key and no `X-Client-Info` header; put what the
    /// server's `connect/3` reads in `params`. Join its topics with
    /// [`Client::phoenix_channel`](super::Client::phoenix_channel).
    pub fn phoenix(endpoint: impl Into<String>) -> Self {
        let mut config = Self::new(endpoint, "");
        config.api_key = None;
        config.server = ServerKind::Phoenix;
        config.headers.clear();
        config
    }

    /// Sets the heartbeat interval; the reply deadline becomes the default 10 s or the interval
    /// when that is shorter, and the empty-socket disconnect two intervals. A dead link is then
    /// found within `interval + deadline`.
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self.heartbeat_deadline = DEFAULT_HEARTBEAT_DEADLINE.min(interval);
        self.disconnect_when_empty = self.disconnect_when_empty.map(|_| interval.saturating_mul(2));
        self
    }
}

/// A configuration the client cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The endpoint or API key.
    Endpoint(EndpointError),
    /// The heartbeat timings.
    Heartbeat(HeartbeatConfigError),
    /// The WebSocket limits.
    WebSocket(ws::ConfigError),
    /// A zero push timeout, ping interval, push buffer, event bound or outgoing bound.
    Zero(&'static str),
    /// A header name or value with a line break or other control character.
    InvalidHeader,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // What is wrong with it is the `source`.
            Self::Endpoint(_) => f.write_str("the endpoint cannot be used"),
            Self::Heartbeat(_) => f.write_str("the heartbeat timings cannot be used"),
            Self::WebSocket(_) => f.write_str("the websocket limits cannot be used"),
            Self::Zero(what) => write!(f, "{what} must be above zero"),
            Self::InvalidHeader => f.write_str("header names and values must not hold control characters"),
        }
    }
}

impl core::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Endpoint(e) => Some(e),
            Self::Heartbeat(e) => Some(e),
            Self::WebSocket(e) => Some(e),
            Self::Zero(_) | Self::InvalidHeader => None,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<none>" };
        f.debug_struct("ClientConfig")
            .field("endpoint", &super::redacted_url(&self.endpoint))
            .field("api_key", &redacted(self.api_key.as_ref().is_some_and(|k| !k.is_empty())))
            .field("server", &self.server)
            .field("params", &RedactedHeaders(&self.params))
            .field("log_level", &self.log_level)
            .field("vsn", &self.vsn)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("transport", &self.transport)
            .field("ws", &self.ws)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("heartbeat_deadline", &self.heartbeat_deadline)
            .field("ping_interval", &self.ping_interval)
            .field("reconnect", &self.reconnect)
            .field("rejoin", &self.rejoin)
            .field("timeout", &self.timeout)
            .field("probe_timeout", &self.probe_timeout)
            .field("disconnect_when_empty", &self.disconnect_when_empty)
            .field("push_buffer", &self.push_buffer)
            .field("overflow", &self.overflow)
            .field("rate_limit", &self.rate_limit)
            .field("rest_fallback", &self.rest_fallback)
            .field("access_token", &redacted(self.access_token.is_some()))
            .field("token_source", &self.token_source)
            .field("token_refresh_margin", &self.token_refresh_margin)
            .field("token_wait", &self.token_wait)
            .field("max_events", &self.max_events)
            .field("max_outgoing", &self.max_outgoing)
            .field("max_presence_entries", &self.max_presence_entries)
            .finish()
    }
}

/// Header fields or query parameters for `Debug`, with the values of credential-bearing ones
/// hidden.
struct RedactedHeaders<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.0
                    .iter()
                    .map(|(k, v)| (k, if super::is_secret_name(k) { "<redacted>" } else { v.as_str() })),
            )
            .finish()
    }
}
