//! The tokio client against the local server (`realtime-testkit`) over real TCP on loopback:
//! every channel feature end to end, and what dropping handles and futures does. (Faults, TLS,
//! proxies and interop have their own files.)

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{broadcasts_seen, client, eventually, next};
use realtime_testkit::{Auth, Config as ServerConfig, RowChange, Server};
use realtime_tokio::{
    Binding, ChangeEvent, ChannelConfig, ChannelStatus, Config, Filter, Payload, PresenceEvent,
    RealtimeClient,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cursor {
    x: i64,
    y: i64,
}

#[tokio::test]
async fn broadcast_with_self_and_ack_typed_and_binary() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let a = client(&server);
    let b = client(&server);
    let room_a =
        a.channel("room1", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let room_b = b.channel("room1", ChannelConfig::new()).await.unwrap();
    let mut at_a = room_a.on_broadcast("cursor").await;
    let mut at_b = room_b.on_broadcast("*").await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    // Acked: resolves once the server replied.
    room_a.send("cursor", &Cursor { x: 1, y: 2 }).await.unwrap();
    for rx in [&mut at_a, &mut at_b] {
        let got = next(rx).await;
        assert_eq!(got.event, "cursor");
        assert_eq!(got.json::<Cursor>().unwrap(), Cursor { x: 1, y: 2 });
    }
    room_a.send_binary("blob", vec![0, 1, 255]).await.unwrap();
    let got = next(&mut at_b).await;
    assert_eq!((got.event.as_str(), &got.payload), ("blob", &Payload::Binary(vec![0, 1, 255])));
    assert!(got.json::<Cursor>().is_err(), "a binary payload is not JSON");
    // A payload that does not fit the app's type is an error item; the stream goes on.
    room_b.send("cursor", &json!({"x": "not a number"})).await.unwrap();
    let odd = next(&mut at_a).await;
    assert!(odd.json::<Cursor>().is_err());
    room_b.send("cursor", &Cursor { x: 3, y: 4 }).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<Cursor>().unwrap(), Cursor { x: 3, y: 4 });
    // REST: the same channel from outside the socket.
    room_b.http_send("cursor", &Cursor { x: 5, y: 6 }, false).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<Cursor>().unwrap(), Cursor { x: 5, y: 6 });
}

#[tokio::test]
async fn presence_is_seen_and_tracked_again_after_the_server_drops_everyone() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let a = client(&server);
    let b = client(&server);
    let room_a = a.channel("lobby", ChannelConfig::new().presence_key("ana")).await.unwrap();
    let room_b = b.channel("lobby", ChannelConfig::new().presence_key("bo")).await.unwrap();
    let mut seen_by_a = room_a.on_presence().await;
    let mut statuses_b = room_b.statuses().await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    room_b.track(&json!({"name": "Bo"})).await.unwrap();
    let joined = loop {
        if let PresenceEvent::Join { key, joined, .. } = next(&mut seen_by_a).await
            && key == "bo"
        {
            break joined;
        }
    };
    assert_eq!(joined[0].payload, r#"{"name":"Bo"}"#);
    // Everyone dropped: both reconnect and rejoin, and bo is tracked again without asking.
    assert_eq!(server.drop_all_connections(), 2);
    loop {
        if next(&mut statuses_b).await == ChannelStatus::Subscribed {
            break;
        }
    }
    // bo's new presence (a new ref) reaches ana either as a diff or, when ana rejoins after bo
    // tracked again, in the presence state of her join: both are `Join`, with `sync` telling
    // which, and the order of the two rejoins is not fixed.
    let old_ref = joined[0].presence_ref.clone();
    loop {
        if let PresenceEvent::Join { key, joined, .. } = next(&mut seen_by_a).await
            && key == "bo"
            && joined.iter().any(|p| p.presence_ref != old_ref)
        {
            break;
        }
    }
    let state = room_a.presence_state().await.unwrap();
    assert!(state.iter().any(|(k, _)| k == "bo"), "{state:?}");
}

