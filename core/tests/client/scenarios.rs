//! The cases of spec section G this part owns, the issue's list, and every row of design.md's
//! connection-endings table.

use std::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelState, ChannelStatus, ConnectionEnd, ConnectionState, Event,
    HeartbeatStatus, Next, NotSentReason, Overflow, PushBody, PushError, PushId, PushOutcome,
};
use realtime_core::phoenix::ending::StopReason;
use realtime_core::phoenix::serializer::{BroadcastData, BroadcastDataRef, Payload};
use realtime_core::supabase::channel_config::ChannelConfig;
use realtime_core::supabase::reason::ErrorClass;
use serde_json::json;

use crate::server::{JoinMode, server_frame};
use crate::world::World;

const S: Duration = Duration::from_secs(1);
/// The link's round trip: the handshake, a join, a heartbeat each take one.
const RTT: Duration = Duration::from_millis(20);

fn secs(s: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(s)
}

fn body(event: &str) -> PushBody {
    PushBody::Json { event: event.into(), payload: r#"{"type":"broadcast","event":"e","payload":{}}"#.into() }
}

fn disconnects(w: &World, from: usize) -> Vec<(ConnectionEnd, Next)> {
    w.events_since(from)
        .into_iter()
        .filter_map(|e| match e {
            Event::Disconnected { end, next } => Some((end.clone(), *next)),
            _ => None,
        })
        .collect()
}

fn outcome(w: &World, push: PushId) -> Option<(Instant, PushOutcome)> {
    w.events.iter().find_map(|(t, e)| match e {
        Event::Push { push: p, outcome, .. } if *p == push => Some((*t, outcome.clone())),
        _ => None,
    })
}

/// When heartbeats went out.
fn heartbeats_sent(w: &World) -> Vec<Instant> {
    w.events.iter().filter(|(_, e)| *e == Event::Heartbeat(HeartbeatStatus::Sent)).map(|(t, _)| *t).collect()
}

fn frames_with_event<'a>(w: &'a World, event: &str) -> Vec<&'a (usize, crate::server::Frame)> {
    w.frames.iter().filter(|(_, f)| f.event == event).collect()
}

#[test]
fn subscribe_connects_joins_and_heartbeats_report_latency() {
    let (mut w, ch) = World::joined(World::config());
    assert_eq!(w.statuses(0), [ChannelStatus::Subscribed]);
    assert!(matches!(w.events[0].1, Event::Connected));
    let join = &frames_with_event(&w, "phx_join")[0].1;
    assert_eq!(join.topic, "realtime:room1");
    assert_eq!(join.payload["config"]["broadcast"], json!({"ack": false, "self": false}));
    assert!(join.payload.get("access_token").is_none());
    w.run_for(60 * S);
    let beats: Vec<_> = w.events.iter().filter(|(_, e)| matches!(e, Event::Heartbeat(_))).collect();
    // At 25 s and 50 s: sent, then ok after the round trip (two link delays).
    assert_eq!(beats.len(), 4, "{beats:?}");
    // The connection opened after one round trip; beats are due an interval after that.
    assert_eq!(beats[0].0, secs(25) + RTT);
    assert_eq!(beats[1].1, Event::Heartbeat(HeartbeatStatus::Ok { latency: Duration::from_millis(20) }));
    assert_eq!(beats[2].0, secs(50) + RTT);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn other_traffic_never_postpones_a_heartbeat() {
    let (mut w, ch) = World::joined(World::config());
    for _ in 0..40 {
        w.client.push(w.now, ch, body("x")).unwrap();
        w.run_for(S);
    }
    let sent = heartbeats_sent(&w);
    assert_eq!(sent, [secs(25) + RTT]);
}

#[test]
fn heartbeat_timeout_drops_reconnects_rejoins_and_subscribes_again() {
    let (mut w, ch) = World::joined(World::config());
    w.behaviour.heartbeat_replies = false;
    w.server.as_mut().unwrap().behaviour.heartbeat_replies = false;
    let from = w.events.len();
    // Sent at 25 s, due 10 s later: the transport is dropped at once, no close handshake.
    w.run_until(secs(35) + (RTT - Duration::from_millis(1)));
    assert!(disconnects(&w, from).is_empty(), "not before the reply deadline");
    w.run_until(secs(35) + RTT);
    let d = disconnects(&w, from);
    assert_eq!(d, [(ConnectionEnd::HeartbeatTimeout, Next::Reconnect { after: S, attempt: 1 })]);
    assert!(w.events_since(from).contains(&&Event::Heartbeat(HeartbeatStatus::TimedOut)));
    assert_eq!(w.statuses(from), [ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)]);
    w.behaviour.heartbeat_replies = true;
    w.run_for(2 * S);
    assert_eq!(w.connections, 2);
    assert_eq!(
        w.statuses(from),
        [ChannelStatus::ChannelError(ChannelErrorReason::Disconnected), ChannelStatus::Subscribed]
    );
    assert!(w.events_since(from).contains(&&Event::Reconnected { gap: S + RTT }));
    // The new connection's join has a fresh ref.
    let joins = frames_with_event(&w, "phx_join");
    assert_eq!(joins.len(), 2);
    assert_ne!(joins[0].1.msg_ref, joins[1].1.msg_ref);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    // The heartbeat state is fresh: the next beat is one interval after the open.
    let from = w.events.len();
    w.run_for(30 * S);
    assert!(disconnects(&w, from).is_empty());
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_half_open_link_is_found_within_35_s_of_its_last_answered_heartbeat() {
    let (mut w, _ch) = World::joined(World::config());
    w.run_until(secs(27));
    let answered = w
        .events
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Heartbeat(HeartbeatStatus::Ok { .. })).then_some(*t))
        .expect("the first beat was answered");
    // The link goes silent right after the answer (a NAT dropped it, the peer vanished).
    w.dead = true;
    let from = w.events.len();
    w.run_until(answered + 40 * S);
    let found = w.events[from..]
        .iter()
        .find_map(|(t, e)| matches!(e, Event::Disconnected { .. }).then_some(*t))
        .expect("the dead link was found");
    assert!(found - answered <= 35 * S, "found {:?} after the last answer", found - answered);
    assert!(found - answered > 30 * S, "not before the next beat's deadline");
    assert_eq!(disconnects(&w, from)[0].0, ConnectionEnd::HeartbeatTimeout);
}

