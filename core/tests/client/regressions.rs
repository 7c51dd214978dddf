//! Cases found by a second read of the client: each failed before its fix.

use std::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{
    ChannelState, ChannelStatus, ConnectionEnd, ConnectionState, Event, Next, PushBody, PushOutcome,
    TransportClosed, TransportCommand,
};
use realtime_core::client::{Client, TransportKind};
use realtime_core::phoenix::ending::StopReason;
use realtime_core::phoenix::serializer::Payload;
use realtime_core::supabase::channel_config::ChannelConfig;
use realtime_core::ws::Message;
use serde_json::json;

use crate::server::server_frame;
use crate::world::World;

const S: Duration = Duration::from_secs(1);

fn body() -> PushBody {
    PushBody::Json { event: "x".into(), payload: "{}".into() }
}

#[test]
fn subscribe_and_connect_while_a_disconnect_closes_reconnect_after_it() {
    let (mut w, _) = World::joined(World::config());
    w.client.disconnect(w.now);
    assert_eq!(w.client.state(), ConnectionState::Closing);
    let ch2 = w.client.channel(w.now, "room2", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch2).unwrap();
    w.run_for(5 * S);
    assert_eq!(w.client.state(), ConnectionState::Open);
    assert_eq!(w.client.channel_state(ch2), Some(ChannelState::Joined));
    assert_eq!(w.connections, 2);
}

#[test]
fn the_idle_disconnect_is_armed_when_the_last_leave_dies_with_the_connection() {
    let (mut w, ch) = World::joined(World::config());
    w.client.remove_channel(w.now, ch).unwrap();
    w.reset(); // before the leave's reply
    w.run_for(120 * S);
    assert_eq!(w.client.channels().count(), 0);
    assert_eq!(w.client.state(), ConnectionState::Disconnected);
}

fn messages_client() -> Client {
    let mut c = World::config();
    c.transport = TransportKind::Messages;
    Client::new(c, [5; 32]).unwrap()
}

#[test]
fn a_late_report_about_an_older_transport_is_ignored() {
    let t0 = Instant::ZERO;
    let mut client = messages_client();
    client.connect(t0);
    let Some(TransportCommand::Open { id: old, .. }) = client.poll_transport() else { panic!() };
    client.handle_transport_open(t0, old);
    client.handle_transport_closed(t0, old, TransportClosed::Eof);
    assert_eq!(client.poll_transport(), None, "a transport reported closed is not asked to close");
    let t = client.poll_timeout().unwrap();
    client.handle_timeout(t);
    let Some(TransportCommand::Open { id: new, .. }) = client.poll_transport() else { panic!() };
    assert_ne!(old, new);
    client.handle_transport_closed(t, old, TransportClosed::Error);
    assert_eq!(client.state(), ConnectionState::Connecting, "the stale report changed nothing");
    client.handle_transport_open(t, old);
    assert_eq!(client.state(), ConnectionState::Connecting, "a stale open is ignored too");
    client.handle_transport_open(t, new);
    assert_eq!(client.state(), ConnectionState::Open);
}

#[test]
fn a_connect_that_never_resolves_times_out() {
    let mut w = World::new(World::config(), 1);
    w.client.connect(w.now);
    assert!(matches!(w.client.poll_transport(), Some(TransportCommand::Open { .. })));
    let t = w.client.poll_timeout().expect("a connect deadline");
    assert_eq!(t, w.now + 10 * S, "the handshake timeout bounds the whole attempt");
    w.client.handle_timeout(t);
    assert!(matches!(w.client.poll_transport(), Some(TransportCommand::Close { .. })));
    let ended =
        std::iter::from_fn(|| w.client.poll_event()).find(|e| matches!(e, Event::Disconnected { .. }));
    assert_eq!(
        ended,
        Some(Event::Disconnected {
            end: ConnectionEnd::ConnectTimeout,
            next: Next::Reconnect { after: S, attempt: 1 }
        })
    );
}

#[test]
fn joins_always_go_out_whatever_the_push_bound() {
    let mut c = World::config();
    c.max_outgoing = 2;
    let mut w = World::new(c, 1);
    let ids: Vec<_> = (0..4)
        .map(|i| {
            let id = w.client.channel(w.now, &format!("r{i}"), ChannelConfig::new()).unwrap();
            w.client.subscribe(w.now, id).unwrap();
            id
        })
        .collect();
    w.run_for(S);
    assert_eq!(w.frames.iter().filter(|(_, f)| f.event == "phx_join").count(), 4);
    for id in ids {
        assert_eq!(w.client.channel_state(id), Some(ChannelState::Joined));
    }
}