#[tokio::test]
async fn postgres_changes_reach_their_bindings() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch = c.channel("db", ChannelConfig::new()).await.unwrap();
    let mut inserts = ch
        .on_postgres_changes(
            Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&Filter::eq("room", "1")),
        )
        .await
        .unwrap();
    let mut all =
        ch.on_postgres_changes(Binding::new(ChangeEvent::All, "public").table("messages")).await.unwrap();
    ch.subscribe().await.unwrap();
    assert!(
        ch.on_postgres_changes(Binding::new(ChangeEvent::All, "public")).await.is_err(),
        "after subscribe"
    );
    let row = |kind: &str, room: i64, id: i64| RowChange {
        schema: "public".into(),
        table: "messages".into(),
        kind: kind.into(),
        columns: vec![("id".into(), "int8".into()), ("room".into(), "int8".into())],
        record: json!({"id": id, "room": room}),
        old_record: json!({"id": id}),
        commit_timestamp: "2026-11-26T00:00:00.000Z".into(),
    };
    let delivered = server.emit_change(&row("INSERT", 2, 10));
    assert_eq!(delivered, 1);
    server.emit_change(&row("INSERT", 1, 11));
    server.emit_change(&row("UPDATE", 1, 12));
    let got: Vec<i64> = [next(&mut all).await, next(&mut all).await, next(&mut all).await]
        .iter()
        .map(|c| c.new_value("id").unwrap().unwrap().as_i64().unwrap())
        .collect();
    assert_eq!(got, [10, 11, 12]);
    let insert = next(&mut inserts).await;
    assert_eq!(insert.new_value("id").unwrap().unwrap().as_i64(), Some(11), "only room 1's insert");
}

#[tokio::test]
async fn an_async_token_source_answers_the_cores_requests() {
    let secret = b"test-secret".to_vec();
    let exp = realtime_testkit_now() + 3600;
    let token = realtime_testkit::jwt::sign(&json!({"role": "anon", "exp": exp}), &secret);
    let server =
        Server::start(ServerConfig { auth: Auth::Jwt { secret: secret.clone() }, ..ServerConfig::default() })
            .await
            .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut config = Config::new(server.url(), token.clone());
    let (calls2, token2) = (calls.clone(), token.clone());
    config.token_source = Some(Arc::new(move || {
        calls2.fetch_add(1, Ordering::SeqCst);
        let t = token2.clone();
        Box::pin(async move { Some(t) })
    }));
    let c = RealtimeClient::new(config).unwrap();
    let ch = c.channel("secure", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    assert!(calls.load(Ordering::SeqCst) >= 1, "the source was asked");
    let joins: Vec<_> = server.observed().into_iter().filter(|o| o.message.event == "phx_join").collect();
    assert_eq!(joins[0].message.payload["access_token"], json!(token));
}

fn realtime_testkit_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn typed_streams_yield_errors_and_go_on_and_shutdown_closes_politely() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let room =
        c.channel("typed", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut cursors = room.on_broadcast_as::<Cursor>("cursor").await;
    room.subscribe().await.unwrap();
    room.send("cursor", &json!({"x": "nope"})).await.unwrap();
    room.send("cursor", &Cursor { x: 7, y: 8 }).await.unwrap();
    let first = tokio::time::timeout(common::WAIT, cursors.recv()).await.unwrap().unwrap();
    assert!(first.is_err(), "a payload of another shape is an error item");
    let second = tokio::time::timeout(common::WAIT, cursors.recv()).await.unwrap().unwrap();
    assert_eq!(second.unwrap(), Cursor { x: 7, y: 8 }, "and the stream goes on");
    assert_eq!(server.connections(), 1);
    c.shutdown().await.unwrap();
    eventually("the server to see the socket close", || server.connections() == 0).await;
    assert!(matches!(room.subscribe().await, Err(realtime_tokio::Error::Closed)), "the task is gone");
}

#[tokio::test]
async fn dropping_every_handle_closes_the_connection() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch = c.channel("bye", ChannelConfig::new()).await.unwrap();
    let mut statuses = ch.statuses().await;
    ch.subscribe().await.unwrap();
    assert_eq!(server.connections(), 1);
    // A clone of the client keeps it alive; only the last handle ends it.
    let other = c.clone();
    drop(c);
    ch.send("still", &json!({})).await.unwrap();
    drop(ch);
    drop(other);
    eventually("the server to see the socket go", || server.connections() == 0).await;
    // The client's streams end with it.
    assert!(
        tokio::time::timeout(common::WAIT, async { while statuses.recv().await.is_some() {} }).await.is_ok(),
        "the status stream ends"
    );
}

