//! A message from the server, decoded without copying: it owns the WebSocket message it came in
//! and points into it. Decoding allocates nothing beyond that message, except for a JSON string
//! field written with escapes (rare: topics, events and refs are plain text), which is kept
//! unescaped on its own.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use super::serializer::BroadcastDataRef;

/// Where a text field lives.
#[derive(Clone)]
pub(crate) enum Text {
    Absent,
    /// Bytes of the frame (valid UTF-8, checked at decode).
    Span(u32, u32),
    /// A name the frame implies (`phx_reply` for kind 1, `broadcast` for kind 4).
    Static(&'static str),
    /// An escaped JSON string, unescaped.
    Owned(Box<str>),
}

impl Text {
    pub(crate) fn span(r: Range<usize>) -> Self {
        // Invariant: frames are at most u32::MAX bytes (the WebSocket layer's limits are u32).
        Self::Span(r.start as u32, r.end as u32)
    }
}

/// Where the payload lives.
#[derive(Clone)]
pub(crate) enum Body {
    Json(Range<u32>),
    Binary(Range<u32>),
    BinaryReply { status: Text, response: Range<u32> },
    UserBroadcast { event: Text, meta: Option<Range<u32>>, data: Range<u32>, json: bool },
}

/// The frame a message was decoded from.
#[derive(Clone)]
pub(crate) enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

impl Frame {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Text(s) => s.as_bytes(),
            Self::Binary(b) => b,
        }
    }
}

pub(crate) fn range(r: Range<usize>) -> Range<u32> {
    r.start as u32..r.end as u32
}

/// A message from the server. Read it through its accessors; they borrow from the frame.
#[derive(Clone)]
pub struct Message {
    pub(crate) frame: Frame,
    pub(crate) join_ref: Text,
    pub(crate) msg_ref: Text,
    pub(crate) topic: Text,
    pub(crate) event: Text,
    pub(crate) body: Body,
}

/// A message's payload, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// Raw JSON text (a text frame's payload), validated.
    Json(&'a str),
    /// Raw bytes: the data of a binary push (kind 0) or broadcast (kind 2).
    Binary(&'a [u8]),
    /// A binary reply (kind 1).
    BinaryReply {
        /// `ok` or `error`.
        status: &'a str,
        /// The reply's bytes.
        response: &'a [u8],
    },
    /// A user broadcast (kind 4): what realtime-js and the REST endpoints send.
    UserBroadcast(UserBroadcast<'a>),
}

/// A broadcast's user event, metadata and data, from a kind-4 frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBroadcast<'a> {
    /// The user event name.
    pub event: &'a str,
    /// The metadata object as raw JSON text, if the frame had any.
    pub meta: Option<&'a str>,
    /// The data: raw JSON text (validated) or bytes.
    pub data: BroadcastDataRef<'a>,
}

impl Message {
    fn text<'a>(&'a self, t: &'a Text) -> Option<&'a str> {
        match t {
            Text::Absent => None,
            Text::Span(a, b) => Some(self.str_at(*a..*b)),
            Text::Static(s) => Some(s),
            Text::Owned(s) => Some(s),
        }
    }

    fn str_at(&self, r: Range<u32>) -> &str {
        let r = r.start as usize..r.end as usize;
        match &self.frame {
            Frame::Text(s) => s.get(r).unwrap_or(""),
            // Invariant: checked as UTF-8 when decoded; re-checking a short field is cheap and
            // keeps this crate free of `unsafe`.
            Frame::Binary(b) => b.get(r).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or(""),
        }
    }

    fn raw<'a>(&'a self, t: &'a Text) -> &'a [u8] {
        match t {
            Text::Absent => &[],
            Text::Span(a, b) => self.frame.bytes().get(*a as usize..*b as usize).unwrap_or(&[]),
            Text::Static(s) => s.as_bytes(),
            Text::Owned(s) => s.as_bytes(),
        }
    }

    /// The topic's bytes, without the UTF-8 check `topic` repeats for binary frames.
    pub(crate) fn topic_bytes(&self) -> &[u8] {
        self.raw(&self.topic)
    }

    /// The event's bytes, without the UTF-8 check.
    pub(crate) fn event_bytes(&self) -> &[u8] {
        self.raw(&self.event)
    }

    fn bytes_at(&self, r: &Range<u32>) -> &[u8] {
        self.frame.bytes().get(r.start as usize..r.end as usize).unwrap_or(&[])
    }

    /// The join ref of the channel it belongs to (never set by the 1.0.0 serializer; `null`
    /// for fastlane broadcasts).
    pub fn join_ref(&self) -> Option<&str> {
        self.text(&self.join_ref)
    }

    /// The ref of the push it replies to, if any.
    pub fn msg_ref(&self) -> Option<&str> {
        self.text(&self.msg_ref)
    }

    /// The topic, e.g. `realtime:room1` or `phoenix`.
    pub fn topic(&self) -> &str {
        self.text(&self.topic).unwrap_or("")
    }

    /// The event, e.g. `phx_reply`, `broadcast`, `presence_diff` (`broadcast` for kind 4,
    /// `phx_reply` for kind 1).
    pub fn event(&self) -> &str {
        self.text(&self.event).unwrap_or("")
    }

    /// The payload.
    pub fn payload(&self) -> Payload<'_> {
        match &self.body {
            Body::Json(r) => Payload::Json(self.str_at(r.clone())),
            Body::Binary(r) => Payload::Binary(self.bytes_at(r)),
            Body::BinaryReply { status, response } => Payload::BinaryReply {
                status: self.text(status).unwrap_or(""),
                response: self.bytes_at(response),
            },
            Body::UserBroadcast { event, meta, data, json } => Payload::UserBroadcast(UserBroadcast {
                event: self.text(event).unwrap_or(""),
                meta: meta.as_ref().map(|m| self.str_at(m.clone())),
                data: if *json {
                    BroadcastDataRef::Json(self.str_at(data.clone()))
                } else {
                    BroadcastDataRef::Binary(self.bytes_at(data))
                },
            }),
        }
    }
}