#[test]
fn a_zero_idle_delay_keeps_the_deadline_ahead() {
    let mut c = World::config();
    c.disconnect_when_empty = Some(Duration::ZERO);
    let (mut w, ch) = World::joined(c);
    w.dead = true;
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(11 * S); // the world panics if a deadline is left behind
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_transport_reported_closed_is_not_asked_to_close() {
    let (mut w, _) = World::joined(World::config());
    w.reset(); // the world reports the current transport closed (EOF)
    let cmds: Vec<_> = std::iter::from_fn(|| w.client.poll_transport()).collect();
    assert!(cmds.iter().all(|c| !matches!(c, TransportCommand::Close { .. })), "{cmds:?}");
}

#[test]
fn heartbeat_builder_saturates() {
    let c = World::config().heartbeat(Duration::MAX);
    assert_eq!(c.disconnect_when_empty, Some(Duration::MAX));
}

#[test]
fn the_idle_stop_while_waiting_is_reported() {
    let (mut w, ch) = World::joined(World::config());
    w.refuse_tcp = true;
    w.reset();
    w.client.remove_channel(w.now, ch).unwrap();
    let from = w.events.len();
    w.run_for(60 * S);
    let stops = w.events[from..]
        .iter()
        .filter(|(_, e)| matches!(e, Event::Disconnected { next: Next::Stop(StopReason::Idle), .. }))
        .count();
    assert_eq!(stops, 1);
    assert_eq!(w.client.state(), ConnectionState::Disconnected);
}

#[test]
fn after_the_servers_close_frame_the_socket_is_offline_at_once() {
    let (mut w, ch) = World::joined(World::config());
    let mut p = 1001u16.to_be_bytes().to_vec();
    p.extend_from_slice(b"bye");
    let frame = server_frame(8, &p);
    assert_eq!(w.client.handle_input(w.now, &frame), frame.len());
    assert!(matches!(w.client.state(), ConnectionState::WaitingToReconnect { .. }));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Errored));
    // A push now waits for the next connection instead of going into the closing socket.
    let p = w.client.push(w.now, ch, body()).unwrap();
    w.settle();
    w.run_for(3 * S);
    assert!(matches!(
        w.events.iter().find_map(|(_, e)| match e {
            Event::Push { push, outcome, .. } if *push == p => Some(outcome.clone()),
            _ => None,
        }),
        Some(PushOutcome::Ok(_))
    ));
}

#[test]
fn a_new_handle_takes_over_a_channel_that_is_leaving() {
    let (mut w, ch) = World::joined(World::config());
    w.client.remove_channel(w.now, ch).unwrap();
    let config = ChannelConfig::new().broadcast_self(true);
    let again = w.client.channel(w.now, "room1", config).unwrap();
    assert_ne!(again, ch, "the old id is stale");
    w.client.subscribe(w.now, again).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(again), Some(ChannelState::Joined), "joined again after the leave");
    let joins: Vec<_> = w.frames.iter().filter(|(_, f)| f.event == "phx_join").collect();
    assert_eq!(joins.len(), 2);
    assert_eq!(joins[1].1.payload["config"]["broadcast"]["self"], json!(true), "with the new config");
    let statuses: Vec<_> = w
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Status { status, .. } => Some(status.clone()),
            _ => None,
        })
        .collect();
    // The old owner's Subscribed, then the new owner's (the leave's Closed was the old owner's,
    // who let go of the channel).
    assert_eq!(statuses, [ChannelStatus::Subscribed, ChannelStatus::Subscribed]);
}

