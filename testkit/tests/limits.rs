//! `Config::limits`: one test per limit, each with only that limit on. Time-based limits use
//! short configured durations and check only "not before" (with real sockets, tokio's paused
//! clock would auto-advance while the server waits on I/O).

mod common;

use std::time::{Duration, Instant};

use common::{Client, Got, Refused, head, http, raw_upgrade, ws_url};
use realtime_testkit::{Auth, Config, Limits, Server};
use serde_json::{Value, json};

async fn start(limits: Limits) -> Server {
    Server::start(Config { limits, ..Config::default() }).await.unwrap()
}

fn bc(event: &str, payload: Value) -> Value {
    json!({"type": "broadcast", "event": event, "payload": payload})
}

#[tokio::test]
async fn max_concurrent_users() {
    let server = start(Limits { max_concurrent_users: Some(1), ..Limits::default() }).await;
    // Counted from its 101 on: no round trip needed before the next connect.
    let mut first = Client::v2(&server.url()).await;
    let r = raw_upgrade(server.addr(), "/realtime/v1/websocket?vsn=2.0.0", &[]).await;
    assert_eq!((r.status, r.json()), (429, json!({"error": "Too many connected users"})));
    first.quiet2().await;
    first.close().await;
    // Once the first has gone, there is room again.
    let url = ws_url(&server.url(), "vsn=2.0.0");
    let start = Instant::now();
    let mut second = loop {
        match Client::try_connect(&url, &[]).await {
            Ok(c) => break c,
            Err(Refused(429)) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(Refused(s)) => panic!("refused with {s}"),
        }
        assert!(start.elapsed() < common::WAIT, "still refused");
    };
    second.quiet2().await;
}

#[tokio::test]
async fn max_events_per_second() {
    let server = start(Limits { max_events_per_second: Some(2), ..Limits::default() }).await;
    let topic = "realtime:room1";
    let mut sender = Client::v2(&server.url()).await;
    let mut receiver = Client::v2(&server.url()).await;
    let jr = sender.join_ok(topic, json!({})).await;
    receiver.join_ok(topic, json!({})).await;
    for n in 0..3 {
        sender.push2(Some(&jr), Some(&format!("{n}")), topic, "broadcast", bc("e", json!(n))).await;
    }
    assert_eq!(receiver.json().await, json!([null, null, topic, "broadcast", bc("e", json!(0))]));
    assert_eq!(receiver.json().await, json!([null, null, topic, "broadcast", bc("e", json!(1))]));
    assert_eq!(
        sender.json().await,
        json!([jr, null, topic, "system",
            {"extension": "system", "status": "error", "message": "Too many messages per second", "channel": "room1"}])
    );
    assert_eq!(sender.json().await, json!([jr, jr, topic, "phx_close", {}]));
    receiver.quiet2().await;
    sender.quiet2().await;
}

#[tokio::test]
async fn max_channels_per_client() {
    let server = start(Limits { max_channels_per_client: Some(2), ..Limits::default() }).await;
    let mut c = Client::v2(&server.url()).await;
    c.join_ok("realtime:a", json!({})).await;
    let b = c.join_ok("realtime:b", json!({})).await;
    let (r, reply) = c.join2("realtime:c", json!({"config": {}})).await;
    assert_eq!(
        reply,
        json!([r, r, "realtime:c", "phx_reply",
            {"status": "error", "response": {"reason": "ChannelRateLimitReached: Too many channels"}}])
    );
    // Joining a topic again replaces it, so it is not one more.
    let (again, reply) = c.join2("realtime:b", json!({"config": {}})).await;
    assert_eq!(reply, json!([b, b, "realtime:b", "phx_close", {}]));
    assert_eq!(head(&c.json().await), json!([again, again, "realtime:b", "phx_reply"]));
    // Another socket has its own budget.
    Client::v2(&server.url()).await.join_ok("realtime:c", json!({})).await;
}

#[tokio::test]
async fn max_joins_per_second_disconnects() {
    let server = start(Limits { max_joins_per_second: Some(2), ..Limits::default() }).await;
    let mut c = Client::v2(&server.url()).await;
    for (i, topic) in ["realtime:a", "realtime:b", "realtime:c"].iter().enumerate() {
        let r = format!("{}", i + 1);
        c.push2(Some(&r), Some(&r), topic, "phx_join", json!({"config": {}})).await;
    }
    assert_eq!(c.json().await[4]["status"], "ok");
    assert_eq!(c.json().await[4]["status"], "ok");
    assert_eq!(
        c.json().await,
        json!(["3", "3", "realtime:c", "phx_reply",
            {"status": "error", "response": {"reason": "ClientJoinRateLimitReached: Too many joins per second"}}])
    );
    assert_eq!(c.close_frame().await, (1001, "ClientJoinRateLimitReached".to_string()));
}

