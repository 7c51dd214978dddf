//! Presence against phoenix.js itself: `fixtures/presence_phoenix_js.json` holds random
//! `presence_state` / `presence_diff` sequences (pending diffs and rejoins included) run through
//! phoenix.js's `Presence` by testkit/interop/presence_fixture.mjs, with every onJoin / onLeave
//! / onSync callback in order and `list()` after each step. The core must give the same
//! callbacks in the same order, and the same keys and metas in the same order, at every step.
//! (The interop suite regenerates the fixture with the pinned phoenix and checks it is this one.)

use realtime_core::phoenix::presence::{Presence, PresenceEvent, PresenceState};
use serde_json::{Map, Value};

const FIXTURE: &str = include_str!("fixtures/presence_phoenix_js.json");

/// A meta as both sides can compare it: its ref and its user fields (phoenix.js keeps
/// `phx_ref_prev` in the meta; the core drops it, as the Supabase SDKs do).
type Meta = (String, Map<String, Value>);

fn js_metas(v: &Value) -> Vec<Meta> {
    v.as_array()
        .expect("metas are an array")
        .iter()
        .map(|m| {
            let mut fields = m.as_object().expect("a meta is an object").clone();
            let r = fields.remove("phx_ref").and_then(|r| r.as_str().map(str::to_string)).expect("phx_ref");
            fields.remove("phx_ref_prev");
            (r, fields)
        })
        .collect()
}

fn core_metas(list: &[Presence]) -> Vec<Meta> {
    list.iter()
        .map(|p| {
            let fields: Value = serde_json::from_str(&p.payload).expect("the payload is JSON");
            (p.presence_ref.clone(), fields.as_object().expect("an object").clone())
        })
        .collect()
}

/// A callback as the fixture writes it: `["join", key, current, joined]`,
/// `["leave", key, remaining, left]` or `["sync"]`.
#[derive(Debug, PartialEq)]
enum Callback {
    Join(String, Vec<Meta>, Vec<Meta>),
    Leave(String, Vec<Meta>, Vec<Meta>),
    Sync,
}

fn js_callback(v: &Value) -> Callback {
    let a = v.as_array().expect("a callback is an array");
    let key = || a[1].as_str().expect("a key").to_string();
    match a[0].as_str() {
        Some("join") => Callback::Join(key(), js_metas(&a[2]), js_metas(&a[3])),
        Some("leave") => Callback::Leave(key(), js_metas(&a[2]), js_metas(&a[3])),
        Some("sync") => Callback::Sync,
        other => panic!("unknown callback {other:?}"),
    }
}

fn core_callback(e: &PresenceEvent) -> Callback {
    match e {
        PresenceEvent::Join { key, current, joined, .. } => {
            Callback::Join(key.clone(), core_metas(current), core_metas(joined))
        }
        PresenceEvent::Leave { key, remaining, left, .. } => {
            Callback::Leave(key.clone(), core_metas(remaining), core_metas(left))
        }
        PresenceEvent::Sync => Callback::Sync,
    }
}

#[test]
fn every_step_of_phoenix_js_sequences_gives_the_same_callbacks_and_list() {
    let fixture: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let sequences = fixture["sequences"].as_array().expect("sequences");
    assert!(sequences.len() >= 50, "a fixture of {} sequences", sequences.len());
    let (mut steps, mut callbacks, mut pending) = (0usize, 0usize, 0usize);
    for seq in sequences {
        let seed = &seq["seed"];
        let mut state = PresenceState::new();
        for (i, step) in seq["steps"].as_array().expect("steps").iter().enumerate() {
            let join_ref = step["join_ref"].as_str().expect("join_ref");
            let payload = match step["kind"].as_str() {
                // The channel joined again: the next messages name the new join ref.
                Some("rejoin") => continue,
                Some(_) => step["payload"].as_str().expect("payload"),
                None => panic!("seed {seed} step {i}: no kind"),
            };
            let events = match step["kind"].as_str() {
                Some("state") => state.handle_state(join_ref, payload),
                _ => state.handle_diff(join_ref, payload),
            }
            .unwrap_or_else(|e| panic!("seed {seed} step {i}: {e} for {payload}"));
            let want: Vec<Callback> =
                step["events"].as_array().expect("events").iter().map(js_callback).collect();
            let got: Vec<Callback> = events.iter().map(core_callback).collect();
            assert_eq!(got, want, "seed {seed} step {i}: callbacks for {payload}");
            let want_list: Vec<(String, Vec<Meta>)> = step["list"]
                .as_array()
                .expect("list")
                .iter()
                .map(|e| (e[0].as_str().expect("key").to_string(), js_metas(&e[1])))
                .collect();
            let got_list: Vec<(String, Vec<Meta>)> =
                state.list().iter().map(|(k, v)| (k.to_string(), core_metas(v))).collect();
            assert_eq!(got_list, want_list, "seed {seed} step {i}: list after {payload}");
            steps += 1;
            callbacks += want.len();
            pending += usize::from(want.is_empty());
        }
    }
    // The fixture exercises what it claims to.
    assert!(
        steps > 500 && callbacks > 2000 && pending > 50,
        "{steps} steps, {callbacks} callbacks, {pending} pending"
    );
}
