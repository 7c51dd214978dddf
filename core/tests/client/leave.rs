//! How a leave the app asked for ended: `Event::Left` with its outcome, once per handle id
//! that asked, right before the channel's `Closed`.

use std::time::Duration;

use realtime_core::client::{ChannelId, ChannelState, ChannelStatus, Event, LeaveOutcome};
use realtime_core::supabase::channel_config::ChannelConfig;

use crate::server::JoinMode;
use crate::world::World;

const S: Duration = Duration::from_secs(1);

/// The `Left` events since event `from`.
fn lefts(w: &World, from: usize) -> Vec<(ChannelId, LeaveOutcome)> {
    w.events_since(from)
        .into_iter()
        .filter_map(|e| match e {
            Event::Left { channel, outcome } => Some((*channel, *outcome)),
            _ => None,
        })
        .collect()
}

/// `Left` comes right before the channel's `Closed`.
fn left_then_closed(w: &World, from: usize, ch: ChannelId, outcome: LeaveOutcome) {
    let events = w.events_since(from);
    let at = events
        .iter()
        .position(|e| matches!(e, Event::Left { channel, .. } if *channel == ch))
        .unwrap_or_else(|| panic!("no Left in {events:?}"));
    assert_eq!(events[at], &Event::Left { channel: ch, outcome });
    assert_eq!(events.get(at + 1), Some(&&Event::Status { channel: ch, status: ChannelStatus::Closed }));
}

#[test]
fn the_servers_answer_is_left() {
    let (mut w, ch) = World::joined(World::config());
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    assert_eq!(lefts(&w, from), [], "not before the server answers");
    w.run_for(S);
    left_then_closed(&w, from, ch, LeaveOutcome::Left);
    assert_eq!(lefts(&w, from).len(), 1);
}

#[test]
fn no_answer_is_timed_out() {
    // The server never joined, so it never answers the leave.
    let (mut w, ch) = World::subscribing(World::config(), 50, JoinMode::Silent);
    w.run_for(S);
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Leaving));
    w.run_for(9 * S);
    assert_eq!(lefts(&w, from), []);
    w.run_for(2 * S);
    left_then_closed(&w, from, ch, LeaveOutcome::TimedOut);
}

#[test]
fn a_connection_lost_before_the_answer_is_timed_out() {
    let (mut w, ch) = World::joined(World::config());
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    // The leave is on its way; the connection dies before the server's answer arrives.
    w.reset();
    left_then_closed(&w, from, ch, LeaveOutcome::TimedOut);
    w.run_for(5 * S);
    assert_eq!(lefts(&w, from).len(), 1);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed), "not joined again");
}

#[test]
fn nothing_to_leave_is_offline() {
    // Never subscribed.
    let mut w = World::new(World::config(), 51);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, 0), [(ch, LeaveOutcome::Offline)]);
    // Subscribed, but the socket cannot connect.
    let mut w = World::new(World::config(), 52);
    w.refuse_tcp = true;
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    left_then_closed(&w, from, ch, LeaveOutcome::Offline);
    assert!(w.frames.iter().all(|(_, f)| f.event != "phx_leave"));
    // Removing a closed channel: offline, and deleted.
    let (mut w, ch) = World::joined(World::config());
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    let from = w.events.len();
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, from), [(ch, LeaveOutcome::Offline)]);
    assert_eq!(w.client.channel_state(ch), None);
}

#[test]
fn the_last_remove_and_remove_all_report_each_leave() {
    let (mut w, a) = World::joined(World::config());
    let again = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    assert_eq!(again, a);
    let b = w.client.channel(w.now, "room2", ChannelConfig::new()).unwrap();
    w.client.subscribe(w.now, b).unwrap();
    let c = w.client.channel(w.now, "room3", ChannelConfig::new()).unwrap();
    w.run_for(S);
    let from = w.events.len();
    w.client.remove_channel(w.now, a).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, from), [], "a handle of room1 remains");
    w.client.remove_all_channels(w.now);
    w.run_for(S);
    let mut got = lefts(&w, from);
    got.sort_by_key(|(c, _)| *c);
    let mut want = vec![(a, LeaveOutcome::Left), (b, LeaveOutcome::Left), (c, LeaveOutcome::Offline)];
    want.sort_by_key(|(c, _)| *c);
    assert_eq!(got, want);
    assert_eq!(w.client.channels().count(), 0);
}

#[test]
fn asking_twice_during_one_leave_reports_it_once() {
    let (mut w, ch) = World::joined(World::config());
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    w.client.unsubscribe(w.now, ch).unwrap();
    w.client.remove_channel(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, from), [(ch, LeaveOutcome::Left)]);
    assert_eq!(w.client.channel_state(ch), None);
}

#[test]
fn a_taken_over_channel_reports_the_leave_to_the_handle_that_asked() {
    let (mut w, old) = World::joined(World::config());
    let from = w.events.len();
    w.client.remove_channel(w.now, old).unwrap();
    assert_eq!(w.client.channel_state(old), Some(ChannelState::Leaving));
    // A new handle to the topic while the old one's leave is under way.
    let new = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    assert_ne!(new, old);
    w.client.subscribe(w.now, new).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, from), [(old, LeaveOutcome::Left)]);
    assert_eq!(w.statuses(from), [ChannelStatus::Subscribed], "the new handle hears its join only");
    assert_eq!(w.client.channel_state(new), Some(ChannelState::Joined));
    // The new handle's own leave is its own.
    let from = w.events.len();
    w.client.unsubscribe(w.now, new).unwrap();
    w.run_for(S);
    left_then_closed(&w, from, new, LeaveOutcome::Left);
    assert_eq!(lefts(&w, from).len(), 1);
}

#[test]
fn a_resubscribe_during_the_leave_still_reports_the_leave() {
    let (mut w, ch) = World::joined(World::config());
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(lefts(&w, from), [(ch, LeaveOutcome::Left)]);
    assert_eq!(w.statuses(from), [ChannelStatus::Subscribed]);
}
