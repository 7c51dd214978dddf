//! Reading `presence_state` and `presence_diff` payloads in one pass: metas straight into
//! [`Presence`]s, keys into a [`KeyMap`] in the order JSON.parse would give them (a key given
//! twice keeps its first place and takes its last value), refusing more presences than the
//! limit as it goes.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::{KeyMap, Presence, PresenceError, State};
use crate::phoenix::serializer::push_str;

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
pub(super) struct StateSeed {
    pub(super) limit: usize,
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
        let mut state = KeyMap::new();
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
            // A key given twice: the later one wins, in the first one's place (JSON.parse).
            if let Some(old) = state.insert(key.into_owned(), list) {
                count -= old.len();
            }
        }
        Ok(state)
    }
}

#[derive(Default)]
pub(super) struct Diff {
    pub(super) joins: State,
    pub(super) leaves: State,
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

pub(super) fn parse_error(e: &serde_json::Error) -> PresenceError {
    // serde_json keeps a custom message's text; only ours says this.
    if e.is_data() && alloc::format!("{e}").starts_with(OVER_LIMIT) {
        PresenceError::TooManyEntries
    } else {
        PresenceError::InvalidPayload
    }
}
