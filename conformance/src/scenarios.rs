//! The scenarios, each an `async fn` generic over the runtime. Intervals are short and
//! configured; the schedules themselves are tested on virtual time in the core's simulation.

use std::error::Error as _;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use realtime_core::supabase::reason::ErrorClass;
use realtime_core::supabase::rest::RestError;
use realtime_driver::{
    Binding, ChangeEvent, ChannelConfig, ChannelErrorReason, ChannelStatus, ClientEvent, Config,
    ConnectionEnd, ConnectionError, ConnectionState, Error, Filter, HeartbeatStatus, LeaveOutcome, Payload,
    PresenceEvent, Proxy, PushError, RealtimeClient, Roots, Runtime,
};
use realtime_testkit::{Auth, Config as ServerConfig, JoinFault, RowChange, jwt};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::harness::{Harness, eventually, next, quick, quickly, sleep, unix_now, until, within};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Cursor {
    x: i64,
    y: i64,
}

fn client<S: Subject>(config: Config) -> RealtimeClient<S::R> {
    S::client(S::config(config))
}

/// What the suite runs against: a runtime, how it adjusts each scenario's config (a
/// self-framing transport, for example), and how it makes a client.
pub trait Subject {
    /// The runtime.
    type R: Runtime;
    /// The config a scenario's client gets (as given, by default).
    fn config(config: Config) -> Config {
        config
    }
    /// A client for `config` (for a [`FromContext`](realtime_driver::FromContext) runtime, `RealtimeClient::new`; a runtime
    /// whose drive loop the test must spawn, such as embassy's, makes it its own way).
    fn client(config: Config) -> RealtimeClient<Self::R>;
}

/// Polls `fut` once (it acts on its first poll), then drops it.
fn poll_once<F: Future>(fut: F) {
    let mut fut = std::pin::pin!(fut);
    let _ = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
}

/// Subscribing connects: the client's events say so, the state is open, one join went out.
pub async fn subscribe_reports_the_connection<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let mut events = c.events();
    assert_eq!(c.connection_state(), ConnectionState::Disconnected);
    let ch = c.channel("hello", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    assert!(matches!(next(&mut events).await, ClientEvent::Connecting));
    assert!(matches!(next(&mut events).await, ClientEvent::Connected));
    assert_eq!(c.connection_state(), ConnectionState::Open);
    assert!(c.last_error().is_none());
    assert_eq!(h.frames(Some("realtime:hello"), "phx_join").len(), 1);
}

/// Broadcasts both ways, acked, typed, binary, and over REST.
pub async fn broadcasts_go_both_ways_with_acks_binary_and_rest<S: Subject>() {
    let h = Harness::plain();
    let a = client::<S>(quick(&h.url()));
    let b = client::<S>(quick(&h.url()));
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
    let mut typed = room_a.on_broadcast_as::<Cursor>("cursor").await;
    room_b.send("cursor", &json!({"x": "not a number"})).await.unwrap();
    assert!(next(&mut at_a).await.json::<Cursor>().is_err());
    assert!(matches!(within("a typed item", typed.recv()).await, Some(Err(Error::Json(_)))));
    room_b.send("cursor", &Cursor { x: 3, y: 4 }).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<Cursor>().unwrap(), Cursor { x: 3, y: 4 });
    assert_eq!(within("a typed item", typed.recv()).await.unwrap().unwrap(), Cursor { x: 3, y: 4 });
    // REST: the same channel from outside the socket.
    room_b.http_send("cursor", &Cursor { x: 5, y: 6 }, false).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<Cursor>().unwrap(), Cursor { x: 5, y: 6 });
}

