//! The server's shared state: sockets, their channels, topics, presence, faults and what
//! clients sent. Every socket task calls in here with a message and gets its effects as frames
//! queued to the sockets concerned.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::config::{Auth, AuthzRequest, Config, Policies};
use crate::jwt::{self, Claims};
use crate::postgres::{Binding, RowChange};
use crate::presence::{Diff, Tracker};
use crate::wire::{self, Frame, Inbound, UserBroadcast, Vsn};

/// What a socket task is told to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Write this frame.
    Frame(Frame),
    /// Send a close frame and end.
    Close(u16, String),
    /// End at once, without a close frame (a dropped connection).
    Kill,
}

/// How joins are answered, for fault injection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum JoinFault {
    /// Normally.
    #[default]
    None,
    /// Not at all.
    Ignore,
    /// After this delay.
    Delay(Duration),
    /// With an error reply with this reason (such as `"InvalidJWTToken: Token has expired"`).
    Fail(String),
}

/// A frame a client sent, as the server read it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The socket (numbered from 1 in connection order).
    pub socket: u64,
    /// The message.
    pub message: Inbound,
}

/// Client frames kept for `observed` (the oldest go first).
const MAX_OBSERVED: usize = 10_000;

#[derive(Debug)]
struct Socket {
    tx: UnboundedSender<Out>,
    vsn: Vsn,
    /// Topic -> channel.
    channels: HashMap<String, u64>,
    joins: VecDeque<Instant>,
    /// The claims of the token the socket connected with (JWT mode).
    claims: Option<Claims>,
}

#[derive(Debug)]
struct Channel {
    socket: u64,
    topic: String,
    private: bool,
    join_ref: Option<String>,
    receive_own: bool,
    ack: bool,
    presence_enabled: bool,
    presence_key: String,
    bindings: Vec<Binding>,
    claims: Option<Claims>,
    policies: Policies,
    presence_calls: VecDeque<Instant>,
}

#[derive(Debug, Default)]
struct Faults {
    no_heartbeat_replies: bool,
    join: JoinFault,
    refuse_until: Option<Instant>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    sockets: HashMap<u64, Socket>,
    channels: HashMap<u64, Channel>,
    /// (topic, private) -> channels, in join order.
    topics: HashMap<(String, bool), Vec<u64>>,
    presence: HashMap<(String, bool), Tracker>,
    faults: Faults,
    observed: VecDeque<Observed>,
    events: VecDeque<Instant>,
}

/// The shared state.
pub(crate) struct Hub {
    pub(crate) config: Config,
    state: Mutex<State>,
    /// Connections that agreed to permessage-deflate, ever.
    pub(crate) deflated: std::sync::atomic::AtomicUsize,
}

/// What a join needs done after its reply (outside the lock).
pub(crate) enum After {
    Nothing,
    /// Send the `system` postgres ready message to this channel, after the configured delay.
    PostgresReady {
        channel: u64,
        join_ref: Option<String>,
    },
    /// Answer later (a delayed join or join error): these frames after this delay, then maybe
    /// a disconnect.
    Later {
        delay: Duration,
        frames: Vec<Frame>,
        then_close: Option<(u16, String)>,
    },
}

