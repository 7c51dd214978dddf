//! Postgres changes and presence switching through the client: bindings in the join, the
//! index-wise id pairing, dispatch by ids and event, legacy events, the ready mode, and presence
//! turned on by a track before or after subscribe.

use std::time::Duration;

use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelState, ChannelStatus, Event, PushError,
};
use realtime_core::supabase::channel_config::{ChannelConfig, DEFAULT_POSTGRES_READY_TIMEOUT};
use realtime_core::supabase::postgres::{Binding, ChangeEvent, ChangeKind, Filter, Value};
use serde_json::{Value as Json, json};

use crate::server::{JoinMode, binding_id};
use crate::world::World;

const S: Duration = Duration::from_secs(1);

fn joins(w: &World) -> Vec<(String, Json)> {
    w.frames
        .iter()
        .filter(|(_, f)| f.event == "phx_join")
        .map(|(_, f)| (f.msg_ref.clone().unwrap_or_default(), f.payload["config"].clone()))
        .collect()
}

/// Two bindings: inserts into `messages` of room 1, and everything on `rooms`.
fn two_bindings() -> ChannelConfig {
    ChannelConfig::new()
        .postgres_changes(
            Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&Filter::eq("room_id", "1")),
        )
        .postgres_changes(Binding::new(ChangeEvent::All, "public").table("rooms").select(["id", "name"]))
}

/// The id the server gave binding `i` of the last join.
fn server_id(w: &World, i: usize) -> u64 {
    let joins = joins(w);
    let config = &joins.last().expect("a join").1;
    binding_id(&config["postgres_changes"][i])
}

fn change(ids: &[u64], kind: &str, table: &str) -> Json {
    json!({"ids": ids, "data": {
        "schema": "public", "table": table, "commit_timestamp": "2026-08-21T10:11:12.345Z", "type": kind,
        "columns": [{"name": "id", "type": "int8"}, {"name": "amount", "type": "numeric"}, {"name": "tags", "type": "_text"}],
        "record": {"id": 1, "amount": 0, "tags": "{}"}, "old_record": null, "errors": null
    }})
}

