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
    let Some((&[shape, ops], rest)) = data.split_first_chunk::<2>() else { return };
    let config = Config { max_frame_len: 300, max_message_len: 600, send_frame_len: 50, ..Config::default() };
    let Ok(mut conn) = Connection::new_open(config, [shape; 32]) else { return };
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

/// Decodes `data` as a binary frame and, when it is UTF-8, as v1 and v2 text frames; checks that
/// what decodes re-encodes (text) to something that decodes the same.
#[cfg(feature = "alloc")]
pub fn phoenix_decode(data: &[u8]) {
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::phoenix::serializer::{Outgoing, Payload, Vsn, decode_binary, decode_text, encode_text};
    let _ = decode_binary(Vec::from(data));
    let Ok(text) = core::str::from_utf8(data) else { return };
    for vsn in [Vsn::V1, Vsn::V2] {
        let Ok(msg) = decode_text(vsn, String::from(text)) else { continue };
        let Payload::Json(payload) = msg.payload() else { continue };
        let out = Outgoing {
            join_ref: msg.join_ref(),
            msg_ref: msg.msg_ref(),
            topic: msg.topic(),
            event: msg.event(),
            payload,
        };
        let again = decode_text(vsn, encode_text(vsn, &out));
        assert_eq!(again.as_ref(), Ok(&msg), "re-encoded message decodes differently");
    }
}

/// Reads `data` as a `postgres_changes` payload (and as legacy bare data) and converts every
/// column of its rows by its type and by a set of other types: nothing may panic.
#[cfg(feature = "alloc")]
pub fn postgres_change(data: &[u8]) {
    use crate::phoenix::postgres::{Change, convert::convert};
    const TYPES: [&str; 12] = [
        "int8",
        "numeric",
        "bool",
        "jsonb",
        "timestamp",
        "_text",
        "_int4",
        "_numeric",
        "_box",
        "float8",
        "text",
        "_jsonb",
    ];
    let Ok(text) = core::str::from_utf8(data) else { return };
    let changes = [Change::parse(text).map(|(_, c)| c), Change::parse_data(text)];
    for change in changes.into_iter().flatten() {
        for row in [&change.new, &change.old].into_iter().flatten() {
            for (name, raw) in row.iter() {
                let _ = change.new_value(name);
                let _ = change.old_value(name);
                for t in TYPES {
                    let _ = convert(t, raw);
                }
            }
        }
    }
    for t in TYPES {
        let _ = convert(t, text);
    }
}