/// A client joining a room with more members than its stream holds gets what fits, one lag
/// item with the count, then a `Sync`; the presence snapshot has everyone.
pub async fn a_room_larger_than_the_stream_lags_then_syncs<S: Subject>() {
    const MEMBERS: usize = 20;
    const CAPACITY: usize = 8;
    let h = Harness::plain();
    let mut members = Vec::new();
    for i in 0..MEMBERS {
        let c = client::<S>(quick(&h.url()));
        let ch = c.channel("big-room", ChannelConfig::new().presence_key(format!("m{i:02}"))).await.unwrap();
        ch.subscribe().await.unwrap();
        ch.track(&json!({"i": i})).await.unwrap();
        members.push((c, ch));
    }
    eventually("every member tracked", || h.frames(Some("realtime:big-room"), "presence").len() >= MEMBERS)
        .await;
    let mut config = quick(&h.url());
    config.stream_capacity = CAPACITY;
    let viewer = client::<S>(config);
    let room = viewer.channel("big-room", ChannelConfig::new()).await.unwrap();
    let mut presence = room.on_presence().await;
    room.subscribe().await.unwrap();
    let mut joins = 0;
    let missed = loop {
        match within("a presence item", presence.recv()).await.expect("the stream is open") {
            Ok(PresenceEvent::Join { .. }) => joins += 1,
            Ok(other) => panic!("a join or the gap before the sync, got {other:?}"),
            Err(lag) => break lag.missed,
        }
    };
    assert_eq!(joins, CAPACITY, "the stream held what fits");
    assert!(missed >= (MEMBERS - CAPACITY) as u64, "the gap counts what was dropped: {missed}");
    assert!(matches!(next(&mut presence).await, PresenceEvent::Sync), "a sync follows the gap");
    let mut keys = Vec::new();
    for _ in 0..100 {
        keys = room.presence_state().await.unwrap().into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        if keys.len() == MEMBERS {
            break;
        }
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(keys.len(), MEMBERS, "the snapshot has every member: {keys:?}");
}

/// A reader that does not keep up gets the items that fit, a lag item, then new items.
pub async fn a_slow_broadcast_reader_gets_a_lag_item<S: Subject>() {
    let h = Harness::plain();
    let mut config = quick(&h.url());
    config.stream_capacity = 4;
    let c = client::<S>(config);
    let ch = c.channel("slow", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut rx = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    for i in 0..10 {
        ch.send(&format!("e{i}"), &json!({"i": i})).await.unwrap();
    }
    // A fence: once it is acked, every earlier echo has been handed to the stream.
    let mut fence = ch.on_broadcast("fence").await;
    ch.send("fence", &json!({})).await.unwrap();
    next(&mut fence).await;
    let got: Vec<String> = (0..4).map(|_| rx.try_recv().unwrap().unwrap().event).collect();
    assert_eq!(got, ["e0", "e1", "e2", "e3"]);
    let lag = rx.try_recv().expect("the gap").expect_err("a lag item");
    assert_eq!(lag.missed, 7, "e4..e9 and the fence were dropped");
    assert!(lag.to_string().contains('7'));
    ch.send("after", &json!({})).await.unwrap();
    assert_eq!(next(&mut rx).await.event, "after", "new items come after the gap");
}

/// Row changes reach the bindings their ids and types name.
pub async fn postgres_changes_reach_their_bindings<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let ch = c.channel("db", ChannelConfig::new()).await.unwrap();
    let mut inserts = ch
        .on_postgres_changes(
            Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&Filter::eq("room", "1")),
        )
        .await
        .unwrap();
    let mut all =
        ch.on_postgres_changes(Binding::new(ChangeEvent::All, "public").table("messages")).await.unwrap();
    // The same rows as the app's own type: the old row carries only the key.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Message {
        id: i64,
        room: Option<i64>,
    }
    let mut typed = ch
        .on_postgres_changes_as::<Message>(Binding::new(ChangeEvent::All, "public").table("messages"))
        .await
        .unwrap();
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
    assert_eq!(h.server().emit_change(&row("INSERT", 2, 10)), 1);
    h.server().emit_change(&row("INSERT", 1, 11));
    h.server().emit_change(&row("UPDATE", 1, 12));
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(next(&mut all).await.new_value("id").unwrap().unwrap().as_i64().unwrap());
    }
    assert_eq!(got, [10, 11, 12]);
    let insert = next(&mut inserts).await;
    assert_eq!(insert.new_value("id").unwrap().unwrap().as_i64(), Some(11), "only room 1's insert");
    // An insert's old row is `{}` on the wire: no row, not a row that fails to read.
    let insert = within("a typed insert", typed.recv()).await.expect("the stream is open").unwrap();
    assert_eq!(insert.kind, realtime_core::supabase::postgres::ChangeKind::Insert);
    assert_eq!((insert.new, insert.old), (Some(Message { id: 10, room: Some(2) }), None));
    within("the second insert", typed.recv()).await.expect("the stream is open").unwrap();
    let update = within("a typed update", typed.recv()).await.expect("the stream is open").unwrap();
    assert_eq!(update.kind, realtime_core::supabase::postgres::ChangeKind::Update);
    assert_eq!(update.new, Some(Message { id: 12, room: Some(1) }));
    assert_eq!(update.old, Some(Message { id: 12, room: None }));
    assert_eq!(update.change.table, "messages");
}

fn tls_harness() -> (Harness, String, CertificateDer<'static>) {
    let h = Harness::start(ServerConfig { tls: true, ..ServerConfig::default() });
    // `localhost`: the name in the certificate, and the SNI sent.
    let url = format!("wss://localhost:{}/realtime/v1", h.server().addr().port());
    let cert = CertificateDer::from_pem_slice(h.server().ca_pem().expect("a TLS server").as_bytes()).unwrap();
    (h, url, cert)
}

/// Real TLS with a generated certificate, trusted as a custom root.
pub async fn tls_with_the_servers_certificate_as_root<S: Subject>() {
    let (h, url, cert) = tls_harness();
    let mut config = quick(&url);
    config.roots = Roots::Custom(vec![cert]);
    let a = client::<S>(config.clone());
    let b = client::<S>(config);
    let room_a = a.channel("secure-room", ChannelConfig::new().broadcast_ack(true)).await.unwrap();
    let room_b = b.channel("secure-room", ChannelConfig::new()).await.unwrap();
    let mut at_a = room_a.on_broadcast("*").await;
    let mut at_b = room_b.on_broadcast("*").await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    room_a.send("ping", &json!({"n": 1})).await.unwrap();
    let got = next(&mut at_b).await;
    assert_eq!((got.event.as_str(), got.json::<serde_json::Value>().unwrap()), ("ping", json!({"n": 1})));
    room_b.send("pong", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut at_a).await.event, "pong");
    assert_eq!(h.server().connections(), 2);
}

/// The default roots refuse a self-signed server: the error is typed TLS, and the client
/// keeps trying on its schedule.
pub async fn the_default_roots_refuse_a_self_signed_server_with_a_typed_error<S: Subject>() {
    let (h, url, _) = tls_harness();
    let c = client::<S>(quick(&url));
    let mut events = c.events();
    c.connect().unwrap();
    let mut attempts = 0;
    while attempts < 3 {
        if let ClientEvent::Disconnected { reason, next: n } =
            until(&mut events, "a failed attempt", |e| matches!(e, ClientEvent::Disconnected { .. })).await
        {
            assert!(matches!(reason, ConnectionError::Tls(_)), "{reason:?}");
            assert!(reason.source().is_some(), "the TLS error is kept as the source");
            assert!(matches!(n, realtime_driver::Next::Reconnect { .. }), "it keeps trying: {n:?}");
            attempts += 1;
        }
    }
    assert!(matches!(c.last_error(), Some(ConnectionError::Tls(_))));
    assert!(h.server().observed().is_empty(), "no frame got through");
    assert_ne!(c.connection_state(), ConnectionState::Open);
}

