//! Allocation budget of the WebSocket client, measured with a counting global allocator.
//!
//! This file is its own test binary, so the allocator only affects these tests. Counting is
//! per thread (a thread-local flag and counter), so the test harness and tests running in
//! parallel do not disturb each other's counts.
//!
//! - The low-level `Connection` receives and sends with no allocation at all.
//! - The message-level `WebSocket`, after a warm-up round, allocates at most once per received
//!   message (its payload) and not at all for sends whose payload `Vec`s were made beforehand.

// The integration tests' frame parser, shared rather than written twice.
#[path = "it/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use realtime_core::Instant;
use realtime_core::ws::{Config, Connection, Data, Event, Message, MessageKind, WebSocket, WsEvent};

// ---------------------------------------------------------------------------------------------
// Counting allocator
// ---------------------------------------------------------------------------------------------

struct CountingAlloc;

thread_local! {
    /// Whether allocations on this thread are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations and reallocations counted on this thread.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated and not freed while counting, and the most that reached.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note_size(delta: isize) {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = LIVE.try_with(|live| {
                live.set(live.get() + delta);
                let _ = PEAK.try_with(|p| p.set(p.get().max(live.get())));
            });
        }
    });
}

fn note_alloc() {
    // `try_with`: the allocator may run while the thread's locals are being torn down. The
    // locals are `const`-initialised `Cell`s without destructors, so touching them never
    // allocates (no recursion into the allocator).
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract (layouts, pointer provenance, alignment) is exactly `System`'s; the
// extra work is a thread-local counter update that never allocates and never unwinds.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        note_size(layout.size() as isize);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc();
        note_size(layout.size() as isize);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_size(-(layout.size() as isize));
        // SAFETY: forwarded unchanged; `ptr` came from `System` with this `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc();
        note_size(new_size as isize - layout.size() as isize);
        // SAFETY: forwarded unchanged; `ptr` came from `System` with this `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Runs `f` and returns its result with the allocations it made on this thread.
fn count_allocs<R>(f: impl FnOnce() -> R) -> (R, usize) {
    COUNT.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let r = f();
    COUNTING.with(|on| on.set(false));
    (r, COUNT.with(Cell::get))
}

/// Runs `f` and returns its result with the bytes it left allocated and the peak on the way.
fn measure_bytes<R>(f: impl FnOnce() -> R) -> (R, isize, isize) {
    LIVE.with(|n| n.set(0));
    PEAK.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let r = f();
    COUNTING.with(|on| on.set(false));
    (r, LIVE.with(Cell::get), PEAK.with(Cell::get))
}

#[test]
fn counter_works() {
    let (v, n) = count_allocs(|| {
        let mut v = Vec::<u8>::with_capacity(1);
        v.extend_from_slice(&[0; 100]);
        v
    });
    assert_eq!(v.len(), 100);
    assert_eq!(n, 2, "one alloc and one realloc");
    let ((), n) = count_allocs(|| {});
    assert_eq!(n, 0);
}

// ---------------------------------------------------------------------------------------------
// Wire images
// ---------------------------------------------------------------------------------------------

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Deterministic pseudo-random bytes.
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Server frames (unmasked) and what they should produce.
#[derive(Default)]
struct Wire {
    bytes: Vec<u8>,
    messages: Vec<(MessageKind, Vec<u8>)>,
    pings: Vec<Vec<u8>>,
}

impl Wire {
    fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        self.bytes.push(if fin { 0x80 } else { 0 } | opcode);
        match payload.len() {
            n @ 0..=125 => self.bytes.push(n as u8),
            n @ 126..=0xFFFF => {
                self.bytes.push(126);
                self.bytes.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                self.bytes.push(127);
                self.bytes.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        self.bytes.extend_from_slice(payload);
    }

    fn ping(&mut self, payload: &[u8]) {
        self.frame(true, PING, payload);
        self.pings.push(payload.to_vec());
    }

    /// A message cut at `cuts` (byte offsets), with a ping after the first fragment if given.
    fn message(&mut self, kind: MessageKind, payload: &[u8], cuts: &[usize], ping: Option<&[u8]>) {
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(payload.len());
        for (i, w) in bounds.windows(2).enumerate() {
            let opcode = match (i, kind) {
                (0, MessageKind::Text) => TEXT,
                (0, MessageKind::Binary) => BINARY,
                _ => CONTINUATION,
            };
            self.frame(i + 2 == bounds.len(), opcode, &payload[w[0]..w[1]]);
            if i == 0
                && let Some(p) = ping
            {
                self.ping(p);
            }
        }
        self.messages.push((kind, payload.to_vec()));
    }

    /// A mix of single-frame and fragmented messages and pings, every message under 64 KiB.
    fn mixed() -> Self {
        let mut w = Self::default();
        let text = "ünïcödé ✓ 🦀 text ".repeat(150).into_bytes();
        // Cuts inside multi-byte characters.
        let cut_a = text.iter().position(|&b| b == 0xC3).expect("ü") + 1;
        let cut_b = text.iter().position(|&b| b == 0xF0).expect("🦀") + 2;
        w.message(MessageKind::Text, b"hello", &[], None);
        w.message(MessageKind::Binary, &pseudo_random(3000, 1), &[], None);
        w.ping(b"abcd");
        w.message(MessageKind::Text, &text, &[cut_a, cut_b, 1500], None);
        w.message(MessageKind::Binary, &pseudo_random(60_000, 2), &[], None);
        w.message(MessageKind::Binary, &pseudo_random(5000, 3), &[10, 10, 2500], Some(b"mid-message"));
        w.message(MessageKind::Text, b"", &[], None);
        w.message(MessageKind::Binary, &pseudo_random(126, 4), &[], None);
        w.ping(b"");
        w.message(MessageKind::Text, "short ✓".as_bytes(), &[3], None);
        w
    }
}

/// What a client sent: whole data messages, pongs and pings, in order of their kind.
#[derive(Debug, Default, PartialEq, Eq)]
struct Sent {
    messages: Vec<(MessageKind, Vec<u8>)>,
    pongs: Vec<Vec<u8>>,
    pings: usize,
    /// Largest data frame payload seen.
    max_frame: usize,
}

fn decode_sent(bytes: &[u8]) -> Sent {
    let mut sent = Sent::default();
    let mut partial: Option<(MessageKind, Vec<u8>)> = None;
    for harness::ClientFrame { fin, opcode, payload } in harness::client_frames(bytes) {
        match opcode {
            PONG => sent.pongs.push(payload),
            PING => sent.pings += 1,
            CLOSE => panic!("unexpected close"),
            TEXT | BINARY | CONTINUATION => {
                sent.max_frame = sent.max_frame.max(payload.len());
                let (kind, mut data) = match (opcode, partial.take()) {
                    (TEXT, None) => (MessageKind::Text, Vec::new()),
                    (BINARY, None) => (MessageKind::Binary, Vec::new()),
                    (CONTINUATION, Some(p)) => p,
                    (op, p) => panic!("bad frame sequence: opcode {op} with partial {:?}", p.is_some()),
                };
                data.extend_from_slice(&payload);
                if fin {
                    sent.messages.push((kind, data));
                } else {
                    partial = Some((kind, data));
                }
            }
            op => panic!("unexpected opcode {op}"),
        }
    }
    assert!(partial.is_none(), "unfinished message");
    sent
}

/// The messages a round sends.
fn outgoing() -> Vec<(MessageKind, Vec<u8>)> {
    vec![
        (MessageKind::Text, b"hi".to_vec()),
        (MessageKind::Binary, pseudo_random(3000, 10)),
        (MessageKind::Text, "ünïcödé ✓ 🦀 ".repeat(700).into_bytes()),
        (MessageKind::Binary, pseudo_random(70_000, 11)),
        (MessageKind::Binary, Vec::new()),
    ]
}

const CHUNK: usize = 1000;
const SEND_FRAME_LEN: u32 = 4096;

fn config() -> Config {
    Config { send_frame_len: SEND_FRAME_LEN, ..Config::default() }
}

// ---------------------------------------------------------------------------------------------
// (a) Connection: no allocation at all
// ---------------------------------------------------------------------------------------------

/// FNV-1a, to fingerprint received payloads without keeping them.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01B3);
    }
    h
}

