//! Serializers: vsn 1.0.0 (JSON objects), vsn 2.0.0 (JSON arrays, the default) and the binary
//! frames of vsn 2.0.0 (spec A.2-A.4).
//!
//! Payloads are kept as raw JSON text (validated once, when decoded) or raw bytes, so numbers
//! stay exact and nothing is parsed twice. Outgoing payloads are raw JSON text that the caller
//! built; this module only frames them.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::message::{Body, Frame, Text, range};

/// Protocol version, the `vsn` query parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Vsn {
    /// `1.0.0`: JSON objects; the server sends no `join_ref` and drops binary broadcasts.
    V1,
    /// `2.0.0`: JSON arrays and binary frames (the default).
    #[default]
    V2,
}

impl Vsn {
    /// The query parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::V1 => "1.0.0",
            Self::V2 => "2.0.0",
        }
    }
}

/// Binary frame kinds (spec A.4).
mod kind {
    pub(super) const PUSH: u8 = 0;
    pub(super) const REPLY: u8 = 1;
    pub(super) const BROADCAST: u8 = 2;
    pub(super) const USER_BROADCAST_PUSH: u8 = 3;
    pub(super) const USER_BROADCAST: u8 = 4;
}

/// Payload encoding byte of kinds 3 and 4.
const ENCODING_BINARY: u8 = 0;
const ENCODING_JSON: u8 = 1;

/// Longest variable field of a binary frame: its length is one byte counting UTF-8 bytes.
pub const MAX_BINARY_FIELD_LEN: usize = 255;

pub use super::message::{Message, Payload, UserBroadcast};

/// A broadcast's data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BroadcastData {
    /// Raw JSON text.
    Json(String),
    /// Raw bytes.
    Binary(Vec<u8>),
}

/// A message to the server with a JSON payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The channel's current join ref (`None` for heartbeats).
    pub join_ref: Option<&'a str>,
    /// This push's ref.
    pub msg_ref: Option<&'a str>,
    /// The topic.
    pub topic: &'a str,
    /// The event.
    pub event: &'a str,
    /// The payload as raw JSON text (the caller built it; it is not re-validated).
    pub payload: &'a str,
}

/// A broadcast to send as a binary frame (kind 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBroadcastPush<'a> {
    /// The channel's current join ref.
    pub join_ref: Option<&'a str>,
    /// This push's ref.
    pub msg_ref: Option<&'a str>,
    /// The topic.
    pub topic: &'a str,
    /// The user event.
    pub event: &'a str,
    /// Metadata as raw JSON text, or `None` (sent as zero bytes).
    pub meta: Option<&'a str>,
    /// The data.
    pub data: BroadcastDataRef<'a>,
}

/// A borrowed broadcast payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BroadcastDataRef<'a> {
    /// Raw JSON text.
    Json(&'a str),
    /// Raw bytes.
    Binary(&'a [u8]),
}

/// A field of a binary frame, for errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The join ref.
    JoinRef,
    /// The ref.
    Ref,
    /// The topic.
    Topic,
    /// The event.
    Event,
    /// The metadata.
    Meta,
    /// The reply status.
    Status,
}

/// A message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// A binary frame field longer than 255 UTF-8 bytes.
    FieldTooLong {
        /// Which field.
        field: Field,
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FieldTooLong { field, len } => {
                write!(f, "binary frame field {field:?} is {len} bytes, more than {MAX_BINARY_FIELD_LEN}")
            }
        }
    }
}

impl core::error::Error for EncodeError {}

