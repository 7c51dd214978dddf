//! Shared test plumbing: a server-side frame encoder, a client-frame parser that unmasks, and
//! a feeder that follows the `handle_input` contract (keep unconsumed bytes, offer them again).

use realtime_core::Instant;
use realtime_core::ws::{Config, Connection, Event, MessageKind};

/// An owned copy of an event, comparable across runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Open(Option<String>),
    Rejected(u16, Vec<u8>),
    /// A whole message: consecutive data chunks merged.
    Message(MessageKind, Vec<u8>),
    Ping(Vec<u8>),
    Pong(bool),
    Close(Option<u16>, String),
    Failed(realtime_core::ws::Error),
}

pub(crate) const SEED: [u8; 32] = [42; 32];

pub(crate) fn open_with(config: Config) -> Connection {
    Connection::new_open(config, SEED).unwrap()
}

pub(crate) fn open() -> Connection {
    open_with(Config::default())
}

/// An unmasked server frame.
pub(crate) fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Feeds `bytes` in pieces cut at `cuts`, the way a runtime does: unconsumed bytes are kept
/// and offered again with the next piece; after each call the transmit side is drained into
/// `wire`. Returns the events with data chunks merged into messages, and the bytes consumed.
pub(crate) fn feed(
    conn: &mut Connection,
    now: Instant,
    bytes: &[u8],
    cuts: &[usize],
    wire: &mut Vec<u8>,
) -> (Vec<Ev>, usize) {
    let mut events = Vec::new();
    let mut partial: Option<(MessageKind, Vec<u8>)> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed_total = 0;
    let mut start = 0;
    let mut pieces: Vec<&[u8]> = Vec::new();
    for &c in cuts {
        let c = c.clamp(start, bytes.len());
        pieces.push(&bytes[start..c]);
        start = c;
    }
    pieces.push(&bytes[start..]);
    for piece in pieces {
        pending.extend_from_slice(piece);
        loop {
            let read = conn.handle_input(now, &pending);
            let consumed = read.consumed;
            let got = read.event.map(|e| own(e, &mut partial));
            pending.drain(..consumed);
            consumed_total += consumed;
            let progressed = drain(conn, wire) > 0;
            match got {
                Some(Some(ev)) => events.push(ev),
                Some(None) => {}
                None if progressed && !pending.is_empty() => {}
                None => break,
            }
        }
    }
    (events, consumed_total)
}

fn own(e: Event<'_>, partial: &mut Option<(MessageKind, Vec<u8>)>) -> Option<Ev> {
    Some(match e {
        Event::Open { protocol, .. } => Ev::Open(protocol.map(String::from)),
        Event::Rejected(r) => Ev::Rejected(r.status, r.body.to_vec()),
        Event::Data(d) => {
            let (kind, buf) = partial.get_or_insert_with(|| (d.kind, Vec::new()));
            assert_eq!(*kind, d.kind, "kind changed inside a message");
            buf.extend_from_slice(d.payload);
            if !d.fin {
                return None;
            }
            let (kind, buf) = partial.take().unwrap();
            Ev::Message(kind, buf)
        }
        Event::Ping(p) => Ev::Ping(p.to_vec()),
        Event::Pong { rtt } => Ev::Pong(rtt.is_some()),
        Event::Close(c) => Ev::Close(c.code.map(|c| c.0), c.reason.to_string()),
        Event::Failed(e) => Ev::Failed(e),
        _ => unreachable!("new event kind"),
    })
}

/// Drains `poll_transmit` (no data message in progress) into `wire`; returns bytes written.
pub(crate) fn drain(conn: &mut Connection, wire: &mut Vec<u8>) -> usize {
    let mut buf = [0u8; 4096];
    let mut total = 0;
    loop {
        let t = conn.poll_transmit(&mut buf, &[]);
        if t.len == 0 {
            return total;
        }
        wire.extend_from_slice(&buf[..t.len]);
        total += t.len;
    }
}

/// A frame the client sent, unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClientFrame {
    pub(crate) fin: bool,
    pub(crate) opcode: u8,
    pub(crate) payload: Vec<u8>,
}

/// Parses client frames, checking that each is masked (RFC 6455 section 5.3).
pub(crate) fn client_frames(mut bytes: &[u8]) -> Vec<ClientFrame> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let fin = bytes[0] & 0x80 != 0;
        assert_eq!(bytes[0] & 0x70, 0, "client set RSV bits (deflate tests parse their own frames)");
        let opcode = bytes[0] & 0x0F;
        assert!(bytes[1] & 0x80 != 0, "client frame not masked");
        let (len, mut at) = match bytes[1] & 0x7F {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        at += 4;
        let payload = bytes[at..at + len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
        out.push(ClientFrame { fin, opcode, payload });
        bytes = &bytes[at + len..];
    }
    out
}

/// Sends one message through `start_message` + `poll_transmit` with output buffers of the
/// given sizes (cycled), returning the wire bytes.
pub(crate) fn send(conn: &mut Connection, kind: MessageKind, payload: &[u8], buf_sizes: &[usize]) -> Vec<u8> {
    conn.start_message(kind, payload).unwrap();
    let mut wire = Vec::new();
    let mut buf = vec![0u8; buf_sizes.iter().copied().max().unwrap_or(1).max(1)];
    for i in 0.. {
        let size = buf_sizes[i % buf_sizes.len()].max(1);
        let t = conn.poll_transmit(&mut buf[..size], payload);
        wire.extend_from_slice(&buf[..t.len]);
        if t.message_done {
            break;
        }
        assert!(t.len > 0, "no progress");
    }
    wire
}

/// The close code in the last close frame the client sent.
pub(crate) fn sent_close_code(wire: &[u8]) -> Option<u16> {
    let frames = client_frames(wire);
    let close = frames.iter().rev().find(|f| f.opcode == 8)?;
    Some(u16::from_be_bytes([close.payload[0], close.payload[1]]))
}
