//! The REST broadcast requests: exact request bytes, and response parsing (statuses, bodies
//! with Content-Length, chunked or until close, truncation, caps, timeouts, any split).

use std::time::Duration;

use proptest::prelude::*;
use realtime_core::Instant;
use realtime_core::phoenix::endpoint::CLIENT_INFO;
use realtime_core::supabase::rest::{
    Auth, BatchMessage, MAX_RESPONSE_BODY, RestBody, RestError, RestRequest,
};

const SOCKET: &str = "wss://abc.supabase.co/realtime/v1/websocket?apikey=key&vsn=2.0.0";
const AUTH: Auth<'static> = Auth { api_key: "key", access_token: Some("tok") };
const T: Duration = Duration::from_secs(10);

fn single(body: RestBody<'_>) -> RestRequest {
    RestRequest::single(SOCKET, AUTH, "room 1", "cursor", true, body, Instant::ZERO, T).unwrap()
}

fn bytes_of(req: &mut RestRequest) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 7];
    loop {
        let n = req.poll_transmit(&mut buf);
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn respond(req: &mut RestRequest, response: &[u8]) -> Option<Result<(), RestError>> {
    assert_eq!(req.handle_input(response), response.len());
    req.result().cloned()
}

#[test]
fn single_json_request_exact_bytes() {
    let mut req = single(RestBody::Json(r#"{"x":1}"#));
    assert_eq!((req.host(), req.port(), req.is_tls()), ("abc.supabase.co", 443, true));
    let want = format!(
        "POST /realtime/v1/api/broadcast/room%201/events/cursor?private=true HTTP/1.1\r\nHost: abc.supabase.co\r\napikey: key\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: 7\r\nX-Client-Info: {CLIENT_INFO}\r\nConnection: close\r\n\r\n{{\"x\":1}}"
    );
    assert_eq!(String::from_utf8(bytes_of(&mut req)).unwrap(), want);
}

#[test]
fn single_binary_request_and_a_local_server() {
    let mut req = RestRequest::single(
        "ws://127.0.0.1:4000/socket/websocket",
        Auth { api_key: "sb_publishable_x", access_token: None },
        "room1",
        "blob",
        false,
        RestBody::Binary(&[0, 255, 10]),
        Instant::ZERO,
        T,
    )
    .unwrap();
    assert_eq!((req.host(), req.port(), req.is_tls()), ("127.0.0.1", 4000, false));
    let mut want = format!(
        "POST /api/broadcast/room1/events/blob HTTP/1.1\r\nHost: 127.0.0.1:4000\r\napikey: sb_publishable_x\r\nContent-Type: application/octet-stream\r\nContent-Length: 3\r\nX-Client-Info: {CLIENT_INFO}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    want.extend_from_slice(&[0, 255, 10]);
    assert_eq!(bytes_of(&mut req), want);
}

#[test]
fn batch_request_exact_bytes() {
    let messages = [
        BatchMessage { topic: "room1", event: "cursor", payload: r#"{"x":1}"#, private: false },
        BatchMessage { topic: "ro\"om", event: "e", payload: "[1.50]", private: true },
    ];
    let mut req = RestRequest::batch(SOCKET, AUTH, &messages, Instant::ZERO, T).unwrap();
    let body = r#"{"messages":[{"topic":"room1","event":"cursor","payload":{"x":1},"private":false},{"topic":"ro\"om","event":"e","payload":[1.50],"private":true}]}"#;
    let want = format!(
        "POST /realtime/v1/api/broadcast HTTP/1.1\r\nHost: abc.supabase.co\r\napikey: key\r\nAuthorization: Bearer tok\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-Client-Info: {CLIENT_INFO}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(String::from_utf8(bytes_of(&mut req)).unwrap(), want);
    serde_json::from_str::<serde_json::Value>(body).unwrap();
}

#[test]
fn bad_inputs_are_refused() {
    let r = |url: &str, auth: Auth<'_>, body: RestBody<'_>| {
        RestRequest::single(url, auth, "t", "e", false, body, Instant::ZERO, T).err()
    };
    assert_eq!(r("https://x/realtime/v1", AUTH, RestBody::Json("{}")), Some(RestError::InvalidUrl));
    assert_eq!(r(SOCKET, AUTH, RestBody::Json("{")), Some(RestError::InvalidJson));
    let injected = Auth { api_key: "k\r\nX-Evil: 1", access_token: None };
    assert_eq!(r(SOCKET, injected, RestBody::Json("{}")), Some(RestError::InvalidHeader));
    let token = Auth { api_key: "k", access_token: Some("t\n") };
    assert_eq!(r(SOCKET, token, RestBody::Json("{}")), Some(RestError::InvalidHeader));
}

#[test]
fn credentials_never_appear_in_debug_output() {
    let shown = format!("{:?}", Auth { api_key: "sb_secret_abc", access_token: Some("eyJhbGci") });
    assert!(!shown.contains("sb_secret") && !shown.contains("eyJ"), "{shown}");
    assert!(shown.contains("redacted"));
    let req = RestRequest::single(
        SOCKET,
        Auth { api_key: "sb_secret_abc", access_token: Some("eyJhbGci") },
        "t",
        "e",
        false,
        RestBody::Json("{}"),
        Instant::ZERO,
        T,
    )
    .unwrap();
    let shown = format!("{req:?}");
    assert!(!shown.contains("sb_secret") && !shown.contains("eyJ"), "{shown}");
}

#[test]
fn statuses_map_to_typed_results() {
    let json = |status: &str, body: &str| {
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let cases: Vec<(String, bool, Result<(), RestError>)> = vec![
        (json("202 Accepted", ""), true, Ok(())),
        ("HTTP/1.1 202 Accepted\r\n\r\n".into(), true, Ok(())),
        (json("404 Not Found", r#"{"error":"no route"}"#), true, Err(RestError::ServerTooOld)),
        (
            json("404 Not Found", r#"{"error":"no route"}"#),
            false,
            Err(RestError::Status { status: 404, message: "no route".into() }),
        ),
        (
            json("401 Unauthorized", r#"{"message":"Unauthorized"}"#),
            true,
            Err(RestError::Unauthorized("Unauthorized".into())),
        ),
        (
            json("403 Forbidden", r#"{"message":"Tenant suspended"}"#),
            true,
            Err(RestError::Forbidden("Tenant suspended".into())),
        ),
        (
            json("422 Unprocessable Entity", r#"{"message":"Payload too large"}"#),
            true,
            Err(RestError::PayloadTooLarge("Payload too large".into())),
        ),
        (
            json("422 Unprocessable Entity", r#"{"message":"bad"}"#),
            true,
            Err(RestError::Invalid("bad".into())),
        ),
        (
            json("429 Too Many Requests", r#"{"message":"slow down"}"#),
            true,
            Err(RestError::RateLimited("slow down".into())),
        ),
        (
            json("500 Internal Server Error", "oops"),
            true,
            Err(RestError::Status { status: 500, message: "oops".into() }),
        ),
    ];
    for (response, is_single, want) in cases {
        let mut req = if is_single {
            single(RestBody::Json("{}"))
        } else {
            RestRequest::batch(SOCKET, AUTH, &[], Instant::ZERO, T).unwrap()
        };
        assert_eq!(respond(&mut req, response.as_bytes()), Some(want), "{response}");
        assert_eq!(req.poll_timeout(), None, "done");
    }
}

#[test]
fn chunked_and_until_close_bodies() {
    let mut req = single(RestBody::Json("{}"));
    let r = b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{\"mes\r\n15\r\nsage\":\"Unauthorized\"}\r\n0\r\n\r\n";
    assert_eq!(respond(&mut req, r), Some(Err(RestError::Unauthorized("Unauthorized".into()))));
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(respond(&mut req, b"HTTP/1.1 500 Oops\r\n\r\nplain text"), None, "until close");
    req.handle_eof();
    assert_eq!(
        req.result().cloned(),
        Some(Err(RestError::Status { status: 500, message: "plain text".into() }))
    );
}

#[test]
fn truncated_malformed_and_late_responses() {
    let mut req = single(RestBody::Json("{}"));
    respond(&mut req, b"HTTP/1.1 202 Acc");
    req.handle_eof();
    assert_eq!(req.result().cloned(), Some(Err(RestError::Truncated)), "EOF inside the head");
    let mut req = single(RestBody::Json("{}"));
    respond(&mut req, b"HTTP/1.1 500 X\r\nContent-Length: 10\r\n\r\nabc");
    req.handle_eof();
    assert_eq!(req.result().cloned(), Some(Err(RestError::Truncated)), "EOF inside the body");
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(respond(&mut req, b"SSH-2.0-OpenSSH\r\n\r\n"), Some(Err(RestError::MalformedResponse)));
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(
        respond(&mut req, b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
        Some(Err(RestError::MalformedResponse))
    );
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(
        respond(&mut req, b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n"),
        Some(Err(RestError::MalformedResponse)),
        "a chunk longer than its size"
    );
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(req.poll_timeout(), Some(Instant::ZERO + T));
    req.handle_timeout(Instant::ZERO + (T - Duration::from_millis(1)));
    assert_eq!(req.result(), None);
    req.handle_timeout(Instant::ZERO + T);
    assert_eq!(req.result().cloned(), Some(Err(RestError::Timeout)));
}

#[test]
fn over_long_responses_are_bounded() {
    // A head that never ends.
    let mut req = single(RestBody::Json("{}"));
    let mut head = b"HTTP/1.1 500 X\r\n".to_vec();
    while head.len() < 20_000 {
        head.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaa\r\n");
    }
    assert_eq!(respond(&mut req, &head), Some(Err(RestError::ResponseTooLarge)));
    // A 1 MiB error body: read to its end, its message capped.
    let mut req = single(RestBody::Json("{}"));
    let body = vec![b'x'; 1 << 20];
    let mut r = format!("HTTP/1.1 500 X\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    r.extend_from_slice(&body);
    match respond(&mut req, &r) {
        Some(Err(RestError::Status { status: 500, message })) => assert_eq!(message.len(), MAX_RESPONSE_BODY),
        other => panic!("{other:?}"),
    }
    // A chunked body with a chunk-size line that never ends.
    let mut req = single(RestBody::Json("{}"));
    let mut r = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    r.extend(std::iter::repeat_n(b'1', 500));
    assert_eq!(respond(&mut req, &r), Some(Err(RestError::MalformedResponse)));
    // An accepted response is decided at its head, whatever body follows.
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(
        respond(&mut req, b"HTTP/1.1 202 Accepted\r\nContent-Length: 999999999\r\n\r\n"),
        Some(Ok(()))
    );
}

proptest! {
    /// Any split of a response gives the same result.
    #[test]
    fn any_split_of_a_response_gives_the_same_result(cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6), which in 0usize..3) {
        let responses: [&[u8]; 3] = [
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"mes\r\n15\r\nsage\":\"Unauthorized\"}\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Slow\r\nContent-Length: 23\r\n\r\n{\"message\":\"slow down\"}",
        ];
        let response = responses[which];
        let mut whole = single(RestBody::Json("{}"));
        let want = respond(&mut whole, response);
        prop_assert!(want.is_some());
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(response.len())).collect();
        points.sort_unstable();
        points.dedup();
        let mut req = single(RestBody::Json("{}"));
        let mut at = 0;
        for p in points.into_iter().chain([response.len()]) {
            req.handle_input(&response[at..p]);
            at = p;
        }
        prop_assert_eq!(req.result().cloned(), want);
    }

    /// Nothing a server sends panics or grows memory past the caps.
    #[test]
    fn any_response_bytes_are_handled(bytes in proptest::collection::vec(any::<u8>(), 0..300), eof in any::<bool>()) {
        let mut req = single(RestBody::Json("{}"));
        let mut input = b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        input.extend(bytes);
        req.handle_input(&input);
        if eof {
            req.handle_eof();
            prop_assert!(req.result().is_some());
        }
    }
}

#[test]
fn an_interim_1xx_response_does_not_decide_the_status() {
    for interim in
        ["HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n"]
    {
        let mut req = single(RestBody::Json("{}"));
        let resp = format!("{interim}HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        let r = respond(&mut req, resp.as_bytes());
        req.handle_eof();
        let r = r.or_else(|| req.result().cloned());
        assert_eq!(r, Some(Ok(())), "{interim:?} then 202 gave {r:?}");
    }
}

#[test]
fn a_202_with_many_headers_is_accepted() {
    let mut resp = String::from("HTTP/1.1 202 Accepted\r\n");
    for i in 0..40 {
        resp.push_str(&format!("x-h{i}: v\r\n"));
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(respond(&mut req, resp.as_bytes()), Some(Ok(())));
}

#[test]
fn many_interim_responses_are_skipped_in_a_loop() {
    let mut resp = "HTTP/1.1 100 Continue\r\n\r\n".repeat(300);
    resp.push_str("HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    let mut req = single(RestBody::Json("{}"));
    assert_eq!(respond(&mut req, resp.as_bytes()), Some(Ok(())));
}
