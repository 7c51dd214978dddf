//! The tokio client against the testkit's faults over loopback: dropped connections, silent
//! heartbeats, refused joins, expiring tokens, a server restart. Intervals are short and
//! configured (`ClientConfig`); the schedules themselves are tested on virtual time in the
//! core's simulation. Every wait is a guard against hanging, not a timing claim.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    WAIT, broadcasts_seen, eventually, frames, next, quick, state_until, subscribed, unix_now, until,
};
use realtime_core::phoenix::reason::ErrorClass;
use realtime_testkit::{Auth, Config as ServerConfig, JoinFault, Server, jwt};
use realtime_tokio::{
    ChannelConfig, ChannelErrorReason, ChannelStatus, ConnectionState, Error, PresenceEvent, RealtimeClient,
};
use serde_json::json;

#[tokio::test]
async fn pushes_buffered_while_offline_are_written_once_after_the_rejoin() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let a = RealtimeClient::new(quick(&server.url())).unwrap();
    let b = RealtimeClient::new(quick(&server.url())).unwrap();
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
    let first_socket = frames(&server, Some("realtime:buffer"), "phx_join")[0].socket;

    // Offline for a while: new connections are refused, then everyone is dropped.
    server.refuse_connections_for(Duration::from_secs(1));
    assert_eq!(server.drop_all_connections(), 2);
    until(&mut statuses_a, "the disconnect", |s| {
        *s == ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)
    })
    .await;
    // Pushes made now wait in the channel's buffer.
    let sends: Vec<_> = (0..5)
        .map(|i| {
            let room = room_a.clone();
            tokio::spawn(async move { room.send(&format!("offline-{i}"), &json!({"i": i})).await })
        })
        .collect();
    subscribed(&mut statuses_a).await;
    for s in sends {
        tokio::time::timeout(WAIT, s).await.expect("the send in time").unwrap().unwrap();
    }
    // Each comes back once (broadcast_self) ...
    let mut got: Vec<String> = Vec::new();
    while got.len() < 5 {
        got.push(next(&mut mine).await.event);
    }
    got.sort();
    assert_eq!(got, (0..5).map(|i| format!("offline-{i}")).collect::<Vec<_>>());
    // ... and a later push, written after them on the same socket, is a fence: by the time it
    // comes back, the server has read everything written before it.
    room_a.send("fence", &json!({})).await.unwrap();
    assert_eq!(next(&mut mine).await.event, "fence");
    for i in 0..5 {
        assert_eq!(broadcasts_seen(&server, &format!("offline-{i}")), 1, "offline-{i} written once");
    }
    // The presence was tracked again on the new socket without asking, and bo saw it.
    eventually("ana's track on the new socket", || {
        frames(&server, Some("realtime:buffer"), "presence").iter().any(|o| o.socket != first_socket)
    })
    .await;
    // A new presence (a new ref), as a diff or in bo's rejoin state: the rejoins race.
    until(&mut seen_by_b, "ana's join again", |e| {
        matches!(e, PresenceEvent::Join { key, joined, .. }
            if key == "ana" && joined.iter().any(|p| p.presence_ref != old_ref))
    })
    .await;
    assert!(room_b.presence_state().await.unwrap().iter().any(|(k, _)| k == "ana"));
}

#[tokio::test]
async fn silent_heartbeats_are_detected_and_the_link_recovers_when_replies_resume() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let mut config = quick(&server.url());
    config.client = config.client.heartbeat(Duration::from_millis(300));
    let c = RealtimeClient::new(config).unwrap();
    let ch = c.channel("beats", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("echo").await;
    ch.subscribe().await.unwrap();
    let sockets_before = server.observed().iter().map(|o| o.socket).max().unwrap();

    server.set_heartbeat_replies(false);
    // Detected: the client drops the link itself (the server never closed it).
    until(&mut statuses, "the disconnect", |s| {
        *s == ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)
    })
    .await;
    state_until(&c, "the state leaves Open", |s| *s != ConnectionState::Open).await;

    server.set_heartbeat_replies(true);
    subscribed(&mut statuses).await;
    // A heartbeat answered on a new socket: the link is healthy again.
    let mut latency = c.heartbeat_latency();
    latency.mark_unchanged();
    tokio::time::timeout(WAIT, latency.changed()).await.expect("a heartbeat reply in time").unwrap();
    assert!(server.observed().iter().any(|o| o.socket > sockets_before), "a new connection");
    ch.send("echo", &json!({"ok": true})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "echo");
}

#[tokio::test]
async fn a_join_refused_for_permission_fails_subscribe_and_is_not_retried() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let reason = "Unauthorized: You do not have permissions to read from this Channel topic: vault";
    server.set_join_fault(JoinFault::Fail(reason.into()));
    let mut config = quick(&server.url());
    // Heartbeats are the fence below: several of them go by after the refusal.
    config.client = config.client.heartbeat(Duration::from_millis(100));
    let c = RealtimeClient::new(config).unwrap();
    let ch = c.channel("vault", ChannelConfig::new()).await.unwrap();
    match ch.subscribe().await {
        Err(Error::Subscribe(ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r)))) => {
            assert_eq!(r.class, ErrorClass::Permission);
            assert_eq!(r.text, reason);
        }
        other => panic!("expected a refused join, got {other:?}"),
    }
    // With rejoins 50 ms apart, a blind retry would come long before five heartbeats.
    let beats_then = frames(&server, Some("phoenix"), "heartbeat").len();
    eventually("five more heartbeats", || {
        frames(&server, Some("phoenix"), "heartbeat").len() >= beats_then + 5
    })
    .await;
    assert_eq!(
        frames(&server, Some("realtime:vault"), "phx_join").len(),
        1,
        "no retry after a permission refusal"
    );
    // The app may ask again once the cause is gone.
    server.set_join_fault(JoinFault::None);
    ch.subscribe().await.unwrap();
}

