//! What a connection reports, and the results and errors of its calls.

use core::time::Duration;

use super::close::CloseCode;
use super::error::Error;

/// Text or binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// UTF-8 text.
    Text,
    /// Bytes.
    Binary,
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Created; `start` not called yet.
    Idle,
    /// Request sent, waiting for the response.
    Handshaking,
    /// Upgraded: messages flow both ways.
    Open,
    /// A close frame was sent or received; waiting for the other half or for the server to
    /// end TCP.
    Closing,
    /// Done: close the transport once `poll_transmit` returns 0.
    Closed,
}

/// A chunk of a data message's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Data<'a> {
    /// The message's kind (continuation frames carry their message's kind).
    pub kind: MessageKind,
    /// The bytes, borrowed from the input. Text chunks are valid UTF-8 so far, but a chunk may
    /// end inside a code point that the next chunk completes.
    pub payload: &'a [u8],
    /// This chunk ends the message.
    pub fin: bool,
    /// Payload bytes of the current frame still to come after this chunk.
    pub frame_remaining: u64,
    /// The current frame is the message's last (its FIN bit is set), so `payload.len() +
    /// frame_remaining` is what is left of the message: a reassembler can allocate it once.
    pub final_frame: bool,
    /// The message is compressed (permessage-deflate): the bytes are DEFLATE data, to inflate
    /// with an [`Inflater`](super::deflate::Inflater), and text is not checked until inflated.
    pub compressed: bool,
}

/// What the server's close frame said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseFrame<'a> {
    /// The code, absent when the frame was empty (what RFC 6455 reports as 1005).
    pub code: Option<CloseCode>,
    /// The reason, valid UTF-8.
    pub reason: &'a str,
}

/// A non-101 answer to the upgrade request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rejection<'a> {
    /// The HTTP status code.
    pub status: u16,
    /// The first bytes of the body (at most 512).
    pub body: &'a [u8],
}

/// Something `handle_input` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// The handshake succeeded; `protocol` is the subprotocol the server chose.
    Open {
        /// The chosen subprotocol, one of those offered.
        protocol: Option<&'a str>,
        /// permessage-deflate's terms, when the server took the offer.
        deflate: Option<super::deflate::Params>,
    },
    /// The server refused the upgrade. The connection is closed.
    Rejected(Rejection<'a>),
    /// Payload of a text or binary message.
    Data(Data<'a>),
    /// The server pinged; the pong is queued.
    Ping(&'a [u8]),
    /// A pong arrived; `rtt` is set when it answers our latest ping.
    Pong {
        /// Time since the matching ping was sent.
        rtt: Option<Duration>,
    },
    /// The server sent a close frame; our reply is queued if we had not closed first.
    Close(CloseFrame<'a>),
    /// The connection failed; a close frame with the error's code is queued where the
    /// protocol asks for one. Reported once.
    Failed(Error),
}

/// The result of one `handle_input` call.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "unconsumed bytes must be offered again"]
pub struct Read<'a> {
    /// How many bytes of the input were used; keep the rest.
    pub consumed: usize,
    /// What those bytes made, if anything.
    pub event: Option<Event<'a>>,
}

/// The result of one `poll_transmit` call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use = "written bytes must be sent"]
pub struct Transmit {
    /// Bytes written at the start of the output buffer.
    pub len: usize,
    /// The message from `start_message` is finished with: fully written, or dropped because
    /// the connection is closing. Its payload is no longer needed.
    pub message_done: bool,
}

/// Why a send command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The connection is not open (not yet, or no longer).
    NotOpen,
    /// A message is still being written; wait for `message_done`.
    Busy,
    /// Text that is not valid UTF-8.
    InvalidUtf8,
    /// A message of 4 GiB or more.
    TooLong,
    /// A close code that may not be sent (1005, 1006, 1015, unassigned).
    InvalidCloseCode,
    /// A close reason over 123 bytes.
    ReasonTooLong,
    /// A compressed message on a connection without permessage-deflate.
    NoDeflate,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotOpen => "connection is not open",
            Self::Busy => "a message is still being written",
            Self::InvalidUtf8 => "text message is not valid utf-8",
            Self::TooLong => "message too long",
            Self::InvalidCloseCode => "close code may not be sent",
            Self::ReasonTooLong => "close reason longer than 123 bytes",
            Self::NoDeflate => "permessage-deflate was not agreed",
        })
    }
}

impl core::error::Error for SendError {}
