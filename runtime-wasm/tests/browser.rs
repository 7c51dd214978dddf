//! The client in a real browser (headless Chromium, by wasm-bindgen-test), against the local
//! server that `scripts/wasm-test` starts: the driver's conformance scenarios a page can run.
//! The server is steered through its HTTP test-control endpoints, called with `fetch`. Every
//! wait is a guard against hanging, not a timing claim.
#![cfg(target_arch = "wasm32")]

use std::future::Future;
use std::time::Duration;

use futures_util::future::{Either, select};
use realtime_wasm::{
    Binding, ChangeEvent, ChannelConfig, ChannelStatus, ClientEvent, Config, Filter, Item, Payload,
    PresenceEvent, PushError, RealtimeClient, Receiver,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// How long any wait may take before the test fails.
const WAIT: Duration = Duration::from_secs(10);

/// The server's Realtime URL (`ws://127.0.0.1:<port>/realtime/v1`), given at build time by
/// `scripts/wasm-test`.
fn url() -> String {
    // Read at build time (a page has no environment); absent, the tests cannot run.
    match option_env!("REALTIME_TEST_URL") {
        Some(url) => url.to_string(),
        None => panic!("REALTIME_TEST_URL: run these through scripts/wasm-test, which starts the server"),
    }
}

fn http_base() -> String {
    url().replacen("ws://", "http://", 1).replacen("wss://", "https://", 1)
}

fn config() -> Config {
    let mut config = Config::new(url(), "anon");
    let steps = vec![Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200)];
    config.client.reconnect = realtime_core::phoenix::backoff::Backoff::new(steps.clone()).unwrap();
    config.client.rejoin = realtime_core::phoenix::backoff::Backoff::new(steps).unwrap();
    config
}

