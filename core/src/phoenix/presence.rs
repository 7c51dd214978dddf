//! Presence state: the `presence_state` / `presence_diff` semantics of phoenix.js and the
//! Supabase SDKs (spec C.2), exactly, as a pure structure the channel feeds.
//!
//! - `presence_state` replaces the state through [`sync_state`](PresenceState::handle_state):
//!   keys and refs that vanished are leaves, new ones joins, applied as a diff.
//! - `presence_diff` applies joins first (old entries kept first, then the new ones), then
//!   leaves (a key with nothing left is removed).
//! - Diffs that arrive before the `presence_state` of the channel's current join are queued
//!   (bounded) and applied, in order, right after it: a rejoin never applies the old join's
//!   diffs to the new state.
//!
//! Entries keep their user fields as raw JSON text (numbers stay exact); `phx_ref` becomes
//! `presence_ref` and `phx_ref_prev` is dropped, as the SDKs expose them.

use alloc::borrow::Cow;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::serializer::push_str;

/// Diffs kept while waiting for the `presence_state` of the current join; more are refused
/// (a server that never sends the state, spec C.2's #2196, must not grow memory).
pub const MAX_PENDING_DIFFS: usize = 1024;

/// One presence of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    /// The server's `phx_ref` for this presence.
    pub presence_ref: String,
    /// The tracked fields as a raw JSON object (without `phx_ref` and `phx_ref_prev`).
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
    },
    /// Presences left `key`.
    Leave {
        /// The key.
        key: String,
        /// What the key has after.
        remaining: Vec<Presence>,
        /// What left.
        left: Vec<Presence>,
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
}

impl fmt::Display for PresenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidPayload => "presence payload has the wrong shape",
            Self::TooManyPendingDiffs => "too many presence diffs waiting for the presence state",
        })
    }
}

impl core::error::Error for PresenceError {}

type State = BTreeMap<String, Vec<Presence>>;

/// A channel's presence state.
#[derive(Clone, Debug, Default)]
pub struct PresenceState {
    state: State,
    /// The join ref whose `presence_state` produced the state.
    synced_join_ref: Option<String>,
    /// Diffs (joins, leaves) waiting for that state.
    pending: VecDeque<(State, State)>,
}

#[derive(Deserialize)]
struct Metas<'a> {
    #[serde(borrow)]
    metas: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct Diff<'a> {
    #[serde(borrow, default)]
    joins: BTreeMap<Cow<'a, str>, Metas<'a>>,
    #[serde(borrow, default)]
    leaves: BTreeMap<Cow<'a, str>, Metas<'a>>,
}

/// A raw meta object as a `Presence`: `phx_ref` taken out, `phx_ref_prev` dropped.
fn presence(meta: &RawValue) -> Result<Presence, PresenceError> {
    let fields: BTreeMap<Cow<'_, str>, &RawValue> =
        serde_json::from_str(meta.get()).map_err(|_| PresenceError::InvalidPayload)?;
    let mut presence_ref = None;
    let mut payload = String::from("{");
    for (k, v) in &fields {
        match k.as_ref() {
            "phx_ref" => {
                presence_ref =
                    Some(serde_json::from_str::<String>(v.get()).map_err(|_| PresenceError::InvalidPayload)?)
            }
            "phx_ref_prev" => {}
            _ => {
                if payload.len() > 1 {
                    payload.push(',');
                }
                push_str(&mut payload, k);
                payload.push(':');
                payload.push_str(v.get());
            }
        }
    }
    payload.push('}');
    Ok(Presence { presence_ref: presence_ref.ok_or(PresenceError::InvalidPayload)?, payload })
}

fn state_of(raw: BTreeMap<Cow<'_, str>, Metas<'_>>) -> Result<State, PresenceError> {
    let mut state = State::new();
    for (key, metas) in raw {
        let list = metas.metas.iter().map(|m| presence(m)).collect::<Result<Vec<_>, _>>()?;
        state.insert(key.into_owned(), list);
    }
    Ok(state)
}

