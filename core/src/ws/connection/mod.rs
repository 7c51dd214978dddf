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
use super::config::{Config, ConfigError, MAX_CLOSE_REASON};
use super::deflate::{Offer, Params};
use super::error::{Error, HandshakeError, ProtocolError};
use super::event::{CloseFrame, Data, Event, MessageKind, Read, Rejection, SendError, State, Transmit};
use super::frame::{
    Decoded, FrameDecoder, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN, Opcode, encode_header, header_len,
};
use super::handshake::{self, Request, RequestError, Response};
use super::mask::{apply_mask, copy_masked};
use super::utf8::Utf8Validator;
use crate::rng::Rng;
use crate::time::Instant;

mod receive;
mod send;

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
    /// `PING_PENDING`, `PING_OUTSTANDING`, `CLOSE_SENT`, `CLOSE_RECEIVED`, `FAILED`, `DEFLATE`,
    /// `RX_COMPRESSED`, `TX_COMPRESSED` (bits, to keep the connection under 256 bytes).
    flags: u8,
}

const PING_PENDING: u8 = 1;
const PING_OUTSTANDING: u8 = 2;
const CLOSE_SENT: u8 = 4;
const CLOSE_RECEIVED: u8 = 8;
const FAILED: u8 = 16;
/// permessage-deflate was agreed: compressed messages may come and go.
const DEFLATE: u8 = 32;
/// The message being received is compressed (RSV1 on its first frame).
const RX_COMPRESSED: u8 = 64;
/// The message being written is compressed: RSV1 goes on its first frame.
const TX_COMPRESSED: u8 = 128;
/// `close_after_reason` flag: the reason is stored in the control buffer after the pong's
/// payload; the low 7 bits are its length.
const STORED_REASON: u8 = 0x80;
/// Where the handshake response limit sits in the control buffer until the upgrade (the
/// nonce takes bytes 0..16).
const RESPONSE_LIMIT_AT: usize = 16;
/// Where the permessage-deflate offer sits in the control buffer until the upgrade (5 bytes).
const OFFER_AT: usize = 20;

/// The offer in 5 bytes: present, the two flags, the two window sizes (0 for none).
fn encode_offer(offer: Option<Offer>) -> [u8; 5] {
    offer.map_or([0; 5], |o| {
        let bits = |b: Option<u8>| b.unwrap_or(0);
        [
            1,
            u8::from(o.server_no_context_takeover),
            u8::from(o.client_no_context_takeover),
            bits(o.server_max_window_bits),
            bits(o.client_max_window_bits),
        ]
    })
}

fn decode_offer(b: &[u8]) -> Option<Offer> {
    let window = |v: u8| (v != 0).then_some(v);
    match b {
        [1, snct, cnct, sbits, cbits, ..] => Some(Offer {
            server_no_context_takeover: *snct != 0,
            client_no_context_takeover: *cnct != 0,
            server_max_window_bits: window(*sbits),
            client_max_window_bits: window(*cbits),
        }),
        _ => None,
    }
}

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
        config.validate()?;
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
            c.ctrl_buf[OFFER_AT..OFFER_AT + 5]
                .copy_from_slice(&encode_offer(config.deflate.map(|d| d.offer)));
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

    /// [`new_open`](Self::new_open) with permessage-deflate agreed elsewhere on `params`' terms
    /// (the connection itself only needs to know it is on).
    pub fn new_open_deflate(
        config: Config,
        rng_seed: [u8; 32],
        _params: Params,
    ) -> Result<Self, ConfigError> {
        let mut c = Self::new_open(config, rng_seed)?;
        c.deflate_on();
        Ok(c)
    }

    /// The permessage-deflate offer, kept in the control buffer until the upgrade.
    fn deflate_offer(&self) -> Option<Offer> {
        decode_offer(&self.ctrl_buf[OFFER_AT..OFFER_AT + 5])
    }

    fn deflate_on(&mut self) {
        self.set(DEFLATE, true);
        self.decoder.allow_rsv1(true);
    }

    /// True once permessage-deflate was agreed.
    pub fn deflate_agreed(&self) -> bool {
        self.has(DEFLATE)
    }

    /// Fails the connection for a message the layer above could not take (one that inflates
    /// past the limit, corrupt DEFLATE data, inflated text that is not UTF-8), as if the
    /// connection had found it: the error's close code goes out and nothing more is read.
    /// The caller reports the error itself. Does nothing once the connection failed or closed.
    pub fn fail_message(&mut self, now: Instant, error: Error) {
        if !self.has(FAILED) && matches!(self.state, State::Open | State::Closing) {
            let _ = self.fail(now, error);
        }
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
        let offer = self.deflate_offer();
        let n = request.encode_offering(&handshake::key_for_nonce(&nonce), offer.as_ref(), out)?;
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
        self.begin_message(kind, len, false);
        Ok(())
    }

    /// [`start_message`](Self::start_message) for a payload compressed with the agreed
    /// permessage-deflate (sync-flushed, its tail left off, as [`Deflater`] gives it): RSV1 goes
    /// on its first frame. Its text is not checked (it is compressed); check it before
    /// compressing.
    ///
    /// [`Deflater`]: super::deflate::Deflater
    pub fn start_compressed_message(&mut self, kind: MessageKind, payload: &[u8]) -> Result<(), SendError> {
        if self.state != State::Open || self.has(FAILED) {
            return Err(SendError::NotOpen);
        }
        if !self.has(DEFLATE) {
            return Err(SendError::NoDeflate);
        }
        if self.tx_msg.is_some() {
            return Err(SendError::Busy);
        }
        let len = u32::try_from(payload.len()).map_err(|_| SendError::TooLong)?;
        self.begin_message(kind, len, true);
        Ok(())
    }

    fn begin_message(&mut self, kind: MessageKind, len: u32, compressed: bool) {
        self.tx_msg = Some(kind);
        self.set(TX_COMPRESSED, compressed);
        self.tx_len = len;
        self.tx_offset = 0;
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
}