/// A token inside its refresh margin is replaced from the async token source before it
/// expires, and the channel keeps working past its `exp`.
pub async fn an_expiring_token_is_refreshed_from_the_token_source<S: Subject>() {
    let secret = b"refresh-secret".to_vec();
    let h = Harness::start(ServerConfig {
        auth: Auth::Jwt { secret: secret.clone() },
        // The server checks joined channels' tokens often: an expired one would close it.
        token_recheck: Duration::from_millis(200),
        ..ServerConfig::default()
    });
    let key = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600}), &secret);
    let short_exp = unix_now() + 4;
    let short = jwt::sign(&json!({"role": "anon", "exp": short_exp, "n": 1}), &secret);
    let fresh = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600, "n": 2}), &secret);
    let mut config = quick(&h.url());
    config.client.api_key = Some(key);
    config.client.access_token = Some(short.clone());
    config.client.token_refresh_margin = Duration::from_secs(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let (calls2, fresh2) = (calls.clone(), fresh.clone());
    config.token_source = Some(Arc::new(move || {
        calls2.fetch_add(1, Ordering::SeqCst);
        let t = fresh2.clone();
        Box::pin(async move { Some(t) })
    }));
    let c = client::<S>(config);
    let ch =
        c.channel("refresh", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("after").await;
    ch.subscribe().await.unwrap();
    let joins = h.frames(Some("realtime:refresh"), "phx_join");
    assert_eq!(
        joins[0].message.payload["access_token"],
        json!(short),
        "the first join has the configured token"
    );
    let carries_fresh = |event: &str| {
        h.frames(Some("realtime:refresh"), event)
            .iter()
            .any(|o| o.message.payload["access_token"] == json!(fresh))
    };
    eventually("the fresh token at the server", || {
        carries_fresh("access_token") || carries_fresh("phx_join")
    })
    .await;
    assert!(calls.load(Ordering::SeqCst) >= 1, "the source was asked");
    ch.send("after", &json!({"n": 1})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    eventually("the short token's exp to pass", || unix_now() > short_exp).await;
    ch.send("after", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    let mut bad = Vec::new();
    while let Some(s) = statuses.try_recv() {
        match s {
            Ok(ChannelStatus::Subscribed) => {}
            other => bad.push(other),
        }
    }
    let pushes: Vec<String> = h
        .server()
        .observed()
        .iter()
        .filter(|o| o.message.topic == "realtime:refresh")
        .map(|o| {
            format!(
                "{} {} {}",
                o.socket,
                o.message.event,
                o.message.payload["access_token"].as_str().map_or("-", |t| if *t == *fresh {
                    "fresh"
                } else if *t == *short {
                    "short"
                } else {
                    "other"
                })
            )
        })
        .collect();
    assert!(bad.is_empty(), "the channel never failed: {bad:?}; frames {pushes:#?}");
}

/// The server drops every connection: the client says it lost the link, reconnects by
/// itself (`Reconnected` with the gap), rejoins, and the channel works.
pub async fn the_server_dropping_every_connection_is_survived<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let mut events = c.events();
    let ch = c.channel("survivor", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    until(&mut statuses, "Subscribed", |s| *s == ChannelStatus::Subscribed).await;
    assert_eq!(h.server().drop_all_connections(), 1);
    let lost = until(&mut events, "the loss", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    let ClientEvent::Disconnected { reason, .. } = lost else { unreachable!() };
    assert!(!reason.to_string().is_empty());
    until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
    until(&mut statuses, "Subscribed again", |s| *s == ChannelStatus::Subscribed).await;
    ch.send("back", &json!({})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "back");
}

/// A link that stays open but goes silent is found by the heartbeat: the client drops it
/// itself, reconnects, and a heartbeat is answered again.
pub async fn a_half_open_link_is_found_by_the_heartbeat<S: Subject>() {
    let h = Harness::plain();
    let mut config = quick(&h.url());
    config.client = config.client.heartbeat(Duration::from_millis(300));
    let c = client::<S>(config);
    let mut events = c.events();
    let ch = c.channel("beats", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut echo = ch.on_broadcast("echo").await;
    ch.subscribe().await.unwrap();
    until(&mut events, "an answered heartbeat", |e| {
        matches!(e, ClientEvent::Heartbeat(HeartbeatStatus::Ok { .. }))
    })
    .await;
    assert!(c.heartbeat_latency().is_some());
    h.server().set_heartbeat_replies(false);
    until(&mut events, "the missed heartbeat", |e| {
        matches!(e, ClientEvent::Heartbeat(HeartbeatStatus::TimedOut))
    })
    .await;
    let lost = until(&mut events, "the drop", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    assert!(
        matches!(
            &lost,
            ClientEvent::Disconnected { reason: ConnectionError::Ended(ConnectionEnd::HeartbeatTimeout), .. }
        ),
        "{lost:?}"
    );
    h.server().set_heartbeat_replies(true);
    until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
    until(&mut events, "a heartbeat answered again", |e| {
        matches!(e, ClientEvent::Heartbeat(HeartbeatStatus::Ok { .. }))
    })
    .await;
    ch.send("echo", &json!({"ok": true})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "echo");
}

/// After a restart on the same port (all server state gone) the client comes back by itself.
pub async fn the_client_comes_back_after_a_restart_on_the_same_port<S: Subject>() {
    let mut h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let ch = c.channel("phoenix-rises", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    let port = h.server().addr().port();
    h.restart().await;
    assert_eq!(h.server().addr().port(), port);
    until(&mut statuses, "the disconnect", |s| {
        *s == ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)
    })
    .await;
    until(&mut statuses, "Subscribed again", |s| *s == ChannelStatus::Subscribed).await;
    ch.send("back", &json!({})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "back");
    assert_eq!(h.server().connections(), 1);
}

/// Pushes made while offline wait in the channel's buffer and are written once after the
/// rejoin; the tracked presence is tracked again without asking.
pub async fn pushes_buffered_while_offline_are_written_once<S: Subject>() {
    let h = Harness::plain();
    let a = client::<S>(quick(&h.url()));
    let b = client::<S>(quick(&h.url()));
    let room_a =
        a.channel("buffer", ChannelConfig::new().broadcast_self(true).presence_key("ana")).await.unwrap();
    let room_b = b.channel("buffer", ChannelConfig::new().presence_key("bo")).await.unwrap();
    let mut statuses_a = room_a.statuses().await;
    let mut mine = room_a.on_broadcast("*").await;
    let mut seen_by_b = room_b.on_presence().await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    room_a.track(&json!({"name": "Ana"})).await.unwrap();
    let first =
        until(&mut seen_by_b, "ana's join", |e| matches!(e, PresenceEvent::Join { key, .. } if key == "ana"))
            .await;
    let PresenceEvent::Join { joined, .. } = first else { unreachable!("matched above") };
    let old_ref = joined[0].presence_ref.clone();
    let first_socket = h.frames(Some("realtime:buffer"), "phx_join")[0].socket;

    h.server().refuse_connections_for(Duration::from_secs(1));
    assert_eq!(h.server().drop_all_connections(), 2);
    until(&mut statuses_a, "the disconnect", |s| {
        *s == ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)
    })
    .await;
    // Pushes made now wait in the channel's buffer, all at once.
    let sends: Vec<_> = (0..5)
        .map(|i| {
            let room = room_a.clone();
            Box::pin(async move { room.send(&format!("offline-{i}"), &json!({"i": i})).await })
        })
        .collect();
    let results = within("the offline sends", futures_util::future::join_all(sends)).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut got: Vec<String> = Vec::new();
    while got.len() < 5 {
        got.push(next(&mut mine).await.event);
    }
    got.sort();
    assert_eq!(got, (0..5).map(|i| format!("offline-{i}")).collect::<Vec<_>>());
    room_a.send("fence", &json!({})).await.unwrap();
    assert_eq!(next(&mut mine).await.event, "fence");
    for i in 0..5 {
        assert_eq!(h.broadcasts_seen(&format!("offline-{i}")), 1, "offline-{i} written once");
    }
    eventually("ana's track on the new socket", || {
        h.frames(Some("realtime:buffer"), "presence").iter().any(|o| o.socket != first_socket)
    })
    .await;
    until(&mut seen_by_b, "ana's join again", |e| {
        matches!(e, PresenceEvent::Join { key, joined, .. }
            if key == "ana" && joined.iter().any(|p| p.presence_ref != old_ref))
    })
    .await;
    assert!(room_b.presence_state().await.unwrap().iter().any(|(k, _)| k == "ana"));
    // The tracked fields as the app's own type.
    #[derive(Debug, Deserialize, PartialEq)]
    struct Member {
        name: String,
    }
    let typed = room_b.presence_state_as::<Member>().await.unwrap();
    let ana: Vec<&Member> = typed.iter().filter(|(k, _)| k == "ana").flat_map(|(_, v)| v).collect();
    assert_eq!(ana, [&Member { name: "Ana".into() }]);
    #[derive(Debug, Deserialize)]
    struct Other {
        #[allow(dead_code)]
        age: u32,
    }
    assert!(matches!(room_b.presence_state_as::<Other>().await, Err(Error::Json(_))), "another shape");
}

/// A join refused for permission fails `subscribe` with the server's words, classified, and
/// is not retried; the app may subscribe again once the cause is gone.
pub async fn a_refused_join_fails_subscribe_and_is_not_retried<S: Subject>() {
    let h = Harness::plain();
    let reason = "Unauthorized: You do not have permissions to read from this Channel topic: vault";
    h.server().set_join_fault(JoinFault::Fail(reason.into()));
    let mut config = quick(&h.url());
    config.client = config.client.heartbeat(Duration::from_millis(100));
    let c = client::<S>(config);
    let ch = c.channel("vault", ChannelConfig::new()).await.unwrap();
    match ch.subscribe().await {
        Err(Error::Subscribe(ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r)))) => {
            assert_eq!(r.class, ErrorClass::Permission);
            assert_eq!(r.text, reason);
        }
        other => panic!("expected a refused join, got {other:?}"),
    }
    let beats_then = h.frames(Some("phoenix"), "heartbeat").len();
    eventually("five more heartbeats", || h.frames(Some("phoenix"), "heartbeat").len() >= beats_then + 5)
        .await;
    assert_eq!(h.frames(Some("realtime:vault"), "phx_join").len(), 1, "no retry after a permission refusal");
    h.server().set_join_fault(JoinFault::None);
    ch.subscribe().await.unwrap();
}

/// Cloning a channel takes a handle: removing the clone leaves the original joined.
pub async fn a_cloned_channel_is_a_handle_of_its_own<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let room =
        c.channel("cloned", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut echo = room.on_broadcast("*").await;
    room.subscribe().await.unwrap();
    let outcome = room.clone().remove().await.unwrap();
    assert_eq!(outcome, LeaveOutcome::Offline, "another handle holds it: nothing was left");
    room.send("still", &json!({})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "still");
    assert!(h.frames(Some("realtime:cloned"), "phx_leave").is_empty(), "no leave went out");
    assert_eq!(room.clone().remove().await.unwrap(), LeaveOutcome::Offline);
    assert_eq!(room.remove().await.unwrap(), LeaveOutcome::Left, "the last handle leaves");
    assert_eq!(h.frames(Some("realtime:cloned"), "phx_leave").len(), 1);
    assert!(within("the stream's end", echo.recv()).await.is_none(), "the removed channel's streams end");

    // A clone dropped (a task that ended) gives its claim back: `remove` on the original
    // leaves, nothing pins the channel.
    let room = c.channel("dropped", ChannelConfig::new()).await.unwrap();
    room.subscribe().await.unwrap();
    drop(room.clone());
    drop(room.clone());
    assert_eq!(room.remove().await.unwrap(), LeaveOutcome::Left, "the dropped clones hold nothing");
    // The last handle dropped does not leave; taking a handle again and removing it does.
    let room = c.channel("kept", ChannelConfig::new()).await.unwrap();
    room.subscribe().await.unwrap();
    drop(room);
    let again = c.channel("kept", ChannelConfig::new()).await.unwrap();
    assert!(h.frames(Some("realtime:kept"), "phx_leave").is_empty(), "dropping did not leave");
    assert_eq!(again.remove().await.unwrap(), LeaveOutcome::Left);
}

/// `unsubscribe` says the server confirmed the leave; with nothing to leave, that it was
/// offline; the channel can be subscribed again.
pub async fn unsubscribe_and_remove_say_how_the_leave_ended<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let ch = c.channel("leaving", ChannelConfig::new()).await.unwrap();
    let mut statuses = ch.statuses().await;
    ch.subscribe().await.unwrap();
    assert_eq!(ch.unsubscribe().await.unwrap(), LeaveOutcome::Left);
    until(&mut statuses, "Closed", |s| *s == ChannelStatus::Closed).await;
    assert_eq!(ch.unsubscribe().await.unwrap(), LeaveOutcome::Offline, "nothing to leave");
    ch.subscribe().await.unwrap();
    // A leave started and not awaited still happens.
    drop(ch.unsubscribe());
    until(&mut statuses, "Closed again", |s| *s == ChannelStatus::Closed).await;
    assert_eq!(h.frames(Some("realtime:leaving"), "phx_leave").len(), 2);
    // An unsubscribe then a subscribe at once: the subscribe's answer is its own, not the
    // leave's `Closed`.
    ch.subscribe().await.unwrap();
    drop(ch.unsubscribe());
    within("the subscribe after the leave", ch.subscribe()).await.unwrap();
    assert_eq!(ch.unsubscribe().await.unwrap(), LeaveOutcome::Left);
    assert_eq!(ch.remove().await.unwrap(), LeaveOutcome::Offline, "closed already");
    // The channel is deleted without a last status: its streams end all the same.
    within("the stream's end", async { while statuses.recv().await.is_some() {} }).await;
    // So do the streams of a channel never subscribed, when it is removed.
    let never = c.channel("never", ChannelConfig::new()).await.unwrap();
    let mut quiet = never.on_broadcast("*").await;
    assert_eq!(never.remove().await.unwrap(), LeaveOutcome::Offline);
    assert!(within("the never-joined stream's end", quiet.recv()).await.is_none());
}

/// `disconnect_with` closes with the app's code and reason; a code the protocol forbids is a
/// typed error and nothing closes.
pub async fn disconnect_with_a_code_and_reason<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let mut events = c.events();
    let ch = c.channel("bye", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    assert!(matches!(c.disconnect_with(1005, "reserved"), Err(Error::CloseCode(_))));
    assert!(matches!(c.disconnect_with(4000, &"x".repeat(200)), Err(Error::CloseCode(_))));
    assert_eq!(c.connection_state(), ConnectionState::Open);
    c.disconnect_with(4000, "going to the tunnel").unwrap();
    let end = until(&mut events, "the disconnect", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    assert!(
        matches!(
            &end,
            ClientEvent::Disconnected { reason: ConnectionError::Ended(ConnectionEnd::Manual), .. }
        ),
        "{end:?}"
    );
    eventually("the server to see the socket go", || h.server().connections() == 0).await;
    assert!(c.last_error().is_none(), "a manual disconnect is no failure");
}

/// A port with nothing behind it and a refused upgrade are typed errors with their causes.
pub async fn a_refused_connection_is_a_typed_error<S: Subject>() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client::<S>(quick(&format!("ws://127.0.0.1:{port}/socket")));
    let mut events = c.events();
    c.connect().unwrap();
    let lost =
        until(&mut events, "the failed attempt", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    let ClientEvent::Disconnected { reason, .. } = lost else { unreachable!() };
    let ConnectionError::Connect(io) = &reason else { panic!("a connect error: {reason:?}") };
    let kind = io.get_ref().downcast_ref::<std::io::Error>().map(std::io::Error::kind);
    assert_eq!(kind, Some(std::io::ErrorKind::ConnectionRefused), "{io:?}");
    assert_eq!(reason.to_string(), "could not connect", "Display is for people; the cause is the source");
    assert!(matches!(c.last_error(), Some(ConnectionError::Connect(_))));

    let h = Harness::plain();
    h.server().refuse_connections_for(Duration::from_secs(30));
    let c = client::<S>(quick(&h.url()));
    let mut events = c.events();
    c.connect().unwrap();
    let lost =
        until(&mut events, "the refused upgrade", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
    match lost {
        ClientEvent::Disconnected {
            reason: ConnectionError::Ended(ConnectionEnd::UpgradeRejected { status, .. }),
            ..
        } => {
            assert!(status >= 400, "{status}");
        }
        other => panic!("a refused upgrade: {other:?}"),
    }
}

/// `shutdown` closes the socket politely and every later call is `Closed`.
pub async fn shutdown_closes_politely_and_ends_every_stream<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let room = c.channel("typed", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = room.statuses().await;
    room.subscribe().await.unwrap();
    assert_eq!(h.server().connections(), 1);
    within("the shutdown", c.shutdown()).await.unwrap();
    eventually("the server to see the socket close", || h.server().connections() == 0).await;
    assert!(c.is_closed());
    assert!(matches!(room.subscribe().await, Err(Error::Closed)), "the drive loop is gone");
    assert!(matches!(c.connect(), Err(Error::Closed)));
    within("the stream's end", async { while statuses.recv().await.is_some() {} }).await;
}

/// The last handle dropped ends the client and closes its connection.
pub async fn dropping_every_handle_closes_the_connection<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let ch = c.channel("bye", ChannelConfig::new()).await.unwrap();
    let mut statuses = ch.statuses().await;
    ch.subscribe().await.unwrap();
    assert_eq!(h.server().connections(), 1);
    let other = c.clone();
    drop(c);
    ch.send("still", &json!({})).await.unwrap();
    drop(ch);
    drop(other);
    eventually("the server to see the socket go", || h.server().connections() == 0).await;
    within("the stream's end", async { while statuses.recv().await.is_some() {} }).await;
}

/// A send dropped after its first poll still goes out, once; the client stays usable.
pub async fn a_dropped_send_still_goes_out_once<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
    let ch =
        c.channel("cancel", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    poll_once(ch.send("dropped", &json!({"n": 1})));
    assert_eq!(next(&mut echo).await.event, "dropped");
    ch.send("after", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    assert_eq!(h.broadcasts_seen("dropped"), 1);
    let other = c.channel("cancel-2", ChannelConfig::new()).await.unwrap();
    poll_once(other.subscribe());
    other.subscribe().await.unwrap();
}

/// On a joined channel `subscribe` is answered by the core: at once, or in the postgres ready
/// mode once the changes are live.
pub async fn subscribe_on_a_joined_channel_is_answered_by_the_core<S: Subject>() {
    let h = Harness::start(ServerConfig {
        postgres_ready_delay: Duration::from_millis(300),
        ..ServerConfig::default()
    });
    let c = client::<S>(quick(&h.url()));
    let ch = c.channel("twice", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    within("a second subscribe", ch.subscribe()).await.unwrap();
    let again = c.channel("twice", ChannelConfig::new()).await.unwrap();
    within("another handle's subscribe", again.subscribe()).await.unwrap();
    assert_eq!(h.frames(Some("realtime:twice"), "phx_join").len(), 1);

    let config = ChannelConfig::new().wait_for_postgres_ready(Duration::from_secs(5));
    let ready = c.channel("ready", config).await.unwrap();
    let _changes =
        ready.on_postgres_changes(Binding::new(ChangeEvent::All, "public").table("t")).await.unwrap();
    let mut system = ready.on_messages().await;
    // Another handle on the channel (a clone is one).
    let second = ready.clone();
    // The first subscribe starts the join; the second, while the changes are not live yet,
    // waits for them as the first does.
    poll_once(ready.subscribe());
    eventually("the join at the server", || !h.frames(Some("realtime:ready"), "phx_join").is_empty()).await;
    second.subscribe().await.unwrap();
    let (event, payload) = system.try_recv().expect("the ready message came first").unwrap();
    assert_eq!(event, "system");
    assert!(payload.contains("postgres_changes"), "{payload}");
}

/// Through an HTTP CONNECT proxy (a tiny one, on the server's runtime).
pub async fn through_an_http_connect_proxy<S: Subject>() {
    let h = Harness::plain();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let proxy_port = h
        .on_server(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(tunnel(client, log.clone()));
                }
            });
            port
        })
        .await;
    let mut config = quick(&h.url());
    config.proxy = Proxy::Url(format!("http://127.0.0.1:{proxy_port}"));
    let c = client::<S>(config);
    let ch =
        c.channel("tunnelled", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    ch.send("through", &json!({"ok": true})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "through");
    let want = format!("CONNECT 127.0.0.1:{} HTTP/1.1", h.server().addr().port());
    assert_eq!(*seen.lock().unwrap(), [want]);
}

/// The proxy: reads the CONNECT head, answers 200, then copies both ways.
async fn tunnel(mut client: tokio::net::TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let line = head.lines().next().unwrap_or_default().to_string();
    log.lock().unwrap().push(line.clone());
    let mut parts = line.split(' ');
    let (Some("CONNECT"), Some(authority)) = (parts.next(), parts.next()) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n").await?;
        return Ok(());
    };
    let mut upstream = tokio::net::TcpStream::connect(authority).await?;
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

/// With the REST fallback on, a channel that cannot push over the socket sends over HTTP.
pub async fn the_rest_fallback_sends_over_http<S: Subject>() {
    let h = Harness::plain();
    let listener = client::<S>(quick(&h.url()));
    let room = listener.channel("fallback", ChannelConfig::new()).await.unwrap();
    let mut got = room.on_broadcast("note").await;
    room.subscribe().await.unwrap();
    let mut config = quick(&h.url());
    config.client.rest_fallback = true;
    let sender = client::<S>(config);
    h.server().refuse_connections_for(Duration::from_secs(60));
    let ch = sender.channel("fallback", ChannelConfig::new()).await.unwrap();
    poll_once(ch.subscribe());
    eventually("the subscribe to start connecting", || {
        sender.connection_state() != ConnectionState::Disconnected
    })
    .await;
    ch.send("note", &json!({"via": "rest"})).await.unwrap();
    assert_eq!(next(&mut got).await.json::<serde_json::Value>().unwrap(), json!({"via": "rest"}));
    assert!(
        h.server().observed().iter().all(|o| o.message.event != "broadcast"),
        "nothing went over a socket"
    );
}

/// `system` messages (postgres changes going live) come on their own stream.
pub async fn system_messages_come_on_their_own_stream<S: Subject>() {
    let h = Harness::plain();
    let c = client::<S>(quick(&h.url()));
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

/// A raw WebSocket server for the drive loop's edge cases: a tokio listener on the harness's
/// runtime that completes the upgrade by hand and then does what the scenario says.
mod raw {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Accepts one client, completes the WebSocket upgrade, returns the stream.
    pub(super) async fn upgrade(listener: &TcpListener) -> TcpStream {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(s.read_u8().await.unwrap());
        }
        let text = String::from_utf8(head).unwrap();
        let key = text
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_string())
            })
            .unwrap();
        let accept = realtime_core::ws::handshake::accept_for_key(key.as_bytes());
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
            std::str::from_utf8(&accept).unwrap()
        );
        s.write_all(resp.as_bytes()).await.unwrap();
        s
    }

    /// Reads one (masked, unfragmented) client frame: (opcode, payload).
    async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
        let b0 = s.read_u8().await.unwrap();
        let b1 = s.read_u8().await.unwrap();
        let mut len = u64::from(b1 & 0x7f);
        if len == 126 {
            len = u64::from(s.read_u16().await.unwrap());
        } else if len == 127 {
            len = s.read_u64().await.unwrap();
        }
        let mut mask = [0u8; 4];
        s.read_exact(&mut mask).await.unwrap();
        let mut p = vec![0u8; usize::try_from(len).unwrap()];
        s.read_exact(&mut p).await.unwrap();
        for (i, b) in p.iter_mut().enumerate() {
            *b ^= mask[i % 4];
        }
        (b0 & 0x0f, p)
    }

    /// An unmasked server frame.
    pub(super) fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x80 | op];
        if payload.len() < 126 {
            f.push(u8::try_from(payload.len()).unwrap());
        } else {
            f.push(126);
            f.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        }
        f.extend_from_slice(payload);
        f
    }

    /// Reads client frames until the `phx_join`; returns the join message (vsn 2 array).
    pub(super) async fn read_join(s: &mut TcpStream) -> serde_json::Value {
        loop {
            let (op, p) = read_frame(s).await;
            if op != 1 {
                continue;
            }
            let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
            if v[3] == "phx_join" {
                return v;
            }
        }
    }

    pub(super) fn join_ok(join: &serde_json::Value) -> Vec<u8> {
        let reply =
            serde_json::json!([join[0], join[1], join[2], "phx_reply", {"status": "ok", "response": {}}]);
        frame(1, reply.to_string().as_bytes())
    }
}

