//! The socket side of the server over real loopback TCP: upgrades and auth, the channel
//! lifecycle, broadcast (JSON and binary), presence, token flows, private channels and postgres
//! changes. Every test asserts the exact frames a hand-written client receives.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, Refused, head, kind3, kind4, raw_upgrade, ws_url};
use realtime_testkit::{Auth, Config, Policies, RowChange, Server, jwt};
use serde_json::{Value, json};

const SECRET: &[u8] = b"test-secret";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn token(claims: Value) -> String {
    jwt::sign(&claims, SECRET)
}

fn good_token() -> String {
    token(json!({"role": "anon", "exp": now() + 3600}))
}

fn jwt_config() -> Config {
    Config { auth: Auth::Jwt { secret: SECRET.to_vec() }, ..Config::default() }
}

fn bc(event: &str, payload: Value) -> Value {
    json!({"type": "broadcast", "event": event, "payload": payload})
}

// ------------------------------------------------------------------------------------ upgrade

#[tokio::test]
async fn upgrade_on_both_paths_with_each_vsn() {
    let server = Server::start(Config::default()).await.unwrap();
    let addr = server.addr();
    for path in ["/realtime/v1/websocket", "/socket/websocket"] {
        for query in ["vsn=1.0.0", "", "log_level=info"] {
            let mut c = Client::connect(&format!("ws://{addr}{path}?{query}")).await;
            c.send_json(json!({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "5"})).await;
            assert_eq!(
                c.json().await,
                json!({"topic": "phoenix", "event": "phx_reply", "payload": {"status": "ok", "response": {}}, "ref": "5"}),
                "{path}?{query} is v1"
            );
        }
        let mut c = Client::connect(&format!("ws://{addr}{path}?vsn=2.0.0")).await;
        c.push2(None, Some("5"), "phoenix", "heartbeat", json!({})).await;
        assert_eq!(
            c.json().await,
            json!([null, "5", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
        );
    }
}

#[tokio::test]
async fn api_key_auth_and_the_header_taking_precedence() {
    let server = Server::start(Config { auth: Auth::ApiKey("k".into()), ..Config::default() }).await.unwrap();
    let (base, addr) = (server.url(), server.addr());
    Client::connect(&ws_url(&base, "apikey=k&vsn=2.0.0")).await.quiet2().await;

    let wrong = raw_upgrade(addr, "/realtime/v1/websocket?apikey=nope&vsn=2.0.0", &[]).await;
    assert_eq!((wrong.status, wrong.json()), (401, json!({"error": "Invalid api key"})));
    let missing = raw_upgrade(addr, "/realtime/v1/websocket?vsn=2.0.0", &[]).await;
    assert_eq!((missing.status, missing.json()), (401, json!({"error": "No api key provided"})));
    assert!(matches!(
        Client::try_connect(&ws_url(&base, "apikey=nope&vsn=2.0.0"), &[]).await,
        Err(Refused(401))
    ));

    // `x-api-key` wins over the query (spec A.1), both ways.
    let mut c = Client::try_connect(&ws_url(&base, "apikey=nope&vsn=2.0.0"), &[("x-api-key", "k")])
        .await
        .unwrap_or_else(|r| panic!("refused: {r:?}"));
    c.quiet2().await;
    let header_wrong =
        raw_upgrade(addr, "/realtime/v1/websocket?apikey=k&vsn=2.0.0", &[("x-api-key", "nope")]).await;
    assert_eq!((header_wrong.status, header_wrong.json()), (401, json!({"error": "Invalid api key"})));
    // A plain `apikey` header is not read by the socket.
    let plain = raw_upgrade(addr, "/realtime/v1/websocket?vsn=2.0.0", &[("apikey", "k")]).await;
    assert_eq!(plain.status, 401);
}

#[tokio::test]
async fn jwt_auth_needs_a_valid_signature_role_and_exp() {
    let server = Server::start(jwt_config()).await.unwrap();
    let (base, addr) = (server.url(), server.addr());
    Client::connect(&ws_url(&base, &format!("apikey={}&vsn=2.0.0", good_token()))).await.quiet2().await;

    let expired = token(json!({"role": "anon", "exp": now() - 100}));
    let bad_sig = jwt::sign(&json!({"role": "anon", "exp": now() + 3600}), b"another secret");
    let no_role = token(json!({"exp": now() + 3600}));
    for (t, why) in [
        (expired, "Token has expired"),
        (bad_sig, "Signature error"),
        (no_role, "Fields `role` and `exp` are required in JWT"),
        ("not.a.jwt".to_string(), "Token malformed"),
    ] {
        let r = raw_upgrade(addr, &format!("/socket/websocket?apikey={t}&vsn=2.0.0"), &[]).await;
        assert_eq!(r.status, 401, "{why}");
        let error = r.json()["error"].as_str().unwrap().to_string();
        assert!(error.starts_with(why), "{error:?} for {why}");
        assert!(matches!(
            Client::try_connect(&ws_url(&base, &format!("apikey={t}")), &[]).await,
            Err(Refused(401))
        ));
    }
}

// ------------------------------------------------------------------------------- the channel

#[tokio::test]
async fn join_reply_echoes_bindings_with_ids() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    let a = json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "room_id=eq.1"});
    let b = json!({"event": "*", "schema": "public", "table": "rooms"});
    let (r, reply) = c
        .join2("realtime:room1", json!({"config": {"postgres_changes": [a, b, a]}, "access_token": "x"}))
        .await;
    assert_eq!(reply[0], json!(r));
    assert_eq!(reply[1], json!(r));
    assert_eq!(reply[3], json!("phx_reply"));
    assert_eq!(reply[4]["status"], json!("ok"));
    let echoed = reply[4]["response"]["postgres_changes"].as_array().unwrap().clone();
    assert_eq!(echoed.len(), 3);
    let ids: Vec<u64> = echoed.iter().map(|e| e["id"].as_u64().expect("an integer id")).collect();
    assert_eq!(ids[0], ids[2], "the same binding, the same id");
    assert_ne!(ids[0], ids[1]);
    for (e, want) in echoed.iter().zip([&a, &b, &a]) {
        let mut e = e.clone();
        e.as_object_mut().unwrap().remove("id");
        assert_eq!(&e, want, "the params are echoed as sent");
    }
    // The changes go live after the reply (a task of the server's): read that first, so the
    // next join's reply is the next frame however the tasks are scheduled.
    let live = c.json().await;
    assert_eq!((&live[2], &live[3]), (&json!("realtime:room1"), &json!("system")), "{live}");
    assert_eq!(live[4]["message"], json!("Subscribed to PostgreSQL"));
    // Without bindings the list is there and empty.
    c.join_ok("realtime:other", json!({})).await;
}

