//! Interop tests on real loopback TCP: the sans-IO `WebSocket` client, driven by a small
//! blocking `std::net` loop, against tungstenite as an independent server (and a raw TCP server
//! for a rejected handshake); `deflate` runs permessage-deflate against Node's `ws` and Python's
//! `websockets`.
//!
//! Timeouts here are hang guards only; nothing asserts on timing.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use realtime_core::Instant;
use realtime_core::ws::{CloseCode, Config, Message, MessageKind, Request, State, Url, WebSocket, WsEvent};
use tungstenite::Message as TMessage;
use tungstenite::error::ProtocolError as TProtocolError;
use tungstenite::handshake::server::{Request as HsRequest, Response as HsResponse};
use tungstenite::protocol::CloseFrame as TCloseFrame;
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::frame::coding::{Data as OpData, OpCode};

/// How long any single blocking read may wait (server side), as a hang guard.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the client waits for any one event before giving up, as a hang guard.
const EVENT_TIMEOUT: Duration = Duration::from_secs(60);
/// 16 MiB.
const BIG: usize = 16 << 20;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Deterministic pseudo-random bytes (splitmix64).
fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A `Read + Write` stream that records every byte read, so the server can check how the
/// client framed its messages.
struct Recording {
    inner: TcpStream,
    read_log: Vec<u8>,
}

impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read_log.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Server = tungstenite::WebSocket<Recording>;

/// A client frame as seen on the wire: (fin, opcode, payload length).
type FrameInfo = (bool, u8, usize);

/// Parses the masked client frames after the HTTP request in `log` (headers only, payloads
/// skipped). Stops at an incomplete frame.
fn client_frames(log: &[u8]) -> Vec<FrameInfo> {
    let start = log.windows(4).position(|w| w == b"\r\n\r\n").expect("request end") + 4;
    let mut rest = &log[start..];
    let mut frames = Vec::new();
    while rest.len() >= 2 {
        let fin = rest[0] & 0x80 != 0;
        let opcode = rest[0] & 0x0F;
        assert!(rest[1] & 0x80 != 0, "client frame not masked");
        let (len, header) = match rest[1] & 0x7F {
            126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (usize::try_from(u64::from_be_bytes(b)).expect("len"), 10)
            }
            126 | 127 => break,
            n => (usize::from(n), 2),
        };
        let total = header + 4 + len;
        if rest.len() < total {
            break;
        }
        frames.push((fin, opcode, len));
        rest = &rest[total..];
    }
    frames
}

/// Binds a listener on loopback and runs `script` on the first accepted, upgraded connection.
fn spawn_server<T, F>(protocol: Option<&'static str>, script: F) -> (SocketAddr, JoinHandle<T>)
where
    T: Send + 'static,
    F: FnOnce(&mut Server) -> T + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let handle = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        stream.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        let rec = Recording { inner: stream, read_log: Vec::new() };
        #[expect(clippy::result_large_err, reason = "tungstenite's callback signature")]
        let callback = move |req: &HsRequest, mut resp: HsResponse| {
            assert_eq!(
                req.headers().get("x-client-info").map(|v| v.as_bytes()),
                Some(&b"realtime-rs-test"[..])
            );
            if let Some(p) = protocol {
                resp.headers_mut().insert("Sec-WebSocket-Protocol", p.parse().expect("header value"));
            }
            Ok(resp)
        };
        let mut ws = tungstenite::accept_hdr(rec, callback).expect("server handshake");
        script(&mut ws)
    });
    (addr, handle)
}

/// Reads until the client's close frame, then until tungstenite reports the close handshake
/// done; the caller drops the socket afterwards. Returns the close frame.
fn server_await_close(ws: &mut Server) -> Option<TCloseFrame> {
    let close = match ws.read().expect("server read") {
        TMessage::Close(f) => f,
        other => panic!("server expected close, got {other:?}"),
    };
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("server expected ConnectionClosed, got {other:?}"),
    }
    close
}

/// Our client on a blocking TCP stream.
struct Client {
    ws: WebSocket,
    sock: TcpStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    tmp: Vec<u8>,
    t0: std::time::Instant,
    eof: bool,
    /// Every byte the server sent, for checks on its frames.
    received: Vec<u8>,
    /// permessage-deflate's terms, once open.
    deflate: Option<realtime_core::ws::deflate::Params>,
}

