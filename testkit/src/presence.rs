//! Presence as Phoenix.Presence keeps it for one topic: presences in the order they were
//! tracked, each a meta with a `phx_ref`; an update is a join (with `phx_ref_prev`) plus a leave.

use serde_json::{Map, Value, json};

/// Who tracked a presence: a channel of a connection.
pub type Owner = u64;

#[derive(Clone, Debug)]
struct Entry {
    owner: Owner,
    key: String,
    /// The user's fields.
    payload: Map<String, Value>,
    phx_ref: String,
}

/// A topic's presences.
#[derive(Clone, Debug, Default)]
pub struct Tracker {
    entries: Vec<Entry>,
}

/// A presence diff to broadcast: `{joins, leaves}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    /// Key -> metas that joined.
    pub joins: Map<String, Value>,
    /// Key -> metas that left.
    pub leaves: Map<String, Value>,
}

impl Diff {
    /// The `presence_diff` payload.
    pub fn payload(&self) -> Value {
        json!({"joins": self.joins, "leaves": self.leaves})
    }

    fn add(side: &mut Map<String, Value>, key: &str, meta: Value) {
        let entry = side.entry(key.to_string()).or_insert_with(|| json!({"metas": []}));
        if let Some(metas) = entry["metas"].as_array_mut() {
            metas.push(meta);
        }
    }
}

fn meta(e: &Entry, prev: Option<&str>) -> Value {
    let mut m = e.payload.clone();
    m.insert("phx_ref".into(), Value::String(e.phx_ref.clone()));
    if let Some(prev) = prev {
        m.insert("phx_ref_prev".into(), Value::String(prev.into()));
    }
    Value::Object(m)
}

impl Tracker {
    /// The `presence_state` payload: key -> `{metas}` in tracking order.
    pub fn state(&self) -> Value {
        let mut out = Map::new();
        for e in &self.entries {
            Diff::add(&mut out, &e.key, meta(e, None));
        }
        Value::Object(out)
    }

    /// `owner` tracks `payload` under `key` with the new ref `phx_ref`. A track identical to
    /// the owner's current one changes nothing; a different one updates it.
    pub fn track(
        &mut self,
        owner: Owner,
        key: &str,
        payload: Map<String, Value>,
        phx_ref: String,
    ) -> Option<Diff> {
        let mut diff = Diff::default();
        if let Some(i) = self.entries.iter().position(|e| e.owner == owner && e.key == key) {
            if self.entries[i].payload == payload {
                return None;
            }
            let old = self.entries.remove(i);
            let new = Entry { owner, key: key.into(), payload, phx_ref };
            Diff::add(&mut diff.joins, key, meta(&new, Some(&old.phx_ref)));
            Diff::add(&mut diff.leaves, key, meta(&old, None));
            self.entries.push(new);
        } else {
            let new = Entry { owner, key: key.into(), payload, phx_ref };
            Diff::add(&mut diff.joins, key, meta(&new, None));
            self.entries.push(new);
        }
        Some(diff)
    }

    /// Everything `owner` tracked leaves (an untrack, a leave, a closed socket).
    pub fn untrack(&mut self, owner: Owner) -> Option<Diff> {
        let mut diff = Diff::default();
        self.entries.retain(|e| {
            if e.owner == owner {
                Diff::add(&mut diff.leaves, &e.key, meta(e, None));
                false
            } else {
                true
            }
        });
        (!diff.leaves.is_empty()).then_some(diff)
    }

    /// Whether no one is present.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn track_update_untrack_as_phoenix_presence() {
        let mut t = Tracker::default();
        let d = t.track(1, "ana", p(json!({"s": 1})), "r1".into()).unwrap();
        assert_eq!(
            d.payload(),
            json!({"joins": {"ana": {"metas": [{"s": 1, "phx_ref": "r1"}]}}, "leaves": {}})
        );
        assert_eq!(t.track(1, "ana", p(json!({"s": 1})), "r9".into()), None, "identical: no-op");
        let d = t.track(1, "ana", p(json!({"s": 2})), "r2".into()).unwrap();
        assert_eq!(
            d.payload(),
            json!({"joins": {"ana": {"metas": [{"s": 2, "phx_ref": "r2", "phx_ref_prev": "r1"}]}},
                   "leaves": {"ana": {"metas": [{"s": 1, "phx_ref": "r1"}]}}})
        );
        t.track(2, "ana", p(json!({})), "r3".into());
        assert_eq!(t.state(), json!({"ana": {"metas": [{"s": 2, "phx_ref": "r2"}, {"phx_ref": "r3"}]}}));
        let d = t.untrack(1).unwrap();
        assert_eq!(d.leaves.len(), 1);
        assert_eq!(t.untrack(1), None);
    }
}
