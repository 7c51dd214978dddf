//! A message-level WebSocket client: [`Connection`] plus an owned send queue, the handshake
//! request bytes, a [`Reassembler`] and a bounded event queue.

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::close::CloseCode;
use super::compression::Compression;
use super::config::{Config, ConfigError};
use super::connection::Connection;
use super::deflate::{DeflateConfig, Params};
use super::error::{Error, ProtocolError};
use super::event::{Event, MessageKind, SendError, State};
use super::handshake::{Request, RequestError};
use super::reassembly::{Message, Reassembler};
use crate::time::Instant;

/// Default bound of the event queue: `handle_input` stops consuming when it is full.
pub const DEFAULT_MAX_PENDING_EVENTS: usize = 256;
/// Default bound of the send queue.
pub const DEFAULT_MAX_PENDING_MESSAGES: usize = 1024;

/// What the connection reports, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsEvent {
    /// The upgrade succeeded.
    Open {
        /// The subprotocol the server chose.
        protocol: Option<String>,
        /// permessage-deflate's terms, when the server took the offer.
        deflate: Option<Params>,
    },
    /// The server refused the upgrade.
    Rejected {
        /// HTTP status.
        status: u16,
        /// Start of the body (at most 512 bytes).
        body: Vec<u8>,
    },
    /// A whole message.
    Message(Message),
    /// A pong; `rtt` when it answers our latest ping.
    Pong {
        /// Round-trip time of the ping it answers.
        rtt: Option<Duration>,
    },
    /// The server's close frame.
    Close {
        /// Its code, if it had one.
        code: Option<CloseCode>,
        /// Its reason.
        reason: String,
    },
    /// The connection failed (reported once).
    Failed(Error),
}

/// A WebSocket client that owns its outgoing messages and yields whole incoming ones. `Debug`
/// leaves out the request bytes (the URL's `apikey`, credential headers) and the payloads.
pub struct WebSocket {
    conn: Connection,
    request: Vec<u8>,
    request_sent: usize,
    outgoing: VecDeque<(MessageKind, Vec<u8>)>,
    max_outgoing: usize,
    reassembler: Reassembler,
    /// permessage-deflate as configured, and its codecs once agreed.
    deflate: Option<DeflateConfig>,
    compression: Option<Compression>,
    events: VecDeque<WsEvent>,
    max_events: usize,
    /// How long a polite close may take in all (the config's `close_timeout`).
    close_timeout: Duration,
    /// A close asked for while messages were still queued: it starts once they are written,
    /// or at its deadline with what is left dropped.
    close_after: Option<PendingClose>,
    /// The latest time a call brought: a close that waited starts its handshake then (with a
    /// whole `close_timeout` for the peer's reply).
    now: Instant,
}

/// A close waiting for the queued messages.
#[derive(Debug)]
struct PendingClose {
    code: CloseCode,
    reason: String,
    asked: Instant,
}

impl core::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WebSocket")
            .field("conn", &self.conn)
            .field("request_len", &self.request.len())
            .field("request_sent", &self.request_sent)
            .field("outgoing", &self.outgoing.len())
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// A config that offers deflate needs the codecs built in.
fn check_deflate_built(config: &Config) -> Result<(), ConfigError> {
    if config.deflate.is_some() && !cfg!(feature = "deflate") {
        return Err(ConfigError::DeflateNotBuilt);
    }
    Ok(())
}

impl WebSocket {
    /// A client that has not connected yet; see [`Connection::new`] for the seed.
    pub fn new(config: Config, rng_seed: [u8; 32]) -> Result<Self, ConfigError> {
        check_deflate_built(&config)?;
        Ok(Self::wrap(Connection::new(config, rng_seed)?, &config))
    }

    /// A client over an already-upgraded transport.
    pub fn new_open(config: Config, rng_seed: [u8; 32]) -> Result<Self, ConfigError> {
        Ok(Self::wrap(Connection::new_open(config, rng_seed)?, &config))
    }

    /// A client over an already-upgraded transport that agreed permessage-deflate on `params`'
    /// terms; the compression settings are the config's (its defaults when it has none).
    pub fn new_open_deflate(config: Config, rng_seed: [u8; 32], params: Params) -> Result<Self, ConfigError> {
        let settings = config.deflate.unwrap_or_default();
        check_deflate_built(&Config { deflate: Some(settings), ..config })?;
        let mut ws = Self::wrap(Connection::new_open_deflate(config, rng_seed, params)?, &config);
        ws.compression = Compression::new(&params, &settings, config.max_message_len as usize);
        Ok(ws)
    }