#[tokio::test]
async fn a_send_dropped_before_it_completes_leaves_the_client_usable() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch =
        c.channel("cancel", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    // The send future is polled once (the command goes to the driver), then dropped while it
    // waits for the server's ack.
    let payload = json!({"n": 1});
    tokio::select! {
        biased;
        _ = ch.send("dropped", &payload) => panic!("an acked send cannot complete on its first poll"),
        () = std::future::ready(()) => {}
    }
    // As documented, the dropped send still goes out, once; only its outcome is not awaited.
    assert_eq!(next(&mut echo).await.event, "dropped");
    ch.send("after", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    assert_eq!(broadcasts_seen(&server, "dropped"), 1);
    // A subscribe dropped half way is harmless too: the next one gets the outcome (whether
    // the join is still under way or already done).
    let other = c.channel("cancel-2", ChannelConfig::new()).await.unwrap();
    tokio::select! {
        biased;
        _ = other.subscribe() => {}
        () = std::future::ready(()) => {}
    }
    other.subscribe().await.unwrap();
    ch.send("last", &json!({"n": 3})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "last");
}

#[tokio::test]
async fn subscribe_on_a_joined_channel_returns_at_once() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch = c.channel("twice", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    // Joined already: nothing new will be reported, so this must not wait for a status.
    tokio::time::timeout(common::WAIT, ch.subscribe()).await.expect("no hang").unwrap();
    // Another handle to the same channel, too.
    let again = c.channel("twice", ChannelConfig::new()).await.unwrap();
    tokio::time::timeout(common::WAIT, again.subscribe()).await.expect("no hang").unwrap();
    assert_eq!(common::frames(&server, Some("realtime:twice"), "phx_join").len(), 1);
}

#[tokio::test]
async fn with_rest_fallback_a_channel_that_cannot_push_sends_over_http() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let listener = client(&server);
    let room = listener.channel("fallback", ChannelConfig::new()).await.unwrap();
    let mut got = room.on_broadcast("note").await;
    room.subscribe().await.unwrap();
    let mut config = Config::new(server.url(), "anon");
    config.client.rest_fallback = true;
    let sender = RealtimeClient::new(config).unwrap();
    // The socket cannot connect (upgrades refused; REST still served), so the channel is
    // joining: its broadcast goes over the REST endpoint and resolves on the 202.
    server.refuse_connections_for(std::time::Duration::from_secs(60));
    let ch = sender.channel("fallback", ChannelConfig::new()).await.unwrap();
    let joining = ch.clone();
    tokio::spawn(async move { joining.subscribe().await });
    let state = sender.connection_state();
    eventually("the subscribe to start connecting", || {
        *state.borrow() != realtime_tokio::ConnectionState::Disconnected
    })
    .await;
    ch.send("note", &json!({"via": "rest"})).await.unwrap();
    assert_eq!(next(&mut got).await.json::<serde_json::Value>().unwrap(), json!({"via": "rest"}));
    assert!(server.observed().iter().all(|o| o.message.event != "broadcast"), "nothing went over a socket");
}

#[tokio::test]
async fn system_messages_come_on_their_own_stream() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch = c.channel("sys", ChannelConfig::new()).await.unwrap();
    let _changes = ch.on_postgres_changes(Binding::new(ChangeEvent::All, "public").table("t")).await.unwrap();
    let mut messages = ch.on_messages().await;
    ch.subscribe().await.unwrap();
    let (event, payload) = next(&mut messages).await;
    assert_eq!(event, "system");
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        (payload["extension"].as_str(), payload["status"].as_str()),
        (Some("postgres_changes"), Some("ok"))
    );
}
