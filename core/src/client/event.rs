//! What the client reports: events, statuses, outcomes, and how a connection ended.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use super::channel::ChannelId;
use crate::phoenix::ending::StopReason;
use crate::phoenix::presence::{PresenceError, PresenceEvent};
use crate::phoenix::serializer::Message;
use crate::supabase::postgres::{BindingSet, Change, ChangeError};
use crate::supabase::reason::{ErrorClass, ServerReason, classify_close, classify_upgrade_status};
use crate::ws;

/// Where the socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected and not trying: before `connect`, after `disconnect`, or stopped.
    Disconnected,
    /// The transport or the WebSocket handshake is under way.
    Connecting,
    /// Connected: channels join, pushes flow, heartbeats run.
    Open,
    /// A manual disconnect is closing the connection.
    Closing,
    /// The connection ended; the next attempt starts at this instant.
    WaitingToReconnect {
        /// When the next attempt starts.
        at: crate::Instant,
        /// Its number, counting from 1.
        attempt: u32,
    },
}

/// Why a connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionEnd {
    /// The app disconnected (or the socket had no channels for the configured time).
    Manual,
    /// The server answered the upgrade with a status other than 101.
    UpgradeRejected {
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The server closed the WebSocket.
    ServerClosed {
        /// The close code (1005 when the frame had none).
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// No heartbeat reply within the deadline.
    HeartbeatTimeout,
    /// No WebSocket pong within the ping interval.
    PingTimeout,
    /// The transport and the upgrade did not complete within the connect timeout.
    ConnectTimeout,
    /// The WebSocket layer failed (a protocol violation by the server, a bad upgrade response,
    /// a handshake or close timeout).
    WebSocket(ws::Error),
    /// The transport ended without a close frame, or failed.
    TransportLost,
}

impl ConnectionEnd {
    /// The class of this end (`None` for a manual disconnect, which is no failure).
    pub fn class(&self) -> Option<ErrorClass> {
        Some(match self {
            Self::Manual => return None,
            Self::UpgradeRejected { status, .. } => classify_upgrade_status(*status),
            Self::ServerClosed { code, reason } => classify_close(*code, reason),
            Self::HeartbeatTimeout | Self::PingTimeout | Self::ConnectTimeout => ErrorClass::Timeout,
            Self::WebSocket(_) | Self::TransportLost => ErrorClass::Transport,
        })
    }
}

/// What the socket does after a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// It tries again after `after`.
    Reconnect {
        /// The delay.
        after: Duration,
        /// The attempt's number, counting from 1.
        attempt: u32,
    },
    /// It stopped until the app connects again.
    Stop(StopReason),
}

/// A heartbeat's fate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatStatus {
    /// A heartbeat went out.
    Sent,
    /// The server answered `ok` after `latency`.
    Ok {
        /// Time from send to reply.
        latency: Duration,
    },
    /// The server answered with an error after `latency`.
    Error {
        /// Time from send to reply.
        latency: Duration,
    },
    /// No reply within the deadline: the transport is dropped and the socket reconnects.
    TimedOut,
}

/// A channel's subscription status; reported every time it happens, so one subscription can
/// run `Subscribed`, `ChannelError`, `Subscribed`, ..., `Closed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelStatus {
    /// The join succeeded (again after each rejoin).
    Subscribed,
    /// The join got no reply in time; the channel retries with backoff.
    TimedOut,
    /// The channel is closed (left, or closed by the server). It stays closed until the app
    /// subscribes again.
    Closed,
    /// The join was refused or the channel failed; it retries with backoff.
    ChannelError(ChannelErrorReason),
}

/// What [`subscribe`](super::Client::subscribe) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// The channel is joined and, in the postgres ready mode, its changes are live: the
    /// subscription stands, and no status follows for this call.
    Subscribed,
    /// The outcome is the channel's next [`Event::Status`]: `Subscribed`, or why not
    /// (`ChannelError`, `TimedOut`, `Closed`).
    Pending,
}

/// Why a channel errored.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelErrorReason {
    /// The server refused the join: its reason, classified. What follows depends on the class
    /// ([`ErrorClass::action`](crate::supabase::reason::ErrorClass::action)): a rejoin on the
    /// backoff schedule, one after the longest step, or none (the channel is closed).
    JoinRejected(ServerReason),
    /// The server stopped the channel with a `system` error (a `phx_close` follows), for
    /// example when its periodic token re-check failed.
    System(ServerReason),
    /// The server sent `phx_error` (the channel process crashed); its payload as raw JSON.
    ServerError(String),
    /// The socket's connection ended; the channel rejoins when it is open again.
    Disconnected,
    /// The join reply's `postgres_changes` did not pair with the channel's bindings (another
    /// order, event, schema, table or filter): the channel left and is closed.
    BindingMismatch,
    /// The server could not subscribe the channel's postgres changes (a `system` error of the
    /// `postgres_changes` extension). The channel stays joined; the server retries unless the
    /// bindings are malformed.
    PostgresChanges(ServerReason),
    /// In the ready mode, the server did not say the postgres changes are live in time. The
    /// channel stays joined and reports `Subscribed` if it still does.
    PostgresNotReady,
}

