//! In-memory WebSocket codec benchmarks: our core against peer crates, client side.
//!
//! Method (shared/spec/websocket.md sections 3-4): each iteration handles N = max(2, 1 MiB /
//! size) messages of one payload size, and criterion's throughput is the payload bytes. Library
//! state is built once per cell and reused. The "socket" is an in-memory reader cycling over a
//! pre-built wire image of exactly N frames, which hands out at most 128 KiB per read (like a
//! `recv()`), and a writer that discards. Every receive path pays exactly one copy of the wire
//! bytes into a read buffer (ours, or the library's own).
//!
//! Groups:
//! - `client_recv_binary`: unmasked server-to-client binary frames, each payload touched.
//! - `client_recv_text`: the same with ASCII JSON-like text, for implementations that check UTF-8.
//! - `client_send`: encode and mask a binary message into a send buffer drained when full.
//!
//! `memcpy_floor` is in every group: one `copy_from_slice` of each message's payload from a
//! source to a destination buffer. Each implementation is one small function; the tables at the
//! bottom list them per group.
//!
//! Run: `cargo bench -p realtime-benches --bench ws` (or `python3 benches/report.py`). On AMD
//! CPUs set `GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=100000000` (report.py does):
//! glibc's `rep movsb` copies are alignment-dependent there and swamp the differences
//! (benches/README.md).

use core::future::Future;
use core::hint::black_box;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use core::time::Duration;
use std::io;

