//! The opening handshake through `Connection::start` and `handle_input`.

use core::time::Duration;

use realtime_core::Instant;
use realtime_core::ws::handshake::accept_for_key;
use realtime_core::ws::{Config, Connection, Error, HandshakeError, MessageKind, Request, State, Url};

use crate::harness::{Ev, SEED, feed, frame};

fn request(protocols: &'static [&'static str]) -> Request<'static> {
    Request {
        url: Url::parse("ws://localhost:4000/realtime/v1/websocket?apikey=k&vsn=2.0.0").unwrap(),
        protocols,
        headers: &[("X-Client-Info", "realtime-rs/test")],
    }
}

/// Starts a connection; returns it, the request text and the accept value for its key.
fn started(protocols: &'static [&'static str]) -> (Connection, String, String) {
    let mut conn = Connection::new(Config::default(), SEED).unwrap();
    let mut out = [0u8; 1024];
    let n = conn.start(Instant::ZERO, &request(protocols), &mut out).unwrap();
    let text = String::from_utf8(out[..n].to_vec()).unwrap();
    let key = text.lines().find_map(|l| l.strip_prefix("Sec-WebSocket-Key: ")).unwrap().to_string();
    let accept = String::from_utf8(accept_for_key(key.as_bytes()).to_vec()).unwrap();
    (conn, text, accept)
}

fn upgrade(accept: &str, extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n{extra}\r\n")
        .into_bytes()
}

#[test]
fn request_has_the_required_fields_and_a_seeded_key() {
    let (_, text, _) = started(&[]);
    assert!(
        text.starts_with(
            "GET /realtime/v1/websocket?apikey=k&vsn=2.0.0 HTTP/1.1\r\nHost: localhost:4000\r\n"
        )
    );
    for line in [
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Version: 13",
        "X-Client-Info: realtime-rs/test",
    ] {
        assert!(text.contains(line), "{line} missing from {text}");
    }
    let (_, again, _) = started(&[]);
    assert_eq!(text, again, "same seed, same key");
    let mut other = Connection::new(Config::default(), [9; 32]).unwrap();
    let mut out = [0u8; 1024];
    let n = other.start(Instant::ZERO, &request(&[]), &mut out).unwrap();
    assert_ne!(&out[..n], text.as_bytes(), "another seed, another key");
}

#[test]
fn accepted_with_frames_after_the_header_whole_or_byte_by_byte() {
    for bytewise in [false, true] {
        let (mut conn, _, accept) = started(&[]);
        let mut bytes = upgrade(&accept, "");
        bytes.extend(frame(true, 1, b"{\"hi\":1}"));
        let cuts: Vec<usize> = if bytewise { (1..bytes.len()).collect() } else { vec![] };
        let (ev, used) = feed(&mut conn, Instant::ZERO, &bytes, &cuts, &mut Vec::new());
        assert_eq!(ev, [Ev::Open(None), Ev::Message(MessageKind::Text, b"{\"hi\":1}".to_vec())]);
        assert_eq!(used, bytes.len());
        assert_eq!(conn.state(), State::Open);
    }
}

#[test]
fn subprotocol_must_be_one_offered() {
    let (mut conn, text, accept) = started(&["phoenix", "v2"]);
    assert!(text.contains("Sec-WebSocket-Protocol: phoenix, v2\r\n"));
    let (ev, _) = feed(
        &mut conn,
        Instant::ZERO,
        &upgrade(&accept, "Sec-WebSocket-Protocol: v2\r\n"),
        &[],
        &mut Vec::new(),
    );
    assert_eq!(ev, [Ev::Open(Some("v2".into()))]);
    // Not offered: another name, or any name when none was offered.
    let offered: [&'static [&'static str]; 2] = [&["phoenix"], &[]];
    for protocols in offered {
        let (mut conn, _, accept) = started(protocols);
        let resp = upgrade(&accept, "Sec-WebSocket-Protocol: v2\r\n");
        let (ev, _) = feed(&mut conn, Instant::ZERO, &resp, &[], &mut Vec::new());
        assert_eq!(ev, [Ev::Failed(Error::Handshake(HandshakeError::UnexpectedProtocol))]);
    }
}