/// How a leave the app asked for ended ([`Event::Left`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaveOutcome {
    /// The server answered the leave (or closed the channel): it is gone there too.
    Left,
    /// The leave went out but no answer came: its timeout passed, or the connection ended
    /// first. The channel is closed here; the server drops it with the connection or on its
    /// own.
    TimedOut,
    /// Nothing went out: the channel was not joined (closed, errored, or its join not yet
    /// sent) or the socket was not open. The channel is closed here.
    Offline,
}

/// How a push ended. Every push ends exactly once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// The server replied `ok`; the response as raw JSON text.
    Ok(String),
    /// The server replied with an error status; the response as raw JSON text.
    Error(String),
    /// No reply in time, or the connection died after the push was written: the outcome is
    /// unknown, and the push is never re-sent.
    TimedOut,
    /// The push was never written.
    NotSent(NotSentReason),
}

/// Why a push was never written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotSentReason {
    /// It was the oldest in a full buffer whose policy is to drop the oldest.
    Dropped,
    /// The channel closed or was removed while the push waited.
    ChannelClosed,
}

/// Identifies a push until its outcome is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PushId(pub(crate) u64);

impl PushId {
    /// The number, unique for the client's life.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// Something that happened, from [`poll_event`](super::Client::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A connection opened (every time).
    Connected,
    /// A connection opened after the previous one was lost (not after a manual disconnect):
    /// events of `gap` may have been missed, so apps can refetch.
    Reconnected {
        /// Time from the loss to the new connection's open.
        gap: Duration,
    },
    /// A connection ended.
    Disconnected {
        /// Why.
        end: ConnectionEnd,
        /// What the socket does next.
        next: Next,
    },
    /// A heartbeat was sent, answered or missed.
    Heartbeat(HeartbeatStatus),
    /// A WebSocket pong answered the keepalive ping after `rtt`.
    Pong {
        /// Round-trip time.
        rtt: Duration,
    },
    /// A channel's status changed.
    Status {
        /// The channel.
        channel: ChannelId,
        /// Its status.
        status: ChannelStatus,
    },
    /// A leave the app asked for ended, right before the channel's `Closed` status (which is
    /// not reported when the app subscribed again meanwhile). One per handle id that asked:
    /// `unsubscribe`, the last `remove_channel`, or `remove_all_channels` for each channel. A
    /// call on a channel already leaving adds no second one for the same id: the leave under
    /// way answers it.
    Left {
        /// The channel, as the handle that asked names it.
        channel: ChannelId,
        /// How it ended.
        outcome: LeaveOutcome,
    },
    /// A message for a channel that is not a reply or lifecycle event (a broadcast, presence,
    /// postgres change or system message).
    Message {
        /// The channel.
        channel: ChannelId,
        /// The message.
        message: Message,
    },
    /// A push ended.
    Push {
        /// The channel.
        channel: ChannelId,
        /// The push.
        push: PushId,
        /// How it ended.
        outcome: PushOutcome,
    },
    /// A frame from the server could not be decoded; it was skipped.
    Undecodable(crate::phoenix::serializer::DecodeError),
    /// The channel's presence changed: a `presence_state` or `presence_diff` applied (with the
    /// diffs that waited for it). One event per server message, however many keys it names,
    /// so the event queue's bound holds.
    Presence {
        /// The channel.
        channel: ChannelId,
        /// What changed, in order: joins, then leaves, then `Sync`.
        events: Vec<PresenceEvent>,
    },
    /// A presence message could not be used (a malformed payload, or too many diffs waiting
    /// for the state); it was skipped.
    PresenceError {
        /// The channel.
        channel: ChannelId,
        /// Why.
        error: PresenceError,
    },
    /// A row change for some of the channel's postgres changes bindings.
    PostgresChange {
        /// The channel.
        channel: ChannelId,
        /// The bindings it is for (positions among the channel's bindings).
        bindings: BindingSet,
        /// The change.
        change: Box<Change>,
    },
    /// A postgres change that could not be read; it was skipped.
    PostgresChangeError {
        /// The channel.
        channel: ChannelId,
        /// Why.
        error: ChangeError,
    },
    /// With a token source configured: call `set_access_token` (joins wait for it, up to the
    /// configured time).
    TokenNeeded {
        /// Why.
        reason: TokenReason,
    },
}

/// Why the client asks for a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenReason {
    /// There is none.
    Missing,
    /// The current one expires within the refresh margin (by the wall clock).
    Expiring,
    /// The server refused it (a token-class join error or `system` error).
    Rejected,
}

// ---------------------------------------------------------------- Display, for people

/// A duration as people read it: `850 µs`, `12 ms`, `2.5 s`.
struct Human(Duration);

impl fmt::Display for Human {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0.as_micros();
        if us < 1_000 {
            write!(f, "{us} µs")
        } else if us < 1_000_000 {
            write!(f, "{} ms", us / 1_000)
        } else {
            let tenths = us / 100_000;
            match tenths % 10 {
                0 => write!(f, "{} s", tenths / 10),
                d => write!(f, "{}.{d} s", tenths / 10),
            }
        }
    }
}

