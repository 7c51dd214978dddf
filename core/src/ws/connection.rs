//! The client side of one WebSocket connection: handshake, receive rules, send path, pings and
//! the close handshake, with no allocator and no IO.
//!
//! # Driving it
//!
//! ```text
//! start(now, request, out)            -> request bytes to write
//! loop {
//!     read = handle_input(now, bytes)   -> consumed count + at most one event
//!     keep bytes[read.consumed..] and offer them again (with new bytes appended) next time
//!     poll_transmit(out, payload) until it returns 0 -> bytes to write
//!     poll_timeout() -> when to call handle_timeout(now)
//! }
//! ```
//!
//! `handle_input` returns at most one event per call, because data events borrow the input.
//! When it returns no event and leaves bytes unconsumed, it is waiting: for more bytes (a
//! partial handshake response or control frame) or for `poll_transmit` to send the pong it
//! holds before it reads the next ping (backpressure). Drain `poll_transmit`, then call again
//! with the rest.
//!
//! The send side owns no payload: `start_message` checks a message and `poll_transmit` takes
//! the same payload slice on every call until it reports `message_done`, copying and masking
//! it into the caller's buffer in one pass. A frame may continue across calls, so a 1-byte
//! buffer works (slowly) and a 64 KiB one works fast.

use core::time::Duration;

use super::close::CloseCode;
use super::error::{Error, HandshakeError, ProtocolError};
use super::frame::{
    Decoded, FrameDecoder, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Opcode, encode_header, header_len,
};
use super::handshake::{self, Request, RequestError, Response};
use super::mask::{apply_mask, copy_masked};
use super::utf8::Utf8Validator;
use crate::rng::Rng;
use crate::time::Instant;

/// Default limit on a received frame's payload (16 MiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 16 << 20;
/// Default limit on a received message (16 MiB).
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 16 << 20;
/// Default limit on the handshake response header (8 KiB).
pub const DEFAULT_MAX_HANDSHAKE_RESPONSE_LEN: u32 = 8 << 10;
/// Default payload size of the frames a large outgoing message is cut into (64 KiB).
pub const DEFAULT_SEND_FRAME_LEN: u32 = 64 << 10;
/// Default time allowed for the server's handshake response.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for the close handshake and the server's end of TCP.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest close reason that fits a control frame with its 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Limits and timeouts of a connection. Lengths are `u32`: a realtime client has no use for
/// single messages of 4 GiB, and 32-bit microcontrollers count in `u32` anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload of one received frame; a larger frame closes with 1009.
    pub max_frame_len: u32,
    /// Largest received message (all fragments); a larger one closes with 1009.
    pub max_message_len: u32,
    /// Largest handshake response header.
    pub max_handshake_response_len: u32,
    /// Outgoing messages longer than this are sent as several frames of this payload size.
    pub send_frame_len: u32,
    /// Time allowed from `start` to a complete handshake response.
    pub handshake_timeout: Duration,
    /// Time allowed for the server's close reply and its end of TCP after a close.
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            max_handshake_response_len: DEFAULT_MAX_HANDSHAKE_RESPONSE_LEN,
            send_frame_len: DEFAULT_SEND_FRAME_LEN,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
        }
    }
}

/// A configuration value the connection cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `send_frame_len` is 0.
    ZeroSendFrameLen,
    /// `max_handshake_response_len` is below 64 bytes, too short for any real response.
    HandshakeLimitTooSmall,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ZeroSendFrameLen => "send_frame_len must be at least 1",
            Self::HandshakeLimitTooSmall => "max_handshake_response_len must be at least 64",
        })
    }
}

impl core::error::Error for ConfigError {}

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
        })
    }
}

impl core::error::Error for SendError {}

/// The control frame held in the control buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctrl {
    None,
    Pong,
    Close,
}

/// The frame `poll_transmit` is in the middle of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writing {
    Nothing,
    Data,
    Ping,
    Buffered,
}

/// The kind of the received frame in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RxFrame {
    Data,
    Control(Opcode),
}

/// Payload code of a close frame with no code at all (1005 never appears on the wire).
const EMPTY_CLOSE: u16 = 1005;

/// Reasons of the closes the connection sends by itself, by index (a waiting close keeps only
/// the index, not a copy).
const STATIC_REASONS: [&str; 5] =
    ["", "protocol error", "invalid utf-8", "frame too long", "message too long"];