async fn sleep(d: Duration) {
    let ms = d.as_millis() as i32;
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let global: web_sys::Window = js_sys::global().unchecked_into();
        global.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// `fut`, or a panic naming `what` after [`WAIT`].
async fn within<F: Future>(what: &str, fut: F) -> F::Output {
    match select(Box::pin(fut), Box::pin(sleep(WAIT))).await {
        Either::Left((out, _)) => out,
        Either::Right(_) => panic!("{what}: nothing within {WAIT:?}"),
    }
}

async fn next<T: Item + std::fmt::Debug>(rx: &mut Receiver<T>) -> T {
    within("the next item", rx.recv()).await.expect("the stream is open").expect("no lag")
}

async fn until<T: Item + std::fmt::Debug>(rx: &mut Receiver<T>, what: &str, want: impl Fn(&T) -> bool) -> T {
    within(what, async {
        loop {
            let item = rx.recv().await.expect("the stream is open").expect("no lag");
            if want(&item) {
                return item;
            }
        }
    })
    .await
}

/// `POST /realtime/v1/testkit/<what>` with `body`: the server's test control.
async fn control(what: &str, body: Value) -> Value {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&JsValue::from_str(&body.to_string()));
    let request =
        web_sys::Request::new_with_str_and_init(&format!("{}/testkit/{what}", http_base()), &init).unwrap();
    let window: web_sys::Window = js_sys::global().unchecked_into();
    let response: web_sys::Response =
        JsFuture::from(window.fetch_with_request(&request)).await.unwrap().unchecked_into();
    assert_eq!(response.status(), 200, "testkit/{what}");
    let text = JsFuture::from(response.text().unwrap()).await.unwrap();
    serde_json::from_str(&text.as_string().unwrap()).unwrap()
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cursor {
    x: i64,
    y: i64,
}

/// Subscribing connects through the browser's WebSocket: the events say so.
#[wasm_bindgen_test]
async fn subscribe_reports_the_connection() {
    let c = RealtimeClient::new(config()).unwrap();
    let mut events = c.events();
    let ch = c.channel("wasm-hello", ChannelConfig::new()).await.unwrap();
    within("subscribe", ch.subscribe()).await.unwrap();
    assert!(matches!(next(&mut events).await, ClientEvent::Connecting));
    assert!(matches!(next(&mut events).await, ClientEvent::Connected));
    assert!(c.last_error().is_none());
    c.shutdown().await.unwrap();
}

/// Broadcasts both ways, acked, binary (an `ArrayBuffer` frame), and over REST (`fetch`).
#[wasm_bindgen_test]
async fn broadcasts_go_both_ways_binary_and_rest() {
    let a = RealtimeClient::new(config()).unwrap();
    let b = RealtimeClient::new(config()).unwrap();
    let room_a = a.channel("wasm-room", ChannelConfig::new().broadcast_ack(true)).await.unwrap();
    let room_b = b.channel("wasm-room", ChannelConfig::new()).await.unwrap();
    let mut at_a = room_a.on_broadcast("*").await;
    let mut at_b = room_b.on_broadcast("*").await;
    within("a joins", room_a.subscribe()).await.unwrap();
    within("b joins", room_b.subscribe()).await.unwrap();
    within("an acked send", room_a.send("cursor", &Cursor { x: 1, y: 2 })).await.unwrap();
    let got = next(&mut at_b).await;
    assert_eq!((got.event.as_str(), got.json::<Cursor>().unwrap()), ("cursor", Cursor { x: 1, y: 2 }));
    within("a binary send", room_b.send_binary("blob", vec![0, 1, 255])).await.unwrap();
    let got = next(&mut at_a).await;
    assert_eq!((got.event.as_str(), &got.payload), ("blob", &Payload::Binary(vec![0, 1, 255])));
    within("a REST send", room_b.http_send("cursor", &Cursor { x: 5, y: 6 }, false)).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<Cursor>().unwrap(), Cursor { x: 5, y: 6 });
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Presence: one tracks, the other sees the join and the state.
#[wasm_bindgen_test]
async fn presence_is_seen_by_the_other_member() {
    let a = RealtimeClient::new(config()).unwrap();
    let b = RealtimeClient::new(config()).unwrap();
    let room_a = a.channel("wasm-lobby", ChannelConfig::new().presence_key("ana")).await.unwrap();
    let room_b = b.channel("wasm-lobby", ChannelConfig::new().presence_key("bo")).await.unwrap();
    let mut seen = room_b.on_presence().await;
    within("b joins", room_b.subscribe()).await.unwrap();
    within("a joins", room_a.subscribe()).await.unwrap();
    room_a.track(&json!({"status": "online"})).await.unwrap();
    until(&mut seen, "ana's join", |e| matches!(e, PresenceEvent::Join { key, .. } if key == "ana")).await;
    let state = room_b.presence_state_as::<Value>().await.unwrap();
    let ana = state.iter().find(|(k, _)| k == "ana").expect("ana in the state");
    assert_eq!(ana.1[0]["status"], "online");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A row change emitted on the server reaches the binding it matches.
#[wasm_bindgen_test]
async fn postgres_changes_reach_their_bindings() {
    let c = RealtimeClient::new(config()).unwrap();
    let ch = c.channel("wasm-db", ChannelConfig::new()).await.unwrap();
    let mut inserts = ch
        .on_postgres_changes(
            Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&Filter::eq("room", 1)),
        )
        .await
        .unwrap();
    within("subscribe", ch.subscribe()).await.unwrap();
    let row = |room: i64, id: i64| {
        json!({"schema": "public", "table": "messages", "type": "INSERT",
            "columns": [{"name": "id", "type": "int8"}, {"name": "room", "type": "int8"}],
            "record": {"id": id, "room": room}})
    };
    control("emit", row(2, 10)).await;
    control("emit", row(1, 11)).await;
    let insert = next(&mut inserts).await;
    assert_eq!(insert.new_value("id").unwrap().unwrap().as_i64(), Some(11), "only room 1's insert");
    c.shutdown().await.unwrap();
}

/// The server dropping every connection: the client reconnects, rejoins and sends again.
#[wasm_bindgen_test]
async fn the_server_dropping_the_connection_is_survived() {
    let c = RealtimeClient::new(config()).unwrap();
    let mut events = c.events();
    let ch = c.channel("wasm-survivor", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("*").await;
    within("subscribe", ch.subscribe()).await.unwrap();
    until(&mut statuses, "Subscribed", |s| *s == ChannelStatus::Subscribed).await;
    let dropped = control("drop", json!({})).await;
    assert!(dropped["dropped"].as_u64().unwrap_or(0) >= 1, "{dropped}");
    until(&mut events, "the loss", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
    until(&mut statuses, "Subscribed again", |s| *s == ChannelStatus::Subscribed).await;
    within("a send", ch.send("back", &json!({}))).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "back");
    c.shutdown().await.unwrap();
}

/// A plain Phoenix channel works in the browser too; Realtime's pushes are refused, typed.
#[wasm_bindgen_test]
async fn realtime_pushes_are_refused_on_a_phoenix_channel() {
    let c = RealtimeClient::new(config()).unwrap();
    let ch = c.phoenix_channel("room:wasm", &json!({"user": "ana"})).await.unwrap();
    assert!(matches!(ch.track(&json!({})).await, Err(realtime_wasm::Error::Push(PushError::NotRealtime))));
    c.shutdown().await.unwrap();
}

/// The page coming back online probes the link at once: a heartbeat goes out and is answered
/// long before the 25 s interval would send one. Dropping the watch stops it.
#[wasm_bindgen_test]
async fn coming_back_online_probes_the_link() {
    let c = RealtimeClient::new(config()).unwrap();
    let ch = c.channel("wasm-wake", ChannelConfig::new()).await.unwrap();
    within("subscribe", ch.subscribe()).await.unwrap();
    let mut events = c.events();
    let watch = realtime_wasm::resume_on_wake(&c);
    let window: web_sys::Window = js_sys::global().unchecked_into();
    window.dispatch_event(&web_sys::Event::new("online").unwrap()).unwrap();
    until(&mut events, "the probe's answer", |e| {
        matches!(e, ClientEvent::Heartbeat(realtime_core::client::HeartbeatStatus::Ok { .. }))
    })
    .await;
    drop(watch);
    window.dispatch_event(&web_sys::Event::new("online").unwrap()).unwrap();
    let quiet = select(Box::pin(events.recv()), Box::pin(sleep(Duration::from_millis(500)))).await;
    assert!(matches!(quiet, Either::Right(_)), "no probe once the watch is dropped");
    c.shutdown().await.unwrap();
}

/// A server that is not there: the WebSocket fails to open, `subscribe` says so, and the
/// reason is kept as the last error (the client retries on its schedule meanwhile).
#[wasm_bindgen_test]
async fn a_socket_that_cannot_open_is_a_typed_error() {
    let mut config = config();
    config.client = realtime_core::client::ClientConfig::new("ws://127.0.0.1:9/realtime/v1", "anon");
    let c = RealtimeClient::new(config).unwrap();
    let mut events = c.events();
    let ch = c.channel("wasm-nowhere", ChannelConfig::new()).await.unwrap();
    assert!(within("subscribe", ch.subscribe()).await.is_err());
    until(&mut events, "a second attempt", |e| matches!(e, ClientEvent::Connecting)).await;
    // Display says what failed, the source chain why.
    let error = c.last_error().expect("the failure is kept");
    let mut chain = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(e) = source {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        source = e.source();
    }
    assert!(chain.contains("could not open the WebSocket"), "{chain}");
    c.shutdown().await.unwrap();
}