impl PartialEq for Message {
    fn eq(&self, other: &Self) -> bool {
        (self.join_ref(), self.msg_ref(), self.topic(), self.event(), self.payload())
            == (other.join_ref(), other.msg_ref(), other.topic(), other.event(), other.payload())
    }
}

impl Eq for Message {}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("join_ref", &self.join_ref())
            .field("msg_ref", &self.msg_ref())
            .field("topic", &self.topic())
            .field("event", &self.event())
            .field("payload", &self.payload())
            .finish()
    }
}

/// A broadcast as the app sees it, from a JSON `broadcast` message or a kind-4 frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broadcast<'a> {
    /// The user event (`cursor`, ...).
    pub event: alloc::borrow::Cow<'a, str>,
    /// The data: raw JSON text or bytes.
    pub payload: BroadcastDataRef<'a>,
    /// The metadata as raw JSON text (`{"id":..,"replayed":true}` for replayed messages).
    pub meta: Option<&'a str>,
}

impl Message {
    /// The broadcast this message carries, if it is one: a `broadcast` message's
    /// `{type, event, payload, meta}` or a kind-4 frame.
    pub fn broadcast(&self) -> Option<Broadcast<'_>> {
        #[derive(serde::Deserialize)]
        struct Json<'a> {
            #[serde(borrow)]
            event: alloc::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            payload: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow, default)]
            meta: Option<&'a serde_json::value::RawValue>,
        }
        if self.event_bytes() != b"broadcast" {
            return None;
        }
        match self.payload() {
            Payload::UserBroadcast(b) => Some(Broadcast {
                event: alloc::borrow::Cow::Borrowed(b.event),
                payload: b.data,
                meta: b.meta,
            }),
            Payload::Json(text) => {
                let b: Json<'_> = serde_json::from_str(text).ok()?;
                Some(Broadcast {
                    event: b.event,
                    payload: BroadcastDataRef::Json(b.payload.map_or("null", |p| p.get())),
                    meta: b.meta.map(|m| m.get()),
                })
            }
            _ => None,
        }
    }
}

/// Whether a broadcast event matches a subscription filter: `*` matches every event, and names
/// compare case-insensitively, as in the reference clients (spec C.1).
pub fn event_matches(filter: &str, event: &str) -> bool {
    filter == "*" || filter.eq_ignore_ascii_case(event)
}