use bytes::{Bytes, BytesMut};
use criterion::{Bencher, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use realtime_core::Instant;
use realtime_core::ws::{Config, Connection, Event, MessageKind};

/// Payload sizes and their labels (the labels name criterion's directories).
const SIZES: [(usize, &str); 5] =
    [(16, "16B"), (125, "125B"), (1024, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];
/// Payload bytes per iteration (at least 2 messages).
const BATCH_BYTES: usize = 1 << 20;
/// Largest single read from the in-memory socket, and the size of the sans-IO read buffers
/// (tungstenite's default read buffer is the same).
const CHUNK: usize = 128 << 10;
/// Send buffer: drained (discarded) when the next write does not fit. Encoders that need a
/// whole frame contiguous (embedded-websocket, yawc) grow it to one frame.
const SEND_BUF: usize = 128 << 10;
/// Room for any frame header (2 + 8 + 4 mask).
const MAX_HEADER: usize = 14;
/// Receive limits set on every implementation that has them: above the 1 MiB messages.
const MAX_LEN: usize = 16 << 20;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Binary,
    Text,
}

/// One cell's input: N payloads back to back and the server's wire image of them.
struct Case {
    size: usize,
    n: usize,
    kind: Kind,
    /// Message `i` is `src[i * size..][..size]`.
    src: Vec<u8>,
    /// N unmasked frames, one per message.
    wire: Vec<u8>,
}

impl Case {
    fn new(size: usize, kind: Kind) -> Self {
        let n = (BATCH_BYTES / size).max(2);
        let src = match kind {
            Kind::Binary => random_bytes(n * size, 0x9E37_79B9_7F4A_7C15),
            Kind::Text => json_text(n * size),
        };
        let opcode = match kind {
            Kind::Binary => 0x2,
            Kind::Text => 0x1,
        };
        let mut wire = Vec::with_capacity(n * (size + MAX_HEADER));
        for chunk in src.chunks_exact(size) {
            push_server_frame(&mut wire, opcode, chunk);
        }
        Self { size, n, kind, src, wire }
    }

    fn msg(&self, i: usize) -> &[u8] {
        &self.src[i * self.size..][..self.size]
    }

    fn ws_kind(&self) -> MessageKind {
        match self.kind {
            Kind::Binary => MessageKind::Binary,
            Kind::Text => MessageKind::Text,
        }
    }
}

/// A final, unmasked frame as a server sends it.
fn push_server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn mask(&mut self) -> [u8; 4] {
        ((self.next() >> 32) as u32).to_ne_bytes()
    }
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// ASCII Phoenix-like JSON, cut to `len` bytes (every cut of ASCII is valid UTF-8).
fn json_text(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 256);
    let mut i = 0u64;
    while v.len() < len {
        let line = format!(
            r#"{{"topic":"realtime:public:messages","event":"postgres_changes","payload":{{"data":{{"id":{i},"body":"hello world","user_id":"8f2c-{:x}"}},"ids":[{i}]}},"ref":"{}"}}"#,
            i.wrapping_mul(0x9E37_79B9),
            i % 97,
        );
        v.extend_from_slice(line.as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// What every receive path does with each payload chunk: look at its length and first byte.
/// Returns the length, which debug builds (`cargo test --benches`) add up and check.
#[inline(always)]
fn touch(payload: &[u8]) -> usize {
    black_box(payload.len());
    if let Some(&b) = payload.first() {
        black_box(b);
    }
    payload.len()
}

// ---------------------------------------------------------------------------------------------
// In-memory transport
// ---------------------------------------------------------------------------------------------

/// The server side of the socket: cycles over the wire image, at most `CHUNK` bytes per read
/// and never across the end of the image (so every iteration starts at a frame boundary).
struct Wire {
    data: Vec<u8>,
    pos: usize,
}

impl Wire {
    fn new(case: &Case) -> Self {
        Self { data: case.wire.clone(), pos: 0 }
    }

    fn next_len(&self, room: usize) -> usize {
        room.min(CHUNK).min(self.data.len() - self.pos)
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.data.len() {
            self.pos = 0;
        }
    }

    /// Like `recv()`: copies the next bytes into `dst`.
    fn recv(&mut self, dst: &mut [u8]) -> usize {
        let n = self.next_len(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.advance(n);
        n
    }

    /// `recv()` into a growable buffer (at least `CHUNK` of room).
    fn recv_bytes(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.next_len(CHUNK);
        dst.extend_from_slice(&self.data[self.pos..self.pos + n]);
        self.advance(n);
        n
    }
}

/// A fixed 128 KiB read buffer for the sans-IO decoders: `data()` is what is not consumed yet.
struct RecvBuf {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl RecvBuf {
    fn new() -> Self {
        Self { buf: vec![0; CHUNK].into_boxed_slice(), start: 0, end: 0 }
    }

    /// Moves the unconsumed tail (a partial header at most) to the front, then reads.
    fn fill(&mut self, wire: &mut Wire) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.end += wire.recv(&mut self.buf[self.end..]);
    }
}

/// A blocking stream: reads cycle over the wire image, writes are discarded.
struct SyncStream {
    wire: Option<Wire>,
}

impl io::Read for SyncStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.wire {
            Some(w) => Ok(w.recv(buf)),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl io::Write for SyncStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The async twin of [`SyncStream`]; it is never `Pending`.
struct AsyncStream {
    wire: Option<Wire>,
}

impl tokio::io::AsyncRead for AsyncStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(w) = &mut self.get_mut().wire {
            let n = w.next_len(buf.remaining());
            buf.put_slice(&w.data[w.pos..w.pos + n]);
            w.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for AsyncStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        black_box(buf.len());
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(black_box(bufs.iter().map(|b| b.len()).sum())))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls a future once with a no-op waker; the in-memory streams never return `Pending`.
fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory stream went pending"),
    }
}

/// The send buffer: writes go to `room()`, and it is drained (discarded) when full.
struct SendBuf {
    buf: Vec<u8>,
    len: usize,
}

impl SendBuf {
    fn new() -> Self {
        Self { buf: vec![0; SEND_BUF], len: 0 }
    }

    fn drain(&mut self) {
        black_box(&self.buf[..self.len]);
        self.len = 0;
    }

    /// Free space of at least `need` bytes (draining first if needed, growing if it must).
    fn room(&mut self, need: usize) -> &mut [u8] {
        if self.buf.len() - self.len < need {
            self.drain();
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        &mut self.buf[self.len..]
    }
}

// ---------------------------------------------------------------------------------------------
// The floor
// ---------------------------------------------------------------------------------------------

/// One `copy_from_slice` per message from the N-message source to a destination of the same
/// size: what any implementation that hands out (or writes) the payload must at least do.
fn memcpy_floor(b: &mut Bencher<'_>, case: &Case) {
    let mut dst = vec![0u8; case.src.len()];
    b.iter(|| {
        let mut bytes = 0;
        for i in 0..case.n {
            let d = &mut dst[i * case.size..][..case.size];
            d.copy_from_slice(case.msg(i));
            bytes += touch(d);
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

// ---------------------------------------------------------------------------------------------
// Receive
// ---------------------------------------------------------------------------------------------

fn ours_config() -> Config {
    Config { max_frame_len: MAX_LEN as u32, max_message_len: MAX_LEN as u32, ..Config::default() }
}

/// Our core: `handle_input` on the read buffer, one event per call, payload chunks borrowed.
fn recv_ours(b: &mut Bencher<'_>, case: &Case) {
    let mut conn = Connection::new_open(ours_config(), [7u8; 32]).expect("config");
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    let kind = case.ws_kind();
    b.iter(|| {
        let (mut msgs, mut bytes) = (0, 0);
        while msgs < case.n {
            rb.fill(&mut wire);
            loop {
                let r = conn.handle_input(Instant::ZERO, &rb.buf[rb.start..rb.end]);
                rb.start += r.consumed;
                match r.event {
                    Some(Event::Data(d)) => {
                        debug_assert!(d.kind == kind);
                        bytes += touch(d.payload);
                        msgs += usize::from(d.fin);
                    }
                    Some(e) => panic!("unexpected event {e:?}"),
                    None if r.consumed == 0 => break,
                    None => {}
                }
            }
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// tungstenite: the full message layer over a blocking stream (its own 128 KiB read buffer).
fn recv_tungstenite(b: &mut Bencher<'_>, case: &Case) {
    use tungstenite::protocol::{Role, WebSocketConfig};
    use tungstenite::{Message, WebSocket};
    let config = WebSocketConfig::default().max_message_size(Some(MAX_LEN)).max_frame_size(Some(MAX_LEN));
    let stream = SyncStream { wire: Some(Wire::new(case)) };
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, Some(config));
    b.iter(|| {
        let mut bytes = 0;
        for _ in 0..case.n {
            bytes += match ws.read().expect("tungstenite read") {
                Message::Binary(p) => touch(&p),
                Message::Text(t) => touch(t.as_bytes()),
                m => panic!("unexpected message {m:?}"),
            };
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// fastwebsockets: `WebSocket::read_frame` (checks UTF-8 of text frames with simdutf8).
fn recv_fastwebsockets(b: &mut Bencher<'_>, case: &Case) {
    use fastwebsockets::{Role, WebSocket};
    let mut ws = WebSocket::after_handshake(AsyncStream { wire: Some(Wire::new(case)) }, Role::Client);
    ws.set_max_message_size(MAX_LEN);
    b.iter(|| {
        let mut bytes = 0;
        for _ in 0..case.n {
            let frame = poll_once(ws.read_frame()).expect("fastwebsockets read");
            bytes += touch(&frame.payload);
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// yawc: the frame codec only (`codec::Decoder` on a `BytesMut`), no UTF-8, no control frames.
fn recv_yawc(b: &mut Bencher<'_>, case: &Case) {
    use tokio_util::codec::Decoder as _;
    let mut dec = yawc::codec::Decoder::new(yawc::Role::Client, MAX_LEN);
    let mut wire = Wire::new(case);
    let mut buf = BytesMut::with_capacity(CHUNK);
    b.iter(|| {
        let (mut msgs, mut bytes) = (0, 0);
        while msgs < case.n {
            buf.reserve(CHUNK);
            wire.recv_bytes(&mut buf);
            while let Some(frame) = dec.decode(&mut buf).expect("yawc decode") {
                bytes += touch(frame.payload());
                msgs += 1;
            }
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// websocket-sans-io: frame decoder only, payload chunks in place.
fn recv_wsio(b: &mut Bencher<'_>, case: &Case) {
    recv_wsio_with(b, case, false);
}

/// websocket-sans-io plus [`Utf8Stream`]: a model of a streaming text path.
fn recv_wsio_simdutf8(b: &mut Bencher<'_>, case: &Case) {
    recv_wsio_with(b, case, true);
}

fn recv_wsio_with(b: &mut Bencher<'_>, case: &Case, check_utf8: bool) {
    use websocket_sans_io::{Opcode, WebsocketFrameDecoder, WebsocketFrameEvent};
    let mut dec = WebsocketFrameDecoder::new();
    let mut utf8 = Utf8Stream::default();
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    b.iter(|| {
        let (mut msgs, mut bytes) = (0, 0);
        while msgs < case.n {
            rb.fill(&mut wire);
            loop {
                let r = dec.add_data(&mut rb.buf[rb.start..rb.end]).expect("wsio decode");
                match r.event {
                    Some(WebsocketFrameEvent::PayloadChunk { original_opcode }) => {
                        let chunk = &rb.buf[rb.start..rb.start + r.consumed_bytes];
                        if check_utf8 && original_opcode == Opcode::Text {
                            assert!(utf8.feed(chunk), "invalid UTF-8");
                        }
                        bytes += touch(chunk);
                    }
                    Some(WebsocketFrameEvent::End { frame_info, original_opcode }) if frame_info.fin => {
                        if check_utf8 && original_opcode == Opcode::Text {
                            assert!(utf8.finish(), "truncated UTF-8");
                        }
                        msgs += 1;
                    }
                    Some(WebsocketFrameEvent::Start { .. } | WebsocketFrameEvent::End { .. }) => {}
                    None if r.consumed_bytes == 0 => break,
                    None => {}
                }
                rb.start += r.consumed_bytes;
            }
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// embedded-websocket: client `read` from the read buffer into a caller buffer (a copy).
fn recv_embedded(b: &mut Bencher<'_>, case: &Case) {
    use embedded_websocket::{Error, WebSocketClient, WebSocketState};
    use rand08::SeedableRng as _;
    let mut ws = WebSocketClient::new_client(rand08::rngs::StdRng::seed_from_u64(7));
    ws.state = WebSocketState::Open; // skip the opening handshake
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    let mut to = vec![0u8; CHUNK];
    b.iter(|| {
        let (mut msgs, mut bytes) = (0, 0);
        while msgs < case.n {
            rb.fill(&mut wire);
            while rb.start < rb.end {
                match ws.read(&rb.buf[rb.start..rb.end], &mut to) {
                    Ok(r) => {
                        rb.start += r.len_from;
                        bytes += touch(&to[..r.len_to]);
                        msgs += usize::from(r.end_of_message);
                    }
                    Err(Error::ReadFrameIncomplete) => break,
                    Err(e) => panic!("embedded-websocket read: {e:?}"),
                }
            }
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    });
}

/// Streaming UTF-8 check over payload chunks: `simdutf8::basic` on each chunk; on failure,
/// `simdutf8::compat` tells an invalid sequence from a code point cut at the chunk's end,
/// whose bytes (at most 3) are carried into the next chunk.
#[derive(Default)]
struct Utf8Stream {
    carry: [u8; 4],
    carry_len: usize,
}

impl Utf8Stream {
    fn feed(&mut self, mut chunk: &[u8]) -> bool {
        if self.carry_len > 0 {
            let width = match self.carry[0] {
                0xC2..=0xDF => 2,
                0xE0..=0xEF => 3,
                _ => 4,
            };
            let take = (width - self.carry_len).min(chunk.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&chunk[..take]);
            self.carry_len += take;
            chunk = &chunk[take..];
            if self.carry_len < width {
                return true;
            }
            if simdutf8::basic::from_utf8(&self.carry[..width]).is_err() {
                return false;
            }
            self.carry_len = 0;
        }
        if simdutf8::basic::from_utf8(chunk).is_ok() {
            return true;
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => true,
            Err(e) if e.error_len().is_none() => {
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len();
                true
            }
            Err(_) => false,
        }
    }

    /// End of message: no code point may be left open.
    fn finish(&mut self) -> bool {
        let ok = self.carry_len == 0;
        self.carry_len = 0;
        ok
    }
}

// ---------------------------------------------------------------------------------------------
// Send
// ---------------------------------------------------------------------------------------------

/// Our core: `start_message`, then `poll_transmit` copies and masks into the send buffer.
fn send_ours(b: &mut Bencher<'_>, case: &Case) {
    let mut conn = Connection::new_open(ours_config(), [7u8; 32]).expect("config");
    let mut sb = SendBuf::new();
    b.iter(|| {
        for i in 0..case.n {
            let payload = case.msg(i);
            conn.start_message(MessageKind::Binary, payload).expect("start_message");
            loop {
                let t = conn.poll_transmit(sb.room(MAX_HEADER), payload);
                sb.len += t.len;
                if t.message_done {
                    break;
                }
                sb.drain();
            }
        }
    });
}

/// tungstenite: `write` per message (copy into its out buffer, then mask), one `flush` per batch.
fn send_tungstenite(b: &mut Bencher<'_>, case: &Case) {
    use tungstenite::protocol::Role;
    use tungstenite::{Message, WebSocket};
    let mut ws = WebSocket::from_raw_socket(SyncStream { wire: None }, Role::Client, None);
    let src = Bytes::from(case.src.clone());
    b.iter(|| {
        for i in 0..case.n {
            let payload = src.slice(i * case.size..(i + 1) * case.size);
            ws.write(Message::Binary(payload)).expect("tungstenite write");
        }
        ws.flush().expect("tungstenite flush");
    });
}

/// fastwebsockets: `write_frame` with a borrowed payload (it copies to mask, then writes).
fn send_fastwebsockets(b: &mut Bencher<'_>, case: &Case) {
    use fastwebsockets::{Frame, Payload, Role, WebSocket};
    let mut ws = WebSocket::after_handshake(AsyncStream { wire: None }, Role::Client);
    b.iter(|| {
        for i in 0..case.n {
            let frame = Frame::binary(Payload::Borrowed(case.msg(i)));
            poll_once(ws.write_frame(frame)).expect("fastwebsockets write");
        }
    });
}

/// yawc: `codec::Encoder` (fused copy + mask) into a `BytesMut` drained when full.
fn send_yawc(b: &mut Bencher<'_>, case: &Case) {
    use tokio_util::codec::Encoder as _;
    let mut enc = yawc::codec::Encoder::new(yawc::Role::Client);
    let mut dst = BytesMut::with_capacity(SEND_BUF);
    let src = Bytes::from(case.src.clone());
    b.iter(|| {
        for i in 0..case.n {
            if dst.capacity() - dst.len() < case.size + MAX_HEADER {
                black_box(&dst[..]);
                dst.clear();
            }
            let payload = src.slice(i * case.size..(i + 1) * case.size);
            enc.encode(yawc::Frame::binary(payload), &mut dst).expect("yawc encode");
        }
    });
}

/// websocket-sans-io: header, then copy the payload into the send buffer and mask it in place.
fn send_wsio(b: &mut Bencher<'_>, case: &Case) {
    use websocket_sans_io::{FrameInfo, Opcode, WebsocketFrameEncoder};
    let mut enc = WebsocketFrameEncoder::new();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut sb = SendBuf::new();
    b.iter(|| {
        for i in 0..case.n {
            let payload = case.msg(i);
            let header = enc.start_frame(&FrameInfo {
                opcode: Opcode::Binary,
                payload_length: payload.len() as u64,
                mask: Some(rng.mask()),
                fin: true,
                reserved: 0,
            });
            sb.room(header.len())[..header.len()].copy_from_slice(&header);
            sb.len += header.len();
            let mut off = 0;
            while off < payload.len() {
                let room = sb.room(1);
                let k = room.len().min(payload.len() - off);
                room[..k].copy_from_slice(&payload[off..off + k]);
                enc.transform_frame_payload(&mut room[..k]);
                sb.len += k;
                off += k;
            }
        }
    });
}

/// embedded-websocket: client `write` (bytewise masking) of a whole frame into the send buffer.
fn send_embedded(b: &mut Bencher<'_>, case: &Case) {
    use embedded_websocket::{WebSocketClient, WebSocketSendMessageType, WebSocketState};
    use rand08::SeedableRng as _;
    let mut ws = WebSocketClient::new_client(rand08::rngs::StdRng::seed_from_u64(7));
    ws.state = WebSocketState::Open;
    let mut sb = SendBuf::new();
    b.iter(|| {
        for i in 0..case.n {
            let to = sb.room(case.size + MAX_HEADER);
            let k =
                ws.write(WebSocketSendMessageType::Binary, true, case.msg(i), to).expect("embedded write");
            sb.len += k;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

type Impl = (&'static str, fn(&mut Bencher<'_>, &Case));

const RECV_BINARY: &[Impl] = &[
    ("memcpy_floor", memcpy_floor),
    ("ours", recv_ours),
    ("tungstenite", recv_tungstenite),
    ("fastwebsockets", recv_fastwebsockets),
    ("yawc_codec", recv_yawc),
    ("websocket_sans_io", recv_wsio),
    ("embedded_websocket", recv_embedded),
];

const RECV_TEXT: &[Impl] = &[
    ("memcpy_floor", memcpy_floor),
    ("ours", recv_ours),
    ("tungstenite", recv_tungstenite),
    ("fastwebsockets", recv_fastwebsockets),
    ("wsio_simdutf8", recv_wsio_simdutf8),
];

const SEND: &[Impl] = &[
    ("memcpy_floor", memcpy_floor),
    ("ours", send_ours),
    ("tungstenite", send_tungstenite),
    ("fastwebsockets", send_fastwebsockets),
    ("yawc_codec", send_yawc),
    ("websocket_sans_io", send_wsio),
    ("embedded_websocket", send_embedded),
];

/// Sizes outside, implementations inside: the implementations of one size run back to back.
fn run_group(c: &mut Criterion, name: &str, kind: Kind, impls: &[Impl]) {
    let mut group = c.benchmark_group(name);
    for (size, label) in SIZES {
        let case = Case::new(size, kind);
        group.throughput(Throughput::Bytes((case.n * size) as u64));
        for &(id, f) in impls {
            group.bench_with_input(BenchmarkId::new(id, label), &case, f);
        }
    }
    group.finish();
}

fn client_recv_binary(c: &mut Criterion) {
    run_group(c, "client_recv_binary", Kind::Binary, RECV_BINARY);
}

fn client_recv_text(c: &mut Criterion) {
    run_group(c, "client_recv_text", Kind::Text, RECV_TEXT);
}

fn client_send(c: &mut Criterion) {
    run_group(c, "client_send", Kind::Binary, SEND);
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1500))
}

criterion_group! {
    name = ws;
    config = config();
    targets = client_recv_binary, client_recv_text, client_send
}
criterion_main!(ws);
