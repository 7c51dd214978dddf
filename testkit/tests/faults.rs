//! Fault injection: what a client sees when the server drops, closes, stays silent, fails
//! joins, crashes channels, sends garbage, refuses connections or restarts.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Got, Refused, raw_upgrade, until, ws_url};
use realtime_testkit::{Config, JoinFault, Server};
use serde_json::json;

#[tokio::test]
async fn dropped_connections_end_without_a_close_frame() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut a = Client::v2(&server.url()).await;
    let mut b = Client::v1(&server.url()).await;
    a.quiet2().await;
    b.quiet1().await;
    assert_eq!(server.drop_all_connections(), 2);
    for c in [&mut a, &mut b] {
        match c.recv().await {
            Got::End(_) => {}
            other => panic!("expected the TCP end with no close frame, got {other:?}"),
        }
    }
    until("the sockets to be gone", || server.connections() == 0).await;
    // New connections work.
    Client::v2(&server.url()).await.quiet2().await;
}

#[tokio::test]
async fn close_all_sends_the_code_and_reason() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    c.join_ok("realtime:room1", json!({})).await;
    assert_eq!(server.close_all(1012, "restarting"), 1);
    assert_eq!(c.close_frame().await, (1012, "restarting".to_string()));
}

#[tokio::test]
async fn heartbeat_replies_can_be_switched_off() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    server.set_heartbeat_replies(false);
    c.push2(None, Some("1"), "phoenix", "heartbeat", json!({})).await;
    // The join's reply is the next frame: the heartbeat got none.
    c.join_ok("realtime:room1", json!({})).await;
    server.set_heartbeat_replies(true);
    c.quiet2().await;
}

#[tokio::test]
async fn join_faults_delay_fail_and_ignore() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;

    let delay = Duration::from_millis(300);
    server.set_join_fault(JoinFault::Delay(delay));
    let start = Instant::now();
    c.join_ok("realtime:a", json!({})).await;
    assert!(start.elapsed() >= delay, "the reply came {:?} after the join", start.elapsed());

    server.set_join_fault(JoinFault::Fail("InvalidJWTToken: Token has expired 3 seconds ago".into()));
    let (r, reply) = c.join2("realtime:b", json!({"config": {}})).await;
    assert_eq!(
        reply,
        json!([r, r, "realtime:b", "phx_reply",
            {"status": "error", "response": {"reason": "InvalidJWTToken: Token has expired 3 seconds ago"}}])
    );

    server.set_join_fault(JoinFault::Ignore);
    c.push2(Some("50"), Some("50"), "realtime:c", "phx_join", json!({"config": {}})).await;
    c.quiet2().await;

    server.set_join_fault(JoinFault::None);
    c.join_ok("realtime:d", json!({})).await;
}

#[tokio::test]
async fn crashed_and_closed_channels() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    let mut v1 = Client::v1(&server.url()).await;
    let jr = c.join_ok("realtime:room1", json!({})).await;
    v1.send_json(
        json!({"topic": "realtime:room1", "event": "phx_join", "payload": {}, "ref": "4", "join_ref": "4"}),
    )
    .await;
    assert_eq!(v1.json().await["payload"]["status"], "ok");

    assert_eq!(server.crash_channel("room1"), 2);
    assert_eq!(c.json().await, json!([jr, jr, "realtime:room1", "phx_error", {"reason": "channel_crash"}]));
    assert_eq!(
        v1.json().await,
        json!({"topic": "realtime:room1", "event": "phx_error", "payload": {"reason": "channel_crash"}, "ref": "4"})
    );
    // The channel is gone.
    c.push2(Some(&jr), Some("9"), "realtime:room1", "broadcast", json!({"type": "broadcast", "event": "e"}))
        .await;
    assert_eq!(
        c.json().await,
        json!([jr, "9", "realtime:room1", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    );

    let jr = c.join_ok("realtime:room1", json!({})).await;
    assert_eq!(server.close_channel("room1"), 1);
    assert_eq!(c.json().await, json!([jr, jr, "realtime:room1", "phx_close", {}]));
    assert_eq!(server.close_channel("room1"), 0);
    c.quiet2().await;
    v1.quiet1().await;
}

#[tokio::test]
async fn malformed_frames_reach_the_client_and_the_socket_lives_on() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    c.quiet2().await;
    server.send_malformed();
    assert_eq!(c.json().await, json!({"unparsed": "{not json"}));
    c.quiet2().await;
    // The server drops what it cannot read, and stays up too.
    c.send_text("[1,2".into()).await;
    c.send_binary(vec![9, 9, 9]).await;
    c.quiet2().await;
}

