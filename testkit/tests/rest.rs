//! The REST broadcast endpoints (spec A.7) over real HTTP/1.1, checked by what socket
//! subscribers receive.

mod common;

use common::{Client, http, kind4};
use realtime_testkit::{Auth, Config, Server};
use serde_json::{Value, json};

const JSON: (&str, &str) = ("content-type", "application/json");
const BYTES: (&str, &str) = ("content-type", "application/octet-stream");

async fn v1_join(c: &mut Client, topic: &str, config: Value) {
    c.send_json(json!({"topic": topic, "event": "phx_join", "payload": {"config": config}, "ref": "1", "join_ref": "1"}))
        .await;
    assert_eq!(c.json().await["payload"]["status"], "ok");
}

#[tokio::test]
async fn single_endpoint_json_binary_and_private() {
    let server = Server::start(Config::default()).await.unwrap();
    let addr = server.addr();
    let topic = "realtime:room1";
    let mut v2 = Client::v2(&server.url()).await;
    let mut v1 = Client::v1(&server.url()).await;
    let mut private = Client::v2(&server.url()).await;
    v2.join_ok(topic, json!({})).await;
    v1_join(&mut v1, topic, json!({})).await;
    private.join_ok(topic, json!({"private": true})).await;

    // JSON: kind 4 with encoding 1 to v2, and the sub-topic rewritten to the join topic.
    let r =
        http(addr, "POST", "/realtime/v1/api/broadcast/room1/events/cursor", &[JSON], br#"{"x":1}"#).await;
    assert_eq!(r.status, 202);
    assert_eq!(v2.binary().await, kind4(topic, "cursor", "", 1, br#"{"x":1}"#));
    assert_eq!(
        v1.json().await,
        json!({"topic": topic, "event": "broadcast", "ref": null,
            "payload": {"type": "broadcast", "event": "cursor", "payload": {"x": 1}}})
    );

    // Bytes: kind 4 with encoding 0 to v2; v1 gets nothing. The path without `/realtime/v1`
    // (the server's own) works too.
    let bytes = [0u8, 0xfe, b'"', 7];
    let r = http(addr, "POST", "/api/broadcast/room1/events/blob", &[BYTES], &bytes).await;
    assert_eq!(r.status, 202);
    assert_eq!(v2.binary().await, kind4(topic, "blob", "", 0, &bytes));

    // ?private=true reaches only the private channel.
    let r =
        http(addr, "POST", "/realtime/v1/api/broadcast/room1/events/p?private=true", &[JSON], b"[1]").await;
    assert_eq!(r.status, 202);
    assert_eq!(private.binary().await, kind4(topic, "p", "", 1, b"[1]"));

    v2.quiet2().await;
    v1.quiet1().await;
    private.quiet2().await;
}

#[tokio::test]
async fn batch_endpoint_with_ids_and_private() {
    let server = Server::start(Config::default()).await.unwrap();
    let topic = "realtime:room1";
    let mut v2 = Client::v2(&server.url()).await;
    let mut v1 = Client::v1(&server.url()).await;
    let mut private = Client::v2(&server.url()).await;
    v2.join_ok(topic, json!({})).await;
    v1_join(&mut v1, topic, json!({})).await;
    private.join_ok(topic, json!({"private": true})).await;

    let body = json!({"messages": [
        {"topic": "room1", "event": "a", "payload": {"n": 1}},
        {"topic": "room1", "event": "b", "payload": {"n": 2}, "id": "7a2c"},
        {"topic": "room1", "event": "c", "payload": {"n": 3}, "private": true},
    ]});
    let r =
        http(server.addr(), "POST", "/realtime/v1/api/broadcast", &[JSON], body.to_string().as_bytes()).await;
    assert_eq!(r.status, 202);
    let a = json!({"type": "broadcast", "event": "a", "payload": {"n": 1}});
    let b = json!({"type": "broadcast", "event": "b", "payload": {"n": 2}, "meta": {"id": "7a2c"}});
    let c = json!({"type": "broadcast", "event": "c", "payload": {"n": 3}});
    assert_eq!(v2.json().await, json!([null, null, topic, "broadcast", a]));
    assert_eq!(v2.json().await, json!([null, null, topic, "broadcast", b]));
    assert_eq!(v1.json().await, json!({"topic": topic, "event": "broadcast", "payload": a, "ref": null}));
    assert_eq!(v1.json().await, json!({"topic": topic, "event": "broadcast", "payload": b, "ref": null}));
    assert_eq!(private.json().await, json!([null, null, topic, "broadcast", c]));
    v2.quiet2().await;
    v1.quiet1().await;
    private.quiet2().await;
}

#[tokio::test]
async fn rest_needs_a_key_and_a_valid_body() {
    let server = Server::start(Config { auth: Auth::ApiKey("k".into()), ..Config::default() }).await.unwrap();
    let addr = server.addr();
    let single = "/realtime/v1/api/broadcast/room1/events/e";
    let batch = "/realtime/v1/api/broadcast";
    let ok_batch = br#"{"messages":[{"topic":"room1","event":"e","payload":{}}]}"#;

    // The refusal says why, as the hosted server does.
    for (headers, why) in [
        (vec![JSON], "No api key provided"),
        (vec![JSON, ("apikey", "nope")], "Invalid api key"),
        (vec![JSON, ("authorization", "Bearer nope")], "Invalid api key"),
    ] {
        let r = http(addr, "POST", single, &headers, b"{}").await;
        assert_eq!((r.status, r.json()), (401, json!({"message": why})), "{headers:?}");
        assert_eq!(http(addr, "POST", batch, &headers, ok_batch).await.status, 401);
    }
    assert_eq!(http(addr, "POST", single, &[JSON, ("apikey", "k")], b"{}").await.status, 202);
    assert_eq!(http(addr, "POST", single, &[JSON, ("authorization", "Bearer k")], b"{}").await.status, 202);
    let key = [JSON, ("apikey", "k")];
    assert_eq!(http(addr, "POST", batch, &key, ok_batch).await.status, 202);

    for (target, body) in [
        (single, &b"{not json"[..]),
        (batch, b"{not json"),
        (batch, b"{}"),
        (batch, br#"{"messages":[{"event":"e","payload":{}}]}"#),
        (batch, br#"{"messages":[{"topic":"room1","payload":{}}]}"#),
    ] {
        let r = http(addr, "POST", target, &key, body).await;
        assert_eq!(r.status, 422, "{target} {:?}", String::from_utf8_lossy(body));
    }
    assert_eq!(http(addr, "GET", single, &key, b"").await.status, 405);
    assert_eq!(http(addr, "POST", "/realtime/v1/api/broadcast/room1/nope", &key, b"{}").await.status, 404);
}

/// A page on another origin may call the REST endpoints: the preflight is answered, and every
/// answer allows any origin (as the hosted server does for browsers).
#[tokio::test]
async fn browsers_may_call_from_another_origin() {
    let server = Server::start(Config::default()).await.unwrap();
    let path = "/realtime/v1/api/broadcast/room1/events/cursor";
    let pre = http(
        server.addr(),
        "OPTIONS",
        path,
        &[("origin", "http://127.0.0.1:9"), ("access-control-request-method", "POST")],
        b"",
    )
    .await;
    assert_eq!(pre.status, 204);
    let allows =
        |name: &str| pre.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
    assert_eq!(allows("access-control-allow-origin").as_deref(), Some("*"));
    for h in ["apikey", "authorization", "content-type"] {
        assert!(allows("access-control-allow-headers").unwrap_or_default().contains(h), "{h}");
    }
    let r = http(server.addr(), "POST", path, &[JSON], br#"{"x":1}"#).await;
    assert_eq!(r.status, 202);
    assert!(r.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("access-control-allow-origin") && v == "*"));
}
