//! Errors of the client's commands.

use core::fmt;

use crate::phoenix::serializer::EncodeError;
use crate::ws::MAX_CLOSE_REASON;

/// A channel command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelError {
    /// The topic already has a channel with a different configuration (design.md: one channel
    /// per topic).
    ConfigMismatch,
    /// The id is of a channel that was removed, or of another client.
    UnknownChannel,
    /// The channel is leaving; subscribe again once it reports `Closed`.
    Leaving,
    /// More postgres changes bindings than
    /// [`MAX_BINDINGS`](crate::supabase::postgres::MAX_BINDINGS).
    TooManyBindings,
    /// Postgres changes bindings must be declared before `subscribe` (the join carries them):
    /// unsubscribe first.
    AlreadySubscribed,
    /// A plain Phoenix channel's join params are not a JSON object.
    InvalidParams,
    /// The topic is `phoenix`, which the socket's heartbeats use.
    ReservedTopic,
    /// A Supabase Realtime feature (postgres changes) asked of a plain Phoenix channel.
    NotRealtime,
}

impl fmt::Display for ChannelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ConfigMismatch => "the topic already has a channel with another configuration",
            Self::UnknownChannel => "no such channel (it was removed)",
            Self::Leaving => "the channel is leaving",
            Self::TooManyBindings => "a channel takes at most 64 postgres_changes bindings",
            Self::AlreadySubscribed => "postgres_changes bindings must be added before subscribe",
            Self::InvalidParams => "join params must be a json object",
            Self::ReservedTopic => "the topic `phoenix` is the socket's own (heartbeats)",
            Self::NotRealtime => "postgres changes need a realtime channel, not a plain phoenix one",
        })
    }
}

impl core::error::Error for ChannelError {}

/// A push was refused; nothing was sent and no outcome will be reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushError {
    /// The id is of a channel that was removed.
    UnknownChannel,
    /// The channel is closed (never subscribed, or left) or leaving.
    NotJoined,
    /// The channel's push buffer is full and its policy is to refuse.
    BufferFull,
    /// The outgoing queue is full: drain `poll_transmit` (or `poll_message`) and try again.
    Busy,
    /// The channel's client-side rate limit (policy `Refuse`) allows no push now.
    RateLimited,
    /// The payload, data or metadata is not valid JSON text.
    InvalidJson,
    /// A credential (API key or token) with a control character, for a REST request.
    InvalidHeader,
    /// A binary broadcast on the 1.0.0 serializer, which has no binary frames.
    Unsupported,
    /// The push cannot be framed (a binary frame field over 255 bytes).
    Encode(EncodeError),
    /// A Supabase Realtime push (broadcast, presence track or untrack, REST broadcast) asked
    /// of a plain Phoenix channel: push the app's own events there.
    NotRealtime,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownChannel => f.write_str("no such channel (it was removed)"),
            Self::NotJoined => f.write_str("the channel is not subscribed"),
            Self::BufferFull => f.write_str("the channel's push buffer is full"),
            Self::Busy => f.write_str("the outgoing queue is full"),
            Self::RateLimited => f.write_str("the channel's rate limit allows no push now"),
            Self::InvalidJson => f.write_str("the payload is not valid json"),
            Self::InvalidHeader => f.write_str("an api key or token with a control character"),
            Self::Unsupported => f.write_str("binary broadcasts need the 2.0.0 serializer"),
            // Which field is too long is the `source`.
            Self::Encode(_) => f.write_str("the push cannot be framed"),
            Self::NotRealtime => f.write_str("broadcast and presence pushes need a realtime channel"),
        }
    }
}

impl core::error::Error for PushError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Encode(e) => Some(e),
            _ => None,
        }
    }
}

/// A disconnect's close frame was refused; nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectError {
    /// A close code an application may not send: only 1000 and 3000-4999 are its own (what the
    /// browser WebSocket API allows too); the others belong to the protocol or are reserved.
    InvalidCode(u16),
    /// A close reason longer than [`MAX_CLOSE_REASON`] bytes of UTF-8 (a close frame holds 125
    /// bytes, the code included).
    ReasonTooLong {
        /// The reason's length in bytes.
        len: usize,
    },
}

impl fmt::Display for DisconnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCode(code) => {
                write!(f, "close code {code} is not an application's (1000 or 3000-4999)")
            }
            Self::ReasonTooLong { len } => {
                write!(f, "a close reason of {len} bytes is over the {MAX_CLOSE_REASON} a close frame holds")
            }
        }
    }
}

impl core::error::Error for DisconnectError {}