#[test]
fn pushes_waiting_through_a_server_restart_are_written_once_with_the_new_join_ref() {
    let (mut w, ch) = World::joined(World::config());
    w.reset();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Errored));
    let pushes: Vec<_> =
        (0..3).map(|i| w.client.push(w.now, ch, body(&format!("msg{i}"))).unwrap()).collect();
    w.run_for(3 * S);
    let joins = frames_with_event(&w, "phx_join");
    let new_join_ref = joins.last().unwrap().1.msg_ref.clone();
    let written: Vec<_> = w.frames.iter().filter(|(_, f)| f.event.starts_with("msg")).collect();
    assert_eq!(written.len(), 3, "each buffered push is written once");
    for (i, (conn, f)) in written.iter().enumerate() {
        assert_eq!(*conn, 2);
        assert_eq!(f.event, format!("msg{i}"), "in order");
        assert_eq!(f.join_ref, new_join_ref);
    }
    for p in pushes {
        assert!(matches!(outcome(&w, p), Some((_, PushOutcome::Ok(_)))));
    }
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_push_written_before_the_link_died_times_out_and_is_not_resent() {
    let (mut w, ch) = World::joined(World::config());
    w.server.as_mut().unwrap().behaviour.push_replies = false;
    let p = w.client.push(w.now, ch, body("lost")).unwrap();
    w.run_for(S / 10);
    assert_eq!(frames_with_event(&w, "lost").len(), 1);
    w.reset();
    assert_eq!(outcome(&w, p).map(|o| o.1), Some(PushOutcome::TimedOut));
    w.run_for(20 * S);
    assert_eq!(frames_with_event(&w, "lost").len(), 1, "never re-sent");
    assert_eq!(w.outcomes[&p], 1);
}

#[test]
fn a_push_buffered_while_joining_times_out_at_its_deadline() {
    let (mut w, ch) = World::subscribing(World::config(), 2, JoinMode::Silent);
    let p = w.client.push(w.now, ch, body("early")).unwrap();
    w.run_for(12 * S);
    assert_eq!(outcome(&w, p), Some((secs(10), PushOutcome::TimedOut)));
    assert!(frames_with_event(&w, "early").is_empty());
}

#[test]
fn a_join_timeout_reports_timed_out_cleans_up_and_rejoins_on_the_backoff() {
    let (mut w, _) = World::subscribing(World::config(), 3, JoinMode::Silent);
    w.run_for(10 * S + RTT);
    assert_eq!(w.statuses(0), [ChannelStatus::TimedOut]);
    w.server.as_mut().unwrap().behaviour.join = JoinMode::Ok;
    w.run_for(S + S / 2);
    let leaves = frames_with_event(&w, "phx_leave");
    let joins = frames_with_event(&w, "phx_join");
    assert_eq!(leaves.len(), 1, "the server is told to drop a late join");
    assert_eq!(leaves[0].1.join_ref, joins[0].1.msg_ref);
    assert_eq!(w.statuses(0), [ChannelStatus::TimedOut, ChannelStatus::Subscribed]);
    let joins = frames_with_event(&w, "phx_join");
    assert_eq!(joins.len(), 2);
    assert_ne!(joins[0].1.msg_ref, joins[1].1.msg_ref);
}