#[test]
fn invalid_upgrades_fail_without_a_close_frame() {
    // Each case builds a response from the right accept value.
    type Response = fn(&str) -> Vec<u8>;
    let cases: [(Response, HandshakeError); 5] = [
        (|_| upgrade("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", ""), HandshakeError::BadAccept),
        (
            |a| {
                format!("HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {a}\r\n\r\n")
                    .into_bytes()
            },
            HandshakeError::MissingUpgrade,
        ),
        (
            |a| {
                format!("HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {a}\r\n\r\n")
                    .into_bytes()
            },
            HandshakeError::MissingConnectionUpgrade,
        ),
        (
            |a| upgrade(a, "Sec-WebSocket-Extensions: permessage-deflate\r\n"),
            HandshakeError::UnexpectedExtension,
        ),
        (|_| b"HTTP/1.1 ??? nope\r\n\r\n".to_vec(), HandshakeError::MalformedResponse),
    ];
    for (make, want) in cases {
        let (mut conn, _, accept) = started(&[]);
        let mut wire = Vec::new();
        let (ev, _) = feed(&mut conn, Instant::ZERO, &make(&accept), &[], &mut wire);
        assert_eq!(ev, [Ev::Failed(Error::Handshake(want))]);
        assert_eq!(conn.state(), State::Closed);
        assert!(wire.is_empty(), "no close frame before the upgrade");
    }
}

#[test]
fn rejection_carries_status_and_json_body() {
    let (mut conn, _, _) = started(&[]);
    let body = br#"{"error":"invalid JWT"}"#;
    let mut resp = format!(
        "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    resp.extend_from_slice(body);
    let cuts: Vec<usize> = (1..resp.len()).collect();
    let (ev, _) = feed(&mut conn, Instant::ZERO, &resp, &cuts, &mut Vec::new());
    assert_eq!(ev, [Ev::Rejected(401, body.to_vec())]);
    assert_eq!(conn.state(), State::Closed);

    let (mut conn, _, _) = started(&[]);
    let resp = b"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: Chunked\r\n\r\n11\r\n{\"error\":\"slow\"}\n\r\n0\r\n\r\n";
    let (ev, _) = feed(&mut conn, Instant::ZERO, resp, &[], &mut Vec::new());
    assert_eq!(ev, [Ev::Rejected(429, b"{\"error\":\"slow\"}\n".to_vec())]);
}

#[test]
fn url_with_query_and_no_path_requests_slash() {
    let req =
        Request { url: Url::parse("ws://127.0.0.1:4000?apikey=k").unwrap(), protocols: &[], headers: &[] };
    let mut conn = Connection::new(Config::default(), SEED).unwrap();
    let mut out = [0u8; 512];
    let n = conn.start(Instant::ZERO, &req, &mut out).unwrap();
    assert!(out[..n].starts_with(b"GET /?apikey=k HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n"));
}

#[test]
fn oversized_response_header_is_refused() {
    let mut conn =
        Connection::new(Config { max_handshake_response_len: 256, ..Config::default() }, SEED).unwrap();
    let mut out = [0u8; 1024];
    conn.start(Instant::ZERO, &request(&[]), &mut out).unwrap();
    let mut resp = b"HTTP/1.1 101 Switching Protocols\r\n".to_vec();
    resp.extend(std::iter::repeat_n(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".as_slice(), 20).flatten());
    let (ev, _) = feed(&mut conn, Instant::ZERO, &resp, &[], &mut Vec::new());
    assert_eq!(ev, [Ev::Failed(Error::Handshake(HandshakeError::ResponseTooLarge))]);
}

#[test]
fn handshake_times_out_on_virtual_time() {
    let (mut conn, _, _) = started(&[]);
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline, Instant::ZERO + Duration::from_secs(10));
    assert_eq!(conn.handle_timeout(Instant::from_millis(9_999)), None);
    assert_eq!(conn.state(), State::Handshaking);
    assert_eq!(conn.handle_timeout(deadline), Some(Error::HandshakeTimeout));
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn eof_during_handshake_is_reported() {
    let (mut conn, _, _) = started(&[]);
    assert_eq!(
        conn.handle_transport_closed(Instant::ZERO),
        Some(Error::Handshake(HandshakeError::Incomplete))
    );
}