/// One client WebSocket connection: under 256 bytes, no heap, no IO.
#[derive(Debug)]
pub struct Connection {
    rng: Rng,
    state: State,
    /// One instant, read by state: before `start`, the handshake timeout as an offset from
    /// zero; the deadline while Handshaking or Closing; when the outstanding ping was sent
    /// while Open. (Sharing it keeps the connection under 256 bytes.)
    timer: Instant,
    /// Subprotocols offered, to check the server's choice.
    protocols: &'static [&'static str],

    // Limits.
    max_frame_len: u32,
    max_message_len: u32,
    send_frame_len: u32,
    close_timeout_ms: u32,

    // Receive side.
    decoder: FrameDecoder,
    rx_frame: RxFrame,
    rx_fin: bool,
    /// Kind of the message being received, if one is open.
    rx_msg: Option<MessageKind>,
    rx_msg_len: u32,
    utf8: Utf8Validator,

    // Send side: the data message and the frame in progress.
    tx_msg: Option<MessageKind>,
    tx_len: u32,
    /// Payload offset of the current frame's first byte.
    tx_offset: u32,
    tx_frame_done: u32,
    /// Masking key of the frame in progress (data or control).
    tx_key: [u8; 4],
    writing: Writing,
    /// Header bytes (data frame) or frame bytes (control frame) written so far.
    written: u8,

    // Send side: control frames.
    ctrl: Ctrl,
    ctrl_len: u8,
    /// Payload of the pending pong or close; also the handshake nonce before the upgrade.
    ctrl_buf: [u8; MAX_CONTROL_PAYLOAD],
    /// A close waiting for the control buffer (code, 0 when none).
    close_after: u16,
    /// Index into `STATIC_REASONS` of the waiting close's reason, or `STORED_REASON | len`.
    close_after_reason: u8,
    ping_seq: u32,
    /// `PING_PENDING`, `PING_OUTSTANDING`, `CLOSE_SENT`, `CLOSE_RECEIVED`, `FAILED`.
    flags: u8,
}

const PING_PENDING: u8 = 1;
const PING_OUTSTANDING: u8 = 2;
const CLOSE_SENT: u8 = 4;
const CLOSE_RECEIVED: u8 = 8;
const FAILED: u8 = 16;
/// `close_after_reason` flag: the reason is stored in the control buffer after the pong's
/// payload; the low 7 bits are its length.
const STORED_REASON: u8 = 0x80;
/// Where the handshake response limit sits in the control buffer until the upgrade (the
/// nonce takes bytes 0..16).
const RESPONSE_LIMIT_AT: usize = 16;