#[test]
fn a_rejoin_while_the_previous_attempt_is_pending_has_its_own_ref_and_timer() {
    // Spec E.6: the reference clients' re-send while a timer is pending produced an unmatched
    // join and a channel stuck in joining.
    let (mut w, ch) = World::subscribing(World::config(), 4, JoinMode::Silent);
    w.run_for(3 * S);
    w.behaviour.join = JoinMode::Ok;
    w.reset(); // the first attempt's timer (due at 10 s) is pending
    w.run_for(2 * S);
    let joins = frames_with_event(&w, "phx_join");
    assert_eq!(joins.len(), 2);
    assert_ne!(joins[0].1.msg_ref, joins[1].1.msg_ref);
    assert_eq!(joins[1].1.join_ref, joins[1].1.msg_ref);
    w.run_for(20 * S);
    assert_eq!(
        w.statuses(0),
        [ChannelStatus::ChannelError(ChannelErrorReason::Disconnected), ChannelStatus::Subscribed],
        "no TimedOut from the superseded attempt"
    );
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_reply_to_a_superseded_join_attempt_is_ignored() {
    let (mut w, ch) = World::subscribing(World::config(), 5, JoinMode::Silent);
    w.run_for(10 * S); // attempt 1 timed out
    w.run_for(S + S / 10); // attempt 2 in flight
    let joins = frames_with_event(&w, "phx_join");
    assert_eq!(joins.len(), 2);
    let old = joins[0].1.msg_ref.clone().unwrap();
    w.with_server(|s| {
        s.send(Some(&old), Some(&old), "realtime:room1", "phx_reply", json!({"status":"ok","response":{}}))
    });
    w.run_for(S / 10);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joining));
    assert_eq!(w.statuses(0), [ChannelStatus::TimedOut]);
}

