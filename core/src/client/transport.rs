//! What the client asks of the runtime's transport, and what the runtime reports back about it.

use alloc::string::String;
use core::fmt;

use crate::phoenix::target::Target;

/// A request to the runtime about the transport, from [`poll_transport`](super::Client::poll_transport).
/// Execute them in order. `Debug` hides the URL's credentials.
#[derive(Clone, PartialEq, Eq)]
pub enum TransportCommand {
    /// Open a transport to `url`. A byte transport opens TCP to `target`'s host and port (and
    /// TLS with that host as the server name when `target.tls`), then calls
    /// `handle_transport_open`; the client does the WebSocket handshake itself. A self-framing
    /// transport opens a WebSocket to `url` with [`headers`](super::Client::headers) and calls
    /// `handle_transport_open` once it is open.
    Open {
        /// The endpoint, `ws://` or `wss://`.
        url: String,
        /// `url` parsed: where to connect (the same for every `Open` of a client).
        target: Target,
        /// Names this transport in `handle_transport_open` and `handle_transport_closed`, so
        /// a late report about an older one is ignored.
        id: TransportId,
    },
    /// Close the transport. A byte transport first writes everything `poll_transmit` gives
    /// (the close frame), then closes; a self-framing transport sends a close frame with this
    /// code and reason. The client treats the connection as ended from here on; reporting
    /// `handle_transport_closed` for it afterwards is allowed and ignored.
    Close {
        /// The close code (1000, or the one given to
        /// [`disconnect_with`](super::Client::disconnect_with)).
        code: u16,
        /// The close reason.
        reason: String,
    },
    /// Drop the transport at once, without a close handshake and without flushing: the link is
    /// presumed dead (a missed heartbeat or pong).
    Abort,
}

impl fmt::Debug for TransportCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Open { url, target, id } => f
                .debug_struct("Open")
                .field("url", &super::redacted_url(url))
                .field("target", target)
                .field("id", id)
                .finish(),
            Self::Close { code, reason } => {
                f.debug_struct("Close").field("code", code).field("reason", reason).finish()
            }
            Self::Abort => f.write_str("Abort"),
        }
    }
}

/// Names one transport the client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TransportId(pub(crate) u64);

/// How the transport ended, for `handle_transport_closed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportClosed<'a> {
    /// The peer ended the stream (EOF).
    Eof,
    /// A TCP or TLS error, or the connect failed.
    Error,
    /// A self-framing transport received this close frame.
    Closed {
        /// The close code, if the frame had one.
        code: Option<u16>,
        /// The close reason.
        reason: &'a str,
    },
    /// A self-framing transport's upgrade was refused with this HTTP status.
    UpgradeRejected {
        /// The HTTP status.
        status: u16,
    },
}