const FNV_START: u64 = 0xCBF2_9CE4_8422_2325;

/// Buffers made before measuring; a round only writes into them.
struct Buffers {
    rx: Vec<u8>,
    out: [u8; 1024],
    sink: Vec<u8>,
    /// (kind, length, fingerprint) of each received message.
    received: Vec<(MessageKind, usize, u64)>,
    /// Fingerprints of received ping payloads.
    pings: Vec<u64>,
}

/// Writes whatever the connection has to send into `sink`; returns the bytes written.
fn drain_transmit(conn: &mut Connection, b: &mut Buffers, payload: &[u8]) -> (usize, bool) {
    let (mut total, mut done) = (0, false);
    loop {
        let t = conn.poll_transmit(&mut b.out, payload);
        done |= t.message_done;
        if t.len == 0 {
            return (total, done);
        }
        assert!(b.sink.len() + t.len <= b.sink.capacity(), "sink too small (would allocate)");
        b.sink.extend_from_slice(&b.out[..t.len]);
        total += t.len;
    }
}

/// One round: receive `wire` in 1000-byte chunks, then send `messages` and a ping.
fn connection_round(
    conn: &mut Connection,
    b: &mut Buffers,
    round: u64,
    wire: &[u8],
    messages: &[(MessageKind, Vec<u8>)],
) {
    let now = Instant::from_micros(round * 1_000_000);
    b.sink.clear();
    b.received.clear();
    b.pings.clear();
    let (mut msg_len, mut msg_hash) = (0usize, FNV_START);
    for chunk in wire.chunks(CHUNK) {
        assert!(b.rx.len() + chunk.len() <= b.rx.capacity(), "rx too small (would allocate)");
        b.rx.extend_from_slice(chunk);
        loop {
            let read = conn.handle_input(now, &b.rx);
            let consumed = read.consumed;
            let got_event = read.event.is_some();
            match read.event {
                None => {}
                Some(Event::Data(Data { kind, payload, fin, .. })) => {
                    msg_len += payload.len();
                    msg_hash = fnv(msg_hash, payload);
                    if fin {
                        b.received.push((kind, msg_len, msg_hash));
                        (msg_len, msg_hash) = (0, FNV_START);
                    }
                }
                Some(Event::Ping(p)) => b.pings.push(fnv(FNV_START, p)),
                Some(other) => panic!("unexpected event {other:?}"),
            }
            b.rx.drain(..consumed);
            // Pongs go out as they are queued.
            let (sent, _) = drain_transmit(conn, b, &[]);
            if consumed == 0 && !got_event && sent == 0 {
                break;
            }
        }
    }
    assert!(b.rx.is_empty(), "wire image ends on a frame boundary");

    for (kind, payload) in messages {
        conn.start_message(*kind, payload).expect("start_message");
        let (_, done) = drain_transmit(conn, b, payload);
        assert!(done, "message_done once the whole message is written");
    }
    conn.send_ping(now).expect("ping");
    let _ = drain_transmit(conn, b, &[]);
}

