//! Presence sync against a model of the server's tracker (Phoenix.Tracker semantics), and worked
//! examples of the cases the model exercises: diffs queued across a rejoin, and an update (a join
//! carrying `phx_ref_prev` plus a leave of the old ref).
//!
//! The model keeps, per key, the presences in the order they joined; an update removes the old
//! ref and appends the new one. Every operation becomes the `presence_diff` the server would
//! send. A rejoin loses the diffs sent while the channel was away, then gets a fresh
//! `presence_state` on the new join ref, which the diffs of the new join may overtake (they are
//! queued). The state's snapshot is taken at the join or up to a few operations later, so it may
//! already contain some of the diffs that overtook it, as on a real server where the channel
//! subscribes to the topic before it reads the tracker.

use std::collections::BTreeMap;

use proptest::prelude::*;
use realtime_core::phoenix::presence::{KeyMap, Presence, PresenceEvent, PresenceState};

/// Clients of the tracker (the observing client is not one of them; it only watches).
const CLIENTS: usize = 4;

/// Presence keys; clients pick among them, so several clients share a key.
const KEYS: [&str; 3] = ["ana", "bo", "room-bot"];

/// Tracked user fields: (name, raw JSON value) in the order the server writes them.
const PAYLOADS: [&[(&str, &str)]; 5] = [
    &[("user_id", r#""u-1f2e""#), ("online_at", r#""2026-11-26T10:00:00Z""#)],
    &[("status", r#""away""#), ("n", "12345678901234567890")],
    &[],
    &[("name", r#""caf\u00e9 \"x\"""#), ("tags", r#"[1,{"a":null}]"#), ("ok", "true")],
    &[("status", r#""online""#)],
];

/// The payload the client must keep for `PAYLOADS[i]`: the user fields as a JSON object.
fn user_fields(i: usize) -> String {
    let fields: Vec<String> = PAYLOADS[i].iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
    format!("{{{}}}", fields.join(","))
}

/// One presence as the model tracks it.
#[derive(Clone, Debug)]
struct Tracked {
    presence_ref: String,
    /// The ref this one replaced (an update), which the server keeps in the meta.
    prev: Option<String>,
    client: usize,
    payload: usize,
}

impl Tracked {
    /// The meta as the server writes it; `phx_ref` goes at a position depending on the payload
    /// (first, between user fields, or last), so the client cannot rely on where it is.
    fn meta(&self) -> String {
        let mut fields: Vec<String> =
            PAYLOADS[self.payload].iter().map(|(k, v)| format!(r#""{k}":{v}"#)).collect();
        let at = self.payload % (fields.len() + 1);
        fields.insert(at, format!(r#""phx_ref":"{}""#, self.presence_ref));
        if let Some(prev) = &self.prev {
            fields.push(format!(r#""phx_ref_prev":"{prev}""#));
        }
        format!("{{{}}}", fields.join(","))
    }
}

/// The server's tracker for one topic.
#[derive(Default)]
struct Model {
    next_ref: u32,
    keys: BTreeMap<String, Vec<Tracked>>,
}

/// `{key: {metas: [...]}}` of some presences per key.
fn metas_text<'a>(keys: impl IntoIterator<Item = (&'a str, Vec<&'a Tracked>)>) -> String {
    let entries: Vec<String> = keys
        .into_iter()
        .map(|(key, list)| {
            let metas: Vec<String> = list.iter().map(|t| t.meta()).collect();
            format!(r#""{key}":{{"metas":[{}]}}"#, metas.join(","))
        })
        .collect();
    format!("{{{}}}", entries.join(","))
}

fn diff_text(joins: &str, leaves: &str, leaves_first: bool) -> String {
    if leaves_first {
        format!(r#"{{"leaves":{leaves},"joins":{joins}}}"#)
    } else {
        format!(r#"{{"joins":{joins},"leaves":{leaves}}}"#)
    }
}

impl Model {
    /// A new unique ref, in the style of Phoenix's (not ordered like the join order).
    fn new_ref(&mut self) -> String {
        self.next_ref += 1;
        format!("F-{:08x}", self.next_ref.wrapping_mul(0x9E37_79B1))
    }

    fn find(&self, client: usize, key: &str) -> Option<usize> {
        self.keys.get(key)?.iter().position(|t| t.client == client)
    }

    /// Track (or update, when the client already tracks the key): the diff the server sends.
    fn track(&mut self, client: usize, key: &str, payload: usize) -> String {
        let presence_ref = self.new_ref();
        let old = self.find(client, key).map(|i| self.keys.get_mut(key).unwrap().remove(i));
        let new =
            Tracked { presence_ref, prev: old.as_ref().map(|o| o.presence_ref.clone()), client, payload };
        let joins = metas_text([(key, vec![&new])]);
        let leaves = match &old {
            Some(old) => metas_text([(key, vec![old])]),
            None => "{}".to_string(),
        };
        let text = diff_text(&joins, &leaves, self.next_ref.is_multiple_of(2));
        self.keys.entry(key.to_string()).or_default().push(new);
        text
    }

    /// Untrack: a leave, or nothing when the client does not track the key.
    fn untrack(&mut self, client: usize, key: &str) -> Option<String> {
        let i = self.find(client, key)?;
        let list = self.keys.get_mut(key).unwrap();
        let old = list.remove(i);
        if list.is_empty() {
            self.keys.remove(key);
        }
        Some(diff_text("{}", &metas_text([(key, vec![&old])]), false))
    }

    /// The client's process died: all of its presences leave in one diff.
    fn crash(&mut self, client: usize) -> Option<String> {
        let mut gone: Vec<(String, Tracked)> = Vec::new();
        for (key, list) in &mut self.keys {
            if let Some(i) = list.iter().position(|t| t.client == client) {
                gone.push((key.clone(), list.remove(i)));
            }
        }
        self.keys.retain(|_, list| !list.is_empty());
        if gone.is_empty() {
            return None;
        }
        let leaves = metas_text(gone.iter().map(|(k, t)| (k.as_str(), vec![t])));
        Some(diff_text("{}", &leaves, false))
    }

    fn state_text(&self) -> String {
        metas_text(self.keys.iter().map(|(k, list)| (k.as_str(), list.iter().collect())))
    }

    fn count(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// key -> [(presence_ref, payload)] in join order.
    fn view(&self) -> Vec<(String, Vec<(String, String)>)> {
        self.keys
            .iter()
            .map(|(k, list)| {
                (k.clone(), list.iter().map(|t| (t.presence_ref.clone(), user_fields(t.payload))).collect())
            })
            .collect()
    }
}

/// The client's state in the model's shape: keys sorted, as the model keeps them (the key
/// order itself is phoenix.js's, checked against phoenix.js in presence_js.rs).
fn view(list: &KeyMap<Vec<Presence>>) -> Vec<(String, Vec<(String, String)>)> {
    view_of(list.iter())
}

fn view_of<'a>(
    list: impl Iterator<Item = (&'a str, &'a Vec<Presence>)>,
) -> Vec<(String, Vec<(String, String)>)> {
    let mut view: Vec<_> = list
        .map(|(k, v)| {
            (k.to_string(), v.iter().map(|p| (p.presence_ref.clone(), p.payload.clone())).collect())
        })
        .collect();
    view.sort();
    view
}

fn refs(list: &[Presence]) -> Vec<&str> {
    list.iter().map(|p| p.presence_ref.as_str()).collect()
}

/// What an application sees if it keeps its own copy of the state from the events alone
/// (phoenix.js `onJoin`/`onLeave` consumers): each Join's `current` must be what the key had, each
/// Leave's `remaining` what it has after. Also checks the event stream's shape: one `Sync`, last,
/// and every event from the state's reconciliation (`sync: true`) before the queued diffs'.
fn replay(
    shadow: &mut BTreeMap<String, Vec<Presence>>,
    events: &[PresenceEvent],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(events.last(), Some(&PresenceEvent::Sync));
    prop_assert_eq!(events.iter().filter(|e| **e == PresenceEvent::Sync).count(), 1);
    let mut live_seen = false;
    for e in events {
        match e {
            PresenceEvent::Join { key, current, joined, sync } => {
                prop_assert!(!(*sync && live_seen), "a sync event after a live one: {events:?}");
                live_seen |= !*sync;
                let had = shadow.remove(key).unwrap_or_default();
                prop_assert_eq!(&had, current, "Join current of {}", key);
                let mut next: Vec<Presence> = had
                    .into_iter()
                    .filter(|c| !joined.iter().any(|j| j.presence_ref == c.presence_ref))
                    .collect();
                next.extend(joined.iter().cloned());
                shadow.insert(key.clone(), next);
            }
            PresenceEvent::Leave { key, remaining, left, sync } => {
                prop_assert!(!(*sync && live_seen), "a sync event after a live one: {events:?}");
                live_seen |= !*sync;
                let list = shadow.get_mut(key);
                prop_assert!(list.is_some(), "Leave of absent key {}", key);
                let list = list.unwrap();
                list.retain(|p| !left.iter().any(|l| l.presence_ref == p.presence_ref));
                prop_assert_eq!(&*list, remaining, "Leave remaining of {}", key);
                if list.is_empty() {
                    shadow.remove(key);
                }
            }
            PresenceEvent::Sync => {}
        }
    }
    Ok(())
}

/// One thing that happens on the server.
#[derive(Clone, Debug)]
enum Op {
    Track {
        client: usize,
        key: usize,
        payload: usize,
    },
    Untrack {
        client: usize,
        key: usize,
    },
    Crash {
        client: usize,
    },
    /// The observing client's channel dropped and rejoined. The diffs of the next `missed`
    /// operations are lost (the channel is away); then it joins with a new join ref, the server
    /// reads its tracker for the `presence_state` after `snapshot_lag` more operations and the
    /// state arrives `delivery_lag` operations after that; diffs in between arrive first.
    Rejoin {
        missed: usize,
        snapshot_lag: usize,
        delivery_lag: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..CLIENTS, 0..KEYS.len(), 0..PAYLOADS.len())
            .prop_map(|(client, key, payload)| Op::Track { client, key, payload }),
        3 => (0..CLIENTS, 0..KEYS.len()).prop_map(|(client, key)| Op::Untrack { client, key }),
        1 => (0..CLIENTS).prop_map(|client| Op::Crash { client }),
        1 => (0usize..3, 0usize..3, 0usize..3).prop_map(|(missed, snapshot_lag, delivery_lag)| Op::Rejoin {
            missed,
            snapshot_lag,
            delivery_lag
        }),
    ]
}

/// Where the observing client's channel is.
enum Phase {
    /// Joined and synced: diffs apply as they come.
    Joined,
    /// Away: diffs are lost for `missed` more operations, then the channel joins.
    Away { missed: usize, snapshot_lag: usize, delivery_lag: usize },
    /// Joined, its `presence_state` on its way.
    Joining { snapshot_in: usize, snapshot: Option<String>, delivery_in: usize },
}

/// The observing client and what it has been sent.
struct Observer {
    presence: PresenceState,
    join: u32,
    phase: Phase,
    /// What the application rebuilt from the events.
    shadow: BTreeMap<String, Vec<Presence>>,
    /// The state when the current join started: it must stay as it is until its state arrives.
    frozen: Vec<(String, Vec<(String, String)>)>,
}

impl Observer {
    fn join_ref(&self) -> String {
        self.join.to_string()
    }

    fn rejoin(&mut self, missed: usize, snapshot_lag: usize, delivery_lag: usize) {
        // A state still on its way belongs to the old join: the channel drops it (stale join ref).
        self.phase = Phase::Away { missed, snapshot_lag, delivery_lag };
        self.frozen = view(self.presence.list());
    }

    fn diff(&mut self, text: &str) -> Result<(), TestCaseError> {
        if matches!(self.phase, Phase::Away { .. }) {
            return Ok(());
        }
        let events = self
            .presence
            .handle_diff(&self.join_ref(), text)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        if matches!(self.phase, Phase::Joining { .. }) {
            prop_assert!(events.is_empty(), "a diff applied before its join's state: {events:?}");
        } else {
            let from_sync = |e: &PresenceEvent| {
                matches!(e, PresenceEvent::Join { sync: true, .. } | PresenceEvent::Leave { sync: true, .. })
            };
            prop_assert!(!events.iter().any(from_sync), "a live diff gave sync events: {:?}", events);
            replay(&mut self.shadow, &events)?;
        }
        Ok(())
    }

    /// After an operation: the server may read its tracker, and the state may arrive.
    /// After an operation: the channel may join, the server may read its tracker, and the
    /// state may arrive.
    fn tick(&mut self, model: &Model) -> Result<(), TestCaseError> {
        if let Phase::Away { missed, snapshot_lag, delivery_lag } = &mut self.phase {
            if *missed > 0 {
                *missed -= 1;
                return Ok(());
            }
            self.join += 1;
            self.phase =
                Phase::Joining { snapshot_in: *snapshot_lag, snapshot: None, delivery_in: *delivery_lag };
        }
        let Phase::Joining { snapshot_in, snapshot, delivery_in } = &mut self.phase else { return Ok(()) };
        if snapshot.is_none() {
            if *snapshot_in > 0 {
                *snapshot_in -= 1;
                return Ok(());
            }
            *snapshot = Some(model.state_text());
        }
        if *delivery_in > 0 {
            *delivery_in -= 1;
            return Ok(());
        }
        self.deliver(model)
    }

    /// The state arrives now (read now if the server has not read it yet).
    fn deliver(&mut self, model: &Model) -> Result<(), TestCaseError> {
        if let Phase::Away { .. } = self.phase {
            self.join += 1;
        }
        let text = match core::mem::replace(&mut self.phase, Phase::Joined) {
            Phase::Joined => return Ok(()),
            Phase::Joining { snapshot: Some(text), .. } => text,
            Phase::Away { .. } | Phase::Joining { snapshot: None, .. } => model.state_text(),
        };
        let events = self
            .presence
            .handle_state(&self.join_ref(), &text)
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        replay(&mut self.shadow, &events)
    }

    /// The state matches the model (or, while a state is on its way, stays as it was).
    fn check(&self, model: &Model) -> Result<(), TestCaseError> {
        let got = view(self.presence.list());
        match self.phase {
            Phase::Joined => prop_assert!(!self.presence.is_pending(&self.join_ref())),
            Phase::Joining { .. } => prop_assert!(self.presence.is_pending(&self.join_ref())),
            // Still on the old join, synced or not; the client cannot tell yet.
            Phase::Away { .. } => {}
        }
        prop_assert!(self.presence.list().values().all(|v| !v.is_empty()), "a key with no presences");
        prop_assert_eq!(self.presence.len(), self.presence.list().values().map(Vec::len).sum::<usize>());
        prop_assert_eq!(
            view_of(self.shadow.iter().map(|(k, v)| (k.as_str(), v))),
            got.clone(),
            "the events rebuild the state"
        );
        if !matches!(self.phase, Phase::Joined) {
            prop_assert_eq!(got, self.frozen.clone(), "the state changed before its join's presence_state");
            return Ok(());
        }
        prop_assert_eq!(self.presence.len(), model.count());
        prop_assert_eq!(got.clone(), model.view());
        let mut fresh = PresenceState::new();
        fresh.handle_state("f", &model.state_text()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(got, view(fresh.list()), "the same as a fresh sync of the model");
        Ok(())
    }
}

fn run(first: (usize, usize), ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let mut obs = Observer {
        presence: PresenceState::new(),
        join: 0,
        phase: Phase::Joined,
        shadow: BTreeMap::new(),
        frozen: Vec::new(),
    };
    obs.rejoin(0, first.0, first.1);
    obs.tick(&model)?;
    obs.check(&model)?;
    for op in ops {
        let diff = match *op {
            Op::Track { client, key, payload } => Some(model.track(client, KEYS[key], payload)),
            Op::Untrack { client, key } => model.untrack(client, KEYS[key]),
            Op::Crash { client } => model.crash(client),
            Op::Rejoin { missed, snapshot_lag, delivery_lag } => {
                obs.rejoin(missed, snapshot_lag, delivery_lag);
                None
            }
        };
        if let Some(diff) = diff {
            obs.diff(&diff)?;
        }
        obs.tick(&model)?;
        obs.check(&model)?;
    }
    obs.deliver(&model)?;
    obs.check(&model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// After every operation the client's state is the model's (or, while the new join's
    /// state is on its way, the old one unchanged), and the events rebuild it.
    #[test]
    fn presence_follows_the_server_tracker(
        first in (0usize..3, 0usize..3),
        ops in proptest::collection::vec(op(), 0..60),
    ) {
        run(first, &ops)?;
    }
}

/// One input of a worked example and what must come out of it.
struct Step {
    input: Input,
    /// The events, summarised by [`summary`].
    events: &'static [&'static str],
    /// key -> [(presence_ref, payload)] afterwards.
    list: &'static [(&'static str, &'static [(&'static str, &'static str)])],
}

enum Input {
    State(&'static str, &'static str),
    Diff(&'static str, &'static str),
}

fn summary(e: &PresenceEvent) -> String {
    let flag = |sync: bool| if sync { "sync" } else { "live" };
    match e {
        PresenceEvent::Join { key, current, joined, sync } => {
            format!("join {key} current={:?} joined={:?} {}", refs(current), refs(joined), flag(*sync))
        }
        PresenceEvent::Leave { key, remaining, left, sync } => {
            format!("leave {key} remaining={:?} left={:?} {}", refs(remaining), refs(left), flag(*sync))
        }
        PresenceEvent::Sync => "sync".to_string(),
    }
}

fn check(name: &str, steps: &[Step]) {
    let mut s = PresenceState::new();
    for (i, step) in steps.iter().enumerate() {
        let events = match step.input {
            Input::State(join_ref, text) => s.handle_state(join_ref, text),
            Input::Diff(join_ref, text) => s.handle_diff(join_ref, text),
        }
        .unwrap_or_else(|e| panic!("{name} step {i}: {e}"));
        let got: Vec<String> = events.iter().map(summary).collect();
        assert_eq!(got, step.events, "{name} step {i}: events");
        let want: Vec<(String, Vec<(String, String)>)> = step
            .list
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|(r, p)| (r.to_string(), p.to_string())).collect()))
            .collect();
        assert_eq!(view(s.list()), want, "{name} step {i}: state");
        assert_eq!(s.len(), want.iter().map(|(_, v)| v.len()).sum::<usize>(), "{name} step {i}: len");
    }
}

#[test]
fn diffs_of_a_new_join_wait_for_its_state() {
    check(
        "rejoin",
        &[
            Step {
                input: Input::State(
                    "1",
                    r#"{"u1":{"metas":[{"phx_ref":"a"}]},"u2":{"metas":[{"phx_ref":"b"}]}}"#,
                ),
                events: &[
                    "join u1 current=[] joined=[\"a\"] sync",
                    "join u2 current=[] joined=[\"b\"] sync",
                    "sync",
                ],
                list: &[("u1", &[("a", "{}")]), ("u2", &[("b", "{}")])],
            },
            Step {
                input: Input::Diff("1", r#"{"joins":{"u3":{"metas":[{"phx_ref":"c"}]}},"leaves":{}}"#),
                events: &["join u3 current=[] joined=[\"c\"] live", "sync"],
                list: &[("u1", &[("a", "{}")]), ("u2", &[("b", "{}")]), ("u3", &[("c", "{}")])],
            },
            // The channel rejoined (join ref 2); two diffs of the new join overtake its state
            // and wait, the old state stays visible meanwhile.
            Step {
                input: Input::Diff("2", r#"{"joins":{},"leaves":{"u1":{"metas":[{"phx_ref":"a"}]}}}"#),
                events: &[],
                list: &[("u1", &[("a", "{}")]), ("u2", &[("b", "{}")]), ("u3", &[("c", "{}")])],
            },
            Step {
                input: Input::Diff("2", r#"{"joins":{"u2":{"metas":[{"phx_ref":"d"}]}},"leaves":{}}"#),
                events: &[],
                list: &[("u1", &[("a", "{}")]), ("u2", &[("b", "{}")]), ("u3", &[("c", "{}")])],
            },
            // The state, read before those diffs (u3 left while the channel was away): it is
            // reconciled (sync events), then the queued diffs apply in order (live events).
            Step {
                input: Input::State(
                    "2",
                    r#"{"u1":{"metas":[{"phx_ref":"a"}]},"u2":{"metas":[{"phx_ref":"b"}]}}"#,
                ),
                events: &[
                    "leave u3 remaining=[] left=[\"c\"] sync",
                    "leave u1 remaining=[] left=[\"a\"] live",
                    "join u2 current=[\"b\"] joined=[\"d\"] live",
                    "sync",
                ],
                list: &[("u2", &[("b", "{}"), ("d", "{}")])],
            },
            // Another rejoin whose state was read after the diff that overtook it: the diff is
            // in the state already and applying it again changes nothing.
            Step {
                input: Input::Diff("3", r#"{"joins":{"u4":{"metas":[{"phx_ref":"e"}]}},"leaves":{}}"#),
                events: &[],
                list: &[("u2", &[("b", "{}"), ("d", "{}")])],
            },
            Step {
                input: Input::State(
                    "3",
                    r#"{"u2":{"metas":[{"phx_ref":"b"},{"phx_ref":"d"}]},"u4":{"metas":[{"phx_ref":"e"}]}}"#,
                ),
                events: &[
                    "join u4 current=[] joined=[\"e\"] sync",
                    "join u4 current=[\"e\"] joined=[\"e\"] live",
                    "sync",
                ],
                list: &[("u2", &[("b", "{}"), ("d", "{}")]), ("u4", &[("e", "{}")])],
            },
        ],
    );
}

#[test]
fn an_update_is_a_join_with_the_previous_ref_and_a_leave() {
    check(
        "update",
        &[
            Step {
                input: Input::State(
                    "1",
                    r#"{"u1":{"metas":[{"phx_ref":"a","status":"online"},{"status":"online","phx_ref":"c"}]}}"#,
                ),
                events: &["join u1 current=[] joined=[\"a\", \"c\"] sync", "sync"],
                list: &[("u1", &[("a", r#"{"status":"online"}"#), ("c", r#"{"status":"online"}"#)])],
            },
            // The client of `a` tracks again with other fields: the new meta joins (carrying
            // phx_ref_prev, which the client drops), the old one leaves; the updated presence
            // moves after `c`, as in the server's tracker.
            Step {
                input: Input::Diff(
                    "1",
                    r#"{"joins":{"u1":{"metas":[{"phx_ref":"b","phx_ref_prev":"a","status":"away"}]}},"leaves":{"u1":{"metas":[{"phx_ref":"a","status":"online"}]}}}"#,
                ),
                events: &[
                    "join u1 current=[\"a\", \"c\"] joined=[\"b\"] live",
                    "leave u1 remaining=[\"c\", \"b\"] left=[\"a\"] live",
                    "sync",
                ],
                list: &[("u1", &[("c", r#"{"status":"online"}"#), ("b", r#"{"status":"away"}"#)])],
            },
            // The same update seen through a rejoin's state: the state's meta still carries
            // phx_ref_prev; reconciling it is a sync join and a sync leave.
            Step {
                input: Input::State(
                    "2",
                    r#"{"u1":{"metas":[{"phx_ref":"c","status":"online"},{"phx_ref":"e","phx_ref_prev":"b","status":"busy","n":1.50}]}}"#,
                ),
                events: &[
                    "join u1 current=[\"c\", \"b\"] joined=[\"e\"] sync",
                    "leave u1 remaining=[\"c\", \"e\"] left=[\"b\"] sync",
                    "sync",
                ],
                list: &[("u1", &[("c", r#"{"status":"online"}"#), ("e", r#"{"status":"busy","n":1.50}"#)])],
            },
        ],
    );
}

/// The events carry the presences themselves, payloads included.
#[test]
fn update_events_carry_the_payloads() {
    let mut s = PresenceState::new();
    s.handle_state("1", r#"{"u1":{"metas":[{"phx_ref":"a","status":"online"}]}}"#).unwrap();
    let events = s
        .handle_diff(
            "1",
            r#"{"joins":{"u1":{"metas":[{"phx_ref":"b","phx_ref_prev":"a","status":"away"}]}},"leaves":{"u1":{"metas":[{"phx_ref":"a","status":"online"}]}}}"#,
        )
        .unwrap();
    let p = |r: &str, payload: &str| Presence { presence_ref: r.to_string(), payload: payload.to_string() };
    assert_eq!(
        events,
        [
            PresenceEvent::Join {
                key: "u1".into(),
                current: vec![p("a", r#"{"status":"online"}"#)],
                joined: vec![p("b", r#"{"status":"away"}"#)],
                sync: false,
            },
            PresenceEvent::Leave {
                key: "u1".into(),
                remaining: vec![p("b", r#"{"status":"away"}"#)],
                left: vec![p("a", r#"{"status":"online"}"#)],
                sync: false,
            },
            PresenceEvent::Sync,
        ]
    );
}
