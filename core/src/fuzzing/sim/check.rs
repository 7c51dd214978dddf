//! The invariants of a client run, checked from the outside: what the client writes (parsed
//! here, independently of the core's serializer), the events it reports and the deadline it
//! asks for. The fuzz targets and the seeded simulation in `core/tests/client` feed the same
//! [`Invariants`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::Value;

use crate::client::{ChannelId, Event, PushId};
use crate::time::Instant;

/// Slack over the configured queue bounds: what the client may add past them on its own (a
/// push's outcome, a status change, a heartbeat) per channel and per connection, so a queue
/// that grows with the input still trips the check.
const EVENT_SLACK_PER_CHANNEL: usize = 8;
/// See [`EVENT_SLACK_PER_CHANNEL`].
const EVENT_SLACK: usize = 16;

/// One Phoenix message the client sent, parsed from its frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The join ref (absent for heartbeats).
    pub join_ref: Option<String>,
    /// The message ref (absent for messages that want no reply).
    pub msg_ref: Option<String>,
    /// The topic.
    pub topic: String,
    /// The event (`broadcast` for a kind-3 binary frame).
    pub event: String,
    /// The payload; a kind-3 frame's is `{"event", "meta", "data"}`.
    pub payload: Value,
    /// A kind-3 binary frame.
    pub binary: bool,
}

impl Sent {
    /// A text frame's message: the v2 array `[join_ref, ref, topic, event, payload]`, or with
    /// `v1` the object with those keys.
    pub fn text(text: &str, v1: bool) -> Result<Self, String> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| format!("client text is not JSON ({e}): {text}"))?;
        let s = |v: &Value| v.as_str().map(String::from);
        let field = |v: &Value, what: &str| s(v).ok_or_else(|| format!("no {what}: {text}"));
        if v1 {
            if v.get("ref").is_none() {
                return Err(format!("a v1 frame without `ref`: {text}"));
            }
            Ok(Self {
                join_ref: v.get("join_ref").and_then(s),
                msg_ref: s(&v["ref"]),
                topic: field(&v["topic"], "topic")?,
                event: field(&v["event"], "event")?,
                payload: v["payload"].clone(),
                binary: false,
            })
        } else {
            let a = v.as_array().ok_or_else(|| format!("a v2 frame that is not an array: {text}"))?;
            if a.len() != 5 {
                return Err(format!("a v2 frame of {} fields: {text}", a.len()));
            }
            Ok(Self {
                join_ref: s(&a[0]),
                msg_ref: s(&a[1]),
                topic: field(&a[2], "topic")?,
                event: field(&a[3], "event")?,
                payload: a[4].clone(),
                binary: false,
            })
        }
    }

    /// A binary frame's message: the client sends kind 3 (a user broadcast) only.
    pub fn binary(b: &[u8]) -> Result<Self, String> {
        let head = b.get(..7).ok_or_else(|| format!("a binary frame of {} bytes", b.len()))?;
        if head[0] != 3 {
            return Err(format!("a binary frame of kind {}: the client sends kind 3 only", head[0]));
        }
        let mut at = 7;
        let mut fields = Vec::new();
        for &len in &head[1..6] {
            let bytes = b.get(at..at + usize::from(len)).ok_or("a kind-3 field past the end")?;
            fields.push(String::from_utf8(bytes.to_vec()).map_err(|_| "a kind-3 field that is not UTF-8")?);
            at += usize::from(len);
        }
        let data = &b[at..];
        let data = match head[6] {
            1 => {
                serde_json::from_slice(data).map_err(|e| format!("kind-3 JSON data that is not JSON: {e}"))?
            }
            0 => Value::Array(data.iter().map(|&x| Value::from(x)).collect()),
            e => return Err(format!("kind-3 data encoding {e}")),
        };
        let opt = |s: &String| (!s.is_empty()).then(|| s.clone());
        let mut payload = serde_json::Map::new();
        payload.insert("event".into(), Value::String(fields[3].clone()));
        payload.insert("meta".into(), Value::String(fields[4].clone()));
        payload.insert("data".into(), data);
        Ok(Self {
            join_ref: opt(&fields[0]),
            msg_ref: opt(&fields[1]),
            topic: fields[2].clone(),
            event: "broadcast".into(),
            payload: Value::Object(payload),
            binary: true,
        })
    }
}

