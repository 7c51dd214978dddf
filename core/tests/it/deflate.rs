//! permessage-deflate (RFC 7692) through the public API: the offer and the answer in the
//! handshake, every parameter combination both ways against zlib (zlib-rs through flate2, an
//! independent DEFLATE), any split of the input, RSV1 rules, bombs and corrupt data, each with
//! its close code.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use proptest::prelude::*;
use realtime_core::Instant;
use realtime_core::ws::deflate::{Deflater, InflateError, Inflater, Offer, Params};
use realtime_core::ws::{
    Config, Connection, DeflateConfig, Error, Event, HandshakeError, Message, MessageKind, ProtocolError,
    WebSocket, WsEvent,
};

use crate::harness::{SEED, frame};

const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];

/// zlib's raw deflate of one message, sync-flushed, tail left off (what a server sends).
fn z_deflate(c: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() / 2 + 64);
    let start = c.total_in();
    loop {
        let used = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        c.compress_vec(&msg[used..], &mut out, FlushCompress::Sync).unwrap();
        if (c.total_in() - start) as usize == msg.len() && out.len() < out.capacity() {
            break;
        }
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// zlib's inflate of one message's payload (the tail put back), 256 bytes of output at a time:
/// a reference further back than the window then reaches past zlib's window and fails, where a
/// single large output buffer would still hold the bytes it points at.
fn z_inflate(d: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let input = [payload, &TAIL].concat();
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    let start_in = d.total_in();
    loop {
        let used = (d.total_in() - start_in) as usize;
        let before = d.total_out();
        let status = d.decompress(&input[used..], &mut buf, FlushDecompress::Sync).expect("zlib inflates it");
        let wrote = (d.total_out() - before) as usize;
        out.extend_from_slice(&buf[..wrote]);
        let done = (d.total_in() - start_in) as usize == input.len() && wrote < buf.len();
        if done || status == Status::StreamEnd {
            return out;
        }
    }
}

fn z_compressor(bits: u8) -> Compress {
    Compress::new_with_window_bits(Compression::default(), false, bits)
}

fn z_decompressor(bits: u8) -> Decompress {
    Decompress::new_with_window_bits(false, bits)
}

/// An unmasked server frame with RSV1 (the first of a compressed message).
fn compressed_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame(fin, opcode, payload);
    f[0] |= 0x40;
    f
}

/// Realtime-like JSON: repetitive across messages, so context takeover matters.
fn json(i: usize, len: usize) -> Vec<u8> {
    let mut s = format!(
        r#"{{"event":"postgres_changes","topic":"realtime:public:messages","ref":"{i}","payload":{{"rows":["#
    );
    let mut n = 0;
    while s.len() < len {
        s.push_str(&format!(r#"{{"id":{n},"user":"user-{}","body":"hello number {i}-{n}"}},"#, n % 7));
        n += 1;
    }
    s.push_str("{}]}}");
    s.into_bytes()
}

/// A client frame as sent, unmasked, with its RSV1 bit.
#[derive(Debug)]
struct Sent {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

fn sent_frames(mut bytes: &[u8]) -> Vec<Sent> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert_eq!(bytes[0] & 0x30, 0, "RSV2/RSV3 set");
        let (len, mut at) = match bytes[1] & 0x7F {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize, 10),
            n => (n as usize, 2),
        };
        let key = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
        at += 4;
        let payload = bytes[at..at + len].iter().enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
        out.push(Sent {
            fin: bytes[0] & 0x80 != 0,
            rsv1: bytes[0] & 0x40 != 0,
            opcode: bytes[0] & 0x0F,
            payload,
        });
        bytes = &bytes[at + len..];
    }
    out
}

/// The client's data messages as (kind opcode, compressed, payload joined), checking RSV1 is on
/// first frames only.
fn sent_messages(wire: &[u8]) -> Vec<(u8, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut open: Option<(u8, bool, Vec<u8>)> = None;
    for f in sent_frames(wire) {
        if f.opcode >= 8 {
            assert!(!f.rsv1, "RSV1 on a control frame");
            continue;
        }
        match (&mut open, f.opcode) {
            (None, op) => {
                assert_ne!(op, 0);
                open = Some((op, f.rsv1, f.payload));
            }
            (Some(m), 0) => {
                assert!(!f.rsv1, "RSV1 on a continuation");
                m.2.extend_from_slice(&f.payload);
            }
            _ => panic!("new message inside a fragmented one"),
        }
        if f.fin {
            out.extend(open.take());
        }
    }
    out
}