#[tokio::test]
async fn leave_replies_then_closes_on_v2_and_v1() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    let jr = c.join_ok("realtime:room1", json!({})).await;
    c.push2(Some(&jr), Some("9"), "realtime:room1", "phx_leave", json!({})).await;
    assert_eq!(
        c.json().await,
        json!([jr, "9", "realtime:room1", "phx_reply", {"status": "ok", "response": {}}])
    );
    // phx_close carries ref = join_ref (spec A.5).
    assert_eq!(c.json().await, json!([jr, jr, "realtime:room1", "phx_close", {}]));
    c.quiet2().await;

    let mut v1 = Client::v1(&server.url()).await;
    v1.send_json(json!({"topic": "realtime:room1", "event": "phx_join", "payload": {"config": {}}, "ref": "3", "join_ref": "3"})).await;
    assert_eq!(
        v1.json().await,
        json!({"topic": "realtime:room1", "event": "phx_reply", "ref": "3", "payload": {"status": "ok", "response": {"postgres_changes": []}}})
    );
    v1.send_json(
        json!({"topic": "realtime:room1", "event": "phx_leave", "payload": {}, "ref": "9", "join_ref": "3"}),
    )
    .await;
    assert_eq!(
        v1.json().await,
        json!({"topic": "realtime:room1", "event": "phx_reply", "ref": "9", "payload": {"status": "ok", "response": {}}})
    );
    // The only stale-close guard a v1 client has is this ref (spec B.7).
    assert_eq!(
        v1.json().await,
        json!({"topic": "realtime:room1", "event": "phx_close", "ref": "3", "payload": {}})
    );
    v1.quiet1().await;
}