impl PresenceState {
    /// An empty state, waiting for its first `presence_state`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The presences by key.
    pub fn list(&self) -> &BTreeMap<String, Vec<Presence>> {
        &self.state
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
        let raw: BTreeMap<Cow<'_, str>, Metas<'_>> =
            serde_json::from_str(payload).map_err(|_| PresenceError::InvalidPayload)?;
        let new = state_of(raw)?;
        let mut joins = State::new();
        let mut leaves = State::new();
        for (key, current) in &self.state {
            if !new.contains_key(key) {
                leaves.insert(key.clone(), current.clone());
            }
        }
        for (key, incoming) in &new {
            match self.state.get(key) {
                Some(current) => {
                    let joined: Vec<_> = incoming
                        .iter()
                        .filter(|p| !current.iter().any(|c| c.presence_ref == p.presence_ref))
                        .cloned()
                        .collect();
                    let left: Vec<_> = current
                        .iter()
                        .filter(|c| !incoming.iter().any(|p| p.presence_ref == c.presence_ref))
                        .cloned()
                        .collect();
                    if !joined.is_empty() {
                        joins.insert(key.clone(), joined);
                    }
                    if !left.is_empty() {
                        leaves.insert(key.clone(), left);
                    }
                }
                None => {
                    joins.insert(key.clone(), incoming.clone());
                }
            }
        }
        let mut events = Vec::new();
        self.apply(joins, leaves, &mut events);
        self.synced_join_ref = Some(String::from(join_ref));
        while let Some((joins, leaves)) = self.pending.pop_front() {
            self.apply(joins, leaves, &mut events);
        }
        events.push(PresenceEvent::Sync);
        Ok(events)
    }

    /// A `presence_diff` payload, received on the join `join_ref`: applied now, or queued until
    /// that join's `presence_state` (then the result is empty).
    pub fn handle_diff(
        &mut self,
        join_ref: &str,
        payload: &str,
    ) -> Result<Vec<PresenceEvent>, PresenceError> {
        let diff: Diff<'_> = serde_json::from_str(payload).map_err(|_| PresenceError::InvalidPayload)?;
        let joins = state_of(diff.joins)?;
        let leaves = state_of(diff.leaves)?;
        if self.is_pending(join_ref) {
            if self.synced_join_ref.is_some() {
                // A new join: the old join's queue and state no longer apply to what comes.
                self.synced_join_ref = None;
                self.pending.clear();
            }
            if self.pending.len() >= MAX_PENDING_DIFFS {
                return Err(PresenceError::TooManyPendingDiffs);
            }
            self.pending.push_back((joins, leaves));
            return Ok(Vec::new());
        }
        let mut events = Vec::new();
        self.apply(joins, leaves, &mut events);
        events.push(PresenceEvent::Sync);
        Ok(events)
    }

    /// syncDiff: joins first (old entries kept first), then leaves.
    fn apply(&mut self, joins: State, leaves: State, events: &mut Vec<PresenceEvent>) {
        for (key, joined) in joins {
            let current = self.state.get(&key).cloned().unwrap_or_default();
            let mut next: Vec<Presence> = current
                .iter()
                .filter(|c| !joined.iter().any(|j| j.presence_ref == c.presence_ref))
                .cloned()
                .collect();
            next.extend(joined.iter().cloned());
            self.state.insert(key.clone(), next);
            events.push(PresenceEvent::Join { key, current, joined });
        }
        for (key, left) in leaves {
            let Some(list) = self.state.get_mut(&key) else { continue };
            list.retain(|p| !left.iter().any(|l| l.presence_ref == p.presence_ref));
            let remaining = list.clone();
            if remaining.is_empty() {
                self.state.remove(&key);
            }
            events.push(PresenceEvent::Leave { key, remaining, left });
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
                    joined: vec![p("a", r#"{"n":12345678901234567890,"user":"ana"}"#)]
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
                assert_eq!(joined, &[p("b", r#"{"away":true,"user":"ana"}"#)], "phx_ref_prev dropped");
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
}
