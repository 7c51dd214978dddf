//! permessage-deflate cells: `deflate_recv` (inflate compressed server messages into whole
//! messages, each touched) and `deflate_send` (compress and frame client messages into a send
//! buffer drained when full), at 1 KiB and 64 KiB of Realtime-like JSON, context takeover on,
//! compression level 1 for both senders. Ours is the core's `WebSocket`; yawc its `WebSocket`
//! over the in-memory stream with the same extension agreed. Node's `ws` is measured by
//! `benches/js/deflate.mjs` on the same messages (`deflate_report.py` runs both).

use core::hint::black_box;

use bytes::Bytes;
use flate2::{Compress, Compression, FlushCompress};
use futures::{SinkExt as _, StreamExt as _};
use realtime_core::Instant;
use realtime_core::ws::deflate::Params;
use realtime_core::ws::{Config, DeflateConfig, MessageKind, WebSocket, WsEvent};

use crate::transport::{AsyncStream, CHUNK, RecvBuf, SEND_BUF, Wire, poll_once};
use crate::{Batch, json_text, push_server_frame, touch};

/// The sizes of the deflate groups.
pub const SIZES: [(usize, &str); 2] = [(1024, "1KiB"), (64 << 10, "64KiB")];
/// Compression level of both senders (our default; zlib's scale for yawc).
pub const LEVEL: u8 = 1;
/// Compression level of the server that wrote the receive groups' wire image (zlib's default).
pub const SERVER_LEVEL: u32 = 6;

/// One cell's input: N JSON messages and the server's compressed wire image of them.
pub struct DeflateCase {
    /// Payload bytes per message.
    pub size: usize,
    /// Messages per batch (1 MiB of payload, at least 2).
    pub n: usize,
    msgs: Vec<Bytes>,
    /// N compressed frames (RSV1), one deflate stream with context takeover.
    wire: Vec<u8>,
    /// Compressed payload bytes of the wire image.
    pub wire_payload: usize,
}

impl DeflateCase {
    /// Builds the N messages and their compressed image.
    pub fn new(size: usize) -> Self {
        let n = (crate::BATCH_BYTES / size).max(2);
        let text = json_text(n * size);
        let msgs: Vec<Bytes> = text.chunks_exact(size).map(Bytes::copy_from_slice).collect();
        let mut z = Compress::new(Compression::new(SERVER_LEVEL), false);
        let mut wire = Vec::new();
        let mut wire_payload = 0;
        for m in &msgs {
            let c = zlib_deflate(&mut z, m);
            wire_payload += c.len();
            let at = wire.len();
            push_server_frame(&mut wire, 0x1, &c);
            wire[at] |= 0x40;
        }
        Self { size, n, msgs, wire, wire_payload }
    }

    /// The messages.
    pub fn messages(&self) -> &[Bytes] {
        &self.msgs
    }
}

/// zlib's (flate2) raw deflate of one message, sync-flushed, tail left off.
fn zlib_deflate(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 64);
    let start = c.total_in();
    loop {
        let used = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        c.compress_vec(&msg[used..], &mut out, FlushCompress::Sync).expect("deflate");
        if (c.total_in() - start) as usize == msg.len() && out.len() < out.capacity() {
            break;
        }
    }
    out.truncate(out.len() - 4);
    out
}

/// A deflate cell: state built once, one call handles the case's N messages.
pub type DeflateSetup = for<'a> fn(&'a DeflateCase) -> Batch<'a>;

/// One implementation of a deflate group.
#[derive(Clone, Copy)]
pub struct DeflateImpl {
    /// Criterion's function id.
    pub name: &'static str,
    /// Builds the state and the batch.
    pub setup: DeflateSetup,
}

/// `deflate_recv` implementations.
pub const RECV: &[DeflateImpl] =
    &[DeflateImpl { name: "ours", setup: recv_ours }, DeflateImpl { name: "yawc", setup: recv_yawc }];
/// `deflate_send` implementations.
pub const SEND: &[DeflateImpl] =
    &[DeflateImpl { name: "ours", setup: send_ours }, DeflateImpl { name: "yawc", setup: send_yawc }];

fn ours_config() -> Config {
    Config {
        max_frame_len: 16 << 20,
        max_message_len: 16 << 20,
        deflate: Some(DeflateConfig { compress_min_len: Some(0), level: LEVEL, ..DeflateConfig::default() }),
        ..Config::default()
    }
}