#[tokio::test]
async fn presence_calls_per_window() {
    let limits = Limits { presence_calls: Some((2, Duration::from_secs(30))), ..Limits::default() };
    let server = start(limits).await;
    let topic = "realtime:room1";
    let mut c = Client::v2(&server.url()).await;
    let jr = c.join_ok(topic, json!({"presence": {"enabled": true, "key": "ana"}})).await;
    assert_eq!(c.json().await[3], "presence_state");
    for n in 0..2 {
        let r = format!("{n}");
        c.push2(
            Some(&jr),
            Some(&r),
            topic,
            "presence",
            json!({"type": "presence", "event": "track", "payload": {"n": n}}),
        )
        .await;
        assert_eq!(c.json().await, json!([jr, r, topic, "phx_reply", {"status": "ok", "response": {}}]));
        assert_eq!(c.json().await[3], "presence_diff");
    }
    c.push2(Some(&jr), Some("9"), topic, "presence", json!({"type": "presence", "event": "untrack"})).await;
    assert_eq!(
        c.json().await,
        json!([jr, null, topic, "system",
            {"extension": "system", "status": "error", "message": "Client presence rate limit exceeded", "channel": "room1"}])
    );
    // Then phx_close; the channel's own presence leave is not sent to it (it is gone).
    assert_eq!(c.json().await, json!([jr, jr, topic, "phx_close", {}]));
    c.quiet2().await;
}

#[tokio::test]
async fn max_payload_bytes() {
    let server = start(Limits { max_payload_bytes: Some(100), ..Limits::default() }).await;
    let topic = "realtime:room1";
    let mut c = Client::v2(&server.url()).await;
    let mut receiver = Client::v2(&server.url()).await;
    let ack = c.join_ok(topic, json!({"broadcast": {"ack": true}})).await;
    receiver.join_ok(topic, json!({})).await;
    let big = bc("e", json!("x".repeat(200)));
    c.push2(Some(&ack), Some("1"), topic, "broadcast", big.clone()).await;
    assert_eq!(
        c.json().await,
        json!([ack, "1", topic, "phx_reply", {"status": "error", "response": {"reason": "payload_size_exceeded"}}])
    );
    // A kind-3 push is measured by its payload.
    c.send_binary(common::kind3(&ack, "2", topic, "e", "", 0, &[0; 101])).await;
    assert_eq!(c.json().await[4]["response"]["reason"], "payload_size_exceeded");
    c.push2(Some(&ack), Some("3"), topic, "broadcast", bc("e", json!("small"))).await;
    assert_eq!(receiver.json().await[4], bc("e", json!("small")));
    assert_eq!(c.json().await[4]["status"], "ok");
    // Without ack: dropped silently (spec C.1).
    let mut quiet = Client::v2(&server.url()).await;
    let jr = quiet.join_ok(topic, json!({})).await;
    quiet.push2(Some(&jr), Some("4"), topic, "broadcast", big).await;
    quiet.quiet2().await;
    receiver.quiet2().await;

    // REST: 413.
    let body = format!("\"{}\"", "x".repeat(200));
    let r = http(
        server.addr(),
        "POST",
        "/realtime/v1/api/broadcast/room1/events/e",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 413);
    receiver.quiet2().await;
}

#[tokio::test]
async fn max_frame_bytes() {
    let server = start(Limits { max_frame_bytes: Some(1024), ..Limits::default() }).await;
    let topic = "realtime:room1";
    let mut c = Client::v2(&server.url()).await;
    let jr = c.join_ok(topic, json!({"broadcast": {"self": true}})).await;
    // Under the limit: fine.
    c.push2(Some(&jr), None, topic, "broadcast", bc("e", json!("x".repeat(500)))).await;
    assert_eq!(c.json().await[3], "broadcast");
    c.push2(Some(&jr), None, topic, "broadcast", bc("e", json!("x".repeat(2000)))).await;
    // Over it: the server closes with 1009 (message too big), as Cowboy does.
    assert_eq!(c.close_frame().await.0, 1009);
}

#[tokio::test]
async fn join_error_delay() {
    let delay = Duration::from_millis(300);
    let server = start(Limits { join_error_delay: Some(delay), ..Limits::default() }).await;
    let mut c = Client::v2(&server.url()).await;
    let start = Instant::now();
    let (r, reply) = c.join2("realtime:", json!({"config": {}})).await;
    assert!(start.elapsed() >= delay, "the error came {:?} after the join", start.elapsed());
    assert_eq!(
        reply,
        json!([r, r, "realtime:", "phx_reply",
            {"status": "error", "response": {"reason": "TopicNameRequired: You must provide a topic name"}}])
    );
    // An ok join is answered as usual.
    c.join_ok("realtime:ok", json!({})).await;
}

#[tokio::test]
async fn connect_error_delay() {
    let delay = Duration::from_millis(300);
    let server = Server::start(Config {
        auth: Auth::ApiKey("k".into()),
        limits: Limits { connect_error_delay: Some(delay), ..Limits::default() },
        ..Config::default()
    })
    .await
    .unwrap();
    let start = Instant::now();
    let r = raw_upgrade(server.addr(), "/realtime/v1/websocket?apikey=nope", &[]).await;
    assert!(start.elapsed() >= delay, "refused {:?} after the request", start.elapsed());
    assert_eq!((r.status, r.json()), (401, json!({"error": "Invalid api key"})));
    Client::at(&server.url(), "apikey=k&vsn=2.0.0").await.quiet2().await;
}

#[tokio::test]
async fn idle_timeout() {
    let idle = Duration::from_millis(500);
    let server = start(Limits { idle_timeout: Some(idle), ..Limits::default() }).await;
    // A socket that keeps sending stays open well past the timeout.
    let mut busy = Client::v2(&server.url()).await;
    let mut silent = Client::v2(&server.url()).await;
    let start = Instant::now();
    silent.quiet2().await;
    while start.elapsed() < idle * 3 {
        busy.quiet2().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match silent.recv().await {
        Got::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (1000, "idle")),
        other => panic!("expected the idle close, got {other:?}"),
    }
    busy.quiet2().await;
}