#[tokio::test]
async fn a_bad_token_in_jwt_mode_fails_subscribe_without_a_retry() {
    let secret = b"jwt-secret".to_vec();
    let server =
        Server::start(ServerConfig { auth: Auth::Jwt { secret: secret.clone() }, ..ServerConfig::default() })
            .await
            .unwrap();
    let key = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600}), &secret);
    let forged = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600}), b"another-secret");
    let mut config = quick(&server.url());
    config.client.api_key = key;
    config.client.access_token = Some(forged);
    config.client = config.client.heartbeat(Duration::from_millis(100));
    let c = RealtimeClient::new(config).unwrap();
    let ch = c.channel("jwt", ChannelConfig::new()).await.unwrap();
    match ch.subscribe().await {
        Err(Error::Subscribe(ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r)))) => {
            assert_eq!(r.class, ErrorClass::Token, "{r:?}");
        }
        other => panic!("expected a refused join, got {other:?}"),
    }
    // No token source: a refused token is final, like a refused permission.
    let beats_then = frames(&server, Some("phoenix"), "heartbeat").len();
    eventually("five more heartbeats", || {
        frames(&server, Some("phoenix"), "heartbeat").len() >= beats_then + 5
    })
    .await;
    assert_eq!(
        frames(&server, Some("realtime:jwt"), "phx_join").len(),
        1,
        "no retry with the same bad token"
    );
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_from_the_token_source_and_the_channel_keeps_working() {
    let secret = b"refresh-secret".to_vec();
    let server = Server::start(ServerConfig {
        auth: Auth::Jwt { secret: secret.clone() },
        // The server checks joined channels' tokens often: an expired one would close the
        // channel with a system error.
        token_recheck: Duration::from_millis(200),
        ..ServerConfig::default()
    })
    .await
    .unwrap();
    let key = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600}), &secret);
    // Valid now, but inside the refresh margin (1 s) two to three seconds from now.
    let short_exp = unix_now() + 4;
    let short = jwt::sign(&json!({"role": "anon", "exp": short_exp, "n": 1}), &secret);
    let fresh = jwt::sign(&json!({"role": "anon", "exp": unix_now() + 3600, "n": 2}), &secret);
    let mut config = quick(&server.url());
    config.client.api_key = key;
    config.client.access_token = Some(short.clone());
    config.client.token_refresh_margin = Duration::from_secs(1);
    let calls = Arc::new(AtomicUsize::new(0));
    let (calls2, fresh2) = (calls.clone(), fresh.clone());
    config.token_source = Some(Arc::new(move || {
        calls2.fetch_add(1, Ordering::SeqCst);
        let t = fresh2.clone();
        Box::pin(async move { Some(t) })
    }));
    let c = RealtimeClient::new(config).unwrap();
    let ch =
        c.channel("refresh", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("after").await;
    ch.subscribe().await.unwrap();
    let joins = frames(&server, Some("realtime:refresh"), "phx_join");
    assert_eq!(
        joins[0].message.payload["access_token"],
        json!(short),
        "the first join has the configured token"
    );
    // The new token reaches the server: pushed to the joined channel, or in a rejoin.
    let carries_fresh = |event: &str| {
        frames(&server, Some("realtime:refresh"), event)
            .iter()
            .any(|o| o.message.payload["access_token"] == json!(fresh))
    };
    eventually("the fresh token at the server", || {
        carries_fresh("access_token") || carries_fresh("phx_join")
    })
    .await;
    assert!(calls.load(Ordering::SeqCst) >= 1, "the source was asked");
    // Past the short token's exp the channel is still joined (the server re-checks tokens every
    // 200 ms and would have closed it), and it still works.
    ch.send("after", &json!({"n": 1})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    eventually("the short token's exp to pass", || unix_now() > short_exp).await;
    ch.send("after", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "after");
    let mut bad = Vec::new();
    while let Ok(Some(s)) = tokio::time::timeout(Duration::ZERO, statuses.recv()).await {
        if s != ChannelStatus::Subscribed {
            bad.push(s);
        }
    }
    assert!(bad.is_empty(), "the channel never failed: {bad:?}");
}

#[tokio::test]
async fn the_client_comes_back_by_itself_after_a_restart_on_the_same_port() {
    let mut server = Server::start(ServerConfig::default()).await.unwrap();
    let c = RealtimeClient::new(quick(&server.url())).unwrap();
    let ch = c.channel("phoenix-rises", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    let port = server.addr().port();
    server.restart().await.unwrap();
    assert_eq!(server.addr().port(), port);
    until(&mut statuses, "the disconnect", |s| {
        *s == ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)
    })
    .await;
    subscribed(&mut statuses).await;
    ch.send("back", &json!({})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "back");
    assert_eq!(server.connections(), 1);
}