impl Client {
    fn connect(addr: SocketAddr, config: Config, protocols: &'static [&'static str]) -> Self {
        let sock = TcpStream::connect(addr).expect("connect");
        sock.set_nodelay(true).expect("nodelay");
        // Short, so the loop can flush and check its hang guard between reads.
        sock.set_read_timeout(Some(Duration::from_millis(50))).expect("read timeout");
        sock.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
        let mut ws = WebSocket::new(config, [7; 32]).expect("config");
        let t0 = std::time::Instant::now();
        let url_text = format!("ws://{addr}/realtime/v1/websocket?vsn=2.0.0");
        let url = Url::parse(&url_text).expect("url");
        let request = Request { url, protocols, headers: &[("X-Client-Info", "realtime-rs-test")] };
        ws.connect(Instant::ZERO, &request).expect("connect request");
        Self {
            ws,
            sock,
            inbuf: Vec::new(),
            out: vec![0; 64 << 10],
            tmp: vec![0; 64 << 10],
            t0,
            eof: false,
            received: Vec::new(),
            deflate: None,
        }
    }

    /// Opens the connection and checks the `Open` event.
    fn open(addr: SocketAddr, config: Config, protocols: &'static [&'static str]) -> (Self, Option<String>) {
        Self::open_with(addr, config, protocols)
    }

    /// [`open`](Self::open), keeping the permessage-deflate terms in `deflate`.
    fn open_with(
        addr: SocketAddr,
        config: Config,
        protocols: &'static [&'static str],
    ) -> (Self, Option<String>) {
        let mut c = Self::connect(addr, config, protocols);
        match c.next_event() {
            // Not necessarily still Open: a close may have come in the same read.
            Some(WsEvent::Open { protocol, deflate }) => {
                c.deflate = deflate;
                (c, protocol)
            }
            other => panic!("expected Open, got {other:?}"),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.t0.elapsed().as_micros() as u64)
    }

    /// Writes everything the client has to send.
    fn flush(&mut self) {
        loop {
            let n = self.ws.poll_transmit(&mut self.out);
            if n == 0 {
                break;
            }
            if let Err(e) = self.sock.write_all(&self.out[..n]) {
                // The server may already have gone (e.g. after the close handshake).
                assert!(self.ws.state() != State::Open, "write failed while open: {e}");
                break;
            }
        }
    }

    /// Offers the buffered input again (it may have been left while the queue was full).
    fn feed(&mut self) {
        let now = self.now();
        let used = self.ws.handle_input(now, &self.inbuf);
        self.inbuf.drain(..used);
    }

    /// One read from the socket (or a short timeout).
    fn read_once(&mut self) {
        match self.sock.read(&mut self.tmp) {
            Ok(0) => {
                self.eof = true;
                let now = self.now();
                self.ws.handle_transport_closed(now);
            }
            Ok(n) => {
                self.inbuf.extend_from_slice(&self.tmp[..n]);
                self.received.extend_from_slice(&self.tmp[..n]);
                self.feed();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                self.eof = true;
                let now = self.now();
                self.ws.handle_transport_closed(now);
            }
            Err(e) => panic!("client read: {e}"),
        }
    }

    /// Drives the connection until an event arrives; `None` once the transport has ended and no
    /// event is left.
    fn next_event(&mut self) -> Option<WsEvent> {
        let started = std::time::Instant::now();
        loop {
            self.flush();
            if let Some(e) = self.ws.poll_event() {
                return Some(e);
            }
            if self.eof {
                return None;
            }
            if let Some(deadline) = self.ws.poll_timeout()
                && self.now() >= deadline
            {
                let now = self.now();
                self.ws.handle_timeout(now);
                continue;
            }
            if !self.inbuf.is_empty() {
                self.feed();
            }
            self.read_once();
            assert!(started.elapsed() < EVENT_TIMEOUT, "hang guard: no event within {EVENT_TIMEOUT:?}");
        }
    }

    /// Expects the next event to be a whole message.
    fn next_message(&mut self) -> Message {
        match self.next_event() {
            Some(WsEvent::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Pumps until the server ends TCP; returns the events seen on the way.
    fn run_to_eof(&mut self) -> Vec<WsEvent> {
        let mut events = Vec::new();
        while let Some(e) = self.next_event() {
            events.push(e);
        }
        // Nothing is left to write once closed.
        assert_eq!(self.ws.poll_transmit(&mut self.out), 0);
        events
    }

    /// Closes with 1000 and runs the close handshake to the end. Queued messages are written
    /// first: `close` drops those not yet started.
    fn close_normally(&mut self) {
        self.flush();
        let now = self.now();
        self.ws.close(now, CloseCode::NORMAL, "done").expect("close");
        let events = self.run_to_eof();
        assert!(
            matches!(events.as_slice(), [WsEvent::Close { code: Some(CloseCode::NORMAL), .. }]),
            "{events:?}"
        );
        assert_eq!(self.ws.state(), State::Closed);
    }
}

fn check_server_close(close: Option<TCloseFrame>, code: u16, reason: &str) {
    let f = close.expect("close frame with a code");
    assert_eq!(u16::from(f.code), code);
    assert_eq!(f.reason.as_str(), reason);
}

mod deflate;

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn text_echo_and_subprotocol() {
    let (addr, server) = spawn_server(Some("phoenix"), |ws| {
        for _ in 0..3 {
            let m = ws.read().expect("read");
            assert!(m.is_text(), "{m:?}");
            ws.send(m).expect("echo");
        }
        check_server_close(server_await_close(ws), 1000, "done");
    });
    let (mut c, protocol) = Client::open(addr, Config::default(), &["phoenix", "other"]);
    assert_eq!(protocol.as_deref(), Some("phoenix"));
    for text in ["hello", "", "ünïcödé ✓ 🦀"] {
        c.ws.send(MessageKind::Text, text.as_bytes().to_vec()).expect("send");
        assert_eq!(c.next_message(), Message::Text(text.to_owned()));
    }
    c.close_normally();
    server.join().expect("server");
}

#[test]
fn binary_echo() {
    let (addr, server) = spawn_server(None, |ws| {
        for _ in 0..4 {
            let m = ws.read().expect("read");
            assert!(m.is_binary(), "{m:?}");
            ws.send(m).expect("echo");
        }
        check_server_close(server_await_close(ws), 1000, "done");
    });
    let (mut c, protocol) = Client::open(addr, Config::default(), &[]);
    assert_eq!(protocol, None);
    // Lengths around the 7-bit, 16-bit and 64-bit length encodings.
    for (i, len) in [0usize, 125, 126, 70_000].into_iter().enumerate() {
        let payload = pseudo_random(len, i as u64);
        c.ws.send(MessageKind::Binary, payload.clone()).expect("send");
        assert_eq!(c.next_message(), Message::Binary(payload));
    }
    c.close_normally();
    server.join().expect("server");
}

#[test]
fn fragmented_both_ways() {
    let long_text: String = "ünïcödé ✓ 🦀 text ".repeat(500);
    let long_binary = pseudo_random(5_500, 42);
    let (expect_text, expect_binary) = (long_text.clone(), long_binary.clone());

    let (addr, server) = spawn_server(None, move |ws| {
        // A text message in three fragments, split inside 'é' (0xC3 0xA9), with a ping between
        // fragments.
        let text = "héllo wörld".as_bytes();
        let split = text.iter().position(|&b| b == 0xC3).expect("é") + 1;
        let frames = [
            Frame::message(text[..split].to_vec(), OpCode::Data(OpData::Text), false),
            Frame::ping(&b"mid"[..]),
            Frame::message(text[split..7].to_vec(), OpCode::Data(OpData::Continue), false),
            Frame::message(text[7..].to_vec(), OpCode::Data(OpData::Continue), true),
            // A binary message in two fragments, one of them empty.
            Frame::message(vec![1u8, 2, 3], OpCode::Data(OpData::Binary), false),
            Frame::message(Vec::new(), OpCode::Data(OpData::Continue), false),
            Frame::message(vec![4u8, 5], OpCode::Data(OpData::Continue), true),
        ];
        for f in frames {
            ws.write(TMessage::Frame(f)).expect("write frame");
        }
        ws.flush().expect("flush");

        // The client answers the ping and sends two fragmented messages.
        let mut pong = None;
        let mut got = Vec::new();
        while got.len() < 2 {
            match ws.read().expect("read") {
                TMessage::Pong(p) => pong = Some(p),
                m @ (TMessage::Text(_) | TMessage::Binary(_)) => got.push(m),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(pong.as_deref(), Some(&b"mid"[..]));
        assert_eq!(got[0], TMessage::text(expect_text.clone()));
        assert_eq!(got[1], TMessage::binary(expect_binary.clone()));
        check_server_close(server_await_close(ws), 1000, "done");
        client_frames(&ws.get_ref().read_log)
    });

    let config = Config { send_frame_len: 1000, ..Config::default() };
    let (mut c, _) = Client::open(addr, config, &[]);
    assert_eq!(c.next_message(), Message::Text("héllo wörld".to_owned()));
    assert_eq!(c.next_message(), Message::Binary(vec![1, 2, 3, 4, 5]));
    c.ws.send(MessageKind::Text, long_text.clone().into_bytes()).expect("send text");
    c.ws.send(MessageKind::Binary, long_binary.clone()).expect("send binary");
    c.close_normally();

    // On the wire: the pong, then 1000-byte frames (opcode, then continuations, fin last), then
    // the close.
    let frames = server.join().expect("server");
    let mut expected = vec![(true, 0xA, 3)];
    for (opcode, len) in [(0x1u8, long_text.len()), (0x2, long_binary.len())] {
        let n = len.div_ceil(1000);
        for i in 0..n {
            let last = i + 1 == n;
            let frame_len = if last { len - 1000 * i } else { 1000 };
            expected.push((last, if i == 0 { opcode } else { 0 }, frame_len));
        }
    }
    expected.push((true, 0x8, 2 + "done".len()));
    assert_eq!(frames, expected);
}

#[test]
fn ping_pong_both_ways() {
    let (addr, server) = spawn_server(None, |ws| {
        ws.send(TMessage::Ping(b"srv-ping".to_vec().into())).expect("ping");
        let (mut pong, mut client_ping) = (None, None);
        while pong.is_none() || client_ping.is_none() {
            match ws.read().expect("read") {
                TMessage::Pong(p) => pong = Some(p),
                TMessage::Ping(p) => client_ping = Some(p),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(pong.as_deref(), Some(&b"srv-ping"[..]));
        // Our ping's payload is its 4-byte sequence number.
        assert_eq!(client_ping.as_ref().map(|p| p.len()), Some(4));
        // Tungstenite queued the pong to our ping; send it, then tell the client we are done.
        ws.flush().expect("flush pong");
        ws.send(TMessage::text("done")).expect("send");
        check_server_close(server_await_close(ws), 1000, "done");
    });
    let (mut c, _) = Client::open(addr, Config::default(), &[]);
    let now = c.now();
    c.ws.ping(now).expect("ping");
    let mut pong_rtt = None;
    loop {
        match c.next_event() {
            Some(WsEvent::Pong { rtt }) => pong_rtt = Some(rtt),
            Some(WsEvent::Message(m)) => {
                assert_eq!(m, Message::Text("done".to_owned()));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(matches!(pong_rtt, Some(Some(_))), "{pong_rtt:?}");
    c.close_normally();
    server.join().expect("server");
}

#[test]
fn close_initiated_by_server() {
    let (addr, server) = spawn_server(None, |ws| {
        ws.close(Some(TCloseFrame { code: 1000.into(), reason: "server bye".into() })).expect("close");
        ws.flush().expect("flush");
        // The client's echo comes back as the close reply.
        let reply = match ws.read().expect("read") {
            TMessage::Close(f) => f,
            other => panic!("expected the close reply, got {other:?}"),
        };
        match ws.read() {
            Err(tungstenite::Error::ConnectionClosed) => {}
            other => panic!("expected ConnectionClosed, got {other:?}"),
        }
        reply
        // Dropping the socket ends TCP.
    });
    let (mut c, _) = Client::open(addr, Config::default(), &[]);
    let events = c.run_to_eof();
    assert_eq!(events, [WsEvent::Close { code: Some(CloseCode::NORMAL), reason: "server bye".to_owned() }]);
    assert_eq!(c.ws.state(), State::Closed);
    // Sending after the close is refused.
    assert!(c.ws.send(MessageKind::Text, b"late".to_vec()).is_err());
    let reply = server.join().expect("server");
    check_server_close(reply, 1000, "");
}

#[test]
fn close_initiated_by_client() {
    let (addr, server) = spawn_server(None, server_await_close);
    let (mut c, _) = Client::open(addr, Config::default(), &[]);
    let now = c.now();
    c.ws.close(now, CloseCode(4001), "client going away").expect("close");
    assert_eq!(c.ws.state(), State::Closing);
    let events = c.run_to_eof();
    // Tungstenite echoes our frame.
    assert_eq!(
        events,
        [WsEvent::Close { code: Some(CloseCode(4001)), reason: "client going away".to_owned() }]
    );
    assert_eq!(c.ws.state(), State::Closed);
    check_server_close(server.join().expect("server"), 4001, "client going away");
}

#[test]
fn sixteen_mib_each_way() {
    let (addr, server) = spawn_server(None, |ws| {
        match ws.read().expect("read") {
            TMessage::Binary(b) => {
                assert_eq!(b.len(), BIG);
                assert!(b[..] == pseudo_random(BIG, 1)[..], "16 MiB from the client differs");
            }
            other => panic!("expected binary, got {:?}", other.len()),
        }
        ws.send(TMessage::binary(pseudo_random(BIG, 2))).expect("send big");
        check_server_close(server_await_close(ws), 1000, "done");
    });
    let config = Config { max_frame_len: BIG as u32, max_message_len: BIG as u32, ..Config::default() };
    let (mut c, _) = Client::open(addr, config, &[]);
    c.ws.send(MessageKind::Binary, pseudo_random(BIG, 1)).expect("send big");
    match c.next_message() {
        Message::Binary(b) => {
            assert_eq!(b.len(), BIG);
            assert!(b == pseudo_random(BIG, 2), "16 MiB from the server differs");
        }
        other => panic!("expected binary, got {} text bytes", other.as_bytes().len()),
    }
    c.close_normally();
    server.join().expect("server");
}

#[test]
fn handshake_rejected_401() {
    const BODY: &str = r#"{"error":"invalid apikey"}"#;
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).expect("read request");
            assert!(n > 0, "client closed before sending its request");
            request.extend_from_slice(&buf[..n]);
        }
        let response = format!(
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{BODY}",
            BODY.len()
        );
        s.write_all(response.as_bytes()).expect("write response");
        request
        // Dropping the socket ends TCP.
    });
    let mut c = Client::connect(addr, Config::default(), &[]);
    let events = c.run_to_eof();
    assert_eq!(events, [WsEvent::Rejected { status: 401, body: BODY.as_bytes().to_vec() }]);
    assert_eq!(c.ws.state(), State::Closed);
    let request = String::from_utf8(server.join().expect("server")).expect("ascii request");
    assert!(request.starts_with("GET /realtime/v1/websocket?vsn=2.0.0 HTTP/1.1\r\n"), "{request}");
}

// ---------------------------------------------------------------------------------------------
// In-memory: control frames between the fragments of an outgoing message
// ---------------------------------------------------------------------------------------------

/// A stream whose reads come from the bytes the client wrote and whose writes are discarded.
struct Replay {
    input: std::io::Cursor<Vec<u8>>,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends a 10 000-byte message in 1000-byte frames, writing 2500 bytes, then a server ping (and
/// optionally our close) arrives; returns what tungstenite, as the server, reads from the bytes.
fn interleave(then_close: bool) -> Vec<TMessage> {
    use realtime_core::ws::{Connection, Event};
    let payload = pseudo_random(10_000, 9);
    let config = Config { send_frame_len: 1000, ..Config::default() };
    let mut conn = Connection::new_open(config, [1; 32]).expect("config");
    let mut wire = Vec::new();
    let mut out = [0u8; 2500];
    conn.start_message(MessageKind::Binary, &payload).expect("start");
    let t = conn.poll_transmit(&mut out, &payload);
    assert_eq!((t.len, t.message_done), (2500, false));
    wire.extend_from_slice(&out[..t.len]);
    // An unmasked server ping "x".
    let read = conn.handle_input(Instant::ZERO, &[0x89, 0x01, b'x']);
    assert_eq!(read.consumed, 3);
    assert_eq!(read.event, Some(Event::Ping(b"x")));
    if then_close {
        conn.close(Instant::ZERO, CloseCode::GOING_AWAY, "bye").expect("close");
    }
    loop {
        let t = conn.poll_transmit(&mut out, &payload);
        wire.extend_from_slice(&out[..t.len]);
        if t.len == 0 {
            break;
        }
    }
    let mut server = tungstenite::WebSocket::from_raw_socket(
        Replay { input: std::io::Cursor::new(wire) },
        tungstenite::protocol::Role::Server,
        None,
    );
    let mut got = Vec::new();
    loop {
        match server.read() {
            Ok(m) => got.push(m),
            Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::UnexpectedEof => break,
            // The end of the replayed bytes.
            Err(tungstenite::Error::ConnectionClosed)
            | Err(tungstenite::Error::Protocol(TProtocolError::ResetWithoutClosingHandshake)) => {
                break;
            }
            Err(e) => panic!("tungstenite rejected our bytes: {e}"),
        }
    }
    got
}

#[test]
fn pong_between_fragments_is_accepted() {
    let got = interleave(false);
    assert_eq!(got, [TMessage::Pong(b"x".to_vec().into()), TMessage::binary(pseudo_random(10_000, 9))]);
}

#[test]
fn close_during_fragmented_message_is_accepted() {
    // The message stops after its current frame; the pong owed for the ping received before
    // `close` still goes out (RFC 6455 section 5.5.2), then the close with its reason.
    let got = interleave(true);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], TMessage::Pong(b"x".to_vec().into()));
    match &got[1] {
        TMessage::Close(Some(f)) => {
            assert_eq!((u16::from(f.code), f.reason.as_str()), (1001, "bye"));
        }
        other => panic!("expected close, got {other:?}"),
    }
}