fn transmit(ws: &mut WebSocket) -> Vec<u8> {
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 4096];
    loop {
        let n = ws.poll_transmit(&mut buf);
        if n == 0 {
            return wire;
        }
        wire.extend_from_slice(&buf[..n]);
    }
}

/// Feeds `bytes` in pieces cut at `cuts` (unconsumed bytes kept, as a runtime does).
fn feed(ws: &mut WebSocket, bytes: &[u8], cuts: &[usize]) -> Vec<WsEvent> {
    let mut pending = Vec::new();
    let mut start = 0;
    let mut events = Vec::new();
    let mut ends: Vec<usize> = cuts.iter().map(|&c| c.min(bytes.len())).collect();
    ends.sort_unstable();
    ends.push(bytes.len());
    for end in ends {
        let end = end.max(start);
        pending.extend_from_slice(&bytes[start..end]);
        start = end;
        loop {
            let used = ws.handle_input(Instant::ZERO, &pending);
            pending.drain(..used);
            let mut any = false;
            while let Some(e) = ws.poll_event() {
                events.push(e);
                any = true;
            }
            if used == 0 && !any {
                break;
            }
        }
    }
    events
}

fn messages(events: &[WsEvent]) -> Vec<Vec<u8>> {
    events
        .iter()
        .map(|e| match e {
            WsEvent::Message(m) => m.as_bytes().to_vec(),
            other => panic!("expected a message, got {other:?}"),
        })
        .collect()
}

fn params(server_nct: bool, client_nct: bool, server_bits: u8, client_bits: u8) -> Params {
    Params {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct,
        server_max_window_bits: server_bits,
        client_max_window_bits: client_bits,
    }
}

fn config(min_len: Option<u32>) -> Config {
    Config {
        deflate: Some(DeflateConfig { compress_min_len: min_len, ..DeflateConfig::default() }),
        send_frame_len: 1000,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// The handshake
// ---------------------------------------------------------------------------------------------

fn started(offer: Option<Offer>) -> (Connection, String, String) {
    let config = Config {
        deflate: offer.map(|offer| DeflateConfig { offer, ..DeflateConfig::default() }),
        ..Config::default()
    };
    let mut conn = Connection::new(config, SEED).unwrap();
    let url = realtime_core::ws::Url::parse("ws://localhost:4000/socket").unwrap();
    let mut out = [0u8; 1024];
    let n = conn
        .start(Instant::ZERO, &realtime_core::ws::Request { url, protocols: &[], headers: &[] }, &mut out)
        .unwrap();
    let text = String::from_utf8(out[..n].to_vec()).unwrap();
    let key = text.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
    let accept =
        String::from_utf8(realtime_core::ws::handshake::accept_for_key(key.as_bytes()).to_vec()).unwrap();
    (conn, text, accept)
}

fn answer(conn: &mut Connection, accept: &str, extensions: &[&str]) -> Option<Event<'static>> {
    let mut head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
    );
    for e in extensions {
        head.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    head.push_str("\r\n");
    let bytes: &'static [u8] = Box::leak(head.into_bytes().into_boxed_slice());
    conn.handle_input(Instant::ZERO, bytes).event
}

#[test]
fn the_offer_goes_in_the_request_and_the_answer_is_held_to_it() {
    let (_, plain, _) = started(None);
    assert!(!plain.contains("Sec-WebSocket-Extensions"), "{plain}");
    let (mut conn, text, accept) = started(Some(Offer::default()));
    assert!(
        text.contains("\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"),
        "{text}"
    );
    let answered = answer(
        &mut conn,
        &accept,
        &["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"],
    );
    assert_eq!(answered, Some(Event::Open { protocol: None, deflate: Some(params(true, false, 15, 10)) }));
    assert!(conn.deflate_agreed());
    // The server may decline: no extension header, no compression.
    let (mut conn, _, accept) = started(Some(Offer::default()));
    assert_eq!(answer(&mut conn, &accept, &[]), Some(Event::Open { protocol: None, deflate: None }));
    assert!(!conn.deflate_agreed());
    // An answer that breaks the offer fails the handshake with the reason.
    let asks = Offer { server_max_window_bits: Some(10), ..Offer::default() };
    let (mut conn, text, accept) = started(Some(asks));
    assert!(text.contains("permessage-deflate; server_max_window_bits=10; client_max_window_bits\r\n"));
    assert_eq!(
        answer(&mut conn, &accept, &["permessage-deflate; server_max_window_bits=12"]),
        Some(Event::Failed(Error::Handshake(HandshakeError::Deflate(
            realtime_core::ws::deflate::NegotiationError::WindowTooLarge
        ))))
    );
    // Two header lines are two extensions; an answer without an offer is refused as before.
    let (mut conn, _, accept) = started(Some(Offer::default()));
    assert_eq!(
        answer(&mut conn, &accept, &["permessage-deflate", "permessage-deflate"]),
        Some(Event::Failed(Error::Handshake(HandshakeError::UnexpectedExtension)))
    );
    let (mut conn, _, accept) = started(None);
    assert_eq!(
        answer(&mut conn, &accept, &["permessage-deflate"]),
        Some(Event::Failed(Error::Handshake(HandshakeError::UnexpectedExtension)))
    );
    let bad = Config {
        deflate: Some(DeflateConfig {
            offer: Offer { client_max_window_bits: Some(7), ..Offer::default() },
            ..DeflateConfig::default()
        }),
        ..Config::default()
    };
    assert_eq!(Connection::new(bad, SEED).err(), Some(realtime_core::ws::ConfigError::InvalidDeflate));
}

#[test]
fn the_socket_inflates_after_a_handshake_that_agreed() {
    let mut ws = WebSocket::new(config(Some(16)), SEED).unwrap();
    let url = realtime_core::ws::Url::parse("ws://localhost:4000/socket").unwrap();
    ws.connect(Instant::ZERO, &realtime_core::ws::Request { url, protocols: &[], headers: &[] }).unwrap();
    let request = String::from_utf8(transmit(&mut ws)).unwrap();
    assert!(request.contains("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"));
    let key = request.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap();
    let accept =
        String::from_utf8(realtime_core::ws::handshake::accept_for_key(key.as_bytes()).to_vec()).unwrap();
    let mut z = z_compressor(15);
    let msg = json(1, 500);
    let mut input = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    )
    .into_bytes();
    input.extend(compressed_frame(true, 1, &z_deflate(&mut z, &msg)));
    let events = feed(&mut ws, &input, &[]);
    assert_eq!(events[0], WsEvent::Open { protocol: None, deflate: Some(Params::default()) });
    assert_eq!(events[1], WsEvent::Message(Message::Text(String::from_utf8(msg.clone()).unwrap())));
    ws.send(MessageKind::Text, msg.clone()).unwrap();
    let sent = sent_messages(&transmit(&mut ws));
    assert_eq!(sent.len(), 1);
    assert!(sent[0].1, "sent compressed");
    assert_eq!(z_inflate(&mut z_decompressor(15), &sent[0].2), msg);
}

