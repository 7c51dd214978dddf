//! Cases found by a second read of the auth, rate-limit and REST-fallback code: each failed
//! before its fix.

use std::time::Duration;

use realtime_core::client::{ChannelState, Event, PushOutcome, RateLimit, RateLimitPolicy, TokenReason};
use realtime_core::phoenix::serializer::BroadcastData;
use realtime_core::supabase::channel_config::ChannelConfig;

use crate::server::JoinMode;
use crate::world::{World, jwt};

const S: Duration = Duration::from_secs(1);

fn joins(w: &World) -> usize {
    w.frames.iter().filter(|(_, f)| f.event == "phx_join").count()
}

fn token_asks(w: &World) -> usize {
    w.events.iter().filter(|(_, e)| matches!(e, Event::TokenNeeded { .. })).count()
}

/// The app answers every TokenNeeded with `answer` (an anonymous user: None).
fn answer_every_ask(w: &mut World, answer: Option<String>, for_: Duration) {
    let mut seen = 0;
    let end = w.now + for_;
    while w.now < end {
        w.run_for(Duration::from_millis(100));
        while token_asks(w) > seen {
            seen += 1;
            w.client.set_access_token(w.now, answer.clone());
            w.settle();
        }
    }
}

#[test]
fn answering_none_loops_and_the_join_never_goes() {
    let mut config = World::config();
    config.token_source = true;
    let (mut w, ch) = World::subscribing(config, 901, JoinMode::Ok);
    answer_every_ask(&mut w, None, 30 * S);
    assert!(joins(&w) >= 1, "the join never went out");
    assert!(token_asks(&w) <= 2, "TokenNeeded repeated {} times", token_asks(&w));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn answering_the_same_expiring_token_loops() {
    let mut config = World::config();
    config.token_source = true;
    // exp 30 s after the wall clock's start: inside the 60 s margin.
    config.access_token = Some(jwt(1_000_030));
    let mut w = World::new(config, 902);
    w.client.set_wall_clock(w.now, 1_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    answer_every_ask(&mut w, Some(jwt(1_000_030)), 25 * S);
    assert!(joins(&w) >= 1, "the join never went out (token still valid for 5 s)");
}

#[test]
fn rejoin_on_token_resubscribes_a_channel_the_app_unsubscribed() {
    let mut config = World::config();
    config.token_source = true;
    config.access_token = Some(jwt(4_000_000_000));
    let (mut w, ch) = World::joined(config);
    let jr = w.frames.iter().find(|(_, f)| f.event == "phx_join").unwrap().1.msg_ref.clone().unwrap();
    w.with_server(|s| s.token_recheck_fails("realtime:room1", &jr));
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    // The app gives up on this channel.
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    let before = joins(&w);
    // Its hourly token refresh.
    w.client.set_access_token(w.now, Some(jwt(4_000_000_002)));
    w.run_for(S);
    assert_eq!(joins(&w), before, "a channel the app unsubscribed was joined again");
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
}

#[test]
fn repeated_set_wall_clock_repeats_token_needed() {
    let mut config = World::config();
    config.token_source = true;
    config.access_token = Some(jwt(1_000_120));
    let mut w = World::new(config, 903);
    w.client.set_wall_clock(w.now, 1_000_000_000);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(61 * S);
    assert_eq!(token_asks(&w), 1);
    // A runtime that re-reads its (consistent) wall clock once a second; the app is slow.
    for _ in 0..40 {
        let ms = 1_000_000_000 + w.now.as_micros() / 1000;
        w.client.set_wall_clock(w.now, ms);
        w.run_for(S);
    }
    let _reasons: Vec<_> = w
        .events
        .iter()
        .filter_map(|(t, e)| matches!(e, Event::TokenNeeded { reason: TokenReason::Expiring }).then_some(*t))
        .collect();
    assert!(token_asks(&w) <= 2, "TokenNeeded {} times", token_asks(&w));
}

#[test]
fn gcra_lets_rate_plus_one_through_in_one_second() {
    let mut config = World::config();
    config.rate_limit = Some(RateLimit { per_second: 3, burst: 1, policy: RateLimitPolicy::Queue });
    let (mut w, ch) = World::joined(config);
    let start = w.events.len();
    for i in 0..8 {
        w.client.broadcast(w.now, ch, &format!("e{i}"), BroadcastData::Json("{}".into()), false).unwrap();
    }
    w.run_for(5 * S);
    let times: Vec<u64> = w.events[start..]
        .iter()
        .filter(|(_, e)| matches!(e, Event::Push { outcome: PushOutcome::Ok(_), .. }))
        .map(|(t, _)| t.as_micros())
        .collect();
    for (i, &t) in times.iter().enumerate() {
        let n = times[i..].iter().take_while(|&&u| u < t + 1_000_000).count();
        assert!(n <= 3, "{n} pushes within one second from {t}: {times:?}");
    }
}

#[test]
fn rest_fallback_pushes_are_bounded_and_end_without_the_runtime() {
    let mut config = World::config();
    config.rest_fallback = true;
    let (mut w, ch) = World::subscribing(config, 904, JoinMode::Silent);
    w.run_for(S);
    let mut ids = Vec::new();
    let mut refused = 0;
    for _ in 0..5000 {
        match w.client.broadcast(w.now, ch, "c", BroadcastData::Json("{}".into()), false) {
            Ok(p) => ids.push(p),
            Err(_) => refused += 1,
        }
    }
    assert_eq!((ids.len(), refused), (100, 4900), "bounded by the push buffer");
    let (_push, _req) = w.client.poll_rest().unwrap(); // the runtime's task dies
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(120 * S);
    let ended = ids.iter().filter(|p| w.outcomes.contains_key(p)).count();
    assert_eq!(ended, ids.len(), "only {ended} of {} REST pushes ended", ids.len());
}
