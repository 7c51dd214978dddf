//! Errors, typed up to the app, with `source()` chains and `Display` written for people.

use alloc::boxed::Box;
use alloc::string::String;
use core::error::Error as StdError;
use core::fmt;

use realtime_core::client::{
    ChannelError, ChannelStatus, ConfigError, ConnectionEnd, NotSentReason, PushError,
};
use realtime_core::phoenix::proxy::ProxyError;
use realtime_core::supabase::rest::RestError;

use crate::lock::Shared;

/// An IO error from the runtime (a TCP, TLS or platform error), kept whole as the source.
#[derive(Clone)]
pub struct IoError(Shared<dyn StdError + Send + Sync + 'static>);

impl IoError {
    /// Wraps the runtime's error.
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Self {
        Self(Shared::new(error))
    }

    /// An error with only a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::new(Message(message.into()))
    }

    /// The runtime's error, to downcast (to `std::io::Error`, a rustls error, ...).
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

#[derive(Debug)]
struct Message(String);

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl StdError for Message {}

impl fmt::Debug for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for IoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl StdError for IoError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for IoError {
    fn from(e: std::io::Error) -> Self {
        Self::new(e)
    }
}

/// Why a connection attempt or a connection ended.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// TCP could not be opened (refused, unreachable, the name did not resolve).
    Connect(IoError),
    /// The HTTP proxy could not be reached or refused the tunnel.
    Proxy(ProxyFailure),
    /// The TLS handshake failed (an untrusted certificate, a name mismatch, ...).
    Tls(IoError),
    /// Reading or writing an open connection failed.
    Io(IoError),
    /// The core's reason: the server refused the upgrade (status and body), closed the
    /// socket, a heartbeat or pong was missed, the server broke the protocol, ...
    Ended(ConnectionEnd),
}

/// How the HTTP CONNECT tunnel failed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ProxyFailure {
    /// The proxy could not be reached, or the stream to it failed.
    Io(IoError),
    /// The proxy answered, but not with a tunnel.
    Refused(ProxyError),
    /// The proxy sent bytes past its answer before the client spoke.
    TrailingBytes,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(_) => f.write_str("could not connect"),
            Self::Proxy(_) => f.write_str("the proxy tunnel failed"),
            Self::Tls(_) => f.write_str("the TLS handshake failed"),
            Self::Io(_) => f.write_str("the connection failed"),
            Self::Ended(end) => fmt::Display::fmt(end, f),
        }
    }
}

impl StdError for ConnectionError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Connect(e) | Self::Tls(e) | Self::Io(e) => Some(e),
            Self::Proxy(e) => Some(e),
            // The core's `Display` of the end already says its cause on one line.
            Self::Ended(_) => None,
        }
    }
}

impl fmt::Display for ProxyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "proxy: {e}"),
            Self::Refused(e) => write!(f, "proxy: {e}"),
            Self::TrailingBytes => f.write_str("the proxy sent bytes past its answer"),
        }
    }
}

impl StdError for ProxyFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            Self::Refused(e) => Some(e),
            Self::TrailingBytes => None,
        }
    }
}

/// A stream fell behind: this many items were dropped because the app did not read them in
/// time (the stream's capacity is `Config::stream_capacity`). Nothing is buffered without
/// bound; the items after this one are new. A presence stream follows it with a `Sync`:
/// read the whole state then with `Channel::presence_state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lagged {
    /// How many items were dropped.
    pub missed: u64,
}

impl fmt::Display for Lagged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the stream fell behind: {} items were dropped", self.missed)
    }
}

impl StdError for Lagged {}

/// What went wrong with a call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot be used.
    Config(ConfigError),
    /// No runtime to run on (a tokio client made outside a tokio runtime, ...).
    NoRuntime(&'static str),
    /// The platform gave no entropy to seed the client.
    Entropy(IoError),
    /// TLS could not be set up (the roots could not be loaded).
    Tls(IoError),
    /// The client was shut down (or its runtime stopped).
    Closed,
    /// A channel command was refused.
    Channel(ChannelError),
    /// A push was refused (nothing was sent).
    Push(PushError),
    /// The subscription did not succeed: its first status.
    Subscribe(ChannelStatus),
    /// The server answered a push with an error (its response as raw JSON).
    Rejected(String),
    /// No reply in time, or the connection died after the push was written.
    TimedOut,
    /// The push was never written.
    NotSent(NotSentReason),
    /// A payload could not be serialized or deserialized.
    Json(serde_json::Error),
    /// A REST request failed.
    Rest(RestError),
    /// A REST request's connection failed.
    RestConnection(ConnectionError),
    /// The close code or reason cannot be sent (`disconnect_with`).
    CloseCode(realtime_core::client::DisconnectError),
    /// A stream fell behind (see [`Lagged`]); from the typed streams.
    Lagged(Lagged),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(_) => f.write_str("the configuration cannot be used"),
            Self::NoRuntime(what) => write!(f, "no runtime: {what}"),
            Self::Entropy(_) => f.write_str("the platform gave no randomness"),
            Self::Tls(_) => f.write_str("TLS could not be set up"),
            Self::Closed => f.write_str("the client is shut down"),
            Self::Channel(e) => write!(f, "channel: {e}"),
            Self::Push(e) => write!(f, "push: {e}"),
            Self::Subscribe(s) => write!(f, "the subscription failed: {s}"),
            Self::Rejected(r) => write!(f, "the server refused the push: {r}"),
            Self::TimedOut => f.write_str("no reply in time"),
            Self::NotSent(why) => write!(f, "the push was never sent: {why}"),
            Self::Json(_) => f.write_str("the payload is not the expected JSON"),
            Self::Rest(_) => f.write_str("the REST request failed"),
            Self::RestConnection(_) => f.write_str("the REST request could not be sent"),
            Self::CloseCode(_) => f.write_str("that close cannot be sent"),
            Self::Lagged(l) => fmt::Display::fmt(l, f),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Entropy(e) | Self::Tls(e) => Some(e),
            Self::Json(e) => Some(e),
            Self::Rest(e) => Some(e),
            Self::RestConnection(e) => Some(e),
            Self::CloseCode(e) => Some(e),
            _ => None,
        }
    }
}

impl From<Lagged> for Error {
    fn from(l: Lagged) -> Self {
        Self::Lagged(l)
    }
}

/// A boxed error, for `From` conversions in apps.
pub type BoxError = Box<dyn StdError + Send + Sync>;