    fn wrap(conn: Connection, config: &Config) -> Self {
        Self {
            conn,
            request: Vec::new(),
            request_sent: 0,
            outgoing: VecDeque::new(),
            max_outgoing: DEFAULT_MAX_PENDING_MESSAGES,
            reassembler: Reassembler::new(config.max_message_len as usize),
            deflate: config.deflate,
            compression: None,
            events: VecDeque::new(),
            max_events: DEFAULT_MAX_PENDING_EVENTS,
            close_timeout: config.close_timeout,
            close_after: None,
            now: Instant::ZERO,
        }
    }

    /// Bounds the event queue (at least 1) and the send queue (at least 1).
    pub fn set_queue_limits(&mut self, max_events: usize, max_outgoing: usize) {
        self.max_events = max_events.max(1);
        self.max_outgoing = max_outgoing.max(1);
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.conn.state()
    }

    /// The underlying connection, for its getters.
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Messages queued and not yet fully written (the one being written included).
    pub fn pending_messages(&self) -> usize {
        self.outgoing.len()
    }

    /// Starts the handshake; the request goes out through `poll_transmit`.
    pub fn connect(&mut self, now: Instant, request: &Request<'_>) -> Result<(), RequestError> {
        let offer = self.deflate.as_ref().map(|d| &d.offer);
        let required = match request.encode_offering(&[b'A'; super::handshake::KEY_LEN], offer, &mut []) {
            Err(RequestError::BufferTooSmall { required }) => required,
            Err(e) => return Err(e),
            Ok(n) => n,
        };
        let mut buf = vec![0u8; required];
        let n = self.conn.start(now, request, &mut buf)?;
        buf.truncate(n);
        self.request = buf;
        self.request_sent = 0;
        Ok(())
    }

    /// Queues a message. Text must be valid UTF-8.
    pub fn send(&mut self, kind: MessageKind, payload: Vec<u8>) -> Result<(), SendError> {
        if self.close_after.is_some()
            || !matches!(self.conn.state(), State::Open | State::Handshaking | State::Idle)
        {
            return Err(SendError::NotOpen);
        }
        if self.outgoing.len() >= self.max_outgoing {
            return Err(SendError::Busy);
        }
        if kind == MessageKind::Text && simdutf8::basic::from_utf8(&payload).is_err() {
            return Err(SendError::InvalidUtf8);
        }
        u32::try_from(payload.len()).map_err(|_| SendError::TooLong)?;
        self.outgoing.push_back((kind, payload));
        Ok(())
    }

    /// Queues a ping; its pong reports the round-trip time.
    pub fn ping(&mut self, now: Instant) -> Result<(), SendError> {
        self.conn.send_ping(now)
    }

    /// Closes politely, as a browser's `WebSocket.close()` does: the messages already queued
    /// are written first, then the close handshake starts. Writing them takes at most the
    /// config's `close_timeout`: a message not written by then (a peer that stopped reading)
    /// is dropped and the handshake starts anyway, with its own `close_timeout` for the reply.
    pub fn close(&mut self, now: Instant, code: CloseCode, reason: &str) -> Result<(), SendError> {
        self.now = self.now.max(now);
        if self.outgoing.is_empty() || self.conn.state() != State::Open {
            self.conn.close(now, code, reason)?;
            self.drop_unstarted();
            return Ok(());
        }
        // The checks `Connection::close` makes, now, so that a bad close fails at once.
        if !code.is_valid_on_wire() {
            return Err(SendError::InvalidCloseCode);
        }
        if reason.len() > super::config::MAX_CLOSE_REASON {
            return Err(SendError::ReasonTooLong);
        }
        if self.close_after.is_none() {
            self.close_after = Some(PendingClose { code, reason: String::from(reason), asked: now });
        }
        Ok(())
    }

    /// Starts the close that waited for the queue; the peer's reply then has a whole
    /// `close_timeout` (so a polite close takes at most two).
    fn start_pending_close(&mut self) {
        if let Some(c) = self.close_after.take() {
            // It was checked when asked for; a connection that left `Open` since needs none.
            let _ = self.conn.close(self.now.max(c.asked), c.code, &c.reason);
            self.drop_unstarted();
        }
    }