/// A serializer's name on the wire.
fn vsn_name(vsn: Vsn) -> &'static str {
    match vsn {
        Vsn::V1 => "1.0.0",
        Vsn::V2 => "2.0.0",
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn reply(vsn: Vsn, m: &Inbound, status: &str, response: Value) -> Frame {
    wire::encode(
        vsn,
        m.join_ref.as_deref(),
        m.msg_ref.as_deref(),
        &m.topic,
        "phx_reply",
        &json!({"status": status, "response": response}),
    )
}

fn sub_topic(topic: &str) -> &str {
    topic.strip_prefix("realtime:").unwrap_or(topic)
}

/// The `system` message that says a channel's postgres changes are live.
fn postgres_ok(topic: &str) -> Value {
    json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": topic})
}

/// A phx_ref: unique and opaque, like Phoenix's.
fn phx_ref(n: u64) -> String {
    format!("F{n:012x}")
}

impl State {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn send(&self, socket: u64, frame: Frame) {
        if let Some(s) = self.sockets.get(&socket) {
            let _ = s.tx.send(Out::Frame(frame));
        }
    }

    /// A push to one channel, carrying its join ref.
    fn push(&self, channel: u64, event: &str, payload: &Value) {
        let Some(c) = self.channels.get(&channel) else { return };
        let Some(s) = self.sockets.get(&c.socket) else { return };
        let frame = wire::encode(s.vsn, c.join_ref.as_deref(), None, &c.topic, event, payload);
        let _ = s.tx.send(Out::Frame(frame));
    }

    /// `phx_close` or `phx_error` to one channel: `ref` = `join_ref` (spec A.5). On v1 that ref
    /// is the only way a client can tell a stale close from its current join's (spec B.7).
    fn push_lifecycle(&self, channel: u64, event: &str, payload: &Value) {
        let Some(c) = self.channels.get(&channel) else { return };
        let Some(s) = self.sockets.get(&c.socket) else { return };
        let jr = c.join_ref.as_deref();
        let _ = s.tx.send(Out::Frame(wire::encode(s.vsn, jr, jr, &c.topic, event, payload)));
    }

    /// A fan-out message (no refs) to every channel on the topic but `skip`.
    fn fan_out(
        &self,
        topic: &(String, bool),
        skip: Option<u64>,
        event: &str,
        payload: &Value,
        presence_only: bool,
    ) {
        for &id in self.topics.get(topic).into_iter().flatten() {
            let Some(c) = self.channels.get(&id) else { continue };
            if Some(id) == skip || (presence_only && !c.presence_enabled) {
                continue;
            }
            if let Some(s) = self.sockets.get(&c.socket) {
                let _ = s.tx.send(Out::Frame(wire::encode(s.vsn, None, None, &c.topic, event, payload)));
            }
        }
    }

    fn fan_out_user(&self, topic: &(String, bool), skip: Option<u64>, b: &UserBroadcast) {
        for &id in self.topics.get(topic).into_iter().flatten() {
            let Some(c) = self.channels.get(&id) else { continue };
            if Some(id) == skip {
                continue;
            }
            if let Some(s) = self.sockets.get(&c.socket)
                && let Some(frame) = wire::encode_user_broadcast(s.vsn, &c.topic, b)
            {
                let _ = s.tx.send(Out::Frame(frame));
            }
        }
    }

    fn presence_diff(&self, topic: &(String, bool), diff: &Diff) {
        self.fan_out(topic, None, "presence_diff", &diff.payload(), true);
    }

    /// Removes a channel: its presence leaves, it is unlisted.
    fn remove_channel(&mut self, id: u64) {
        let Some(c) = self.channels.remove(&id) else { return };
        let key = (c.topic.clone(), c.private);
        if let Some(list) = self.topics.get_mut(&key) {
            list.retain(|&x| x != id);
        }
        if let Some(s) = self.sockets.get_mut(&c.socket) {
            s.channels.remove(&c.topic);
        }
        if let Some(diff) = self.presence.get_mut(&key).and_then(|t| t.untrack(id)) {
            self.presence_diff(&key, &diff);
        }
    }

    /// Closes a channel from the server's side: `system` error (if any), then `phx_close`.
    fn close_channel(&mut self, id: u64, system_error: Option<&str>) {
        if let Some(msg) = system_error {
            let topic = self.channels.get(&id).map(|c| sub_topic(&c.topic).to_string()).unwrap_or_default();
            self.push(
                id,
                "system",
                &json!({"extension": "system", "status": "error", "message": msg, "channel": topic}),
            );
        }
        self.push_lifecycle(id, "phx_close", &json!({}));
        self.remove_channel(id);
    }

    /// Counts a client event against the per-second budget; false when over it.
    fn event_allowed(&mut self, max: Option<u32>) -> bool {
        let Some(max) = max else { return true };
        let now = Instant::now();
        while self.events.front().is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(1)) {
            self.events.pop_front();
        }
        if self.events.len() >= max as usize {
            return false;
        }
        self.events.push_back(now);
        true
    }
}

