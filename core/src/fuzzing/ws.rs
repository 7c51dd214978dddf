//! The WebSocket layer: the handshake, the frame decoder and the allocation-free connection.

use crate::time::Instant;
use crate::ws::{Config, Connection, Event, MessageKind, Request, Url};

/// Upper bound of `handle_input` calls per input: each call that returns with nothing consumed
/// and no event must be followed by progress elsewhere, so a loop is a bug.
const MAX_CALLS: usize = 1 << 16;

/// Feeds `data` to an open connection with small limits, in pieces whose sizes come from the
/// first bytes, draining the send side with small buffers in between. Panics only on a broken
/// invariant (a bug), never on bad input.
pub fn ws_client(data: &[u8]) {
    let Some((&[shape, ops], rest)) = data.split_first_chunk::<2>() else { return };
    let config = Config { max_frame_len: 300, max_message_len: 600, send_frame_len: 50, ..Config::default() };
    // Bit 3 of `ops`: permessage-deflate agreed, so RSV1 frames reach the message rules.
    let made = if ops & 8 != 0 {
        Connection::new_open_deflate(config, [shape; 32], crate::ws::deflate::Params::default())
    } else {
        Connection::new_open(config, [shape; 32])
    };
    let Ok(mut conn) = made else { return };
    let piece = usize::from(shape % 17) + 1;
    let out_len = usize::from(shape / 17) + 1;
    drive(&mut conn, rest, piece, out_len, ops);
}