#[test]
fn connection_round_allocates_nothing() {
    let wire = Wire::mixed();
    let messages = outgoing();
    let mut conn = Connection::new_open(config(), [3; 32]).expect("config");
    let mut b = Buffers {
        rx: Vec::with_capacity(4 * CHUNK),
        out: [0; 1024],
        sink: Vec::with_capacity(1 << 20),
        received: Vec::with_capacity(wire.messages.len()),
        pings: Vec::with_capacity(wire.pings.len()),
    };
    let expected_received: Vec<_> =
        wire.messages.iter().map(|(k, p)| (*k, p.len(), fnv(FNV_START, p))).collect();
    let expected_pings: Vec<_> = wire.pings.iter().map(|p| fnv(FNV_START, p)).collect();

    for round in 0..3 {
        let ((), allocs) =
            count_allocs(|| connection_round(&mut conn, &mut b, round, &wire.bytes, &messages));
        // Round 0 is the warm-up (nothing should allocate there either, but it is not the
        // measured round).
        if round > 0 {
            assert_eq!(allocs, 0, "round {round}: Connection allocated {allocs} times");
        }
        assert_eq!(b.received, expected_received, "round {round}");
        assert_eq!(b.pings, expected_pings, "round {round}");
        let sent = decode_sent(&b.sink);
        assert_eq!(sent.messages, messages, "round {round}");
        assert_eq!(sent.pongs, wire.pings, "round {round}: one pong per ping, same payload");
        assert_eq!(sent.pings, 1);
        assert_eq!(sent.max_frame, SEND_FRAME_LEN as usize, "large messages are fragmented");
    }
}

// ---------------------------------------------------------------------------------------------
// (b) WebSocket: one allocation per received message, none for pre-made sends
// ---------------------------------------------------------------------------------------------

/// A `WebSocket` and the buffers its rounds use, all made before measuring.
struct WsHarness {
    ws: WebSocket,
    rx: Vec<u8>,
    out: Vec<u8>,
    sink: Vec<u8>,
    events: Vec<WsEvent>,
    /// Payloads to send next round, made outside the measured window.
    sends: Vec<(MessageKind, Vec<u8>)>,
}

