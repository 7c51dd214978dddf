//! Access tokens: where they go, where they never go, and that they never print.

use std::time::Duration;

use realtime_core::client::{ChannelState, Event, LeaveOutcome, TokenReason};
use realtime_core::supabase::channel_config::ChannelConfig;
use serde_json::{Value, json};

use crate::server::JoinMode;
use crate::world::{World, jwt};

const S: Duration = Duration::from_secs(1);

fn join_tokens(w: &World) -> Vec<Option<String>> {
    w.frames
        .iter()
        .filter(|(_, f)| f.event == "phx_join")
        .map(|(_, f)| f.payload.get("access_token").and_then(Value::as_str).map(String::from))
        .collect()
}

#[test]
fn a_new_token_goes_to_joined_channels_and_into_every_later_join() {
    let (mut w, joined) = World::joined(World::config());
    w.behaviour.join = JoinMode::Silent;
    w.with_server(|s| s.behaviour.join = JoinMode::Silent);
    let joining = w.client.channel(w.now, "room2", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, joining).unwrap();
    w.run_for(S);
    let token = jwt(4_000_000_000);
    w.client.set_access_token(w.now, Some(token.clone()));
    w.run_for(S);
    let pushes: Vec<_> =
        w.frames.iter().filter(|(_, f)| f.event == "access_token").map(|(_, f)| f.clone()).collect();
    assert_eq!(pushes.len(), 1, "only the joined channel: {pushes:?}");
    assert_eq!(pushes[0].topic, "realtime:room1");
    assert_eq!(pushes[0].payload, json!({"access_token": token}));
    let join_ref = w
        .frames
        .iter()
        .find(|(_, f)| f.event == "phx_join" && f.topic == "realtime:room1")
        .unwrap()
        .1
        .msg_ref
        .clone();
    assert_eq!(pushes[0].join_ref, join_ref, "with the channel's join ref");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    // After a reconnect every join carries it.
    w.behaviour.join = JoinMode::Ok;
    w.reset();
    w.run_for(2 * S);
    let tokens = join_tokens(&w);
    assert_eq!(tokens[..2], [None, None]);
    assert!(tokens[2..].iter().all(|t| t.as_deref() == Some(token.as_str())), "{tokens:?}");
    assert_eq!(w.client.channel_state(joined), Some(ChannelState::Joined));
    // Cleared: later joins carry none.
    w.client.set_access_token(w.now, None);
    w.reset();
    w.run_for(2 * S);
    assert_eq!(join_tokens(&w).last().unwrap(), &None);
}

#[test]
fn an_expired_token_is_never_sent() {
    let mut config = World::config();
    config.access_token = Some(jwt(1_000));
    let mut w = World::new(config, 30);
    // The wall clock says 1,000,000 s after the epoch: long past the token's exp of 1,000 s.
    w.client.set_wall_clock(w.now, 1_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(join_tokens(&w), [None]);
    w.client.set_access_token(w.now, Some(jwt(2_000)));
    w.run_for(S);
    assert!(w.frames.iter().all(|(_, f)| f.event != "access_token"), "an expired token is not pushed");
    // A token that expires later than the wall clock is sent.
    let fresh = jwt(2_000_000);
    w.client.set_access_token(w.now, Some(fresh.clone()));
    w.run_for(S);
    assert_eq!(w.frames.iter().filter(|(_, f)| f.event == "access_token").count(), 1);
    // Without a wall clock the expiry cannot be checked, and the token is sent.
    let mut config = World::config();
    config.access_token = Some(jwt(1_000));
    let (w, _) = World::joined(config);
    assert_eq!(join_tokens(&w), [Some(jwt(1_000))]);
}

#[test]
fn new_style_api_keys_are_never_sent_as_tokens() {
    let mut config = World::config();
    config.access_token = Some("sb_publishable_abc123".into());
    let (mut w, _) = World::joined(config);
    assert_eq!(join_tokens(&w), [None]);
    w.client.set_access_token(w.now, Some("sb_secret_xyz".into()));
    w.run_for(S);
    assert!(w.frames.iter().all(|(_, f)| f.event != "access_token"));
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let mut config = realtime_core::client::ClientConfig::new(
        "https://p.supabase.co/realtime/v1?apikey=ENDPOINTKEY",
        "sb_secret_APIKEY",
    );
    config.access_token = Some("eyJ.TOKEN.sig".into());
    config.headers.push(("Authorization".into(), "Bearer eyJ.HEADER.sig".into()));
    config.params.push(("apikey".into(), "PARAMKEY".into()));
    let shown = format!("{config:?}");
    let mut client = realtime_core::client::Client::new(config, [0; 32]).unwrap();
    client.connect(realtime_core::Instant::ZERO);
    let command = client.poll_transport().unwrap();
    let shown = format!("{shown} {client:?} {client:#?} {command:?}");
    for secret in ["APIKEY", "TOKEN", "HEADER", "ENDPOINTKEY", "PARAMKEY"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("X-Client-Info"), "other headers still show");
}

fn token_events(w: &World) -> Vec<(realtime_core::Instant, TokenReason)> {
    w.events
        .iter()
        .filter_map(|(t, e)| match e {
            Event::TokenNeeded { reason } => Some((*t, *reason)),
            _ => None,
        })
        .collect()
}

fn with_source() -> realtime_core::client::ClientConfig {
    let mut config = World::config();
    config.token_source = true;
    config
}

#[test]
fn with_a_token_source_a_join_waits_for_a_missing_token() {
    let (mut w, ch) = World::subscribing(with_source(), 31, JoinMode::Ok);
    w.run_for(3 * S);
    assert_eq!(
        token_events(&w),
        [(realtime_core::Instant::ZERO, TokenReason::Missing)],
        "asked before connecting"
    );
    assert!(join_tokens(&w).is_empty(), "the join waits");
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joining));
    let token = jwt(4_000_000_000);
    w.client.set_access_token(w.now, Some(token.clone()));
    w.run_for(S);
    assert_eq!(join_tokens(&w), [Some(token)]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    // Without a source: no question, no wait.
    let (w, _) = World::joined(World::config());
    assert!(token_events(&w).is_empty());
    assert_eq!(join_tokens(&w), [None]);
}

