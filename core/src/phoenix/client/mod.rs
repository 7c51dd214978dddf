//! The Realtime client: one sans-IO state machine for the socket and its channels.
//!
//! It composes the [`ws`] layer (or a transport that frames by itself), the [`serializer`], the
//! [`heartbeat`](super::heartbeat), the [`backoff`](super::backoff) schedules and the
//! [`ending`] table. Time comes in as an argument; nothing here blocks, sleeps or does IO.
//!
//! # Driving it
//!
//! After any input (`handle_*`, a command), drain the outputs in this order:
//!
//! 1. [`poll_transport`](Client::poll_transport): open, close or drop the transport.
//! 2. [`poll_transmit`](Client::poll_transmit) until it returns 0 (byte transports), or
//!    [`poll_message`](Client::poll_message) until `None` (self-framing transports).
//! 3. [`poll_event`](Client::poll_event) until `None`.
//! 4. [`poll_timeout`](Client::poll_timeout): call [`handle_timeout`](Client::handle_timeout)
//!    then.
//!
//! # Policy (design.md)
//!
//! - Joins, leaves and heartbeats never cross connections: a new connection re-derives them
//!   from channel state. Pushes wait in their channel's bounded buffer while it cannot send,
//!   with their timeout running from enqueue, and are written once with the join ref of the
//!   join that succeeded. A push written on a connection that dies ends as timed out.
//! - Every join attempt has a fresh ref and its own timeout; a reply or lifecycle event that
//!   names another join is stale and dropped.
//! - How a connection ended decides what happens next ([`ending::decide`]).

mod channel;
mod config;
mod error;
mod event;
mod rate;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

pub use channel::{ChannelId, ChannelState, PushBody};
pub use config::{
    ClientConfig, ConfigError, DEFAULT_MAX_EVENTS, DEFAULT_MAX_OUTGOING, DEFAULT_PROBE_TIMEOUT,
    DEFAULT_PUSH_BUFFER, DEFAULT_TIMEOUT, Overflow, TransportKind,
};
pub use error::{ChannelError, DisconnectError, PushError};
pub use event::{
    ChannelErrorReason, ChannelStatus, ConnectionEnd, ConnectionState, Event, HeartbeatStatus, LeaveOutcome,
    Next, NotSentReason, PushId, PushOutcome, Subscription, TokenReason, TransportClosed, TransportCommand,
    TransportId,
};
pub use rate::{RateLimit, RateLimitPolicy};

pub use super::target::{Target, TargetError};

use self::channel::{Action, Channel, InFlight, Input, ReadyWait, Waiting, transition};
use super::backoff::Backoff;
use super::channel_config::ChannelConfig;
use super::ending::{self, Decision, Ending, StopReason};
use super::endpoint::{EndpointError, endpoint_url};
use super::heartbeat::{HEARTBEAT_EVENT, HEARTBEAT_TOPIC, Heartbeat, HeartbeatAction};
use super::postgres::{Binding, Change, MAX_BINDINGS};
use super::reason::{ErrorAction, ErrorClass, ServerReason};
use super::rest::{Auth, RestBody, RestError, RestRequest};
use super::serializer::{
    self, BroadcastData, BroadcastDataRef, EncodeError, Field, MAX_BINARY_FIELD_LEN, Outgoing, Payload,
    UserBroadcastPush, Vsn,
};
use super::token::Secret;
use crate::decimal::Decimal;
use crate::rng::Rng;
use crate::time::Instant;
use crate::ws::{self, CloseCode, MessageKind, WebSocket, WsEvent};

/// The topic prefix of every Realtime channel.
pub const TOPIC_PREFIX: &str = "realtime:";
/// Bound of the WebSocket layer's own event queue: small, so the client's queue bound holds
/// within a few events.
const WS_EVENT_BATCH: usize = 16;
/// Passes of `handle_timeout` over the timers; each pass can only arm timers that are due
/// because of a zero delay, and those settle in one more pass.
const MAX_TIMER_PASSES: usize = 4;
/// The server's presence budget per channel process: this many calls per window, or the
/// channel is closed ("Client presence rate limit exceeded", spec C.2).
const PRESENCE_CALLS: usize = 5;
const PRESENCE_WINDOW: Duration = Duration::from_secs(30);
/// `meta.id`s a channel with auto replay remembers, to drop replayed duplicates: well above
/// the 25 a replay returns.
const MAX_SEEN_IDS: usize = 256;
/// Longest `meta.id` remembered (a UUID is 36 bytes); longer ones are not de-duplicated.
const MAX_META_ID: usize = 64;
/// How far a wall clock reading may stray from the one the client has (carried forward by the
/// monotonic clock) and still count as the same clock: rounding, a runtime reading the two
/// clocks a little apart, NTP slewing. Past it, the machine slept or the clock was set.
pub const WALL_CLOCK_TOLERANCE: Duration = Duration::from_secs(1);
/// An automatic replay starts this much before the last message seen, for clock skew between
/// client and server; the overlap is dropped by `meta.id`.
const REPLAY_MARGIN_MS: u64 = 5_000;

/// Where the connection is (finer than the public [`ConnectionState`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conn {
    Idle,
    /// `Open` was asked of the runtime; the transport is not up yet.
    Opening,
    /// The byte transport is up; the WebSocket handshake is running.
    Handshaking,
    Open,
    /// A manual disconnect runs the close handshake.
    Closing,
    Waiting {
        at: Instant,
        attempt: u32,
    },
}

/// The current transport, as the client sees it.
#[derive(Debug)]
enum Link {
    None,
    /// Boxed: the connection state is large next to a queue, and one box per connection is
    /// cheap.
    Bytes(Box<WebSocket>),
    Messages(VecDeque<ws::Message>),
}

impl Link {
    fn is_full(&self, max: usize) -> bool {
        match self {
            Self::None => true,
            Self::Bytes(ws) => ws.pending_messages() >= max,
            Self::Messages(q) => q.len() >= max,
        }
    }

    /// Hands a message to the transport; false when it cannot take it (no connection, or a
    /// closing one). The outgoing bound is checked by the callers that push.
    fn send(&mut self, msg: ws::Message) -> bool {
        match self {
            Self::None => false,
            Self::Bytes(ws) => {
                let (kind, bytes) = match msg {
                    ws::Message::Text(s) => (MessageKind::Text, s.into_bytes()),
                    ws::Message::Binary(b) => (MessageKind::Binary, b),
                };
                ws.send(kind, bytes).is_ok()
            }
            Self::Messages(q) => {
                q.push_back(msg);
                true
            }
        }
    }
}

/// How `finish` ends the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Finish {
    /// Ask the runtime to close it (after flushing a byte link's close frame).
    Close,
    /// Ask the runtime to drop it at once.
    Abort,
    /// It is already gone.
    Gone,
}

#[derive(Clone, Copy, Debug)]
struct Ping {
    interval: Duration,
    next: Instant,
    /// When the unanswered ping was sent.
    outstanding: Option<Instant>,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    channel: Option<Channel>,
}

/// The Supabase Realtime client state machine. See the [module docs](self) for the run loop.
pub struct Client {
    // Settings.
    url: String,
    /// `url` parsed once: the URL is fixed for the client's life.
    target: Target,
    vsn: Vsn,
    headers: Vec<(String, String)>,
    transport: TransportKind,
    ws_config: ws::Config,
    ping_interval: Option<Duration>,
    reconnect: Backoff,
    rejoin: Backoff,
    timeout: Duration,
    disconnect_when_empty: Option<Duration>,
    push_buffer: usize,
    overflow: Overflow,
    rate_limit: Option<RateLimit>,
    rest_fallback: bool,
    api_key: Secret,
    /// Broadcasts sent over REST, for the runtime to carry out (`poll_rest`), with the
    /// instant they end as timed out if no result comes.
    rest_out: VecDeque<(ChannelId, PushId, RestRequest, Instant)>,
    /// Those handed out and not yet reported. With `rest_out`, at most `push_buffer`.
    rest_pending: Vec<(ChannelId, PushId, Instant)>,
    access_token: Option<Secret>,
    /// The wall clock at an instant, when the runtime gave one: (instant, Unix milliseconds).
    wall_clock: Option<(Instant, u64)>,
    token_source: bool,
    token_refresh_margin: Duration,
    token_wait: Duration,
    /// Joins wait for a token until then (a `TokenNeeded` is out).
    token_wait_until: Option<Instant>,
    /// The wait ran out: joins go ahead with what there is until a token is set.
    token_waived: bool,
    /// The server refused the current token.
    token_rejected: bool,
    /// When to ask for a fresh token (the margin before `exp`).
    token_refresh_at: Option<Instant>,
    /// Counts `set_access_token` calls, so a join that carried an older token gets the new one
    /// as soon as it succeeds.
    token_gen: u64,
    /// The token generation the refresh margin already asked about (asked once per token).
    refresh_asked_gen: Option<u64>,
    max_events: usize,
    max_outgoing: usize,
    max_presence_entries: usize,

    // State.
    rng: Rng,
    now: Instant,
    conn: Conn,
    link: Link,
    /// A byte link whose last bytes (its close frame) still drain through `poll_transmit`.
    draining: Option<Box<WebSocket>>,
    commands: VecDeque<TransportCommand>,
    events: VecDeque<Event>,
    heartbeat: Heartbeat,
    ping: Option<Ping>,
    /// The last ref handed out; refs are never reused for the client's life.
    last_ref: u64,
    last_push: u64,
    slots: Vec<Slot>,
    /// Channel slots by topic, keyed by bytes so dispatch needs no UTF-8 check.
    topics: BTreeMap<Box<[u8]>, u32>,
    reconnect_attempt: u32,
    idle_at: Option<Instant>,
    stop_idle: bool,
    /// The first known cause of the current connection's end.
    ending: Option<ConnectionEnd>,
    /// When the connection was lost (not by the app), for `Reconnected { gap }`.
    lost_at: Option<Instant>,
    /// The last join error's response on this connection: the context of a 1001 close.
    last_join_error: Option<String>,
    /// A flush stopped on a full outgoing queue; retry it when the queue drains.
    needs_flush: bool,
    /// Numbers the transports: reports about an older one are ignored.
    transport_id: u64,
    /// The current attempt must be open by then (TCP, TLS and the upgrade).
    connect_deadline: Option<Instant>,
    connect_timeout: Duration,
    probe_timeout: Duration,
    /// The app asked to connect while a manual disconnect was closing.
    connect_after_close: bool,
    /// The transport is already gone: `finish` must not ask to close it.
    transport_gone: bool,
    /// The close code and reason of a manual disconnect, for the `Close` command.
    close_frame: Option<(u16, String)>,
}