impl WsHarness {
    /// Writes whatever the client has to send into `sink`.
    fn flush(&mut self) {
        loop {
            let n = self.ws.poll_transmit(&mut self.out);
            if n == 0 {
                break;
            }
            assert!(self.sink.len() + n <= self.sink.capacity(), "sink too small (would allocate)");
            self.sink.extend_from_slice(&self.out[..n]);
        }
    }

    /// One round: queue the pre-made `sends`, receive `wire` in 1000-byte chunks, flush.
    fn round(&mut self, round: u64, wire: &[u8]) {
        let now = Instant::from_micros(round * 1_000_000);
        self.sink.clear();
        self.events.clear();
        for (kind, payload) in self.sends.drain(..) {
            self.ws.send(kind, payload).expect("send");
        }
        for chunk in wire.chunks(CHUNK) {
            assert!(self.rx.len() + chunk.len() <= self.rx.capacity(), "rx too small (would allocate)");
            self.rx.extend_from_slice(chunk);
            loop {
                let used = self.ws.handle_input(now, &self.rx);
                self.rx.drain(..used);
                self.flush();
                let mut polled = false;
                while let Some(e) = self.ws.poll_event() {
                    assert!(self.events.len() < self.events.capacity(), "events too small (would allocate)");
                    self.events.push(e);
                    polled = true;
                }
                if used == 0 && !polled {
                    break;
                }
            }
        }
        assert!(self.rx.is_empty(), "wire image ends on a frame boundary");
        self.flush();
    }
}

#[test]
fn websocket_round_allocates_once_per_received_message() {
    let wire = Wire::mixed();
    let messages = outgoing();
    let mut h = WsHarness {
        ws: WebSocket::new_open(config(), [5; 32]).expect("config"),
        rx: Vec::with_capacity(4 * CHUNK),
        out: vec![0u8; 4096],
        sink: Vec::with_capacity(1 << 20),
        events: Vec::with_capacity(wire.messages.len() + 8),
        sends: Vec::with_capacity(messages.len()),
    };
    let expected: Vec<WsEvent> = wire
        .messages
        .iter()
        .map(|(kind, p)| {
            WsEvent::Message(match kind {
                MessageKind::Text => Message::Text(String::from_utf8(p.clone()).expect("utf-8")),
                MessageKind::Binary => Message::Binary(p.clone()),
            })
        })
        .collect();
    let received = wire.messages.len();

    for round in 0..3 {
        // The payloads are made outside the measured window; `send` takes them as they are.
        h.sends.extend(messages.iter().cloned());
        let ((), allocs) = count_allocs(|| h.round(round, &wire.bytes));
        if round > 0 {
            assert!(
                allocs <= received,
                "round {round}: {allocs} allocations for {received} received messages (budget {received})"
            );
        }
        assert_eq!(h.events, expected, "round {round}");
        let sent = decode_sent(&h.sink);
        assert_eq!(sent.messages, messages, "round {round}");
        assert_eq!(sent.pongs, wire.pings, "round {round}");
        assert_eq!(sent.max_frame, SEND_FRAME_LEN as usize);
    }
}

// ---------------------------------------------------------------------------------------------
// The Realtime client
// ---------------------------------------------------------------------------------------------

mod client {
    use realtime_core::Instant;
    use realtime_core::client::{ChannelId, Client, ClientConfig, Event, PushBody, TransportCommand};
    use realtime_core::supabase::channel_config::ChannelConfig;
    use realtime_core::ws::handshake::accept_for_key;

    use super::{BINARY, TEXT, Wire, count_allocs};

    /// A client over a byte transport with `room1` joined, and the wire to feed it.
    fn joined() -> (Client, ChannelId) {
        let t = Instant::ZERO;
        let mut c = Client::new(ClientConfig::new("ws://alloc.test/realtime/v1", "key"), [9; 32]).unwrap();
        let ch = c.channel(t, "room1", ChannelConfig::new()).unwrap();
        c.subscribe(t, ch).unwrap();
        let Some(TransportCommand::Open { id, .. }) = c.poll_transport() else { panic!() };
        c.handle_transport_open(t, id);
        let mut buf = vec![0u8; 4096];
        let n = c.poll_transmit(&mut buf);
        let request = String::from_utf8(buf[..n].to_vec()).unwrap();
        let key = request.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().trim();
        let accept = accept_for_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        );
        let mut w = Wire::default();
        w.frame(true, TEXT, br#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#);
        let mut input = response.into_bytes();
        input.extend_from_slice(&w.bytes);
        assert_eq!(c.handle_input(t, &input), input.len());
        while c.poll_transmit(&mut buf) > 0 {}
        while c.poll_event().is_some() {}
        (c, ch)
    }