fn raw_url(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/socket")
}

/// Starts a raw server on the harness's runtime that upgrades one client, reads its join and
/// hands the stream and the join to `then`; returns its port.
async fn serve_one<F, Fut>(h: &Harness, then: F) -> u16
where
    F: FnOnce(tokio::net::TcpStream, serde_json::Value) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    h.on_server(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let mut s = raw::upgrade(&listener).await;
            let join = raw::read_join(&mut s).await;
            then(s, join).await;
        });
        port
    })
    .await
}

/// Pings and the join reply in one write: each ping after the first waits for the previous
/// pong to be written, so the core leaves bytes; the drive loop offers them again once the
/// pong is out, and the join reply is read.
pub async fn bytes_left_behind_a_pending_pong_are_offered_again<S: Subject>() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::plain();
    let port = serve_one(&h, |mut s, join| async move {
        let mut burst = Vec::new();
        for i in 0..3u8 {
            burst.extend(raw::frame(9, &[b'a' + i]));
        }
        burst.extend(raw::join_ok(&join));
        s.write_all(&burst).await.unwrap();
        // Then quiet, but keep reading (pongs, heartbeats).
        let mut sink = vec![0u8; 4096];
        while s.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    })
    .await;
    let c = client::<S>(quick(&raw_url(port)));
    let ch = c.channel("room", ChannelConfig::new()).await.unwrap();
    within("the subscribe behind the pings", ch.subscribe()).await.unwrap();
    within("the shutdown", c.shutdown()).await.unwrap();
}

