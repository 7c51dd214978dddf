//! Presence state: the `presence_state` / `presence_diff` semantics of phoenix.js and the
//! Supabase SDKs (spec C.2), exactly, as a pure structure the channel feeds.
//!
//! - `presence_state` replaces the state through [`sync_state`](PresenceState::handle_state):
//!   keys and refs that vanished are leaves, new ones joins, applied as a diff.
//! - `presence_diff` applies joins first (old entries kept first, then the new ones), then
//!   leaves (a key with nothing left is removed).
//! - Diffs that arrive before the `presence_state` of the channel's current join are queued
//!   (bounded) and applied, in order, right after it: a rejoin never applies the old join's
//!   diffs to the new state. The queue remembers the join its diffs came on, and a state or a
//!   diff of another join drops it (phoenix.js keeps one untagged queue, so diffs queued for a
//!   join that never got its state are applied after a later join's state).
//!
//! Entries keep their user fields as raw JSON text (numbers stay exact); `phx_ref` becomes
//! `presence_ref` and `phx_ref_prev` is dropped, as the SDKs expose them.

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::serializer::push_str;

/// Diffs kept while waiting for the `presence_state` of the current join; more are refused
/// (a server that never sends the state, spec C.2's #2196, must not grow memory).
pub const MAX_PENDING_DIFFS: usize = 1024;

/// The most presences (over all keys) a channel keeps by default; a state or diff that would
/// take it over is refused ([`PresenceError::TooManyEntries`]).
pub const DEFAULT_MAX_PRESENCE_ENTRIES: usize = 10_000;

/// Lists shorter than this are compared by a linear scan; longer ones through a set, so a key
/// with thousands of presences (a hostile server) costs `n log n`, not `n²`.
const SCAN_LEN: usize = 16;

/// One presence of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// The server's `phx_ref` for this presence.
    pub presence_ref: String,
    /// The tracked fields as a raw JSON object (without `phx_ref` and `phx_ref_prev`), in the
    /// server's order.
    pub payload: String,
}

/// What a state or diff changed, in order; `Sync` ends each applied state or diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PresenceEvent {
    /// Presences joined `key`.
    Join {
        /// The key.
        key: String,
        /// What the key had before.
        current: Vec<Presence>,
        /// What joined.
        joined: Vec<Presence>,
        /// True when the join comes from reconciling a `presence_state` (a sync: they may have
        /// been there all along, for example after a rejoin), false for a live diff.
        sync: bool,
    },
    /// Presences left `key`.
    Leave {
        /// The key.
        key: String,
        /// What the key has after.
        remaining: Vec<Presence>,
        /// What left.
        left: Vec<Presence>,
        /// True when the leave comes from reconciling a `presence_state`, false for a live diff.
        sync: bool,
    },
    /// The state is in sync.
    Sync,
}

/// A presence message that could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PresenceError {
    /// Not the shape `{key: {metas: [{phx_ref, ...}]}}` (or `{joins, leaves}` of those).
    InvalidPayload,
    /// More than [`MAX_PENDING_DIFFS`] diffs waited for the state: this one was dropped.
    TooManyPendingDiffs,
    /// The state or diff would take the channel over its presence limit: it was dropped and
    /// the state stays as it was.
    TooManyEntries,
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidPayload => "presence payload has the wrong shape",
            Self::TooManyPendingDiffs => "too many presence diffs waiting for the presence state",
            Self::TooManyEntries => "presence state over the channel's limit of entries",
        })
    }
}

impl core::error::Error for PresenceError {}

type State = BTreeMap<String, Vec<Presence>>;

/// A channel's presence state: key -> presences in the order they joined (a `BTreeMap` of
/// `Vec`s), each presence its `presence_ref` and raw JSON payload, plus the count of all
/// presences, kept so the limit costs nothing to check.
#[derive(Clone, Debug)]
pub struct PresenceState {
    state: State,
    /// Presences over all keys.
    entries: usize,
    max_entries: usize,
    /// The join ref whose `presence_state` produced the state.
    synced_join_ref: Option<String>,
    /// Diffs (joins, leaves) waiting for the state of the join `pending_join`, and the
    /// presences they hold (bounded by `max_entries` too).
    pending: VecDeque<(State, State)>,
    pending_join: Option<String>,
    pending_entries: usize,
}