fn changes(w: &World, from: usize) -> Vec<(Vec<usize>, ChangeKind, String)> {
    w.events[from..]
        .iter()
        .filter_map(|(_, e)| match e {
            Event::PostgresChange { bindings, change, .. } => {
                Some((bindings.iter().collect(), change.kind, change.table.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn bindings_go_in_the_join_and_changes_reach_the_bindings_their_ids_name() {
    let (mut w, ch) = World::joined_with(World::config(), two_bindings());
    let (_, config) = &joins(&w)[0];
    assert_eq!(
        config["postgres_changes"],
        json!([
            {"event": "INSERT", "schema": "public", "table": "messages", "filter": "room_id=eq.1"},
            {"event": "*", "schema": "public", "table": "rooms", "select": ["id", "name"]}
        ])
    );
    let (messages, rooms) = (server_id(&w, 0), server_id(&w, 1));
    let from = w.events.len();
    // The wire text of a row with an int8 over 2^53 and a 30-digit numeric: exact.
    let exact = r#"{"ids":[ID],"data":{"schema":"public","table":"messages","commit_timestamp":"2026-08-21T10:11:12.345Z","type":"INSERT","columns":[{"name":"id","type":"int8"},{"name":"amount","type":"numeric"},{"name":"tags","type":"_text"}],"record":{"id":9007199254740993,"amount":123456789012345678901234567890.5,"tags":"{\"a,b\",c}"},"old_record":null,"errors":null}}"#
        .replace("ID", &messages.to_string());
    w.with_server(|s| {
        s.send_raw("realtime:room1", "postgres_changes", &exact);
        // An UPDATE on messages: the INSERT binding's id, but not its event.
        s.send(None, None, "realtime:room1", "postgres_changes", change(&[messages], "UPDATE", "messages"));
        // Both ids (a change matching both subscriptions).
        s.send(
            None,
            None,
            "realtime:room1",
            "postgres_changes",
            change(&[messages, rooms], "insert", "messages"),
        );
        s.send(None, None, "realtime:room1", "postgres_changes", change(&[rooms], "DELETE", "rooms"));
        // Nobody's id.
        s.send(None, None, "realtime:room1", "postgres_changes", change(&[12345], "INSERT", "x"));
        // Malformed.
        s.send(None, None, "realtime:room1", "postgres_changes", json!({"ids": [messages], "data": 5}));
    });
    w.run_for(S);
    assert_eq!(
        changes(&w, from),
        [
            (vec![0], ChangeKind::Insert, "messages".into()),
            (vec![0, 1], ChangeKind::Insert, "messages".into()),
            (vec![1], ChangeKind::Delete, "rooms".into()),
        ]
    );
    let first = w.events[from..]
        .iter()
        .find_map(|(_, e)| match e {
            Event::PostgresChange { change, .. } => Some(change.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(first.new_value("id"), Some(Ok(Value::Int(9007199254740993))));
    assert_eq!(
        first.new_value("amount"),
        Some(Ok(Value::Numeric("123456789012345678901234567890.5".into())))
    );
    assert_eq!(
        first.new_value("tags"),
        Some(Ok(Value::Array(vec![Value::Text("a,b".into()), Value::Text("c".into())]))),
        "the quoted comma stays inside its element"
    );
    assert_eq!(
        w.events[from..].iter().filter(|(_, e)| matches!(e, Event::PostgresChangeError { .. })).count(),
        1
    );
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn legacy_row_events_go_to_bindings_by_type() {
    let (mut w, _ch) = World::joined_with(World::config(), two_bindings());
    let from = w.events.len();
    w.with_server(|s| {
        let data = change(&[], "UPDATE", "rooms")["data"].clone();
        s.send(None, None, "realtime:room1", "UPDATE", data);
        let data = change(&[], "INSERT", "messages")["data"].clone();
        s.send(None, None, "realtime:room1", "insert", data);
    });
    w.run_for(S);
    assert_eq!(
        changes(&w, from),
        [(vec![1], ChangeKind::Update, "rooms".into()), (vec![0, 1], ChangeKind::Insert, "messages".into())]
    );
}

#[test]
fn a_join_reply_that_does_not_pair_with_the_bindings_closes_the_channel_with_a_reason() {
    let (mut w, ch) = World::subscribing_with(World::config(), two_bindings(), 1, JoinMode::Ok);
    w.behaviour.pg_mismatch = true;
    w.run_for(3 * S);
    assert_eq!(w.statuses(0), [ChannelStatus::ChannelError(ChannelErrorReason::BindingMismatch)]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    let join_ref = joins(&w)[0].0.clone();
    let leaves: Vec<_> = w.frames.iter().filter(|(_, f)| f.event == "phx_leave").collect();
    assert_eq!(leaves.len(), 1, "the server's join is left");
    assert_eq!(leaves[0].1.join_ref.as_deref(), Some(join_ref.as_str()));
    w.run_for(30 * S);
    assert_eq!(joins(&w).len(), 1, "no retry: the bindings would not pair the next time either");
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn bindings_are_added_before_subscribe_only() {
    let mut w = World::new(World::config(), 1);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    let b = Binding::new(ChangeEvent::Delete, "public").table("t");
    assert_eq!(w.client.add_postgres_changes(w.now, ch, b.clone()), Ok(0));
    w.client.subscribe(w.now, ch).unwrap();
    assert_eq!(w.client.add_postgres_changes(w.now, ch, b.clone()), Err(ChannelError::AlreadySubscribed));
    w.run_for(S);
    assert_eq!(
        joins(&w)[0].1["postgres_changes"],
        json!([{"event": "DELETE", "schema": "public", "table": "t"}])
    );
    // Left, a binding may be added again for the next subscribe.
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.add_postgres_changes(w.now, ch, Binding::new(ChangeEvent::Insert, "public")), Ok(1));
    // More than 64 are refused.
    let mut config = ChannelConfig::new();
    for i in 0..65 {
        config = config.postgres_changes(Binding::new(ChangeEvent::All, "public").table(&format!("t{i}")));
    }
    assert_eq!(w.client.channel(w.now, "many", config), Err(ChannelError::TooManyBindings));
}

fn ready_world() -> (World, realtime_core::client::ChannelId) {
    let config = two_bindings().wait_for_postgres_ready(DEFAULT_POSTGRES_READY_TIMEOUT);
    let (mut w, ch) = World::subscribing_with(World::config(), config, 1, JoinMode::Ok);
    w.run_for(S);
    (w, ch)
}

fn system(w: &mut World, status: &str, message: &str) {
    w.with_server(|s| {
        let payload = json!({"extension": "postgres_changes", "status": status, "message": message, "channel": "room1"});
        s.send(None, None, "realtime:room1", "system", payload);
    });
}

#[test]
fn the_ready_mode_holds_subscribed_until_the_server_says_the_changes_are_live() {
    let (mut w, ch) = ready_world();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    assert_eq!(w.statuses(0), [], "joined, not yet live");
    w.run_for(2 * S);
    system(&mut w, "ok", "Subscribed to PostgreSQL");
    w.run_for(S);
    assert_eq!(w.statuses(0), [ChannelStatus::Subscribed]);
    // A later ok (after a token change) says nothing new.
    system(&mut w, "ok", "Subscribed to PostgreSQL");
    w.run_for(S);
    assert_eq!(w.statuses(0).len(), 1);
}

#[test]
fn the_ready_mode_reports_the_servers_error_and_the_timeout() {
    let (mut w, ch) = ready_world();
    let joined_at = w.now;
    system(&mut w, "error", "Error parsing `filter` params: [\"bad\"]");
    w.run_for(S);
    match &w.statuses(0)[..] {
        [ChannelStatus::ChannelError(ChannelErrorReason::PostgresChanges(reason))] => {
            assert!(reason.text.contains("filter"), "{reason:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined), "the server retries; still joined");
    w.run_until(joined_at + DEFAULT_POSTGRES_READY_TIMEOUT);
    let timed_out = w
        .events
        .iter()
        .find(|(_, e)| {
            matches!(
                e,
                Event::Status {
                    status: ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady),
                    ..
                }
            )
        })
        .map(|(at, _)| *at);
    assert!(timed_out.is_some(), "{:?}", w.statuses(0));
    assert!(timed_out.unwrap() <= joined_at + DEFAULT_POSTGRES_READY_TIMEOUT);
    // The join was ok within the second before `joined_at`: the wait is 15 s from it.
    assert!(timed_out.unwrap() >= joined_at + (DEFAULT_POSTGRES_READY_TIMEOUT - S), "not before the timeout");
    // Late, but live: Subscribed after all.
    system(&mut w, "ok", "Subscribed to PostgreSQL");
    w.run_for(S);
    assert_eq!(w.statuses(0).last(), Some(&ChannelStatus::Subscribed));
}

#[test]
fn without_the_ready_mode_a_postgres_error_is_a_typed_channel_error_and_the_channel_stays() {
    let (mut w, ch) = World::joined_with(World::config(), two_bindings());
    let from = w.events.len();
    system(&mut w, "error", "Unable to subscribe to changes with given parameters");
    w.run_for(S);
    assert!(matches!(
        &w.statuses(from)[..],
        [ChannelStatus::ChannelError(ChannelErrorReason::PostgresChanges(_))]
    ));
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}

#[test]
fn a_track_before_subscribe_asks_the_join_for_presence() {
    let mut w = World::new(World::config(), 1);
    let ch = w.client.channel(w.now, "room1", ChannelConfig::new()).unwrap();
    w.client.track(w.now, ch, r#"{"user":"ana"}"#).unwrap();
    w.client.subscribe(w.now, ch).unwrap();
    w.run_for(2 * S);
    let j = joins(&w);
    assert_eq!(j.len(), 1, "one join");
    assert_eq!(j[0].1["presence"]["enabled"], json!(true));
    let tracks: Vec<_> = w.frames.iter().filter(|(_, f)| f.event == "presence").collect();
    assert_eq!(tracks.len(), 1);
    assert_eq!(tracks[0].1.join_ref.as_deref(), Some(j[0].0.as_str()));
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn a_track_after_subscribe_on_a_channel_without_presence_joins_again_with_it() {
    let (mut w, ch) = World::joined(World::config());
    assert_eq!(joins(&w)[0].1["presence"]["enabled"], json!(false));
    let from = w.events.len();
    w.client.track(w.now, ch, r#"{"user":"ana"}"#).unwrap();
    w.run_for(2 * S);
    let j = joins(&w);
    assert_eq!(j.len(), 2, "a second join");
    assert_eq!(j[1].1["presence"]["enabled"], json!(true));
    let leaves: Vec<_> = w.frames.iter().filter(|(_, f)| f.event == "phx_leave").collect();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].1.join_ref.as_deref(), Some(j[0].0.as_str()), "the old join is left");
    let tracks: Vec<_> = w.frames.iter().filter(|(_, f)| f.event == "presence").collect();
    assert_eq!(tracks.len(), 1, "tracked once, on the join that asked for presence");
    assert_eq!(tracks[0].1.join_ref.as_deref(), Some(j[1].0.as_str()));
    assert_eq!(w.statuses(from), [ChannelStatus::Subscribed]);
    // Listening again, or tracking anew, joins no more.
    w.client.enable_presence(w.now, ch).unwrap();
    w.client.track(w.now, ch, r#"{"user":"bo"}"#).unwrap();
    w.run_for(2 * S);
    assert_eq!(joins(&w).len(), 2);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
    // A leaving channel refuses a track.
    w.client.unsubscribe(w.now, ch).unwrap();
    assert_eq!(w.client.track(w.now, ch, "{}"), Err(PushError::NotJoined));
}

#[test]
fn with_retrack_off_a_rejoin_forgets_the_tracked_presence() {
    let config = ChannelConfig::new().presence_enabled(true).presence_retrack(false);
    let (mut w, ch) = World::joined_with(World::config(), config);
    w.client.track(w.now, ch, r#"{"user":"ana"}"#).unwrap();
    w.run_for(S);
    w.reset();
    w.run_for(3 * S);
    let tracks = |w: &World| w.frames.iter().filter(|(_, f)| f.event == "presence").count();
    assert_eq!(joins(&w).len(), 2, "rejoined");
    assert_eq!(tracks(&w), 1, "not tracked again");
    // The app tracks again after Subscribed, as with the reference clients.
    w.client.track(w.now, ch, r#"{"user":"ana"}"#).unwrap();
    w.run_for(S);
    assert_eq!(tracks(&w), 2);
    assert!(w.violations.is_empty(), "{:?}", w.violations);
}

#[test]
fn the_ready_wait_ends_with_its_join() {
    let (mut w, _ch) = ready_world();
    // The connection drops before the server says the changes are live: the wait is over with
    // that join (no PostgresNotReady for a channel that is not joined); the rejoin waits anew.
    w.refuse_tcp = true;
    w.reset();
    w.run_for(40 * S);
    let not_ready = |w: &World| {
        w.events
            .iter()
            .filter(|(_, e)| {
                matches!(
                    e,
                    Event::Status {
                        status: ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady),
                        ..
                    }
                )
            })
            .count()
    };
    assert_eq!(not_ready(&w), 0, "{:?}", w.statuses(0));
    w.refuse_tcp = false;
    w.run_for(60 * S);
    assert!(w.client.channel_state(_ch) == Some(ChannelState::Joined));
    assert_eq!(not_ready(&w), 1, "the rejoin waited and ran out once");
}