/// A peer that stops reading: writes stall, but timers still run (the heartbeat times out)
/// and `shutdown` comes back (the polite close is bounded).
pub async fn a_peer_that_stops_reading_does_not_freeze_the_client<S: Subject>() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::plain();
    let port = serve_one(&h, |mut s, join| async move {
        s.write_all(&raw::join_ok(&join)).await.unwrap();
        // Never read again; keep the socket open.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    })
    .await;
    let mut config = quick(&raw_url(port));
    config.client = config.client.heartbeat(Duration::from_millis(300));
    let c = client::<S>(config);
    let mut events = c.events();
    let ch = c.channel("room", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    let big = "x".repeat(512 * 1024);
    // Enough bytes to fill both kernel buffers; their outcomes are not awaited.
    for i in 0..64 {
        poll_once(ch.send(&format!("e{i}"), &big));
    }
    until(&mut events, "the missed heartbeat", |e| {
        matches!(e, ClientEvent::Heartbeat(HeartbeatStatus::TimedOut))
    })
    .await;
    within("the shutdown", c.shutdown()).await.unwrap();
}

/// A plain Phoenix Channels server (the local server's Phoenix mode) is served by the same
/// client: topics as given, the app's join params, the app's events both ways with their
/// replies, a rejoin with the same params after the server drops the connection, and a
/// refused join retried on the schedule (the reasons are the app's, as phoenix.js reads them).
pub async fn a_plain_phoenix_server_is_served<S: Subject>() {
    let h = Harness::start(ServerConfig { phoenix: true, ..ServerConfig::default() });
    // The `/socket` URL a Phoenix app serves (`socket "/socket", ...`).
    let ana = client::<S>(quickly(Config::phoenix(h.server().socket_url())));
    let bo = client::<S>(quickly(Config::phoenix(h.server().socket_url())));
    let a = ana.phoenix_channel("room:lobby", &json!({"user": "ana"})).await.unwrap();
    let b = bo.phoenix_channel("room:lobby", &json!({"user": "bo"})).await.unwrap();
    assert_eq!(a.name(), "room:lobby");
    let mut heard = b.on_messages().await;
    a.subscribe().await.unwrap();
    b.subscribe().await.unwrap();
    let mut statuses = a.statuses().await;
    let joins: Vec<_> =
        h.frames(Some("room:lobby"), "phx_join").into_iter().map(|o| o.message.payload).collect();
    assert_eq!(joins, [json!({"user": "ana"}), json!({"user": "bo"})], "the params, verbatim");

    let reply = a.push("shout", &json!({"body": "hi", "n": 1})).await.unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&reply).unwrap(), json!({"body": "hi", "n": 1}));
    let (event, payload) = until(&mut heard, "the shout", |(e, _)| e == "shout").await;
    assert_eq!(
        (event.as_str(), serde_json::from_str::<serde_json::Value>(&payload).unwrap()),
        ("shout", json!({"body": "hi", "n": 1}))
    );
    // A `broadcast` event is the app's too, not Realtime's.
    a.push("broadcast", &json!({"type": "broadcast", "event": "x", "payload": {}})).await.unwrap();
    until(&mut heard, "the app's broadcast event", |(e, _)| e == "broadcast").await;
    // Realtime's features are refused, typed.
    assert!(matches!(a.send("x", &json!({})).await, Err(Error::Push(PushError::NotRealtime))));
    assert!(matches!(a.track(&json!({})).await, Err(Error::Push(PushError::NotRealtime))));
    assert!(matches!(a.http_send("x", &json!({}), false).await, Err(Error::Rest(RestError::NotRealtime))));

    assert_eq!(h.server().drop_all_connections(), 2);
    until(&mut statuses, "Subscribed again", |s| *s == ChannelStatus::Subscribed).await;
    let again: Vec<_> =
        h.frames(Some("room:lobby"), "phx_join").into_iter().map(|o| o.message.payload).collect();
    assert_eq!(again.iter().filter(|p| **p == json!({"user": "ana"})).count(), 2, "{again:?}");
    assert_eq!(a.push("after", &json!({})).await.unwrap(), "{}");

    h.server().set_join_fault(JoinFault::Fail("unauthorized".into()));
    let vip = ana.phoenix_channel("room:vip", &json!({})).await.unwrap();
    let mut vip_statuses = vip.statuses().await;
    match vip.subscribe().await {
        Err(Error::Subscribe(ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r)))) => {
            assert_eq!((r.class, r.text.as_str()), (ErrorClass::Unknown, "unauthorized"));
        }
        other => panic!("expected a refused join, got {other:?}"),
    }
    eventually("a retry", || h.frames(Some("room:vip"), "phx_join").len() >= 2).await;
    h.server().set_join_fault(JoinFault::None);
    until(&mut vip_statuses, "Subscribed once allowed", |s| *s == ChannelStatus::Subscribed).await;
}

