//! A client under test with the plumbing every harness needs: it runs the app's operations,
//! carries out the client's transport commands, reads what it writes, moves time across every
//! deadline, and feeds all of it to [`Invariants`].

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::Arbitrary;

use super::app::{App, AppOp};
use super::check::{ClientWire, Invariants, Sent, Written};
use crate::client::{Client, ClientConfig, TransportClosed, TransportCommand, TransportId, TransportKind};
use crate::phoenix::serializer::Vsn;
use crate::time::Instant;
use crate::ws::Message;

/// Rounds of [`Session::settle`] before the client counts as spinning (a hang).
const SETTLE_ROUNDS: usize = 10_000;
/// Deadlines one [`Session::wait`] may fire before the client counts as spinning.
const WAIT_DEADLINES: usize = 100_000;
/// How much `poll_transmit` is offered at a time.
const TRANSMIT_CHUNK: usize = 4096;

/// The knobs a run starts with, drawn like the operations.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Setup {
    /// Protocol 1.0.0 instead of 2.0.0.
    pub v1: bool,
    /// The app answers `TokenNeeded`: joins wait for a token.
    pub token_source: bool,
    /// Small queues (a push buffer of 3, 32 events, 8 outgoing) so their bounds are met.
    pub small: bool,
    /// WebSocket pings every 7 s besides the heartbeat.
    pub ping: bool,
    /// The client's random seed's first byte.
    pub seed: u8,
}

/// A client under test: see the module docs.
#[derive(Debug)]
pub struct Session {
    /// The client.
    pub client: Client,
    /// Virtual time.
    pub now: Instant,
    /// The app's handles.
    pub app: App,
    /// The invariants, fed on every step.
    pub check: Invariants,
    v1: bool,
    kind: TransportKind,
    max_events: usize,
    /// The transport the client asked for last.
    transport: Option<TransportId>,
    /// `handle_transport_open` was called for it and it has not ended.
    open: bool,
    wire: ClientWire,
    key: Option<String>,
    /// Bytes the peer sent that the client has not consumed yet.
    inbox: Vec<u8>,
}

impl Session {
    /// A client with `config` changed by `setup`; `None` for a config the client refuses.
    pub fn new(mut config: ClientConfig, setup: Setup) -> Option<Self> {
        if setup.v1 {
            config.vsn = Vsn::V1;
        }
        config.token_source = setup.token_source;
        if setup.small {
            config.push_buffer = 3;
            config.max_events = 32;
            config.max_outgoing = 8;
        }
        if setup.ping {
            config.ping_interval = Some(Duration::from_secs(7));
        }
        let max_events = config.max_events;
        let kind = config.transport;
        let mut seed = [0x5a; 32];
        seed[0] = setup.seed;
        let client = Client::new(config, seed).ok()?;
        Some(Self {
            client,
            now: Instant::ZERO,
            app: App::new(),
            check: Invariants::new(),
            v1: setup.v1,
            kind,
            max_events,
            transport: None,
            open: false,
            wire: ClientWire::new(),
            key: None,
            inbox: Vec::new(),
        })
    }

    /// The app does `op`.
    pub fn app(&mut self, op: AppOp) {
        self.app.apply(op, &mut self.client, self.now, &mut self.check);
        self.settle();
    }

    /// The transport the client asked for opened (nothing happens with none asked for, or one
    /// already open).
    pub fn open(&mut self) {
        if let Some(id) = self.transport
            && !self.open
        {
            self.open = true;
            self.check.connection_opened();
            self.client.handle_transport_open(self.now, id);
            self.settle();
        }
    }

    /// The current transport ended so (or failed to open).
    pub fn closed(&mut self, how: TransportClosed<'_>) {
        if let Some(id) = self.transport {
            self.end_connection();
            self.client.handle_transport_closed(self.now, id, how);
            self.settle();
        }
    }

    /// The peer sent these bytes (byte transports; ignored while no transport is open).
    pub fn input(&mut self, bytes: &[u8]) {
        if self.open {
            self.inbox.extend_from_slice(bytes);
            self.settle();
        }
    }

    /// The peer sent this message (self-framing transports; ignored while none is open).
    pub fn message(&mut self, message: Message) {
        if self.open {
            self.client.handle_message(self.now, message);
            self.settle();
        }
    }