/// A frame from the server that is not a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A text frame that is not valid JSON of the expected shape.
    InvalidJson,
    /// A binary frame of an unknown kind.
    UnknownKind(u8),
    /// A binary frame shorter than its header and fields say.
    Truncated,
    /// A binary frame field that is not UTF-8.
    InvalidUtf8(Field),
    /// A payload encoding byte other than 0 (binary) or 1 (JSON).
    UnknownEncoding(u8),
    /// JSON data or metadata in a binary frame that is not valid JSON.
    InvalidJsonData,
    /// A frame of 4 GiB or more (positions in a message are `u32`).
    TooLong,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidJson => f.write_str("text frame is not a valid phoenix message"),
            Self::UnknownKind(k) => write!(f, "unknown binary frame kind {k}"),
            Self::Truncated => f.write_str("binary frame shorter than its header says"),
            Self::InvalidUtf8(field) => write!(f, "binary frame field {field:?} is not utf-8"),
            Self::UnknownEncoding(e) => write!(f, "unknown payload encoding {e}"),
            Self::InvalidJsonData => f.write_str("json data in a binary frame is not valid json"),
            Self::TooLong => f.write_str("frame of 4 GiB or more"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Encodes a message as a text frame.
pub fn encode_text(vsn: Vsn, msg: &Outgoing<'_>) -> String {
    debug_assert!(serde_json::from_str::<&RawValue>(msg.payload).is_ok(), "payload is not json");
    let mut out = String::with_capacity(msg.topic.len() + msg.event.len() + msg.payload.len() + 64);
    match vsn {
        Vsn::V2 => {
            out.push('[');
            push_opt(&mut out, msg.join_ref);
            out.push(',');
            push_opt(&mut out, msg.msg_ref);
            out.push(',');
            push_str(&mut out, msg.topic);
            out.push(',');
            push_str(&mut out, msg.event);
            out.push(',');
            out.push_str(msg.payload);
            out.push(']');
        }
        Vsn::V1 => {
            // The server requires `ref` (null is fine) and rejects a frame without it
            // silently (spec A.2), so it is always written.
            out.push_str("{\"topic\":");
            push_str(&mut out, msg.topic);
            out.push_str(",\"event\":");
            push_str(&mut out, msg.event);
            out.push_str(",\"payload\":");
            out.push_str(msg.payload);
            out.push_str(",\"ref\":");
            push_opt(&mut out, msg.msg_ref);
            if let Some(join_ref) = msg.join_ref {
                out.push_str(",\"join_ref\":");
                push_str(&mut out, join_ref);
            }
            out.push('}');
        }
    }
    out
}

fn push_opt(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str(out, s),
        None => out.push_str("null"),
    }
}

/// Appends `s` as a JSON string.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1F => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Encodes a broadcast as a kind-3 binary frame.
pub fn encode_user_broadcast(push: &UserBroadcastPush<'_>) -> Result<Vec<u8>, EncodeError> {
    let join_ref = push.join_ref.unwrap_or("").as_bytes();
    let msg_ref = push.msg_ref.unwrap_or("").as_bytes();
    let meta = push.meta.unwrap_or("").as_bytes();
    let (encoding, data) = match push.data {
        BroadcastDataRef::Json(j) => (ENCODING_JSON, j.as_bytes()),
        BroadcastDataRef::Binary(b) => (ENCODING_BINARY, b),
    };
    let fields = [
        (Field::JoinRef, join_ref),
        (Field::Ref, msg_ref),
        (Field::Topic, push.topic.as_bytes()),
        (Field::Event, push.event.as_bytes()),
        (Field::Meta, meta),
    ];
    let mut out = Vec::with_capacity(7 + fields.iter().map(|(_, f)| f.len()).sum::<usize>() + data.len());
    out.push(kind::USER_BROADCAST_PUSH);
    for (field, bytes) in fields {
        let len =
            u8::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong { field, len: bytes.len() })?;
        out.push(len);
    }
    out.push(encoding);
    for (_, bytes) in fields {
        out.extend_from_slice(bytes);
    }
    out.extend_from_slice(data);
    Ok(out)
}

/// A JSON string, borrowed from the frame unless it had escapes. (serde borrows a `Cow` field
/// only when it is the field's own type, not inside an `Option`, hence the newtype.)
#[derive(Deserialize)]
struct Str<'a>(#[serde(borrow)] Cow<'a, str>);

/// A v2 text frame: `[join_ref, ref, topic, event, payload]`.
#[derive(Deserialize)]
struct V2Frame<'a>(
    #[serde(borrow)] Option<Str<'a>>,
    #[serde(borrow)] Option<Str<'a>>,
    #[serde(borrow)] Str<'a>,
    #[serde(borrow)] Str<'a>,
    #[serde(borrow)] &'a RawValue,
);