#[test]
fn lifecycle_events_naming_no_join_are_ignored() {
    let (mut w, ch) = World::joined(World::config());
    w.with_server(|s| s.send(None, None, "realtime:room1", "phx_close", json!({})));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_push_whose_timeout_passed_is_not_flushed() {
    let t0 = Instant::ZERO;
    let mut c = messages_client();
    let ch = c.channel(t0, "room1", ChannelConfig::new()).unwrap();
    c.subscribe(t0, ch).unwrap();
    let Some(TransportCommand::Open { id, .. }) = c.poll_transport() else { panic!() };
    c.handle_transport_open(t0, id);
    let _join = c.poll_message().unwrap();
    let p = c.push_with_timeout(t0, ch, body(), S).unwrap();
    // The join reply is handled after the push's deadline, before any handle_timeout.
    let reply = r#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#;
    c.handle_message(t0 + 2 * S, Message::Text(reply.into()));
    assert_eq!(c.poll_message(), None, "never written");
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert!(
        events.contains(&Event::Push { channel: ch, push: p, outcome: PushOutcome::TimedOut }),
        "{events:?}"
    );
}

#[test]
fn rate_limited_reconnects_respect_the_attempt_limit() {
    let mut c = World::config();
    c.reconnect = c.reconnect.clone().with_max_attempts(2).unwrap();
    let mut w = World::new(c, 4);
    w.behaviour.reject_upgrade = Some(429);
    w.client.connect(w.now);
    w.run_for(60 * S);
    let nexts: Vec<_> = w
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Disconnected { next, .. } => Some(*next),
            _ => None,
        })
        .collect();
    assert_eq!(
        nexts,
        [
            Next::Reconnect { after: 10 * S, attempt: 1 },
            Next::Reconnect { after: 10 * S, attempt: 2 },
            Next::Stop(StopReason::RetriesExhausted)
        ]
    );
}

#[test]
fn byte_input_stops_when_the_event_queue_is_full_and_resumes_after_draining() {
    let mut config = World::config();
    config.max_events = 3;
    let (mut w, ch) = World::joined(config);
    let mut wire = Vec::new();
    for i in 0..20 {
        let text = format!(r#"[null,null,"realtime:room1","broadcast",{{"i":{i}}}]"#);
        wire.extend(server_frame(1, text.as_bytes()));
    }
    let mut used = 0;
    let mut seen = Vec::new();
    let mut calls = 0;
    while used < wire.len() {
        let n = w.client.handle_input(w.now, &wire[used..]);
        used += n;
        calls += 1;
        let mut batch = 0;
        while let Some(e) = w.client.poll_event() {
            if let Event::Message { channel, message } = e {
                assert_eq!(channel, ch);
                let Payload::Json(p) = message.payload() else { panic!() };
                seen.push(p.to_string());
                batch += 1;
            }
        }
        assert!(batch <= 3 + 16, "the queue bound holds within one WebSocket batch");
    }
    assert!(calls > 1, "input was taken in several calls");
    let want: Vec<_> = (0..20).map(|i| format!(r#"{{"i":{i}}}"#)).collect();
    assert_eq!(seen, want, "all of them, in order");
}

#[test]
fn a_transport_lost_during_a_manual_close_keeps_the_asked_for_reconnect() {
    let (mut w, _) = World::joined(World::config());
    w.client.disconnect(w.now);
    assert_eq!(w.client.state(), ConnectionState::Closing);
    w.client.connect(w.now);
    let from = w.events.len();
    w.reset(); // TCP dies before the server's close reply arrives
    let ends: Vec<_> = w.events[from..]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Disconnected { end, next } => Some((end.clone(), *next)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(ConnectionEnd::Manual, Next::Reconnect { after: Duration::ZERO, attempt: 1 })]);
    w.run_for(S);
    assert_eq!(w.client.state(), ConnectionState::Open);
    assert_eq!(w.connections, 2, "no wasted transport");
}

#[test]
fn connection_ends_carry_their_class() {
    use realtime_core::supabase::reason::ErrorClass;
    let mut w = World::new(World::config(), 50);
    w.behaviour.reject_upgrade = Some(401);
    w.client.connect(w.now);
    w.run_for(S / 2);
    let ends: Vec<_> = w
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Disconnected { end, next } => Some((end.class(), *next)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, [(Some(ErrorClass::Token), Next::Stop(StopReason::Auth { status: 401 }))]);
    let (mut w, _) = World::joined(World::config());
    w.dead = true;
    w.run_for(60 * S);
    let first = w.events.iter().find_map(|(_, e)| match e {
        Event::Disconnected { end, .. } => Some(end.class()),
        _ => None,
    });
    assert_eq!(first, Some(Some(ErrorClass::Timeout)));
    assert_eq!(ConnectionEnd::Manual.class(), None);
}