    fn feed(c: &mut Client, bytes: &[u8]) -> usize {
        let mut used = 0;
        let mut events = 0;
        while used < bytes.len() {
            let n = c.handle_input(Instant::ZERO, &bytes[used..]);
            used += n;
            while let Some(e) = c.poll_event() {
                assert!(matches!(e, Event::Message { .. }), "{e:?}");
                events += 1;
            }
            assert!(n > 0, "stuck");
        }
        events
    }

    /// Received messages: one allocation each that lives on (the payload the message owns),
    /// whether text or binary, plus serde_json's scratch stack, which it allocates (and frees
    /// at once) when it validates a payload with nested values; decoding and dispatch add
    /// nothing else.
    #[test]
    fn receiving_allocates_once_per_message() {
        let (mut c, _) = joined();
        let mut w = Wire::default();
        let text =
            br#"[null,null,"realtime:room1","broadcast",{"type":"broadcast","event":"e","payload":{"x":1}}]"#;
        let mut kind4 = vec![4, 14, 1, 0, 0];
        kind4.extend_from_slice(b"realtime:room1e");
        kind4.extend_from_slice(&[7; 200]);
        for _ in 0..100 {
            w.frame(true, TEXT, text);
            w.frame(true, BINARY, &kind4);
        }
        assert_eq!(feed(&mut c, &w.bytes), 200, "warm-up");
        let (events, n) = count_allocs(|| feed(&mut c, &w.bytes));
        assert_eq!(events, 200);
        // 100 text messages with nested payloads (2 each), 100 binary ones (1 each).
        assert!(n <= 300, "{n} allocations for 200 messages");
        let binary = kind4_only(&kind4);
        feed(&mut c, &binary); // warm-up for this shape of input
        let (events, n) = count_allocs(|| feed(&mut c, &binary));
        assert_eq!((events, n), (100, 100), "binary broadcasts: exactly the payload");
    }

    fn kind4_only(frame: &[u8]) -> Vec<u8> {
        let mut w = Wire::default();
        for _ in 0..100 {
            w.frame(true, BINARY, frame);
        }
        w.bytes
    }

    /// Sent pushes: one allocation each that lives on (the encoded frame), plus serde_json's
    /// scratch when the body is validated (nested payloads) and, in debug builds only, the
    /// encoder's re-check of the payload. The bodies were built before.
    #[test]
    fn pushing_allocates_once_per_message() {
        let (mut c, ch) = joined();
        let mut buf = vec![0u8; 1 << 16];
        let body = || PushBody::Json {
            event: "broadcast".into(),
            payload: r#"{"type":"broadcast","event":"e","payload":{}}"#.into(),
        };
        for _ in 0..100 {
            c.push(Instant::ZERO, ch, body()).unwrap();
        }
        while c.poll_transmit(&mut buf) > 0 {}
        let bodies: Vec<_> = (0..100).map(|_| body()).collect();
        let ((), n) = count_allocs(|| {
            for b in bodies {
                c.push(Instant::ZERO, ch, b).unwrap();
            }
            while c.poll_transmit(&mut buf) > 0 {}
        });
        let per_push = if cfg!(debug_assertions) { 3 } else { 2 };
        // Plus the amortized growth of the in-flight list (no replies come in this test).
        assert!(n <= 100 * per_push + 2, "{n} allocations for 100 pushes");
    }
}

// ---------------------------------------------------------------------------------------------
// permessage-deflate's memory per connection
// ---------------------------------------------------------------------------------------------

