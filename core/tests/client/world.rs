//! The simulated world: a client, the fake server, and a link between them on virtual time that
//! can delay, split, blackhole and reset. Invariants are checked on every step.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{
    Client, ClientConfig, Event, PushId, TransportClosed, TransportCommand, TransportId,
};
use realtime_core::fuzzing::sim::{ClientWire, Invariants, Written};
use realtime_core::rng::Rng;

use realtime_core::client::{ChannelId, ChannelState, ChannelStatus, ConnectionState};
use realtime_core::supabase::channel_config::ChannelConfig;

use crate::server::{Behaviour, Frame, JoinMode, Server};

pub(crate) struct World {
    pub(crate) now: Instant,
    pub(crate) client: Client,
    pub(crate) server: Option<Server>,
    pub(crate) behaviour: Behaviour,
    /// Every event, in order, with its time.
    pub(crate) events: Vec<(Instant, Event)>,
    /// Every frame any server received, in order, with the connection's number.
    pub(crate) frames: Vec<(usize, Frame)>,
    pub(crate) violations: Vec<String>,
    /// The close frames servers received (code and reason), in order.
    pub(crate) closes: Vec<(u16, String)>,
    /// Connections opened so far.
    pub(crate) connections: usize,
    pub(crate) delay: Duration,
    /// Deliver bytes in random pieces.
    pub(crate) split: bool,
    /// The link silently loses everything (a dead mobile network).
    pub(crate) dead: bool,
    /// Refuse TCP connects.
    pub(crate) refuse_tcp: bool,
    to_server: VecDeque<(Instant, Vec<u8>)>,
    /// Bytes to the client; `None` is the server ending TCP.
    to_client: VecDeque<(Instant, Option<Vec<u8>>)>,
    unconsumed: Vec<u8>,
    rng: Rng,
    /// The shared invariant checks (`realtime_core::fuzzing::sim`), fed on every step; what
    /// they find lands in `violations`.
    pub(crate) check: Invariants,
    /// What the client writes on the current connection, read for `check`.
    wire: ClientWire,
    pub(crate) outcomes: HashMap<PushId, usize>,
    /// The transport the client asked for last.
    transport: Option<TransportId>,
}

impl World {
    pub(crate) fn new(config: ClientConfig, seed: u64) -> Self {
        let mut s = [0u8; 32];
        s[..8].copy_from_slice(&seed.to_le_bytes());
        let client = Client::new(config, s).expect("valid config");
        s[8] = 1;
        Self {
            now: Instant::ZERO,
            client,
            server: None,
            behaviour: Behaviour::default(),
            events: Vec::new(),
            frames: Vec::new(),
            violations: Vec::new(),
            closes: Vec::new(),
            connections: 0,
            delay: Duration::from_millis(10),
            split: false,
            dead: false,
            refuse_tcp: false,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            unconsumed: Vec::new(),
            rng: Rng::from_seed(s),
            check: Invariants::without_app(),
            wire: ClientWire::new(),
            outcomes: HashMap::new(),
            transport: None,
        }
    }

    /// A world whose server answers joins with `join`, with channel `room1` subscribed (time
    /// has not moved yet).
    pub(crate) fn subscribing(config: ClientConfig, seed: u64, join: JoinMode) -> (Self, ChannelId) {
        Self::subscribing_with(config, ChannelConfig::new(), seed, join)
    }

    /// A world with channel `room1` (configured so) subscribing, nothing run yet.
    pub(crate) fn subscribing_with(
        config: ClientConfig,
        channel: ChannelConfig,
        seed: u64,
        join: JoinMode,
    ) -> (Self, ChannelId) {
        let mut w = Self::new(config, seed);
        w.behaviour.join = join;
        let ch = w.client.channel(w.now, "room1", channel).expect("channel");
        w.client.subscribe(w.now, ch).expect("subscribe");
        (w, ch)
    }

    /// A world with channel `room1` joined, one second in.
    pub(crate) fn joined(config: ClientConfig) -> (Self, ChannelId) {
        Self::joined_with(config, ChannelConfig::new())
    }

    /// A world with channel `room1` (configured so) joined, one second in.
    pub(crate) fn joined_with(config: ClientConfig, channel: ChannelConfig) -> (Self, ChannelId) {
        let (mut w, ch) = Self::subscribing_with(config, channel, 1, JoinMode::Ok);
        w.run_for(Duration::from_secs(1));
        assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
        assert_eq!(w.client.state(), ConnectionState::Open);
        (w, ch)
    }

