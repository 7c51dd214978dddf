//! Plain Phoenix channels (the generic layer): any topic, the app's join params verbatim, no API
//! key, the app's own events both ways, presence from the server, and none of Supabase's
//! additions (tokens, broadcast, tracking, postgres changes, the error classes).

use std::time::Duration;

use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelId, ChannelState, ChannelStatus, ClientConfig, Event, PushBody,
    PushError, PushOutcome,
};
use realtime_core::phoenix::presence::PresenceEvent;
use realtime_core::phoenix::serializer::{BroadcastData, Vsn};
use realtime_core::supabase::channel_config::ChannelConfig;
use realtime_core::supabase::postgres::{Binding, ChangeEvent};
use realtime_core::supabase::reason::ErrorClass;
use serde_json::json;

use crate::server::JoinMode;
use crate::world::{World, jwt};

const S: Duration = Duration::from_secs(1);
const PARAMS: &str = r#"{"user":"ada","n":1}"#;

fn config() -> ClientConfig {
    ClientConfig::phoenix("ws://sim.test/socket")
}

/// A world with `room:lobby` subscribing as a plain Phoenix channel, nothing run yet.
fn subscribing(config: ClientConfig, join: JoinMode) -> (World, ChannelId) {
    let mut w = World::new(config, 7);
    w.behaviour.join = join;
    let ch = w.client.phoenix_channel(w.now, "room:lobby", PARAMS).expect("channel");
    w.client.subscribe(w.now, ch).expect("subscribe");
    (w, ch)
}

fn joined() -> (World, ChannelId) {
    let (mut w, ch) = subscribing(config(), JoinMode::Ok);
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    (w, ch)
}

/// The joins the servers received, in order: (topic, payload).
fn joins(w: &World) -> Vec<(String, serde_json::Value)> {
    w.frames
        .iter()
        .filter(|(_, f)| f.event == "phx_join")
        .map(|(_, f)| (f.topic.clone(), f.payload.clone()))
        .collect()
}

#[test]
fn the_endpoint_has_no_api_key_and_no_client_info() {
    let mut c = config();
    c.params.push(("token".into(), "user-token".into()));
    let w = World::new(c, 1);
    assert_eq!(w.client.url(), "ws://sim.test/socket/websocket?token=user-token&vsn=2.0.0");
    assert!(w.client.headers().is_empty(), "{:?}", w.client.headers());
    // A Realtime config still insists on its key.
    let mut c = World::config();
    c.api_key = Some(String::new());
    assert!(realtime_core::client::Client::new(c, [0; 32]).is_err());
}

