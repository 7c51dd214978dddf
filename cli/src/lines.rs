//! The JSON lines `listen` and `presence` print: one object per event, each with a `"type"` and
//! the `"channel"`. The format is stable: fields are only ever added.

use std::collections::BTreeMap;

use realtime_core::supabase::postgres::{Change, Row};
use realtime_tokio::{
    Broadcast, ChannelErrorReason, ChannelStatus, ClientEvent, Next, Payload, Presence, PresenceEvent,
};
use serde_json::{Map, Value, json};

/// A presence list as JSON: each presence's payload with its `presence_ref`.
pub fn presences(list: &[Presence]) -> Value {
    Value::Array(
        list.iter()
            .map(|p| {
                let mut v: Value = serde_json::from_str(&p.payload).unwrap_or_else(|_| json!({}));
                if let Value::Object(m) = &mut v {
                    m.insert("presence_ref".into(), Value::String(p.presence_ref.clone()));
                }
                v
            })
            .collect(),
    )
}

/// A presence state as JSON: key -> presences.
pub fn state(state: &BTreeMap<String, Vec<Presence>>) -> Value {
    Value::Object(state.iter().map(|(k, v)| (k.clone(), presences(v))).collect::<Map<_, _>>())
}

/// A status line.
pub fn status(channel: &str, status: &ChannelStatus) -> Value {
    let (name, reason) = match status {
        ChannelStatus::Subscribed => ("SUBSCRIBED", None),
        ChannelStatus::TimedOut => ("TIMED_OUT", None),
        ChannelStatus::Closed => ("CLOSED", None),
        ChannelStatus::ChannelError(r) => ("CHANNEL_ERROR", Some(reason(r))),
    };
    let mut line = json!({"type": "status", "channel": channel, "status": name});
    if let Some(r) = reason {
        line["reason"] = Value::String(r);
    }
    line
}

fn reason(r: &ChannelErrorReason) -> String {
    match r {
        ChannelErrorReason::JoinRejected(s)
        | ChannelErrorReason::System(s)
        | ChannelErrorReason::PostgresChanges(s) => s.text.clone(),
        ChannelErrorReason::ServerError(payload) => format!("server error: {payload}"),
        ChannelErrorReason::Disconnected => "disconnected".into(),
        ChannelErrorReason::BindingMismatch => {
            "mismatch between server and client bindings for postgres changes".into()
        }
        ChannelErrorReason::PostgresNotReady => "postgres changes not ready in time".into(),
        other => other.to_string(),
    }
}

/// A broadcast line.
pub fn broadcast(channel: &str, b: &Broadcast) -> Value {
    let mut line = json!({"type": "broadcast", "channel": channel, "event": b.event});
    match &b.payload {
        Payload::Json(text) => line["payload"] = serde_json::from_str(text).unwrap_or(Value::Null),
        Payload::Binary(bytes) => line["payload_base64"] = Value::String(base64(bytes)),
    }
    if let Some(meta) = b.meta.as_deref().and_then(|m| serde_json::from_str::<Value>(m).ok()) {
        line["meta"] = meta;
    }
    line
}

/// A presence line (join, leave, or sync with the whole state `now`).
pub fn presence(channel: &str, e: &PresenceEvent, now: &BTreeMap<String, Vec<Presence>>) -> Value {
    match e {
        PresenceEvent::Join { key, joined, .. } => {
            json!({"type": "presence", "channel": channel, "event": "join", "key": key, "presences": presences(joined)})
        }
        PresenceEvent::Leave { key, left, .. } => {
            json!({"type": "presence", "channel": channel, "event": "leave", "key": key, "presences": presences(left)})
        }
        PresenceEvent::Sync => {
            json!({"type": "presence", "channel": channel, "event": "sync", "state": state(now)})
        }
    }
}

fn row(r: Option<&Row>) -> Value {
    r.and_then(|r| serde_json::from_str(r.as_json()).ok()).unwrap_or_else(|| json!({}))
}

/// A postgres change line for binding `binding` (its position among `--postgres` flags).
pub fn postgres(channel: &str, binding: usize, c: &Change) -> Value {
    json!({
        "type": "postgres_changes",
        "channel": channel,
        "binding": binding,
        "event_type": c.kind.as_str(),
        "schema": c.schema,
        "table": c.table,
        "commit_timestamp": c.commit_timestamp,
        "new": row(c.new.as_ref()),
        "old": row(c.old.as_ref()),
        "errors": c.errors,
    })
}

/// A connection line: the socket's state changed.
pub fn connection(channel: &str, event: &ClientEvent) -> Option<Value> {
    let line = |state: &str| json!({"type": "connection", "channel": channel, "state": state});
    Some(match event {
        ClientEvent::Connecting => line("connecting"),
        ClientEvent::Connected => line("open"),
        ClientEvent::Disconnected { reason, next: Next::Reconnect { after, attempt } } => {
            let mut l = line("waiting_to_reconnect");
            l["reason"] = Value::String(chain(reason));
            l["attempt"] = json!(attempt);
            l["retry_in_ms"] = json!(u64::try_from(after.as_millis()).unwrap_or(u64::MAX));
            l
        }
        ClientEvent::Disconnected { reason, .. } => {
            let mut l = line("disconnected");
            l["reason"] = Value::String(chain(reason));
            l
        }
        ClientEvent::Reconnected { gap } => {
            let mut l = line("reconnected");
            l["gap_ms"] = json!(u64::try_from(gap.as_millis()).unwrap_or(u64::MAX));
            l
        }
        _ => return None,
    })
}

/// A stream fell behind: `missed` items of it were dropped.
pub fn lagged(channel: &str, stream: &str, missed: u64) -> Value {
    json!({"type": "lagged", "channel": channel, "stream": stream, "missed": missed})
}

/// An error and its sources, for people: "could not connect: Connection refused (os error 111)".
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

/// A `system` line: a server message that is not a broadcast, presence or postgres change
/// (`system` messages such as "Subscribed to PostgreSQL"), with its event and payload.
pub fn system(channel: &str, event: &str, payload: &str) -> Value {
    let payload: Value = serde_json::from_str(payload).unwrap_or(Value::Null);
    json!({"type": "system", "channel": channel, "event": event, "payload": payload})
}

/// An error line: why `listen` stops after it was subscribed (the same message goes to stderr).
pub fn error(channel: &str, message: &str) -> Value {
    json!({"type": "error", "channel": channel, "message": message})
}

/// Standard base64 (bytes in a JSON line).
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }
}