#[tokio::test]
async fn refused_connections_for_a_while() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut existing = Client::v2(&server.url()).await;
    existing.quiet2().await;
    server.refuse_connections_for(Duration::from_millis(400));
    let start = Instant::now();
    let r = raw_upgrade(server.addr(), "/realtime/v1/websocket?vsn=2.0.0", &[]).await;
    assert_eq!((r.status, r.json()), (503, json!({"error": "Server unavailable"})));
    // Sockets already open are untouched.
    existing.quiet2().await;
    // Refused until the time is up, then accepted.
    let url = ws_url(&server.url(), "vsn=2.0.0");
    let mut c = loop {
        match Client::try_connect(&url, &[]).await {
            Ok(c) => break c,
            Err(Refused(503)) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(Refused(s)) => panic!("refused with {s}"),
        }
        assert!(start.elapsed() < common::WAIT, "still refused");
    };
    assert!(start.elapsed() >= Duration::from_millis(400));
    c.quiet2().await;
}

#[tokio::test]
async fn restart_on_the_same_port_forgets_everything() {
    let mut server = Server::start(Config::default()).await.unwrap();
    let (url, addr) = (server.url(), server.addr());
    let topic = "realtime:room1";
    let mut c = Client::v2(&url).await;
    let jr = c.join_ok(topic, json!({"presence": {"enabled": true, "key": "ana"}})).await;
    assert_eq!(c.json().await, json!([jr, null, topic, "presence_state", {}]));
    c.push2(
        Some(&jr),
        Some("5"),
        topic,
        "presence",
        json!({"type": "presence", "event": "track", "payload": {}}),
    )
    .await;
    assert_eq!(c.json().await[1], "5");
    assert_eq!(c.json().await[3], "presence_diff");

    server.restart().await.unwrap();
    assert_eq!(server.addr(), addr);
    assert!(matches!(c.recv().await, Got::End(_) | Got::Close(_)));

    let mut d = Client::v2(&url).await;
    let jr = d.join_ok(topic, json!({"presence": {"enabled": true, "key": "bo"}})).await;
    // The old presence is gone with the old server.
    assert_eq!(d.json().await, json!([jr, null, topic, "presence_state", {}]));
    d.quiet2().await;
    assert_eq!(server.connections(), 1);
}

/// The same faults over HTTP (`POST /testkit/...`), for peers in other languages.
#[tokio::test]
async fn test_control_over_http() {
    let server = Server::start(Config::default()).await.unwrap();
    let addr = server.addr();
    let mut c = Client::v2(&server.url()).await;
    let bindings = json!([{"event": "INSERT", "schema": "public", "table": "t", "filter": "n=gt.1"}]);
    let (_, reply) = c.join2("realtime:room1", json!({"config": {"postgres_changes": bindings}})).await;
    assert_eq!(reply[4]["status"], "ok");
    let post = |what: &'static str, body: serde_json::Value| async move {
        common::http(addr, "POST", &format!("/realtime/v1/testkit/{what}"), &[], body.to_string().as_bytes())
            .await
    };
    // An emitted row reaches the matching binding only (the "live" system message first).
    let live = c.json().await;
    assert_eq!(live[3], "system");
    let r =
        post("emit", json!({"schema": "public", "table": "t", "type": "INSERT", "record": {"n": 0}})).await;
    assert_eq!(r.json()["delivered"], 0);
    let r =
        post("emit", json!({"schema": "public", "table": "t", "type": "INSERT", "record": {"n": 5}})).await;
    assert_eq!(r.json()["delivered"], 1);
    let change = c.json().await;
    assert_eq!(
        (change[3].as_str(), &change[4]["data"]["record"]),
        (Some("postgres_changes"), &json!({"n": 5}))
    );
    assert_eq!(post("emit", json!({"table": "t"})).await.status, 422);
    // Heartbeat replies off, then on.
    assert_eq!(post("heartbeats", json!({"reply": false})).await.status, 200);
    c.send_json(json!([null, "h1", "phoenix", "heartbeat", {}])).await;
    assert_eq!(post("heartbeats", json!({"reply": true})).await.status, 200);
    c.send_json(json!([null, "h2", "phoenix", "heartbeat", {}])).await;
    assert_eq!(c.json().await[1], "h2", "only the heartbeat sent while replies were on is answered");
    // A crash of the channel, then a close of every socket with a code.
    assert_eq!(post("crash", json!({"topic": "room1"})).await.json()["channels"], 1);
    assert_eq!(c.json().await[3], "phx_error");
    assert_eq!(post("close", json!({"code": 4000, "reason": "bye"})).await.json()["closed"], 1);
    assert_eq!(c.close_frame().await, (4000, "bye".into()));
    assert_eq!(post("nothing", json!({})).await.status, 404);
}