/// permessage-deflate end to end: a server that agrees to it (`Config::deflate`), two clients
/// that offer it; broadcasts long enough to be compressed both ways, presence and a postgres
/// change arrive whole, and the server saw the payloads as sent.
pub async fn compressed_end_to_end<S: Subject>() {
    let h = Harness::start(ServerConfig { deflate: true, ..ServerConfig::default() });
    let compressed = |mut c: Config| {
        c.client.ws.deflate =
            Some(realtime_core::ws::DeflateConfig { compress_min_len: Some(64), ..Default::default() });
        c
    };
    let a = client::<S>(compressed(quick(&h.url())));
    let b = client::<S>(compressed(quick(&h.url())));
    let room_a = a.channel("zip", ChannelConfig::new().broadcast_ack(true)).await.unwrap();
    let room_b = b.channel("zip", ChannelConfig::new()).await.unwrap();
    let mut at_b = room_b.on_broadcast("rows").await;
    let mut at_a = room_a.on_broadcast("rows").await;
    let mut changes = room_b.on_postgres_changes(Binding::new(ChangeEvent::All, "public")).await.unwrap();
    let mut seen_by_b = room_b.on_presence().await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    assert_eq!(h.server().deflated_connections(), 2, "both connections agreed to deflate");
    let rows: Vec<_> =
        (0..200).map(|i| json!({"id": i, "user": format!("user-{}", i % 7), "ok": true})).collect();
    room_a.send("rows", &json!({ "rows": rows })).await.unwrap();
    let got = next(&mut at_b).await;
    assert_eq!(got.json::<serde_json::Value>().unwrap()["rows"].as_array().map(Vec::len), Some(200));
    room_b.send("rows", &json!({ "rows": &rows[..3] })).await.unwrap();
    assert_eq!(next(&mut at_a).await.json::<serde_json::Value>().unwrap()["rows"][2]["id"], 2);
    assert_eq!(h.broadcasts_seen("rows"), 2, "the server read both, inflated");
    room_a.track(&json!({"name": "Ana", "bio": "x".repeat(2000)})).await.unwrap();
    let joined = until(&mut seen_by_b, "a's join", |e| matches!(e, PresenceEvent::Join { .. })).await;
    let PresenceEvent::Join { joined, .. } = joined else { unreachable!("matched above") };
    assert_eq!(joined[0].json::<serde_json::Value>().unwrap()["bio"].as_str().map(str::len), Some(2000));
    let record = json!({"id": 1, "body": "y".repeat(5000)});
    h.server().emit_change(&RowChange {
        schema: "public".into(),
        table: "notes".into(),
        kind: "INSERT".into(),
        columns: vec![("id".into(), "int8".into()), ("body".into(), "text".into())],
        record: record.clone(),
        old_record: json!({}),
        commit_timestamp: "2026-12-08T00:00:00.000Z".into(),
    });
    let change = next(&mut changes).await;
    assert_eq!(change.new_value("body").unwrap().unwrap().as_str(), record["body"].as_str());
}