// ---------------------------------------------------------------------------------------------
// Every parameter combination, both ways, against zlib
// ---------------------------------------------------------------------------------------------

/// Three messages each way on `p`'s terms. The server side is zlib with its window at the
/// agreed bits, a fresh compressor per message without context takeover; what the client sends
/// must inflate with a zlib of the client's agreed window (a fresh one per message when the
/// client agreed to no context takeover), which fails on any reference further back.
fn both_ways(p: Params, fragment: bool) {
    let mut ws = WebSocket::new_open_deflate(config(Some(64)), SEED, p).unwrap();
    // zlib refuses a raw window of 8 bits; 9 is within an 8-bit agreement's reading by zlib.
    let zbits = |b: u8| b.max(9);
    let mut z = z_compressor(zbits(p.server_max_window_bits));
    let msgs: Vec<Vec<u8>> = (0..3).map(|i| json(i, 300 + 900 * i)).collect();
    let mut wire = Vec::new();
    for m in &msgs {
        if p.server_no_context_takeover {
            z = z_compressor(zbits(p.server_max_window_bits));
        }
        let c = z_deflate(&mut z, m);
        if fragment && c.len() > 3 {
            let (a, rest) = c.split_at(c.len() / 3);
            let (b, d) = rest.split_at(rest.len() / 2);
            wire.extend(compressed_frame(false, 1, a));
            wire.extend(frame(false, 0, b));
            wire.extend(frame(true, 0, d));
        } else {
            wire.extend(compressed_frame(true, 1, &c));
        }
        // An uncompressed message between compressed ones leaves the window alone.
        wire.extend(frame(true, 2, b"raw"));
    }
    let got = messages(&feed(&mut ws, &wire, &[]));
    let want: Vec<Vec<u8>> = msgs.iter().flat_map(|m| [m.clone(), b"raw".to_vec()]).collect();
    assert_eq!(got, want, "{p:?}");
    for m in &msgs {
        ws.send(MessageKind::Text, m.clone()).unwrap();
        ws.send(MessageKind::Binary, b"short".to_vec()).unwrap();
    }
    let sent = sent_messages(&transmit(&mut ws));
    assert_eq!(sent.len(), 6);
    let mut zd = z_decompressor(p.client_max_window_bits.max(9));
    for (i, m) in msgs.iter().enumerate() {
        let (op, compressed, payload) = &sent[2 * i];
        if p.client_max_window_bits < 15 {
            // Held to a window miniz_oxide does not keep to: sent as it is.
            assert_eq!((*op, *compressed, payload), (1, false, m), "{p:?}");
            continue;
        }
        assert_eq!((*op, *compressed), (1, true));
        if p.client_no_context_takeover {
            zd = z_decompressor(p.client_max_window_bits.max(9));
        }
        assert_eq!(&z_inflate(&mut zd, payload), m, "{p:?} message {i}");
        assert_eq!(sent[2 * i + 1], (2, false, b"short".to_vec()), "below compress_min_len");
    }
}