/// Feeds `data` as what follows the request: with the first byte odd, after a valid 101
/// response (the fuzzer cannot guess a `Sec-WebSocket-Accept`), so it reaches the frames; with
/// it even, as the response itself.
pub fn ws_handshake(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    let config = Config { max_handshake_response_len: 512, ..Config::default() };
    let Ok(mut conn) = Connection::new(config, [mode; 32]) else { return };
    let Ok(url) = Url::parse("ws://localhost/socket") else { return };
    let mut out = [0u8; 512];
    let request = Request { url, protocols: &["p"], headers: &[] };
    let Ok(n) = conn.start(Instant::ZERO, &request, &mut out) else { return };
    let mut input = [0u8; 4096 + 160];
    let mut len = 0;
    if mode & 1 == 1 {
        let key_at = out[..n].windows(19).position(|w| w == b"Sec-WebSocket-Key: ").map(|i| i + 19);
        let Some(key) = key_at.and_then(|i| out.get(i..i + crate::ws::handshake::KEY_LEN)) else { return };
        let accept = crate::ws::handshake::accept_for_key(key);
        for part in [&b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "[..], &accept, b"\r\n\r\n"] {
            input[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
    }
    let take = rest.len().min(input.len() - len);
    input[len..len + take].copy_from_slice(&rest[..take]);
    drive(&mut conn, &input[..len + take], 7, 64, mode >> 1);
}

/// `ops` bits: 0-1 how often (never, every 2nd, 3rd, 5th piece) the client pings; 2 whether it
/// closes halfway through.
fn drive(conn: &mut Connection, data: &[u8], piece: usize, out_len: usize, ops: u8) {
    let ping_every = [0usize, 2, 3, 5][usize::from(ops & 3)];
    let close_at = (ops & 4 != 0).then_some(data.len() / piece.max(1) / 2);
    let mut held: [u8; 1024] = [0; 1024];
    let mut held_len = 0;
    let mut out = [0u8; 256];
    let out = &mut out[..out_len.min(256)];
    let mut sent_once = false;
    let mut calls = 0;
    for (index, chunk) in data.chunks(piece).enumerate() {
        let now = Instant::from_millis(calls as u64);
        if ping_every != 0 && index % ping_every == 0 {
            let _ = conn.send_ping(now);
        }
        if close_at == Some(index) {
            let _ = conn.close(now, crate::ws::CloseCode::NORMAL, "fuzz");
        }
        if held_len + chunk.len() > held.len() {
            // The caller's buffer is full of bytes the connection would not take: only a
            // partial handshake may do that, and it is bounded by its limit.
            assert!(conn.state() != crate::ws::State::Open || held_len <= 2 + 125, "held {held_len}");
            return;
        }
        held[held_len..held_len + chunk.len()].copy_from_slice(chunk);
        held_len += chunk.len();
        loop {
            calls += 1;
            assert!(calls < MAX_CALLS, "no progress");
            let read = conn.handle_input(Instant::from_millis(calls as u64), &held[..held_len]);
            let consumed = read.consumed;
            assert!(consumed <= held_len);
            let had_event = read.event.is_some();
            if let Some(Event::Open { .. }) = read.event {
                sent_once = false;
            }
            held.copy_within(consumed..held_len, 0);
            held_len -= consumed;
            let mut wrote = 0;
            loop {
                let payload: &[u8] = b"fuzz payload that spans frames of fifty bytes each, twice over, or so";
                if !sent_once && !conn.is_sending() && conn.start_message(MessageKind::Text, payload).is_ok()
                {
                    sent_once = true;
                }
                let t = conn.poll_transmit(out, payload);
                wrote += t.len;
                if t.len == 0 {
                    break;
                }
            }
            if !had_event && (wrote == 0 || held_len == 0) {
                break;
            }
        }
    }
    let _ = conn.handle_timeout(Instant::from_millis(u64::MAX / 2000));
    let _ = conn.handle_transport_closed(Instant::from_millis(u64::MAX / 2000));
}

/// The handshake response parser on its own. The first byte picks the nonce, the protocols
/// offered and the size limit; with it odd, a correct `Sec-WebSocket-Accept` comes first (the
/// fuzzer cannot guess one), so the upgrade checks after it are reached. Checks that consumed
/// counts and bodies stay within the input and the limits, that a 101 is accepted on its head
/// alone, and that a prefix of the input never gives an answer the whole input contradicts.
#[cfg(feature = "alloc")]
pub fn ws_handshake_response(data: &[u8]) {
    use alloc::vec::Vec;

    use crate::ws::handshake::{MAX_REJECTION_BODY, Response, accept_for_key, key_for_nonce, parse_response};
    let Some((&mode, rest)) = data.split_first() else { return };
    let nonce = [mode; 16];
    let protocols: &[&str] = [&[][..], &["p"], &["realtime", "p"]][usize::from(mode >> 1) % 3];
    let max_len = [64, 512, 4096][usize::from(mode >> 3) % 3];
    // Bit 5: a permessage-deflate offer (the default, or one asking for everything).
    let asks = crate::ws::deflate::Offer {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: Some(10),
        client_max_window_bits: Some(12),
    };
    let offers = [None, Some(crate::ws::deflate::Offer::default()), None, Some(asks)];
    let offer = offers[usize::from(mode >> 5) % 4];
    let offer = offer.as_ref();
    let mut input = Vec::new();
    if mode & 1 == 1 {
        input.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: ");
        input.extend_from_slice(&accept_for_key(&key_for_nonce(&nonce)));
        input.extend_from_slice(b"\r\n");
    }
    input.extend_from_slice(rest);
    let whole = parse_response(&input, &nonce, protocols, offer, max_len);
    match &whole {
        Ok(Response::Accepted { consumed, protocol, deflate }) => {
            assert!(*consumed <= input.len().min(max_len), "accepted head of {consumed} bytes");
            assert!(offer.is_some() || deflate.is_none(), "deflate agreed without an offer");
            if let (Some(o), Some(d)) = (offer, deflate) {
                // What was agreed stays within what was offered.
                assert!(d.server_max_window_bits <= o.server_max_window_bits.unwrap_or(15));
                assert!(d.client_max_window_bits <= o.client_max_window_bits.unwrap_or(15));
                assert!(d.server_no_context_takeover || !o.server_no_context_takeover);
            }
            assert!(protocol.is_none_or(|p| protocols.contains(&p)), "a protocol not offered: {protocol:?}");
            let head = parse_response(&input[..*consumed], &nonce, protocols, offer, max_len);
            assert_eq!(head, whole, "the head alone parses differently");
        }
        Ok(Response::Rejected { consumed, status, body }) => {
            assert!(*consumed <= input.len(), "rejection consumed {consumed} of {}", input.len());
            assert_ne!(*status, 101);
            assert!(body.len() <= MAX_REJECTION_BODY, "rejection body of {} bytes", body.len());
        }
        Ok(Response::Partial) | Err(_) => {}
    }
    // The connection parses a growing buffer: what a prefix decides must stand.
    let mut end = 0;
    for piece in super::pieces(mode, input.len()) {
        end += piece;
        match parse_response(&input[..end], &nonce, protocols, offer, max_len) {
            Ok(Response::Partial) => {}
            Ok(Response::Accepted { .. }) => {
                assert_eq!(parse_response(&input[..end], &nonce, protocols, offer, max_len), whole)
            }
            Ok(Response::Rejected { status, .. }) => {
                assert!(
                    matches!(whole, Ok(Response::Rejected { status: s, .. }) if s == status),
                    "a prefix rejected with {status}, the whole input gives {whole:?}"
                );
            }
            Err(e) => assert!(whole.is_err(), "a prefix failed with {e:?}, the whole input gives {whole:?}"),
        }
    }
}

/// What the frame decoder reports, with payload pieces of one frame joined, so the events of
/// different splits of the same bytes compare equal.
#[cfg(feature = "alloc")]
#[derive(Debug, PartialEq, Eq)]
enum FrameEvent {
    Header(crate::ws::frame::FrameHeader),
    Payload { data: alloc::vec::Vec<u8>, end: bool },
}

/// Decodes `data` fed in `pieces`: the events, the error that stopped it if any, and the bytes
/// consumed (counted only without an error, since a failing call reports none).
#[cfg(feature = "alloc")]
fn decode_frames(
    data: &[u8],
    pieces: impl Iterator<Item = usize>,
) -> (alloc::vec::Vec<FrameEvent>, Option<crate::ws::ProtocolError>, usize) {
    use alloc::vec::Vec;

    use crate::ws::frame::{Decoded, FrameDecoder, MAX_CONTROL_PAYLOAD};
    let mut decoder = FrameDecoder::new();
    let mut events: Vec<FrameEvent> = Vec::new();
    let mut consumed = 0;
    let mut start = 0;
    let mut calls = 0;
    for len in pieces {
        let piece = &data[start..start + len];
        start += len;
        let mut at = 0;
        loop {
            calls += 1;
            // Each call consumes a byte or moves the decoder past a frame's end.
            assert!(calls <= 2 * data.len() + 2 * 64, "no progress");
            let (n, decoded) = match decoder.decode(&piece[at..]) {
                Ok(ok) => ok,
                Err(e) => return (events, Some(e), consumed),
            };
            assert!(n <= piece.len() - at, "consumed {n} of {}", piece.len() - at);
            at += n;
            consumed += n;
            match decoded {
                Decoded::Incomplete => break,
                Decoded::Header(h) => {
                    assert!(
                        !h.opcode.is_control() || (h.fin && h.len <= MAX_CONTROL_PAYLOAD as u64),
                        "{h:?}"
                    );
                    events.push(FrameEvent::Header(h));
                }
                Decoded::Payload { data: bytes, end } => match events.last_mut() {
                    Some(FrameEvent::Payload { data, end: false }) => {
                        data.extend_from_slice(bytes);
                        if let Some(FrameEvent::Payload { end: last_end, .. }) = events.last_mut() {
                            *last_end = end;
                        }
                    }
                    _ => events.push(FrameEvent::Payload { data: bytes.into(), end }),
                },
            }
        }
    }
    (events, None, consumed)
}

/// The frame decoder on a byte stream fed whole and in pieces picked by the first byte: the
/// same events, error and consumed count either way; every header is followed by at most its
/// length in payload, and a frame's payload ends exactly at its length.
#[cfg(feature = "alloc")]
pub fn ws_frame_decoder(data: &[u8]) {
    let Some((&seed, stream)) = data.split_first() else { return };
    let whole = decode_frames(stream, core::iter::once(stream.len()));
    let split = decode_frames(stream, super::pieces(seed, stream.len()));
    assert_eq!(whole.0, split.0, "events differ when split");
    assert_eq!(whole.1, split.1, "errors differ when split");
    if whole.1.is_none() {
        assert_eq!(whole.2, split.2, "consumed counts differ when split");
        assert_eq!(whole.2, stream.len(), "bytes left unconsumed without an error");
    }
    let mut expected: Option<u64> = None;
    for event in &whole.0 {
        match event {
            FrameEvent::Header(h) => {
                assert!(expected.is_none(), "a header inside a payload");
                expected = Some(h.len);
            }
            FrameEvent::Payload { data, end } => {
                let len = expected.take().unwrap_or_else(|| panic!("a payload without a header"));
                assert!(data.len() as u64 <= len, "payload of {} for a length of {len}", data.len());
                assert_eq!(*end, data.len() as u64 == len, "end flag at {} of {len}", data.len());
            }
        }
    }
}

/// The allocation-free connection, open, with small limits, driven by operations read from the
/// start of `data` (the first byte says how many operation bytes follow; they repeat until the
/// stream is used up): feed stream bytes, start a message, write the send side into a buffer
/// of some size, ping, close, advance time, lose the transport. Checks the counts it reports
/// (consumed within the input, writes within the buffer, events within the limits) and that no
/// deadline is left at or before `now` after `handle_timeout`.
#[cfg(feature = "alloc")]
pub fn ws_connection(data: &[u8]) {
    use crate::ws::{CloseCode, Data, State};
    const PAYLOADS: [&[u8]; 4] =
        [b"", b"short", &[0xFF; 90], b"a text message long enough for two frames of fifty bytes"];
    let Some((&count, rest)) = data.split_first() else { return };
    let (ops, stream) = rest.split_at(usize::from(count % 32).min(rest.len()));
    if ops.is_empty() {
        return;
    }
    let config = Config { max_frame_len: 300, max_message_len: 600, send_frame_len: 50, ..Config::default() };
    let Ok(mut conn) = Connection::new_open(config, [count; 32]) else { return };
    let mut held = [0u8; 1024];
    let mut held_len = 0;
    let mut fed = 0;
    let mut payload: &[u8] = b"";
    let mut now = Instant::ZERO;
    let mut calls = 0;
    let mut out = [0u8; 128];
    // Every operation sequence that feeds bytes reaches the end of the stream; one that does
    // not still stops after a bounded number of steps.
    for (step, &op) in ops.iter().cycle().take(4096).enumerate() {
        // Once the stream is in, one more round of operations, then stop.
        if fed == stream.len() && step >= ops.len() && step % ops.len() == 0 {
            break;
        }
        let arg = op >> 3;
        match op & 7 {
            0 | 1 => {
                let take = (usize::from(arg) + 1).min(stream.len() - fed).min(held.len() - held_len);
                held[held_len..held_len + take].copy_from_slice(&stream[fed..fed + take]);
                held_len += take;
                fed += take;
                // A connection stops reading while control frames it owes (pongs, the close
                // reply) are unwritten: with the buffer full, the send side is drained as a
                // runtime would once the socket is writable, and reading tried again.
                for attempt in 0..2 {
                    if attempt == 1 {
                        if held_len < held.len() {
                            break;
                        }
                        while conn.poll_transmit(&mut out, payload).len > 0 {}
                    }
                    loop {
                        calls += 1;
                        assert!(calls < MAX_CALLS, "no progress");
                        let read = conn.handle_input(now, &held[..held_len]);
                        assert!(read.consumed <= held_len, "consumed {} of {held_len}", read.consumed);
                        let consumed = read.consumed;
                        let had_event = read.event.is_some();
                        match read.event {
                            Some(Event::Data(Data { payload, .. })) => {
                                assert!(payload.len() <= 600, "data of {} bytes", payload.len());
                            }
                            Some(Event::Ping(p)) => assert!(p.len() <= 125, "ping of {} bytes", p.len()),
                            Some(Event::Close(c)) => {
                                assert!(c.reason.len() <= 123, "close reason of {}", c.reason.len())
                            }
                            _ => {}
                        }
                        held.copy_within(consumed..held_len, 0);
                        held_len -= consumed;
                        if !had_event && consumed == 0 {
                            break;
                        }
                    }
                }
                // Only a connection that stopped reading may leave a full buffer behind.
                if held_len == held.len() {
                    assert!(conn.state() != State::Open, "an open connection holds {held_len} bytes");
                    return;
                }
            }
            2 => {
                let next = PAYLOADS[usize::from(arg) % 4];
                let kind = if arg & 4 == 0 { MessageKind::Text } else { MessageKind::Binary };
                if conn.start_message(kind, next).is_ok() {
                    payload = next;
                }
            }
            3 => {
                let out = &mut out[..usize::from(arg) * 4 + 1];
                loop {
                    let t = conn.poll_transmit(out, payload);
                    assert!(t.len <= out.len(), "wrote {} into {}", t.len, out.len());
                    if t.len == 0 {
                        break;
                    }
                }
            }
            4 => {
                let _ = conn.send_ping(now);
            }
            5 => {
                let code = [CloseCode::NORMAL, CloseCode::GOING_AWAY, CloseCode(1005), CloseCode(3000)];
                let reason = [
                    "",
                    "bye",
                    "a reason that is much too long for a close frame, over one hundred and twenty three bytes in all, so it is refused",
                ];
                let _ = conn.close(now, code[usize::from(arg) % 4], reason[usize::from(arg >> 2) % 3]);
            }
            6 => {
                now = now + core::time::Duration::from_millis(u64::from(arg) * 997);
                if conn.poll_timeout().is_some_and(|t| t <= now) {
                    let _ = conn.handle_timeout(now);
                    assert!(conn.poll_timeout().is_none_or(|t| t > now), "a deadline left behind");
                }
            }
            _ => {
                let _ = conn.handle_transport_closed(now);
                assert!(
                    conn.start_message(MessageKind::Text, b"x").is_err(),
                    "sending after the transport closed"
                );
            }
        }
    }
}

/// permessage-deflate on a `WebSocket` with small limits: the first byte picks the terms (bit 0
/// server_no_context_takeover, bit 1 client's) and the split (its high bits); bit 2 makes the
/// rest a round trip instead (messages separated by 0xFF through the `Deflater`, then the
/// `Inflater` in two pieces, which must give them back). Otherwise the rest is server bytes:
/// they must give the same events whole and split (a message too large and corrupt may fail
/// either way), no message may pass the limit, and a failure must leave a close frame to send.
#[cfg(feature = "alloc")]
pub fn ws_deflate(data: &[u8]) {
    use alloc::vec::Vec;

    use crate::ws::deflate::{Deflater, Inflater, Params};
    use crate::ws::{WebSocket, WsEvent};

    const MAX: u32 = 4096;
    let Some((&mode, rest)) = data.split_first() else { return };
    let params = Params {
        server_no_context_takeover: mode & 1 != 0,
        client_no_context_takeover: mode & 2 != 0,
        ..Params::default()
    };
    if mode & 4 != 0 {
        let Some(mut deflater) = Deflater::new(&params, (mode >> 4) % 11) else { return };
        // The inflater reads what the deflater wrote: the client's terms are its terms.
        let mirrored = Params { server_no_context_takeover: params.client_no_context_takeover, ..params };
        let mut inflater = Inflater::new(&mirrored, 1 << 20);
        let mut out = Vec::new();
        for message in rest.split(|&b| b == 0xFF) {
            deflater.compress(message, &mut out);
            let (a, b) = out.split_at(out.len() / 2);
            assert!(inflater.feed(a).is_ok() && inflater.feed(b).is_ok(), "our own output failed to inflate");
            assert_eq!(inflater.finish().ok().as_deref(), Some(message), "round trip");
        }
        return;
    }
    let config = Config { max_message_len: MAX, max_frame_len: MAX / 2, ..Config::default() };
    let run = |piece: usize| -> Option<Vec<WsEvent>> {
        let mut ws = WebSocket::new_open_deflate(config, [mode; 32], params).ok()?;
        let mut events = Vec::new();
        let mut held = Vec::new();
        let mut out = [0u8; 512];
        for chunk in rest.chunks(piece.max(1)) {
            held.extend_from_slice(chunk);
            loop {
                let used = ws.handle_input(Instant::ZERO, &held);
                held.drain(..used);
                let before = events.len();
                events.extend(core::iter::from_fn(|| ws.poll_event()));
                while ws.poll_transmit(&mut out) > 0 {}
                if used == 0 && events.len() == before {
                    break;
                }
            }
        }
        if matches!(events.last(), Some(WsEvent::Failed(e)) if e.close_code().is_some()) {
            // The failure's close frame was queued and is what went out last.
            assert!(ws.state() != crate::ws::State::Open, "failed but still open");
        }
        Some(events)
    };
    let Some(whole) = run(rest.len()) else { return };
    for e in &whole {
        if let WsEvent::Message(m) = e {
            assert!(m.as_bytes().len() <= MAX as usize, "a message of {} bytes", m.as_bytes().len());
        }
    }
    let piece = usize::from(mode >> 3) + 1;
    // A message both too large and corrupt may fail either way: miniz_oxide decodes ahead of
    // what it hands out, so with more input at once it can meet the corruption before the
    // output reaches the limit. Both end the connection; they compare as one.
    let same = |events: Vec<WsEvent>| -> Vec<WsEvent> {
        events
            .into_iter()
            .map(|e| match e {
                // The inflater's own `TooLarge` (always `max + 1`), not the connection's length check.
                WsEvent::Failed(crate::ws::Error::MessageTooLong { len, max }) if len == max + 1 => {
                    WsEvent::Failed(crate::ws::Error::MessageTooLong { len: 0, max })
                }
                WsEvent::Failed(crate::ws::Error::Protocol(crate::ws::ProtocolError::BadCompressedData)) => {
                    WsEvent::Failed(crate::ws::Error::MessageTooLong { len: 0, max: u64::from(MAX) })
                }
                other => other,
            })
            .collect()
    };
    assert_eq!(run(piece).map(same), Some(same(whole)), "split into pieces of {piece}");
}

/// Masking: the first 4 bytes are the key, the fifth the phase and a cut; the rest is the
/// payload. `copy_masked` (with `simd`, the AVX2 path where the CPU has it) and the portable
/// path must both equal the bytewise definition, whole and in two pieces.
pub fn ws_mask(data: &[u8]) {
    use crate::ws::mask::{copy_masked, copy_masked_portable};

    let Some((&[k0, k1, k2, k3, p], src)) = data.split_first_chunk::<5>() else { return };
    let key = [k0, k1, k2, k3];
    let phase = usize::from(p & 3);
    let mut want = [0u8; 4096];
    let n = src.len().min(want.len());
    let src = &src[..n];
    for (i, (w, s)) in want.iter_mut().zip(src).enumerate() {
        *w = s ^ key[(phase + i) % 4];
    }
    let mut got = [0u8; 4096];
    copy_masked(&mut got[..n], src, key, phase);
    assert_eq!(&got[..n], &want[..n], "copy_masked");
    let mut portable = [0u8; 4096];
    copy_masked_portable(&mut portable[..n], src, key, phase);
    assert_eq!(&portable[..n], &want[..n], "copy_masked_portable");
    let cut = usize::from(p >> 2) * n / 64;
    let mut pieces = [0u8; 4096];
    copy_masked(&mut pieces[..cut], &src[..cut], key, phase);
    copy_masked(&mut pieces[cut..n], &src[cut..], key, phase + cut);
    assert_eq!(&pieces[..n], &want[..n], "in two pieces at {cut}");
}
