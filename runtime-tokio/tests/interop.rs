//! Interop: the Rust client and the official realtime-js client in one channel on the testkit,
//! exchanging broadcasts both ways and seeing each other's presence. realtime-js is pinned in
//! `testkit/interop/` and installed by `scripts/interop-setup`; its side is the `mixed`
//! scenario of `testkit/interop/js_peer.mjs`, which reports what it observed as JSON lines.
//! Timeouts only guard against hanging.

use realtime_conformance::{next, until};
use realtime_testkit::peer::{Peer, require_setup};
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, Config, PresenceEvent, RealtimeClient};
use serde_json::{Value, json};

#[tokio::test]
async fn the_rust_client_and_realtime_js_share_broadcasts_and_presence() {
    require_setup();
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let mut js = Peer::js(&server.url(), "mixed", &["mixed"]);
    js.until("SUBSCRIBED", |l| l["step"] == "subscribed").await;

    let c = RealtimeClient::new(Config::new(server.url(), "anon")).unwrap();
    let ch = c.channel("mixed", ChannelConfig::new().presence_key("rust").broadcast_ack(true)).await.unwrap();
    let mut broadcasts = ch.on_broadcast("*").await;
    let mut presence = ch.on_presence().await;
    ch.subscribe().await.unwrap();
    ch.track(&json!({"lang": "rust"})).await.unwrap();
    ch.send("from-rust", &json!({"from": "rust", "n": 2})).await.unwrap();
    js.send(json!({"go": true})).await;

    // Rust sees JS's broadcast and presence ...
    let got = next(&mut broadcasts).await;
    assert_eq!(got.event, "from-js");
    assert_eq!(got.json::<Value>().unwrap(), json!({"from": "js", "n": 1}));
    until(&mut presence, "js's join", |e| matches!(e, PresenceEvent::Join { key, .. } if key == "js")).await;
    // ... and JS saw Rust's.
    let done = js.until("done", |l| l["done"] == true).await;
    assert_eq!(done["received"], json!([{"event": "from-rust", "payload": {"from": "rust", "n": 2}}]));
    assert_eq!(done["presence"], json!(["js", "rust"]));
    let state = ch.presence_state().await.unwrap();
    let mut keys: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["js", "rust"]);
    js.send(json!({"finish": true})).await;
    js.until("its leave", |l| l.get("left").is_some()).await;
    js.finish().await;
}