/// A v1 text frame.
#[derive(Deserialize)]
struct V1Frame<'a> {
    #[serde(borrow)]
    topic: Str<'a>,
    #[serde(borrow)]
    event: Str<'a>,
    #[serde(borrow)]
    payload: &'a RawValue,
    #[serde(borrow, rename = "ref", default)]
    msg_ref: Option<Str<'a>>,
    #[serde(borrow, default)]
    join_ref: Option<Str<'a>>,
}

/// Where a borrowed piece of `base` lies, or the piece itself when serde had to unescape it.
fn locate(base: &str, Str(s): Str<'_>) -> Text {
    match s {
        Cow::Borrowed(b) => match span_of(base, b) {
            Some(r) => Text::span(r),
            None => Text::Owned(b.into()),
        },
        Cow::Owned(o) => Text::Owned(o.into_boxed_str()),
    }
}

/// The range of `part` inside `base`, when it is a sub-slice of it.
fn span_of(base: &str, part: &str) -> Option<core::ops::Range<usize>> {
    let start = (part.as_ptr() as usize).checked_sub(base.as_ptr() as usize)?;
    let end = start.checked_add(part.len())?;
    (end <= base.len()).then_some(start..end)
}

fn locate_opt(base: &str, s: Option<Str<'_>>) -> Text {
    s.map_or(Text::Absent, |s| locate(base, s))
}

/// A text frame's fields: join ref, ref, topic, event, and where the payload lies.
type TextFields = (Text, Text, Text, Text, core::ops::Range<usize>);

/// Decodes a text frame. The message keeps `text` and points into it.
pub fn decode_text(vsn: Vsn, text: String) -> Result<Message, DecodeError> {
    u32::try_from(text.len()).map_err(|_| DecodeError::TooLong)?;
    let fields = match vsn {
        Vsn::V2 => v2_fast(&text).map_or_else(|| v2_general(&text), Ok),
        Vsn::V1 => v1_fast(&text).map_or_else(|| v1_general(&text), Ok),
    };
    let (join_ref, msg_ref, topic, event, payload) = fields?;
    Ok(Message {
        frame: Frame::Text(text),
        join_ref,
        msg_ref,
        topic,
        event,
        body: Body::Json(range(payload)),
    })
}

/// The frames the server writes: `[join_ref,ref,"topic","event",payload]` with no whitespace
/// around the header and no escapes in its strings. The header is read by a byte scan, the
/// payload validated by serde; any other frame (`None`) takes [`v2_general`], which gives the
/// same fields for every frame this accepts (tested).
fn v2_fast(text: &str) -> Option<TextFields> {
    let b = text.as_bytes();
    let mut at = 1;
    if b.first() != Some(&b'[') {
        return None;
    }
    let join_ref = fast_field(b, &mut at, true, b",")?;
    let msg_ref = fast_field(b, &mut at, true, b",")?;
    let topic = fast_field(b, &mut at, false, b",")?;
    let event = fast_field(b, &mut at, false, b",")?;
    let end = b.len().checked_sub(1)?;
    if b[end] != b']' || end <= at {
        return None;
    }
    // No whitespace at either end, so the span is exactly the value serde would return.
    let json_ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r');
    if json_ws(b[at]) || json_ws(b[end - 1]) {
        return None;
    }
    let payload = text.get(at..end)?;
    serde_json::from_str::<serde::de::IgnoredAny>(payload).ok()?;
    Some((join_ref, msg_ref, topic, event, at..end))
}

