//! Interop: the official clients against the testkit server. realtime-js (npm, vsn 2.0.0) and
//! the Python `realtime` client (PyPI, vsn 1.0.0), pinned in `testkit/interop/` and installed
//! by `scripts/interop-setup`, run as child processes. Each prints what it observed as JSON
//! lines (`testkit/interop/js_peer.mjs`, `py_peer.py`); this file starts the server in-process,
//! acts on it when a peer reaches a step, and asserts on what the clients reported.
//!
//! Timeouts here only guard against hanging; nothing asserts on timing.

use realtime_testkit::peer::{Peer, require_setup};
use realtime_testkit::{Auth, Config, RowChange, Server, jwt, row_change};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Lines with `who` = `who` and a `key` field.
fn by<'a>(lines: &'a [Value], who: &str, key: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["who"] == who && l.get(key).is_some()).collect()
}

fn row(v: Value) -> RowChange {
    row_change(&v).expect("a valid row change")
}

/// A `POST` to the server with a JSON body over plain HTTP/1.1; the status code.
async fn http_post(server: &Server, path: &str, body: &Value) -> u16 {
    let mut tcp = tokio::net::TcpStream::connect(server.addr()).await.expect("connect");
    let body = body.to_string();
    let request = format!(
        "POST /realtime/v1{path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.expect("read");
    answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_js_broadcasts_json_and_binary_with_acks() {
    require_setup();
    let server = Server::start(Config::default()).await.unwrap();
    let lines = Peer::js(&server.url(), "broadcast", &[]).finish().await;

    for who in ["A", "B"] {
        let subscribed = by(&lines, who, "status");
        assert_eq!(subscribed.first().map(|l| &l["status"]), Some(&json!("SUBSCRIBED")), "{who}: {lines:#?}");
    }
    let acks: Vec<(&Value, &Value)> =
        by(&lines, "A", "ack").iter().map(|l| (&l["ack"], &l["result"])).collect();
    assert_eq!(acks, [(&json!("json"), &json!("ok")), (&json!("bin"), &json!("ok"))], "{lines:#?}");
    // B (no self) and A (self: true) each got both, with the payloads intact.
    let want = [
        json!({"broadcast": "json", "json": {"n": 1, "text": "héllo", "list": [1, 2]}}),
        json!({"broadcast": "bin", "binary": [0, 1, 2, 254, 255]}),
    ];
    for who in ["A", "B"] {
        let got: Vec<Value> = by(&lines, who, "broadcast")
            .iter()
            .map(|l| {
                let mut l = (*l).clone();
                l.as_object_mut().unwrap().remove("who");
                l
            })
            .collect();
        assert_eq!(got, want, "{who} received");
    }
    // realtime-js sent both as kind-3 frames: the server read one JSON and one binary payload.
    let pushes: Vec<_> = server
        .observed()
        .into_iter()
        .filter_map(|o| o.message.user_broadcast)
        .map(|b| (b.event, matches!(b.data, realtime_testkit::wire::Data::Binary(_))))
        .collect();
    assert_eq!(pushes, [("json".to_string(), false), ("bin".to_string(), true)]);
    // Both left with an ok reply (CLOSED after their unsubscribe).
    assert_eq!(by(&lines, "A", "left")[0]["left"], json!(["ok"]));
    assert_eq!(by(&lines, "B", "left")[0]["left"], json!("ok"));
    // The server answered each client's close frame: B closed with 1000 and got 1000 back; A
    // closed without a code (1005), not the 1006 of a connection cut without one.
    let closed = &lines.iter().find(|l| l.get("closed").is_some()).expect("close codes")["closed"];
    assert_eq!(closed, &json!({"A": 1005, "B": 1000}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_js_presence_sync_join_leave() {
    require_setup();
    let server = Server::start(Config::default()).await.unwrap();
    let lines = Peer::js(&server.url(), "presence", &[]).finish().await;

    for who in ["A", "B"] {
        assert_eq!(by(&lines, who, "track")[0]["track"], "ok", "{who}: {lines:#?}");
    }
    assert_eq!(by(&lines, "B", "untrack")[0]["untrack"], "ok");
    let final_ = lines.iter().find(|l| l.get("final").is_some()).expect("a final report");
    let alice_only = json!({"alice": [{"user": "alice", "n": 1}]});
    assert_eq!(final_["final"]["A"], alice_only, "A's state after bob's untrack");
    assert_eq!(final_["final"]["B"], alice_only, "B's state after its own untrack");
    // A saw alice (itself) join, then bob join, then bob leave, with bob's meta.
    let events = |who: &str| -> Vec<(String, String)> {
        by(&lines, who, "presence")
            .iter()
            .filter(|l| l["presence"] != "sync")
            .map(|l| (l["presence"].as_str().unwrap().into(), l["key"].as_str().unwrap().into()))
            .collect()
    };
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(events("A"), [pair("join", "alice"), pair("join", "bob"), pair("leave", "bob")]);
    let bob_join =
        by(&lines, "A", "presence").into_iter().find(|l| l["presence"] == "join" && l["key"] == "bob");
    assert_eq!(bob_join.unwrap()["metas"], json!([{"user": "bob", "n": 2}]));
    // B joined after alice tracked: it learned of alice from the state, then saw itself come
    // and go.
    assert_eq!(events("B")[..3], [pair("join", "alice"), pair("join", "bob"), pair("leave", "bob")]);
    // A sync showed both at once, on both sides.
    let both = json!({"alice": [{"user": "alice", "n": 1}], "bob": [{"user": "bob", "n": 2}]});
    for who in ["A", "B"] {
        assert!(
            by(&lines, who, "presence").iter().any(|l| l["presence"] == "sync" && l["state"] == both),
            "{who} never synced both: {lines:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_js_postgres_changes_reach_the_right_bindings_only() {
    require_setup();
    let server = Server::start(Config::default()).await.unwrap();
    let mut js = Peer::js(&server.url(), "postgres", &[]);
    js.step("subscribed").await;

    let msg = |kind: &str, id: i64, room: i64, body: &str| {
        row(json!({"schema": "public", "table": "messages", "type": kind,
                   "record": {"id": id, "room_id": room, "body": body}, "old_record": {"id": id}}))
    };
    // (row, channels it reaches): the binding INSERT room_id=eq.1 and UPDATE room_id=eq.2.
    let rows = [
        (msg("INSERT", 1, 1, "first"), 1),      // INSERT binding
        (msg("INSERT", 2, 2, "other room"), 0), // no binding: wrong room for INSERT
        (msg("UPDATE", 1, 1, "edited"), 0),     // no binding: wrong room for UPDATE
        (msg("UPDATE", 2, 2, "edited two"), 1), // UPDATE binding
        (msg("DELETE", 3, 1, "gone"), 0),       // no binding for DELETE
        (msg("INSERT", 4, 1, "second"), 1),     // INSERT binding
        (
            row(
                json!({"schema": "public", "table": "rooms", "type": "INSERT", "record": {"id": 1, "room_id": 1}}),
            ),
            0,
        ),
        (
            row(
                json!({"schema": "private", "table": "messages", "type": "INSERT", "record": {"id": 5, "room_id": 1}}),
            ),
            0,
        ),
    ];
    for (i, (change, reach)) in rows.iter().enumerate() {
        assert_eq!(server.emit_change(change), *reach, "row {i} reached this many channels");
    }
    // The fence: rows on one socket arrive in order, so after it every row above was handled.
    assert_eq!(
        server.emit_change(&row(
            json!({"schema": "public", "table": "fence", "type": "INSERT", "record": {"id": 1}})
        )),
        1
    );
    let got = js.until("the rows", |l| l.get("got").is_some()).await;
    js.finish().await;

    assert_eq!(
        got["got"]["inserts_room1"],
        json!([
            {"eventType": "INSERT", "table": "messages", "new": {"id": 1, "room_id": 1, "body": "first"}, "old": {}},
            {"eventType": "INSERT", "table": "messages", "new": {"id": 4, "room_id": 1, "body": "second"}, "old": {}},
        ])
    );
    assert_eq!(
        got["got"]["updates_room2"],
        json!([{"eventType": "UPDATE", "table": "messages", "new": {"id": 2, "room_id": 2, "body": "edited two"}, "old": {"id": 2}}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_js_set_auth_pushes_the_new_token() {
    require_setup();
    let secret = b"interop-secret".to_vec();
    let server = Server::start(Config { auth: Auth::Jwt { secret: secret.clone() }, ..Config::default() })
        .await
        .unwrap();
    let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let token1 = jwt::sign(&json!({"role": "anon", "exp": exp, "sub": "first"}), &secret);
    let token2 = jwt::sign(&json!({"role": "authenticated", "exp": exp, "sub": "second"}), &secret);
    let lines = Peer::js(&server.url(), "auth", &[&token1, &token2]).finish().await;

    assert_eq!(by(&lines, "A", "status")[0]["status"], "SUBSCRIBED", "{lines:#?}");
    assert_eq!(by(&lines, "A", "ack")[0]["result"], "ok", "a broadcast after setAuth is acked");
    assert_eq!(by(&lines, "A", "received_after")[0]["received_after"], 1);
    let observed = server.observed();
    let join = observed
        .iter()
        .find(|o| o.message.event == "phx_join" && o.message.topic == "realtime:interop-auth")
        .expect("the join");
    assert_eq!(join.message.payload["access_token"], token1.as_str(), "the join carried the first token");
    let pushes: Vec<&Value> = observed
        .iter()
        .filter(|o| o.message.event == "access_token" && o.message.topic == "realtime:interop-auth")
        .map(|o| &o.message.payload)
        .collect();
    assert_eq!(pushes, [&json!({"access_token": token2})], "setAuth pushed the new token once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_js_recovers_after_the_server_drops_connections() {
    require_setup();
    let server = Server::start(Config::default()).await.unwrap();
    let mut js = Peer::js(&server.url(), "reconnect", &[]);
    js.step("subscribed").await;
    assert_eq!(server.drop_all_connections(), 1);
    js.send(json!({"dropped": true})).await;
    let resubscribed = js.until("the re-subscribe", |l| l["step"] == "resubscribed").await;
    // Sent after the client is back: over REST, from outside any client.
    let body = json!({"messages": [{"topic": "interop-rc", "event": "after-drop", "payload": {"n": 7}}]});
    assert_eq!(http_post(&server, "/api/broadcast", &body).await, 202);
    let lines = js.finish().await;

    let statuses = &resubscribed["statuses"];
    assert_eq!(statuses[0], "SUBSCRIBED");
    assert_ne!(statuses[1], "SUBSCRIBED", "the drop was seen: {statuses}");
    let done = lines.iter().find(|l| l["done"] == true).expect("done");
    assert_eq!(done["received"], json!([{"n": 7}]));
    // Two joins of the topic on two sockets: the second one the client's own rejoin.
    let joins: Vec<u64> = server
        .observed()
        .iter()
        .filter(|o| o.message.event == "phx_join" && o.message.topic == "realtime:interop-rc")
        .map(|o| o.socket)
        .collect();
    assert!(joins.len() >= 2 && joins[0] != joins[joins.len() - 1], "joins on sockets {joins:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_and_realtime_js_see_each_other() {
    require_setup();
    let server = Server::start(Config::default()).await.unwrap();
    let mut py = Peer::python(&server.url());
    let mut js = Peer::js(&server.url(), "cross", &[]);
    py.step("subscribed").await;
    js.step("subscribed").await;
    py.send(json!({"go": true})).await;
    js.send(json!({"go": true})).await;
    let py_done = py.until("python done", |l| l["done"] == true).await;
    let js_done = js.until("js done", |l| l["done"] == true).await;
    py.send(json!({"finish": true})).await;
    js.send(json!({"finish": true})).await;
    let py_lines = py.finish().await;
    let js_lines = js.finish().await;

    // Python (v1) got the JS JSON broadcast, converted from a kind-3 push, and never the binary
    // one, which went out first.
    assert_eq!(
        py_done["received"],
        json!([{"event": "from-js", "json": {"from": "js", "n": 1}}]),
        "{py_lines:#?}"
    );
    // JS (v2) got Python's v1 JSON broadcast.
    assert_eq!(
        js_done["received"],
        json!([{"event": "from-py", "json": {"from": "py", "n": 2}}]),
        "{js_lines:#?}"
    );
    // Each sees the other's presence (and its own).
    let both = json!({"py": [{"lang": "py"}], "js": [{"lang": "js"}]});
    assert_eq!(py_done["presence"], both);
    assert_eq!(js_done["presence"], both);
    // The wire: JS sent kind-3 frames (one binary), Python sent a v1 JSON broadcast.
    let observed = server.observed();
    let from_js: Vec<_> =
        observed.iter().filter_map(|o| o.message.user_broadcast.as_ref()).map(|b| b.event.as_str()).collect();
    assert_eq!(from_js, ["from-js-bin", "from-js"]);
    assert!(
        observed.iter().any(|o| o.message.event == "broadcast" && o.message.payload["event"] == "from-py")
    );
}

/// The core's presence fixture (core/tests/it/fixtures/presence_phoenix_js.json, which
/// core/tests/it/presence_js.rs replays) is what phoenix.js, pinned in testkit/interop, produces:
/// regenerated here and compared byte for byte.
#[test]
fn the_presence_fixture_is_phoenix_js_output() {
    require_setup();
    let dir = realtime_testkit::peer::interop_dir();
    let fixture = dir.join("../../core/tests/it/fixtures/presence_phoenix_js.json");
    let out = std::process::Command::new("node")
        .arg(dir.join("presence_fixture.mjs"))
        .arg("--check")
        .arg(&fixture)
        .current_dir(&dir)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The plain Phoenix mode (`Config::phoenix`) against the official Phoenix client, phoenix.js:
/// a topic without `realtime:`, join params of the app's own, a custom event echoed to its sender
/// and routed to the other member, a leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phoenix_js_joins_and_routes_custom_events_in_the_plain_phoenix_mode() {
    require_setup();
    let server = Server::start(Config { phoenix: true, ..Config::default() }).await.unwrap();
    let lines = Peer::phoenix(&server.url()).finish().await;
    let said = |who: &str, key: &str| {
        by(&lines, who, key)
            .first()
            .map(|l| l[key].clone())
            .unwrap_or_else(|| panic!("no {who} {key}: {lines:#?}"))
    };
    assert_eq!(said("ana", "joined"), json!({}));
    assert_eq!(said("bo", "joined"), json!({}));
    assert_eq!(said("ana", "reply"), json!({"body": "hi", "n": 1}), "the echo");
    assert_eq!(said("bo", "shout"), json!({"body": "hi", "n": 1}), "routed to the other member");
    assert_eq!(said("ana", "left"), json!(true));
}