/// The server's words in a JSON response or body: its `reason`, `message` or `error` string
/// (the fields the Realtime server and its gateways write), or `None`.
fn server_words(json: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Words {
        #[serde(default)]
        reason: Option<String>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        error: Option<String>,
    }
    let w: Words = serde_json::from_str(json).ok()?;
    w.reason.or(w.message).or(w.error).filter(|s| !s.is_empty())
}

/// Writes `: <the server's words>` when the text has some: the words of a JSON response, the
/// text itself when it is not JSON. A JSON value without words (`{}`) adds nothing.
fn write_words(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    let text = text.trim();
    if text.is_empty() {
        return Ok(());
    }
    match server_words(text) {
        Some(words) => write!(f, ": {words}"),
        None if serde_json::from_str::<&serde_json::value::RawValue>(text).is_ok() => Ok(()),
        None => write!(f, ": {text}"),
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disconnected => f.write_str("disconnected"),
            Self::Connecting => f.write_str("connecting"),
            Self::Open => f.write_str("open"),
            Self::Closing => f.write_str("closing"),
            Self::WaitingToReconnect { attempt, .. } => write!(f, "waiting to reconnect (attempt {attempt})"),
        }
    }
}

impl fmt::Display for ConnectionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Manual => f.write_str("disconnected by the app"),
            Self::UpgradeRejected { status, body } => {
                write!(f, "the server refused the websocket upgrade with http {status}")?;
                write_words(f, body)
            }
            Self::ServerClosed { code, reason } => {
                write!(f, "the server closed the connection with code {code}")?;
                if !reason.is_empty() {
                    write!(f, ": {reason}")?;
                }
                Ok(())
            }
            Self::HeartbeatTimeout => f.write_str("no heartbeat reply in time"),
            Self::PingTimeout => f.write_str("no websocket pong in time"),
            Self::ConnectTimeout => f.write_str("the connection did not open in time"),
            Self::WebSocket(e) => {
                // The whole chain on one line: this is what an app shows for a lost connection.
                write!(f, "{e}")?;
                let mut source = core::error::Error::source(e);
                while let Some(s) = source {
                    write!(f, ": {s}")?;
                    source = s.source();
                }
                Ok(())
            }
            Self::TransportLost => f.write_str("the connection was lost"),
        }
    }
}

impl fmt::Display for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reconnect { after, attempt } => {
                write!(f, "reconnecting in {} (attempt {attempt})", Human(*after))
            }
            Self::Stop(reason) => write!(f, "stopped: {reason}"),
        }
    }
}

impl fmt::Display for HeartbeatStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sent => f.write_str("heartbeat sent"),
            Self::Ok { latency } => write!(f, "heartbeat answered in {}", Human(*latency)),
            Self::Error { latency } => write!(f, "heartbeat answered with an error in {}", Human(*latency)),
            Self::TimedOut => f.write_str("no heartbeat reply in time"),
        }
    }
}

impl fmt::Display for ChannelStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Subscribed => f.write_str("subscribed"),
            Self::TimedOut => f.write_str("the join got no reply in time"),
            Self::Closed => f.write_str("closed"),
            Self::ChannelError(reason) => write!(f, "channel error: {reason}"),
        }
    }
}

impl fmt::Display for ChannelErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::JoinRejected(r) => write!(f, "the server refused the join: {r}"),
            Self::System(r) => write!(f, "the server stopped the channel: {r}"),
            Self::ServerError(payload) => {
                f.write_str("the channel failed on the server")?;
                write_words(f, payload)
            }
            Self::Disconnected => f.write_str("the connection was lost"),
            Self::BindingMismatch => {
                f.write_str("the server's postgres_changes bindings do not match the channel's")
            }
            Self::PostgresChanges(r) => write!(f, "postgres changes could not start: {r}"),
            Self::PostgresNotReady => f.write_str("postgres changes did not start in time"),
        }
    }
}

impl fmt::Display for PushOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok(_) => f.write_str("ok"),
            Self::Error(response) => {
                f.write_str("the server replied with an error")?;
                write_words(f, response)
            }
            Self::TimedOut => f.write_str("no reply in time (it may or may not have arrived)"),
            Self::NotSent(reason) => write!(f, "not sent: {reason}"),
        }
    }
}

impl fmt::Display for NotSentReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Dropped => "dropped as the oldest in a full push buffer",
            Self::ChannelClosed => "the channel closed",
        })
    }
}

impl fmt::Display for TokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no access token",
            Self::Expiring => "the access token expires soon",
            Self::Rejected => "the server refused the access token",
        })
    }
}

impl fmt::Display for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subscribed => "subscribed",
            Self::Pending => "subscribing",
        })
    }
}

impl fmt::Display for LeaveOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Left => "left",
            Self::TimedOut => "the leave got no answer in time; closed here",
            Self::Offline => "nothing to leave on the server; closed here",
        })
    }
}
