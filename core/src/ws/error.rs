//! Why a WebSocket connection failed.

use core::fmt;

use super::close::CloseCode;

/// A fatal error of a WebSocket connection. Reported once; the connection accepts nothing
/// more afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The server broke a framing rule (closed with 1002).
    Protocol(ProtocolError),
    /// A text message or close reason was not valid UTF-8 (closed with 1007).
    InvalidUtf8,
    /// A frame declared a payload longer than `max_frame_len` (closed with 1009).
    FrameTooLong {
        /// The declared payload length.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// A message grew beyond `max_message_len` (closed with 1009).
    MessageTooLong {
        /// The length the message would have reached.
        len: u64,
        /// The configured limit.
        max: u64,
    },
    /// The opening handshake failed (no close frame: the connection never opened).
    Handshake(HandshakeError),
    /// The handshake response did not arrive within `handshake_timeout`.
    HandshakeTimeout,
    /// The close handshake did not finish within `close_timeout`.
    CloseTimeout,
    /// The transport ended without a close frame (what RFC 6455 reports as 1006).
    ConnectionReset,
}

impl Error {
    /// The close code this error sends to the server, if it sends one.
    pub const fn close_code(&self) -> Option<CloseCode> {
        match self {
            Self::Protocol(_) => Some(CloseCode::PROTOCOL_ERROR),
            Self::InvalidUtf8 => Some(CloseCode::INVALID_PAYLOAD),
            Self::FrameTooLong { .. } | Self::MessageTooLong { .. } => Some(CloseCode::TOO_BIG),
            Self::Handshake(_) | Self::HandshakeTimeout | Self::CloseTimeout | Self::ConnectionReset => None,
        }
    }

    /// The short reason sent with the close frame.
    pub(crate) const fn close_reason(&self) -> &'static str {
        match self {
            Self::Protocol(_) => "protocol error",
            Self::InvalidUtf8 => "invalid utf-8",
            Self::FrameTooLong { .. } => "frame too long",
            Self::MessageTooLong { .. } => "message too long",
            _ => "",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The rule broken and the handshake's fault are the `source`.
            Self::Protocol(_) => f.write_str("the server broke the websocket protocol"),
            Self::InvalidUtf8 => f.write_str("invalid utf-8 in a text message or close reason"),
            Self::FrameTooLong { len, max } => write!(f, "frame of {len} bytes exceeds the limit of {max}"),
            Self::MessageTooLong { len, max } => {
                write!(f, "message of {len} bytes exceeds the limit of {max}")
            }
            Self::Handshake(_) => f.write_str("the websocket handshake failed"),
            Self::HandshakeTimeout => f.write_str("websocket handshake timed out"),
            Self::CloseTimeout => f.write_str("websocket close handshake timed out"),
            Self::ConnectionReset => f.write_str("connection ended without a close frame"),
        }
    }
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Protocol(e) => Some(e),
            Self::Handshake(e) => Some(e),
            _ => None,
        }
    }
}

/// A framing rule of RFC 6455 section 5 that the server broke; one variant per rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// A server frame had the mask bit set (section 5.1).
    MaskedFrame,
    /// RSV1-3 set without a negotiated extension (section 5.2).
    ReservedBits,
    /// Opcode 3-7 or 11-15 (section 5.2).
    ReservedOpcode(u8),
    /// A control frame without FIN (section 5.5).
    FragmentedControlFrame,
    /// A control frame with more than 125 bytes of payload (section 5.5).
    ControlFrameTooLong,
    /// A continuation frame with no message to continue (section 5.4).
    UnexpectedContinuation,
    /// A new text or binary frame inside a fragmented message (section 5.4).
    ExpectedContinuation,
    /// A length encoded in more bytes than needed (section 5.2: "the minimal number of bytes").
    NonMinimalLength,
    /// A 64-bit length with its most significant bit set (section 5.2).
    LengthOverflow,
    /// A close frame with a 1-byte payload (section 5.5.1).
    CloseFrameTooShort,
    /// A close frame with a code that may not appear on the wire (section 7.4).
    InvalidCloseCode(u16),
    /// RSV1 on a control frame or a continuation (RFC 7692 section 6.1).
    MisplacedRsv1,
    /// A compressed message that is not valid DEFLATE data (RFC 7692 section 7.2.2).
    BadCompressedData,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaskedFrame => f.write_str("masked frame from the server"),
            Self::ReservedBits => f.write_str("reserved bits set without an extension"),
            Self::ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            Self::FragmentedControlFrame => f.write_str("fragmented control frame"),
            Self::ControlFrameTooLong => f.write_str("control frame longer than 125 bytes"),
            Self::UnexpectedContinuation => f.write_str("continuation frame outside a message"),
            Self::ExpectedContinuation => f.write_str("new data frame inside a fragmented message"),
            Self::NonMinimalLength => f.write_str("payload length not minimally encoded"),
            Self::LengthOverflow => f.write_str("64-bit payload length with the top bit set"),
            Self::CloseFrameTooShort => f.write_str("close frame with a 1-byte payload"),
            Self::InvalidCloseCode(c) => write!(f, "close code {c} is not allowed on the wire"),
            Self::MisplacedRsv1 => f.write_str("rsv1 set on a control frame or a continuation"),
            Self::BadCompressedData => f.write_str("compressed message is not valid deflate data"),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Why the server's handshake response was not a valid WebSocket upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The response header did not end within `max_handshake_response_len` bytes.
    ResponseTooLarge,
    /// The response was not parseable HTTP/1.1.
    MalformedResponse,
    /// The response had more header fields than the parser accepts.
    TooManyHeaders,
    /// A 101 without `Upgrade: websocket`.
    MissingUpgrade,
    /// A 101 without `Connection: upgrade`.
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Accept` missing or not derived from our key.
    BadAccept,
    /// The server chose an extension we did not offer.
    UnexpectedExtension,
    /// The server chose a subprotocol we did not offer.
    UnexpectedProtocol,
    /// The server's permessage-deflate answer breaks the offer.
    Deflate(super::deflate::NegotiationError),
    /// The transport ended before the response was complete.
    Incomplete,
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Deflate(_) => "the server's permessage-deflate answer breaks the offer",
            Self::ResponseTooLarge => "response header too large",
            Self::MalformedResponse => "malformed http response",
            Self::TooManyHeaders => "too many header fields",
            Self::MissingUpgrade => "missing `upgrade: websocket`",
            Self::MissingConnectionUpgrade => "missing `connection: upgrade`",
            Self::BadAccept => "sec-websocket-accept does not match the key",
            Self::UnexpectedExtension => "server chose an extension that was not offered",
            Self::UnexpectedProtocol => "server chose a subprotocol that was not offered",
            Self::Incomplete => "connection ended during the handshake",
        })
    }
}

impl core::error::Error for HandshakeError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            Self::Deflate(e) => Some(e),
            _ => None,
        }
    }
}
