//! Harness functions shared by the cargo-fuzz targets in `fuzz/` and the replay tests, so both
//! exercise exactly the same code. Unstable API behind the `_fuzzing` feature.

use crate::time::Instant;
use crate::ws::{Config, Connection, Event, MessageKind, Request, Url};

/// Upper bound of `handle_input` calls per input: each call that returns with nothing consumed
/// and no event must be followed by progress elsewhere, so a loop is a bug.
const MAX_CALLS: usize = 1 << 16;

/// Feeds `data` to an open connection with small limits, in pieces whose sizes come from the
/// first bytes, draining the send side with small buffers in between. Panics only on a broken
/// invariant (a bug), never on bad input.
pub fn ws_client(data: &[u8]) {
    let Some((&shape, rest)) = data.split_first() else { return };
    let config = Config { max_frame_len: 300, max_message_len: 600, send_frame_len: 50, ..Config::default() };
    let Ok(mut conn) = Connection::new_open(config, [shape; 32]) else { return };
    let piece = usize::from(shape % 17) + 1;
    let out_len = usize::from(shape / 17) + 1;
    drive(&mut conn, rest, piece, out_len);
}

/// Feeds `data` as the server's handshake response, then as frames.
pub fn ws_handshake(data: &[u8]) {
    let Ok(mut conn) =
        Connection::new(Config { max_handshake_response_len: 512, ..Config::default() }, [1; 32])
    else {
        return;
    };
    let Ok(url) = Url::parse("ws://localhost/socket") else { return };
    let mut out = [0u8; 512];
    let request = Request { url, protocols: &["p"], headers: &[] };
    if conn.start(Instant::ZERO, &request, &mut out).is_err() {
        return;
    }
    drive(&mut conn, data, 7, 64);
}

fn drive(conn: &mut Connection, data: &[u8], piece: usize, out_len: usize) {
    let mut held: [u8; 1024] = [0; 1024];
    let mut held_len = 0;
    let mut out = [0u8; 256];
    let out = &mut out[..out_len.min(256)];
    let mut sent_once = false;
    let mut calls = 0;
    for chunk in data.chunks(piece) {
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