impl Default for PresenceState {
    fn default() -> Self {
        Self::with_limit(DEFAULT_MAX_PRESENCE_ENTRIES)
    }
}

/// One meta object as a `Presence`, read in one pass: `phx_ref` taken out, `phx_ref_prev`
/// dropped, the other fields copied as raw JSON.
struct Meta(Presence);

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Meta;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a presence meta object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Meta, A::Error> {
                let mut presence_ref: Option<String> = None;
                let mut payload = String::from("{");
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "phx_ref" if presence_ref.is_some() => {
                            return Err(de::Error::duplicate_field("phx_ref"));
                        }
                        "phx_ref" => presence_ref = Some(map.next_value()?),
                        "phx_ref_prev" => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => {
                            let value: &'de RawValue = map.next_value()?;
                            if payload.len() > 1 {
                                payload.push(',');
                            }
                            push_str(&mut payload, &key);
                            payload.push(':');
                            payload.push_str(value.get());
                        }
                    }
                }
                payload.push('}');
                let presence_ref = presence_ref.ok_or_else(|| de::Error::missing_field("phx_ref"))?;
                Ok(Meta(Presence { presence_ref, payload }))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
struct Metas {
    metas: Vec<Meta>,
}

/// A `{key: {metas: [...]}}` map read straight into a `State`, refusing more than `limit`
/// presences as it goes (so an oversized message stops costing memory where it crosses).
struct StateSeed {
    limit: usize,
}

/// The error text that marks "over the limit" inside serde's error (told apart afterwards).
const OVER_LIMIT: &str = "presence limit";

impl<'de> de::DeserializeSeed<'de> for StateSeed {
    type Value = State;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<State, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StateSeed {
    type Value = State;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a presence map")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<State, A::Error> {
        let mut state = State::new();
        let mut count = 0usize;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let metas: Metas = map.next_value()?;
            if metas.metas.is_empty() {
                // A key with no presences means nothing, and must not cost a map entry that
                // the presence count (and so the limit) never sees.
                continue;
            }
            count += metas.metas.len();
            if count > self.limit {
                return Err(de::Error::custom(OVER_LIMIT));
            }
            let list: Vec<Presence> = metas.metas.into_iter().map(|m| m.0).collect();
            // A key given twice: the later one wins, as in a JSON object read anywhere else.
            if let Some(old) = state.insert(key.into_owned(), list) {
                count -= old.len();
            }
        }
        Ok(state)
    }
}

#[derive(Default)]
struct Diff {
    joins: State,
    leaves: State,
}

impl<'de> Deserialize<'de> for Diff {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V(usize);
        impl<'de> Visitor<'de> for V {
            type Value = Diff;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a presence diff")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Diff, A::Error> {
                let mut diff = Diff::default();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match key.as_ref() {
                        "joins" => diff.joins = map.next_value_seed(StateSeed { limit: self.0 })?,
                        "leaves" => diff.leaves = map.next_value_seed(StateSeed { limit: self.0 })?,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(diff)
            }
        }
        d.deserialize_map(V(usize::MAX))
    }
}

fn parse_error(e: &serde_json::Error) -> PresenceError {
    // serde_json keeps a custom message's text; only ours says this.
    if e.is_data() && alloc::format!("{e}").starts_with(OVER_LIMIT) {
        PresenceError::TooManyEntries
    } else {
        PresenceError::InvalidPayload
    }
}

