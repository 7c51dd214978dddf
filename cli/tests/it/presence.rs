//! Presence between `presence` commands and a `listen --presence-key` (join, leave and sync
//! lines, the sync's whole state).

use serde_json::{Value, json};

use crate::common::{Proc, Serve, client, listen, subscribed, without_refs};

fn sync(channel: &str, state: Value) -> Value {
    json!({"type": "presence", "channel": channel, "event": "sync", "state": state})
}

fn change(channel: &str, event: &str, key: &str, presences: Value) -> Value {
    json!({"type": "presence", "channel": channel, "event": event, "key": key, "presences": presences})
}

/// `realtime presence --channel lobby --key KEY --track TRACK`.
fn presence(url: &str, key: &str, track: &str) -> Proc {
    Proc::spawn(&client("presence", url, &["--channel", "lobby", "--key", key, "--track", track]))
}

#[tokio::test]
async fn presence_commands_see_each_other_come_and_go() {
    let server = Serve::start(&[]).await;
    let ana_state = json!([{"status": "online", "presence_ref": "REF"}]);
    let bob_state = json!([{"presence_ref": "REF"}]);

    let mut ana = presence(&server.url, "ana", r#"{"status":"online"}"#);
    // SUBSCRIBED, then ana's own track (the join's empty state is not printed).
    assert_eq!(ana.line().await, subscribed("lobby"));
    assert_eq!(without_refs(ana.line().await), sync("lobby", json!({"ana": ana_state})));

    let mut bob = presence(&server.url, "bob", "{}");
    assert_eq!(bob.line().await, subscribed("lobby"));
    assert_eq!(without_refs(bob.line().await), sync("lobby", json!({"ana": ana_state})));
    let both = sync("lobby", json!({"ana": ana_state, "bob": bob_state}));
    assert_eq!(without_refs(bob.line().await), both);
    assert_eq!(without_refs(ana.line().await), both);

    bob.interrupt().await.assert_quiet_success();
    assert_eq!(without_refs(ana.line().await), sync("lobby", json!({"ana": ana_state})));
    ana.interrupt().await.assert_quiet_success();
}

#[tokio::test]
async fn listen_prints_joins_leaves_and_syncs() {
    let server = Serve::start(&[]).await;
    let cat_state = json!([{"role": "watcher", "presence_ref": "REF"}]);
    let ana_state = json!([{"status": "online", "presence_ref": "REF"}]);

    let mut cat =
        listen(&server.url, "lobby", &["--presence-key", "cat", "--track", r#"{"role":"watcher"}"#]).await;
    assert_eq!(without_refs(cat.line().await), sync("lobby", json!({})));
    assert_eq!(without_refs(cat.line().await), change("lobby", "join", "cat", cat_state.clone()));
    assert_eq!(without_refs(cat.line().await), sync("lobby", json!({"cat": cat_state})));

    let mut ana = presence(&server.url, "ana", r#"{"status":"online"}"#);
    assert_eq!(ana.line().await, subscribed("lobby"));
    assert_eq!(without_refs(cat.line().await), change("lobby", "join", "ana", ana_state.clone()));
    let both = json!({"ana": ana_state, "cat": cat_state});
    assert_eq!(without_refs(cat.line().await), sync("lobby", both.clone()));
    // ana's own lines: the join's state (cat), then both.
    assert_eq!(without_refs(ana.line().await), sync("lobby", json!({"cat": cat_state})));
    assert_eq!(without_refs(ana.line().await), sync("lobby", both));

    ana.interrupt().await.assert_quiet_success();
    assert_eq!(without_refs(cat.line().await), change("lobby", "leave", "ana", ana_state));
    assert_eq!(without_refs(cat.line().await), sync("lobby", json!({"cat": cat_state})));
    cat.interrupt().await.assert_quiet_success();
}

#[tokio::test]
async fn presence_exit_after_counts_state_lines() {
    let server = Serve::start(&[]).await;
    let args = client("presence", &server.url, &["--channel", "lobby", "--key", "k", "--exit-after", "1"]);
    let mut p = Proc::spawn(&args);
    assert_eq!(p.line().await, subscribed("lobby"));
    assert_eq!(without_refs(p.line().await), sync("lobby", json!({"k": [{"presence_ref": "REF"}]})));
    p.exit().await.assert_quiet_success();
}