/// What the client wrote on a byte transport, split by [`ClientWire`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// The upgrade request, with its `Sec-WebSocket-Key`.
    Request {
        /// The key, as sent.
        key: String,
    },
    /// A whole message or control frame: its opcode (1 text, 2 binary, 8 close, 9 ping, 10
    /// pong) and unmasked payload (a fragmented message's fragments joined).
    Frame {
        /// The opcode of the first fragment.
        opcode: u8,
        /// The payload.
        payload: Vec<u8>,
    },
}

/// The client's side of a byte transport read as a server reads it: the upgrade request,
/// then masked frames. A client that breaks the framing rules (an unmasked frame, a
/// continuation out of place, a fragmented control frame) is a violation.
#[derive(Debug, Default)]
pub struct ClientWire {
    buf: Vec<u8>,
    upgraded: bool,
    /// A fragmented message so far: its opcode and payload.
    partial: Option<(u8, Vec<u8>)>,
}

impl ClientWire {
    /// A reader for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the client's next bytes; returns what they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Written>, String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        if !self.upgraded {
            let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else { return Ok(out) };
            let head =
                core::str::from_utf8(&self.buf[..end]).map_err(|_| "a request head that is not UTF-8")?;
            let key = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("sec-websocket-key").then(|| String::from(value.trim()))
                })
                .ok_or_else(|| format!("a request without Sec-WebSocket-Key: {head}"))?;
            self.buf.drain(..end + 4);
            self.upgraded = true;
            out.push(Written::Request { key });
        }
        while let Some((fin, opcode, payload, used)) = masked_frame(&self.buf)? {
            self.buf.drain(..used);
            match (opcode, self.partial.take()) {
                (0, Some((first, mut so_far))) => {
                    so_far.extend_from_slice(&payload);
                    if fin {
                        out.push(Written::Frame { opcode: first, payload: so_far });
                    } else {
                        self.partial = Some((first, so_far));
                    }
                }
                (0, None) => return Err("a continuation frame with no message under way".into()),
                (8..=10, partial) if fin => {
                    self.partial = partial;
                    out.push(Written::Frame { opcode, payload });
                }
                (8..=10, _) => return Err(format!("a fragmented control frame (opcode {opcode})")),
                (1 | 2, None) if fin => out.push(Written::Frame { opcode, payload }),
                (1 | 2, None) => self.partial = Some((opcode, payload)),
                (1 | 2, Some(_)) => return Err("a new message inside a fragmented one".into()),
                (other, _) => return Err(format!("a frame with reserved opcode {other}")),
            }
        }
        Ok(out)
    }
}

/// A whole client frame: FIN, opcode, unmasked payload, and the bytes it took.
type Whole = (bool, u8, Vec<u8>, usize);

/// One whole masked frame from the front of `buf`, or `None` until it is all there.
fn masked_frame(buf: &[u8]) -> Result<Option<Whole>, String> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(format!("a client frame with RSV bits {:#x}", b0 & 0x70));
    }
    if b1 & 0x80 == 0 {
        return Err("an unmasked client frame".into());
    }
    let (len, at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().expect("8 bytes")), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    let Ok(len) = usize::try_from(len) else { return Err("a frame longer than memory".into()) };
    let Some(key) = buf.get(at..at + 4) else { return Ok(None) };
    let Some(payload) = buf.get(at + 4..at + 4 + len) else { return Ok(None) };
    let unmasked = payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
    Ok(Some((b0 & 0x80 != 0, b0 & 0x0f, unmasked, at + 4 + len)))
}

/// What one connection has seen the client send.
#[derive(Debug, Default)]
struct Connection {
    /// The join ref of each topic's latest `phx_join`.
    joins: BTreeMap<String, String>,
    /// Join refs the client has sent `phx_leave` for.
    left: BTreeSet<String>,
    /// Join refs of plain Phoenix joins (their payload is [`PHOENIX_PARAMS`](super::PHOENIX_PARAMS)).
    phoenix: BTreeSet<String>,
    /// The client sent a close frame.
    closed: bool,
}

