//! `listen` and `send` against `realtime serve`: socket and REST, JSON payloads, `--count`,
//! `--ack`, mixed serializers, `--exit-after` and Ctrl-C.

use realtime_testkit::{Config, Server};
use serde_json::json;

use crate::common::{Serve, broadcast, listen, send, subscribed};

/// Every kind of JSON value, nested, so the line shows the payload is passed through as JSON.
const PAYLOAD: &str = r#"{"text":"hi","n":1.5,"big":12345678901234567,"ok":true,"none":null,"tags":["a",2],"nested":{"k":"v"}}"#;

fn payload() -> serde_json::Value {
    serde_json::from_str(PAYLOAD).expect("the test payload is JSON")
}

#[tokio::test]
async fn a_socket_broadcast_is_one_exact_line() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &["--exit-after", "1"]).await;
    send(&server.url, "room", "message", PAYLOAD, &[]).await;
    assert_eq!(listener.line().await, broadcast("room", "message", payload()));
    listener.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn a_rest_broadcast_is_one_exact_line() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &["--exit-after", "2"]).await;
    send(&server.url, "room", "message", PAYLOAD, &["--rest"]).await;
    send(&server.url, "room", "scalar", "\"just a string\"", &["--rest"]).await;
    assert_eq!(listener.line().await, broadcast("room", "message", payload()));
    assert_eq!(listener.line().await, broadcast("room", "scalar", json!("just a string")));
    listener.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn count_sends_that_many_and_exit_after_stops_the_listener() {
    let server = Serve::start(&[]).await;
    // Two listeners on one channel: one takes all five, one stops after two.
    let mut all = listen(&server.url, "room", &["--exit-after", "5"]).await;
    let mut two = listen(&server.url, "room", &["--exit-after", "2"]).await;
    send(&server.url, "room", "tick", r#"{"n":1}"#, &["--count", "5"]).await;
    for _ in 0..5 {
        assert_eq!(all.line().await, broadcast("room", "tick", json!({"n": 1})));
    }
    all.exit().await.assert_quiet_success();
    for _ in 0..2 {
        assert_eq!(two.line().await, broadcast("room", "tick", json!({"n": 1})));
    }
    two.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn ack_and_rate_send_every_broadcast() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &["--exit-after", "3"]).await;
    send(&server.url, "room", "acked", "[1,2]", &["--ack", "--count", "3", "--rate", "1000"]).await;
    for _ in 0..3 {
        assert_eq!(listener.line().await, broadcast("room", "acked", json!([1, 2])));
    }
    listener.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn a_1_0_0_listener_and_a_2_0_0_sender_understand_each_other() {
    let server = Serve::start(&[]).await;
    let mut v1 = listen(&server.url, "mixed", &["--vsn", "1.0.0", "--exit-after", "2"]).await;
    let mut v2 = listen(&server.url, "mixed", &["--vsn", "2.0.0", "--exit-after", "2"]).await;
    send(&server.url, "mixed", "from_v2", r#"{"v":2}"#, &["--vsn", "2.0.0"]).await;
    send(&server.url, "mixed", "from_v1", r#"{"v":1}"#, &["--vsn", "1.0.0"]).await;
    for listener in [&mut v1, &mut v2] {
        assert_eq!(listener.line().await, broadcast("mixed", "from_v2", json!({"v": 2})));
        assert_eq!(listener.line().await, broadcast("mixed", "from_v1", json!({"v": 1})));
    }
    v1.exit().await.assert_quiet_success();
    v2.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn ctrl_c_ends_listen_with_success() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &[]).await;
    send(&server.url, "room", "one", "1", &[]).await;
    assert_eq!(listener.line().await, broadcast("room", "one", json!(1)));
    listener.interrupt().await.assert_quiet_success();
}

#[tokio::test]
async fn listen_rejoins_a_crashed_channel_and_stops_at_a_closed_one() {
    let server = Server::start(Config::default()).await.expect("the server starts");
    let mut listener = listen(&server.url(), "room", &[]).await;

    // phx_error: the channel errored and is joined again.
    assert_eq!(server.crash_channel("room"), 1);
    assert_eq!(
        listener.line().await,
        json!({
            "type": "status", "channel": "room", "status": "CHANNEL_ERROR",
            "reason": r#"server error: {"reason":"channel_crash"}"#,
        })
    );
    assert_eq!(listener.line().await, subscribed("room"));

    // phx_close: the server ended the channel for good, so listen ends, and says why.
    assert_eq!(server.close_channel("room"), 1);
    let exit = listener.exit().await;
    let lines: Vec<serde_json::Value> =
        exit.stdout.iter().map(|l| serde_json::from_str(l).expect("JSON lines")).collect();
    assert_eq!(
        lines,
        [
            json!({"type": "status", "channel": "room", "status": "CLOSED"}),
            json!({"type": "error", "channel": "room", "message": "the server closed the channel"}),
        ]
    );
    assert_eq!(exit.stderr, "realtime: the server closed the channel\n");
    assert_eq!(exit.code, Some(1));
}

/// A short drop reads as a reconnect, always in the same order: the connection's lines (the
/// reason, the attempt and its delay, then the reconnect with the gap), then SUBSCRIBED again;
/// no CHANNEL_ERROR.
#[tokio::test]
async fn a_dropped_connection_reads_as_a_reconnect() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &[]).await;
    assert_eq!(crate::common::control(&server.url, "drop", "{}").await, json!({"dropped": 1}));
    let lost = listener.line().await;
    assert_eq!(
        (lost["state"].as_str(), lost["reason"].as_str(), lost["attempt"].as_u64()),
        (Some("waiting_to_reconnect"), Some("the connection was lost"), Some(1)),
        "{lost}"
    );
    assert!(lost["retry_in_ms"].as_u64().is_some(), "{lost}");
    assert_eq!(
        listener.line().await,
        json!({"type": "connection", "channel": "room", "state": "connecting"})
    );
    assert_eq!(listener.line().await, json!({"type": "connection", "channel": "room", "state": "open"}));
    let back = listener.line().await;
    assert_eq!(back["state"], "reconnected", "{back}");
    assert!(back["gap_ms"].as_u64().is_some(), "{back}");
    assert_eq!(listener.line().await, subscribed("room"));
    listener.interrupt().await.assert_quiet_success();
}