#[test]
fn every_parameter_combination_round_trips_against_zlib() {
    let mut combos = 0;
    for server_nct in [false, true] {
        for client_nct in [false, true] {
            for server_bits in [8, 9, 12, 15] {
                for client_bits in [8, 9, 11, 12, 14, 15] {
                    for fragment in [false, true] {
                        both_ways(params(server_nct, client_nct, server_bits, client_bits), fragment);
                        combos += 1;
                    }
                }
            }
        }
    }
    assert_eq!(combos, 192);
}

/// miniz_oxide keeps to a 32 KiB window only: under 15 bits there is no compressor (the
/// client sends uncompressed); at 15, every level's output inflates with C zlib reading 256
/// bytes at a time, so any reference past its window would fail.
#[test]
fn the_client_window_is_never_exceeded() {
    for bits in 8..15u8 {
        assert!(Deflater::new(&params(false, false, 15, bits), 1).is_none(), "window {bits}");
    }
    let mut chunk = json(0, 1024);
    chunk.truncate(1024);
    let msgs = [chunk.repeat(40), json(3, 200_000), json(4, 300)];
    for level in 0..=10 {
        let mut d = Deflater::new(&Params::default(), level).unwrap();
        let mut zd = z_decompressor(15);
        for (i, m) in msgs.iter().enumerate() {
            let mut out = Vec::new();
            d.compress(m, &mut out);
            assert_eq!(&z_inflate(&mut zd, &out), m, "level {level} message {i}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Splits, bombs, corrupt data, RSV1 rules
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any split of the wire bytes gives the same messages, and our deflater's output inflates
    /// to the input through our inflater whatever the pieces.
    #[test]
    fn any_split_gives_the_same_messages(
        cuts in proptest::collection::vec(0usize..4000, 0..12),
        sizes in proptest::collection::vec(1usize..1500, 1..5),
        takeover in any::<bool>(),
    ) {
        let p = params(!takeover, !takeover, 15, 15);
        let mut z = z_compressor(15);
        let msgs: Vec<Vec<u8>> = sizes.iter().enumerate().map(|(i, &n)| json(i, n)).collect();
        let mut wire = Vec::new();
        for m in &msgs {
            if !takeover {
                z = z_compressor(15);
            }
            let c = z_deflate(&mut z, m);
            let (a, b) = c.split_at(c.len() / 2);
            wire.extend(compressed_frame(false, 1, a));
            wire.extend(frame(true, 0, b));
        }
        let mut whole = WebSocket::new_open_deflate(config(None), SEED, p).unwrap();
        let want = messages(&feed(&mut whole, &wire, &[]));
        prop_assert_eq!(&want, &msgs);
        let mut split = WebSocket::new_open_deflate(config(None), SEED, p).unwrap();
        prop_assert_eq!(messages(&feed(&mut split, &wire, &cuts)), want);

        let mut d = Deflater::new(&p, 1).unwrap();
        let mut inf = Inflater::new(&p, 1 << 20);
        for m in &msgs {
            let mut out = Vec::new();
            d.compress(m, &mut out);
            let mut at = 0;
            for &c in &cuts {
                let c = c.min(out.len()).max(at);
                inf.feed(&out[at..c]).unwrap();
                at = c;
            }
            inf.feed(&out[at..]).unwrap();
            prop_assert_eq!(&inf.finish().unwrap(), m);
        }
    }
}

/// 64 MiB of zeros compress to 64 KiB: with a 1 MiB limit the inflater stops past 1 MiB and the
/// connection closes with 1009, whatever the frames.
#[test]
fn a_bomb_is_closed_with_1009_before_its_memory_is_spent() {
    let bomb = z_deflate(&mut z_compressor(15), &vec![0u8; 64 << 20]);
    assert!(bomb.len() < 100 << 10, "{}", bomb.len());
    let mut inf = Inflater::new(&Params::default(), 1 << 20);
    assert_eq!(inf.feed(&bomb), Err(InflateError::TooLarge { max: 1 << 20 }));
    assert_eq!(inf.inflated_len(), 0, "the partial message is dropped");
    let limited = Config { max_message_len: 1 << 20, ..config(None) };
    for fragmented in [false, true] {
        let mut ws = WebSocket::new_open_deflate(limited, SEED, Params::default()).unwrap();
        let wire = if fragmented {
            let (a, b) = bomb.split_at(100);
            [compressed_frame(false, 2, a), frame(true, 0, b)].concat()
        } else {
            compressed_frame(true, 2, &bomb)
        };
        let events = feed(&mut ws, &wire, &[1000, 5000]);
        assert_eq!(events, [WsEvent::Failed(Error::MessageTooLong { len: (1 << 20) + 1, max: 1 << 20 })]);
        assert_eq!(close_code(&transmit(&mut ws)), Some(1009));
    }
    // Exactly the limit is fine.
    let mut ws = WebSocket::new_open_deflate(limited, SEED, Params::default()).unwrap();
    let exact = z_deflate(&mut z_compressor(15), &vec![7u8; 1 << 20]);
    assert_eq!(messages(&feed(&mut ws, &compressed_frame(true, 2, &exact), &[])), [vec![7u8; 1 << 20]]);
}

fn close_code(wire: &[u8]) -> Option<u16> {
    let f = sent_frames(wire).into_iter().rev().find(|f| f.opcode == 8)?;
    Some(u16::from_be_bytes([f.payload[0], f.payload[1]]))
}

fn fails_with(wire: &[u8], error: Error, code: u16) {
    let mut ws = WebSocket::new_open_deflate(config(None), SEED, Params::default()).unwrap();
    let events = feed(&mut ws, wire, &[]);
    assert_eq!(events.last(), Some(&WsEvent::Failed(error)), "{events:?}");
    assert_eq!(close_code(&transmit(&mut ws)), Some(code));
}

#[test]
fn bad_compressed_input_fails_with_its_close_code() {
    // Not DEFLATE: block type 3 is reserved.
    fails_with(
        &compressed_frame(true, 2, &[0xff, 0xff, 0xff]),
        Error::Protocol(ProtocolError::BadCompressedData),
        1002,
    );
    // Valid DEFLATE of invalid UTF-8 in a text message.
    let bad_text = z_deflate(&mut z_compressor(15), &[b'a', 0xff, 0xfe, b'b']);
    fails_with(&compressed_frame(true, 1, &bad_text), Error::InvalidUtf8, 1007);
    // RSV1 on a continuation or a control frame.
    let c = z_deflate(&mut z_compressor(15), b"hello hello hello");
    let mut cont = [frame(false, 1, b"x"), frame(true, 0, &c)].concat();
    let at = frame(false, 1, b"x").len();
    cont[at] |= 0x40;
    fails_with(&cont, Error::Protocol(ProtocolError::MisplacedRsv1), 1002);
    fails_with(&compressed_frame(true, 9, b""), Error::Protocol(ProtocolError::MisplacedRsv1), 1002);
    // RSV1 where deflate was not agreed.
    let mut ws = WebSocket::new_open(Config::default(), SEED).unwrap();
    let events = feed(&mut ws, &compressed_frame(true, 1, &c), &[]);
    assert_eq!(events, [WsEvent::Failed(Error::Protocol(ProtocolError::ReservedBits))]);
    assert_eq!(close_code(&transmit(&mut ws)), Some(1002));
}

/// A compressed message cut short by a close: the next connection's state is not involved,
/// and the inflater keeps no partial message.
#[test]
fn a_close_inside_a_compressed_message_drops_it() {
    let c = z_deflate(&mut z_compressor(15), &json(0, 2000));
    let (a, _) = c.split_at(c.len() / 2);
    let wire = [compressed_frame(false, 1, a), frame(true, 8, &1000u16.to_be_bytes())].concat();
    let mut ws = WebSocket::new_open_deflate(config(None), SEED, Params::default()).unwrap();
    let events = feed(&mut ws, &wire, &[]);
    assert!(matches!(events.as_slice(), [WsEvent::Close { code: Some(c), .. }] if c.0 == 1000), "{events:?}");
}

#[test]
fn compressed_messages_without_deflate_are_refused_by_the_connection() {
    let mut conn = Connection::new_open(Config::default(), SEED).unwrap();
    assert_eq!(
        conn.start_compressed_message(MessageKind::Text, b"x"),
        Err(realtime_core::ws::SendError::NoDeflate)
    );
}

/// A compressed message longer than a frame goes as several, RSV1 on the first only, and
/// inflates whole.
#[test]
fn a_compressed_message_over_several_frames() {
    for bits in [15u8] {
        let p = params(false, false, 15, bits);
        let small_frames = Config { send_frame_len: 100, ..config(Some(64)) };
        let mut ws = WebSocket::new_open_deflate(small_frames, SEED, p).unwrap();
        let msgs = [json(0, 5000), json(1, 200_000)];
        for m in &msgs {
            ws.send(MessageKind::Text, m.clone()).unwrap();
        }
        let wire = transmit(&mut ws);
        assert!(sent_frames(&wire).len() > 3);
        let mut zd = z_decompressor(bits.max(9));
        for (m, (_, compressed, payload)) in msgs.iter().zip(sent_messages(&wire)) {
            assert!(compressed);
            assert_eq!(&z_inflate(&mut zd, &payload), m, "window {bits}");
        }
    }
}

#[test]
fn zlib_refuses_references_past_its_window() {
    let mut chunk = json(0, 1024);
    chunk.truncate(1000);
    let msg = chunk.repeat(4);
    let c = z_deflate(&mut z_compressor(15), &msg);
    let input = [&c[..], &TAIL].concat();
    let mut d = z_decompressor(9);
    let mut buf = [0u8; 256];
    let mut failed = false;
    let mut used = 0;
    for _ in 0..1000 {
        let before = d.total_in();
        match d.decompress(&input[used..], &mut buf, FlushDecompress::Sync) {
            Err(_) => {
                failed = true;
                break;
            }
            Ok(_) => used += (d.total_in() - before) as usize,
        }
        if used == input.len() {
            break;
        }
    }
    assert!(failed, "zlib with a 9-bit window took a reference 1000 bytes back");
}

/// What the inflater hands over holds its length, not the buffer it grew in (a queued message
/// of two bytes does not keep 16 KiB), short and long.
#[test]
fn an_inflated_message_holds_its_length() {
    let p = Params::default();
    let mut d = Deflater::new(&p, 1).unwrap();
    let mut inf = Inflater::new(&p, 4 << 20);
    for len in [2usize, 5000, 100_000, 3 << 20] {
        let msg = json(len, len);
        let mut c = Vec::new();
        d.compress(&msg, &mut c);
        assert_eq!(c.capacity(), c.len(), "the compressed payload too");
        for piece in c.chunks(1000) {
            inf.feed(piece).unwrap();
        }
        let m = inf.finish().unwrap();
        assert_eq!(m, msg);
        assert_eq!(m.capacity(), m.len(), "{len}");
    }
}

/// Incompressible data takes a few more bytes compressed than plain: a message that inflates
/// to exactly the limit is taken, whatever its compressed length.
#[test]
fn an_incompressible_message_at_the_limit_is_taken() {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    let c = z_deflate(&mut z_compressor(15), &random);
    assert!(c.len() > 4096, "{} compressed bytes", c.len());
    let limited = Config { max_message_len: 4096, max_frame_len: 4096, ..config(None) };
    let mut ws = WebSocket::new_open_deflate(limited, SEED, Params::default()).unwrap();
    assert_eq!(messages(&feed(&mut ws, &compressed_frame(true, 2, &c), &[])), std::slice::from_ref(&random));
    // Fragmented, and one byte over: refused as it inflates.
    let mut ws = WebSocket::new_open_deflate(limited, SEED, Params::default()).unwrap();
    let over = [random, vec![1]].concat();
    let c = z_deflate(&mut z_compressor(15), &over);
    let (a, b) = c.split_at(2000);
    let events = feed(&mut ws, &[compressed_frame(false, 2, a), frame(true, 0, b)].concat(), &[]);
    assert_eq!(events, [WsEvent::Failed(Error::MessageTooLong { len: 4097, max: 4096 })]);
}