#[tokio::test]
async fn a_duplicate_join_closes_the_old_one() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    let old = c.join_ok("realtime:room1", json!({"broadcast": {"self": true}})).await;
    let (new, reply) = c.join2("realtime:room1", json!({"config": {"broadcast": {"self": true}}})).await;
    assert_eq!(reply, json!([old, old, "realtime:room1", "phx_close", {}]));
    assert_eq!(
        c.json().await,
        json!([new, new, "realtime:room1", "phx_reply", {"status": "ok", "response": {"postgres_changes": []}}])
    );
    // A frame naming the old join is dropped silently (spec B.7); one for the new one works.
    c.push2(Some(&old), Some("20"), "realtime:room1", "broadcast", bc("e", json!(1))).await;
    c.quiet2().await;
    c.push2(Some(&new), Some("21"), "realtime:room1", "broadcast", bc("e", json!(2))).await;
    assert_eq!(c.json().await, json!([null, null, "realtime:room1", "broadcast", bc("e", json!(2))]));
    c.quiet2().await;
}

#[tokio::test]
async fn a_push_to_an_unjoined_topic_is_unmatched() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    c.push2(None, Some("7"), "realtime:nope", "broadcast", bc("e", json!({}))).await;
    assert_eq!(
        c.json().await,
        json!([null, "7", "realtime:nope", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
    // A join outside `realtime:` is not a channel either.
    c.push2(Some("8"), Some("8"), "room", "phx_join", json!({})).await;
    assert_eq!(
        c.json().await,
        json!(["8", "8", "room", "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
    );
}

// ---------------------------------------------------------------------------------- broadcast

#[tokio::test]
async fn json_broadcast_fans_out_to_v2_and_v1() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut a = Client::v2(&server.url()).await;
    let mut b = Client::v2(&server.url()).await;
    let mut c = Client::v1(&server.url()).await;
    let jr = a.join_ok("realtime:room1", json!({})).await;
    b.join_ok("realtime:room1", json!({})).await;
    c.send_json(json!({"topic": "realtime:room1", "event": "phx_join", "payload": {}, "ref": "1"})).await;
    assert_eq!(c.json().await["payload"]["status"], "ok");

    let msg = bc("cursor", json!({"x": 1, "y": 2}));
    a.push2(Some(&jr), Some("11"), "realtime:room1", "broadcast", msg.clone()).await;
    assert_eq!(b.json().await, json!([null, null, "realtime:room1", "broadcast", msg]));
    // v1 gets an object with no join_ref and a null ref.
    assert_eq!(
        c.json().await,
        json!({"topic": "realtime:room1", "event": "broadcast", "payload": msg, "ref": null})
    );
    // No self, no ack: nothing back to the sender.
    a.quiet2().await;
    b.quiet2().await;
    c.quiet1().await;
}

#[tokio::test]
async fn broadcast_self_and_ack() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut a = Client::v2(&server.url()).await;
    let jr = a.join_ok("realtime:room1", json!({"broadcast": {"self": true, "ack": true}})).await;
    let msg = bc("e", json!({"n": 1}));
    a.push2(Some(&jr), Some("12"), "realtime:room1", "broadcast", msg.clone()).await;
    assert_eq!(a.json().await, json!([null, null, "realtime:room1", "broadcast", msg]));
    assert_eq!(
        a.json().await,
        json!([jr, "12", "realtime:room1", "phx_reply", {"status": "ok", "response": {}}])
    );
    a.quiet2().await;

    // The flexible booleans: the strings "true"/"false".
    let mut b = Client::v2(&server.url()).await;
    let jr = b.join_ok("realtime:room2", json!({"broadcast": {"self": "true", "ack": "false"}})).await;
    b.push2(Some(&jr), Some("13"), "realtime:room2", "broadcast", msg.clone()).await;
    assert_eq!(b.json().await, json!([null, null, "realtime:room2", "broadcast", msg]));
    b.quiet2().await;
}

#[tokio::test]
async fn kind3_push_fans_out_as_kind4_to_v2_and_json_to_v1() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut a = Client::v2(&server.url()).await;
    let mut b = Client::v2(&server.url()).await;
    let mut c = Client::v1(&server.url()).await;
    let topic = "realtime:room1";
    let jr = a.join_ok(topic, json!({"broadcast": {"ack": true}})).await;
    b.join_ok(topic, json!({})).await;
    c.send_json(
        json!({"topic": topic, "event": "phx_join", "payload": {"config": {}}, "ref": "1", "join_ref": "1"}),
    )
    .await;
    assert_eq!(c.json().await["payload"]["status"], "ok");

    // The spec A.4 worked example, JSON encoding.
    a.send_binary(kind3(&jr, "15", topic, "cursor", "", 1, br#"{"x":1}"#)).await;
    let mut want = vec![0x04, 0x0e, 0x06, 0x00, 0x01];
    want.extend_from_slice(b"realtime:room1cursor{\"x\":1}");
    assert_eq!(b.binary().await, want);
    assert_eq!(
        c.json().await,
        json!({"topic": topic, "event": "broadcast", "payload": bc("cursor", json!({"x": 1})), "ref": null})
    );
    assert_eq!(a.json().await, json!([jr, "15", topic, "phx_reply", {"status": "ok", "response": {}}]));

    // Metadata travels in kind 4 and as `meta` for v1.
    a.send_binary(kind3(&jr, "16", topic, "m", r#"{"id":"x1"}"#, 1, b"[1,2]")).await;
    assert_eq!(b.binary().await, kind4(topic, "m", r#"{"id":"x1"}"#, 1, b"[1,2]"));
    let mut with_meta = bc("m", json!([1, 2]));
    with_meta["meta"] = json!({"id": "x1"});
    assert_eq!(
        c.json().await,
        json!({"topic": topic, "event": "broadcast", "payload": with_meta, "ref": null})
    );
    assert_eq!(a.json().await[1], "16");

    // Binary encoding: kind 4 with encoding 0 to v2; dropped for v1.
    let bytes = [0u8, 1, 2, 0xff, b'{'];
    a.send_binary(kind3(&jr, "17", topic, "blob", "", 0, &bytes)).await;
    assert_eq!(b.binary().await, kind4(topic, "blob", "", 0, &bytes));
    assert_eq!(a.json().await[1], "17");
    c.quiet1().await;
    b.quiet2().await;

    // A v1 socket's binary frame is not read.
    c.send_binary(kind3("1", "18", topic, "x", "", 1, b"{}")).await;
    c.quiet1().await;
    b.quiet2().await;
}

#[tokio::test]
async fn private_and_public_channels_with_one_name_are_separate() {
    let server = Server::start(Config::default()).await.unwrap();
    let topic = "realtime:room1";
    let mut private = Client::v2(&server.url()).await;
    let mut public = Client::v2(&server.url()).await;
    let mut private_sender = Client::v2(&server.url()).await;
    let mut public_sender = Client::v2(&server.url()).await;
    private.join_ok(topic, json!({"private": true})).await;
    public.join_ok(topic, json!({"private": false})).await;
    let pjr = private_sender.join_ok(topic, json!({"private": "true"})).await;
    let jr = public_sender.join_ok(topic, json!({})).await;

    public_sender.push2(Some(&jr), Some("2"), topic, "broadcast", bc("pub", json!(1))).await;
    assert_eq!(public.json().await, json!([null, null, topic, "broadcast", bc("pub", json!(1))]));
    public_sender.quiet2().await;
    private.quiet2().await;

    private_sender.push2(Some(&pjr), Some("3"), topic, "broadcast", bc("priv", json!(2))).await;
    assert_eq!(private.json().await, json!([null, null, topic, "broadcast", bc("priv", json!(2))]));
    private_sender.quiet2().await;
    public.quiet2().await;
}

// ----------------------------------------------------------------------------------- presence

fn phx_ref_of(diff_side: &Value, key: &str) -> String {
    diff_side[key]["metas"][0]["phx_ref"].as_str().expect("a phx_ref").to_string()
}

#[tokio::test]
async fn presence_state_diffs_updates_and_leaves() {
    let server = Server::start(Config::default()).await.unwrap();
    let topic = "realtime:room1";
    let presence = |key: &str| json!({"presence": {"enabled": true, "key": key}});

    let mut a = Client::v2(&server.url()).await;
    let ajr = a.join_ok(topic, presence("ana")).await;
    assert_eq!(a.json().await, json!([ajr, null, topic, "presence_state", {}]));
    let mut b = Client::v2(&server.url()).await;
    let bjr = b.join_ok(topic, presence("bo")).await;
    assert_eq!(b.json().await, json!([bjr, null, topic, "presence_state", {}]));
    // A channel without presence enabled gets no state and no diffs.
    let mut quiet = Client::v2(&server.url()).await;
    quiet.join_ok(topic, json!({})).await;

    let track = |p: Value| json!({"type": "presence", "event": "track", "payload": p});
    let ok = |r: &str| json!([ajr, r, topic, "phx_reply", {"status": "ok", "response": {}}]);

    a.push2(Some(&ajr), Some("20"), topic, "presence", track(json!({"s": 1}))).await;
    assert_eq!(a.json().await, ok("20"));
    let diff = a.json().await;
    assert_eq!(head(&diff), json!([null, null, topic, "presence_diff"]));
    let r1 = phx_ref_of(&diff[4]["joins"], "ana");
    let joined = json!({"joins": {"ana": {"metas": [{"s": 1, "phx_ref": r1}]}}, "leaves": {}});
    assert_eq!(diff[4], joined);
    assert_eq!(b.json().await, json!([null, null, topic, "presence_diff", joined]));

    // A different track: a join with phx_ref_prev plus a leave of the old meta.
    a.push2(Some(&ajr), Some("21"), topic, "presence", track(json!({"s": 2}))).await;
    assert_eq!(a.json().await, ok("21"));
    let diff = a.json().await;
    let r2 = phx_ref_of(&diff[4]["joins"], "ana");
    assert_ne!(r1, r2);
    let updated = json!({
        "joins": {"ana": {"metas": [{"s": 2, "phx_ref": r2, "phx_ref_prev": r1}]}},
        "leaves": {"ana": {"metas": [{"s": 1, "phx_ref": r1}]}},
    });
    assert_eq!(diff, json!([null, null, topic, "presence_diff", updated]));
    assert_eq!(b.json().await, diff);

    // The same track again: a reply and no diff.
    a.push2(Some(&ajr), Some("22"), topic, "presence", track(json!({"s": 2}))).await;
    assert_eq!(a.json().await, ok("22"));
    a.quiet2().await;
    b.quiet2().await;

    // A newcomer gets the state.
    let mut c = Client::v2(&server.url()).await;
    let cjr = c.join_ok(topic, presence("cy")).await;
    assert_eq!(
        c.json().await,
        json!([cjr, null, topic, "presence_state", {"ana": {"metas": [{"s": 2, "phx_ref": r2}]}}])
    );

    // Untrack: a leave.
    a.push2(Some(&ajr), Some("23"), topic, "presence", json!({"type": "presence", "event": "untrack"})).await;
    assert_eq!(a.json().await, ok("23"));
    let left = json!([null, null, topic, "presence_diff", {"joins": {}, "leaves": {"ana": {"metas": [{"s": 2, "phx_ref": r2}]}}}]);
    assert_eq!(a.json().await, left);
    assert_eq!(b.json().await, left);
    assert_eq!(c.json().await, left);

    // b tracks, then its socket closes: a leave for the others.
    b.push2(Some(&bjr), Some("24"), topic, "presence", track(json!({"u": "bo"}))).await;
    assert_eq!(b.json().await[1], "24");
    let joined = a.json().await;
    let rb = phx_ref_of(&joined[4]["joins"], "bo");
    assert_eq!(c.json().await, joined);
    b.close().await;
    let left = json!([null, null, topic, "presence_diff", {"joins": {}, "leaves": {"bo": {"metas": [{"u": "bo", "phx_ref": rb}]}}}]);
    assert_eq!(a.json().await, left);
    assert_eq!(c.json().await, left);

    // The channel without presence saw none of it.
    quiet.quiet2().await;
}

// ---------------------------------------------------------------------------------- auth flows

#[tokio::test]
async fn join_with_an_expired_token_is_refused() {
    let server = Server::start(jwt_config()).await.unwrap();
    let mut c = Client::at(&server.url(), &format!("apikey={}&vsn=2.0.0", good_token())).await;
    let expired = token(json!({"role": "anon", "exp": now() - 12}));
    let (r, reply) = c.join2("realtime:room1", json!({"config": {}, "access_token": expired})).await;
    assert_eq!(head(&reply), json!([r, r, "realtime:room1", "phx_reply"]));
    assert_eq!(reply[4]["status"], "error");
    let reason = reply[4]["response"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("InvalidJWTToken: Token has expired "), "{reason}");
    // `user_token` is the legacy alias.
    let bad = jwt::sign(&json!({"role": "anon", "exp": now() + 60}), b"wrong");
    let (_, reply) = c.join2("realtime:room2", json!({"config": {}, "user_token": bad})).await;
    assert_eq!(reply[4]["response"]["reason"], "InvalidJWTToken: Signature error");
}

#[tokio::test]
async fn token_recheck_closes_expired_channels_and_access_token_refreshes() {
    let config = Config { token_recheck: Duration::from_millis(200), ..jwt_config() };
    let server = Server::start(config).await.unwrap();
    let url = ws_url(&server.url(), &format!("apikey={}&vsn=2.0.0", good_token()));
    // Valid for 1-2 s: `exp` has whole seconds, and the joins below must happen before it.
    let short = token(json!({"role": "anon", "exp": now() + 2}));
    let topic = "realtime:room1";
    let mut stale = Client::connect(&url).await;
    let mut fresh = Client::connect(&url).await;
    let sjr = stale.join_ok_with(topic, json!({"config": {}, "access_token": short})).await;
    let fjr = fresh.join_ok_with(topic, json!({"config": {}, "access_token": short})).await;
    // A join without a token, or with an `sb_` key, uses the socket's token: re-checked too.
    let mut inherits = Client::at(&server.url(), &format!("apikey={short}&vsn=2.0.0")).await;
    let ijr = inherits.join_ok_with(topic, json!({"config": {}})).await;
    fresh.join_ok_with("realtime:other", json!({"config": {}, "access_token": "sb_publishable_x"})).await;
    // No reply to access_token (spec A.5); an `sb_` key and a repeat are ignored.
    for t in ["sb_publishable_key".to_string(), good_token()] {
        fresh.push2(Some(&fjr), Some("30"), topic, "access_token", json!({"access_token": t})).await;
    }
    fresh.quiet2().await;

    // The stale one gets a `system` error, then phx_close, on a re-check once `exp` passed.
    let system = stale.json().await;
    assert_eq!(head(&system), json!([sjr, null, topic, "system"]));
    assert_eq!((&system[4]["extension"], &system[4]["status"]), (&json!("system"), &json!("error")));
    assert_eq!(system[4]["channel"], "room1");
    let message = system[4]["message"].as_str().unwrap();
    assert!(message.starts_with("Token has expired "), "{message}");
    assert_eq!(stale.json().await, json!([sjr, sjr, topic, "phx_close", {}]));
    assert_eq!(head(&inherits.json().await), json!([ijr, null, topic, "system"]));
    assert_eq!(inherits.json().await, json!([ijr, ijr, topic, "phx_close", {}]));
    // Joining with the expired socket token now fails.
    let (r, reply) = inherits.join2(topic, json!({"config": {}})).await;
    assert_eq!(head(&reply), json!([r, r, topic, "phx_reply"]));
    let reason = reply[4]["response"]["reason"].as_str().unwrap();
    assert!(reason.starts_with("InvalidJWTToken: Token has expired "), "{reason}");
    // The same re-check pass saw the refreshed token and kept that channel (and the `sb_` one,
    // on the socket's good token).
    fresh.quiet2().await;

    // An invalid token closes the channel the same way.
    fresh.push2(Some(&fjr), Some("31"), topic, "access_token", json!({"access_token": "junk"})).await;
    let system = fresh.json().await;
    assert_eq!(system[3], "system");
    assert_eq!(system[4]["status"], "error");
    assert_eq!(fresh.json().await, json!([fjr, fjr, topic, "phx_close", {}]));
    fresh.quiet2().await;
}

#[tokio::test]
async fn private_channels_follow_the_authorize_rule() {
    let config = Config {
        authorize: Arc::new(|req| match req.topic {
            "secret" => Policies { read: req.claims.is_some_and(|c| c["role"] == "admin"), write: true },
            "readonly" => Policies { read: true, write: false },
            _ => Policies { read: true, write: true },
        }),
        ..jwt_config()
    };
    let server = Server::start(config).await.unwrap();
    let url = ws_url(&server.url(), &format!("apikey={}&vsn=2.0.0", good_token()));
    let admin = token(json!({"role": "admin", "exp": now() + 3600}));
    let mut a = Client::connect(&url).await;
    let (r, reply) =
        a.join2("realtime:secret", json!({"config": {"private": true}, "access_token": good_token()})).await;
    assert_eq!(
        reply,
        json!([r, r, "realtime:secret", "phx_reply", {"status": "error", "response": {"reason": "Unauthorized: You do not have permissions to read from this Channel topic: secret"}}])
    );
    a.join_ok_with("realtime:secret", json!({"config": {"private": true}, "access_token": admin})).await;
    // The same name as a public channel is not checked.
    a.join_ok("realtime:secret2", json!({})).await;

    // Read but no write: the broadcast is dropped, with no reply even with ack (spec C.1).
    let mut reader = Client::connect(&url).await;
    reader.join_ok("realtime:readonly", json!({"private": true})).await;
    let jr = a
        .join_ok("realtime:readonly", json!({"private": true, "broadcast": {"ack": true, "self": true}}))
        .await;
    a.push2(Some(&jr), Some("40"), "realtime:readonly", "broadcast", bc("e", json!({}))).await;
    a.quiet2().await;
    reader.quiet2().await;
}

// ----------------------------------------------------------------------------------- postgres

fn change(kind: &str, table: &str, record: Value, old_record: Value) -> RowChange {
    RowChange {
        schema: "public".into(),
        table: table.into(),
        kind: kind.into(),
        columns: vec![("id".into(), "int8".into()), ("name".into(), "text".into())],
        record,
        old_record,
        commit_timestamp: "2026-08-21T10:11:12.345Z".into(),
    }
}

fn subscribed(jr: &str, topic: &str) -> Value {
    json!([jr, null, format!("realtime:{topic}"), "system",
        {"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": topic}])
}

#[tokio::test]
async fn postgres_changes_reach_only_matching_bindings() {
    let server = Server::start(Config::default()).await.unwrap();
    let b1 = json!({"event": "INSERT", "schema": "public", "table": "messages", "filter": "room_id=eq.1"});
    let b2 = json!({"event": "*", "schema": "public", "table": "messages", "filter": r#"name=in.("a,b",c)"#});
    let b3 = json!({"event": "UPDATE", "schema": "public", "table": "rooms", "filter": r#"name=eq."x, y""#});
    let b4 = json!({"event": "*", "schema": "public", "table": "messages", "filter": "id=gt.10,name=neq.zz"});
    let mut a = Client::v2(&server.url()).await;
    let mut b = Client::v2(&server.url()).await;
    let mut none = Client::v2(&server.url()).await;
    let (ajr, reply) = a.join2("realtime:a", json!({"config": {"postgres_changes": [b1, b2, b3, b1]}})).await;
    let ids: Vec<Value> = reply[4]["response"]["postgres_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    assert_eq!(ids[0], ids[3]);
    assert_eq!(a.json().await, subscribed(&ajr, "a"));
    let (bjr, reply) = b.join2("realtime:b", json!({"config": {"postgres_changes": [b4]}})).await;
    let b4id = reply[4]["response"]["postgres_changes"][0]["id"].clone();
    assert_eq!(b.json().await, subscribed(&bjr, "b"));
    none.join_ok("realtime:a", json!({})).await;

    let data = |c: &RowChange| {
        json!({"schema": c.schema, "table": c.table, "commit_timestamp": c.commit_timestamp, "type": c.kind,
            "columns": [{"name": "id", "type": "int8"}, {"name": "name", "type": "text"}],
            "record": if c.kind == "DELETE" { json!({}) } else { c.record.clone() },
            "old_record": if c.kind == "INSERT" { json!({}) } else { c.old_record.clone() },
            "errors": null})
    };

    // b1 (twice) and b2 match: each id once.
    let c1 = change("INSERT", "messages", json!({"id": 1, "room_id": 1, "name": "a,b"}), Value::Null);
    assert_eq!(server.emit_change(&c1), 1);
    assert_eq!(
        a.json().await,
        json!([ajr, null, "realtime:a", "postgres_changes", {"ids": [ids[0], ids[1]], "data": data(&c1)}])
    );
    // b2 and b4.
    let c2 = change("INSERT", "messages", json!({"id": 11, "room_id": 2, "name": "c"}), Value::Null);
    assert_eq!(server.emit_change(&c2), 2);
    assert_eq!(
        a.json().await,
        json!([ajr, null, "realtime:a", "postgres_changes", {"ids": [ids[1]], "data": data(&c2)}])
    );
    assert_eq!(
        b.json().await,
        json!([bjr, null, "realtime:b", "postgres_changes", {"ids": [b4id], "data": data(&c2)}])
    );
    // The quoted value with a comma and a space.
    let c3 = change("UPDATE", "rooms", json!({"id": 1, "name": "x, y"}), json!({"id": 1}));
    assert_eq!(server.emit_change(&c3), 1);
    assert_eq!(
        a.json().await,
        json!([ajr, null, "realtime:a", "postgres_changes", {"ids": [ids[2]], "data": data(&c3)}])
    );
    // A delete matches on the old row: b4 but not b2; `neq` keeps out name=zz.
    let c4 = change("DELETE", "messages", Value::Null, json!({"id": 12, "name": "q"}));
    assert_eq!(server.emit_change(&c4), 1);
    assert_eq!(
        b.json().await,
        json!([bjr, null, "realtime:b", "postgres_changes", {"ids": [b4id], "data": data(&c4)}])
    );
    let c5 = change("DELETE", "messages", Value::Null, json!({"id": 12, "name": "zz"}));
    let c6 = change("INSERT", "other", json!({"id": 99, "name": "c"}), Value::Null);
    assert_eq!(server.emit_change(&c5), 0);
    assert_eq!(server.emit_change(&c6), 0);
    a.quiet2().await;
    b.quiet2().await;
    none.quiet2().await;
}

#[tokio::test]
async fn a_malformed_filter_gets_a_system_error() {
    let server = Server::start(Config::default()).await.unwrap();
    let mut c = Client::v2(&server.url()).await;
    let bad = json!({"event": "*", "schema": "public", "table": "t", "filter": "id=foo.1"});
    let (jr, reply) = c.join2("realtime:room1", json!({"config": {"postgres_changes": [bad]}})).await;
    assert_eq!(reply[4]["status"], "ok");
    assert_eq!(
        c.json().await,
        json!([jr, null, "realtime:room1", "system", {"extension": "postgres_changes", "status": "error",
            "message": "Error parsing `filter` params: id=foo.1", "channel": "room1"}])
    );
    // No "Subscribed" follows, and nothing is delivered.
    let row = change("INSERT", "t", json!({"id": 1}), Value::Null);
    assert_eq!(server.emit_change(&row), 0);
    c.quiet2().await;
}
