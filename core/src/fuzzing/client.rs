//! The whole Realtime client under an operation stream: the app's operations, time steps and a
//! hostile peer, with [`Invariants`](super::sim::Invariants) checked after every step. Two
//! peers: whole messages on a self-framing transport (`phoenix_client`), and raw bytes on a byte
//! transport (`realtime_client`: the handshake response, frames and garbage).

use alloc::string::String;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};

use super::sim::{Op, ServerMsg, Session, Setup, ops};
use crate::client::{ClientConfig, TransportClosed, TransportKind};
use crate::ws::Message;

const ENDPOINT: &str = "ws://fuzz.test/realtime/v1";

/// How a transport ends, from the runtime's report.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Ending {
    Eof,
    Error,
    /// A close frame with a code from a table (valid, reserved, Realtime's own) or none.
    Closed(u8),
    /// The upgrade was refused with a status from a table.
    Rejected(u8),
}

const CLOSE_CODES: [u16; 8] = [1000, 1001, 1006, 1011, 3000, 4000, 4999, 1002];
const STATUSES: [u16; 6] = [400, 401, 403, 429, 500, 503];

impl Ending {
    fn report(self) -> TransportClosed<'static> {
        match self {
            Self::Eof => TransportClosed::Eof,
            Self::Error => TransportClosed::Error,
            Self::Closed(n) if n >= 248 => TransportClosed::Closed { code: None, reason: "" },
            Self::Closed(n) => TransportClosed::Closed {
                code: Some(CLOSE_CODES[usize::from(n) % CLOSE_CODES.len()]),
                reason: "ClientJoinRateLimitReached",
            },
            Self::Rejected(n) => {
                TransportClosed::UpgradeRejected { status: STATUSES[usize::from(n) % STATUSES.len()] }
            }
        }
    }
}

/// The peer of a self-framing transport.
#[derive(Arbitrary, Clone, Debug)]
enum MessagePeer {
    Open,
    Closed(Ending),
    Message(ServerMsg),
    Text(String),
    Binary(Vec<u8>),
}

fn run<'a, P: Arbitrary<'a>>(data: &'a [u8], kind: TransportKind, mut peer: impl FnMut(&mut Session, P)) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else { return };
    let mut config = ClientConfig::new(ENDPOINT, "key");
    config.transport = kind;
    let Some(mut s) = Session::new(config, setup) else { return };
    for op in ops::<P>(u.take_rest()) {
        match op {
            Op::App(a) => s.app(a),
            Op::Peer(p) => peer(&mut s, p),
            Op::Wait(p) => s.wait(p.duration()),
        }
        s.check.assert_clean("after a step");
    }
    s.finish();
    s.check.assert_clean("at the end");
}

/// The client on a self-framing transport: whole server messages (well-formed ones about the
/// refs and topics in play, and arbitrary text and bytes), transport reports, app operations
/// and time steps.
pub fn phoenix_client(data: &[u8]) {
    run(data, TransportKind::Messages, |s, p: MessagePeer| match p {
        MessagePeer::Open => s.open(),
        MessagePeer::Closed(e) => s.closed(e.report()),
        MessagePeer::Message(m) => {
            let text = m.text(s.v1());
            s.message(Message::Text(text));
        }
        MessagePeer::Text(t) => s.message(Message::Text(t)),
        MessagePeer::Binary(b) => s.message(Message::Binary(b)),
    });
}

/// The upgrade response the peer sends.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Upgrade {
    /// 101 with the right accept key.
    Good,
    /// 101 with header names in lower case and the first frame in the same piece.
    GoodWithFrame(ServerMsg),
    /// 101 with an accept key for another request.
    WrongAccept,
    /// 101 with an extension the client did not offer.
    Extension,
    /// A refusal with this status (from a table) and a JSON body.
    Refused(u8),
}

/// The peer of a byte transport.
#[derive(Arbitrary, Clone, Debug)]
enum BytePeer {
    Open,
    Closed(Ending),
    Upgrade(Upgrade),
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// A frame from its first header byte (FIN, RSV, opcode), mask flag and payload.
    Frame(u8, bool, Vec<u8>),
    /// A message as one text frame, or two fragments split at this byte.
    Message(ServerMsg, Option<u8>),
    /// A close frame with a code from the table, or an empty one.
    Close(Option<u8>),
    /// A ping.
    Ping(Vec<u8>),
}

/// The client on a byte transport: the peer's bytes go through the client's own handshake
/// parser, frame decoder, reassembly and Phoenix decoder, mixed with app operations, transport
/// reports and time steps; what the client writes is read back as a server reads it.
pub fn realtime_client(data: &[u8]) {
    run(data, TransportKind::Bytes, |s, p: BytePeer| match p {
        BytePeer::Open => s.open(),
        BytePeer::Closed(e) => s.closed(e.report()),
        BytePeer::Upgrade(u) => {
            let bytes = upgrade(s, u);
            s.input(&bytes);
        }
        BytePeer::Bytes(b) => s.input(&b),
        BytePeer::Frame(head, masked, payload) => s.input(&frame(head, masked, &payload)),
        BytePeer::Message(m, split) => {
            let text = m.text(s.v1());
            let bytes = match split.map(|at| usize::from(at) % (text.len() + 1)) {
                None => frame(0x81, false, text.as_bytes()),
                Some(at) => {
                    let mut b = frame(0x01, false, &text.as_bytes()[..at]);
                    b.extend(frame(0x80, false, &text.as_bytes()[at..]));
                    b
                }
            };
            s.input(&bytes);
        }
        BytePeer::Close(code) => {
            let payload = code.map(|n| CLOSE_CODES[usize::from(n) % CLOSE_CODES.len()].to_be_bytes());
            s.input(&frame(0x88, false, payload.as_ref().map_or(&[][..], |p| &p[..])));
        }
        BytePeer::Ping(p) => s.input(&frame(0x89, false, &p)),
    });
}

fn upgrade(s: &Session, u: Upgrade) -> Vec<u8> {
    use alloc::format;
    let accept = |key: &str| {
        let a = crate::ws::handshake::accept_for_key(key.as_bytes());
        String::from(core::str::from_utf8(&a).unwrap_or(""))
    };
    let key = s.key().unwrap_or("dGhlIHNhbXBsZSBub25jZQ==");
    match u {
        Upgrade::Good => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept(key)
        )
        .into_bytes(),
        Upgrade::GoodWithFrame(m) => {
            let mut b = format!(
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: WebSocket\r\nconnection: upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
                accept(key)
            )
            .into_bytes();
            b.extend(frame(0x81, false, m.text(s.v1()).as_bytes()));
            b
        }
        Upgrade::WrongAccept => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            accept("another key")
        )
        .into_bytes(),
        Upgrade::Extension => format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
            accept(key)
        )
        .into_bytes(),
        Upgrade::Refused(n) => {
            let body = r#"{"message":"refused"}"#;
            let status = STATUSES[usize::from(n) % STATUSES.len()];
            format!("HTTP/1.1 {status} Refused\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                .into_bytes()
        }
    }
}

/// A server frame: the first header byte as given, the shortest length encoding, masked with a
/// fixed key when asked (which a client must refuse).
fn frame(head: u8, masked: bool, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(head);
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if masked {
        let key = [1, 2, 3, 4];
        f.extend_from_slice(&key);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        f.extend_from_slice(payload);
    }
    f
}
