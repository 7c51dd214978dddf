//! Presence state: the `presence_state` / `presence_diff` semantics of phoenix.js and the
//! Supabase SDKs (spec C.2), exactly, as a pure structure the channel feeds.
//!
//! Exactly means the same joins and leaves, in the same order, with the same keys and metas in
//! the same order, as phoenix.js's `Presence.syncState` / `syncDiff`: keys go in JavaScript's
//! object order ([`KeyMap`]: array-index keys first by value, then the rest as first seen), a
//! state's leaves of vanished keys come before its leaves of keys that lost some metas, and a
//! key's metas keep the old ones first. core/tests/it/presence_js.rs checks every step of
//! sequences generated with phoenix.js itself. Where this differs on purpose:
//!
//! - A key with no metas is skipped (phoenix.js keeps it as an empty key and reports a join of
//!   nothing); the server never sends one, and kept keys would escape the entry limit.
//! - Diffs queued for a join whose state never came are dropped (below).
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

mod keys;
mod parse;

use alloc::collections::{BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use keys::{IntoIter, KeyMap};
use parse::{Diff, StateSeed, parse_error};
use serde::de;

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

impl Presence {
    /// The tracked fields as the app's own type (what it passed to `track`).
    ///
    /// # Errors
    ///
    /// serde_json's, when the fields do not deserialize into `T`.
    pub fn json<T: de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.payload)
    }
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

type State = KeyMap<Vec<Presence>>;

/// A channel's presence state: key -> presences in the order they joined (a [`KeyMap`] of
/// `Vec`s, in phoenix.js's key order), each presence its `presence_ref` and raw JSON payload,
/// plus the count of all presences, kept so the limit costs nothing to check.
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

    /// The presences by key, in phoenix.js's `list()` order.
    pub fn list(&self) -> &KeyMap<Vec<Presence>> {
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
        // syncState: first the leaves of keys that are gone (in the state's order), then, in
        // the new state's order, joins of new keys and of new metas, and leaves of lost metas.
        let mut joins = State::new();
        let mut leaves = State::new();
        for (key, current) in self.state.iter() {
            if !new.contains_key(key) {
                leaves.insert(String::from(key), current.clone());
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
        // Not always within the limit by construction: a key can hold a ref twice (a diff may
        // join one again), and the copies stay beside the new state's metas.
        if self.after(&joins, &leaves) > self.max_entries {
            return Err(PresenceError::TooManyEntries);
        }
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
mod tests;
