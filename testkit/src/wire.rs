//! The Phoenix wire formats as the Realtime server speaks them (spec A.2-A.4): vsn 1.0.0 JSON
//! objects, vsn 2.0.0 JSON arrays, the kind-3 user broadcast push a client sends and the kind-4
//! user broadcast the server fans out. Written here, not taken from the client, on purpose.

use serde_json::{Value, json};

/// The serializer a socket asked for with `vsn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vsn {
    /// `1.0.0`: JSON objects; frames to the client carry no `join_ref`.
    V1,
    /// `2.0.0`: JSON arrays, plus binary kinds 3 (in) and 4 (out).
    V2,
}

impl Vsn {
    /// The serializer for a `vsn` query value (Phoenix assumes 1.0.0 when it is missing).
    pub fn parse(vsn: Option<&str>) -> Option<Self> {
        match vsn {
            None => Some(Self::V1),
            Some(v) if v.starts_with("1.") => Some(Self::V1),
            Some(v) if v.starts_with("2.") => Some(Self::V2),
            Some(_) => None,
        }
    }
}

/// A message from a client.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    /// The join ref it names.
    pub join_ref: Option<String>,
    /// Its ref.
    pub msg_ref: Option<String>,
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Value,
    /// A kind-3 user broadcast push: its user event and payload (a binary payload stays bytes).
    pub user_broadcast: Option<UserBroadcast>,
}

/// A user broadcast: what a kind-3 push or a REST single broadcast carries.
#[derive(Clone, Debug, PartialEq)]
pub struct UserBroadcast {
    /// The user's event name.
    pub event: String,
    /// Metadata (JSON object text), if any.
    pub meta: Option<String>,
    /// The payload.
    pub data: Data,
}

/// A user broadcast's payload.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// JSON text.
    Json(String),
    /// Bytes.
    Binary(Vec<u8>),
}

/// Why a client frame was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Not the serializer's shape (Realtime logs it and drops the frame).
    Malformed,
}

fn opt_string(v: &Value) -> Result<Option<String>, WireError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        // Phoenix's JS client sends refs as strings; numbers are tolerated.
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(WireError::Malformed),
    }
}

/// A text frame from a client.
pub fn decode_text(vsn: Vsn, text: &str) -> Result<Inbound, WireError> {
    let v: Value = serde_json::from_str(text).map_err(|_| WireError::Malformed)?;
    let (join_ref, msg_ref, topic, event, payload) = match vsn {
        Vsn::V2 => {
            let a = v.as_array().ok_or(WireError::Malformed)?;
            if a.len() < 5 {
                return Err(WireError::Malformed);
            }
            (opt_string(&a[0])?, opt_string(&a[1])?, a[2].clone(), a[3].clone(), a[4].clone())
        }
        Vsn::V1 => {
            let o = v.as_object().ok_or(WireError::Malformed)?;
            // Phoenix requires `ref` to be present (null allowed).
            let msg_ref = o.get("ref").ok_or(WireError::Malformed)?;
            (
                opt_string(o.get("join_ref").unwrap_or(&Value::Null))?,
                opt_string(msg_ref)?,
                o.get("topic").cloned().unwrap_or(Value::Null),
                o.get("event").cloned().unwrap_or(Value::Null),
                o.get("payload").cloned().ok_or(WireError::Malformed)?,
            )
        }
    };
    let (Value::String(topic), Value::String(event)) = (topic, event) else {
        return Err(WireError::Malformed);
    };
    Ok(Inbound { join_ref, msg_ref, topic, event, payload, user_broadcast: None })
}

/// A binary frame from a client: only kind 3 (user broadcast push) is accepted.
pub fn decode_binary(bytes: &[u8]) -> Result<Inbound, WireError> {
    let (&kind, rest) = bytes.split_first().ok_or(WireError::Malformed)?;
    if kind != 3 || rest.len() < 6 {
        return Err(WireError::Malformed);
    }
    let lens: Vec<usize> = rest[..5].iter().map(|&b| usize::from(b)).collect();
    let encoding = rest[5];
    let mut body = &rest[6..];
    let mut field = |len: usize| -> Result<String, WireError> {
        if body.len() < len {
            return Err(WireError::Malformed);
        }
        let (f, tail) = body.split_at(len);
        body = tail;
        String::from_utf8(f.to_vec()).map_err(|_| WireError::Malformed)
    };
    let join_ref = field(lens[0])?;
    let msg_ref = field(lens[1])?;
    let topic = field(lens[2])?;
    let user_event = field(lens[3])?;
    let meta = field(lens[4])?;
    let data = match encoding {
        0 => Data::Binary(body.to_vec()),
        1 => {
            let text = std::str::from_utf8(body).map_err(|_| WireError::Malformed)?;
            serde_json::from_str::<Value>(text).map_err(|_| WireError::Malformed)?;
            Data::Json(text.to_string())
        }
        _ => return Err(WireError::Malformed),
    };
    let non_empty = |s: String| (!s.is_empty()).then_some(s);
    Ok(Inbound {
        join_ref: non_empty(join_ref),
        msg_ref: non_empty(msg_ref),
        topic,
        event: "broadcast".into(),
        payload: Value::Null,
        user_broadcast: Some(UserBroadcast { event: user_event, meta: non_empty(meta), data }),
    })
}

