//! A transport that frames by itself (a browser WebSocket, an existing tungstenite
//! connection): whole messages in and out, for `ClientConfig::transport =
//! TransportKind::Messages`. The core then skips its own handshake and framing.

use alloc::string::String;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_core::ws::Message;

use crate::error::IoError;

/// What a message socket received.
#[derive(Debug)]
pub enum SocketEvent {
    /// A whole message.
    Message(Message),
    /// The server's close frame (the socket is done).
    Closed {
        /// The close code, if the frame had one.
        code: Option<u16>,
        /// The close reason.
        reason: String,
    },
}

/// A self-framing WebSocket, poll-style.
pub trait MessageSocket: Unpin {
    /// The next message or the close; an error when the socket failed.
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<SocketEvent, IoError>>;
    /// Sends `msg` (taking it) once the socket can take it.
    fn poll_send(&mut self, cx: &mut Context<'_>, msg: &mut Option<Message>) -> Poll<Result<(), IoError>>;
    /// Sends a close frame with this code and reason and ends the socket.
    fn poll_close(&mut self, cx: &mut Context<'_>, code: u16, reason: &str) -> Poll<Result<(), IoError>>;
}

/// Why a message socket did not open.
#[derive(Debug, Clone)]
pub enum SocketOpenError {
    /// The server refused the upgrade with this HTTP status.
    Rejected {
        /// The status.
        status: u16,
    },
    /// The socket failed to open.
    Io(IoError),
}

impl fmt::Display for SocketOpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected { status } => write!(f, "the server refused the upgrade with HTTP {status}"),
            Self::Io(e) => write!(f, "the socket did not open: {e}"),
        }
    }
}

impl core::error::Error for SocketOpenError {}

/// The socket type of a runtime that has only byte streams: it cannot be made.
#[derive(Debug)]
pub enum NoSocket {}

impl MessageSocket for NoSocket {
    fn poll_recv(&mut self, _: &mut Context<'_>) -> Poll<Result<SocketEvent, IoError>> {
        match *self {}
    }
    fn poll_send(&mut self, _: &mut Context<'_>, _: &mut Option<Message>) -> Poll<Result<(), IoError>> {
        match *self {}
    }
    fn poll_close(&mut self, _: &mut Context<'_>, _: u16, _: &str) -> Poll<Result<(), IoError>> {
        match *self {}
    }
}

/// Opening a [`NoSocket`]: fails at once (the runtime has byte streams only).
#[derive(Debug, Default)]
pub struct NoSocketOpen;

impl Future for NoSocketOpen {
    type Output = Result<NoSocket, SocketOpenError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Ready(Err(SocketOpenError::Io(IoError::msg(
            "this runtime has no self-framing sockets: use TransportKind::Bytes",
        ))))
    }
}