fn duration_ms(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn opcode_of(kind: MessageKind) -> Opcode {
    match kind {
        MessageKind::Text => Opcode::Text,
        MessageKind::Binary => Opcode::Binary,
    }
}

impl Connection {
    /// A connection that has not started its handshake. `rng_seed` keys the masking and
    /// handshake-key generator: take it from the OS or a hardware RNG (a fixed seed is for
    /// tests only).
    pub fn new(config: Config, rng_seed: [u8; 32]) -> Result<Self, ConfigError> {
        if config.send_frame_len == 0 {
            return Err(ConfigError::ZeroSendFrameLen);
        }
        if config.max_handshake_response_len < 64 {
            return Err(ConfigError::HandshakeLimitTooSmall);
        }
        Ok(Self {
            rng: Rng::from_seed(rng_seed),
            state: State::Idle,
            timer: Instant::ZERO + config.handshake_timeout,
            protocols: &[],
            max_frame_len: config.max_frame_len,
            max_message_len: config.max_message_len,
            send_frame_len: config.send_frame_len,
            close_timeout_ms: duration_ms(config.close_timeout),
            decoder: FrameDecoder::new(),
            rx_frame: RxFrame::Data,
            rx_fin: false,
            rx_msg: None,
            rx_msg_len: 0,
            utf8: Utf8Validator::new(),
            tx_msg: None,
            tx_len: 0,
            tx_offset: 0,
            tx_frame_done: 0,
            tx_key: [0; 4],
            writing: Writing::Nothing,
            written: 0,
            ctrl: Ctrl::None,
            ctrl_len: 0,
            ctrl_buf: [0; MAX_CONTROL_PAYLOAD],
            close_after: 0,
            close_after_reason: 0,
            ping_seq: 0,
            flags: 0,
        })
        .map(|mut c: Self| {
            let limit = config.max_handshake_response_len.to_le_bytes();
            c.ctrl_buf[RESPONSE_LIMIT_AT..RESPONSE_LIMIT_AT + 4].copy_from_slice(&limit);
            c
        })
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }

    /// Payload length of the data frame in progress, or of the next one.
    fn tx_frame_len(&self) -> u32 {
        (self.tx_len - self.tx_offset).min(self.send_frame_len)
    }

    /// A connection already in the open state, for a transport that did the upgrade elsewhere,
    /// and for tests and benchmarks.
    pub fn new_open(config: Config, rng_seed: [u8; 32]) -> Result<Self, ConfigError> {
        let mut c = Self::new(config, rng_seed)?;
        c.state = State::Open;
        Ok(c)
    }

    /// Where the connection is.
    pub const fn state(&self) -> State {
        self.state
    }

    /// True once the connection is finished: close the transport when `poll_transmit`
    /// returns 0.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// True while a message from `start_message` is being written.
    pub const fn is_sending(&self) -> bool {
        self.tx_msg.is_some()
    }

    /// Encodes the opening handshake request into `out` and starts waiting for the response.
    /// Returns the request's length; send those bytes before anything from `poll_transmit`.
    pub fn start(
        &mut self,
        now: Instant,
        request: &Request<'_>,
        out: &mut [u8],
    ) -> Result<usize, RequestError> {
        if self.state != State::Idle {
            return Err(RequestError::AlreadyStarted);
        }
        let mut nonce = [0u8; 16];
        self.rng.fill_bytes(&mut nonce);
        let n = request.encode(&handshake::key_for_nonce(&nonce), out)?;
        // The control buffer is unused until the upgrade: it keeps the nonce meanwhile.
        self.ctrl_buf[..16].copy_from_slice(&nonce);
        self.protocols = request.protocols;
        self.timer = now + (self.timer - Instant::ZERO);
        self.state = State::Handshaking;
        Ok(n)
    }

    /// Feeds bytes from the transport; see the module doc for the loop around it.
    pub fn handle_input<'a>(&mut self, now: Instant, input: &'a [u8]) -> Read<'a> {
        match self.state {
            State::Handshaking => self.read_handshake(now, input),
            State::Open | State::Closing if !self.has(CLOSE_RECEIVED) && !self.has(FAILED) => {
                self.read_frames(now, input)
            }
            // After the server's close frame, or after a failure, nothing more is accepted.
            _ => Read { consumed: input.len(), event: None },
        }
    }

    /// The transport ended (EOF, reset, TLS error). Returns the error this means, if the
    /// connection did not expect it.
    pub fn handle_transport_closed(&mut self, _now: Instant) -> Option<Error> {
        let expected =
            self.has(FAILED) || self.has(CLOSE_RECEIVED) || matches!(self.state, State::Closed | State::Idle);
        let was_handshaking = self.state == State::Handshaking;
        self.state = State::Closed;
        if expected {
            return None;
        }
        self.set(FAILED, true);
        Some(if was_handshaking {
            Error::Handshake(HandshakeError::Incomplete)
        } else {
            Error::ConnectionReset
        })
    }

    /// The next deadline: the handshake's, or the close handshake's.
    pub fn poll_timeout(&self) -> Option<Instant> {
        matches!(self.state, State::Handshaking | State::Closing).then_some(self.timer)
    }

    /// Fires the deadline if `now` has reached it; early calls do nothing. Returns the error a
    /// timeout means, if any.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Error> {
        if now < self.timer {
            return None;
        }
        match self.state {
            State::Handshaking => {
                self.state = State::Closed;
                self.set(FAILED, true);
                Some(Error::HandshakeTimeout)
            }
            State::Closing => {
                // Both closes exchanged and the server kept TCP open: our turn to end it, with
                // no error. Otherwise the close handshake itself did not finish.
                let clean = self.has(CLOSE_SENT) && self.has(CLOSE_RECEIVED);
                self.state = State::Closed;
                (!clean && !self.has(FAILED)).then_some(Error::CloseTimeout)
            }
            _ => None,
        }
    }

    /// Checks a message and makes it the one `poll_transmit` writes. Pass the same `payload`
    /// to every `poll_transmit` until it reports `message_done`.
    pub fn start_message(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open || self.has(FAILED) {
            return Err(SendError::NotOpen);
        }
        if self.tx_msg.is_some() {
            return Err(SendError::Busy);
        }
        let len = u32::try_from(payload.len()).map_err(|_| SendError::TooLong)?;
        if kind == MessageKind::Text && simdutf8::basic::from_utf8(payload).is_err() {
            return Err(SendError::InvalidUtf8);
        }
        self.tx_msg = Some(kind);
        self.tx_len = len;
        self.tx_offset = 0;
        Ok(())
    }

    /// Queues a ping whose pong reports the round-trip time, measured from this call. A ping
    /// sent before the previous one was answered replaces it as the one measured. `Busy` while
    /// the previous ping is half written.
    pub fn send_ping(&mut self, now: Instant) -> Result<(), SendError> {
        if self.state != State::Open || self.has(FAILED) {
            return Err(SendError::NotOpen);
        }
        if self.writing == Writing::Ping {
            // The previous ping is half written from its sequence number: try again once
            // `poll_transmit` has finished it.
            return Err(SendError::Busy);
        }
        self.ping_seq = self.ping_seq.wrapping_add(1);
        self.set(PING_PENDING, true);
        self.set(PING_OUTSTANDING, true);
        self.timer = now;
        Ok(())
    }

    /// Starts the close handshake. The message being written, if any, is finished up to its
    /// current frame and then dropped. A pong still owed is sent before the close; if its
    /// payload and the reason do not fit the 125-byte control buffer together, the reason is
    /// left out (the code is still sent).
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() > MAX_CLOSE_REASON {
            return Err(SendError::ReasonTooLong);
        }
        if self.state != State::Open || self.has(FAILED) {
            return Err(SendError::NotOpen);
        }
        self.queue_close(code.0, reason);
        self.enter_closing(now);
        Ok(())
    }

    /// Writes pending bytes into `out`: control frames at frame boundaries, and the current
    /// message, whose whole `payload` the caller passes on every call. Returns `len` 0 when
    /// nothing is pending (or `out` is empty).
    #[inline]
    pub fn poll_transmit(&mut self, out: &mut [u8], payload: &[u8]) -> Transmit {
        // Inlined into the caller: the common case costs no call into the general path below.
        match self.transmit_whole(out, payload) {
            Some(t) => t,
            None => self.transmit_general(out, payload),
        }
    }

    #[inline(never)]
    fn transmit_general(&mut self, out: &mut [u8], payload: &[u8]) -> Transmit {
        if self.state == State::Closed && self.writing == Writing::Data {
            // Timed out or the transport ended: the rest of the frame has nowhere to go.
            self.writing = Writing::Nothing;
        }
        let mut t = Transmit::default();
        loop {
            if self.writing == Writing::Nothing && !self.next_frame(&mut t.message_done) {
                break;
            }
            if t.len == out.len() {
                break;
            }
            let room = &mut out[t.len..];
            t.len += match self.writing {
                Writing::Data => self.write_data(room, payload, &mut t.message_done),
                Writing::Ping | Writing::Buffered => self.write_control(room),
                Writing::Nothing => 0,
            };
        }
        t
    }

    /// The common case in one step: nothing else pending, a message that fits one frame and
    /// the output. Returns `None` to take the general path.
    #[inline]
    fn transmit_whole(&mut self, out: &mut [u8], payload: &[u8]) -> Option<Transmit> {
        let kind = self.tx_msg?;
        let quiet = self.writing == Writing::Nothing
            && self.ctrl == Ctrl::None
            && self.flags & (PING_PENDING | CLOSE_SENT | FAILED) == 0
            && self.close_after == 0
            && self.state == State::Open
            && self.tx_offset == 0;
        let len = self.tx_len;
        if !quiet || len > self.send_frame_len || payload.len() != len as usize {
            return None;
        }
        let header = header_len(u64::from(len));
        if out.len() < header + payload.len() {
            return None;
        }
        let head = out.first_chunk_mut::<MAX_HEADER_LEN>()?;
        let key = self.rng.next_u32().to_ne_bytes();
        encode_header(head, true, opcode_of(kind), u64::from(len), key);
        copy_masked(&mut out[header..header + payload.len()], payload, key, 0);
        self.tx_msg = None;
        Some(Transmit { len: header + payload.len(), message_done: true })
    }

    /// Picks the next frame to write at a frame boundary; false when there is none.
    fn next_frame(&mut self, message_done: &mut bool) -> bool {
        if self.close_after != 0 && self.ctrl == Ctrl::None {
            // The pong it waited for is out: the close takes the buffer.
            let code = core::mem::take(&mut self.close_after);
            let r = self.close_after_reason;
            if r & STORED_REASON != 0 {
                let (at, len) = (usize::from(self.ctrl_len), usize::from(r & !STORED_REASON));
                self.ctrl_buf.copy_within(at..at + len, 2);
                self.ctrl_buf[..2].copy_from_slice(&code.to_be_bytes());
                self.ctrl_len = (2 + len) as u8;
                self.ctrl = Ctrl::Close;
            } else {
                self.fill_close(code, STATIC_REASONS.get(usize::from(r)).copied().unwrap_or(""));
            }
        }
        let sending_allowed = matches!(self.state, State::Open | State::Closing) && !self.has(CLOSE_SENT);
        if !sending_allowed {
            if self.tx_msg.take().is_some() {
                *message_done = true;
            }
            return false;
        }
        if self.ctrl != Ctrl::None {
            return self.begin(Writing::Buffered);
        }
        if self.has(PING_PENDING) {
            return self.begin(Writing::Ping);
        }
        if self.has(FAILED) || self.state == State::Closing {
            // No data goes out once a close is on its way.
            if self.tx_msg.take().is_some() {
                *message_done = true;
            }
            return false;
        }
        if self.tx_msg.is_none() {
            return false;
        }
        self.tx_frame_done = 0;
        self.begin(Writing::Data)
    }

    /// Starts writing a frame with a fresh masking key. Keys are drawn only for frames that
    /// go out, so the byte stream does not depend on how often the caller polls.
    fn begin(&mut self, frame: Writing) -> bool {
        self.written = 0;
        self.tx_key = self.rng.next_u32().to_ne_bytes();
        self.writing = frame;
        true
    }

    /// Writes as much of the current data frame as fits; returns the bytes written.
    fn write_data(&mut self, room: &mut [u8], payload: &[u8], message_done: &mut bool) -> usize {
        let Some(kind) = self.tx_msg else {
            self.writing = Writing::Nothing;
            return 0;
        };
        let frame_len = self.tx_frame_len();
        let fin = self.tx_offset + frame_len == self.tx_len;
        let mut n = 0;
        if self.tx_frame_done == 0 {
            let header_len = header_len(u64::from(frame_len));
            let from = usize::from(self.written);
            if from < header_len {
                let opcode = if self.tx_offset == 0 { opcode_of(kind) } else { Opcode::Continuation };
                let direct = if from == 0 { room.first_chunk_mut::<MAX_HEADER_LEN>() } else { None };
                if let Some(out) = direct {
                    // The common case: the whole header straight into the output (a fixed-size
                    // write; payload bytes overwrite what lies past the header).
                    encode_header(out, fin, opcode, u64::from(frame_len), self.tx_key);
                    n = header_len;
                } else {
                    let mut header = [0u8; MAX_HEADER_LEN];
                    encode_header(&mut header, fin, opcode, u64::from(frame_len), self.tx_key);
                    n = (header_len - from).min(room.len());
                    room[..n].copy_from_slice(&header[from..from + n]);
                }
                self.written += n as u8;
                if usize::from(self.written) < header_len {
                    return n;
                }
            }
        }
        let start = (self.tx_offset + self.tx_frame_done) as usize;
        let take = ((frame_len - self.tx_frame_done) as usize).min(room.len() - n);
        let dst = &mut room[n..n + take];
        match payload.get(start..start + take) {
            Some(src) => copy_masked(dst, src, self.tx_key, self.tx_frame_done as usize),
            None => {
                // A caller that passes another payload than it started with breaks the
                // contract; the frame stays well-formed (masked zeros) rather than panicking.
                dst.fill(0);
                apply_mask(dst, self.tx_key, self.tx_frame_done as usize);
            }
        }
        self.tx_frame_done += take as u32;
        n += take;
        if self.tx_frame_done == frame_len {
            self.tx_offset += frame_len;
            self.tx_frame_done = 0;
            self.writing = Writing::Nothing;
            if fin {
                self.tx_msg = None;
                *message_done = true;
            }
        }
        n
    }

    /// Writes as much of the current control frame as fits; returns the bytes written.
    fn write_control(&mut self, room: &mut [u8]) -> usize {
        let mut frame = [0u8; 6 + MAX_CONTROL_PAYLOAD];
        let ping = self.ping_seq.to_be_bytes();
        let (opcode, payload): (Opcode, &[u8]) = match (self.writing, self.ctrl) {
            (Writing::Ping, _) => (Opcode::Ping, &ping),
            (_, Ctrl::Pong) => (Opcode::Pong, &self.ctrl_buf[..usize::from(self.ctrl_len)]),
            _ => (Opcode::Close, &self.ctrl_buf[..usize::from(self.ctrl_len)]),
        };
        frame[0] = 0x80 | opcode.as_u8();
        frame[1] = 0x80 | payload.len() as u8;
        frame[2..6].copy_from_slice(&self.tx_key);
        let total = 6 + payload.len();
        copy_masked(&mut frame[6..total], payload, self.tx_key, 0);
        let from = usize::from(self.written);
        let n = (total - from).min(room.len());
        room[..n].copy_from_slice(&frame[from..from + n]);
        self.written += n as u8;
        if usize::from(self.written) == total {
            self.writing = Writing::Nothing;
            match opcode {
                Opcode::Ping => self.set(PING_PENDING, false),
                Opcode::Pong => self.ctrl = Ctrl::None,
                _ => {
                    self.ctrl = Ctrl::None;
                    self.set(CLOSE_SENT, true);
                    if self.has(FAILED) {
                        // Failing the connection ends it once the close frame is out
                        // (RFC 6455 section 7.1.7).
                        self.state = State::Closed;
                    }
                }
            }
        }
        n
    }

    /// Puts a close frame in the control buffer. A pong still owed goes out first (RFC 6455
    /// section 5.5.2 asks for it unless a close was received): the close then waits, its
    /// reason kept after the pong's payload when it fits, else left out (the code is sent).
    fn queue_close(&mut self, code: u16, reason: &str) {
        let half_written = self.writing == Writing::Buffered && self.written > 0;
        if self.ctrl == Ctrl::Close && half_written {
            // A close is already going out; it stands.
            return;
        }
        // Only a failure reaches here with a close already queued (`close` and the echo are
        // guarded): its code replaces the queued one, which has not started.
        if self.ctrl == Ctrl::Pong {
            self.close_after = code;
            let at = usize::from(self.ctrl_len);
            self.close_after_reason = match STATIC_REASONS.iter().position(|r| *r == reason) {
                Some(i) => i as u8,
                None if at + reason.len() <= MAX_CONTROL_PAYLOAD => {
                    self.ctrl_buf[at..at + reason.len()].copy_from_slice(reason.as_bytes());
                    STORED_REASON | reason.len() as u8
                }
                None => 0,
            };
        } else {
            self.close_after = 0;
            self.fill_close(code, reason);
        }
        // A pending ping is moot once closing.
        let keep = self.has(PING_PENDING) && self.writing == Writing::Ping;
        self.set(PING_PENDING, keep);
    }

    fn fill_close(&mut self, code: u16, reason: &str) {
        self.ctrl = Ctrl::Close;
        if code == EMPTY_CLOSE {
            self.ctrl_len = 0;
            return;
        }
        self.ctrl_buf[..2].copy_from_slice(&code.to_be_bytes());
        let r = &reason.as_bytes()[..reason.len().min(MAX_CLOSE_REASON)];
        self.ctrl_buf[2..2 + r.len()].copy_from_slice(r);
        self.ctrl_len = (2 + r.len()) as u8;
    }

    fn enter_closing(&mut self, now: Instant) {
        // The timer becomes the close deadline; a ping in flight is no longer measured.
        self.set(PING_OUTSTANDING, false);
        self.state = State::Closing;
        self.timer = now + Duration::from_millis(u64::from(self.close_timeout_ms));
    }

    /// Fails the connection: a close frame with the error's code is queued (unless one was
    /// already sent), and the error is reported once.
    fn fail(&mut self, now: Instant, error: Error) -> Event<'static> {
        self.set(FAILED, true);
        self.rx_msg = None;
        match error.close_code() {
            Some(code) if !self.has(CLOSE_SENT) && matches!(self.state, State::Open | State::Closing) => {
                self.queue_close(code.0, error.close_reason());
                self.enter_closing(now);
            }
            _ => self.state = State::Closed,
        }
        Event::Failed(error)
    }

    fn read_handshake<'a>(&mut self, now: Instant, input: &'a [u8]) -> Read<'a> {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&self.ctrl_buf[..16]);
        let mut limit = [0u8; 4];
        limit.copy_from_slice(&self.ctrl_buf[RESPONSE_LIMIT_AT..RESPONSE_LIMIT_AT + 4]);
        let max = usize::try_from(u32::from_le_bytes(limit)).unwrap_or(usize::MAX);
        match handshake::parse_response(input, &nonce, self.protocols, max) {
            Ok(Response::Partial) => Read { consumed: 0, event: None },
            Ok(Response::Accepted { consumed, protocol }) => {
                self.state = State::Open;
                Read { consumed, event: Some(Event::Open { protocol }) }
            }
            Ok(Response::Rejected { consumed, status, body }) => {
                self.state = State::Closed;
                Read { consumed, event: Some(Event::Rejected(Rejection { status, body })) }
            }
            Err(e) => {
                let event = self.fail(now, Error::Handshake(e));
                Read { consumed: input.len(), event: Some(event) }
            }
        }
    }

    /// A whole unfragmented text or binary frame with a 2- or 4-byte header at the start of
    /// `input`, within the limits and (text) valid: what most Realtime messages are. Anything
    /// else, including every error, takes the general path.
    #[inline]
    fn whole_frame<'a>(&self, input: &'a [u8]) -> Option<Read<'a>> {
        if !self.decoder.at_boundary() || self.rx_msg.is_some() {
            return None;
        }
        let (&[b0, b1], rest) = input.split_first_chunk::<2>()?;
        let kind = match b0 {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let (len, header) = match b1 {
            0..=125 => (usize::from(b1), 2),
            126 => {
                let len = usize::from(u16::from_be_bytes(*rest.first_chunk::<2>()?));
                if len < 126 {
                    return None;
                }
                (len, 4)
            }
            _ => return None,
        };
        let limit = self.max_frame_len.min(self.max_message_len);
        if len as u64 > u64::from(limit) {
            return None;
        }
        let payload = input.get(header..header + len)?;
        if kind == MessageKind::Text && Utf8Validator::validate_whole(payload).is_err() {
            return None;
        }
        let data = Data { kind, payload, fin: true, frame_remaining: 0, final_frame: true };
        Some(Read { consumed: header + len, event: Some(Event::Data(data)) })
    }

    fn read_frames<'a>(&mut self, now: Instant, input: &'a [u8]) -> Read<'a> {
        if let Some(read) = self.whole_frame(input) {
            return read;
        }
        let mut used = 0;
        loop {
            if let RxFrame::Control(op) = self.rx_frame
                && !self.decoder.at_boundary()
            {
                // Control payloads are handled whole (at most 125 bytes): the caller keeps
                // a split one until the rest arrives.
                let need = self.decoder.remaining() as usize;
                if input.len() - used < need {
                    return Read { consumed: used, event: None };
                }
                // Every ping gets its pong (conformance suites send ten in one write), and the
                // control buffer holds one: a ping waits while a pong is pending, a close while
                // one is half written. Reading stops until `poll_transmit` has sent it
                // (backpressure, as when the transport is backed up).
                let half_written = self.writing == Writing::Buffered && self.written > 0;
                let wait = match op {
                    Opcode::Ping => self.ctrl == Ctrl::Pong,
                    Opcode::Close => half_written,
                    _ => false,
                };
                if wait {
                    return Read { consumed: used, event: None };
                }
            }
            let (n, decoded) = match self.decoder.decode(&input[used..]) {
                Ok(d) => d,
                Err(e) => {
                    return Read { consumed: input.len(), event: Some(self.fail(now, Error::Protocol(e))) };
                }
            };
            used += n;
            match decoded {
                Decoded::Incomplete => return Read { consumed: used, event: None },
                Decoded::Header(h) => {
                    if let Err(e) = self.on_header(h.fin, h.opcode, h.len) {
                        return Read { consumed: input.len(), event: Some(self.fail(now, e)) };
                    }
                }
                Decoded::Payload { data, end } => {
                    let event = match self.rx_frame {
                        RxFrame::Data => self.on_data(data, end),
                        RxFrame::Control(op) => self.on_control(now, op, data),
                    };
                    match event {
                        Ok(None) => {}
                        Ok(Some(event)) => return Read { consumed: used, event: Some(event) },
                        Err(e) => return Read { consumed: input.len(), event: Some(self.fail(now, e)) },
                    }
                }
            }
        }
    }

    /// Applies the message rules of section 5.4 and the limits to a new frame header.
    fn on_header(&mut self, fin: bool, opcode: Opcode, len: u64) -> Result<(), Error> {
        if opcode.is_control() {
            self.rx_frame = RxFrame::Control(opcode);
            return Ok(());
        }
        self.rx_frame = RxFrame::Data;
        self.rx_fin = fin;
        if len > u64::from(self.max_frame_len) {
            return Err(Error::FrameTooLong { len, max: u64::from(self.max_frame_len) });
        }
        match (opcode, self.rx_msg) {
            (Opcode::Continuation, None) => {
                return Err(Error::Protocol(ProtocolError::UnexpectedContinuation));
            }
            (Opcode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(Error::Protocol(ProtocolError::ExpectedContinuation)),
            (op, None) => {
                self.rx_msg = Some(if op == Opcode::Text { MessageKind::Text } else { MessageKind::Binary });
                self.rx_msg_len = 0;
            }
        }
        let total = u64::from(self.rx_msg_len) + len;
        if total > u64::from(self.max_message_len) {
            return Err(Error::MessageTooLong { len: total, max: u64::from(self.max_message_len) });
        }
        // Invariant: total <= max_message_len, a u32.
        self.rx_msg_len = total as u32;
        Ok(())
    }

    fn on_data<'a>(&mut self, data: &'a [u8], end: bool) -> Result<Option<Event<'a>>, Error> {
        // Invariant: on_header opened a message before any data payload.
        let kind = self.rx_msg.unwrap_or(MessageKind::Binary);
        let fin = end && self.rx_fin;
        if kind == MessageKind::Text {
            self.utf8.feed(data).map_err(|_| Error::InvalidUtf8)?;
            if fin {
                self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
            }
        }
        if fin {
            self.rx_msg = None;
        } else if data.is_empty() {
            return Ok(None);
        }
        let frame_remaining = self.decoder.remaining();
        Ok(Some(Event::Data(Data { kind, payload: data, fin, frame_remaining, final_frame: self.rx_fin })))
    }

    fn on_control<'a>(
        &mut self,
        now: Instant,
        op: Opcode,
        payload: &'a [u8],
    ) -> Result<Option<Event<'a>>, Error> {
        self.rx_frame = RxFrame::Data;
        match op {
            Opcode::Ping => {
                if !self.has(CLOSE_SENT) && self.ctrl != Ctrl::Close && self.close_after == 0 {
                    // read_frames made sure no pong is pending.
                    self.ctrl_buf[..payload.len()].copy_from_slice(payload);
                    self.ctrl_len = payload.len() as u8;
                    self.ctrl = Ctrl::Pong;
                }
                Ok(Some(Event::Ping(payload)))
            }
            Opcode::Pong => {
                let matches = self.has(PING_OUTSTANDING) && payload == self.ping_seq.to_be_bytes();
                let rtt = matches.then(|| now - self.timer);
                if matches {
                    self.set(PING_OUTSTANDING, false);
                }
                Ok(Some(Event::Pong { rtt }))
            }
            _ => {
                let frame = parse_close(payload)?;
                self.set(CLOSE_RECEIVED, true);
                if !self.has(CLOSE_SENT) && self.ctrl != Ctrl::Close {
                    // Echo the code (section 5.5.1); an empty close gets an empty reply.
                    self.queue_close(frame.code.map_or(EMPTY_CLOSE, |c| c.0), "");
                }
                self.enter_closing(now);
                self.rx_msg = None;
                Ok(Some(Event::Close(frame)))
            }
        }
    }
}

/// Validates a close frame's payload (section 5.5.1 and 7.4).
fn parse_close(payload: &[u8]) -> Result<CloseFrame<'_>, Error> {
    match payload {
        [] => Ok(CloseFrame { code: None, reason: "" }),
        [_] => Err(Error::Protocol(ProtocolError::CloseFrameTooShort)),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(Error::Protocol(ProtocolError::InvalidCloseCode(code.0)));
            }
            let reason = simdutf8::basic::from_utf8(reason).map_err(|_| Error::InvalidUtf8)?;
            Ok(CloseFrame { code: Some(code), reason })
        }
    }
}