/// What a connection keeps with permessage-deflate: the inflater (and the compressor, when the
/// client compresses) for the connection's life, measured after ten compressed messages each
/// way; the peak includes a message being inflated. Printed for the README, bounded here.
#[test]
fn deflate_memory_per_connection() {
    use realtime_core::ws::DeflateConfig;
    use realtime_core::ws::deflate::{Deflater, Params};

    let msg = |i: usize| {
        let mut s = format!(r#"{{"event":"broadcast","ref":"{i}","payload":["#);
        while s.len() < 2000 {
            s.push_str(r#"{"id":1,"user":"someone","text":"a message of some length"},"#);
        }
        s.push_str("{}]}");
        s.into_bytes()
    };
    let run = |params: Option<Params>, compress: bool| -> (isize, isize) {
        let config = Config {
            deflate: Some(DeflateConfig {
                compress_min_len: compress.then_some(64),
                ..DeflateConfig::default()
            }),
            ..Config::default()
        };
        // The server's side, made before measuring: it compresses with the terms mirrored.
        let mut server = params.map(|p| {
            let mirrored = Params { client_no_context_takeover: p.server_no_context_takeover, ..p };
            Deflater::new(&mirrored, 1).expect("full window")
        });
        let frames: Vec<Vec<u8>> = (0..10)
            .map(|i| {
                let m = msg(i);
                match server.as_mut() {
                    Some(d) => {
                        let mut c = Vec::new();
                        d.compress(&m, &mut c);
                        let mut f = harness::frame(true, TEXT, &c);
                        f[0] |= 0x40;
                        f
                    }
                    None => harness::frame(true, TEXT, &m),
                }
            })
            .collect();
        let payloads: Vec<Vec<u8>> = (0..10).map(msg).collect();
        let (ws, live, peak) = measure_bytes(|| {
            let mut ws = match params {
                Some(p) => WebSocket::new_open_deflate(config, [3; 32], p).unwrap(),
                None => WebSocket::new_open(config, [3; 32]).unwrap(),
            };
            let mut out = vec![0u8; 8192];
            for (f, p) in frames.iter().zip(&payloads) {
                assert_eq!(ws.handle_input(Instant::ZERO, f), f.len());
                assert!(matches!(ws.poll_event(), Some(WsEvent::Message(_))));
                ws.send(MessageKind::Text, p.clone()).unwrap();
                while ws.poll_transmit(&mut out) > 0 {}
            }
            drop(out);
            ws
        });
        drop(ws);
        (live, peak)
    };
    let kib = |b: isize| b as f64 / 1024.0;
    let plain = run(None, false);
    let takeover = run(Some(Params::default()), true);
    let none =
        Params { server_no_context_takeover: true, client_no_context_takeover: true, ..Params::default() };
    let no_takeover = run(Some(none), true);
    let receive_only = run(Some(Params::default()), false);
    for (label, (live, peak)) in [
        ("no deflate", plain),
        ("deflate, context takeover", takeover),
        ("deflate, no context takeover", no_takeover),
        ("deflate, receive only (compress_min_len None)", receive_only),
    ] {
        eprintln!("{label}: {:.1} KiB kept, {:.1} KiB peak", kib(live), kib(peak));
    }
    // The inflater is about 42 KiB and its kept buffer 16 KiB; the compressor adds miniz_oxide's window, hash chains and
    // buffers (about 200 KiB). Without takeover the same states stay allocated (reset, not
    // freed, so no message pays for an allocation).
    assert!(plain.0 < 16 << 10, "{plain:?}");
    assert!(receive_only.0 - plain.0 < 64 << 10, "{receive_only:?}");
    assert!(takeover.0 - plain.0 < 400 << 10, "{takeover:?}");
    assert!(takeover.0 > receive_only.0, "the compressor is kept");
    // A client that sends nothing long enough never makes a compressor.
    assert_eq!(run(Some(Params::default()), false).0, receive_only.0);
}

/// A bomb (64 MiB of zeros in about 64 KiB) against a 1 MiB limit: refused having taken at most
/// the limit and a byte for the message, beside the inflater's own state.
#[test]
fn a_bomb_takes_at_most_the_limit() {
    use realtime_core::ws::deflate::{Deflater, InflateError, Inflater, Params};

    let mut bomb = Vec::new();
    Deflater::new(&Params::default(), 9).expect("full window").compress(&vec![0u8; 64 << 20], &mut bomb);
    let mut inf = Inflater::new(&Params::default(), 1 << 20);
    let state = measure_bytes(|| Inflater::new(&Params::default(), 1 << 20)).1;
    let (result, _, peak) = measure_bytes(|| inf.feed(&bomb));
    assert_eq!(result, Err(InflateError::TooLarge { max: 1 << 20 }));
    eprintln!(
        "bomb: {:.1} KiB peak (the inflater's state is {:.1} KiB)",
        peak as f64 / 1024.0,
        state as f64 / 1024.0
    );
    assert!(peak <= (1 << 20) + 1, "{peak} bytes");
}