impl Client {
    /// A client that has not connected yet. `rng_seed` comes from the runtime's entropy
    /// source (OS or chip RNG); it drives WebSocket keys, masks and jitter.
    pub fn new(config: ClientConfig, rng_seed: [u8; 32]) -> Result<Self, ConfigError> {
        let params: Vec<(&str, &str)> = config.params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let url = endpoint_url(&config.endpoint, &config.api_key, config.vsn, config.log_level, &params)
            .map_err(ConfigError::Endpoint)?;
        // `endpoint_url` checked the URL with the WebSocket parser, which the target's shares:
        // this holds unless the two drift apart, and then it is still the endpoint's fault.
        let target = Target::parse(&url).map_err(|_| ConfigError::Endpoint(EndpointError::InvalidBase))?;
        let heartbeat = Heartbeat::new(config.heartbeat_interval, config.heartbeat_deadline)
            .map_err(ConfigError::Heartbeat)?;
        config.ws.validate().map_err(ConfigError::WebSocket)?;
        for (what, zero) in [
            ("timeout", config.timeout.is_zero()),
            ("ping interval", config.ping_interval.is_some_and(|p| p.is_zero())),
            ("probe timeout", config.probe_timeout.is_zero()),
            ("connect timeout", config.ws.handshake_timeout.is_zero()),
            ("push buffer", config.push_buffer == 0),
            ("max events", config.max_events == 0),
            ("max outgoing", config.max_outgoing == 0),
            ("rate limit", config.rate_limit.is_some_and(|r| r.per_second == 0 || r.burst == 0)),
        ] {
            if zero {
                return Err(ConfigError::Zero(what));
            }
        }
        let bad = |s: &str| s.is_empty() || s.bytes().any(|b| b.is_ascii_control());
        if config.headers.iter().any(|(k, v)| bad(k) || (!v.is_empty() && bad(v)) || k.contains(':')) {
            return Err(ConfigError::InvalidHeader);
        }
        Ok(Self {
            url,
            target,
            vsn: config.vsn,
            headers: config.headers,
            transport: config.transport,
            ws_config: config.ws,
            ping_interval: config.ping_interval,
            reconnect: config.reconnect,
            rejoin: config.rejoin,
            timeout: config.timeout,
            disconnect_when_empty: config.disconnect_when_empty,
            push_buffer: config.push_buffer,
            overflow: config.overflow,
            rate_limit: config.rate_limit,
            rest_fallback: config.rest_fallback,
            api_key: Secret::new(config.api_key),
            rest_out: VecDeque::new(),
            rest_pending: Vec::new(),
            access_token: config.access_token.map(Secret::new),
            wall_clock: None,
            token_source: config.token_source,
            token_refresh_margin: config.token_refresh_margin,
            token_wait: config.token_wait,
            token_wait_until: None,
            token_waived: false,
            token_rejected: false,
            token_refresh_at: None,
            token_gen: 0,
            refresh_asked_gen: None,
            max_events: config.max_events,
            max_outgoing: config.max_outgoing,
            max_presence_entries: config.max_presence_entries,
            rng: Rng::from_seed(rng_seed),
            now: Instant::ZERO,
            conn: Conn::Idle,
            link: Link::None,
            draining: None,
            commands: VecDeque::new(),
            events: VecDeque::new(),
            heartbeat,
            ping: None,
            last_ref: 0,
            last_push: 0,
            slots: Vec::new(),
            topics: BTreeMap::new(),
            reconnect_attempt: 0,
            idle_at: None,
            stop_idle: false,
            ending: None,
            lost_at: None,
            last_join_error: None,
            needs_flush: false,
            transport_id: 0,
            connect_deadline: None,
            connect_timeout: config.ws.handshake_timeout,
            probe_timeout: config.probe_timeout,
            connect_after_close: false,
            transport_gone: false,
            close_frame: None,
        })
    }

    // ---------------------------------------------------------------- getters

    /// The WebSocket URL, with `apikey`, `vsn` and the other parameters.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Where a byte transport connects: [`url`](Self::url)'s host, port, TLS and path (the
    /// target of every [`TransportCommand::Open`]).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The upgrade request's extra header fields (a self-framing transport sends them).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The serializer in use.
    pub fn vsn(&self) -> Vsn {
        self.vsn
    }

    /// Where the socket is.
    pub fn state(&self) -> ConnectionState {
        match self.conn {
            Conn::Idle => ConnectionState::Disconnected,
            Conn::Opening | Conn::Handshaking => ConnectionState::Connecting,
            Conn::Open => ConnectionState::Open,
            Conn::Closing => ConnectionState::Closing,
            Conn::Waiting { at, attempt } => ConnectionState::WaitingToReconnect { at, attempt },
        }
    }

    /// A channel's state, or `None` for a removed channel.
    pub fn channel_state(&self, id: ChannelId) -> Option<ChannelState> {
        self.get(id).map(|c| c.state)
    }

    /// How many handles hold a channel (`channel` calls and `retain_channel`, less
    /// `remove_channel`), or `None` for a removed channel. Zero while its last leave is under way.
    pub fn channel_handles(&self, id: ChannelId) -> Option<u32> {
        self.get(id).map(|c| c.handles)
    }

    /// A channel's topic (`realtime:<name>`).
    pub fn channel_topic(&self, id: ChannelId) -> Option<&str> {
        self.get(id).map(|c| c.topic.as_str())
    }

