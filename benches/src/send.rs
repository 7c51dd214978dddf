//! Send paths: `client_send`.

use core::hint::black_box;

use bytes::{Bytes, BytesMut};

use realtime_core::ws::{Connection, MessageKind};

use crate::transport::{AsyncStream, MAX_HEADER, SEND_BUF, SendBuf, SyncStream, poll_once};
use crate::{Batch, Case, XorShift, ours_config};

/// Our core: `start_message`, then `poll_transmit` copies and masks into the send buffer.
pub(crate) fn ours(case: &Case) -> Batch<'_> {
    let mut conn = Connection::new_open(ours_config(), [7u8; 32]).expect("config");
    let mut sb = SendBuf::new();
    Box::new(move || {
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
    })
}

/// tungstenite: `write` per message (copy into its out buffer, then mask), one `flush` per batch.
pub(crate) fn tungstenite(case: &Case) -> Batch<'_> {
    use tungstenite::protocol::Role;
    use tungstenite::{Message, WebSocket};
    let mut ws = WebSocket::from_raw_socket(SyncStream { wire: None }, Role::Client, None);
    let src = Bytes::from(case.src.clone());
    Box::new(move || {
        for i in 0..case.n {
            let payload = src.slice(i * case.size..(i + 1) * case.size);
            ws.write(Message::Binary(payload)).expect("tungstenite write");
        }
        ws.flush().expect("tungstenite flush");
    })
}

/// fastwebsockets: `write_frame` with a borrowed payload (it copies to mask, then writes).
pub(crate) fn fastwebsockets(case: &Case) -> Batch<'_> {
    use fastwebsockets::{Frame, Payload, Role, WebSocket};
    let mut ws = WebSocket::after_handshake(AsyncStream { wire: None }, Role::Client);
    Box::new(move || {
        for i in 0..case.n {
            let frame = Frame::binary(Payload::Borrowed(case.msg(i)));
            poll_once(ws.write_frame(frame)).expect("fastwebsockets write");
        }
    })
}

/// yawc: `codec::Encoder` (fused copy + mask) into a `BytesMut` drained when full.
pub(crate) fn yawc(case: &Case) -> Batch<'_> {
    use tokio_util::codec::Encoder as _;
    let mut enc = yawc::codec::Encoder::new(yawc::Role::Client);
    let mut dst = BytesMut::with_capacity(SEND_BUF);
    let src = Bytes::from(case.src.clone());
    Box::new(move || {
        for i in 0..case.n {
            if dst.capacity() - dst.len() < case.size + MAX_HEADER {
                black_box(&dst[..]);
                dst.clear();
            }
            let payload = src.slice(i * case.size..(i + 1) * case.size);
            enc.encode(yawc::Frame::binary(payload), &mut dst).expect("yawc encode");
        }
    })
}

/// websocket-sans-io: header, then copy the payload into the send buffer and mask it in place.
pub(crate) fn wsio(case: &Case) -> Batch<'_> {
    use websocket_sans_io::{FrameInfo, Opcode, WebsocketFrameEncoder};
    let mut enc = WebsocketFrameEncoder::new();
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let mut sb = SendBuf::new();
    Box::new(move || {
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
    })
}

/// embedded-websocket: client `write` (bytewise masking) of a whole frame into the send buffer.
pub(crate) fn embedded(case: &Case) -> Batch<'_> {
    use embedded_websocket::{WebSocketClient, WebSocketSendMessageType, WebSocketState};
    use rand08::SeedableRng as _;
    let mut ws = WebSocketClient::new_client(rand08::rngs::StdRng::seed_from_u64(7));
    ws.state = WebSocketState::Open;
    let mut sb = SendBuf::new();
    Box::new(move || {
        for i in 0..case.n {
            let to = sb.room(case.size + MAX_HEADER);
            let k =
                ws.write(WebSocketSendMessageType::Binary, true, case.msg(i), to).expect("embedded write");
            sb.len += k;
        }
    })
}