/// The invariants of one client run. Feed it every step's facts; `violations` lists what broke.
///
/// - every push the app got an id for ends exactly once (checked at [`finish`](Self::finish));
/// - every leave the app asks for is answered by one `Left` event, and no `Left` comes unasked;
/// - no two messages share a ref, and a join's ref is its join ref;
/// - no message goes to a topic that is not joined with that join ref on this connection (its
///   latest `phx_join` there, not left since), and nothing is sent after the close frame;
/// - a plain Phoenix join carries the app's params only, and no Realtime push (`access_token`,
///   `presence`, a kind-3 broadcast frame) goes to it;
/// - after `handle_timeout(now)` the next deadline lies after `now`;
/// - the event queue stays within its bound (plus a fixed slack per channel).
#[derive(Debug, Default)]
pub struct Invariants {
    /// Pushes and leaves the app did not report are not its own (see
    /// [`without_app`](Self::without_app)).
    open_app: bool,
    violations: Vec<String>,
    /// Pushes the app holds an id for, with how many times each ended.
    pushes: BTreeMap<PushId, u32>,
    /// Handles the app holds, by channel (equal configs share a channel).
    handles: BTreeMap<ChannelId, usize>,
    /// Channels whose leave is asked and not yet answered.
    waiting: BTreeSet<ChannelId>,
    refs: BTreeSet<String>,
    connection: Option<Connection>,
    /// Connections opened so far.
    connections: usize,
    /// Push outcomes seen since the last `events_queued`: each was owed (outstanding) when the
    /// batch began, so it counts toward that batch's bound.
    ended_in_batch: usize,
}

impl Invariants {
    /// Nothing seen yet; the app reports every push id it gets and every leave it asks for
    /// (as [`App`](super::App) does).
    pub fn new() -> Self {
        Self::default()
    }

    /// For a caller that drives the client without reporting its pushes and leaves: a push
    /// ending or a `Left` it never heard of is taken as the app's, not as a violation. A push
    /// ending twice still is one.
    pub fn without_app() -> Self {
        Self { open_app: true, ..Self::default() }
    }

    /// Takes the violations seen so far.
    pub fn take_violations(&mut self) -> Vec<String> {
        core::mem::take(&mut self.violations)
    }

    /// What broke so far, in order.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Panics with every violation, if there is one.
    #[track_caller]
    pub fn assert_clean(&self, context: &str) {
        assert!(self.violations.is_empty(), "{context}: {:#?}", self.violations);
    }

    /// Records a broken invariant the caller saw itself.
    pub fn violation(&mut self, what: String) {
        self.violations.push(what);
    }

    /// Connections opened so far.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// Channels the app holds a handle to.
    pub fn held(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.handles.keys().copied()
    }

    /// The app got an id for a push.
    pub fn push_accepted(&mut self, push: PushId) {
        if self.pushes.insert(push, 0).is_some() {
            self.violations.push(format!("push id {push:?} given twice"));
        }
    }