/// A frame to a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// A server push or reply as text in the socket's format.
pub fn encode(
    vsn: Vsn,
    join_ref: Option<&str>,
    msg_ref: Option<&str>,
    topic: &str,
    event: &str,
    payload: &Value,
) -> Frame {
    Frame::Text(match vsn {
        Vsn::V2 => json!([join_ref, msg_ref, topic, event, payload]).to_string(),
        // The v1 serializer strips `join_ref` from what it sends.
        Vsn::V1 => json!({"topic": topic, "event": event, "payload": payload, "ref": msg_ref}).to_string(),
    })
}

/// A user broadcast for a subscriber on `topic`: kind 4 for v2; for v1 a JSON broadcast, or
/// nothing for a binary payload (the server drops those for v1 subscribers).
pub fn encode_user_broadcast(vsn: Vsn, topic: &str, b: &UserBroadcast) -> Option<Frame> {
    match vsn {
        Vsn::V2 => {
            let meta = b.meta.as_deref().unwrap_or("");
            let (encoding, data) = match &b.data {
                Data::Json(t) => (1u8, t.as_bytes()),
                Data::Binary(d) => (0u8, d.as_slice()),
            };
            let mut out = Vec::with_capacity(5 + topic.len() + b.event.len() + meta.len() + data.len());
            out.push(4);
            for len in [topic.len(), b.event.len(), meta.len()] {
                out.push(u8::try_from(len).ok()?);
            }
            out.push(encoding);
            out.extend_from_slice(topic.as_bytes());
            out.extend_from_slice(b.event.as_bytes());
            out.extend_from_slice(meta.as_bytes());
            out.extend_from_slice(data);
            Some(Frame::Binary(out))
        }
        Vsn::V1 => {
            let Data::Json(text) = &b.data else { return None };
            let payload: Value = serde_json::from_str(text).ok()?;
            let mut p = json!({"type": "broadcast", "event": b.event, "payload": payload});
            if let Some(meta) = b.meta.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()) {
                p["meta"] = meta;
            }
            Some(encode(Vsn::V1, None, None, topic, "broadcast", &p))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_examples() {
        let m = decode_text(Vsn::V2, r#"[null,"5","phoenix","heartbeat",{}]"#).unwrap();
        assert_eq!(
            (m.msg_ref.as_deref(), m.topic.as_str(), m.event.as_str()),
            (Some("5"), "phoenix", "heartbeat")
        );
        assert_eq!(
            decode_text(Vsn::V1, r#"{"topic":"phoenix","event":"heartbeat","payload":{}}"#),
            Err(WireError::Malformed),
            "v1 needs ref"
        );
        // The realtime-js kind-3 push of env-notes.md.
        let bytes = b"\x03\x01\x01\x0e\x04\x00\x0167realtime:room1ping{\"hi\":1}";
        let m = decode_binary(bytes).unwrap();
        let b = m.user_broadcast.unwrap();
        assert_eq!(
            (m.join_ref.as_deref(), m.msg_ref.as_deref(), m.topic.as_str()),
            (Some("6"), Some("7"), "realtime:room1")
        );
        assert_eq!((b.event.as_str(), &b.data), ("ping", &Data::Json(r#"{"hi":1}"#.into())));
        // Its kind-4 delivery (spec A.4's worked example shape).
        let out = encode_user_broadcast(
            Vsn::V2,
            "realtime:room1",
            &UserBroadcast { event: "cursor".into(), meta: None, data: Data::Json(r#"{"x":1}"#.into()) },
        );
        let mut want = vec![4, 14, 6, 0, 1];
        want.extend_from_slice(b"realtime:room1cursor{\"x\":1}");
        assert_eq!(out, Some(Frame::Binary(want)));
        // v1 gets JSON, and nothing for bytes.
        let v1 = encode_user_broadcast(
            Vsn::V1,
            "realtime:room1",
            &UserBroadcast { event: "e".into(), meta: None, data: Data::Binary(vec![1]) },
        );
        assert_eq!(v1, None);
    }

    #[test]
    fn bad_frames_are_malformed() {
        for bad in ["[1,2]", "{", r#"[null,null,1,"e",{}]"#, r#"{"topic":"t","event":"e","ref":null}"#] {
            assert!(decode_text(Vsn::V2, bad).is_err() || decode_text(Vsn::V1, bad).is_err(), "{bad}");
        }
        assert_eq!(decode_binary(b"\x03\x05\x00\x00\x00\x00\x01ab"), Err(WireError::Malformed));
        assert_eq!(decode_binary(b"\x00"), Err(WireError::Malformed));
    }
}