    /// A config for `ws://sim/realtime/v1` with the defaults.
    pub(crate) fn config() -> ClientConfig {
        ClientConfig::new("ws://sim.test/realtime/v1", "anon-key")
    }

    fn retire_server(&mut self) {
        if let Some(s) = self.server.take() {
            self.check.connection_ended();
            self.violations.extend(s.violations);
            self.closes.extend(s.got_close);
        }
        self.to_server.clear();
        self.to_client.clear();
        self.unconsumed.clear();
    }

    /// The server drops the connection (a restart, a reset).
    pub(crate) fn reset(&mut self) {
        if self.server.is_some() {
            self.retire_server();
            self.client.handle_transport_closed(self.now, self.transport.unwrap(), TransportClosed::Eof);
            self.settle();
        }
    }

    /// Runs the server-side closure, then lets everything settle.
    pub(crate) fn with_server(&mut self, f: impl FnOnce(&mut Server)) {
        if let Some(s) = self.server.as_mut() {
            f(s);
        }
        self.settle();
    }

    /// Processes everything due at `now` until nothing moves.
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            if !self.step() {
                return;
            }
        }
        panic!("the world did not settle at {:?}", self.now);
    }

    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some(cmd) = self.client.poll_transport() {
            moved = true;
            match cmd {
                TransportCommand::Open { url, target, id } => {
                    // A Realtime config's endpoint, or a plain Phoenix one's (no key).
                    let realtime = url.starts_with("ws://sim.test/realtime/v1/websocket?apikey=anon-key");
                    assert!(realtime || url.starts_with("ws://sim.test/socket/websocket?vsn="), "{url}");
                    assert_eq!((target.host.as_str(), target.port, target.tls), ("sim.test", 80, false));
                    assert_eq!(url.strip_prefix("ws://sim.test"), Some(target.path.as_str()));
                    assert_eq!(&target, self.client.target());
                    self.retire_server();
                    self.transport = Some(id);
                    if self.refuse_tcp {
                        self.client.handle_transport_closed(self.now, id, TransportClosed::Error);
                    } else {
                        self.connections += 1;
                        self.server = Some(Server::new(self.behaviour));
                        self.check.connection_opened();
                        self.wire = ClientWire::new();
                        self.client.handle_transport_open(self.now, id);
                    }
                }
                TransportCommand::Close { .. } => {
                    // Write what is left, then close.
                    let mut buf = vec![0u8; 1 << 16];
                    loop {
                        let n = self.client.poll_transmit(&mut buf);
                        if n == 0 {
                            break;
                        }
                        self.observe(&buf[..n]);
                        if let Some(s) = self.server.as_mut().filter(|_| !self.dead) {
                            s.receive(&buf[..n]);
                        }
                    }
                    self.collect_frames();
                    self.retire_server();
                }
                TransportCommand::Abort => self.retire_server(),
            }
        }
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = self.client.poll_transmit(&mut buf);
            if n == 0 {
                break;
            }
            moved = true;
            self.observe(&buf[..n]);
            if self.server.is_some() && !self.dead {
                self.to_server.push_back((self.now + self.delay, buf[..n].to_vec()));
            }
        }
        while self.to_server.front().is_some_and(|(at, _)| *at <= self.now) {
            moved = true;
            let (_, bytes) = self.to_server.pop_front().unwrap();
            if let Some(s) = self.server.as_mut() {
                s.receive(&bytes);
            }
        }
        self.collect_frames();
        if let Some(s) = self.server.as_mut()
            && !s.out.is_empty()
        {
            moved = true;
            let out = std::mem::take(&mut s.out);
            if !self.dead {
                self.to_client.push_back((self.now + self.delay, Some(out)));
            }
        }
        if let Some(s) = self.server.as_mut()
            && s.tcp_done
        {
            s.tcp_done = false;
            self.to_client.push_back((self.now + self.delay, None));
        }
        while self.to_client.front().is_some_and(|(at, _)| *at <= self.now) {
            moved = true;
            match self.to_client.pop_front().unwrap().1 {
                Some(bytes) => self.unconsumed.extend_from_slice(&bytes),
                None => {
                    let rest = std::mem::take(&mut self.unconsumed);
                    let mut at = 0;
                    while at < rest.len() {
                        let n = self.client.handle_input(self.now, &rest[at..]);
                        self.drain_events();
                        if n == 0 {
                            break;
                        }
                        at += n;
                    }
                    self.retire_server();
                    self.client.handle_transport_closed(
                        self.now,
                        self.transport.unwrap(),
                        TransportClosed::Eof,
                    );
                    return true;
                }
            }
        }
        if !self.unconsumed.is_empty() && self.server.is_some() {
            let take = if self.split {
                1 + self.rng.below(self.unconsumed.len() as u32) as usize
            } else {
                self.unconsumed.len()
            };
            let n = self.client.handle_input(self.now, &self.unconsumed[..take]);
            if n > 0 {
                moved = true;
                self.unconsumed.drain(..n);
            } else if take < self.unconsumed.len() {
                // A partial piece the client cannot use yet: offer everything next time.
                let n = self.client.handle_input(self.now, &self.unconsumed);
                moved |= n > 0;
                self.unconsumed.drain(..n);
            }
        }
        moved |= self.drain_events();
        moved
    }

    fn drain_events(&mut self) -> bool {
        let mut moved = false;
        while let Some(e) = self.client.poll_event() {
            moved = true;
            if let Event::Push { push, .. } = &e {
                *self.outcomes.entry(*push).or_default() += 1;
            }
            self.check.event(&e);
            self.events.push((self.now, e));
        }
        self.violations.extend(self.check.take_violations());
        moved
    }

    /// The shared checks read what the client wrote, before the link loses any of it.
    fn observe(&mut self, bytes: &[u8]) {
        if self.server.is_none() {
            return;
        }
        match self.wire.feed(bytes) {
            Ok(written) => {
                for w in written {
                    match w {
                        Written::Frame { opcode: 1, payload } => {
                            let text = String::from_utf8(payload).unwrap_or_default();
                            match Frame::text(&text, self.behaviour.v1) {
                                Ok(m) => self.check.sent(&m),
                                Err(e) => self.violations.push(e),
                            }
                        }
                        Written::Frame { opcode: 2, payload } => match Frame::binary(&payload) {
                            Ok(m) => self.check.sent(&m),
                            Err(e) => self.violations.push(e),
                        },
                        Written::Frame { opcode: 8, .. } => self.check.close_sent(),
                        _ => {}
                    }
                }
            }
            Err(e) => self.violations.push(e),
        }
        self.violations.extend(self.check.take_violations());
    }

    fn collect_frames(&mut self) {
        let Some(s) = self.server.as_mut() else { return };
        for f in s.frames.drain(..) {
            self.frames.push((self.connections, f));
        }
    }

    /// Advances virtual time to `until`, firing every deadline and delivery on the way.
    pub(crate) fn run_until(&mut self, until: Instant) {
        self.settle();
        loop {
            let next = [
                self.client.poll_timeout(),
                self.to_server.front().map(|(t, _)| *t),
                self.to_client.front().map(|(t, _)| *t),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= until => {
                    assert!(
                        t >= self.now || self.client.poll_timeout() != Some(t),
                        "deadline {t:?} in the past at {:?}",
                        self.now
                    );
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.check.timeout_handled(self.now, self.client.poll_timeout());
                    let found = self.check.take_violations();
                    assert!(found.is_empty(), "{found:?}: {:#?}", self.client);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = until;
        self.settle();
    }

    pub(crate) fn run_for(&mut self, d: Duration) {
        self.run_until(self.now + d);
    }

    /// Events since index `from`.
    /// The channel statuses reported since event `from`, in order.
    pub(crate) fn statuses(&self, from: usize) -> Vec<ChannelStatus> {
        self.events[from..]
            .iter()
            .filter_map(|(_, e)| match e {
                Event::Status { status, .. } => Some(status.clone()),
                _ => None,
            })
            .collect()
    }

    pub(crate) fn events_since(&self, from: usize) -> Vec<&Event> {
        self.events[from..].iter().map(|(_, e)| e).collect()
    }
}

/// An unsigned JWT with `exp` (seconds), as the client reads it (the signature is the server's
/// business).
pub(crate) fn jwt(exp: u64) -> String {
    use base64::Engine as _;
    let enc = |v: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.signature",
        enc(serde_json::json!({"alg": "HS256"})),
        enc(serde_json::json!({"role": "authenticated", "exp": exp}))
    )
}