/// Drives a Realtime client on a self-framing transport with an operation stream: app commands,
/// transport events, time steps and server messages whose bytes come from `data` (so the
/// decoder, the dispatch and the channel machine all see hostile input). Panics only on a
/// broken invariant: a push that ends twice, or a deadline left at or before `now` after
/// `handle_timeout`.
#[cfg(feature = "alloc")]
pub fn phoenix_client(data: &[u8]) {
    use alloc::collections::BTreeSet;
    use alloc::string::String;
    use alloc::vec::Vec;
    use core::time::Duration;

    use crate::phoenix::channel_config::ChannelConfig;
    use crate::phoenix::client::{
        ChannelId, Client, ClientConfig, Event, PushBody, TransportClosed, TransportCommand, TransportKind,
    };
    use crate::phoenix::postgres::{Binding, ChangeEvent};
    use crate::ws::Message;

    let mut config = ClientConfig::new("ws://fuzz.test/realtime/v1", "key");
    config.transport = TransportKind::Messages;
    config.push_buffer = 4;
    config.max_events = 64;
    config.token_source = data.first().is_some_and(|b| b & 1 == 1);
    let Ok(mut c) = Client::new(config, [data.first().copied().unwrap_or(0); 32]) else { return };
    let mut now = Instant::ZERO;
    let mut ids: Vec<ChannelId> = Vec::new();
    let mut transport = None;
    let mut ended = BTreeSet::new();
    let mut accepted = BTreeSet::new();
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        match op % 16 {
            // The wall clock jumps around (sleeps, clocks set) between readings.
            0 if op / 16 % 2 == 1 => c.set_wall_clock(now, u64::from(op / 32) * 1_800_000),
            0 => c.connect(now),
            1 if op / 16 % 2 == 1 => {
                let code = [1000, 1001, 3000, 4999, 5000][usize::from(op / 32) % 5];
                let _ = c.disconnect_with(now, code, "bye");
            }
            1 => c.disconnect(now),
            2 if op / 16 % 2 == 0 => c.resume(now),
            2 => c.set_access_token(now, (op / 32 % 2 == 0).then(|| String::from("a.eyJleHAiOjF9.c"))),
            3 => {
                let name = ["a", "b", "c"][usize::from(op / 16) % 3];
                // Channel `a` has postgres bindings (one repeated), in the ready mode when asked.
                let mut config = ChannelConfig::new();
                if name == "a" {
                    config = config
                        .postgres_changes(Binding::new(ChangeEvent::Insert, "public").table("t"))
                        .postgres_changes(Binding::new(ChangeEvent::All, "public"))
                        .postgres_changes(Binding::new(ChangeEvent::Insert, "public").table("t"));
                    if op / 64 % 2 == 1 {
                        config = config.wait_for_postgres_ready(Duration::from_secs(15));
                    }
                }
                if let Ok(id) = c.channel(now, name, config) {
                    ids.push(id);
                }
            }
            4 | 5 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let _ = c.subscribe(now, id);
                }
            }
            // A runtime's handle clone: one more handle to remove.
            6 if op / 128 == 1 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1))
                    && c.retain_channel(id).is_ok()
                {
                    ids.push(id);
                }
            }
            6 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let _ = c.unsubscribe(now, id);
                }
            }
            7 => {
                if !ids.is_empty() {
                    let id = ids.swap_remove(usize::from(op / 16) % ids.len());
                    let _ = c.remove_channel(now, id);
                }
            }
            8 if op / 128 == 1 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    match op / 16 % 4 {
                        0 => {
                            let _ = c.enable_presence(now, id);
                        }
                        1 => {
                            let _ = c.untrack(now, id);
                        }
                        _ => {
                            let _ = c.track(now, id, r#"{"u":1}"#);
                        }
                    }
                }
            }
            8 => {
                if let Some(&id) = ids.get(usize::from(op / 16) % ids.len().max(1)) {
                    let body = PushBody::Json { event: String::from("e"), payload: String::from("{}") };
                    if let Ok(push) = c.push(now, id, body) {
                        accepted.insert(push);
                    }
                }
            }
            9 => {
                if let Some(id) = transport {
                    c.handle_transport_open(now, id);
                }
            }
            10 => {
                if let Some(id) = transport {
                    c.handle_transport_closed(now, id, TransportClosed::Eof);
                }
            }
            11 => now = now + Duration::from_millis(u64::from(op / 16) * 700),
            12 | 13 => {
                // A well-formed server message about a ref the fuzzer picks, so replies,
                // closes and errors reach the channels (random bytes rarely would).
                let Some((&arg, tail)) = rest.split_first() else { break };
                rest = tail;
                let topic = ["realtime:a", "realtime:b", "realtime:c", "phoenix"][usize::from(arg % 4)];
                let r = arg / 4 % 24;
                let text = match (op / 16) % 10 {
                    5 => alloc::format!(
                        r#"["{r}","{r}","{topic}","phx_reply",{{"status":"ok","response":{{"postgres_changes":[{{"id":{r},"event":"INSERT","schema":"public","table":"t"}},{{"id":7,"event":"*","schema":"public"}}]}}}}]"#
                    ),
                    6 => alloc::format!(
                        r#"[null,null,"{topic}","postgres_changes",{{"ids":[{r},7],"data":{{"schema":"public","table":"t","type":"{}","columns":[{{"name":"id","type":"int8"}}],"record":{{"id":{r}}},"old_record":null,"errors":null,"commit_timestamp":"x"}}}}]"#,
                        ["INSERT", "UPDATE", "DELETE"][usize::from(r % 3)]
                    ),
                    7 => alloc::format!(
                        r#"[null,null,"{topic}","system",{{"extension":"postgres_changes","status":"{}","message":"m"}}]"#,
                        if r % 2 == 0 { "ok" } else { "error" }
                    ),
                    8 => alloc::format!(
                        r#"["{r}",null,"{topic}","presence_state",{{"k{r}":{{"metas":[{{"phx_ref":"p{r}"}}]}}}}]"#
                    ),
                    9 => alloc::format!(
                        r#"["{r}",null,"{topic}","presence_diff",{{"joins":{{"k":{{"metas":[{{"phx_ref":"q{r}"}}]}}}},"leaves":{{"k{r}":{{"metas":[{{"phx_ref":"p{r}"}}]}}}}}}]"#
                    ),
                    0 => alloc::format!(
                        r#"["{r}","{r}","{topic}","phx_reply",{{"status":"ok","response":{{}}}}]"#
                    ),
                    1 => alloc::format!(
                        r#"[null,"{r}","{topic}","phx_reply",{{"status":"error","response":{{"reason":"x"}}}}]"#
                    ),
                    2 => alloc::format!(r#"["{r}","{r}","{topic}","phx_close",{{}}]"#),
                    3 => alloc::format!(r#"["{r}","{r}","{topic}","phx_error",{{}}]"#),
                    _ => alloc::format!(r#"["{r}",null,"{topic}","broadcast",{{"n":{r}}}]"#),
                };
                c.handle_message(now, Message::Text(text));
            }
            _ => {
                // A server message: the next `len` bytes, text when they are UTF-8.
                let len = usize::from(rest.first().copied().unwrap_or(0)).min(rest.len().saturating_sub(1));
                let Some((body, tail)) = rest.get(1..).map(|r| r.split_at(len)) else { break };
                rest = tail;
                let msg = match core::str::from_utf8(body) {
                    Ok(text) if op % 2 == 0 => Message::Text(String::from(text)),
                    _ => Message::Binary(Vec::from(body)),
                };
                c.handle_message(now, msg);
            }
        }
        if c.poll_timeout().is_some_and(|t| t <= now) {
            c.handle_timeout(now);
            assert!(c.poll_timeout().is_none_or(|t| t > now), "a deadline left behind");
        }
        while let Some(cmd) = c.poll_transport() {
            if let TransportCommand::Open { id, .. } = cmd {
                transport = Some(id);
            }
        }
        while c.poll_message().is_some() {}
        while let Some(e) = c.poll_event() {
            if let Event::Push { push, .. } = e {
                assert!(ended.insert(push), "a push ended twice");
            }
        }
    }
    // Every push has a deadline: an hour later, each one has ended, exactly once.
    let later = now + Duration::from_secs(3600);
    c.handle_timeout(later);
    while c.poll_message().is_some() {}
    while let Some(e) = c.poll_event() {
        if let Event::Push { push, .. } = e {
            assert!(ended.insert(push), "a push ended twice");
        }
    }
    assert!(accepted.is_subset(&ended), "a push never ended");
}
