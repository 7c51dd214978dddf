//! Found by the second read of issue 5 (presence and postgres changes), each fixed.

use std::time::Duration;

use realtime_core::client::{ChannelErrorReason, ChannelState, ChannelStatus};
use realtime_core::supabase::channel_config::{ChannelConfig, DEFAULT_POSTGRES_READY_TIMEOUT};
use realtime_core::supabase::postgres::{Binding, ChangeEvent};
use serde_json::json;

use crate::server::JoinMode;
use crate::world::World;

const S: Duration = Duration::from_secs(1);

fn ready_config() -> ChannelConfig {
    ChannelConfig::new()
        .postgres_changes(Binding::new(ChangeEvent::All, "public").table("rooms"))
        .wait_for_postgres_ready(DEFAULT_POSTGRES_READY_TIMEOUT)
}

fn pg_system_ok(w: &mut World) {
    w.with_server(|s| {
        let p = json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL", "channel": "room1"});
        s.send(None, None, "realtime:room1", "system", p);
    });
}

/// The ready wait outlives the join: after `unsubscribe` (Closed) the 15 s deadline still
/// fires and reports `ChannelError(PostgresNotReady)` on a closed channel.
#[test]
fn ready_wait_survives_unsubscribe() {
    let (mut w, ch) = World::subscribing_with(World::config(), ready_config(), 1, JoinMode::Ok);
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
    w.client.unsubscribe(w.now, ch).unwrap();
    w.run_for(S);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Closed));
    let from = w.events.len();
    w.run_for(30 * S);
    assert_eq!(w.statuses(from), [], "a closed channel reports nothing more");
}

/// The server's "Subscribed to PostgreSQL" crossing the app's leave: `Subscribed` is
/// reported after `unsubscribe`, while the channel is leaving.
#[test]
fn ready_ok_while_leaving_reports_subscribed() {
    let (mut w, ch) = World::subscribing_with(World::config(), ready_config(), 1, JoinMode::Ok);
    w.run_for(S);
    let from = w.events.len();
    w.client.unsubscribe(w.now, ch).unwrap();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Leaving));
    // Sent by the server before it saw the leave.
    pg_system_ok(&mut w);
    w.run_for(S);
    assert_eq!(w.statuses(from), [ChannelStatus::Closed], "no Subscribed after unsubscribe");
}

/// A lost connection while waiting: the channel is errored (reported `Disconnected`), but the
/// ready deadline still fires `PostgresNotReady` while it is offline.
#[test]
fn ready_wait_fires_while_disconnected() {
    let (mut w, ch) = World::subscribing_with(World::config(), ready_config(), 1, JoinMode::Ok);
    w.run_for(S);
    w.refuse_tcp = true;
    w.reset();
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Errored));
    let from = w.events.len();
    w.run_for(20 * S);
    let bad: Vec<_> = w
        .statuses(from)
        .into_iter()
        .filter(|s| matches!(s, ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady)))
        .collect();
    assert_eq!(bad, [], "an errored (offline) channel is not 'not ready'");
}

/// `max_presence_entries` bounds presences, not keys: diffs joining keys with empty `metas`
/// leave empty keys in the state forever, so a hostile server grows the state without bound
/// (and `list()` shows keys with no presence, which the docs say a leave removes).
#[test]
fn presence_empty_metas_keys_grow_without_bound() {
    let mut config = World::config();
    config.max_presence_entries = 10;
    let (mut w, ch) =
        World::joined_with(config, ChannelConfig::new().presence_key("me").presence_enabled(true));
    w.with_server(|s| s.send(None, None, "realtime:room1", "presence_state", json!({})));
    for i in 0..1000 {
        w.with_server(|s| {
            let diff = json!({"joins": {format!("k{i}"): {"metas": []}}, "leaves": {}});
            s.send(None, None, "realtime:room1", "presence_diff", diff);
        });
    }
    w.run_for(S);
    let p = w.client.presence(ch).unwrap();
    assert_eq!(p.len(), 0);
    assert!(p.list().len() <= 10, "{} keys kept with a limit of 10 presences", p.list().len());
}

/// Spec A.6: "The old-server case where the key is absent is still handled by the clients"
/// (realtime-js reports SUBSCRIBED when `postgres_changes` is undefined). Here an ok reply
/// without the key closes the channel with `BindingMismatch`.
#[test]
fn join_ok_without_postgres_changes_key_is_not_a_mismatch() {
    let config =
        ChannelConfig::new().postgres_changes(Binding::new(ChangeEvent::All, "public").table("rooms"));
    let (mut w, ch) = World::subscribing_with(World::config(), config, 1, JoinMode::Silent);
    w.run_for(S);
    let join = w.frames.iter().rev().find(|(_, f)| f.event == "phx_join").unwrap().1.clone();
    let r = join.msg_ref.clone();
    w.with_server(|s| {
        s.send(
            r.as_deref(),
            r.as_deref(),
            "realtime:room1",
            "phx_reply",
            json!({"status": "ok", "response": {}}),
        )
    });
    w.run_for(S);
    assert_eq!(w.statuses(0), [ChannelStatus::Subscribed]);
    assert_eq!(w.client.channel_state(ch), Some(ChannelState::Joined));
}