    /// The `Sec-WebSocket-Key` of the current connection's upgrade request, once sent.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Protocol 1.0.0.
    pub fn v1(&self) -> bool {
        self.v1
    }

    /// Moves time on by `d`, firing every deadline on the way.
    pub fn wait(&mut self, d: Duration) {
        let until = self.now + d;
        for _ in 0..WAIT_DEADLINES {
            match self.client.poll_timeout() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.check.timeout_handled(self.now, self.client.poll_timeout());
                    if !self.check.violations().is_empty() {
                        return;
                    }
                    self.settle();
                }
                _ => {
                    self.now = until;
                    self.settle();
                    return;
                }
            }
        }
        self.check.violation(alloc::format!("more than {WAIT_DEADLINES} deadlines before {until:?}"));
    }

    /// An hour later, with the peer silent: every push has ended and every leave is answered.
    pub fn finish(&mut self) {
        self.wait(Duration::from_secs(3600));
        self.check.finish();
    }

    fn end_connection(&mut self) {
        self.open = false;
        self.check.connection_ended();
        self.inbox.clear();
    }

    /// Processes everything due at `now` until nothing moves.
    pub fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS {
            if !self.step() {
                return;
            }
        }
        self.check.violation(alloc::format!("the client never settled at {:?}", self.now));
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(cmd) = self.client.poll_transport() {
            moved = true;
            match cmd {
                TransportCommand::Open { id, .. } => {
                    if self.open {
                        self.end_connection();
                    }
                    self.transport = Some(id);
                    self.wire = ClientWire::new();
                    self.key = None;
                }
                TransportCommand::Close { .. } => {
                    // A byte transport writes what is left (the close frame), then closes.
                    self.transmit();
                    if matches!(self.kind, TransportKind::Messages) && self.open {
                        self.check.close_sent();
                    }
                    self.end_connection();
                }
                TransportCommand::Abort => self.end_connection(),
            }
        }
        if self.open {
            moved |= self.transmit();
            if !self.inbox.is_empty() {
                let n = self.client.handle_input(self.now, &self.inbox);
                if n > self.inbox.len() {
                    self.check
                        .violation(alloc::format!("handle_input used {n} of {} bytes", self.inbox.len()));
                }
                self.inbox.drain(..n.min(self.inbox.len()));
                moved |= n > 0;
            }
        }
        let mut events = 0;
        while let Some(e) = self.client.poll_event() {
            events += 1;
            self.check.event(&e);
        }
        if events > 0 {
            moved = true;
            let channels = self.client.channels().count();
            self.check.events_queued(events, self.max_events, channels);
        }
        moved
    }

    /// Reads what the client writes on an open transport; true if it wrote anything.
    fn transmit(&mut self) -> bool {
        let mut wrote = false;
        if !self.open {
            return false;
        }
        match self.kind {
            TransportKind::Messages => {
                while let Some(m) = self.client.poll_message() {
                    wrote = true;
                    let sent = match &m {
                        Message::Text(t) => Sent::text(t, self.v1),
                        Message::Binary(b) => Sent::binary(b),
                    };
                    self.observe(sent);
                }
            }
            TransportKind::Bytes => {
                let mut buf = vec![0u8; TRANSMIT_CHUNK];
                loop {
                    let n = self.client.poll_transmit(&mut buf);
                    if n == 0 {
                        break;
                    }
                    wrote = true;
                    match self.wire.feed(&buf[..n]) {
                        Ok(written) => {
                            for w in written {
                                self.written(w);
                            }
                        }
                        Err(e) => self.check.violation(e),
                    }
                }
            }
        }
        wrote
    }

    fn written(&mut self, w: Written) {
        match w {
            Written::Request { key } => self.key = Some(key),
            Written::Frame { opcode: 1, payload } => match String::from_utf8(payload) {
                Ok(text) => self.observe(Sent::text(&text, self.v1)),
                Err(_) => self.check.violation("a text frame that is not UTF-8".into()),
            },
            Written::Frame { opcode: 2, payload } => self.observe(Sent::binary(&payload)),
            Written::Frame { opcode: 8, .. } => self.check.close_sent(),
            Written::Frame { .. } => {}
        }
    }

    fn observe(&mut self, sent: Result<Sent, String>) {
        match sent {
            Ok(m) => self.check.sent(&m),
            Err(e) => self.check.violation(e),
        }
    }
}
