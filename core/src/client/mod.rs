//! The Realtime client: one sans-IO state machine for the socket and its channels.
//!
//! It composes the [`ws`] layer (or a transport that frames by itself), the [`serializer`], the
//! [`heartbeat`](crate::phoenix::heartbeat), the [`backoff`](crate::phoenix::backoff) schedules and the
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
//! - How a connection ended decides what happens next: Supabase Realtime's table
//!   ([`supabase::ending::decide`](crate::supabase::ending::decide)), or for a plain Phoenix
//!   server ([`ServerKind::Phoenix`]) phoenix.js's rule ([`ending::decide`]).

mod auth;
mod channel;
mod channels;
mod config;
mod conn;
mod dispatch;
mod error;
mod event;
mod pushes;
mod rate;
mod rest;
mod socket;
mod timers;
mod tracking;
mod transport;

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
    DEFAULT_PUSH_BUFFER, DEFAULT_TIMEOUT, Overflow, ServerKind, TransportKind,
};
pub use error::{ChannelError, DisconnectError, PushError};
pub use event::{
    ChannelErrorReason, ChannelStatus, ConnectionEnd, ConnectionState, Event, HeartbeatStatus, LeaveOutcome,
    Next, NotSentReason, PushId, PushOutcome, Subscription, TokenReason,
};
pub use rate::{RateLimit, RateLimitPolicy};
pub use transport::{TransportClosed, TransportCommand, TransportId};

pub use crate::phoenix::target::{Target, TargetError};

use self::channel::{Action, Channel, InFlight, Input, ReadyWait, Waiting, transition};
use self::conn::{Conn, SocketInput};
use self::socket::{Finish, Link, Ping};
use crate::decimal::Decimal;
use crate::phoenix::backoff::Backoff;
use crate::phoenix::ending::{self, Decision, Ending, StopReason};
use crate::phoenix::endpoint::{EndpointError, endpoint_url, is_secret_name, redacted_url};
use crate::phoenix::heartbeat::{HEARTBEAT_EVENT, HEARTBEAT_TOPIC, Heartbeat, HeartbeatAction};
use crate::phoenix::serializer::{
    self, BroadcastData, BroadcastDataRef, EncodeError, Field, MAX_BINARY_FIELD_LEN, Outgoing, Payload,
    UserBroadcastPush, Vsn,
};
use crate::rng::Rng;
use crate::supabase::channel_config::ChannelConfig;
use crate::supabase::postgres::{Binding, Change, MAX_BINDINGS};
use crate::supabase::reason::{ErrorAction, ErrorClass, ServerReason};
use crate::supabase::rest::{Auth, RestBody, RestError, RestRequest};
use crate::supabase::token::Secret;
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
    server: ServerKind,
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
        let url =
            endpoint_url(&config.endpoint, config.api_key.as_deref(), config.vsn, config.log_level, &params)
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
            server: config.server,
            api_key: Secret::new(config.api_key.unwrap_or_default()),
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

    /// A channel's topic (`realtime:<name>`, or a Phoenix channel's as given).
    pub fn channel_topic(&self, id: ChannelId) -> Option<&str> {
        self.get(id).map(|c| c.topic.as_str())
    }

    /// Whether a channel is a Supabase Realtime one (`channel`), not a plain Phoenix one
    /// (`phoenix_channel`); `None` for a removed channel.
    pub fn is_realtime_channel(&self, id: ChannelId) -> Option<bool> {
        self.get(id).map(Channel::is_realtime)
    }

    /// The channels that exist, in no particular order.
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.channel.is_some())
            .map(|(i, s)| ChannelId { index: i as u32, generation: s.generation })
    }

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

    fn status(&mut self, channel: ChannelId, status: ChannelStatus) {
        self.events.push_back(Event::Status { channel, status });
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

/// Ends a push: every outcome a push can have (answered, timed out, not sent, written without
/// a reply) is reported here and nowhere else, so "every push ends exactly once" is one call per
/// path, which the simulation's invariants check.
fn end_push(events: &mut VecDeque<Event>, channel: ChannelId, push: PushId, outcome: PushOutcome) {
    events.push_back(Event::Push { channel, push, outcome });
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