impl Hub {
    pub(crate) fn new(config: Config) -> Self {
        Self { config, state: Mutex::new(State::default()), deflated: Default::default() }
    }

    /// A line for the log, if there is one.
    fn log(&self, line: impl FnOnce() -> String) {
        if let Some(log) = &self.config.log {
            log(&line());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it would be a bug in this crate; the state is still usable.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether a new socket is refused now (a fault, or the user limit); the HTTP status.
    pub(crate) fn refuse(&self) -> Option<u16> {
        let s = self.lock();
        if s.faults.refuse_until.is_some_and(|t| Instant::now() < t) {
            return Some(503);
        }
        if self.config.limits.max_concurrent_users.is_some_and(|max| s.sockets.len() >= max) {
            return Some(429);
        }
        None
    }

    /// Checks the socket's API key: the token's claims in JWT mode, or the refusal's message.
    pub(crate) fn check_api_key(&self, key: Option<&str>) -> Result<Option<Claims>, String> {
        match (&self.config.auth, key) {
            (Auth::Open, _) => Ok(None),
            (_, None) => Err("No api key provided".into()),
            (Auth::ApiKey(want), Some(k)) if k == want => Ok(None),
            (Auth::ApiKey(_), Some(_)) => Err("Invalid api key".into()),
            (Auth::Jwt { secret }, Some(k)) => {
                jwt::verify(k, secret, unix_now()).map(Some).map_err(|e| e.message())
            }
        }
    }

    pub(crate) fn register(
        &self,
        tx: UnboundedSender<Out>,
        vsn: Vsn,
        claims: Option<Claims>,
        deflate: bool,
    ) -> u64 {
        let mut s = self.lock();
        let id = s.id();
        s.sockets.insert(id, Socket { tx, vsn, channels: HashMap::new(), joins: VecDeque::new(), claims });
        let deflate = if deflate { ", permessage-deflate" } else { "" };
        self.log(|| format!("socket {id} connected (vsn {}{deflate})", vsn_name(vsn)));
        id
    }

    /// The socket ended: its channels go (and their presences leave).
    pub(crate) fn unregister(&self, socket: u64) {
        let mut s = self.lock();
        let channels: Vec<u64> =
            s.sockets.get(&socket).map(|x| x.channels.values().copied().collect()).unwrap_or_default();
        for c in channels {
            s.remove_channel(c);
        }
        if s.sockets.remove(&socket).is_some() {
            self.log(|| format!("socket {socket} closed"));
        }
    }

    fn observe(&self, s: &mut State, socket: u64, m: &Inbound) {
        if s.observed.len() == MAX_OBSERVED {
            s.observed.pop_front();
        }
        s.observed.push_back(Observed { socket, message: m.clone() });
    }

    /// A message from a socket. What it causes is queued to the sockets; what must happen
    /// later is returned.
    pub(crate) fn handle(&self, socket: u64, m: Inbound) -> After {
        let mut guard = self.lock();
        let s = &mut *guard;
        self.observe(s, socket, &m);
        let Some(vsn) = s.sockets.get(&socket).map(|x| x.vsn) else { return After::Nothing };
        if m.topic == "phoenix" {
            if m.event == "heartbeat" && !s.faults.no_heartbeat_replies {
                s.send(socket, reply(vsn, &m, "ok", json!({})));
            }
            return After::Nothing;
        }
        if m.event == "phx_join" {
            self.log(|| format!("socket {socket} joins {}", m.topic));
            return self.join(s, socket, vsn, m);
        }
        if m.event == "phx_leave" {
            self.log(|| format!("socket {socket} leaves {}", m.topic));
        }
        let Some(&id) = s.sockets.get(&socket).and_then(|x| x.channels.get(&m.topic)) else {
            // Phoenix answers a push to a topic the socket has not joined.
            if m.msg_ref.is_some() {
                s.send(socket, reply(vsn, &m, "error", json!({"reason": "unmatched topic"})));
            }
            return After::Nothing;
        };
        // A frame naming another join of this topic is for a channel that is gone: Phoenix drops
        // it silently (spec B.7), so no reply.
        let current = s.channels.get(&id).and_then(|c| c.join_ref.clone());
        if m.join_ref.is_some() && m.join_ref != current {
            return After::Nothing;
        }
        match m.event.as_str() {
            "phx_leave" => {
                s.send(socket, reply(vsn, &m, "ok", json!({})));
                s.close_channel(id, None);
            }
            _ if self.config.phoenix => {
                // Plain Phoenix: the sender gets its payload back, the others get the event.
                if m.msg_ref.is_some() {
                    s.send(socket, reply(vsn, &m, "ok", m.payload.clone()));
                }
                let private = s.channels.get(&id).is_some_and(|c| c.private);
                s.fan_out(&(m.topic.clone(), private), Some(id), &m.event, &m.payload, false);
            }
            "broadcast" => self.broadcast(s, id, vsn, &m),
            "presence" => self.presence(s, id, vsn, &m),
            "access_token" => self.access_token(s, id, &m),
            _ => {}
        }
        After::Nothing
    }

    fn join(&self, s: &mut State, socket: u64, vsn: Vsn, m: Inbound) -> After {
        let limits = &self.config.limits;
        let error = |reason: &str, close: Option<(u16, String)>| {
            let frames = vec![reply(vsn, &m, "error", json!({"reason": reason}))];
            After::Later { delay: limits.join_error_delay.unwrap_or_default(), frames, then_close: close }
        };
        match s.faults.join.clone() {
            JoinFault::Ignore => return After::Nothing,
            JoinFault::Fail(reason) => return error(&reason, None),
            JoinFault::Delay(_) | JoinFault::None => {}
        }
        if !self.config.phoenix && !m.topic.starts_with("realtime:") {
            return After::Later {
                delay: Duration::ZERO,
                frames: vec![reply(vsn, &m, "error", json!({"reason": "unmatched topic"}))],
                then_close: None,
            };
        }
        if !self.config.phoenix && sub_topic(&m.topic).is_empty() {
            return error("TopicNameRequired: You must provide a topic name", None);
        }
        if let Some(max) = limits.max_joins_per_second {
            let now = Instant::now();
            if let Some(sock) = s.sockets.get_mut(&socket) {
                while sock.joins.front().is_some_and(|&t| now.duration_since(t) >= Duration::from_secs(1)) {
                    sock.joins.pop_front();
                }
                sock.joins.push_back(now);
                if sock.joins.len() > max as usize {
                    return error(
                        "ClientJoinRateLimitReached: Too many joins per second",
                        Some((1001, "ClientJoinRateLimitReached".into())),
                    );
                }
            }
        }
        // A second join of a topic closes the first (Phoenix's duplicate join).
        if let Some(old) = s.sockets.get(&socket).and_then(|x| x.channels.get(&m.topic)).copied() {
            s.close_channel(old, None);
        }
        if let Some(max) = limits.max_channels_per_client
            && s.sockets.get(&socket).is_some_and(|x| x.channels.len() >= max)
        {
            return error("ChannelRateLimitReached: Too many channels", None);
        }
        let p = &m.payload;
        // Plain Phoenix: the join payload is the app's own, with no Realtime config in it.
        let config = if self.config.phoenix { &Value::Null } else { &p["config"] };
        let flag = |v: &Value| v.as_bool().unwrap_or(false) || v.as_str() == Some("true");
        let token = p.get("access_token").or_else(|| p.get("user_token")).and_then(Value::as_str);
        let claims = match (&self.config.auth, token) {
            (Auth::Jwt { secret }, Some(t)) if !t.starts_with("sb_") => {
                match jwt::verify(t, secret, unix_now()) {
                    Ok(c) => Some(c),
                    Err(e) => return error(&format!("InvalidJWTToken: {}", e.message()), None),
                }
            }
            // No token, or an `sb_` key: the channel uses the token the socket connected with
            // (spec B.10), so it is re-checked too. It used to get no claims at all: never
            // re-checked, and an `sb_` key was refused as a malformed JWT.
            (Auth::Jwt { .. }, _) => {
                let claims = s.sockets.get(&socket).and_then(|x| x.claims.clone());
                let now = unix_now();
                if let Some(exp) = claims.as_ref().and_then(jwt::exp_of).filter(|&exp| exp <= now) {
                    let expired = jwt::JwtError::Expired(now - exp).message();
                    return error(&format!("InvalidJWTToken: {expired}"), None);
                }
                claims
            }
            _ => None,
        };
        let private = flag(&config["private"]);
        let policies = if private {
            let p = (self.config.authorize)(&AuthzRequest {
                topic: sub_topic(&m.topic),
                claims: claims.as_ref(),
            });
            if !p.read {
                return error(
                    &format!(
                        "Unauthorized: You do not have permissions to read from this Channel topic: {}",
                        sub_topic(&m.topic)
                    ),
                    None,
                );
            }
            p
        } else {
            Policies { read: true, write: true }
        };
        let bindings: Vec<(Value, Result<Binding, String>)> = config["postgres_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| !b.is_null())
            .map(|b| (b.clone(), Binding::parse(b).map_err(|e| e.0)))
            .collect();
        let echo: Vec<Value> = bindings
            .iter()
            .map(|(params, _)| {
                let mut e = params.clone();
                e["id"] = json!(crate::postgres::binding_id(params));
                e
            })
            .collect();
        let binding_error = bindings.iter().find_map(|(_, b)| b.as_ref().err().cloned());
        // One malformed binding fails the channel's whole subscription, as on the real server
        // (its CDC subscribe takes all the params at once).
        let bindings: Vec<Binding> = if binding_error.is_some() {
            Vec::new()
        } else {
            bindings.into_iter().filter_map(|(_, b)| b.ok()).collect()
        };
        let has_bindings = !echo.is_empty();
        let presence_key = config["presence"]["key"].as_str().filter(|k| !k.is_empty()).map(str::to_string);
        let id = s.id();
        let presence_key =
            presence_key.unwrap_or_else(|| format!("{:08x}-0000-1000-8000-{id:012x}", id as u32));
        let channel = Channel {
            socket,
            topic: m.topic.clone(),
            private,
            join_ref: m.join_ref.clone().or_else(|| m.msg_ref.clone()),
            receive_own: flag(&config["broadcast"]["self"]),
            ack: flag(&config["broadcast"]["ack"]),
            presence_enabled: flag(&config["presence"]["enabled"]),
            presence_key,
            bindings,
            claims,
            policies,
            presence_calls: VecDeque::new(),
        };
        let presence_enabled = channel.presence_enabled;
        let key = (m.topic.clone(), private);
        s.channels.insert(id, channel);
        s.topics.entry(key.clone()).or_default().push(id);
        if let Some(sock) = s.sockets.get_mut(&socket) {
            sock.channels.insert(m.topic.clone(), id);
        }
        // The reply, then what the channel process pushes right after it.
        let join_ref = s.channels.get(&id).and_then(|c| c.join_ref.clone());
        let push = |event: &str, payload: &Value| {
            wire::encode(vsn, join_ref.as_deref(), None, &m.topic, event, payload)
        };
        let response = if self.config.phoenix { json!({}) } else { json!({"postgres_changes": echo}) };
        let mut frames = vec![reply(vsn, &m, "ok", response)];
        if presence_enabled {
            let state = s.presence.get(&key).map_or_else(|| json!({}), Tracker::state);
            frames.push(push("presence_state", &state));
        }
        let topic = sub_topic(&m.topic).to_string();
        let ready = match binding_error {
            Some(e) => {
                let error = json!({"extension": "postgres_changes", "status": "error", "message": e, "channel": topic});
                frames.push(push("system", &error));
                false
            }
            None => has_bindings,
        };
        if let JoinFault::Delay(delay) = s.faults.join {
            if ready {
                frames.push(push("system", &postgres_ok(&topic)));
            }
            return After::Later { delay, frames, then_close: None };
        }
        for f in frames {
            s.send(socket, f);
        }
        if ready {
            return After::PostgresReady { channel: id, join_ref };
        }
        After::Nothing
    }

    /// The postgres ready message, if the channel is still that join.
    pub(crate) fn postgres_ready(&self, channel: u64, join_ref: Option<&str>) {
        let s = self.lock();
        let Some(c) = s.channels.get(&channel) else { return };
        if c.join_ref.as_deref() != join_ref {
            return;
        }
        s.push(channel, "system", &postgres_ok(sub_topic(&c.topic)));
    }

    /// Sends frames to a socket (a delayed reply), then maybe closes it.
    pub(crate) fn deliver(&self, socket: u64, frames: Vec<Frame>, then_close: Option<(u16, String)>) {
        let s = self.lock();
        let Some(sock) = s.sockets.get(&socket) else { return };
        for frame in frames {
            let _ = sock.tx.send(Out::Frame(frame));
        }
        if let Some((code, reason)) = then_close {
            let _ = sock.tx.send(Out::Close(code, reason));
        }
    }

    fn too_large(&self, bytes: usize) -> bool {
        self.config.limits.max_payload_bytes.is_some_and(|max| bytes > max)
    }

    fn broadcast(&self, s: &mut State, id: u64, vsn: Vsn, m: &Inbound) {
        let Some(c) = s.channels.get(&id) else { return };
        let (ack, receive_own, write, key) =
            (c.ack, c.receive_own, c.policies.write, (c.topic.clone(), c.private));
        let socket = c.socket;
        let size = match &m.user_broadcast {
            Some(b) => match &b.data {
                wire::Data::Json(t) => t.len(),
                wire::Data::Binary(d) => d.len(),
            },
            None => m.payload.to_string().len(),
        };
        // An error reply only with ack; without it the message is dropped silently (spec C.1).
        if self.too_large(size) {
            if ack {
                s.send(socket, reply(vsn, m, "error", json!({"reason": "payload_size_exceeded"})));
            }
            return;
        }
        // Without write permission the real server drops the message silently, with no reply
        // even with ack (spec C.1); an error reply here would hide a client that waits for one.
        if !write {
            return;
        }
        if !s.event_allowed(self.config.limits.max_events_per_second) {
            s.close_channel(id, Some("Too many messages per second"));
            return;
        }
        let skip = (!receive_own).then_some(id);
        match &m.user_broadcast {
            Some(b) => s.fan_out_user(&key, skip, b),
            None => s.fan_out(&key, skip, "broadcast", &m.payload, false),
        }
        if ack {
            s.send(socket, reply(vsn, m, "ok", json!({})));
        }
    }

    fn presence(&self, s: &mut State, id: u64, vsn: Vsn, m: &Inbound) {
        let now = Instant::now();
        let limit = self.config.limits.presence_calls;
        let Some(c) = s.channels.get_mut(&id) else { return };
        let socket = c.socket;
        if let Some((max, window)) = limit {
            while c.presence_calls.front().is_some_and(|&t| now.duration_since(t) >= window) {
                c.presence_calls.pop_front();
            }
            c.presence_calls.push_back(now);
            if c.presence_calls.len() > max as usize {
                s.close_channel(id, Some("Client presence rate limit exceeded"));
                return;
            }
        }
        if !c.policies.write {
            s.send(socket, reply(vsn, m, "error", json!({"reason": "Unauthorized"})));
            return;
        }
        // A track turns presence on for the channel (the real server does, without sending the
        // state: spec C.2's #2196, since fixed; here the state is not sent either).
        c.presence_enabled = true;
        let key = (c.topic.clone(), c.private);
        let presence_key = c.presence_key.clone();
        let diff = match m.payload["event"].as_str() {
            Some("track") => {
                let payload: Map<String, Value> = match &m.payload["payload"] {
                    Value::Object(o) => o.clone(),
                    Value::Null => Map::new(),
                    _ => {
                        s.send(
                            socket,
                            reply(vsn, m, "error", json!({"reason": "Presence payload must be a map"})),
                        );
                        return;
                    }
                };
                if self.too_large(m.payload["payload"].to_string().len()) {
                    s.close_channel(id, Some("Track message size exceeded"));
                    return;
                }
                let n = s.id();
                s.presence.entry(key.clone()).or_default().track(id, &presence_key, payload, phx_ref(n))
            }
            Some("untrack") => s.presence.get_mut(&key).and_then(|t| t.untrack(id)),
            _ => {
                s.send(socket, reply(vsn, m, "error", json!({"reason": "unknown presence event"})));
                return;
            }
        };
        s.send(socket, reply(vsn, m, "ok", json!({})));
        if let Some(diff) = diff {
            s.presence_diff(&key, &diff);
        }
    }

    /// `access_token` gets no reply (spec A.5: the server answers `{:noreply, socket}`); a null
    /// token or an `sb_` key is ignored (spec B.10), a bad one closes the channel.
    fn access_token(&self, s: &mut State, id: u64, m: &Inbound) {
        let Auth::Jwt { secret } = &self.config.auth else { return };
        let Some(token) = m.payload["access_token"].as_str().filter(|t| !t.starts_with("sb_")) else {
            return;
        };
        match jwt::verify(token, secret, unix_now()) {
            Ok(claims) => {
                if let Some(c) = s.channels.get_mut(&id) {
                    c.claims = Some(claims);
                }
            }
            Err(e) => s.close_channel(id, Some(&format!("Token has expired or is invalid: {}", e.message()))),
        }
    }

    /// The periodic token re-check: channels whose token expired are closed.
    pub(crate) fn recheck_tokens(&self) {
        let now = unix_now();
        let mut s = self.lock();
        let expired: Vec<(u64, u64)> = s
            .channels
            .iter()
            .filter_map(|(&id, c)| {
                let exp = c.claims.as_ref().and_then(jwt::exp_of)?;
                // Lazily: `then_some(now - exp)` computed the difference for live tokens too and
                // overflowed, panicking the socket task on every re-check.
                (exp <= now).then(|| (id, now - exp))
            })
            .collect();
        for (id, ago) in expired {
            s.close_channel(id, Some(&format!("Token has expired {ago} seconds ago")));
        }
    }

    // ------------------------------------------------------------------ the test API

    pub(crate) fn set_heartbeat_replies(&self, on: bool) {
        self.lock().faults.no_heartbeat_replies = !on;
    }

    pub(crate) fn set_join_fault(&self, fault: JoinFault) {
        self.lock().faults.join = fault;
    }

    pub(crate) fn refuse_for(&self, d: Duration) {
        self.lock().faults.refuse_until = Some(Instant::now() + d);
    }

    /// Every socket: end abruptly, or with a close frame.
    pub(crate) fn end_all(&self, close: Option<(u16, String)>) -> usize {
        let s = self.lock();
        for sock in s.sockets.values() {
            let _ = sock.tx.send(match &close {
                Some((code, reason)) => Out::Close(*code, reason.clone()),
                None => Out::Kill,
            });
        }
        s.sockets.len()
    }

    /// `phx_error` or `phx_close` to every channel on `topic` (sub-topic); they are gone.
    pub(crate) fn channel_event(&self, topic: &str, event: &str) -> usize {
        let mut s = self.lock();
        let full = format!("realtime:{topic}");
        let ids: Vec<u64> = s.channels.iter().filter(|(_, c)| c.topic == full).map(|(&id, _)| id).collect();
        for &id in &ids {
            let payload = if event == "phx_error" { json!({"reason": "channel_crash"}) } else { json!({}) };
            s.push_lifecycle(id, event, &payload);
            s.remove_channel(id);
        }
        ids.len()
    }

    /// A frame no serializer reads, to every socket.
    pub(crate) fn send_malformed(&self, frame: Frame) {
        let s = self.lock();
        for sock in s.sockets.values() {
            let _ = sock.tx.send(Out::Frame(frame.clone()));
        }
    }

    /// A row change to every channel with a matching binding; how many channels got it.
    pub(crate) fn emit_change(&self, change: &RowChange) -> usize {
        let s = self.lock();
        let mut delivered = 0;
        for (&id, c) in &s.channels {
            let matched: Vec<&Binding> = c.bindings.iter().filter(|b| b.matches(change)).collect();
            if matched.is_empty() {
                continue;
            }
            // Each id once: identical bindings share an id, and need not be adjacent (`dedup`
            // alone left `[a, b, a]` as it was).
            let mut ids: Vec<u64> = Vec::new();
            for b in &matched {
                if !ids.contains(&b.id) {
                    ids.push(b.id);
                }
            }
            // Narrowed to the first matching binding's `select` (the real server narrows per
            // subscription; one message per channel carries one row).
            let data = change.data(matched[0].select());
            s.push(id, "postgres_changes", &json!({"ids": ids, "data": data}));
            delivered += 1;
        }
        delivered
    }

    /// A broadcast from outside (REST): fanned out to the topic's subscribers.
    pub(crate) fn rest_broadcast(&self, topic: &str, private: bool, message: RestMessage) -> Result<(), u16> {
        let mut s = self.lock();
        let size = match &message {
            RestMessage::User(b) => match &b.data {
                wire::Data::Json(t) => t.len(),
                wire::Data::Binary(d) => d.len(),
            },
            RestMessage::Json(v) => v.to_string().len(),
        };
        if self.too_large(size) {
            return Err(413);
        }
        if !s.event_allowed(self.config.limits.max_events_per_second) {
            return Err(429);
        }
        let key = (format!("realtime:{topic}"), private);
        match message {
            RestMessage::User(b) => s.fan_out_user(&key, None, &b),
            RestMessage::Json(payload) => s.fan_out(&key, None, "broadcast", &payload, false),
        }
        Ok(())
    }

    pub(crate) fn observed(&self) -> Vec<Observed> {
        self.lock().observed.iter().cloned().collect()
    }

    pub(crate) fn socket_count(&self) -> usize {
        self.lock().sockets.len()
    }

    pub(crate) fn forget_sockets(&self) {
        let mut s = self.lock();
        let ids: Vec<u64> = s.sockets.keys().copied().collect();
        drop(s);
        for id in ids {
            self.unregister(id);
        }
        s = self.lock();
        s.presence.clear();
    }
}

/// A REST broadcast's message.
pub(crate) enum RestMessage {
    /// The single endpoint: a user broadcast (kind 4 to v2 subscribers).
    User(UserBroadcast),
    /// The batch endpoint: a JSON broadcast payload `{type, event, payload, meta?}`.
    Json(Value),
}