/// `--heartbeat` sets the interval: a server that stops answering heartbeats is found within
/// the interval plus its reply deadline (here 0.3 s + 0.3 s, the deadline following a short
/// interval), long before the default 35 s, and the line says so.
#[tokio::test]
async fn heartbeat_sets_the_interval_and_a_silent_server_is_found_by_it() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &["--heartbeat", "0.3"]).await;
    assert_eq!(crate::common::control(&server.url, "heartbeats", r#"{"reply": false}"#).await, json!({}));
    // `line` gives up after 30 s, before the default 35 s would find it: the short interval does.
    let lost = listener.line().await;
    assert_eq!(lost["state"], "waiting_to_reconnect", "{lost}");
    assert!(lost["reason"].as_str().is_some_and(|r| r.contains("heartbeat")), "{lost}");
    crate::common::control(&server.url, "heartbeats", r#"{"reply": true}"#).await;
    listener.interrupt().await.assert_quiet_success();
}

/// `serve --phoenix` is a plain Phoenix Channels server: the client's generic layer joins a
/// topic of its own with its params, and a push is answered with its payload and routed to the
/// other member.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_phoenix_is_a_plain_phoenix_channels_server() {
    use realtime_tokio::{Config as ClientConfig, RealtimeClient};
    let server = Serve::start(&["--phoenix"]).await;
    let client = |user: &str| {
        let mut config = ClientConfig::phoenix(server.url.clone());
        config.proxy = realtime_tokio::Proxy::None;
        let c = RealtimeClient::new(config).expect("a client");
        (c, json!({ "user": user }))
    };
    let (ana, ana_params) = client("ana");
    let (bo, bo_params) = client("bo");
    let a = ana.phoenix_channel("room:lobby", &ana_params).await.unwrap();
    let b = bo.phoenix_channel("room:lobby", &bo_params).await.unwrap();
    let mut heard = b.on_messages().await;
    a.subscribe().await.unwrap();
    b.subscribe().await.unwrap();
    let reply = a.push("new_msg", &json!({"body": "hi"})).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&reply).unwrap(), json!({"body": "hi"}));
    let (event, payload) = tokio::time::timeout(std::time::Duration::from_secs(10), heard.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!((event.as_str(), payload.as_str()), ("new_msg", r#"{"body":"hi"}"#));
}

/// `serve --deflate` agrees to permessage-deflate with clients that offer it (they do by
/// default; `--deflate off` does not): a payload long enough to be compressed both ways
/// arrives exact, and `-v` says which connections agreed.
#[tokio::test]
async fn deflate_end_to_end() {
    let mut server = Serve::start(&["--deflate", "-v"]).await;
    let mut listener = listen(&server.url, "zip", &["--exit-after", "2"]).await;
    let rows: Vec<_> = (0..100).map(|i| json!({"id": i, "name": format!("row {i}")})).collect();
    let long = json!({ "rows": rows }).to_string();
    assert!(long.len() > 1024, "long enough to be compressed");
    send(&server.url, "zip", "rows", &long, &[]).await;
    send(&server.url, "zip", "rows", &long, &["--deflate", "off"]).await;
    for _ in 0..2 {
        assert_eq!(listener.line().await, broadcast("zip", "rows", serde_json::from_str(&long).unwrap()));
    }
    listener.exit().await.assert_quiet_success();
    let mut connected = Vec::new();
    while connected.len() < 3 {
        let line = server.proc.stderr_line().await;
        if line.contains(" connected ") {
            connected.push(line);
        }
    }
    let agreed = connected.iter().filter(|l| l.contains("permessage-deflate")).count();
    assert_eq!(agreed, 2, "the listener and the first sender agreed: {connected:?}");
}
