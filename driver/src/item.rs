//! What the streams carry: broadcasts, the client's connection events.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use realtime_core::client::{HeartbeatStatus, Next};
use serde::de::DeserializeOwned;

use crate::error::{ConnectionError, Error};

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

/// What happens to the client's connection, from
/// [`RealtimeClient::events`](crate::RealtimeClient::events): the socket-level view that
/// realtime-js's heartbeat callback and the Dart client's status streams give.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientEvent {
    /// A connection attempt started (TCP, TLS, then the upgrade).
    Connecting,
    /// The connection is open (every time).
    Connected,
    /// The connection opened after the previous one was lost: events of `gap` may have been
    /// missed, so refetch what matters.
    Reconnected {
        /// Time from the loss to the new connection's open.
        gap: Duration,
    },
    /// The connection ended (or an attempt failed).
    Disconnected {
        /// Why, typed.
        reason: ConnectionError,
        /// What the client does next: reconnect after a delay, or stop.
        next: Next,
    },
    /// A heartbeat went out, was answered (with its latency) or was missed.
    Heartbeat(HeartbeatStatus),
}

impl fmt::Display for ClientEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connecting => f.write_str("connecting"),
            Self::Connected => f.write_str("connected"),
            Self::Reconnected { gap } => write!(f, "reconnected after {} ms", gap.as_millis()),
            Self::Disconnected { reason, next } => write!(f, "disconnected: {reason}; {next}"),
            Self::Heartbeat(h) => write!(f, "heartbeat {h}"),
        }
    }
}