/// The refs of a list, for membership tests: a scan for short lists, a set for long ones.
enum Refs<'a> {
    Scan(&'a [Presence]),
    Set(BTreeSet<&'a str>),
}

impl<'a> Refs<'a> {
    fn of(list: &'a [Presence]) -> Self {
        if list.len() < SCAN_LEN {
            Refs::Scan(list)
        } else {
            Refs::Set(list.iter().map(|p| p.presence_ref.as_str()).collect())
        }
    }

    fn contains(&self, r: &str) -> bool {
        match self {
            Refs::Scan(list) => list.iter().any(|p| p.presence_ref == r),
            Refs::Set(set) => set.contains(r),
        }
    }
}

impl PresenceState {
    /// An empty state, waiting for its first `presence_state`, with the default limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty state that keeps at most `max_entries` presences over all keys.
    pub fn with_limit(max_entries: usize) -> Self {
        Self {
            state: State::new(),
            entries: 0,
            max_entries,
            synced_join_ref: None,
            pending: VecDeque::new(),
            pending_join: None,
            pending_entries: 0,
        }
    }

    /// The presences by key.
    pub fn list(&self) -> &BTreeMap<String, Vec<Presence>> {
        &self.state
    }

    /// The number of presences over all keys.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether no one is present.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Whether diffs wait for the `presence_state` of the join `join_ref`.
    pub fn is_pending(&self, join_ref: &str) -> bool {
        self.synced_join_ref.as_deref() != Some(join_ref)
    }

    /// A `presence_state` payload, received on the join `join_ref`: the state becomes it (as
    /// joins and leaves against the old one), then the diffs that waited for it apply.
    pub fn handle_state(
        &mut self,
        join_ref: &str,
        payload: &str,
    ) -> Result<Vec<PresenceEvent>, PresenceError> {
        let mut de = serde_json::Deserializer::from_str(payload);
        let new = de::DeserializeSeed::deserialize(StateSeed { limit: self.max_entries }, &mut de)
            .and_then(|s| de.end().map(|()| s))
            .map_err(|e| parse_error(&e))?;
        let mut joins = State::new();
        let mut leaves = State::new();
        for (key, current) in &self.state {
            if !new.contains_key(key) {
                leaves.insert(key.clone(), current.clone());
            }
        }
        for (key, incoming) in new {
            match self.state.get(&key) {
                Some(current) => {
                    let current_refs = Refs::of(current);
                    let incoming_refs = Refs::of(&incoming);
                    let left: Vec<_> = current
                        .iter()
                        .filter(|c| !incoming_refs.contains(&c.presence_ref))
                        .cloned()
                        .collect();
                    let joined: Vec<_> =
                        incoming.into_iter().filter(|p| !current_refs.contains(&p.presence_ref)).collect();
                    if !joined.is_empty() {
                        joins.insert(key.clone(), joined);
                    }
                    if !left.is_empty() {
                        leaves.insert(key, left);
                    }
                }
                None => {
                    joins.insert(key, incoming);
                }
            }
        }
        // Within the limit by construction: the state ends as `new`, which was checked.
        let mut events = Vec::new();
        self.apply(joins, leaves, true, &mut events);
        self.synced_join_ref = Some(String::from(join_ref));
        if self.pending_join.as_deref() != Some(join_ref) {
            // Queued for an older join whose state never came: not this join's.
            self.pending.clear();
        }
        self.pending_join = None;
        self.pending_entries = 0;
        while let Some((joins, leaves)) = self.pending.pop_front() {
            if self.after(&joins, &leaves) > self.max_entries {
                // Dropped, as it would have been had it come live.
                continue;
            }
            self.apply(joins, leaves, false, &mut events);
        }
        events.push(PresenceEvent::Sync);
        Ok(events)
    }

    /// A `presence_diff` payload, received on the join `join_ref`: applied now, or queued until
    /// that join's `presence_state` (then the result is empty). Its cost is in proportion to
    /// the diff (and the keys it names), not to the whole state.
    pub fn handle_diff(
        &mut self,
        join_ref: &str,
        payload: &str,
    ) -> Result<Vec<PresenceEvent>, PresenceError> {
        let Diff { joins, leaves } = serde_json::from_str(payload).map_err(|e| parse_error(&e))?;
        if self.is_pending(join_ref) {
            if self.pending_join.as_deref() != Some(join_ref) {
                // A new join: what waited for an older one's state no longer applies.
                self.pending.clear();
                self.pending_entries = 0;
                self.pending_join = Some(String::from(join_ref));
            }
            if self.pending.len() >= MAX_PENDING_DIFFS {
                return Err(PresenceError::TooManyPendingDiffs);
            }
            let held = joins.values().chain(leaves.values()).map(Vec::len).sum::<usize>();
            if self.pending_entries + held > self.max_entries {
                return Err(PresenceError::TooManyEntries);
            }
            self.pending_entries += held;
            self.pending.push_back((joins, leaves));
            return Ok(Vec::new());
        }
        if self.after(&joins, &leaves) > self.max_entries {
            return Err(PresenceError::TooManyEntries);
        }
        let mut events = Vec::new();
        self.apply(joins, leaves, false, &mut events);
        events.push(PresenceEvent::Sync);
        Ok(events)
    }

    /// How many presences there would be after applying a diff (counted on the keys it names).
    fn after(&self, joins: &State, leaves: &State) -> usize {
        let mut total = self.entries;
        let mut touched = BTreeSet::new();
        touched.extend(joins.keys());
        touched.extend(leaves.keys());
        for key in touched {
            let current = self.state.get(key).map_or(&[][..], Vec::as_slice);
            let joined = joins.get(key).map_or(&[][..], Vec::as_slice);
            let left = leaves.get(key).map_or(&[][..], Vec::as_slice);
            let (joined_refs, left_refs) = (Refs::of(joined), Refs::of(left));
            let kept = current.iter().filter(|c| !joined_refs.contains(&c.presence_ref));
            let count = kept.chain(joined).filter(|p| !left_refs.contains(&p.presence_ref)).count();
            // A leave of a key absent before the joins is skipped, as in `apply`.
            let count = if current.is_empty() && joined.is_empty() { 0 } else { count };
            total = total - current.len() + count;
        }
        total
    }

    /// syncDiff: joins first (old entries kept first), then leaves.
    fn apply(&mut self, joins: State, leaves: State, sync: bool, events: &mut Vec<PresenceEvent>) {
        for (key, joined) in joins {
            let current = self.state.get(&key).cloned().unwrap_or_default();
            let joined_refs = Refs::of(&joined);
            let mut next: Vec<Presence> =
                current.iter().filter(|c| !joined_refs.contains(&c.presence_ref)).cloned().collect();
            next.extend(joined.iter().cloned());
            self.entries = self.entries - current.len() + next.len();
            self.state.insert(key.clone(), next);
            events.push(PresenceEvent::Join { key, current, joined, sync });
        }
        for (key, left) in leaves {
            let Some(list) = self.state.get_mut(&key) else { continue };
            let before = list.len();
            let left_refs = Refs::of(&left);
            list.retain(|p| !left_refs.contains(&p.presence_ref));
            self.entries = self.entries - before + list.len();
            let remaining = list.clone();
            if remaining.is_empty() {
                self.state.remove(&key);
            }
            events.push(PresenceEvent::Leave { key, remaining, left, sync });
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    use super::*;

    fn p(r: &str, payload: &str) -> Presence {
        Presence { presence_ref: r.to_string(), payload: payload.to_string() }
    }

    fn keys(s: &PresenceState) -> Vec<(String, Vec<String>)> {
        s.list()
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().map(|p| p.presence_ref.clone()).collect()))
            .collect()
    }

    #[test]
    fn state_then_diffs_as_phoenix_js() {
        let mut s = PresenceState::new();
        let events = s
            .handle_state("1", r#"{"u1":{"metas":[{"phx_ref":"a","user":"ana","n":12345678901234567890}]}}"#)
            .unwrap();
        assert_eq!(
            events,
            [
                PresenceEvent::Join {
                    key: "u1".into(),
                    current: vec![],
                    joined: vec![p("a", r#"{"user":"ana","n":12345678901234567890}"#)],
                    sync: true,
                },
                PresenceEvent::Sync
            ],
            "phx_ref becomes presence_ref; numbers stay exact"
        );
        // An update: a join with phx_ref_prev plus a leave of the old ref.
        let diff = r#"{"joins":{"u1":{"metas":[{"phx_ref":"b","phx_ref_prev":"a","user":"ana","away":true}]}},"leaves":{"u1":{"metas":[{"phx_ref":"a","user":"ana"}]}}}"#;
        let events = s.handle_diff("1", diff).unwrap();
        assert_eq!(events.len(), 3);
        match &events[0] {
            PresenceEvent::Join { current, joined, .. } => {
                assert_eq!(current.len(), 1);
                assert_eq!(joined, &[p("b", r#"{"user":"ana","away":true}"#)], "phx_ref_prev dropped");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(keys(&s), [("u1".to_string(), vec!["b".to_string()])]);
        // A second presence of the same key joins after the old one; a leave of the last
        // presence removes the key.
        s.handle_diff("1", r#"{"joins":{"u1":{"metas":[{"phx_ref":"c"}]}},"leaves":{}}"#).unwrap();
        assert_eq!(
            keys(&s),
            [("u1".to_string(), vec!["b".to_string(), "c".to_string()])],
            "old first, then new"
        );
        let events = s
            .handle_diff("1", r#"{"joins":{},"leaves":{"u1":{"metas":[{"phx_ref":"b"},{"phx_ref":"c"}]}}}"#)
            .unwrap();
        assert!(matches!(&events[0], PresenceEvent::Leave { remaining, .. } if remaining.is_empty()));
        assert!(s.list().is_empty());
        // A leave for an unknown key is skipped.
        let events = s.handle_diff("1", r#"{"leaves":{"ghost":{"metas":[{"phx_ref":"z"}]}}}"#).unwrap();
        assert_eq!(events, [PresenceEvent::Sync]);
    }

    #[test]
    fn a_new_state_is_joins_and_leaves_against_the_old_one() {
        let mut s = PresenceState::new();
        s.handle_state(
            "1",
            r#"{"u1":{"metas":[{"phx_ref":"a"},{"phx_ref":"b"}]},"u2":{"metas":[{"phx_ref":"c"}]}}"#,
        )
        .unwrap();
        let events = s
            .handle_state(
                "2",
                r#"{"u1":{"metas":[{"phx_ref":"b"},{"phx_ref":"d"}]},"u3":{"metas":[{"phx_ref":"e"}]}}"#,
            )
            .unwrap();
        let summary: Vec<_> = events
            .iter()
            .map(|e| match e {
                PresenceEvent::Join { key, joined, .. } => format!("join {key} {}", joined.len()),
                PresenceEvent::Leave { key, left, .. } => format!("leave {key} {}", left.len()),
                PresenceEvent::Sync => "sync".to_string(),
            })
            .collect();
        assert_eq!(
            summary,
            ["join u1 1", "join u3 1", "leave u1 1", "leave u2 1", "sync"],
            "joins before leaves"
        );
        assert_eq!(
            keys(&s),
            [
                ("u1".to_string(), vec!["b".to_string(), "d".to_string()]),
                ("u3".to_string(), vec!["e".to_string()])
            ]
        );
    }

    #[test]
    fn diffs_wait_for_the_state_of_the_current_join() {
        let mut s = PresenceState::new();
        assert!(s.is_pending("1"));
        assert_eq!(s.handle_diff("1", r#"{"joins":{"u2":{"metas":[{"phx_ref":"x"}]}}}"#).unwrap(), []);
        let events = s.handle_state("1", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
        assert_eq!(
            events.iter().filter(|e| matches!(e, PresenceEvent::Join { .. })).count(),
            2,
            "the state, then the queued diff"
        );
        assert_eq!(events.last(), Some(&PresenceEvent::Sync));
        assert_eq!(keys(&s).len(), 2);
        // A rejoin: diffs of the new join wait for its state; the old state stays until then.
        assert_eq!(s.handle_diff("2", r#"{"leaves":{"u1":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap(), []);
        assert_eq!(keys(&s).len(), 2);
        s.handle_state("2", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
        assert_eq!(keys(&s), [], "u2 left with the new state, u1 left by the queued diff");
        // Bounded.
        let mut s = PresenceState::new();
        for _ in 0..MAX_PENDING_DIFFS {
            s.handle_diff("1", r#"{"joins":{}}"#).unwrap();
        }
        assert_eq!(s.handle_diff("1", r#"{"joins":{}}"#), Err(PresenceError::TooManyPendingDiffs));
    }

    #[test]
    fn diffs_queued_on_a_join_that_never_got_its_state_are_dropped() {
        // Found by the model test (tests/it/presence_model.rs): join 2 queues a diff, the channel
        // rejoins (3) before join 2's state, and the server's state for join 3 already has `a`
        // gone. Join 2's diff must not bring it back.
        let mut s = PresenceState::new();
        s.handle_state("1", "{}").unwrap();
        s.handle_diff("2", r#"{"joins":{"u":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap();
        s.handle_state("3", r#"{"v":{"metas":[{"phx_ref":"b"}]}}"#).unwrap();
        assert_eq!(keys(&s), [("v".to_string(), vec!["b".to_string()])], "state then join 3's queue (empty)");
        // The same when join 3 queued diffs of its own: they apply, join 2's do not.
        s.handle_diff("4", r#"{"joins":{"u":{"metas":[{"phx_ref":"a"}]}}}"#).unwrap();
        s.handle_diff("5", r#"{"joins":{"w":{"metas":[{"phx_ref":"c"}]}}}"#).unwrap();
        s.handle_state("5", r#"{"v":{"metas":[{"phx_ref":"b"}]}}"#).unwrap();
        assert_eq!(
            keys(&s),
            [("v".to_string(), vec!["b".to_string()]), ("w".to_string(), vec!["c".to_string()])]
        );
    }

    #[test]
    fn malformed_payloads_are_typed_errors() {
        let mut s = PresenceState::new();
        for bad in [
            "[]",
            r#"{"u":{}}"#,
            r#"{"u":{"metas":[{"user":"no ref"}]}}"#,
            r#"{"u":{"metas":[{"phx_ref":1}]}}"#,
            "{",
        ] {
            assert_eq!(s.handle_state("1", bad), Err(PresenceError::InvalidPayload), "{bad}");
        }
        assert_eq!(s.handle_diff("1", r#"{"joins":[]}"#), Err(PresenceError::InvalidPayload));
    }

    fn metas(refs: impl IntoIterator<Item = usize>) -> String {
        let metas: Vec<String> = refs.into_iter().map(|r| format!(r#"{{"phx_ref":"r{r}"}}"#)).collect();
        format!(r#"{{"metas":[{}]}}"#, metas.join(","))
    }

    #[test]
    fn the_entry_limit_holds_for_states_and_diffs() {
        let mut s = PresenceState::with_limit(3);
        let over = format!(r#"{{"a":{},"b":{}}}"#, metas(0..2), metas(2..4));
        assert_eq!(s.handle_state("1", &over), Err(PresenceError::TooManyEntries));
        assert!(s.is_empty() && s.is_pending("1"), "refused whole");
        s.handle_state("1", &format!(r#"{{"a":{},"b":{}}}"#, metas(0..2), metas(2..3))).unwrap();
        assert_eq!(s.len(), 3);
        // One more is over; an update (join with a new ref, leave of the old) is not.
        let more = format!(r#"{{"joins":{{"c":{}}}}}"#, metas(9..10));
        assert_eq!(s.handle_diff("1", &more), Err(PresenceError::TooManyEntries));
        let update = format!(r#"{{"joins":{{"a":{}}},"leaves":{{"a":{}}}}}"#, metas(7..8), metas(0..1));
        s.handle_diff("1", &update).unwrap();
        assert_eq!(keys(&s)[0], ("a".to_string(), vec!["r1".to_string(), "r7".to_string()]));
        assert_eq!(s.len(), 3);
        // A re-join of refs already there counts once.
        s.handle_diff("1", &format!(r#"{{"joins":{{"b":{}}}}}"#, metas(2..3))).unwrap();
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn joins_and_leaves_say_whether_they_come_from_a_sync() {
        let mut s = PresenceState::new();
        let events = s.handle_state("1", &format!(r#"{{"a":{}}}"#, metas(0..1))).unwrap();
        assert!(matches!(events[0], PresenceEvent::Join { sync: true, .. }));
        let events = s.handle_diff("1", &format!(r#"{{"leaves":{{"a":{}}}}}"#, metas(0..1))).unwrap();
        assert!(matches!(events[0], PresenceEvent::Leave { sync: false, .. }));
    }

    #[test]
    fn a_key_with_many_presences_keeps_order_and_counts() {
        // Past the linear-scan length, the set path must give the same result.
        let mut s = PresenceState::new();
        s.handle_state("1", &format!(r#"{{"k":{}}}"#, metas(0..100))).unwrap();
        s.handle_diff(
            "1",
            &format!(r#"{{"joins":{{"k":{}}},"leaves":{{"k":{}}}}}"#, metas(50..150), metas(0..25)),
        )
        .unwrap();
        let refs: Vec<String> = (25..150).map(|r| format!("r{r}")).collect();
        assert_eq!(keys(&s), [("k".to_string(), refs)]);
        assert_eq!(s.len(), 125);
        let events = s.handle_state("2", &format!(r#"{{"k":{}}}"#, metas(100..200))).unwrap();
        assert_eq!(s.len(), 100);
        match &events[..] {
            [PresenceEvent::Join { joined, .. }, PresenceEvent::Leave { left, .. }, PresenceEvent::Sync] => {
                assert_eq!((joined.len(), left.len()), (50, 75));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_meta_with_two_refs_is_refused() {
        let mut s = PresenceState::new();
        assert_eq!(
            s.handle_state("1", r#"{"u":{"metas":[{"phx_ref":"a","phx_ref":"b"}]}}"#),
            Err(PresenceError::InvalidPayload)
        );
        assert_eq!(s.handle_state("1", r#"{"u":{"metas":[]}} x"#), Err(PresenceError::InvalidPayload));
    }

    /// Second read: diffs queued for an old join (its state never came) are applied on top of the
    /// next join's state, though the module says a rejoin never applies the old join's diffs.
    #[test]
    fn old_join_diffs_are_not_applied_to_a_new_joins_state() {
        let mut s = PresenceState::new();
        // Join 1: its state never arrives (#2196, a lost server push); a diff is queued.
        assert_eq!(s.handle_diff("1", r#"{"joins":{"ghost":{"metas":[{"phx_ref":"g"}]}}}"#).unwrap(), []);
        // Rejoin as join 2: its state, then nothing else.
        s.handle_state("2", r#"{"u1":{"metas":[{"phx_ref":"a"}]}}"#).unwrap();
        assert_eq!(keys(&s), [("u1".to_string(), vec!["a".to_string()])], "join 1's diff leaked into join 2");
    }

    /// Second read: the pending queue is bounded by count only; with a limit of 10 presences it
    /// holds 1024 diffs of 10 joins each (10,240 presences), plus leaves that are not counted.
    #[test]
    fn pending_diffs_stay_within_the_presence_limit() {
        let mut s = PresenceState::with_limit(10);
        let metas: Vec<String> = (0..10).map(|i| format!(r#"{{"phx_ref":"r{i}"}}"#)).collect();
        let diff = format!(r#"{{"joins":{{"k":{{"metas":[{}]}}}}}}"#, metas.join(","));
        for _ in 0..MAX_PENDING_DIFFS {
            let _ = s.handle_diff("1", &diff);
        }
        let queued: usize =
            s.pending.iter().map(|(j, l)| j.values().chain(l.values()).map(Vec::len).sum::<usize>()).sum();
        assert!(queued <= 10, "{queued} presences queued with a limit of 10");
    }
}
