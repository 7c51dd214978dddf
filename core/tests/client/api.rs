//! The client's commands and getters for runtimes: the connect target, handle claims, the
//! close code of a disconnect, and what `subscribe` answers.

use std::time::Duration;

use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelState, ChannelStatus, Client, ClientConfig, ConfigError,
    ConnectionState, DisconnectError, Subscription, Target, TransportCommand, TransportKind,
};
use realtime_core::phoenix::endpoint::EndpointError;
use realtime_core::supabase::channel_config::{ChannelConfig, DEFAULT_POSTGRES_READY_TIMEOUT};
use realtime_core::supabase::postgres::{Binding, ChangeEvent};
use serde_json::json;

use crate::server::JoinMode;
use crate::world::World;

const S: Duration = Duration::from_secs(1);

#[test]
fn the_target_is_parsed_once_and_rides_every_open() {
    let client = Client::new(ClientConfig::new("https://p.supabase.co/realtime/v1", "k"), [0; 32]).unwrap();
    assert_eq!(
        client.target(),
        &Target {
            host: "p.supabase.co".into(),
            port: 443,
            tls: true,
            path: "/realtime/v1/websocket?apikey=k&vsn=2.0.0".into()
        }
    );
    let mut client =
        Client::new(ClientConfig::new("ws://[::1]:4000/socket/websocket", "k"), [0; 32]).unwrap();
    assert_eq!(
        (client.target().host.as_str(), client.target().port, client.target().tls),
        ("::1", 4000, false)
    );
    client.connect(realtime_core::Instant::ZERO);
    let Some(TransportCommand::Open { target, .. }) = client.poll_transport() else { panic!("no open") };
    assert_eq!(&target, client.target());
}

#[test]
fn an_unusable_endpoint_fails_construction() {
    // Each says what is wrong: the scheme or host, the port, or what a WebSocket URL cannot
    // carry.
    for (endpoint, why) in [
        ("ftp://h/realtime/v1", EndpointError::InvalidBase),
        ("https://", EndpointError::InvalidBase),
        ("ws://:80/x", EndpointError::InvalidBase),
        ("ws://h:99999", EndpointError::InvalidPort),
        ("ws://h:0/", EndpointError::InvalidPort),
        ("ws://u@h/x", EndpointError::Unsupported),
    ] {
        let err = Client::new(ClientConfig::new(endpoint, "k"), [0; 32]).unwrap_err();
        assert_eq!(err, ConfigError::Endpoint(why), "{endpoint}");
    }
}

fn pg_live(w: &mut World) {
    w.with_server(|s| {
        let p =
            json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL"});
        s.send(None, None, "realtime:room1", "system", p);
    });
}

fn ready_config() -> ChannelConfig {
    ChannelConfig::new()
        .postgres_changes(Binding::new(ChangeEvent::All, "public").table("rooms"))
        .wait_for_postgres_ready(DEFAULT_POSTGRES_READY_TIMEOUT)
}

#[test]
fn subscribe_answers_subscribed_for_a_joined_channel_and_nothing_follows() {
    let (mut w, ch) = World::joined(World::config());
    let (events, frames) = (w.events.len(), w.frames.len());
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Subscribed));
    w.run_for(S);
    assert_eq!(w.statuses(events), []);
    assert!(w.frames[frames..].iter().all(|(_, f)| f.event != "phx_join"), "no second join");
}

#[test]
fn subscribe_is_pending_until_the_next_status() {
    let mut w = World::new(World::config(), 40);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Pending));
    w.run_for(S);
    assert_eq!(w.statuses(0), [ChannelStatus::Subscribed]);
    // A refused join: the next status is the refusal.
    let (mut w, ch) = World::subscribing(World::config(), 41, JoinMode::ErrorWith("Unauthorized: no"));
    w.run_for(S);
    assert!(matches!(w.statuses(0)[..], [ChannelStatus::ChannelError(_)]), "{:?}", w.statuses(0));
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Pending), "closed again: a new join");
}

#[test]
fn in_the_ready_mode_subscribe_waits_for_the_changes_to_go_live() {
    let (mut w, ch) = World::subscribing_with(World::config(), ready_config(), 42, JoinMode::Ok);
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Pending), "joined, not live");
    let from = w.events.len();
    pg_live(&mut w);
    w.run_for(S);
    assert_eq!(w.statuses(from), [ChannelStatus::Subscribed]);
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Subscribed), "live");
}

#[test]
fn in_the_ready_mode_a_wait_that_ran_out_starts_again() {
    let (mut w, ch) = World::subscribing_with(World::config(), ready_config(), 43, JoinMode::Ok);
    w.run_for(DEFAULT_POSTGRES_READY_TIMEOUT + S);
    let not_ready = ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady);
    assert_eq!(w.statuses(0), std::slice::from_ref(&not_ready));
    let from = w.events.len();
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Pending));
    w.run_for(DEFAULT_POSTGRES_READY_TIMEOUT - S);
    assert_eq!(w.statuses(from), [], "a full wait again");
    w.run_for(2 * S);
    assert_eq!(w.statuses(from), [not_ready], "this call's outcome");
}

