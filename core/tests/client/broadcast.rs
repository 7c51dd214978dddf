//! Broadcast over the socket: JSON and binary both ways, ack and no ack, event filters.

use std::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{Event, PushId, PushOutcome};
use realtime_core::phoenix::message::event_matches;
use realtime_core::phoenix::serializer::{BroadcastData, BroadcastDataRef};
use realtime_core::supabase::channel_config::ChannelConfig;
use serde_json::json;

use crate::server::{JoinMode, server_frame};
use crate::world::World;

const S: Duration = Duration::from_secs(1);
const RTT: Duration = Duration::from_millis(20);

fn joined_with(config: ChannelConfig) -> (World, realtime_core::client::ChannelId) {
    let mut w = World::new(World::config(), 40);
    let ch = w.client.channel(w.now, "room1", config).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    (w, ch)
}

fn outcome(w: &World, push: PushId) -> Option<(Instant, PushOutcome)> {
    w.events.iter().find_map(|(t, e)| match e {
        Event::Push { push: p, outcome, .. } if *p == push => Some((*t, outcome.clone())),
        _ => None,
    })
}

#[test]
fn without_ack_a_broadcast_ends_ok_once_written() {
    let (mut w, ch) = joined_with(ChannelConfig::new());
    w.behaviour.join = JoinMode::Ok;
    let at = w.now;
    let p = w.client.broadcast(w.now, ch, "cursor", BroadcastData::Json(r#"{"x":1}"#.into()), false).unwrap();
    assert_eq!(outcome(&w, p), None);
    w.settle();
    assert_eq!(outcome(&w, p), Some((at, PushOutcome::Ok("{}".into()))), "at once, no reply awaited");
    w.run_for(S);
    let sent = w.frames.iter().find(|(_, f)| f.event == "broadcast").unwrap();
    assert_eq!(sent.1.payload, json!({"type": "broadcast", "event": "cursor", "payload": {"x": 1}}));
    assert_eq!(w.outcomes[&p], 1, "the server's reply does not end it again");
}

#[test]
fn with_ack_the_outcome_is_the_servers_reply_or_a_timeout() {
    let (mut w, ch) = joined_with(ChannelConfig::new().broadcast_ack(true));
    let at = w.now;
    let p = w.client.broadcast(w.now, ch, "cursor", BroadcastData::Json("{}".into()), false).unwrap();
    w.run_for(S);
    assert!(matches!(outcome(&w, p), Some((t, PushOutcome::Ok(_))) if t == at + RTT));
    // An error reply.
    w.server.as_mut().unwrap().behaviour.push_error = Some("payload_size_exceeded");
    let p = w.client.broadcast(w.now, ch, "big", BroadcastData::Json("{}".into()), false).unwrap();
    w.run_for(S);
    assert_eq!(
        outcome(&w, p).map(|o| o.1),
        Some(PushOutcome::Error(r#"{"reason":"payload_size_exceeded"}"#.into()))
    );
    // No reply: a timeout at 10 s.
    let s = w.server.as_mut().unwrap();
    s.behaviour.push_error = None;
    s.behaviour.push_replies = false;
    let at = w.now;
    let p = w.client.broadcast(w.now, ch, "lost", BroadcastData::Json("{}".into()), false).unwrap();
    w.run_for(11 * S);
    assert_eq!(outcome(&w, p), Some((at + 10 * S, PushOutcome::TimedOut)));
}

#[test]
fn binary_broadcasts_both_ways() {
    let (mut w, ch) = joined_with(ChannelConfig::new());
    w.client.broadcast(w.now, ch, "blob", BroadcastData::Binary(vec![0, 1, 255]), false).unwrap();
    w.client.broadcast(w.now, ch, "json-as-kind-3", BroadcastData::Json(r#"{"hi":1}"#.into()), true).unwrap();
    w.run_for(S);
    let binary: Vec<_> = w.frames.iter().filter(|(_, f)| f.binary).map(|(_, f)| f.payload.clone()).collect();
    assert_eq!(
        binary,
        [
            json!({"event": "blob", "meta": "", "data": [0, 1, 255]}),
            json!({"event": "json-as-kind-3", "meta": "", "data": {"hi": 1}})
        ]
    );
    // In: a kind-4 binary frame with metadata, and a JSON broadcast with metadata.
    let mut kind4 = vec![4, 14, 4, 12, 0];
    kind4.extend_from_slice(b"realtime:room1blob{\"id\":\"m-1\"}");
    kind4.extend_from_slice(&[9, 8, 7]);
    let from = w.events.len();
    w.with_server(|s| {
        s.out.extend(server_frame(2, &kind4));
        s.send(
            None,
            None,
            "realtime:room1",
            "broadcast",
            json!({"type": "broadcast", "event": "Cursor", "payload": {"x": 5}, "meta": {"id": "m-2", "replayed": true}}),
        );
    });
    w.run_for(S);
    let got: Vec<_> = w.events[from..]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { message, .. } => {
                let b = message.broadcast().unwrap();
                let payload = match b.payload {
                    BroadcastDataRef::Json(j) => serde_json::from_str::<serde_json::Value>(j).unwrap(),
                    BroadcastDataRef::Binary(bytes) => json!(bytes),
                };
                Some((
                    b.event.to_string(),
                    payload,
                    b.meta.map(|m| serde_json::from_str::<serde_json::Value>(m).unwrap()),
                ))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        got,
        [
            ("blob".to_string(), json!([9, 8, 7]), Some(json!({"id": "m-1"}))),
            ("Cursor".to_string(), json!({"x": 5}), Some(json!({"id": "m-2", "replayed": true})))
        ]
    );
    assert!(event_matches("cursor", &got[1].0), "names compare case-insensitively");
    assert!(event_matches("*", "anything"));
    assert!(!event_matches("cursor", "cursors"));
}

#[test]
fn the_client_side_rate_limit_queues_or_refuses() {
    use realtime_core::client::{PushError, RateLimit, RateLimitPolicy};
    let mut config = World::config();
    config.rate_limit = Some(RateLimit { per_second: 10, burst: 2, policy: RateLimitPolicy::Queue });
    let mut w = World::new(config.clone(), 41);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    let start = w.now;
    let pushes: Vec<_> = (0..12)
        .map(|i| {
            w.client.broadcast(w.now, ch, &format!("e{i}"), BroadcastData::Json("{}".into()), false).unwrap()
        })
        .collect();
    w.run_for(3 * S);
    let written: Vec<_> = pushes.iter().map(|p| outcome(&w, *p).unwrap().0).collect();
    let ms = |m: u64| start + Duration::from_millis(m);
    assert_eq!(written[..4], [ms(0), ms(0), ms(100), ms(200)], "a burst of 2, then one per 100 ms");
    assert_eq!(written[11], ms(1000));
    // The frames reached the server in order.
    let events: Vec<_> = w
        .frames
        .iter()
        .filter(|(_, f)| f.event == "broadcast")
        .map(|(_, f)| f.payload["event"].clone())
        .collect();
    assert_eq!(events, (0..12).map(|i| json!(format!("e{i}"))).collect::<Vec<_>>());
    // Refuse: over the burst, an error at once.
    config.rate_limit = Some(RateLimit { per_second: 10, burst: 2, policy: RateLimitPolicy::Refuse });
    let mut w = World::new(config, 42);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    let json = || BroadcastData::Json("{}".into());
    assert!(w.client.broadcast(w.now, ch, "a", json(), false).is_ok());
    assert!(w.client.broadcast(w.now, ch, "b", json(), false).is_ok());
    assert_eq!(w.client.broadcast(w.now, ch, "c", json(), false), Err(PushError::RateLimited));
    w.run_for(Duration::from_millis(100));
    assert!(w.client.broadcast(w.now, ch, "d", json(), false).is_ok(), "a token again after 100 ms");
}

#[test]
fn auto_replay_rejoins_from_the_last_seen_message_and_drops_duplicates() {
    let mut w = World::new(World::config(), 43);
    w.client.set_wall_clock(w.now, 1_700_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new().private(true).auto_replay(true)).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    let bcast = |id: &str, n: u32| json!({"type": "broadcast", "event": "e", "payload": {"n": n}, "meta": {"id": id}});
    w.with_server(|s| s.send(None, None, "realtime:room1", "broadcast", bcast("m-1", 1)));
    w.run_for(S);
    // The message arrived at 1 s + 10 ms (one link delay) of wall-clock time; the replay
    // starts 5 s before that, for clock skew (the overlap is dropped by meta.id).
    let seen_at = 1_700_000_000_000u64 + 1_010 - 5_000;
    w.reset();
    w.run_for(2 * S);
    let joins: Vec<_> =
        w.frames.iter().filter(|(_, f)| f.event == "phx_join").map(|(_, f)| f.payload.clone()).collect();
    assert_eq!(joins.len(), 2);
    assert!(joins[0]["config"]["broadcast"].get("replay").is_none(), "nothing to replay at first");
    assert_eq!(joins[1]["config"]["broadcast"]["replay"], json!({"since": seen_at, "limit": 25}));
    // The server replays m-1 (already delivered) and m-2 (missed).
    w.with_server(|s| {
        s.send(None, None, "realtime:room1", "broadcast", bcast("m-1", 1));
        s.send(None, None, "realtime:room1", "broadcast", bcast("m-2", 2));
    });
    w.run_for(S);
    let delivered: Vec<_> = w
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { message, .. } => message.broadcast().and_then(|b| b.meta.map(String::from)),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, [r#"{"id":"m-1"}"#, r#"{"id":"m-2"}"#], "m-1 once");
    // A public channel never asks for a replay.
    let mut w = World::new(World::config(), 44);
    w.client.set_wall_clock(w.now, 1_700_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new().auto_replay(true)).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    w.with_server(|s| s.send(None, None, "realtime:room1", "broadcast", bcast("m-1", 1)));
    w.run_for(S);
    w.reset();
    w.run_for(2 * S);
    assert!(
        w.frames
            .iter()
            .filter(|(_, f)| f.event == "phx_join")
            .all(|(_, f)| f.payload["config"]["broadcast"].get("replay").is_none())
    );
}

#[test]
fn the_rest_fallback_sends_what_the_channel_cannot_push() {
    use realtime_core::supabase::rest::RestError;
    let mut config = World::config();
    config.rest_fallback = true;
    config.access_token = Some("user-jwt".into());
    let (mut w, ch) = World::subscribing(config, 45, JoinMode::Silent);
    w.run_for(S);
    let p = w.client.broadcast(w.now, ch, "cursor", BroadcastData::Json(r#"{"x":1}"#.into()), false).unwrap();
    let (push, mut req) = w.client.poll_rest().expect("a REST request");
    assert_eq!(push, p);
    assert_eq!((req.host(), req.port(), req.is_tls()), ("sim.test", 80, false));
    let mut out = vec![0u8; 4096];
    let n = req.poll_transmit(&mut out);
    let text = String::from_utf8(out[..n].to_vec()).unwrap();
    assert!(text.starts_with("POST /realtime/v1/api/broadcast/room1/events/cursor HTTP/1.1\r\n"), "{text}");
    assert!(
        text.contains("\r\napikey: anon-key\r\n") && text.contains("\r\nAuthorization: Bearer user-jwt\r\n")
    );
    assert!(text.ends_with("\r\n\r\n{\"x\":1}"));
    assert!(w.frames.iter().all(|(_, f)| f.event != "broadcast"), "not on the socket");
    req.handle_input(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
    w.client.handle_rest_result(push, req.result().unwrap());
    w.settle();
    assert_eq!(outcome(&w, p).map(|o| o.1), Some(PushOutcome::Ok("{}".into())));
    // A server too old for the endpoint: the push ends with that error.
    let p = w.client.broadcast(w.now, ch, "cursor", BroadcastData::Binary(vec![1, 2]), false).unwrap();
    let (push, _) = w.client.poll_rest().unwrap();
    w.client.handle_rest_result(push, &Err(RestError::ServerTooOld));
    w.settle();
    assert!(matches!(outcome(&w, p).map(|o| o.1), Some(PushOutcome::Error(m)) if m.contains("older than")));
    // Without the option the broadcast waits for the join.
    let (mut w, ch) = World::subscribing(World::config(), 46, JoinMode::Silent);
    w.run_for(S);
    w.client.broadcast(w.now, ch, "cursor", BroadcastData::Json("{}".into()), false).unwrap();
    assert!(w.client.poll_rest().is_none());
}