#[test]
fn a_stale_phx_close_is_ignored_and_a_current_one_closes() {
    let (mut w, ch) = World::joined(World::config());
    let current = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    w.with_server(|s| s.send(Some("999"), Some("999"), "realtime:room1", "phx_close", json!({})));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    let from = w.events.len();
    w.with_server(|s| s.send(Some(&current), Some(&current), "realtime:room1", "phx_close", json!({})));
    w.run_for(S);
    assert_eq!(w.statuses(from), [ChannelStatus::Closed]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert_eq!(w.client.push(w.now, ch, body("x")), Err(PushError::NotJoined));
    // It stays closed (no rejoin) until the app subscribes again.
    w.run_for(30 * S);
    assert_eq!(frames_with_event(&w, "phx_join").len(), 1);
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn messages_from_a_stale_join_are_dropped_and_current_ones_delivered() {
    let (mut w, ch) = World::joined(World::config());
    let current = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    let from = w.events.len();
    w.with_server(|s| {
        s.send(Some("999"), None, "realtime:room1", "system", json!({}));
        s.send(Some(&current), None, "realtime:room1", "system", json!({"a":1}));
        s.send(
            None,
            None,
            "realtime:room1",
            "broadcast",
            json!({"type":"broadcast","event":"e","payload":{"n":12345678901234567890u64}}),
        );
        s.send(None, None, "realtime:other", "broadcast", json!({}));
    });
    w.run_for(S);
    let msgs: Vec<_> = w
        .events_since(from)
        .into_iter()
        .filter_map(|e| match e {
            Event::Message { channel, message } => Some((*channel, message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(msgs[0].0, ch);
    assert_eq!(msgs[0].1.event(), "system");
    assert_eq!(msgs[0].1.payload(), Payload::Json(r#"{"a":1}"#));
    // Numbers stay exact: the payload is the raw text.
    let Payload::Json(raw) = msgs[1].1.payload() else { panic!() };
    assert!(raw.contains(r#""n":12345678901234567890"#), "{raw}");
}

#[test]
fn a_kind_4_broadcast_reaches_the_channel_and_a_kind_3_push_goes_out() {
    let (mut w, ch) = World::joined(World::config());
    let mut frame = vec![4, 14, 6, 0, 1];
    frame.extend_from_slice(b"realtime:room1cursor{\"x\":1}");
    let from = w.events.len();
    w.with_server(|s| s.out.extend(server_frame(2, &frame)));
    w.run_for(S);
    let got = w.events_since(from).into_iter().find_map(|e| match e {
        Event::Message { message, .. } => Some(message.clone()),
        _ => None,
    });
    match got.as_ref().map(|m| m.payload()) {
        Some(Payload::UserBroadcast(b)) => {
            assert_eq!(b.event, "cursor");
            assert_eq!(b.data, BroadcastDataRef::Json("{\"x\":1}"));
        }
        other => panic!("{other:?}"),
    }
    let p = w
        .client
        .push(
            w.now,
            ch,
            PushBody::UserBroadcast {
                event: "cursor".into(),
                meta: None,
                data: BroadcastData::Binary(vec![1, 2, 3]),
            },
        )
        .unwrap();
    w.run_for(S);
    let sent = w.frames.iter().find(|(_, f)| f.binary).unwrap();
    assert_eq!(sent.1.payload, json!({"event":"cursor","meta":"","data":[1,2,3]}));
    assert!(matches!(outcome(&w, p), Some((_, PushOutcome::Ok(_)))));
}

#[test]
fn a_join_error_errors_the_channel_and_retries_on_the_rejoin_schedule() {
    let (mut w, _) = World::subscribing(World::config(), 6, JoinMode::Error);
    w.run_for(20 * S);
    let joins: Vec<_> = w
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Status { status: ChannelStatus::ChannelError(_), .. }))
        .map(|(t, _)| *t)
        .collect();
    // Replies at 20 ms after each join; joins at 0, then +1, +2, +5, +10 s after each error.
    let ms = |m: u64| Instant::ZERO + Duration::from_millis(m);
    assert_eq!(joins, [ms(40), ms(1060), ms(3080), ms(8100), ms(18120)]);
    assert!(matches!(
        &w.statuses(0)[0],
        ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r))
            if r.class == ErrorClass::TransientServer && r.text.starts_with("IncreaseConnectionPool: ")
    ));
    assert_eq!(w.client.state(), ConnectionState::Open, "a join error does not touch the socket");
}

#[test]
fn phx_error_errors_the_channel_and_it_rejoins() {
    let (mut w, ch) = World::joined(World::config());
    let current = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    let from = w.events.len();
    w.with_server(|s| {
        s.send(
            Some(&current),
            Some(&current),
            "realtime:room1",
            "phx_error",
            json!({"reason":"channel_crash"}),
        )
    });
    w.run_for(2 * S);
    assert_eq!(
        w.statuses(from),
        [
            ChannelStatus::ChannelError(ChannelErrorReason::ServerError(
                r#"{"reason":"channel_crash"}"#.into()
            )),
            ChannelStatus::Subscribed
        ]
    );
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn leave_reports_closed_and_pushes_waiting_are_not_sent() {
    let (mut w, ch) = World::subscribing(World::config(), 7, JoinMode::Silent);
    let p = w.client.push_with_timeout(w.now, ch, body("x"), 60 * S).unwrap();
    w.run_for(S);
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(11 * S);
    // The leave got no reply (the server never joined): it times out, and the channel closes.
    assert_eq!(w.statuses(0), [ChannelStatus::Closed]);
    assert_eq!(outcome(&w, p).map(|o| o.1), Some(PushOutcome::NotSent(NotSentReason::ChannelClosed)));
}

#[test]
fn same_topic_shares_one_channel_and_handles_are_counted() {
    let (mut w, ch) = World::joined(World::config());
    let again = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    assert_eq!(again, ch);
    assert_eq!(
        w.client.channel(w.now, "room1", ChannelConfig::new().broadcast_self(true)),
        Err(ChannelError::ConfigMismatch)
    );
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined), "one handle remains");
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), None, "left and deleted");
    assert_eq!(frames_with_event(&w, "phx_leave").len(), 1);
    assert_eq!(w.client.subscribe(w.now, ch), Err(ChannelError::UnknownChannel));
    // A new channel on the topic gets a new id; the stale one stays refused.
    let fresh = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    assert_ne!(fresh, ch);
    assert_eq!(w.client.push(w.now, ch, body("x")), Err(PushError::UnknownChannel));
}

#[test]
fn deferred_disconnect_after_the_last_channel_and_cancelled_by_a_new_one() {
    let (mut w, ch) = World::joined(World::config());
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(40 * S);
    assert_eq!(w.client.state(), ConnectionState::Open);
    let c2 = w.client.channel(w.now, "room2", ChannelConfig::new()).unwrap();
    w.run_for(60 * S);
    assert_eq!(w.client.state(), ConnectionState::Open, "cancelled by the new channel");
    let from = w.events.len();
    w.client.remove_channel(w.now, c2).unwrap();
    let removed_at = w.now;
    w.run_for(60 * S);
    assert_eq!(disconnects(&w, from), [(ConnectionEnd::Manual, Next::Stop(StopReason::Idle))]);
    let at = w.events[from..].iter().find(|(_, e)| matches!(e, Event::Disconnected { .. })).unwrap().0;
    // Never subscribed, so deleted at once; the close handshake takes a round trip.
    assert_eq!(at, removed_at + 50 * S + RTT, "two heartbeat intervals later");
    assert_eq!(w.client.state(), ConnectionState::Disconnected);
    let close = w.events.len();
    w.run_for(60 * S);
    assert_eq!(w.events.len(), close, "no reconnect");
}

#[test]
fn resume_probes_liveness_at_once() {
    let (mut w, _) = World::joined(World::config());
    w.run_for(5 * S);
    w.client.resume(w.now);
    w.run_for(S);
    let sent = heartbeats_sent(&w);
    assert_eq!(sent, [secs(6)]);
    // A dead link found by the probe: the reply is due one interval after the probe.
    w.dead = true;
    w.client.resume(w.now);
    w.run_for(30 * S);
    assert!(
        w.events
            .iter()
            .any(|(_, e)| matches!(e, Event::Disconnected { end: ConnectionEnd::HeartbeatTimeout, .. }))
    );
}

#[test]
fn resume_while_waiting_reconnects_now() {
    let (mut w, _) = World::joined(World::config().heartbeat(25 * S));
    w.refuse_tcp = true;
    w.reset();
    w.run_for(3 * S + S / 2); // attempts at 1 s (refused), then waiting for 2 s more
    assert!(
        matches!(w.client.state(), ConnectionState::WaitingToReconnect { attempt: 3, .. }),
        "{:?}",
        w.client.state()
    );
    w.refuse_tcp = false;
    w.client.resume(w.now);
    w.run_for(RTT);
    assert_eq!(w.client.state(), ConnectionState::Open);
}

#[test]
fn the_websocket_ping_keepalive_finds_a_dead_link() {
    let mut config = World::config();
    config.ping_interval = Some(5 * S);
    let (mut w, _) = World::joined(config);
    w.run_for(6 * S);
    assert!(w.events.iter().any(|(_, e)| matches!(e, Event::Pong { .. })));
    w.dead = true;
    let from = w.events.len();
    w.run_for(11 * S);
    assert_eq!(disconnects(&w, from)[0].0, ConnectionEnd::PingTimeout);
}

#[test]
fn manual_disconnect_stops_and_connect_rejoins_without_errors() {
    let (mut w, ch) = World::joined(World::config());
    let from = w.events.len();
    w.client.disconnect(w.now);
    w.run_for(S);
    assert_eq!(disconnects(&w, from), [(ConnectionEnd::Manual, Next::Stop(StopReason::Manual))]);
    assert!(w.statuses(from).is_empty(), "a manual disconnect does not error channels");
    assert_eq!(w.frames.iter().filter(|(_, f)| f.event == "phx_leave").count(), 0);
    w.run_for(60 * S);
    assert_eq!(w.connections, 1, "no reconnect");
    w.client.connect(w.now);
    w.run_for(S);
    assert_eq!(w.statuses(from), [ChannelStatus::Subscribed]);
    assert!(!w.events_since(from).iter().any(|e| matches!(e, Event::Reconnected { .. })));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn disconnect_cancels_a_pending_reconnect() {
    let (mut w, _) = World::joined(World::config());
    w.reset();
    assert!(matches!(w.client.state(), ConnectionState::WaitingToReconnect { .. }));
    w.client.disconnect(w.now);
    w.run_for(60 * S);
    assert_eq!(w.connections, 1);
    assert_eq!(w.client.state(), ConnectionState::Disconnected);
}

#[test]
fn the_reconnect_schedule_and_its_attempt_limit() {
    let mut config = World::config();
    config.reconnect = config.reconnect.clone().with_max_attempts(6).unwrap();
    let mut w = World::new(config, 8);
    w.refuse_tcp = true;
    w.client.connect(w.now);
    w.run_for(120 * S);
    let d = disconnects(&w, 0);
    let nexts: Vec<_> = d.iter().map(|(_, n)| *n).collect();
    let r = |s: u64, attempt| Next::Reconnect { after: Duration::from_secs(s), attempt };
    assert_eq!(
        nexts,
        [r(1, 1), r(2, 2), r(5, 3), r(10, 4), r(10, 5), r(10, 6), Next::Stop(StopReason::RetriesExhausted)]
    );
}

#[test]
fn jitter_stays_within_its_band() {
    let mut config = World::config();
    config.reconnect = config.reconnect.clone().with_jitter(50).unwrap();
    let mut w = World::new(config, 9);
    w.refuse_tcp = true;
    w.client.connect(w.now);
    w.run_for(60 * S);
    for (end, next) in disconnects(&w, 0) {
        assert_eq!(end, ConnectionEnd::TransportLost);
        let Next::Reconnect { after, attempt } = next else { panic!() };
        let step = Duration::from_secs([1, 2, 5, 10][(attempt as usize - 1).min(3)]);
        assert!(after <= step && after >= step / 2, "{after:?} for {step:?}");
    }
}

/// Each row of design.md's connection-endings table, end to end.
#[test]
fn every_row_of_the_endings_table() {
    let ten = Next::Reconnect { after: 10 * S, attempt: 1 };
    let one = Next::Reconnect { after: S, attempt: 1 };
    // Upgrade statuses.
    for (status, want) in [
        (401, Next::Stop(StopReason::Auth { status: 401 })),
        (403, Next::Stop(StopReason::Auth { status: 403 })),
        (404, Next::Stop(StopReason::TenantNotFound)),
        (429, ten),
        (500, one),
        (503, one),
    ] {
        let mut w = World::new(World::config(), 10);
        w.behaviour.reject_upgrade = Some(status);
        w.client.connect(w.now);
        w.run_for(S / 2);
        let d = disconnects(&w, 0);
        assert_eq!(d[0].1, want, "{status}");
        assert!(
            matches!(&d[0].0, ConnectionEnd::UpgradeRejected { status: s, body } if *s == status && body.contains("refused"))
        );
    }
    // Server close codes.
    for (code, reason, want) in [
        (1001, "TenantNotFound: Tenant not found", Next::Stop(StopReason::TenantNotFound)),
        (1001, "ClientJoinRateLimitReached", ten),
        (1000, "", one),
        (1001, "", one),
        (1008, "", one),
        (1011, "", one),
        (1012, "", one),
        (1013, "", one),
        (4000, "", one),
    ] {
        let (mut w, _) = World::joined(World::config());
        let from = w.events.len();
        w.with_server(|s| s.close(code, reason));
        w.run_for(S / 2);
        let d = disconnects(&w, from);
        assert_eq!(
            d,
            [(ConnectionEnd::ServerClosed { code, reason: reason.into() }, want)],
            "{code} {reason}"
        );
    }
    // A join error naming the tenant, then a 1001 close without a reason (the server's way).
    {
        let (mut w, _) = World::subscribing(World::config(), 11, JoinMode::Silent);
        w.run_for(S / 2);
        let from = w.events.len();
        w.with_server(|s| {
            s.send(
                Some("1"),
                Some("1"),
                "realtime:room1",
                "phx_reply",
                json!({"status":"error","response":{"reason":"ClientJoinRateLimitReached: Too many joins"}}),
            );
            s.close(1001, "");
        });
        w.run_for(S / 2);
        assert_eq!(disconnects(&w, from)[0].1, ten);
    }
    // Heartbeat missed: dropped at once, backoff.
    let (mut w, _) = World::joined(World::config());
    w.dead = true;
    let from = w.events.len();
    w.run_for(60 * S);
    assert_eq!(disconnects(&w, from)[0], (ConnectionEnd::HeartbeatTimeout, one));
    // Our own 1002 (a masked server frame), TCP refused, EOF.
    let (mut w, _) = World::joined(World::config());
    let from = w.events.len();
    w.with_server(|s| s.out.extend_from_slice(&[0x81, 0x80, 0, 0, 0, 0]));
    w.run_for(S / 2);
    let d = disconnects(&w, from);
    assert!(matches!(d[0].0, ConnectionEnd::WebSocket(_)), "{d:?}");
    assert_eq!(d[0].1, one);
    assert_eq!(w.frames.len(), 1, "only the join reached the server");
    let mut w = World::new(World::config(), 12);
    w.refuse_tcp = true;
    w.client.connect(w.now);
    w.settle();
    assert_eq!(disconnects(&w, 0), [(ConnectionEnd::TransportLost, one)]);
    let (mut w, _) = World::joined(World::config());
    let from = w.events.len();
    w.reset();
    assert_eq!(disconnects(&w, from), [(ConnectionEnd::TransportLost, one)]);
}

#[test]
fn the_push_buffer_is_bounded_with_a_policy() {
    let mut config = World::config();
    config.push_buffer = 2;
    let (mut w, ch) = World::subscribing(config.clone(), 13, JoinMode::Silent);
    let a = w.client.push(w.now, ch, body("a")).unwrap();
    w.client.push(w.now, ch, body("b")).unwrap();
    w.client.push(w.now, ch, body("c")).unwrap();
    w.settle();
    assert_eq!(outcome(&w, a).map(|o| o.1), Some(PushOutcome::NotSent(NotSentReason::Dropped)));
    config.overflow = Overflow::Error;
    let mut w = World::new(config, 14);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.push(w.now, ch, body("a")).unwrap_err();
    w.client.subscribe(w.now, ch).unwrap();
    w.client.push(w.now, ch, body("a")).unwrap();
    w.client.push(w.now, ch, body("b")).unwrap();
    assert_eq!(w.client.push(w.now, ch, body("c")), Err(PushError::BufferFull));
    assert_eq!(
        w.client.push(w.now, ch, PushBody::Json { event: "e".into(), payload: "{nope".into() }),
        Err(PushError::InvalidJson)
    );
}

#[test]
fn vsn_1_frames_always_carry_a_ref_and_lifecycle_events_are_filtered_by_ref() {
    let mut config = World::config();
    config.vsn = realtime_core::phoenix::serializer::Vsn::V1;
    let mut w = World::new(config, 15);
    w.behaviour.v1 = true;
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(30 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    w.client.push(w.now, ch, body("x")).unwrap();
    w.run_for(S);
    assert!(w.frames.len() >= 3);
    let current = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    // v1 server frames have no join_ref: a close with another ref is stale.
    w.with_server(|s| s.send(None, Some("999"), "realtime:room1", "phx_close", json!({})));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    w.with_server(|s| s.send(None, Some(&current), "realtime:room1", "phx_close", json!({})));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn any_split_of_the_server_bytes_gives_the_same_events() {
    let run = |split: bool| {
        let (mut w, ch) = World::joined(World::config());
        w.split = split;
        for i in 0..20 {
            w.client.push(w.now, ch, body(&format!("p{i}"))).unwrap();
            w.with_server(|s| s.send(None, None, "realtime:room1", "broadcast", json!({"i": i})));
            w.run_for(S);
        }
        w.run_for(60 * S);
        w.events.into_iter().map(|(_, e)| e).collect::<Vec<_>>()
    };
    assert_eq!(run(false), run(true));
}

#[test]
fn a_self_framing_transport_drives_the_same_protocol() {
    use realtime_core::client::{Client, TransportClosed, TransportCommand, TransportKind};
    use realtime_core::ws::Message;
    let mut config = World::config();
    config.transport = TransportKind::Messages;
    let mut c = Client::new(config, [7; 32]).unwrap();
    let ch = c.channel(Instant::ZERO, "room1", ChannelConfig::new()).unwrap();
    c.subscribe(Instant::ZERO, ch).unwrap();
    let Some(TransportCommand::Open { id, .. }) = c.poll_transport() else { panic!() };
    assert_eq!(c.headers()[0].0, "X-Client-Info");
    c.handle_transport_open(Instant::ZERO, id);
    let Some(Message::Text(join)) = c.poll_message() else { panic!() };
    assert!(join.starts_with(r#"["1","1","realtime:room1","phx_join",{"config":"#), "{join}");
    c.handle_message(
        Instant::ZERO,
        Message::Text(r#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#.into()),
    );
    assert_eq!(c.poll_event(), Some(Event::Connected));
    assert_eq!(c.poll_event(), Some(Event::Status { channel: ch, status: ChannelStatus::Subscribed }));
    c.handle_transport_closed(
        Instant::ZERO,
        id,
        TransportClosed::Closed { code: Some(1011), reason: "boom" },
    );
    assert!(matches!(c.poll_event(), Some(Event::Status { status: ChannelStatus::ChannelError(_), .. })));
    assert_eq!(
        c.poll_event(),
        Some(Event::Disconnected {
            end: ConnectionEnd::ServerClosed { code: 1011, reason: "boom".into() },
            next: Next::Reconnect { after: S, attempt: 1 }
        })
    );
}

#[test]
fn the_access_token_goes_into_the_join_payload() {
    let mut config = World::config();
    config.access_token = Some("jwt-token".into());
    let (w, _) = World::joined(config);
    assert_eq!(frames_with_event(&w, "phx_join")[0].1.payload["access_token"], "jwt-token");
}

#[test]
fn a_refused_permission_closes_the_channel_without_retrying() {
    let reason = "Unauthorized: You do not have permissions to read from this Channel topic: room1";
    let (mut w, ch) = World::subscribing(World::config(), 20, JoinMode::ErrorWith(reason));
    w.run_for(60 * S);
    assert_eq!(frames_with_event(&w, "phx_join").len(), 1, "never retried");
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    match &w.statuses(0)[..] {
        [ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(r))] => {
            assert_eq!(
                (r.class, r.text.as_str()),
                (ErrorClass::Permission, reason),
                "the server's words, verbatim"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.client.state(), ConnectionState::Open, "the socket is fine");
}

#[test]
fn a_rate_limited_join_waits_the_longest_step() {
    let (mut w, _) = World::subscribing(
        World::config(),
        21,
        JoinMode::ErrorWith("ChannelRateLimitReached: Too many channels"),
    );
    w.run_for(25 * S);
    let joins: Vec<_> =
        w.events.iter().filter(|(_, e)| matches!(e, Event::Status { .. })).map(|(t, _)| *t).collect();
    let ms = |m: u64| Instant::ZERO + Duration::from_millis(m);
    // Refused at 40 ms, rejoined 10 s later (not 1 s), refused again 20 ms after that.
    assert_eq!(joins, [ms(40), ms(10_060), ms(20_080)]);
}

#[test]
fn a_system_error_is_reported_with_its_class_before_the_close() {
    let (mut w, ch) = World::joined(World::config());
    let jr = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    let from = w.events.len();
    w.with_server(|s| {
        let payload = json!({"extension": "system", "status": "error", "message": "Token has expired 3 seconds ago", "channel": "room1"});
        s.send(Some(&jr), None, "realtime:room1", "system", payload);
        s.send(Some(&jr), Some(&jr), "realtime:room1", "phx_close", json!({}));
    });
    w.run_for(S);
    match &w.statuses(from)[..] {
        [ChannelStatus::ChannelError(ChannelErrorReason::System(r)), ChannelStatus::Closed] => {
            assert_eq!(r.class, ErrorClass::Token);
            assert_eq!(r.text, "Token has expired 3 seconds ago");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    // A system message with status ok is only a message.
    let (mut w, _) = World::joined(World::config());
    let from = w.events.len();
    w.with_server(|s| {
        s.send(
            None,
            None,
            "realtime:room1",
            "system",
            json!({"extension":"system","status":"ok","message":"Server requested disconnect"}),
        )
    });
    w.run_for(S);
    assert!(w.statuses(from).is_empty());
}

#[test]
fn presence_is_applied_and_what_the_app_tracks_is_tracked_again_after_a_rejoin() {
    use realtime_core::phoenix::presence::PresenceEvent;
    let (mut w, ch) = World::joined_with(World::config(), ChannelConfig::new().presence_enabled(true));
    w.client.track(w.now, ch, r#"{"user":"ana"}"#).unwrap();
    w.run_for(S);
    let tracks = |w: &World| {
        w.frames
            .iter()
            .filter(|(_, f)| f.event == "presence")
            .map(|(c, f)| (*c, f.payload.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(tracks(&w), [(1, json!({"type": "presence", "event": "track", "payload": {"user": "ana"}}))]);
    let jr = frames_with_event(&w, "phx_join")[0].1.msg_ref.clone().unwrap();
    let from = w.events.len();
    w.with_server(|s| {
        s.send(
            Some(&jr),
            None,
            "realtime:room1",
            "presence_state",
            json!({"ana": {"metas": [{"phx_ref": "r1", "user": "ana"}]}}),
        );
        s.send(
            Some("999"),
            None,
            "realtime:room1",
            "presence_diff",
            json!({"joins": {"old": {"metas": [{"phx_ref": "x"}]}}}),
        );
        s.send(
            Some(&jr),
            None,
            "realtime:room1",
            "presence_diff",
            json!({"joins": {"bo": {"metas": [{"phx_ref": "r2"}]}}, "leaves": {}}),
        );
        s.send(Some(&jr), None, "realtime:room1", "presence_diff", json!({"joins": 5}));
    });
    w.run_for(S);
    let presence: Vec<_> = w.events[from..]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Presence { events, .. } => Some(
                events
                    .iter()
                    .filter_map(|e| match e {
                        PresenceEvent::Join { key, .. } => Some(key.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            ),
            Event::PresenceError { .. } => Some(vec!["error".into()]),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(
        presence,
        ["ana", "bo", "error"],
        "the stale diff is dropped; a malformed one is a typed error"
    );
    assert_eq!(w.client.presence(ch).unwrap().list().len(), 2);
    // A reconnect: the server forgot the presence, the client tracks it again once joined.
    w.reset();
    w.run_for(2 * S);
    let t = tracks(&w);
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].0, 2, "on the new connection");
    assert_eq!(t[1].1["payload"], json!({"user": "ana"}));
    // Untrack: no more re-tracks.
    w.client.untrack(w.now, ch).unwrap();
    w.run_for(S);
    w.reset();
    w.run_for(2 * S);
    let t = tracks(&w);
    assert_eq!(t.last().unwrap().1, json!({"type": "presence", "event": "untrack"}));
    assert_eq!(t.iter().filter(|(_, p)| p["event"] == "track").count(), 2);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn presence_calls_stay_within_the_servers_budget_and_coalesce() {
    let (mut w, ch) = World::joined_with(World::config(), ChannelConfig::new().presence_enabled(true));
    let presence = |w: &World| {
        w.frames
            .iter()
            .filter(|(_, f)| f.event == "presence")
            .map(|(_, f)| f.payload.clone())
            .collect::<Vec<_>>()
    };
    for i in 0..8 {
        w.client.track(w.now, ch, &format!(r#"{{"n":{i}}}"#)).unwrap();
    }
    w.run_for(29 * S);
    assert_eq!(presence(&w).len(), 5, "the budget: 5 calls per 30 s");
    w.run_for(2 * S);
    let calls: Vec<_> = presence(&w).iter().map(|p| p["payload"]["n"].clone()).collect();
    assert_eq!(
        calls,
        [json!(0), json!(1), json!(2), json!(3), json!(4), json!(7)],
        "then the latest payload, once"
    );
    // An untrack in a full window waits too, and goes once.
    for i in 0..4 {
        w.client.track(w.now, ch, &format!(r#"{{"m":{i}}}"#)).unwrap();
    }
    w.client.untrack(w.now, ch).unwrap();
    w.run_for(60 * S);
    let events: Vec<_> = presence(&w).iter().map(|p| p["event"].clone()).collect();
    assert_eq!(events.iter().filter(|e| **e == json!("untrack")).count(), 1);
    assert_eq!(events.last(), Some(&json!("untrack")));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