#[test]
fn subscribe_while_leaving_answers_with_the_new_join_not_the_leave() {
    let (mut w, ch) = World::joined(World::config());
    w.client.unsubscribe(w.now, ch).unwrap();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Leaving));
    let from = w.events.len();
    assert_eq!(w.client.subscribe(w.now, ch), Ok(Subscription::Pending));
    w.run_for(S);
    assert_eq!(
        w.statuses(from),
        [ChannelStatus::Subscribed],
        "the leave's Closed is not this call's outcome"
    );
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_retained_channel_needs_one_more_remove() {
    let (mut w, ch) = World::joined(World::config());
    w.client.retain_channel(ch).unwrap();
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined), "the clone still holds it");
    assert!(w.frames.iter().all(|(_, f)| f.event != "phx_leave"));
    w.client.remove_channel(w.now, ch).unwrap();
    assert_eq!(w.client.retain_channel(ch), Err(ChannelError::UnknownChannel), "nobody holds it");
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), None, "left and deleted");
    assert_eq!(w.frames.iter().filter(|(_, f)| f.event == "phx_leave").count(), 1);
    assert_eq!(w.client.retain_channel(ch), Err(ChannelError::UnknownChannel));
}

#[test]
fn disconnect_with_puts_the_code_and_reason_in_the_close_frame() {
    let (mut w, _) = World::joined(World::config());
    w.client.disconnect_with(w.now, 4001, "signed out").unwrap();
    w.run_for(S);
    assert_eq!(w.closes, [(4001, "signed out".to_string())]);
    assert_eq!(w.client.state(), ConnectionState::Disconnected);
    // `disconnect` means 1000.
    w.client.connect(w.now);
    w.run_for(S);
    w.client.disconnect(w.now);
    w.run_for(S);
    assert_eq!(w.closes[1..], [(1000, String::new())]);
}

#[test]
fn disconnect_with_refuses_codes_and_reasons_a_close_frame_cannot_carry() {
    let (mut w, _) = World::joined(World::config());
    for code in [0, 999, 1001, 1005, 1006, 1011, 2999, 5000, 65535] {
        assert_eq!(w.client.disconnect_with(w.now, code, ""), Err(DisconnectError::InvalidCode(code)));
    }
    let long = "é".repeat(62);
    assert_eq!(
        w.client.disconnect_with(w.now, 1000, &long),
        Err(DisconnectError::ReasonTooLong { len: 124 })
    );
    w.run_for(S);
    assert_eq!(w.client.state(), ConnectionState::Open, "refused: nothing changed");
    assert!(w.closes.is_empty());
    let longest = "x".repeat(123);
    w.client.disconnect_with(w.now, 3000, &longest).unwrap();
    w.run_for(S);
    assert_eq!(w.closes, [(3000, longest)]);
}

#[test]
fn a_self_framing_transport_is_told_the_code() {
    let mut config = World::config();
    config.transport = TransportKind::Messages;
    let mut client = Client::new(config, [0; 32]).unwrap();
    let t = realtime_core::Instant::ZERO;
    client.connect(t);
    let Some(TransportCommand::Open { id, .. }) = client.poll_transport() else { panic!("no open") };
    client.handle_transport_open(t, id);
    assert_eq!(client.state(), ConnectionState::Open);
    client.disconnect_with(t, 4999, "bye").unwrap();
    assert_eq!(client.poll_transport(), Some(TransportCommand::Close { code: 4999, reason: "bye".into() }));
    // The next connection's end is not the app's: 1000 again.
    client.connect(t);
    let Some(TransportCommand::Open { id, .. }) = client.poll_transport() else { panic!("no open") };
    client.handle_transport_open(t, id);
    client.handle_transport_closed(t, id, realtime_core::client::TransportClosed::Error);
    assert_eq!(client.poll_transport(), None, "a transport that is gone is not closed");
    client.connect(t);
    let Some(TransportCommand::Open { id, .. }) = client.poll_transport() else { panic!("no open") };
    client.handle_transport_open(t, id);
    client.disconnect(t);
    assert_eq!(client.poll_transport(), Some(TransportCommand::Close { code: 1000, reason: String::new() }));
}

#[test]
fn a_self_framing_transports_message_over_the_limit_closes_with_1009() {
    let mut config = World::config();
    config.transport = TransportKind::Messages;
    config.ws.max_message_len = 1024;
    let mut client = Client::new(config, [0; 32]).unwrap();
    let t = realtime_core::Instant::ZERO;
    client.connect(t);
    let Some(TransportCommand::Open { id, .. }) = client.poll_transport() else { panic!("no open") };
    client.handle_transport_open(t, id);
    // At the limit: read (and skipped as undecodable, the connection stays).
    client.handle_message(t, realtime_core::ws::Message::Text("x".repeat(1024)));
    assert_eq!(client.state(), ConnectionState::Open);
    assert_eq!(client.poll_transport(), None);
    // One byte over: the connection ends with 1009 and a reconnect is planned.
    client.handle_message(t, realtime_core::ws::Message::Binary(vec![0; 1025]));
    assert_eq!(
        client.poll_transport(),
        Some(TransportCommand::Close { code: 1009, reason: "message too long".into() })
    );
    let end = std::iter::from_fn(|| client.poll_event()).find_map(|e| match e {
        realtime_core::client::Event::Disconnected { end, next } => Some((end, next)),
        _ => None,
    });
    let Some((end, next)) = end else { panic!("no Disconnected") };
    let too_long = realtime_core::ws::Error::MessageTooLong { len: 1025, max: 1024 };
    assert_eq!(end, realtime_core::client::ConnectionEnd::WebSocket(too_long));
    assert!(matches!(next, realtime_core::client::Next::Reconnect { .. }), "{next:?}");
}