    /// Every push the app got an id for, with how many times it ended.
    pub fn pushes(&self) -> impl Iterator<Item = (PushId, u32)> + '_ {
        self.pushes.iter().map(|(p, n)| (*p, *n))
    }

    /// The app got a handle to `channel` (a new channel, or one more handle to it).
    pub fn handle_added(&mut self, channel: ChannelId) {
        *self.handles.entry(channel).or_default() += 1;
    }

    /// The app removed a handle: the last one asks the channel to leave.
    pub fn handle_removed(&mut self, channel: ChannelId) {
        match self.handles.get_mut(&channel) {
            Some(1) => {
                self.handles.remove(&channel);
                self.waiting.insert(channel);
            }
            Some(n) => *n -= 1,
            None => self.violations.push(format!("a handle to {channel:?} removed that was never given")),
        }
    }

    /// The app asked `channel` to leave (`unsubscribe` accepted); a leave under way answers
    /// this ask too.
    pub fn leave_asked(&mut self, channel: ChannelId) {
        self.waiting.insert(channel);
    }

    /// The runtime opened a new transport.
    pub fn connection_opened(&mut self) {
        self.connections += 1;
        self.connection = Some(Connection::default());
    }

    /// The transport ended: nothing more is sent on it.
    pub fn connection_ended(&mut self) {
        self.connection = None;
    }

    /// The client sent a close frame.
    pub fn close_sent(&mut self) {
        if let Some(c) = self.connection.as_mut() {
            c.closed = true;
        }
    }

    /// The client sent `m` on the current connection.
    pub fn sent(&mut self, m: &Sent) {
        if let Some(r) = &m.msg_ref
            && !self.refs.insert(r.clone())
        {
            self.violations.push(format!("duplicate ref {r}: {m:?}"));
        }
        let Some(c) = self.connection.as_mut() else {
            self.violations.push(format!("a message with no connection open: {m:?}"));
            return;
        };
        if c.closed {
            self.violations.push(format!("a message after the client's close frame: {m:?}"));
        }
        match (m.topic.as_str(), m.event.as_str()) {
            ("phoenix", "heartbeat") => {}
            (_, "phx_join") => match &m.msg_ref {
                Some(r) if m.join_ref.as_ref() == Some(r) => {
                    c.joins.insert(m.topic.clone(), r.clone());
                    let phoenix: Value = serde_json::from_str(super::PHOENIX_PARAMS).unwrap_or_default();
                    if m.payload == phoenix {
                        c.phoenix.insert(r.clone());
                    }
                }
                _ => self.violations.push(format!("a join whose join_ref is not its ref: {m:?}")),
            },
            _ => {
                let joined = m.join_ref.is_some()
                    && c.joins.get(&m.topic) == m.join_ref.as_ref()
                    && !m.join_ref.as_ref().is_some_and(|j| c.left.contains(j));
                let realtime_push = matches!(m.event.as_str(), "access_token" | "presence") || m.binary;
                if !joined {
                    self.violations.push(format!("a message to a topic not joined with its join_ref: {m:?}"));
                } else if realtime_push && m.join_ref.as_ref().is_some_and(|j| c.phoenix.contains(j)) {
                    self.violations.push(format!("a Realtime push on a plain Phoenix channel: {m:?}"));
                } else if m.event == "phx_leave" {
                    c.left.insert(m.join_ref.clone().unwrap_or_default());
                }
            }
        }
    }

    /// The client reported `e`.
    pub fn event(&mut self, e: &Event) {
        match e {
            Event::Push { push, .. } => match self.pushes.get_mut(push) {
                Some(n) => {
                    *n += 1;
                    self.ended_in_batch += 1;
                    if *n > 1 {
                        self.violations.push(format!("push {push:?} ended {n} times"));
                    }
                }
                None if self.open_app => {
                    self.pushes.insert(*push, 1);
                }
                None => self.violations.push(format!("push {push:?} ended, which the app never got")),
            },
            Event::Left { channel, .. } if !self.waiting.remove(channel) && !self.open_app => {
                self.violations.push(format!("Left for {channel:?}, which asked nothing"));
            }
            _ => {}
        }
    }

    /// `handle_timeout(now)` returned and the client now asks for `next`.
    pub fn timeout_handled(&mut self, now: Instant, next: Option<Instant>) {
        if let Some(t) = next
            && t <= now
        {
            self.violations.push(format!("deadline {t:?} not after now {now:?} after handle_timeout"));
        }
    }

    /// The client had `pending` events queued with its bound `max_events` and `channels`
    /// channels.
    pub fn events_queued(&mut self, pending: usize, max_events: usize, channels: usize) {
        // Pushes still owed, and those this batch ended (a push buffer timing out at once ends
        // all of its pushes in one batch: a fuzzer found 49 with the bound counted after them).
        let owed = self.outstanding_pushes() + core::mem::take(&mut self.ended_in_batch);
        let bound = max_events + channels * EVENT_SLACK_PER_CHANNEL + EVENT_SLACK + owed;
        if pending > bound {
            self.violations.push(format!("{pending} events queued, over the bound {bound}"));
        }
    }

    fn outstanding_pushes(&self) -> usize {
        self.pushes.values().filter(|n| **n == 0).count()
    }

    /// The run is over and every deadline has passed: every push ended once, every leave was
    /// answered.
    pub fn finish(&mut self) {
        for (push, n) in &self.pushes {
            if *n != 1 {
                self.violations.push(format!("push {push:?} ended {n} times"));
            }
        }
        if !self.waiting.is_empty() {
            self.violations.push(format!("leaves never answered: {:?}", self.waiting));
        }
    }
}