    /// Feeds transport bytes; returns how many were consumed. Keep the rest and offer them
    /// again: it stops early at a partial handshake response, when the event queue is full, or
    /// while a control frame waits for `poll_transmit`.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.now = self.now.max(now);
        let mut used = 0;
        while self.events.len() < self.max_events {
            let read = self.conn.handle_input(now, &bytes[used..]);
            used += read.consumed;
            let Some(event) = read.event else { break };
            let owned = match event {
                Event::Open { protocol, deflate } => {
                    if let (Some(params), Some(config)) = (deflate, self.deflate) {
                        let max = self.reassembler.max_len();
                        self.compression = Compression::new(&params, &config, max);
                    }
                    Some(WsEvent::Open { protocol: protocol.map(String::from), deflate })
                }
                Event::Data(d) if d.compressed => {
                    let inflated = match self.compression.as_mut() {
                        Some(c) => c.inflate(d),
                        // A connection given deflate terms without codecs (not one made here).
                        None => Err(Error::Protocol(ProtocolError::ReservedBits)),
                    };
                    match inflated {
                        Ok(m) => m.map(WsEvent::Message),
                        Err(e) => {
                            self.conn.fail_message(now, e);
                            self.compression.as_mut().map(Compression::reset);
                            Some(WsEvent::Failed(e))
                        }
                    }
                }
                Event::Rejected(r) => Some(WsEvent::Rejected { status: r.status, body: r.body.to_vec() }),
                Event::Data(d) => match self.reassembler.push(d) {
                    Ok(m) => m.map(WsEvent::Message),
                    Err(e) => Some(WsEvent::Failed(e)),
                },
                Event::Ping(_) => None,
                Event::Pong { rtt } => Some(WsEvent::Pong { rtt }),
                Event::Close(c) => {
                    self.reassembler.reset();
                    self.compression.as_mut().map(Compression::reset);
                    Some(WsEvent::Close { code: c.code, reason: String::from(c.reason) })
                }
                Event::Failed(e) => {
                    self.reassembler.reset();
                    self.compression.as_mut().map(Compression::reset);
                    Some(WsEvent::Failed(e))
                }
            };
            self.events.extend(owned);
            if used == bytes.len() {
                break;
            }
        }
        used
    }

    /// The transport ended.
    pub fn handle_transport_closed(&mut self, now: Instant) {
        if let Some(e) = self.conn.handle_transport_closed(now) {
            self.events.push_back(WsEvent::Failed(e));
        }
        self.outgoing.clear();
        self.close_after = None;
    }

    /// Fires due timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = self.now.max(now);
        if self.close_after.as_ref().is_some_and(|c| c.asked + self.close_timeout <= now) {
            // The queue did not drain in time: close with what is left dropped.
            self.start_pending_close();
        }
        if let Some(e) = self.conn.handle_timeout(now) {
            self.events.push_back(WsEvent::Failed(e));
        }
    }

    /// The next deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let close = self.close_after.as_ref().map(|c| c.asked + self.close_timeout);
        match (self.conn.poll_timeout(), close) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fills `out` with bytes to send; 0 when nothing is pending.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        if self.request_sent < self.request.len() {
            let take = (self.request.len() - self.request_sent).min(out.len());
            out[..take].copy_from_slice(&self.request[self.request_sent..self.request_sent + take]);
            self.request_sent += take;
            n = take;
            if self.request_sent < self.request.len() {
                return n;
            }
            self.request = Vec::new();
            self.request_sent = 0;
        }
        loop {
            if !self.conn.is_sending()
                && self.conn.state() == State::Open
                && let Some((kind, payload)) = self.outgoing.front_mut()
            {
                // Compressed as it starts, in the order it goes out (the window follows it).
                let started = match self.compression.as_mut().and_then(|c| c.compress(payload)) {
                    Some(compressed) => {
                        *payload = compressed;
                        self.conn.start_compressed_message(*kind, payload)
                    }
                    None => self.conn.start_message(*kind, payload),
                };
                if started.is_err() {
                    self.outgoing.pop_front();
                    continue;
                }
            }
            if self.outgoing.is_empty() && self.close_after.is_some() {
                // Everything queued is written: the close handshake goes out next.
                self.start_pending_close();
            }
            let payload = self.outgoing.front().map_or(&[][..], |(_, p)| p.as_slice());
            let t = self.conn.poll_transmit(&mut out[n..], payload);
            n += t.len;
            if t.message_done {
                self.outgoing.pop_front();
                if self.conn.state() != State::Open {
                    self.drop_unstarted();
                }
                continue;
            }
            if t.len == 0 || n == out.len() {
                return n;
            }
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<WsEvent> {
        self.events.pop_front()
    }

    fn drop_unstarted(&mut self) {
        let keep = usize::from(self.conn.is_sending());
        self.outgoing.truncate(keep);
    }
}