#[test]
fn a_join_goes_ahead_when_no_token_comes_in_time() {
    let (mut w, ch) = World::subscribing(with_source(), 32, JoinMode::Ok);
    w.run_for(9 * S);
    assert!(join_tokens(&w).is_empty());
    w.run_for(2 * S);
    assert_eq!(join_tokens(&w), [None], "after the 10 s wait, with what there is");
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_new_token_is_asked_for_the_margin_before_expiry() {
    let mut config = with_source();
    // exp is 120 s after the wall clock's start; the margin is 60 s.
    config.access_token = Some(jwt(1_000_120));
    let mut w = World::new(config, 33);
    w.client.set_wall_clock(w.now, 1_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(90 * S);
    assert_eq!(join_tokens(&w), [Some(jwt(1_000_120))], "fresh enough: sent at once");
    assert_eq!(token_events(&w), [(realtime_core::Instant::ZERO + 60 * S, TokenReason::Expiring)]);
    // Without a source nothing is asked.
    let mut config = World::config();
    config.access_token = Some(jwt(1_000_120));
    let mut w = World::new(config, 34);
    w.client.set_wall_clock(w.now, 1_000_000_000);
    w.client.connect(w.now);
    w.run_for(90 * S);
    assert!(token_events(&w).is_empty());
}

#[test]
fn a_refused_token_is_replaced_and_the_channel_rejoins() {
    let mut config = with_source();
    config.access_token = Some(jwt(4_000_000_000));
    let (mut w, ch) = World::subscribing(
        config,
        35,
        JoinMode::ErrorWith("InvalidJWTToken: Token has expired 12 seconds ago"),
    );
    w.run_for(S);
    assert_eq!(token_events(&w).last().map(|e| e.1), Some(TokenReason::Rejected));
    w.behaviour.join = JoinMode::Ok;
    w.with_server(|s| s.behaviour.join = JoinMode::Ok);
    w.run_for(5 * S);
    assert_eq!(join_tokens(&w).len(), 1, "the rejoin waits for a new token");
    let fresh = jwt(4_000_000_001);
    w.client.set_access_token(w.now, Some(fresh.clone()));
    w.run_for(S);
    assert_eq!(join_tokens(&w).last().unwrap().as_deref(), Some(fresh.as_str()));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    // Without a source the refusal is final.
    let mut config = World::config();
    config.access_token = Some(jwt(4_000_000_000));
    let (mut w, ch) =
        World::subscribing(config, 36, JoinMode::ErrorWith("InvalidJWTToken: Token has expired"));
    w.run_for(30 * S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert_eq!(join_tokens(&w).len(), 1);
}

#[test]
fn the_periodic_token_recheck_closing_a_channel_is_answered_with_a_new_token() {
    let mut config = with_source();
    config.access_token = Some(jwt(4_000_000_000));
    let (mut w, ch) = World::joined(config);
    let jr = w.frames.iter().find(|(_, f)| f.event == "phx_join").unwrap().1.msg_ref.clone().unwrap();
    w.with_server(|s| s.token_recheck_fails("realtime:room1", &jr));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert_eq!(token_events(&w).last().map(|e| e.1), Some(TokenReason::Rejected));
    w.client.set_access_token(w.now, Some(jwt(4_000_000_002)));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined), "joined again with the new token");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_token_set_while_the_join_is_in_flight_follows_it_once_joined() {
    let mut config = World::config();
    config.access_token = Some(jwt(4_000_000_000));
    let (mut w, ch) = World::subscribing(config, 37, JoinMode::Ok);
    // The handshake takes one round trip (20 ms); the join goes out then and its reply comes
    // 20 ms later. Set a new token in between.
    w.run_for(Duration::from_millis(30));
    assert_eq!(join_tokens(&w), [Some(jwt(4_000_000_000))]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joining));
    let newer = jwt(4_000_000_005);
    w.client.set_access_token(w.now, Some(newer.clone()));
    w.run_for(S);
    let pushes: Vec<_> =
        w.frames.iter().filter(|(_, f)| f.event == "access_token").map(|(_, f)| f.payload.clone()).collect();
    assert_eq!(pushes, [json!({"access_token": newer})], "sent once the join succeeded");
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

/// The request bytes of a REST broadcast from a client with `token` and a wall clock at
/// 1,000,000 s.
fn rest_bytes(token: &str) -> String {
    let mut config = World::config();
    config.access_token = Some(token.into());
    let mut client = realtime_core::client::Client::new(config, [0; 32]).unwrap();
    let now = realtime_core::Instant::ZERO + 5 * S;
    client.set_wall_clock(now, 1_000_000_000);
    let body = realtime_core::supabase::rest::RestBody::Json(r#"{"x":1}"#);
    let mut request = client.rest_broadcast(now, "room1", "cursor", true, body).unwrap();
    let mut bytes = Vec::new();
    let mut out = [0u8; 64];
    loop {
        let n = request.poll_transmit(&mut out);
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&out[..n]);
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn rest_broadcasts_follow_the_token_rule() {
    let valid = jwt(2_000_000);
    let sent = rest_bytes(&valid);
    assert!(
        sent.starts_with("POST /realtime/v1/api/broadcast/room1/events/cursor?private=true HTTP/1.1\r\n"),
        "{sent}"
    );
    assert!(sent.contains("\r\napikey: anon-key\r\n"), "{sent}");
    assert!(sent.contains(&format!("\r\nAuthorization: Bearer {valid}\r\n")), "{sent}");
    assert!(sent.ends_with("\r\n\r\n{\"x\":1}"), "{sent}");
    // An API key is only ever the `apikey`; a JWT the wall clock says expired is not sent.
    for token in ["sb_publishable_abc123".to_string(), jwt(999_000)] {
        let sent = rest_bytes(&token);
        assert!(!sent.contains("Authorization"), "{sent}");
        assert!(!sent.contains(&token), "{sent}");
        assert!(sent.contains("\r\napikey: anon-key\r\n"), "{sent}");
    }
}

/// A laptop sleeps for an hour: the monotonic clock stood still, the wall clock did not. The
/// runtime's next reading (it gives one before every input) must be taken, though readings
/// that agree with the clock the client has change nothing.
#[test]
fn a_wall_clock_jump_after_sleep_is_taken_and_the_expired_token_asked_about() {
    let mut config = with_source();
    // exp 10 minutes after the wall clock's start.
    let token = jwt(1_000_600);
    config.access_token = Some(token.clone());
    let mut w = World::new(config, 38);
    let start = 1_000_000_000;
    w.client.set_wall_clock(w.now, start);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    // Readings every turn, consistent with the monotonic clock (and 300 ms off, within the
    // tolerance): nothing to do.
    for _ in 0..5 {
        w.run_for(S);
        w.client.set_wall_clock(w.now, start + w.now.as_micros() / 1000 + 300);
    }
    assert_eq!(join_tokens(&w), [Some(token.clone())]);
    assert!(token_events(&w).is_empty(), "fresh for 9 more minutes");
    // The wake-up: one second of monotonic time, one hour of wall time.
    w.run_for(S);
    let frames = w.frames.len();
    let woke = w.now;
    w.client.set_wall_clock(w.now, start + w.now.as_micros() / 1000 + 3_600_000);
    w.run_for(S);
    assert_eq!(token_events(&w), [(woke, TokenReason::Expiring)], "asked at once, not at minute 9");
    // The connection is gone after the sleep; the rejoin does not carry the expired token.
    w.reset();
    w.run_for(20 * S);
    let later: Vec<_> = w.frames[frames..].iter().map(|(_, f)| f).collect();
    assert!(later.iter().any(|f| f.event == "phx_join"), "it rejoined");
    for f in &later {
        assert_ne!(f.payload.get("access_token").and_then(Value::as_str), Some(token.as_str()), "{f:?}");
    }
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

/// Found by the `phoenix_client` harness's checks (issue 15): a leave asked while the join
/// waits for a token went out as a `phx_leave` with no join ref, for a join the server never
/// saw. Nothing goes out now; the leave is answered `Offline` at once.
#[test]
fn a_leave_while_the_join_waits_for_a_token_sends_nothing() {
    let (mut w, ch) = World::subscribing(with_source(), 32, JoinMode::Ok);
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joining));
    assert!(join_tokens(&w).is_empty(), "the join waits for the token");
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).expect("unsubscribe");
    w.run_for(S);
    assert!(
        w.frames.iter().all(|(_, f)| f.event != "phx_leave"),
        "a leave went out for a join never sent: {:?}",
        w.frames
    );
    let left: Vec<_> = w
        .events_since(from)
        .into_iter()
        .filter_map(|e| match e {
            Event::Left { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(left, [LeaveOutcome::Offline]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}