/// The v1 frames the server writes (Jason encodes the map's keys in sorted order, with no
/// whitespace): `{"event":"..","payload":..,"ref":..,"topic":".."}`. The payload's end is found
/// by serde, which validates it; anything else (`None`) takes [`v1_general`] (tested to agree).
fn v1_fast(text: &str) -> Option<TextFields> {
    const HEAD: &[u8] = br#"{"event":"#;
    let b = text.as_bytes();
    if !b.starts_with(HEAD) {
        return None;
    }
    let mut at = HEAD.len();
    let event = fast_field(b, &mut at, false, br#","payload":"#)?;
    if b.get(at).is_none_or(|&c| matches!(c, b' ' | b'\t' | b'\n' | b'\r')) {
        return None;
    }
    let mut values = serde_json::Deserializer::from_str(text.get(at..)?).into_iter::<serde::de::IgnoredAny>();
    values.next()?.ok()?;
    let payload = at..at + values.byte_offset();
    at = payload.end;
    const REF: &[u8] = br#","ref":"#;
    if !b.get(at..)?.starts_with(REF) {
        return None;
    }
    at += REF.len();
    let msg_ref = fast_field(b, &mut at, true, br#","topic":"#)?;
    let topic = fast_field(b, &mut at, false, b"}")?;
    (at == b.len()).then_some((Text::Absent, msg_ref, topic, event, payload))
}

/// One header field and the separator after it: a plain string, or `null` when `nullable`.
/// Inlined so that each call's separator comparison is specialised to its constant.
#[inline(always)]
fn fast_field(b: &[u8], at: &mut usize, nullable: bool, separator: &'static [u8]) -> Option<Text> {
    let rest = b.get(*at..)?;
    let (text, used) = if nullable && rest.starts_with(b"null") {
        (Text::Absent, 4)
    } else if rest.first() == Some(&b'"') {
        // A string without escapes or control characters is its own value.
        let len = rest[1..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        if rest[1 + len] != b'"' {
            return None;
        }
        (Text::span(*at + 1..*at + 1 + len), len + 2)
    } else {
        return None;
    };
    if !b.get(*at + used..)?.starts_with(separator) {
        return None;
    }
    *at += used + separator.len();
    Some(text)
}

fn v2_general(text: &str) -> Result<TextFields, DecodeError> {
    let V2Frame(join_ref, msg_ref, topic, event, payload) =
        serde_json::from_str(text).map_err(|_| DecodeError::InvalidJson)?;
    let payload = span_of(text, payload.get()).ok_or(DecodeError::InvalidJson)?;
    Ok((
        locate_opt(text, join_ref),
        locate_opt(text, msg_ref),
        locate(text, topic),
        locate(text, event),
        payload,
    ))
}

fn v1_general(text: &str) -> Result<TextFields, DecodeError> {
    // serde's derived struct also takes a JSON array (fields by position); a 1.0.0 frame is an
    // object, always.
    if !text.trim_start().starts_with('{') {
        return Err(DecodeError::InvalidJson);
    }
    let f: V1Frame<'_> = serde_json::from_str(text).map_err(|_| DecodeError::InvalidJson)?;
    let payload = span_of(text, f.payload.get()).ok_or(DecodeError::InvalidJson)?;
    Ok((
        locate_opt(text, f.join_ref),
        locate_opt(text, f.msg_ref),
        locate(text, f.topic),
        locate(text, f.event),
        payload,
    ))
}

/// Reads a binary frame's length bytes, then its fields, as positions in the frame.
struct Reader<'a> {
    frame: &'a [u8],
    at: usize,
    /// The frame is known to be ASCII up to here (the header's text fields, checked at once).
    ascii_to: usize,
}

impl Reader<'_> {
    /// The length bytes; the first `text_fields` of them measure consecutive text fields,
    /// which are checked for ASCII in one pass (they nearly always are), so that each field
    /// needs a UTF-8 check of its own only when they are not.
    fn lengths<const N: usize>(&mut self, text_fields: usize) -> Result<[u8; N], DecodeError> {
        let rest = self.frame.get(self.at..).unwrap_or(&[]);
        let (head, _) = rest.split_first_chunk::<N>().ok_or(DecodeError::Truncated)?;
        self.at += N;
        let text_len: usize = head.iter().take(text_fields).map(|&l| usize::from(l)).sum();
        if self.frame.get(self.at..self.at + text_len).is_some_and(<[u8]>::is_ascii) {
            self.ascii_to = self.at + text_len;
        }
        Ok(*head)
    }

    fn bytes(&mut self, len: u8) -> Result<core::ops::Range<usize>, DecodeError> {
        let end = self.at + usize::from(len);
        if end > self.frame.len() {
            return Err(DecodeError::Truncated);
        }
        let r = self.at..end;
        self.at = end;
        Ok(r)
    }

    fn text(&mut self, len: u8, field: Field) -> Result<Text, DecodeError> {
        let r = self.bytes(len)?;
        let bytes = &self.frame[r.clone()];
        if r.end > self.ascii_to && core::str::from_utf8(bytes).is_err() {
            return Err(DecodeError::InvalidUtf8(field));
        }
        Ok(Text::span(r))
    }

    fn opt_text(&mut self, len: u8, field: Field) -> Result<Text, DecodeError> {
        if len == 0 {
            return Ok(Text::Absent);
        }
        self.text(len, field)
    }

    fn rest(&self) -> core::ops::Range<u32> {
        range(self.at..self.frame.len())
    }

    /// JSON data or metadata: UTF-8 and valid JSON.
    fn json(&self, r: core::ops::Range<usize>) -> Result<core::ops::Range<u32>, DecodeError> {
        let text = core::str::from_utf8(&self.frame[r.clone()]).map_err(|_| DecodeError::InvalidJsonData)?;
        serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| DecodeError::InvalidJsonData)?;
        Ok(range(r))
    }
}