/// Ours: the wire image into a 128 KiB read buffer, `handle_input`, whole messages out.
fn recv_ours(case: &DeflateCase) -> Batch<'_> {
    let mut ws = WebSocket::new_open_deflate(ours_config(), [7; 32], Params::default()).expect("config");
    let mut wire = Wire::from_bytes(case.wire.clone());
    let mut buf = RecvBuf::new();
    Box::new(move || {
        let (mut msgs, mut bytes) = (0, 0);
        while msgs < case.n {
            buf.fill(&mut wire);
            let used = ws.handle_input(Instant::ZERO, &buf.buf[buf.start..buf.end]);
            buf.start += used;
            while let Some(e) = ws.poll_event() {
                match e {
                    WsEvent::Message(m) => {
                        bytes += touch(m.as_bytes());
                        msgs += 1;
                    }
                    other => panic!("ours: {other:?}"),
                }
            }
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    })
}

fn yawc_options() -> yawc::Options {
    yawc::Options::default()
        .with_compression_level(yawc::CompressionLevel::new(u32::from(LEVEL)))
        .with_compression_threshold(0)
        .with_limits(16 << 20, 16 << 20)
}

fn yawc_socket(wire: Option<Wire>) -> yawc::WebSocket<AsyncStream> {
    yawc::WebSocket::from_stream_with_extensions(
        AsyncStream { wire },
        yawc::Role::Client,
        Some("permessage-deflate"),
        yawc_options(),
    )
    .expect("yawc with deflate")
}

/// yawc: its `WebSocket` (frames, inflation) over the in-memory stream.
fn recv_yawc(case: &DeflateCase) -> Batch<'_> {
    let mut ws = yawc_socket(Some(Wire::from_bytes(case.wire.clone())));
    Box::new(move || {
        let mut bytes = 0;
        for _ in 0..case.n {
            let frame = poll_once(ws.next()).expect("a frame");
            bytes += touch(frame.payload());
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    })
}

/// Ours: `send` (the app's `Vec`), compressed as it starts, into a 128 KiB send buffer.
fn send_ours(case: &DeflateCase) -> Batch<'_> {
    let mut ws = WebSocket::new_open_deflate(ours_config(), [7; 32], Params::default()).expect("config");
    let mut out = vec![0u8; SEND_BUF];
    Box::new(move || {
        for m in &case.msgs {
            ws.send(MessageKind::Text, m.to_vec()).expect("send");
            loop {
                let n = ws.poll_transmit(&mut out);
                if n == 0 {
                    break;
                }
                black_box(&out[..n]);
            }
        }
    })
}

/// yawc: `send` of a text frame (compressed, framed, written to the discarding stream).
fn send_yawc(case: &DeflateCase) -> Batch<'_> {
    let mut ws = yawc_socket(None);
    Box::new(move || {
        for m in &case.msgs {
            poll_once(ws.send(yawc::Frame::text(m.clone()))).expect("yawc send");
        }
    })
}

/// Compressed bytes each sender writes for the case's messages (frames included), divided
/// by the payload bytes: the compression ratio (lower is smaller).
pub fn send_ratios(case: &DeflateCase) -> [(&'static str, f64); 2] {
    let raw = (case.n * case.size) as f64;
    let mut ws = WebSocket::new_open_deflate(ours_config(), [7; 32], Params::default()).expect("config");
    let mut out = vec![0u8; CHUNK];
    let mut ours = 0;
    for m in &case.msgs {
        ws.send(MessageKind::Text, m.to_vec()).expect("send");
        loop {
            let n = ws.poll_transmit(&mut out);
            if n == 0 {
                break;
            }
            ours += n;
        }
    }
    let counted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut ws = yawc::WebSocket::from_stream_with_extensions(
        Counting { total: counted.clone() },
        yawc::Role::Client,
        Some("permessage-deflate"),
        yawc_options(),
    )
    .expect("yawc");
    for m in &case.msgs {
        poll_once(ws.send(yawc::Frame::text(m.clone()))).expect("yawc send");
    }
    let yawc = counted.load(std::sync::atomic::Ordering::Relaxed);
    [("ours", ours as f64 / raw), ("yawc", yawc as f64 / raw)]
}

/// A writer that counts what it is given.
struct Counting {
    total: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl tokio::io::AsyncRead for Counting {
    fn poll_read(
        self: core::pin::Pin<&mut Self>,
        _: &mut core::task::Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> core::task::Poll<std::io::Result<()>> {
        core::task::Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for Counting {
    fn poll_write(
        self: core::pin::Pin<&mut Self>,
        _: &mut core::task::Context<'_>,
        buf: &[u8],
    ) -> core::task::Poll<std::io::Result<usize>> {
        self.total.fetch_add(buf.len(), std::sync::atomic::Ordering::Relaxed);
        core::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: core::pin::Pin<&mut Self>,
        _: &mut core::task::Context<'_>,
    ) -> core::task::Poll<std::io::Result<()>> {
        core::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: core::pin::Pin<&mut Self>,
        _: &mut core::task::Context<'_>,
    ) -> core::task::Poll<std::io::Result<()>> {
        core::task::Poll::Ready(Ok(()))
    }
}