#[test]
fn a_phoenix_channel_joins_its_topic_with_the_apps_params_verbatim() {
    let (mut w, ch) = joined();
    assert_eq!(w.client.channel_topic(ch), Some("room:lobby"));
    assert_eq!(joins(&w), [("room:lobby".to_string(), json!({"user": "ada", "n": 1}))]);
    // A rejoin after the server drops the connection carries the same params.
    w.reset();
    w.run_for(5 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    let all = joins(&w);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], all[0]);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn the_apps_events_go_both_ways() {
    let (mut w, ch) = joined();
    let body = PushBody::Json { event: "new_msg".into(), payload: r#"{"body":"hi"}"#.into() };
    let push = w.client.push(w.now, ch, body).unwrap();
    w.run_for(S);
    let pushed = w.frames.iter().find(|(_, f)| f.event == "new_msg").expect("pushed").1.clone();
    assert_eq!((pushed.topic.as_str(), pushed.payload.clone()), ("room:lobby", json!({"body": "hi"})));
    assert!(w.events.iter().any(|(_, e)| matches!(e,
        Event::Push { push: p, outcome: PushOutcome::Ok(r), .. } if *p == push && r == r#"{"echo":"new_msg"}"#)));
    // The server's own events, `system` and `broadcast` included, are the app's messages.
    let from = w.events.len();
    w.with_server(|s| {
        let jr = s.joined["room:lobby"].clone();
        s.send(Some(&jr), None, "room:lobby", "new_msg", json!({"body": "yo"}));
        s.send(
            Some(&jr),
            None,
            "room:lobby",
            "system",
            json!({"status": "error", "message": "Token expired"}),
        );
        s.send(Some(&jr), None, "room:lobby", "broadcast", json!({"any": "shape"}));
    });
    w.run_for(S);
    let got: Vec<(String, String)> = w
        .events_since(from)
        .into_iter()
        .map(|e| match e {
            Event::Message { channel, message } if *channel == ch => {
                (message.event().to_string(), format!("{:?}", message.payload()))
            }
            other => panic!("only messages, got {other:?}"),
        })
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got.iter().map(|(e, _)| e.as_str()).collect::<Vec<_>>(), ["new_msg", "system", "broadcast"]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_refused_join_is_retried_whatever_the_reason_says() {
    // Realtime would stop on "Unauthorized"; a Phoenix server's reasons are its app's, and
    // phoenix.js rejoins on the schedule.
    let (mut w, ch) = subscribing(config(), JoinMode::ErrorWith("Unauthorized: not you"));
    w.run_for(S);
    let first = w.statuses(0);
    let Some(ChannelStatus::ChannelError(ChannelErrorReason::JoinRejected(reason))) = first.first() else {
        panic!("{first:?}")
    };
    assert_eq!((reason.class, reason.text.as_str()), (ErrorClass::Unknown, "Unauthorized: not you"));
    w.run_for(20 * S);
    assert!(joins(&w).len() >= 4, "rejoined on the 1, 2, 5, 10 s schedule: {:?}", joins(&w).len());
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Errored));
    w.behaviour.join = JoinMode::Ok;
    w.with_server(|s| s.behaviour.join = JoinMode::Ok);
    w.run_for(15 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));

    // The same reason on a Realtime channel is final.
    let (mut w, ch) = World::subscribing(World::config(), 7, JoinMode::ErrorWith("Unauthorized: not you"));
    w.run_for(30 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert_eq!(joins(&w).len(), 1);
}

#[test]
fn presence_from_the_server_is_kept() {
    let (mut w, ch) = joined();
    let from = w.events.len();
    w.with_server(|s| {
        let jr = s.joined["room:lobby"].clone();
        let state = json!({"ada": {"metas": [{"phx_ref": "r1", "online_at": 1}]}});
        s.send(Some(&jr), None, "room:lobby", "presence_state", state);
        let diff = json!({"joins": {"bob": {"metas": [{"phx_ref": "r2"}]}}, "leaves": {}});
        s.send(Some(&jr), None, "room:lobby", "presence_diff", diff);
    });
    w.run_for(S);
    let joins: Vec<String> = w
        .events_since(from)
        .into_iter()
        .filter_map(|e| match e {
            Event::Presence { channel, events } if *channel == ch => Some(events.clone()),
            _ => None,
        })
        .flatten()
        .filter_map(|e| match e {
            PresenceEvent::Join { key, .. } => Some(key),
            _ => None,
        })
        .collect();
    assert_eq!(joins, ["ada", "bob"]);
    let keys: Vec<&str> = w.client.presence(ch).unwrap().list().keys().collect();
    assert_eq!(keys, ["ada", "bob"]);
    // No join asked for presence: a Phoenix server decides that itself.
    assert!(self::joins(&w)[0].1.get("config").is_none());
}

#[test]
fn supabase_features_are_refused_on_a_phoenix_channel() {
    let (mut w, ch) = joined();
    let now = w.now;
    let data = || BroadcastData::Json("{}".into());
    assert_eq!(w.client.broadcast(now, ch, "e", data(), false), Err(PushError::NotRealtime));
    assert_eq!(w.client.track(now, ch, "{}"), Err(PushError::NotRealtime));
    assert_eq!(w.client.untrack(now, ch), Err(PushError::NotRealtime));
    let user = PushBody::UserBroadcast { event: "e".into(), meta: None, data: data() };
    assert_eq!(w.client.push(now, ch, user), Err(PushError::NotRealtime));
    let (mut w2, closed) = subscribing(config(), JoinMode::Silent);
    w2.client.unsubscribe(w2.now, closed).unwrap();
    w2.run_for(S);
    let binding = Binding::new(ChangeEvent::All, "public");
    assert_eq!(w2.client.add_postgres_changes(w2.now, closed, binding), Err(ChannelError::NotRealtime));
    // Presence needs nothing from the join: no rejoin.
    let joins_before = joins(&w).len();
    w.client.enable_presence(now, ch).unwrap();
    w.run_for(S);
    assert_eq!(joins(&w).len(), joins_before);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn topics_and_params_are_checked() {
    let mut w = World::new(config(), 3);
    let now = w.now;
    assert_eq!(w.client.phoenix_channel(now, "phoenix", "{}"), Err(ChannelError::ReservedTopic));
    for bad in ["", "[]", "1", "{", r#"{"a":}"#, "null"] {
        assert_eq!(w.client.phoenix_channel(now, "t", bad), Err(ChannelError::InvalidParams), "{bad:?}");
    }
    let a = w.client.phoenix_channel(now, "room:1", "{}").unwrap();
    let b = w.client.phoenix_channel(now, "room:1", " {} ").map_err(|e| e.to_string());
    assert_eq!(b, Err(ChannelError::ConfigMismatch.to_string()), "params differ as text");
    let again = w.client.phoenix_channel(now, "room:1", "{}").unwrap();
    assert_eq!(again, a);
    assert_eq!(w.client.channel_handles(a), Some(2));
    // A Realtime channel and a Phoenix one for the same topic are not the same channel.
    let rt = w.client.channel(now, "x", ChannelConfig::new()).unwrap();
    assert_eq!(w.client.phoenix_channel(now, "realtime:x", "{}"), Err(ChannelError::ConfigMismatch));
    assert_eq!(w.client.channel_topic(rt), Some("realtime:x"));
}

#[test]
fn tokens_stay_with_realtime_channels() {
    let mut c = config();
    c.token_source = true;
    let mut w = World::new(c, 9);
    let ph = w.client.phoenix_channel(w.now, "room:lobby", PARAMS).unwrap();
    w.client.subscribe(w.now, ph).unwrap();
    w.run_for(S);
    // The token source holds no Phoenix join.
    assert_eq!(w.client.channel_state(ph), Some(ChannelState::Joined));
    let rt = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, rt).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(rt), Some(ChannelState::Joining), "held for the token");
    w.client.set_access_token(w.now, Some(jwt(4_000_000_000)));
    w.run_for(S);
    assert_eq!(w.client.channel_state(rt), Some(ChannelState::Joined));
    // A newer token goes to the joined channels, the Realtime one only.
    w.client.set_access_token(w.now, Some(jwt(4_000_000_001)));
    w.run_for(S);
    let tokens: Vec<String> =
        w.frames.iter().filter(|(_, f)| f.event == "access_token").map(|(_, f)| f.topic.clone()).collect();
    assert_eq!(tokens, ["realtime:room1"], "the token goes to the Realtime channel only");
    assert_eq!(joins(&w)[0].1, json!({"user": "ada", "n": 1}));
}

#[test]
fn the_v1_serializer_serves_a_phoenix_channel_too() {
    let mut c = config();
    c.vsn = Vsn::V1;
    let mut w = World::new(c, 5);
    w.behaviour.v1 = true;
    let ch = w.client.phoenix_channel(w.now, "room:lobby", PARAMS).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(w.client.url().ends_with("vsn=1.0.0"));
    w.run_for(60 * S);
    assert!(w.events.iter().any(|(_, e)| matches!(e, Event::Heartbeat(_))));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_phoenix_channel_taking_over_a_leaving_realtime_one_inherits_nothing() {
    let (mut w, rt) = World::joined(World::config());
    w.client.track(w.now, rt, r#"{"me":1}"#).unwrap();
    w.run_for(S);
    w.client.remove_channel(w.now, rt).unwrap();
    let ph = w.client.phoenix_channel(w.now, "realtime:room1", r#"{"user":"x"}"#).unwrap();
    w.client.subscribe(w.now, ph).unwrap();
    w.run_for(3 * S);
    assert_eq!(w.client.channel_state(ph), Some(ChannelState::Joined));
    let join = w.frames.iter().rposition(|(_, f)| f.event == "phx_join").unwrap();
    let after: Vec<&str> = w.frames[join..].iter().map(|(_, f)| f.event.as_str()).collect();
    assert!(
        !after.contains(&"presence"),
        "the Realtime owner's track went out on the Phoenix join: {after:?}"
    );
    assert_eq!(w.frames[join].1.payload, json!({"user": "x"}));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_token_does_not_join_a_channel_the_new_owner_never_subscribed() {
    let mut c = World::config();
    c.token_source = true;
    c.access_token = Some(jwt(4_000_000_000));
    let (mut w, rt) = World::joined(c);
    let jr = w.server.as_ref().unwrap().joined["realtime:room1"].clone();
    // The server's token re-check fails: a rejoin waits for the next token.
    w.with_server(|s| s.token_recheck_fails("realtime:room1", &jr));
    w.run_for(S);
    assert_eq!(w.client.channel_state(rt), Some(ChannelState::Closed));
    w.client.remove_all_channels(w.now);
    let ph = w.client.phoenix_channel(w.now, "realtime:room1", "{}").unwrap();
    w.run_for(S);
    w.client.set_access_token(w.now, Some(jwt(4_000_000_001)));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ph), Some(ChannelState::Closed), "nobody subscribed it");
}

#[test]
fn a_socket_of_phoenix_channels_asks_for_no_token() {
    let mut c = config();
    c.token_source = true;
    let (mut w, ch) = subscribing(c, JoinMode::Ok);
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(!w.events.iter().any(|(_, e)| matches!(e, Event::TokenNeeded { .. })), "{:?}", w.events);
}

#[test]
fn a_phoenix_server_refusing_the_upgrade_is_retried_as_phoenix_js_does() {
    let (mut w, ch) = subscribing(config(), JoinMode::Ok);
    w.behaviour.reject_upgrade = Some(403);
    w.run_for(8 * S);
    assert!(w.connections >= 3, "reconnected on the schedule: {}", w.connections);
    w.behaviour.reject_upgrade = None;
    w.run_for(12 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    // Supabase Realtime's 403 is final.
    let (mut w, _) = World::subscribing(World::config(), 7, JoinMode::Ok);
    w.behaviour.reject_upgrade = Some(403);
    w.run_for(20 * S);
    assert_eq!(w.connections, 1);
}

#[test]
fn rest_is_refused_on_a_phoenix_server() {
    use realtime_core::supabase::rest::{RestBody, RestError};
    let w = World::new(config(), 1);
    let r = w.client.rest_broadcast(w.now, "room", "e", false, RestBody::Json("{}"));
    assert_eq!(r.err(), Some(RestError::NotRealtime));
}