/// Decodes a binary frame: kinds 0, 1 and 2 (Phoenix) and 4 (Supabase user broadcast). The
/// message keeps `frame` and points into it.
pub fn decode_binary(frame: Vec<u8>) -> Result<Message, DecodeError> {
    u32::try_from(frame.len()).map_err(|_| DecodeError::TooLong)?;
    let (&kind, _) = frame.split_first().ok_or(DecodeError::Truncated)?;
    let mut r = Reader { frame: &frame, at: 1, ascii_to: 0 };
    let (join_ref, msg_ref, topic, event, body) = match kind {
        kind::PUSH => {
            let [join_ref, topic, event] = r.lengths(3)?;
            let join_ref = r.opt_text(join_ref, Field::JoinRef)?;
            let topic = r.text(topic, Field::Topic)?;
            let event = r.text(event, Field::Event)?;
            (join_ref, Text::Absent, topic, event, Body::Binary(r.rest()))
        }
        kind::REPLY => {
            let [join_ref, msg_ref, topic, status] = r.lengths(4)?;
            let join_ref = r.opt_text(join_ref, Field::JoinRef)?;
            let msg_ref = r.opt_text(msg_ref, Field::Ref)?;
            let topic = r.text(topic, Field::Topic)?;
            let status = r.text(status, Field::Status)?;
            let body = Body::BinaryReply { status, response: r.rest() };
            (join_ref, msg_ref, topic, Text::Static("phx_reply"), body)
        }
        kind::BROADCAST => {
            let [topic, event] = r.lengths(2)?;
            let topic = r.text(topic, Field::Topic)?;
            let event = r.text(event, Field::Event)?;
            (Text::Absent, Text::Absent, topic, event, Body::Binary(r.rest()))
        }
        kind::USER_BROADCAST => {
            let [topic, event, meta, encoding] = r.lengths(2)?;
            let topic = r.text(topic, Field::Topic)?;
            let user_event = r.text(event, Field::Event)?;
            let meta = r.bytes(meta)?;
            let meta = if meta.is_empty() { None } else { Some(r.json(meta)?) };
            let rest = r.at..frame.len();
            let (data, json) = match encoding {
                ENCODING_BINARY => (range(rest), false),
                ENCODING_JSON => (r.json(rest)?, true),
                other => return Err(DecodeError::UnknownEncoding(other)),
            };
            let body = Body::UserBroadcast { event: user_event, meta, data, json };
            (Text::Absent, Text::Absent, topic, Text::Static("broadcast"), body)
        }
        other => return Err(DecodeError::UnknownKind(other)),
    };
    // A frame that is UTF-8 throughout (a JSON user broadcast whose lengths are all below 128,
    // the usual case) is kept as text, so its text fields and JSON data read without another
    // UTF-8 check. Others keep their bytes, and text fields are re-checked when read.
    let frame = match body {
        Body::UserBroadcast { json: true, .. } => match String::from_utf8(frame) {
            Ok(text) => Frame::Text(text),
            Err(e) => Frame::Binary(e.into_bytes()),
        },
        _ => Frame::Binary(frame),
    };
    Ok(Message { frame, join_ref, msg_ref, topic, event, body })
}

#[cfg(test)]
mod tests;
