//! Receive paths: `client_recv_binary` and `client_recv_text`.

use bytes::BytesMut;

use realtime_core::Instant;
use realtime_core::ws::{Connection, Event};

use crate::transport::{AsyncStream, CHUNK, MAX_LEN, RecvBuf, SyncStream, Wire, poll_once};
use crate::{Batch, Case, ours_config, touch};

/// Our core: `handle_input` on the read buffer, one event per call, payload chunks borrowed.
pub(crate) fn ours(case: &Case) -> Batch<'_> {
    let mut conn = Connection::new_open(ours_config(), [7u8; 32]).expect("config");
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    let kind = case.ws_kind();
    Box::new(move || {
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
    })
}

/// tungstenite: the full message layer over a blocking stream (its own 128 KiB read buffer).
pub(crate) fn tungstenite(case: &Case) -> Batch<'_> {
    use tungstenite::protocol::{Role, WebSocketConfig};
    use tungstenite::{Message, WebSocket};
    let config = WebSocketConfig::default().max_message_size(Some(MAX_LEN)).max_frame_size(Some(MAX_LEN));
    let stream = SyncStream { wire: Some(Wire::new(case)) };
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, Some(config));
    Box::new(move || {
        let mut bytes = 0;
        for _ in 0..case.n {
            bytes += match ws.read().expect("tungstenite read") {
                Message::Binary(p) => touch(&p),
                Message::Text(t) => touch(t.as_bytes()),
                m => panic!("unexpected message {m:?}"),
            };
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    })
}

/// fastwebsockets: `WebSocket::read_frame` (checks UTF-8 of text frames with simdutf8).
pub(crate) fn fastwebsockets(case: &Case) -> Batch<'_> {
    use fastwebsockets::{Role, WebSocket};
    let mut ws = WebSocket::after_handshake(AsyncStream { wire: Some(Wire::new(case)) }, Role::Client);
    ws.set_max_message_size(MAX_LEN);
    Box::new(move || {
        let mut bytes = 0;
        for _ in 0..case.n {
            let frame = poll_once(ws.read_frame()).expect("fastwebsockets read");
            bytes += touch(&frame.payload);
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    })
}

/// yawc: the frame codec only (`codec::Decoder` on a `BytesMut`), no UTF-8, no control frames.
pub(crate) fn yawc(case: &Case) -> Batch<'_> {
    use tokio_util::codec::Decoder as _;
    let mut dec = yawc::codec::Decoder::new(yawc::Role::Client, MAX_LEN);
    let mut wire = Wire::new(case);
    let mut buf = BytesMut::with_capacity(CHUNK);
    Box::new(move || {
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
    })
}

/// websocket-sans-io: frame decoder only, payload chunks in place.
pub(crate) fn wsio(case: &Case) -> Batch<'_> {
    wsio_with(case, false)
}

/// websocket-sans-io plus [`Utf8Stream`]: a model of a streaming text path.
pub(crate) fn wsio_simdutf8(case: &Case) -> Batch<'_> {
    wsio_with(case, true)
}

fn wsio_with(case: &Case, check_utf8: bool) -> Batch<'_> {
    use websocket_sans_io::{Opcode, WebsocketFrameDecoder, WebsocketFrameEvent};
    let mut dec = WebsocketFrameDecoder::new();
    let mut utf8 = Utf8Stream::default();
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    Box::new(move || {
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
    })
}

/// embedded-websocket: client `read` from the read buffer into a caller buffer (a copy).
pub(crate) fn embedded(case: &Case) -> Batch<'_> {
    use embedded_websocket::{Error, WebSocketClient, WebSocketState};
    use rand08::SeedableRng as _;
    let mut ws = WebSocketClient::new_client(rand08::rngs::StdRng::seed_from_u64(7));
    ws.state = WebSocketState::Open; // skip the opening handshake
    let mut wire = Wire::new(case);
    let mut rb = RecvBuf::new();
    let mut to = vec![0u8; CHUNK];
    Box::new(move || {
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
    })
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