    /// The channels that exist, in no particular order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.channel.is_some())
            .map(|(i, s)| ChannelId { index: i as u32, generation: s.generation })
    }

    // ---------------------------------------------------------------- auth

    /// Sets (or clears) the access token. Every later join carries it; every joined channel
    /// gets it at once as an `access_token` push (channels that are not joined get it with
    /// their next join). A new-style API key (`sb_...`) or a JWT that has expired by the wall
    /// clock is never sent.
    pub fn set_access_token(&mut self, now: Instant, token: Option<String>) {
        self.now = now;
        self.access_token = token.map(Secret::new);
        self.token_gen += 1;
        self.token_rejected = false;
        // The app's answer is final: held joins go now with what `wire_token` allows (an
        // expired token is still dropped), and none waits again until the next refusal or
        // refresh. (Holding again here would ask again, and an app that answers every ask
        // with the same token would spin.)
        self.token_waived = true;
        self.token_wait_until = None;
        self.arm_token_refresh();
        self.push_token(now);
        self.release_held_joins();
        for index in 0..self.slots.len() as u32 {
            if let Some(ch) = self.slots[index as usize].channel.as_mut()
                && core::mem::take(&mut ch.rejoin_on_token)
                && ch.state == ChannelState::Closed
            {
                self.apply(index, Input::Subscribe, None);
            }
        }
    }

    /// Sends the token to every joined channel.
    fn push_token(&mut self, now: Instant) {
        for index in 0..self.slots.len() as u32 {
            self.push_token_to(now, index);
        }
    }

    /// Sends the token to one channel, if it is joined.
    fn push_token_to(&mut self, now: Instant, index: u32) {
        let Some(token) = wire_token(self.access_token.as_ref(), self.wall_clock, now) else { return };
        if self.conn != Conn::Open {
            return;
        }
        let mut payload = String::from("{\"access_token\":");
        serializer::push_str(&mut payload, token);
        payload.push('}');
        let Some(ch) =
            self.slots[index as usize].channel.as_mut().filter(|c| c.state == ChannelState::Joined)
        else {
            return;
        };
        ch.join_token_gen = self.token_gen;
        self.last_ref += 1;
        let msg = encode_json(self.vsn, ch.join_ref, self.last_ref, &ch.topic, "access_token", &payload);
        self.link.send(msg);
    }

    /// The wall clock (Unix milliseconds) at `now`, when the runtime has one. It is used only to
    /// check a JWT's `exp` (before sending it, and to ask for a new one in time) and for a
    /// replay's `since`; without it, those are skipped.
    ///
    /// Call it before every input: a reading consistent with the last one taken (the wall
    /// clock advanced as much as `now`, within [`WALL_CLOCK_TOLERANCE`]) changes nothing and
    /// costs nothing. Any other reading (the machine slept, so the monotonic clock stood still
    /// while the wall clock ran; or the clock was set) is taken, and the token refresh is
    /// planned again from it: a token that expired meanwhile is asked about at once.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.now = now;
        let tolerance = u64::try_from(WALL_CLOCK_TOLERANCE.as_millis()).unwrap_or(u64::MAX);
        if wall_ms(self.wall_clock, now).is_some_and(|expected| expected.abs_diff(unix_ms) <= tolerance) {
            return;
        }
        self.wall_clock = Some((now, unix_ms));
        self.arm_token_refresh();
    }

    /// The instant the current token enters its refresh margin, with a wall clock and a token
    /// source.
    fn arm_token_refresh(&mut self) {
        self.token_refresh_at = None;
        if self.refresh_asked_gen == Some(self.token_gen) {
            return;
        }
        let (Some(token), Some((at, unix_ms)), true) =
            (&self.access_token, self.wall_clock, self.token_source)
        else {
            return;
        };
        let Some(exp) = token.jwt_exp() else { return };
        let margin = u64::try_from(self.token_refresh_margin.as_millis()).unwrap_or(u64::MAX);
        let due_ms = exp.saturating_mul(1000).saturating_sub(margin);
        // Never in the past: a token already inside its margin is asked about at once.
        let due = at + Duration::from_millis(due_ms.saturating_sub(unix_ms));
        self.token_refresh_at = Some(if due > self.now { due } else { self.now });
    }

    /// Why the next join must wait for a token, if it must.
    fn token_needed(&self, now: Instant) -> Option<TokenReason> {
        if !self.token_source || self.token_waived {
            return None;
        }
        if self.token_rejected {
            return Some(TokenReason::Rejected);
        }
        let Some(token) = self.access_token.as_ref().filter(|t| !t.is_api_key()) else {
            return Some(TokenReason::Missing);
        };
        let margin = u64::try_from(self.token_refresh_margin.as_millis()).unwrap_or(u64::MAX);
        match (token.jwt_exp(), self.wall_clock) {
            (Some(exp), Some((at, unix_ms))) => {
                let elapsed =
                    u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX);
                let wall = unix_ms.saturating_add(elapsed);
                (exp.saturating_mul(1000) <= wall.saturating_add(margin)).then_some(TokenReason::Expiring)
            }
            _ => None,
        }
    }

    /// Asks the app for a token (once per wait) and starts the wait.
    fn request_token(&mut self, now: Instant, reason: TokenReason) {
        if self.token_wait_until.is_none() {
            self.token_wait_until = Some(now + self.token_wait);
            self.events.push_back(Event::TokenNeeded { reason });
        }
    }

    /// Sends the joins that waited for a token.
    fn release_held_joins(&mut self) {
        if self.conn != Conn::Open {
            return;
        }
        for index in 0..self.slots.len() as u32 {
            let id = self.id(index);
            if let Some(ch) = self.slots[index as usize].channel.as_mut()
                && ch.join_held
                && ch.state == ChannelState::Joining
            {
                self.act(index, id, Action::SendJoin, None);
            }
        }
    }

    // ---------------------------------------------------------------- socket commands

    /// Connects, unless connected or connecting. A pending reconnect starts at once.
    pub fn connect(&mut self, now: Instant) {
        self.now = now;
        self.idle_at = None;
        if let Some(reason) = self.token_needed(now) {
            self.request_token(now, reason);
        }
        match self.conn {
            Conn::Idle => {
                self.reconnect_attempt = 0;
                self.open_transport();
            }
            Conn::Waiting { .. } => self.open_transport(),
            Conn::Closing => self.connect_after_close = true,
            Conn::Opening | Conn::Handshaking | Conn::Open => {}
        }
    }

    /// Disconnects and cancels any reconnect. Channels stay subscribed in intent: they rejoin
    /// (without an error status) on the next `connect`. The close frame says 1000 (normal).
    pub fn disconnect(&mut self, now: Instant) {
        self.disconnect_inner(now, CloseCode::NORMAL, "");
    }

    /// [`disconnect`](Self::disconnect) with this close code and reason in the close frame (a
    /// byte transport's, or the one a self-framing transport sends for
    /// [`TransportCommand::Close`]). A disconnect already under way keeps its own.
    ///
    /// # Errors
    ///
    /// [`DisconnectError::InvalidCode`] unless `code` is 1000 or 3000-4999, and
    /// [`DisconnectError::ReasonTooLong`] for a reason over 123 bytes; nothing changes then.
    pub fn disconnect_with(&mut self, now: Instant, code: u16, reason: &str) -> Result<(), DisconnectError> {
        if !matches!(code, 1000 | 3000..=4999) {
            return Err(DisconnectError::InvalidCode(code));
        }
        if reason.len() > ws::MAX_CLOSE_REASON {
            return Err(DisconnectError::ReasonTooLong { len: reason.len() });
        }
        self.disconnect_inner(now, CloseCode(code), reason);
        Ok(())
    }

    fn disconnect_inner(&mut self, now: Instant, code: CloseCode, reason: &str) {
        self.now = now;
        self.lost_at = None;
        self.reconnect_attempt = 0;
        self.connect_after_close = false;
        match self.conn {
            Conn::Idle | Conn::Closing => {}
            Conn::Waiting { .. } => {
                // No connection ends now, but the plan announced by the last `Disconnected`
                // (a reconnect) changes: say so.
                self.conn = Conn::Idle;
                let reason = if self.stop_idle { StopReason::Idle } else { StopReason::Manual };
                self.stop_idle = false;
                self.events
                    .push_back(Event::Disconnected { end: ConnectionEnd::Manual, next: Next::Stop(reason) });
            }
            Conn::Opening | Conn::Handshaking => {
                self.ending = Some(ConnectionEnd::Manual);
                self.close_frame = Some((code.0, String::from(reason)));
                self.finish(Finish::Close);
            }
            Conn::Open => {
                self.ending = Some(ConnectionEnd::Manual);
                // For the `Close` command when the connection ends (now, or once a byte
                // link's close handshake is done).
                self.close_frame = Some((code.0, String::from(reason)));
                let closing = match &mut self.link {
                    Link::Bytes(ws) => ws.close(now, code, reason).is_ok(),
                    _ => false,
                };
                if closing {
                    self.conn = Conn::Closing;
                    self.heartbeat.stop();
                    self.ping = None;
                } else {
                    self.finish(Finish::Close);
                }
            }
        }
        self.idle_at = None;
    }

    /// The app came to the foreground or the network changed: probe liveness at once (a
    /// heartbeat now, or the one in flight, with its reply due within the probe timeout), or
    /// reconnect now if waiting to.
    pub fn resume(&mut self, now: Instant) {
        self.now = now;
        match self.conn {
            Conn::Open => self.heartbeat.probe(now, self.probe_timeout),
            Conn::Waiting { .. } => self.open_transport(),
            _ => {}
        }
    }

    // ---------------------------------------------------------------- channel commands

    /// The channel for topic `realtime:<name>`: a new one, or another handle to the existing
    /// one when `config` is equal. Remove each handle with [`remove_channel`](Self::remove_channel).
    pub fn channel(
        &mut self,
        now: Instant,
        name: &str,
        config: ChannelConfig,
    ) -> Result<ChannelId, ChannelError> {
        self.now = now;
        if config.bindings().len() > MAX_BINDINGS {
            return Err(ChannelError::TooManyBindings);
        }
        let mut topic = String::with_capacity(TOPIC_PREFIX.len() + name.len());
        topic.push_str(TOPIC_PREFIX);
        topic.push_str(name);
        if let Some(&index) = self.topics.get(topic.as_bytes()) {
            let slot = &mut self.slots[index as usize];
            let ch = slot.channel.as_mut().ok_or(ChannelError::UnknownChannel)?;
            if ch.handles == 0 {
                // Its last handle was removed and it is leaving: nobody holds it, so the new
                // handle takes it over (with this config for its next join), and the ids handed
                // out before become stale.
                ch.config = config;
                ch.handles = 1;
                // The leave's `Closed` belonged to the previous owner, who let go: the new one
                // does not hear it (it hears `Subscribed` once it subscribes and the leave is done).
                ch.quiet_close = ch.state != ChannelState::Closed;
                slot.generation = slot.generation.wrapping_add(1);
                self.idle_at = None;
                return Ok(ChannelId { index, generation: slot.generation });
            }
            if ch.config != config {
                return Err(ChannelError::ConfigMismatch);
            }
            ch.handles += 1;
            return Ok(ChannelId { index, generation: slot.generation });
        }
        let index = match self.slots.iter().position(|s| s.channel.is_none()) {
            Some(i) => i,
            None => {
                // A slot holds a whole channel (hundreds of bytes): grow by half, from one, so
                // that a device with one channel does not pay for the four a `Vec` starts with.
                if self.slots.len() == self.slots.capacity() {
                    self.slots.reserve_exact(self.slots.len().div_ceil(2).max(1));
                }
                self.slots.push(Slot { generation: 0, channel: None });
                self.slots.len() - 1
            }
        };
        let index32 = u32::try_from(index).map_err(|_| ChannelError::UnknownChannel)?;
        self.topics.insert(topic.as_bytes().into(), index32);
        let slot = &mut self.slots[index];
        slot.channel = Some(Channel::new(topic, config, self.max_presence_entries));
        self.idle_at = None;
        Ok(ChannelId { index: index32, generation: slot.generation })
    }

    /// One more handle to an existing channel, as [`channel`](Self::channel) gives for an
    /// equal config. A runtime calls it when it clones a channel handle, so every clone counts:
    /// the channel leaves only once [`remove_channel`](Self::remove_channel) was called for
    /// each.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel, or one whose last handle was
    /// removed (it is leaving for good; `channel` makes a new handle to its topic).
    pub fn retain_channel(&mut self, id: ChannelId) -> Result<(), ChannelError> {
        let ch = self.get_mut(id).filter(|c| c.handles > 0).ok_or(ChannelError::UnknownChannel)?;
        ch.handles = ch.handles.saturating_add(1);
        Ok(())
    }

    /// Adds a postgres changes binding to a channel that is not subscribed (closed: new, or
    /// left); the next join carries it. Its index in each change's
    /// [`BindingSet`](crate::phoenix::postgres::BindingSet) is returned. Every handle of the
    /// channel shares it.
    pub fn add_postgres_changes(
        &mut self,
        now: Instant,
        id: ChannelId,
        binding: Binding,
    ) -> Result<usize, ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        if ch.state != ChannelState::Closed || ch.resubscribe {
            return Err(ChannelError::AlreadySubscribed);
        }
        ch.config.bindings_mut().push(binding).map_err(|_| ChannelError::TooManyBindings)
    }

    /// The app listens to a channel's presence (or tracks on it): its joins ask for presence
    /// even if the config does not. Before `subscribe` this only marks the join; on a channel
    /// already joining or joined without presence, it joins again with it, because the server
    /// never sends the presence state to a join that did not ask (spec C.2).
    pub fn enable_presence(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        if ch.presence_wanted || ch.config.presence_requested() {
            return Ok(());
        }
        ch.presence_wanted = true;
        self.apply(id.index, Input::PresenceOn, None);
        Ok(())
    }

    /// Joins the channel (connecting the socket if it is disconnected), and says whether that
    /// is already so: [`Subscription::Subscribed`] for a joined channel (in the postgres ready
    /// mode, once its changes are live), else [`Subscription::Pending`], and the channel's
    /// next [`Event::Status`] is the outcome.
    ///
    /// A channel that is leaving joins again once the leave is done (the leave's `Closed` is
    /// not reported then: the next status is the new join's). In the ready mode, a joined
    /// channel whose wait for the changes ran out waits again, so a `ChannelError` or
    /// `Subscribed` follows this call too.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn subscribe(&mut self, now: Instant, id: ChannelId) -> Result<Subscription, ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.rejoin_on_token = false;
        let answer = match (ch.state, ch.ready) {
            // Joined outside the ready mode, or live in it: `Subscribed` was reported already.
            (ChannelState::Joined, ReadyWait::No) => Subscription::Subscribed,
            (ChannelState::Joined, ReadyWait::Until(_)) => Subscription::Pending,
            (ChannelState::Joined, ReadyWait::Late) => {
                // The wait ran out and was reported: nothing would answer this call but a late
                // ok, which may never come. A new wait ends in a status either way.
                if let Some(wait) = ch.config.postgres_ready_timeout() {
                    ch.ready = ReadyWait::Until(now + wait);
                }
                Subscription::Pending
            }
            (ChannelState::Leaving, _) => {
                ch.resubscribe = true;
                // The leave's `Closed` would come first and read as this call's outcome.
                ch.quiet_close = true;
                Subscription::Pending
            }
            _ => {
                self.apply(id.index, Input::Subscribe, None);
                Subscription::Pending
            }
        };
        if matches!(self.conn, Conn::Idle | Conn::Closing) {
            self.connect(now);
        }
        Ok(answer)
    }

    /// Leaves the channel. [`Event::Left`] says how the leave ended, right before the
    /// `Closed` status: when the server answers, when the leave times out, or at once when
    /// there is nothing to leave (offline, or not joined).
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn unsubscribe(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.resubscribe = false;
        ch.quiet_close = false;
        ch.rejoin_on_token = false;
        self.leave(id);
        Ok(())
    }

    /// The app asks channel `id` to leave: the handle waits for the outcome.
    fn leave(&mut self, id: ChannelId) {
        if let Some(ch) = self.slots[id.index as usize].channel.as_mut()
            && !ch.leave_waiters.contains(&id.generation)
        {
            ch.leave_waiters.push(id.generation);
        }
        self.apply(id.index, Input::Unsubscribe, None);
    }

    /// Drops one handle; the last one leaves the channel ([`Event::Left`] says how) and deletes
    /// it once closed.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn remove_channel(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.handles = ch.handles.saturating_sub(1);
        if ch.handles == 0 {
            ch.resubscribe = false;
            ch.rejoin_on_token = false;
            self.release(id.index);
        }
        Ok(())
    }

    /// Drops every handle of every channel: all leave (an [`Event::Left`] for each channel not
    /// leaving already) and are deleted once closed.
    pub fn remove_all_channels(&mut self, now: Instant) {
        self.now = now;
        for index in 0..self.slots.len() as u32 {
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                ch.handles = 0;
                ch.resubscribe = false;
                self.release(index);
            }
        }
    }

    /// Pushes `body` on a channel with the default timeout.
    pub fn push(&mut self, now: Instant, id: ChannelId, body: PushBody) -> Result<PushId, PushError> {
        self.push_with_timeout(now, id, body, self.timeout)
    }

    /// Broadcasts `event` with `data` on a channel: JSON as a text frame (or a binary kind-3
    /// frame with `binary_frames`, as realtime-js sends), bytes as a kind-3 frame (2.0.0
    /// only). With the channel's `broadcast.ack` on, the outcome is the server's reply (an
    /// error such as `payload_size_exceeded`, or a timeout); without it, `Ok` once the
    /// broadcast is written, since the server does not answer.
    pub fn broadcast(
        &mut self,
        now: Instant,
        id: ChannelId,
        event: &str,
        data: BroadcastData,
        binary_frames: bool,
    ) -> Result<PushId, PushError> {
        let body = match data {
            BroadcastData::Json(payload) if !binary_frames => {
                let mut p = String::with_capacity(payload.len() + event.len() + 48);
                p.push_str("{\"type\":\"broadcast\",\"event\":");
                serializer::push_str(&mut p, event);
                p.push_str(",\"payload\":");
                p.push_str(&payload);
                p.push('}');
                // The payload is checked as JSON with the whole body, when it is pushed.
                PushBody::Json { event: String::from("broadcast"), payload: p }
            }
            data => PushBody::UserBroadcast { event: String::from(event), meta: None, data },
        };
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        let reply = ch.config.acks_broadcasts();
        let can_push = ch.state == ChannelState::Joined && self.conn == Conn::Open;
        if self.rest_fallback
            && !can_push
            && !matches!(ch.state, ChannelState::Closed | ChannelState::Leaving)
        {
            return self.broadcast_over_rest(now, id, body);
        }
        self.push_inner(now, id, body, self.timeout, reply)
    }

    /// The REST fallback: the broadcast as a request for the runtime.
    fn broadcast_over_rest(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
    ) -> Result<PushId, PushError> {
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        check_body(self.vsn, &ch.topic, &body)?;
        let name = ch.topic.strip_prefix(TOPIC_PREFIX).unwrap_or(&ch.topic);
        let private = ch.config.is_private();
        let request = match &body {
            PushBody::Json { payload, .. } => {
                // The socket form `{type, event, payload}`: the REST endpoint takes the event in
                // the path and the user payload as the body.
                #[derive(Deserialize)]
                struct Socket<'a> {
                    #[serde(borrow)]
                    event: Cow<'a, str>,
                    #[serde(borrow)]
                    payload: &'a RawValue,
                }
                let s: Socket<'_> = serde_json::from_str(payload).map_err(|_| PushError::InvalidJson)?;
                self.rest_broadcast(now, name, &s.event, private, RestBody::Json(s.payload.get()))
            }
            PushBody::UserBroadcast { event, data, .. } => {
                let body = match data {
                    BroadcastData::Json(j) => RestBody::Json(j),
                    BroadcastData::Binary(b) => RestBody::Binary(b),
                };
                self.rest_broadcast(now, name, event, private, body)
            }
        }
        .map_err(|e| match e {
            RestError::InvalidHeader => PushError::InvalidHeader,
            _ => PushError::InvalidJson,
        })?;
        if self.rest_out.len() + self.rest_pending.len() >= self.push_buffer {
            return Err(PushError::BufferFull);
        }
        self.last_push += 1;
        let push = PushId(self.last_push);
        // The request's own timeout, and as long again for a runtime that never reports.
        let deadline = now + self.timeout + self.timeout;
        self.rest_out.push_back((id, push, request, deadline));
        Ok(push)
    }

    /// One REST broadcast of `event` to channel `name` (without `realtime:`), for the runtime
    /// to carry out: `POST /api/broadcast/{name}/events/{event}` on this client's host, with
    /// its API key and its push timeout. The access token goes as `Authorization: Bearer` only
    /// where a join would carry it: never an `sb_` API key, never a JWT expired by the wall
    /// clock at `now`.
    ///
    /// # Errors
    ///
    /// [`RestError::InvalidJson`] for a JSON body that is not JSON, [`RestError::InvalidHeader`]
    /// for credentials with control characters.
    pub fn rest_broadcast(
        &self,
        now: Instant,
        name: &str,
        event: &str,
        private: bool,
        body: RestBody<'_>,
    ) -> Result<RestRequest, RestError> {
        let token = wire_token(self.access_token.as_ref(), self.wall_clock, now);
        let auth = Auth { api_key: self.api_key.expose(), access_token: token };
        RestRequest::single(&self.url, auth, name, event, private, body, now, self.timeout)
    }

    /// The next broadcast to send over REST (the opt-in fallback): connect to its host and
    /// port (TLS when it says so), drive it, and report its result with `handle_rest_result`.
    ///
    /// A push whose result does not come within twice the push timeout ends `TimedOut`, and a
    /// late result is ignored.
    pub fn poll_rest(&mut self) -> Option<(PushId, RestRequest)> {
        let (channel, push, request, deadline) = self.rest_out.pop_front()?;
        self.rest_pending.push((channel, push, deadline));
        Some((push, request))
    }

    /// The result of a REST broadcast from `poll_rest`; it ends the push.
    pub fn handle_rest_result(&mut self, push: PushId, result: &Result<(), RestError>) {
        let Some(pos) = self.rest_pending.iter().position(|(_, p, _)| *p == push) else { return };
        let (channel, push, _) = self.rest_pending.swap_remove(pos);
        let outcome = match result {
            Ok(()) => PushOutcome::Ok(String::from("{}")),
            Err(RestError::Timeout) => PushOutcome::TimedOut,
            Err(e) => PushOutcome::Error(serde_json::to_string(&alloc::format!("{e}")).unwrap_or_default()),
        };
        self.events.push_back(Event::Push { channel, push, outcome });
    }

    /// Pushes `body` on a channel; its outcome is reported as [`Event::Push`]. It goes out at
    /// once when the channel is joined, or waits in the channel's buffer (its timeout already
    /// running) while the channel joins, errored or the socket is offline.
    pub fn push_with_timeout(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
        timeout: Duration,
    ) -> Result<PushId, PushError> {
        self.push_inner(now, id, body, timeout, true)
    }

    fn push_inner(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
        timeout: Duration,
        reply: bool,
    ) -> Result<PushId, PushError> {
        self.now = now;
        let vsn = self.vsn;
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        check_body(vsn, &ch.topic, &body)?;
        if matches!(ch.state, ChannelState::Closed | ChannelState::Leaving) {
            return Err(PushError::NotJoined);
        }
        let mut direct = ch.state == ChannelState::Joined && self.conn == Conn::Open && ch.waiting.is_empty();
        if direct && self.link.is_full(self.max_outgoing) {
            return Err(PushError::Busy);
        }
        if direct && let Some(limit) = self.rate_limit {
            let at = ch.limiter.allowed_at(&limit, now);
            if at > now {
                if limit.policy == RateLimitPolicy::Refuse {
                    return Err(PushError::RateLimited);
                }
                // It waits its turn in the buffer.
                direct = false;
            }
        }
        let ch = self.slots[id.index as usize].channel.as_mut().ok_or(PushError::UnknownChannel)?;
        if !direct && ch.waiting.len() >= self.push_buffer {
            if self.overflow == Overflow::Error {
                return Err(PushError::BufferFull);
            }
            if let Some(old) = ch.waiting.pop_front() {
                self.events.push_back(Event::Push {
                    channel: id,
                    push: old.id,
                    outcome: PushOutcome::NotSent(NotSentReason::Dropped),
                });
            }
        }
        self.last_push += 1;
        let push = PushId(self.last_push);
        let deadline = now + timeout;
        if direct {
            if let Some(limit) = self.rate_limit {
                ch.limiter.take(&limit, now);
            }
            self.last_ref += 1;
            let msg_ref = self.last_ref;
            let msg = encode(vsn, ch.join_ref, msg_ref, &ch.topic, &body).map_err(PushError::Encode)?;
            if !self.link.send(msg) {
                return Err(PushError::Busy);
            }
            if reply {
                ch.in_flight.push_back(InFlight { id: push, msg_ref, deadline });
            } else {
                self.events.push_back(Event::Push {
                    channel: id,
                    push,
                    outcome: PushOutcome::Ok(String::from("{}")),
                });
            }
            return Ok(push);
        }
        ch.waiting.push_back(Waiting { id: push, body, reply, deadline });
        if let Some(limit) = self.rate_limit
            && ch.state == ChannelState::Joined
            && ch.rate_wait.is_none()
        {
            ch.rate_wait = Some(ch.limiter.allowed_at(&limit, now));
        }
        Ok(push)
    }

    /// Tracks this client's presence on a channel with `payload` (a raw JSON object), and
    /// keeps it: it is tracked again after every rejoin, until `untrack`. Presence is turned on
    /// for the channel ([`enable_presence`](Self::enable_presence)). Sent at once when joined
    /// (else once joined, also when called before `subscribe`), within the server's budget of 5 presence calls per 30 s per
    /// channel, which closes the channel when exceeded: calls over it are coalesced, and the
    /// latest payload goes out when the budget allows.
    pub fn track(&mut self, now: Instant, id: ChannelId, payload: &str) -> Result<(), PushError> {
        self.now = now;
        if !payload.trim_start().starts_with('{') || serde_json::from_str::<&RawValue>(payload).is_err() {
            return Err(PushError::InvalidJson);
        }
        let ch = self.get_mut(id).ok_or(PushError::UnknownChannel)?;
        if ch.state == ChannelState::Leaving {
            return Err(PushError::NotJoined);
        }
        ch.tracked = Some(String::from(payload));
        ch.tracked_on = None;
        ch.untrack_owed = false;
        // A track needs a join that asked for presence (spec C.2's #2196): a rejoin if not.
        self.enable_presence(now, id).map_err(|_| PushError::UnknownChannel)?;
        self.sync_presence(id.index);
        Ok(())
    }

    /// Stops tracking this client's presence on a channel (within the same budget).
    pub fn untrack(&mut self, now: Instant, id: ChannelId) -> Result<(), PushError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(PushError::UnknownChannel)?;
        if ch.tracked.take().is_some() || ch.tracked_on.is_some() {
            // The server may know it (sent, or about to be): say so.
            ch.untrack_owed = true;
        }
        ch.tracked_on = None;
        self.sync_presence(id.index);
        Ok(())
    }

    /// A channel's presence state.
    pub fn presence(&self, id: ChannelId) -> Option<&crate::phoenix::presence::PresenceState> {
        self.get(id).map(|c| &c.presence)
    }

    /// Brings the server's view of this client's presence to what the app wants (a track of
    /// the latest payload, or an untrack), if the channel is joined and the budget allows; else
    /// arms the budget timer. Replies are not awaited: a failure shows as the server's
    /// `system` error.
    fn sync_presence(&mut self, index: u32) {
        let now = self.now;
        if self.conn != Conn::Open {
            return;
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.state != ChannelState::Joined {
            return;
        }
        let payload = match (&ch.tracked, ch.untrack_owed) {
            (Some(tracked), _) if ch.tracked_on != ch.join_ref => {
                let mut p = String::with_capacity(tracked.len() + 48);
                p.push_str(r#"{"type":"presence","event":"track","payload":"#);
                p.push_str(tracked);
                p.push('}');
                p
            }
            (None, true) => String::from(r#"{"type":"presence","event":"untrack"}"#),
            _ => return,
        };
        while ch.presence_calls.front().is_some_and(|&t| t + PRESENCE_WINDOW <= now) {
            ch.presence_calls.pop_front();
        }
        if ch.presence_calls.len() >= PRESENCE_CALLS {
            // Coalesced: whatever the app wants by then goes out when the oldest call leaves
            // the window.
            ch.presence_wait = ch.presence_calls.front().map(|&t| t + PRESENCE_WINDOW);
            return;
        }
        self.last_ref += 1;
        let msg = encode_json(self.vsn, ch.join_ref, self.last_ref, &ch.topic, "presence", &payload);
        if self.link.send(msg) {
            ch.presence_calls.push_back(now);
            if ch.tracked.is_some() {
                ch.tracked_on = ch.join_ref;
            } else {
                ch.untrack_owed = false;
            }
        }
    }

    // ---------------------------------------------------------------- transport inputs

    /// The transport the client asked for is up: a byte transport's TCP (and TLS) connection,
    /// or a self-framing transport's open WebSocket.
    pub fn handle_transport_open(&mut self, now: Instant, id: TransportId) {
        self.now = now;
        if self.conn != Conn::Opening || id.0 != self.transport_id {
            return;
        }
        match self.transport {
            TransportKind::Messages => {
                self.link = Link::Messages(VecDeque::new());
                self.on_open(now);
            }
            TransportKind::Bytes => {
                let mut seed = [0u8; 32];
                self.rng.fill_bytes(&mut seed);
                // Invariant: the config was validated in `new`.
                let Ok(mut ws) = WebSocket::new(self.ws_config, seed) else { return };
                // The outgoing bound is the client's (pushes only): control frames always fit.
                ws.set_queue_limits(WS_EVENT_BATCH, usize::MAX);
                let headers: Vec<(&str, &str)> =
                    self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let started = ws::Url::parse(&self.url).ok().is_some_and(|url| {
                    ws.connect(now, &ws::Request { url, protocols: &[], headers: &headers }).is_ok()
                });
                self.link = Link::Bytes(Box::new(ws));
                if started {
                    self.conn = Conn::Handshaking;
                } else {
                    // Unreachable with a validated config; ends like a failed transport.
                    self.finish(Finish::Close);
                }
            }
        }
    }

    /// The transport `id` ended (or failed to open). Reports about an older transport are
    /// ignored.
    pub fn handle_transport_closed(&mut self, now: Instant, id: TransportId, how: TransportClosed<'_>) {
        self.now = now;
        if id.0 != self.transport_id {
            return;
        }
        self.draining = None;
        if !matches!(self.conn, Conn::Opening | Conn::Handshaking | Conn::Open | Conn::Closing) {
            return;
        }
        let end = match how {
            TransportClosed::Closed { code, reason } => ConnectionEnd::ServerClosed {
                code: code.unwrap_or(CloseCode::NO_STATUS.0),
                reason: String::from(reason),
            },
            TransportClosed::UpgradeRejected { status } => {
                ConnectionEnd::UpgradeRejected { status, body: String::new() }
            }
            TransportClosed::Eof | TransportClosed::Error => ConnectionEnd::TransportLost,
        };
        self.transport_gone = true;
        if let Link::Bytes(ws) = &mut self.link {
            ws.handle_transport_closed(now);
            self.pump(now);
        }
        // Only if the report's transport is still the current one: finishing it may already
        // have started the next attempt (a connect asked for during a manual close).
        if id.0 == self.transport_id
            && (!self.link_gone() || matches!(self.conn, Conn::Opening | Conn::Handshaking))
        {
            self.ending.get_or_insert(end);
            self.finish(Finish::Gone);
        }
        self.transport_gone = false;
    }

    /// Bytes from a byte transport. Returns how many were consumed: keep the rest and offer it
    /// again with more. It stops early at a partial frame, while a pong waits for
    /// `poll_transmit`, or when the event queue is full (drain `poll_event`).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.now = now;
        let mut used = 0;
        while used < bytes.len() && self.events.len() < self.max_events {
            let Link::Bytes(ws) = &mut self.link else {
                // No connection to feed: the bytes belong to a transport that is going away.
                return bytes.len();
            };
            let n = ws.handle_input(now, &bytes[used..]);
            used += n;
            let events = self.pump(now);
            if n == 0 && events == 0 {
                break;
            }
        }
        used
    }

    /// A whole message from a self-framing transport. Hand them over one at a time and drain
    /// `poll_event` in between: the event-queue bound that throttles byte input has no
    /// equivalent here (the transport holds the messages not yet taken).
    pub fn handle_message(&mut self, now: Instant, message: ws::Message) {
        self.now = now;
        if self.conn == Conn::Open && matches!(self.link, Link::Messages(_)) {
            self.on_message(now, message);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        // A timer can arm another that is already due (a zero backoff step, a zero idle
        // delay): run passes until nothing is due, so the next deadline is always ahead.
        for _ in 0..MAX_TIMER_PASSES {
            self.timeout_pass(now);
            if self.poll_timeout().is_none_or(|t| t > now) {
                return;
            }
        }
    }

    fn timeout_pass(&mut self, now: Instant) {
        if self.connect_deadline.is_some_and(|at| now >= at) {
            self.connect_deadline = None;
            self.ending.get_or_insert(ConnectionEnd::ConnectTimeout);
            self.finish(Finish::Close);
        }
        if let Link::Bytes(ws) = &mut self.link {
            ws.handle_timeout(now);
            self.pump(now);
        }
        if self.conn == Conn::Open {
            let last_ref = &mut self.last_ref;
            match self.heartbeat.handle_timeout(now, || {
                *last_ref += 1;
                *last_ref
            }) {
                Some(HeartbeatAction::Send { msg_ref }) => {
                    let msg = encode_json(self.vsn, None, msg_ref, HEARTBEAT_TOPIC, HEARTBEAT_EVENT, "{}");
                    if self.link.send(msg) {
                        self.events.push_back(Event::Heartbeat(HeartbeatStatus::Sent));
                    }
                }
                Some(HeartbeatAction::TimedOut) => {
                    self.events.push_back(Event::Heartbeat(HeartbeatStatus::TimedOut));
                    self.ending.get_or_insert(ConnectionEnd::HeartbeatTimeout);
                    self.finish(Finish::Abort);
                }
                None => {}
            }
        }
        if self.conn == Conn::Open
            && let Some(ping) = &mut self.ping
        {
            if ping.outstanding.is_some_and(|sent| now >= sent + ping.interval) {
                self.ending.get_or_insert(ConnectionEnd::PingTimeout);
                self.finish(Finish::Abort);
            } else if ping.outstanding.is_none() && now >= ping.next {
                ping.outstanding = Some(now);
                ping.next = now + ping.interval;
                if let Link::Bytes(ws) = &mut self.link {
                    // A ping can only fail on a closing connection, which ends anyway.
                    let _ = ws.ping(now);
                }
            }
        }
        if let Conn::Waiting { at, .. } = self.conn
            && now >= at
        {
            self.open_transport();
        }
        if self.token_wait_until.is_some_and(|at| now >= at) {
            // No token came: the held joins go ahead with what there is.
            self.token_wait_until = None;
            self.token_waived = true;
            self.release_held_joins();
        }
        if self.token_refresh_at.is_some_and(|at| now >= at) {
            self.token_refresh_at = None;
            self.refresh_asked_gen = Some(self.token_gen);
            self.token_waived = false;
            self.request_token(now, TokenReason::Expiring);
        }
        let events = &mut self.events;
        let mut expire = |channel: ChannelId, push: PushId, deadline: Instant| {
            let due = now >= deadline;
            if due {
                events.push_back(Event::Push { channel, push, outcome: PushOutcome::TimedOut });
            }
            !due
        };
        self.rest_out.retain(|(c, p, _, d)| expire(*c, *p, *d));
        self.rest_pending.retain(|(c, p, d)| expire(*c, *p, *d));
        for index in 0..self.slots.len() as u32 {
            self.channel_timeouts(now, index);
        }
        if self.idle_at.is_some_and(|at| now >= at) {
            self.idle_at = None;
            if self.conn != Conn::Idle {
                self.stop_idle = true;
                self.disconnect(now);
            }
        }
    }

    // ---------------------------------------------------------------- outputs

    /// The next transport command.
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        let cmd = self.commands.pop_front()?;
        if matches!(cmd, TransportCommand::Open { .. }) {
            // The runtime flushed the previous link when it executed its `Close`.
            self.draining = None;
        }
        Some(cmd)
    }

    /// Fills `out` with bytes for a byte transport; 0 when there are none.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        if let Some(old) = &mut self.draining {
            let n = old.poll_transmit(out);
            if n > 0 {
                return n;
            }
            self.draining = None;
        }
        if self.needs_flush {
            self.flush_all();
        }
        let Link::Bytes(ws) = &mut self.link else { return 0 };
        let n = ws.poll_transmit(out);
        if ws.state() == ws::State::Closed && n == 0 {
            // Everything, the close frame included, is out.
            self.finish(Finish::Close);
        }
        n
    }

    /// The next message for a self-framing transport.
    pub fn poll_message(&mut self) -> Option<ws::Message> {
        if self.needs_flush {
            self.flush_all();
        }
        match &mut self.link {
            Link::Messages(q) => q.pop_front(),
            _ => None,
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut add = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        add(self.connect_deadline);
        add(self.rest_out.iter().map(|e| e.3).chain(self.rest_pending.iter().map(|e| e.2)).min());
        add(self.token_wait_until);
        add(self.token_refresh_at);
        match self.conn {
            Conn::Waiting { at, .. } => add(Some(at)),
            Conn::Open => {
                add(self.heartbeat.poll_timeout());
                if let Some(p) = &self.ping {
                    add(Some(p.outstanding.map_or(p.next, |sent| sent + p.interval)));
                }
            }
            _ => {}
        }
        if let Link::Bytes(ws) = &self.link {
            add(ws.poll_timeout());
        }
        add(self.idle_at);
        for slot in &self.slots {
            if let Some(ch) = &slot.channel {
                add(ch.poll_timeout());
            }
        }
        next
    }

    // ---------------------------------------------------------------- internals

    fn get(&self, id: ChannelId) -> Option<&Channel> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.channel.as_ref()
    }

    fn get_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.channel.as_mut()
    }

    fn id(&self, index: u32) -> ChannelId {
        ChannelId { index, generation: self.slots[index as usize].generation }
    }

    fn link_gone(&self) -> bool {
        matches!(self.link, Link::None)
    }

    fn open_transport(&mut self) {
        self.link = Link::None;
        self.ending = None;
        self.stop_idle = false;
        self.conn = Conn::Opening;
        self.transport_id += 1;
        self.connect_deadline = Some(self.now + self.connect_timeout);
        self.commands.push_back(TransportCommand::Open {
            url: self.url.clone(),
            target: self.target.clone(),
            id: TransportId(self.transport_id),
        });
    }

    /// Drains the WebSocket layer's events; returns how many there were.
    fn pump(&mut self, now: Instant) -> usize {
        let mut count = 0;
        loop {
            let Link::Bytes(ws) = &mut self.link else { return count };
            let Some(event) = ws.poll_event() else { break };
            count += 1;
            match event {
                WsEvent::Open { .. } => self.on_open(now),
                WsEvent::Rejected { status, body } => {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    self.ending.get_or_insert(ConnectionEnd::UpgradeRejected { status, body });
                }
                WsEvent::Message(m) => self.on_message(now, m),
                WsEvent::Pong { rtt } => {
                    if let (Some(rtt), Some(ping)) = (rtt, &mut self.ping) {
                        ping.outstanding = None;
                        self.events.push_back(Event::Pong { rtt });
                    }
                }
                WsEvent::Close { code, reason } => {
                    let code = code.unwrap_or(CloseCode::NO_STATUS).0;
                    self.ending.get_or_insert(ConnectionEnd::ServerClosed { code, reason });
                    // The connection is over: the close reply drains through `poll_transmit`
                    // while the channels already count as offline.
                    self.finish(Finish::Close);
                    return count;
                }
                WsEvent::Failed(e) => {
                    let end = match e {
                        ws::Error::ConnectionReset => ConnectionEnd::TransportLost,
                        e => ConnectionEnd::WebSocket(e),
                    };
                    self.ending.get_or_insert(end);
                    self.finish(Finish::Close);
                    return count;
                }
            }
        }
        if let Link::Bytes(ws) = &self.link
            && ws.state() == ws::State::Closed
        {
            // The close handshake is done (or the connection failed): what is left to send
            // drains through `poll_transmit` before the runtime closes.
            self.finish(Finish::Close);
        }
        count
    }

    fn on_open(&mut self, now: Instant) {
        self.conn = Conn::Open;
        self.connect_deadline = None;
        self.reconnect_attempt = 0;
        self.last_join_error = None;
        self.heartbeat.start(now);
        self.ping = match (self.transport, self.ping_interval) {
            (TransportKind::Bytes, Some(interval)) => {
                Some(Ping { interval, next: now + interval, outstanding: None })
            }
            _ => None,
        };
        self.events.push_back(Event::Connected);
        if let Some(lost) = self.lost_at.take() {
            self.events.push_back(Event::Reconnected { gap: now.saturating_duration_since(lost) });
        }
        for index in 0..self.slots.len() as u32 {
            self.apply(index, Input::SocketOpen, None);
        }
    }

    /// Ends the current connection: asks the runtime to close or drop the transport, ends the
    /// pushes written on it, errors the channels and decides what comes next.
    fn finish(&mut self, how: Finish) {
        let now = self.now;
        let how = if self.transport_gone { Finish::Gone } else { how };
        match (how, core::mem::replace(&mut self.link, Link::None)) {
            (Finish::Gone, _) => {}
            (Finish::Abort, _) => self.commands.push_back(TransportCommand::Abort),
            (Finish::Close, link) => {
                if let Link::Bytes(ws) = link {
                    self.draining = Some(ws);
                }
                let (code, reason) = self.close_frame.take().unwrap_or((CloseCode::NORMAL.0, String::new()));
                self.commands.push_back(TransportCommand::Close { code, reason });
            }
        }
        // A manual disconnect's code belongs to this connection only.
        self.close_frame = None;
        let end = self.ending.take().unwrap_or(ConnectionEnd::TransportLost);
        self.heartbeat.stop();
        self.ping = None;
        self.needs_flush = false;
        self.connect_deadline = None;
        let was = self.conn;
        let manual = end == ConnectionEnd::Manual;
        let join_error = self.last_join_error.take();
        let decision = match &end {
            ConnectionEnd::Manual => Decision::Stop(StopReason::Manual),
            ConnectionEnd::UpgradeRejected { status, .. } => {
                ending::decide(&Ending::UpgradeRejected { status: *status })
            }
            ConnectionEnd::ServerClosed { code, reason } => {
                let context = if reason.is_empty() { join_error.as_deref().unwrap_or("") } else { reason };
                ending::decide(&Ending::ServerClosed { code: CloseCode(*code), context })
            }
            ConnectionEnd::HeartbeatTimeout | ConnectionEnd::PingTimeout => {
                ending::decide(&Ending::LivenessTimeout)
            }
            ConnectionEnd::WebSocket(_) | ConnectionEnd::TransportLost | ConnectionEnd::ConnectTimeout => {
                ending::decide(&Ending::TransportFailed)
            }
        };
        let reopen = manual && core::mem::take(&mut self.connect_after_close);
        let next = match decision {
            // The app asked to connect again while the manual close ran: at once.
            Decision::Stop(StopReason::Manual) if reopen => {
                Next::Reconnect { after: Duration::ZERO, attempt: 1 }
            }
            Decision::Stop(StopReason::Manual) if self.stop_idle => Next::Stop(StopReason::Idle),
            Decision::Stop(reason) => Next::Stop(reason),
            Decision::Backoff { .. } | Decision::RateLimited => {
                self.reconnect_attempt = self.reconnect_attempt.saturating_add(1);
                let attempt = self.reconnect_attempt;
                // The attempt limit holds for rate-limited reconnects too.
                let delay = self.reconnect.delay(attempt, &mut self.rng);
                let delay = match decision {
                    Decision::RateLimited => delay.map(|_| self.reconnect.longest()),
                    _ => delay,
                };
                match delay {
                    Some(after) => Next::Reconnect { after, attempt },
                    None => Next::Stop(StopReason::RetriesExhausted),
                }
            }
        };
        // The socket's next state first, so the channels see it (and an emptied channel table
        // arms the idle timer when a reconnect is coming).
        if reopen {
            // Opened below, once the channels have seen the end of this connection.
            self.conn = Conn::Idle;
        } else if let Next::Reconnect { after, attempt } = next {
            self.conn = Conn::Waiting { at: now + after, attempt };
            // The gap counts from the loss of the last open connection, across failed attempts.
            if was == Conn::Open {
                self.lost_at.get_or_insert(now);
            }
        } else {
            self.conn = Conn::Idle;
            self.reconnect_attempt = 0;
            self.idle_at = None;
            if !manual {
                self.lost_at = None;
            }
        }
        for index in 0..self.slots.len() as u32 {
            let id = self.id(index);
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                for p in ch.in_flight.drain(..) {
                    self.events.push_back(Event::Push {
                        channel: id,
                        push: p.id,
                        outcome: PushOutcome::TimedOut,
                    });
                }
            }
            let input = if manual { Input::SocketStopped } else { Input::SocketLost };
            self.apply(index, input, Some(ChannelErrorReason::Disconnected));
        }
        self.stop_idle = false;
        self.events.push_back(Event::Disconnected { end, next });
        if reopen {
            self.reconnect_attempt = 0;
            self.open_transport();
        }
    }

    fn on_message(&mut self, now: Instant, msg: ws::Message) {
        let decoded = match msg {
            ws::Message::Text(text) => serializer::decode_text(self.vsn, text),
            ws::Message::Binary(bytes) => serializer::decode_binary(bytes),
        };
        let m = match decoded {
            Ok(m) => m,
            Err(e) => {
                self.events.push_back(Event::Undecodable(e));
                return;
            }
        };
        // Dispatch reads the raw bytes (checked as UTF-8 when decoded).
        let event = m.event_bytes();
        if m.topic_bytes() == HEARTBEAT_TOPIC.as_bytes() {
            if event == b"phx_reply"
                && let Some(r) = m.msg_ref().and_then(parse_ref)
                && let Some(ok) = reply_status(&m.payload())
                && let Some(reply) = self.heartbeat.handle_reply(r, ok, now)
            {
                let status = if reply.ok {
                    HeartbeatStatus::Ok { latency: reply.latency }
                } else {
                    HeartbeatStatus::Error { latency: reply.latency }
                };
                self.events.push_back(Event::Heartbeat(status));
            }
            return;
        }
        let Some(&index) = self.topics.get(m.topic_bytes()) else { return };
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        match event {
            b"phx_reply" => {
                let Some(r) = m.msg_ref().and_then(parse_ref) else { return };
                let Some((ok, response)) = reply_parts(&m.payload()) else { return };
                if ch.state == ChannelState::Joining && ch.join_ref == Some(r) {
                    if ok && !ch.config.bindings().is_empty() {
                        // Binding i takes the id of the reply's entry i (spec C.3).
                        match ch.config.bindings().pair(&response) {
                            // An old server's reply without the list: unpaired, as the
                            // reference clients leave it (only `*` bindings then match).
                            Ok(ids) => ch.postgres_ids = ids,
                            Err(_) => {
                                let reason = ChannelErrorReason::BindingMismatch;
                                self.apply(index, Input::JoinMismatch, Some(reason));
                                return;
                            }
                        }
                    }
                    if ok {
                        self.apply(index, Input::JoinOk, None);
                    } else {
                        let reason = ServerReason::join_error(reason_text(&response));
                        self.last_join_error = Some(reason.text.clone());
                        if reason.class == ErrorClass::Permission
                            && wire_token(self.access_token.as_ref(), self.wall_clock, now).is_none()
                        {
                            // Refused without a token (none, or an expired one dropped): a
                            // token set later may well be allowed, so join again then.
                            ch.rejoin_on_token = true;
                        }
                        let input = match reason.class.action() {
                            ErrorAction::Rejoin => Input::JoinError,
                            ErrorAction::BackoffLongest => Input::JoinThrottled,
                            // With a token source: ask for a new token; the rejoin waits for it.
                            ErrorAction::RefreshToken if self.token_source => {
                                self.token_rejected = true;
                                self.token_waived = false;
                                self.request_token(now, TokenReason::Rejected);
                                Input::JoinError
                            }
                            // Without one, a refused token is as final as a refused permission.
                            ErrorAction::Stop | ErrorAction::RefreshToken => Input::JoinRefused,
                        };
                        self.apply(index, input, Some(ChannelErrorReason::JoinRejected(reason)));
                    }
                } else if ch.leave.is_some_and(|(leave_ref, _)| leave_ref == r) {
                    // Any status: an error (`unmatched topic`) says the server has no such
                    // channel either.
                    ch.leave = None;
                    self.apply(index, Input::LeaveReplied, None);
                } else if let Some(pos) = ch.in_flight.iter().position(|p| p.msg_ref == r) {
                    let push = ch.in_flight.remove(pos).map(|p| p.id);
                    let outcome = if ok { PushOutcome::Ok(response) } else { PushOutcome::Error(response) };
                    if let Some(push) = push {
                        self.events.push_back(Event::Push { channel: id, push, outcome });
                    }
                }
            }
            b"presence_state" | b"presence_diff" => {
                let stale =
                    m.join_ref().is_some_and(|r| parse_ref(r).is_none() || parse_ref(r) != ch.join_ref);
                let (Some(join), false, Payload::Json(payload)) = (ch.join_ref, stale, m.payload()) else {
                    return;
                };
                let join = Decimal::new(join);
                let result = if event == b"presence_state" {
                    ch.presence.handle_state(join.as_str(), payload)
                } else {
                    ch.presence.handle_diff(join.as_str(), payload)
                };
                match result {
                    // A diff queued until the state says nothing yet.
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => self.events.push_back(Event::Presence { channel: id, events }),
                    Err(error) => self.events.push_back(Event::PresenceError { channel: id, error }),
                }
            }
            b"phx_close" | b"phx_error" => {
                // v2 frames name the join in `join_ref`; v1 frames only in `ref` (the server
                // sets it to the join ref), so the lifecycle filter reads either.
                // One that names no join at all is not this join's either.
                let named = m.join_ref().or(m.msg_ref()).and_then(parse_ref);
                if named.is_none() || named != ch.join_ref {
                    return;
                }
                if event == b"phx_close" {
                    self.apply(index, Input::ServerClose, None);
                } else {
                    let payload = json_text(&m.payload());
                    self.apply(index, Input::ServerError, Some(ChannelErrorReason::ServerError(payload)));
                }
            }
            _ => {
                let stale =
                    m.join_ref().is_some_and(|r| parse_ref(r).is_none() || parse_ref(r) != ch.join_ref);
                if stale || ch.state == ChannelState::Closed {
                    return;
                }
                if event == b"system"
                    && let Some(sys) = system(&m.payload())
                    && sys.postgres
                {
                    if sys.ok {
                        // "Subscribed to PostgreSQL": the changes are live.
                        if ch.state == ChannelState::Joined
                            && matches!(ch.ready, ReadyWait::Until(_) | ReadyWait::Late)
                        {
                            ch.ready = ReadyWait::No;
                            self.status(id, ChannelStatus::Subscribed);
                        }
                    } else if sys.error {
                        // The channel stays joined; the server retries the subscription.
                        let reason =
                            ChannelErrorReason::PostgresChanges(ServerReason::system_error(sys.message));
                        self.status(id, ChannelStatus::ChannelError(reason));
                    }
                } else if event == b"system"
                    && let Some(sys) = system(&m.payload())
                    && sys.error
                {
                    // The channel stops after it (a `phx_close` follows): say why first.
                    let reason = ServerReason::system_error(sys.message);
                    if reason.class == ErrorClass::Token && self.token_source {
                        // The periodic token re-check failed: with a new token, join again.
                        self.token_rejected = true;
                        self.token_waived = false;
                        self.request_token(now, TokenReason::Rejected);
                        if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                            ch.rejoin_on_token = true;
                        }
                    }
                    let reason = ChannelErrorReason::System(reason);
                    self.status(id, ChannelStatus::ChannelError(reason));
                }
                let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
                let legacy = is_legacy_change(event);
                if (event == b"postgres_changes" || legacy)
                    && !ch.config.bindings().is_empty()
                    && let Payload::Json(payload) = m.payload()
                {
                    let parsed = if legacy {
                        Change::parse_data(payload).map(|c| (None, c))
                    } else {
                        Change::parse(payload).map(|(ids, c)| (Some(ids), c))
                    };
                    match parsed {
                        Ok((ids, change)) => {
                            let bindings = ch.config.bindings().matching(
                                ch.postgres_ids.as_deref(),
                                ids.as_deref(),
                                change.kind.as_str(),
                            );
                            // A change for none of the bindings (another join's, or an event
                            // none listens to) is not the app's.
                            if !bindings.is_empty() {
                                let change = Box::new(change);
                                self.events.push_back(Event::PostgresChange {
                                    channel: id,
                                    bindings,
                                    change,
                                });
                            }
                        }
                        Err(error) => {
                            self.events.push_back(Event::PostgresChangeError { channel: id, error })
                        }
                    }
                    return;
                }
                if event == b"broadcast" && ch.config.replays_automatically() {
                    if let Some(wall) = wall_ms(self.wall_clock, now) {
                        ch.last_seen_ms = Some(wall);
                    }
                    if let Some(id) = m
                        .broadcast()
                        .and_then(|b| b.meta)
                        .and_then(meta_id)
                        .filter(|id| id.len() <= MAX_META_ID)
                    {
                        if ch.seen_ids.iter().any(|seen| **seen == *id) {
                            // A replay of what was delivered already.
                            return;
                        }
                        if ch.seen_ids.len() == MAX_SEEN_IDS {
                            ch.seen_ids.pop_front();
                        }
                        ch.seen_ids.push_back(id.into());
                    }
                }
                self.events.push_back(Event::Message { channel: id, message: m });
            }
        }
    }

    /// Runs one input through the transition table and its actions.
    fn apply(&mut self, index: u32, input: Input, reason: Option<ChannelErrorReason>) {
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        // A join held for a token never went out: to a leave, the server does not know the
        // channel, so it closes here (`Offline`) instead of sending a leave with no join ref.
        let held = ch.state == ChannelState::Joining && ch.join_ref.is_none();
        let open = self.conn == Conn::Open && !(input == Input::Unsubscribe && held);
        let Some(t) = transition(ch.state, input, open) else { return };
        ch.state = t.to;
        for &action in t.actions {
            self.act(index, id, action, reason.as_ref());
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if t.to != ChannelState::Joined {
            // The ready wait belongs to a joined channel's current join.
            ch.ready = ReadyWait::No;
        }
        if matches!(t.to, ChannelState::Errored | ChannelState::Closed) {
            ch.join_ref = None;
            ch.join_deadline = None;
            ch.join_held = false;
            ch.postgres_ids = None;
        }
        if t.to == ChannelState::Closed {
            ch.leave = None;
            ch.rejoin_at = None;
            if ch.handles == 0 {
                self.delete(index);
            } else if core::mem::take(&mut ch.resubscribe) {
                self.apply(index, Input::Subscribe, None);
            }
        }
    }

    fn act(&mut self, index: u32, id: ChannelId, action: Action, reason: Option<&ChannelErrorReason>) {
        let now = self.now;
        let vsn = self.vsn;
        if action == Action::SendJoin
            && let Some(why) = self.token_needed(now)
        {
            // The join waits for the app's token (or for the wait to run out).
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                ch.join_held = true;
                ch.join_ref = None;
                ch.join_deadline = None;
            }
            self.request_token(now, why);
            return;
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        match action {
            Action::SendJoin => {
                ch.join_held = false;
                ch.join_token_gen = self.token_gen;
                self.last_ref += 1;
                let r = self.last_ref;
                // A fresh ref and a fresh timeout: the previous attempt's are forgotten.
                ch.join_ref = Some(r);
                ch.join_deadline = Some(now + self.timeout);
                let since = ch
                    .last_seen_ms
                    .filter(|_| ch.config.replays_automatically())
                    .map(|ms| ms.saturating_sub(REPLAY_MARGIN_MS));
                let token = wire_token(self.access_token.as_ref(), self.wall_clock, now);
                let payload = ch.config.join_payload_with(token, since, ch.presence_wanted);
                ch.postgres_ids = None;
                ch.ready = ReadyWait::No;
                let msg = encode_json(vsn, Some(r), r, &ch.topic, "phx_join", &payload);
                // A join the link refuses (it is closing) times out and is retried.
                self.link.send(msg);
            }
            // No join on the wire (held for a token): nothing to clean up.
            Action::SendCleanupLeave if ch.join_ref.is_none() => {}
            Action::SendLeave | Action::SendCleanupLeave => {
                self.last_ref += 1;
                let r = self.last_ref;
                if action == Action::SendLeave {
                    ch.leave = Some((r, now + self.timeout));
                }
                let msg = encode_json(vsn, ch.join_ref, r, &ch.topic, "phx_leave", "{}");
                self.link.send(msg);
            }
            Action::CancelJoin => ch.join_deadline = None,
            Action::ResetRejoin => {
                ch.rejoin_attempts = 0;
                ch.rejoin_at = None;
            }
            Action::ScheduleRejoin => {
                ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
                ch.rejoin_at = self.rejoin.delay(ch.rejoin_attempts, &mut self.rng).map(|d| now + d);
            }
            Action::ScheduleRejoinLongest => {
                ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
                let longest = self.rejoin.longest();
                // The attempt limit holds here too.
                ch.rejoin_at = self.rejoin.delay(ch.rejoin_attempts, &mut self.rng).map(|_| now + longest);
            }
            Action::Flush => {
                // A new join is a new channel process on the server: no presence there, and a
                // fresh call budget. What the app tracks is tracked again (spec C.2).
                ch.presence_calls.clear();
                ch.presence_wait = None;
                ch.untrack_owed = false;
                if !ch.config.retracks_presence() && ch.tracked_on.is_some_and(|on| Some(on) != ch.join_ref) {
                    // Opted out: what was tracked on an older join is forgotten with it (a
                    // track made while this join was under way still goes).
                    ch.tracked = None;
                    ch.tracked_on = None;
                }
                let retrack = ch.tracked.is_some() && ch.tracked_on != ch.join_ref;
                // A token set while the join was in flight goes to the server now.
                if ch.join_token_gen != self.token_gen {
                    self.push_token_to(now, index);
                }
                if retrack {
                    self.sync_presence(index);
                }
                self.flush(index);
            }
            Action::EndPushes => {
                for w in ch.waiting.drain(..) {
                    self.events.push_back(Event::Push {
                        channel: id,
                        push: w.id,
                        outcome: PushOutcome::NotSent(NotSentReason::ChannelClosed),
                    });
                }
                for p in ch.in_flight.drain(..) {
                    self.events.push_back(Event::Push {
                        channel: id,
                        push: p.id,
                        outcome: PushOutcome::TimedOut,
                    });
                }
            }
            Action::ReportSubscribed => match ch.config.postgres_ready_timeout() {
                // The ready mode: `Subscribed` waits for "Subscribed to PostgreSQL".
                Some(wait) => ch.ready = ReadyWait::Until(now + wait),
                None => self.status(id, ChannelStatus::Subscribed),
            },
            Action::ReportTimedOut => self.status(id, ChannelStatus::TimedOut),
            Action::ReportClosed => {
                if !core::mem::take(&mut ch.quiet_close) {
                    self.status(id, ChannelStatus::Closed);
                }
            }
            Action::ReportLeft(outcome) => {
                // Only the app's `unsubscribe` and `remove_channel` enter the transitions that
                // report a leave, and both name a waiter first.
                debug_assert!(!ch.leave_waiters.is_empty(), "a leave nobody asked for");
                for generation in ch.leave_waiters.drain(..) {
                    let channel = ChannelId { index, generation };
                    self.events.push_back(Event::Left { channel, outcome });
                }
            }
            Action::ReportError => {
                let reason = reason.cloned().unwrap_or(ChannelErrorReason::Disconnected);
                self.status(id, ChannelStatus::ChannelError(reason));
            }
        }
    }

    fn status(&mut self, channel: ChannelId, status: ChannelStatus) {
        self.events.push_back(Event::Status { channel, status });
    }

    /// Writes a joined channel's waiting pushes, in order, with its join ref.
    fn flush(&mut self, index: u32) {
        let vsn = self.vsn;
        if self.conn != Conn::Open {
            return;
        }
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.state != ChannelState::Joined {
            return;
        }
        while let Some(w) = ch.waiting.front() {
            if w.deadline <= self.now {
                // Its timeout passed before `handle_timeout` saw it: it is not written.
                let push = w.id;
                ch.waiting.pop_front();
                self.events.push_back(Event::Push { channel: id, push, outcome: PushOutcome::TimedOut });
                continue;
            }
            if self.link.is_full(self.max_outgoing) {
                self.needs_flush = true;
                return;
            }
            if let Some(limit) = self.rate_limit {
                let at = ch.limiter.allowed_at(&limit, self.now);
                if at > self.now {
                    ch.rate_wait = Some(at);
                    return;
                }
                ch.limiter.take(&limit, self.now);
            }
            self.last_ref += 1;
            let msg_ref = self.last_ref;
            // Checked when pushed: the body encodes.
            let sent =
                encode(vsn, ch.join_ref, msg_ref, &ch.topic, &w.body).is_ok_and(|msg| self.link.send(msg));
            if !sent {
                return;
            }
            if w.reply {
                ch.in_flight.push_back(InFlight { id: w.id, msg_ref, deadline: w.deadline });
            } else {
                self.events.push_back(Event::Push {
                    channel: id,
                    push: w.id,
                    outcome: PushOutcome::Ok(String::from("{}")),
                });
            }
            ch.waiting.pop_front();
        }
    }

    fn flush_all(&mut self) {
        self.needs_flush = false;
        for index in 0..self.slots.len() as u32 {
            self.flush(index);
        }
    }

    fn channel_timeouts(&mut self, now: Instant, index: u32) {
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.join_deadline.is_some_and(|at| now >= at) {
            ch.join_deadline = None;
            self.apply(index, Input::JoinTimeout, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.rejoin_at.is_some_and(|at| now >= at) {
            ch.rejoin_at = None;
            self.apply(index, Input::RejoinDue, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.rate_wait.is_some_and(|at| now >= at) {
            ch.rate_wait = None;
            self.flush(index);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.presence_wait.is_some_and(|at| now >= at) {
            ch.presence_wait = None;
            self.sync_presence(index);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if let ReadyWait::Until(at) = ch.ready
            && now >= at
        {
            ch.ready = ReadyWait::Late;
            self.status(id, ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady));
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.leave.is_some_and(|(_, at)| now >= at) {
            ch.leave = None;
            self.apply(index, Input::LeaveTimeout, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        let events = &mut self.events;
        ch.waiting.retain(|w| {
            let due = now >= w.deadline;
            if due {
                events.push_back(Event::Push { channel: id, push: w.id, outcome: PushOutcome::TimedOut });
            }
            !due
        });
        ch.in_flight.retain(|p| {
            let due = now >= p.deadline;
            if due {
                events.push_back(Event::Push { channel: id, push: p.id, outcome: PushOutcome::TimedOut });
            }
            !due
        });
    }

    /// The last handle is gone: leave, and delete once closed (at once, when it is).
    fn release(&mut self, index: u32) {
        let id = self.id(index);
        self.leave(id);
    }

    fn delete(&mut self, index: u32) {
        let id = self.id(index);
        let slot = &mut self.slots[index as usize];
        if let Some(ch) = slot.channel.take() {
            self.topics.remove(ch.topic.as_bytes());
            // Every path to deletion ends the pushes first (`EndPushes`); this keeps "every
            // push ends exactly once" true even if a new path forgets.
            debug_assert!(
                ch.waiting.is_empty() && ch.in_flight.is_empty(),
                "pushes left in a deleted channel"
            );
            for w in ch.waiting {
                self.events.push_back(Event::Push {
                    channel: id,
                    push: w.id,
                    outcome: PushOutcome::NotSent(NotSentReason::ChannelClosed),
                });
            }
            for p in ch.in_flight {
                self.events.push_back(Event::Push {
                    channel: id,
                    push: p.id,
                    outcome: PushOutcome::TimedOut,
                });
            }
        }
        slot.generation = slot.generation.wrapping_add(1);
        if self.topics.is_empty()
            && let Some(after) = self.disconnect_when_empty
            && self.conn != Conn::Idle
        {
            self.idle_at = Some(self.now + after);
        }
    }
}

/// The token to put on the wire: none for an API key (`sb_...`, sent only as `apikey`) or for a
/// JWT whose `exp` has passed by the wall clock.
fn wire_token(token: Option<&Secret>, wall_clock: Option<(Instant, u64)>, now: Instant) -> Option<&str> {
    let token = token.filter(|t| !t.is_api_key())?;
    if let (Some(exp), Some((at, unix_ms))) = (token.jwt_exp(), wall_clock) {
        let elapsed = u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX);
        if exp.saturating_mul(1000) <= unix_ms.saturating_add(elapsed) {
            return None;
        }
    }
    Some(token.expose())
}

/// The wall clock at `now`, in Unix milliseconds, when the runtime gave one.
fn wall_ms(wall_clock: Option<(Instant, u64)>, now: Instant) -> Option<u64> {
    let (at, unix_ms) = wall_clock?;
    let elapsed = u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX);
    Some(unix_ms.saturating_add(elapsed))
}

/// A broadcast's `meta.id`.
fn meta_id(meta: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
    }
    serde_json::from_str::<Meta<'_>>(meta).ok().map(|m| m.id.into_owned())
}

/// The URL with the value of every credential-like query parameter (`apikey`, anything
/// naming a key or token) hidden, for `Debug`.
pub(crate) fn redacted_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return String::from(url) };
    let mut out = String::from(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if is_secret_name(k) => {
                out.push_str(k);
                out.push_str("=<redacted>");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Whether a parameter or header name carries a credential.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("key")
        || n.contains("token")
        || n.contains("auth")
        || n.contains("cookie")
        || n.contains("secret")
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("url", &redacted_url(&self.url))
            .field("vsn", &self.vsn)
            .field("transport", &self.transport)
            .field("state", &self.state())
            .field("access_token", &self.access_token)
            .field("channels", &self.topics.len())
            .field("events", &self.events.len())
            .field("next_deadline", &self.poll_timeout())
            .finish_non_exhaustive()
    }
}

/// Checks that a push can be framed, before it is queued.
fn check_body(vsn: Vsn, topic: &str, body: &PushBody) -> Result<(), PushError> {
    let json = |s: &str| serde_json::from_str::<&RawValue>(s).map(|_| ()).map_err(|_| PushError::InvalidJson);
    match body {
        PushBody::Json { payload, .. } => json(payload),
        PushBody::UserBroadcast { event, meta, data } => {
            if vsn == Vsn::V1 {
                return Err(PushError::Unsupported);
            }
            for (field, len) in [
                (Field::Topic, topic.len()),
                (Field::Event, event.len()),
                (Field::Meta, meta.as_ref().map_or(0, String::len)),
            ] {
                if len > MAX_BINARY_FIELD_LEN {
                    return Err(PushError::Encode(EncodeError::FieldTooLong { field, len }));
                }
            }
            if let Some(meta) = meta {
                json(meta)?;
            }
            match data {
                BroadcastData::Json(text) => json(text),
                BroadcastData::Binary(_) => Ok(()),
            }
        }
    }
}

fn parse_ref(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn encode_json(
    vsn: Vsn,
    join_ref: Option<u64>,
    msg_ref: u64,
    topic: &str,
    event: &str,
    payload: &str,
) -> ws::Message {
    let join = join_ref.map(Decimal::new);
    let r = Decimal::new(msg_ref);
    ws::Message::Text(serializer::encode_text(
        vsn,
        &Outgoing {
            join_ref: join.as_ref().map(Decimal::as_str),
            msg_ref: Some(r.as_str()),
            topic,
            event,
            payload,
        },
    ))
}

fn encode(
    vsn: Vsn,
    join_ref: Option<u64>,
    msg_ref: u64,
    topic: &str,
    body: &PushBody,
) -> Result<ws::Message, EncodeError> {
    match body {
        PushBody::Json { event, payload } => Ok(encode_json(vsn, join_ref, msg_ref, topic, event, payload)),
        PushBody::UserBroadcast { event, meta, data } => {
            let join = join_ref.map(Decimal::new);
            let r = Decimal::new(msg_ref);
            let data = match data {
                BroadcastData::Json(s) => BroadcastDataRef::Json(s),
                BroadcastData::Binary(b) => BroadcastDataRef::Binary(b),
            };
            serializer::encode_user_broadcast(&UserBroadcastPush {
                join_ref: join.as_ref().map(Decimal::as_str),
                msg_ref: Some(r.as_str()),
                topic,
                event,
                meta: meta.as_deref(),
                data,
            })
            .map(ws::Message::Binary)
        }
    }
}

#[derive(Deserialize)]
struct Reply<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// Only a reply's status: is it `ok`?
fn reply_status(payload: &Payload<'_>) -> Option<bool> {
    #[derive(Deserialize)]
    struct Status<'a> {
        #[serde(borrow)]
        status: Cow<'a, str>,
    }
    match payload {
        // The payload is valid JSON already; the server writes `status` first, so the common
        // replies are read without a second parse.
        Payload::Json(text) if text.starts_with(r#"{"status":"ok","#) => Some(true),
        Payload::Json(text) if text.starts_with(r#"{"status":"error","#) => Some(false),
        Payload::Json(text) => serde_json::from_str::<Status<'_>>(text).ok().map(|r| r.status == "ok"),
        Payload::BinaryReply { status, .. } => Some(*status == "ok"),
        _ => None,
    }
}

/// A reply's status (`ok` or not) and its response as raw JSON text.
fn reply_parts(payload: &Payload<'_>) -> Option<(bool, String)> {
    match payload {
        Payload::Json(text) => {
            let reply: Reply<'_> = serde_json::from_str(text).ok()?;
            let response = reply.response.map_or_else(|| String::from("{}"), |r| r.get().to_string());
            Some((reply.status == "ok", response))
        }
        Payload::BinaryReply { status, response } => {
            Some((*status == "ok", String::from_utf8_lossy(response).into_owned()))
        }
        _ => None,
    }
}

/// A join error response's `reason`, or the response itself when it has none.
fn reason_text(response: &str) -> String {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        reason: Cow<'a, str>,
    }
    serde_json::from_str::<Response<'_>>(response)
        .map_or_else(|_| String::from(response), |r| r.reason.into_owned())
}

/// A `system` message: which extension, whether its status is `ok`, and its message.
struct System {
    postgres: bool,
    ok: bool,
    error: bool,
    message: String,
}

/// A `system` payload, read.
fn system(payload: &Payload<'_>) -> Option<System> {
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(borrow, default)]
        extension: Option<Cow<'a, str>>,
        #[serde(borrow)]
        status: Cow<'a, str>,
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
    }
    let Payload::Json(text) = payload else { return None };
    let s: Raw<'_> = serde_json::from_str(text).ok()?;
    Some(System {
        postgres: s.extension.as_deref() == Some("postgres_changes"),
        ok: s.status == "ok",
        error: s.status == "error",
        message: s.message.map(Cow::into_owned).unwrap_or_default(),
    })
}

/// A legacy row event (the topic named the subscription; spec C.3 "Legacy API").
fn is_legacy_change(event: &[u8]) -> bool {
    [&b"INSERT"[..], b"UPDATE", b"DELETE"].iter().any(|e| e.eq_ignore_ascii_case(event))
}

/// A payload as JSON text for a status reason (binary payloads as a JSON string of their
/// debug form).
fn json_text(payload: &Payload<'_>) -> String {
    match payload {
        Payload::Json(text) => String::from(*text),
        other => serde_json::to_string(&alloc::format!("{other:?}")).unwrap_or_default(),
    }
}
