//! What a channel asks for: its `postgres_changes` bindings, how they go on the wire, how the
//! join reply's ids pair with them, and which of them an incoming change is for (spec C.3).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::Deserialize;
use serde::ser::{Serialize, SerializeSeq, Serializer};

use super::filter::Filter;

/// The most bindings a channel may declare: a change names the bindings it is for as a
/// [`BindingSet`], one bit each.
pub const MAX_BINDINGS: usize = 64;

/// The row events a binding listens to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChangeEvent {
    /// Every event (`*`).
    #[default]
    All,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

impl ChangeEvent {
    /// The event's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::All => "*",
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }

    /// The row event named `name` (any case; `*` is `All`).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::All, Self::Insert, Self::Update, Self::Delete]
            .into_iter()
            .find(|e| e.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether a binding on this event takes a change of type `kind` (case-insensitive, as
    /// both reference clients compare).
    pub fn takes(self, kind: &str) -> bool {
        self == Self::All || self.as_str().eq_ignore_ascii_case(kind)
    }
}

/// One `postgres_changes` binding: an event on a schema, a table, rows matching a filter,
/// and optionally only some columns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Binding {
    event: ChangeEvent,
    schema: Option<String>,
    table: Option<String>,
    filter: Option<String>,
    select: Vec<String>,
}

impl Binding {
    /// A binding on `event` in schema `schema` (every table until [`table`](Self::table)).
    pub fn new(event: ChangeEvent, schema: &str) -> Self {
        Self { event, schema: Some(String::from(schema)), ..Self::default() }
    }

    /// Only this table.
    pub fn table(mut self, table: &str) -> Self {
        self.table = Some(String::from(table));
        self
    }

    /// Only rows matching `filter`.
    pub fn filter(mut self, filter: &Filter) -> Self {
        self.filter = Some(alloc::string::ToString::to_string(filter));
        self
    }

    /// Only rows matching a filter already in the server's grammar (`column=op.value,...`),
    /// sent as given. Prefer [`filter`](Self::filter), which quotes values for you.
    pub fn filter_text(mut self, filter: &str) -> Self {
        self.filter = Some(String::from(filter));
        self
    }

    /// Only these columns in the change's rows (the primary key is always kept). The server
    /// refuses it for a wildcard schema or table.
    pub fn select<'a>(mut self, columns: impl IntoIterator<Item = &'a str>) -> Self {
        self.select = columns.into_iter().map(String::from).collect();
        self
    }

    /// The event listened to.
    pub fn event(&self) -> ChangeEvent {
        self.event
    }

    /// The schema, if set.
    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The table, if set.
    pub fn table_name(&self) -> Option<&str> {
        self.table.as_deref()
    }

    /// The filter as sent, if set.
    pub fn filter_string(&self) -> Option<&str> {
        self.filter.as_deref()
    }
}

impl Serialize for Binding {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("event", self.event.as_str())?;
        if let Some(schema) = &self.schema {
            m.serialize_entry("schema", schema)?;
        }
        if let Some(table) = &self.table {
            m.serialize_entry("table", table)?;
        }
        if let Some(filter) = &self.filter {
            m.serialize_entry("filter", filter)?;
        }
        if !self.select.is_empty() {
            m.serialize_entry("select", &self.select)?;
        }
        m.end()
    }
}

/// A channel's bindings, in the order declared. On the wire an exact duplicate is sent once
/// (the server would give both the same id, and realtime-js's #2594 showed the pairing then
/// breaks); both declared copies get the id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bindings(Vec<Binding>);

/// A binding could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindingError {
    /// The channel already has [`MAX_BINDINGS`].
    TooMany,
}

impl fmt::Display for BindingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooMany => "a channel takes at most 64 postgres_changes bindings",
        })
    }
}

impl core::error::Error for BindingError {}

/// The join reply's `postgres_changes` do not pair with the channel's bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BindingMismatch;

impl fmt::Display for BindingMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("mismatch between server and client bindings for postgres changes")
    }
}

impl core::error::Error for BindingMismatch {}

/// One entry of the join reply's `postgres_changes`.
#[derive(Deserialize)]
struct Echo {
    id: u64,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    table: Option<String>,
    #[serde(default)]
    filter: Option<String>,
}

#[derive(Deserialize)]
struct JoinResponse {
    #[serde(default)]
    postgres_changes: Option<Vec<Echo>>,
}

impl Bindings {
    /// No bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a binding; its index in the [`BindingSet`] of each change is its position here.
    pub fn push(&mut self, binding: Binding) -> Result<usize, BindingError> {
        if self.0.len() >= MAX_BINDINGS {
            return Err(BindingError::TooMany);
        }
        self.0.push(binding);
        Ok(self.0.len() - 1)
    }

    /// Adds a binding without the bound (a config under construction; the client checks the
    /// bound when the channel is created).
    pub(crate) fn push_unbounded(&mut self, binding: Binding) {
        self.0.push(binding);
    }

    /// The number of bindings.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The bindings, in order.
    pub fn as_slice(&self) -> &[Binding] {
        &self.0
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether binding `i` repeats an earlier one (and is not sent).
    fn is_repeat(&self, i: usize) -> bool {
        self.0[..i].contains(&self.0[i])
    }

    /// The ids of the join reply `response` (its raw JSON text), one per declared binding, by
    /// position: wire entry *i* must echo the *i*-th binding sent (same event, schema, table
    /// and filter; a missing field equals an absent one). `None` when the reply has no
    /// `postgres_changes` at all (an old server: the bindings stay unpaired, as the reference
    /// clients leave them).
    pub fn pair(&self, response: &str) -> Result<Option<Vec<u64>>, BindingMismatch> {
        let reply: JoinResponse = serde_json::from_str(response).map_err(|_| BindingMismatch)?;
        let Some(echoes) = reply.postgres_changes else { return Ok(None) };
        let sent: Vec<usize> = (0..self.0.len()).filter(|&i| !self.is_repeat(i)).collect();
        if echoes.len() != sent.len() {
            return Err(BindingMismatch);
        }
        let mut wire_id = Vec::with_capacity(sent.len());
        for (&i, echo) in sent.iter().zip(&echoes) {
            let b = &self.0[i];
            let event_ok = echo.event.as_deref().and_then(ChangeEvent::parse) == Some(b.event);
            if !event_ok || echo.schema != b.schema || echo.table != b.table || echo.filter != b.filter {
                return Err(BindingMismatch);
            }
            wire_id.push((i, echo.id));
        }
        Ok(Some(
            self.0
                .iter()
                .map(|b| {
                    // A repeat takes the id of the first equal binding.
                    let first = self.0.iter().position(|x| x == b).unwrap_or(0);
                    wire_id.iter().find(|(i, _)| *i == first).map_or(0, |&(_, id)| id)
                })
                .collect(),
        ))
    }

    /// The bindings a change of type `kind` is for: those whose id is in `ids` and whose event
    /// takes `kind`. `paired` holds the ids from [`pair`](Self::pair); `None` (a legacy event,
    /// or a join whose reply was never paired) matches on the event alone, as the reference
    /// clients do.
    pub fn matching(&self, paired: Option<&[u64]>, ids: Option<&[u64]>, kind: &str) -> BindingSet {
        let mut set = BindingSet::default();
        for (i, b) in self.0.iter().enumerate() {
            let id_ok = match (paired, ids) {
                (Some(paired), Some(ids)) => paired.get(i).is_some_and(|id| ids.contains(id)),
                // Without a pairing only `*` bindings match a change that names ids (the
                // reference clients fall back to the absent `payload.event`).
                (None, Some(_)) => b.event == ChangeEvent::All,
                (_, None) => true,
            };
            if id_ok && b.event.takes(kind) {
                set.0 |= 1 << i;
            }
        }
        set
    }
}

impl Serialize for Bindings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for (i, b) in self.0.iter().enumerate() {
            if !self.is_repeat(i) {
                seq.serialize_element(b)?;
            }
        }
        seq.end()
    }
}

/// A set of binding indices (positions in the channel's bindings), at most [`MAX_BINDINGS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct BindingSet(u64);

impl BindingSet {
    /// Whether binding `index` is in the set.
    pub fn contains(self, index: usize) -> bool {
        index < MAX_BINDINGS && self.0 & (1 << index) != 0
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of bindings in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The indices, ascending.
    pub fn iter(self) -> impl Iterator<Item = usize> {
        (0..MAX_BINDINGS).filter(move |&i| self.contains(i))
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn two() -> Bindings {
        let mut b = Bindings::new();
        b.push(
            Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&Filter::eq("room_id", "1")),
        )
        .unwrap();
        b.push(Binding::new(ChangeEvent::All, "public").table("rooms").select(["id", "name"])).unwrap();
        b
    }

    #[test]
    fn bindings_go_on_the_wire_as_realtime_js_sends_them() {
        let mut b = two();
        b.push(Binding::new(ChangeEvent::Insert, "public").table("messages").filter_text("room_id=eq.1"))
            .unwrap();
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            r#"[{"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"},{"event":"*","schema":"public","table":"rooms","select":["id","name"]}]"#,
            "the repeat is sent once"
        );
        let ids = b
            .pair(r#"{"postgres_changes":[{"id":31338429,"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"},{"id":88127012,"event":"*","schema":"public","table":"rooms","select":["id","name"]}]}"#)
            .unwrap()
            .unwrap();
        assert_eq!(ids, [31338429, 88127012, 31338429]);
        let set = b.matching(Some(&ids), Some(&[31338429]), "insert");
        assert_eq!(set.iter().collect::<Vec<_>>(), [0, 2]);
        let set = b.matching(Some(&ids), Some(&[88127012]), "DELETE");
        assert_eq!(set.iter().collect::<Vec<_>>(), [1]);
        assert!(
            b.matching(Some(&ids), Some(&[31338429]), "UPDATE").is_empty(),
            "the event must take the type"
        );
        assert!(b.matching(Some(&ids), Some(&[5]), "INSERT").is_empty(), "an id not ours");
        // Unpaired: only `*` bindings take a change that names ids; a legacy event goes by type.
        assert_eq!(b.matching(None, Some(&[1]), "INSERT").iter().collect::<Vec<_>>(), [1]);
        assert_eq!(b.matching(None, None, "INSERT").iter().collect::<Vec<_>>(), [0, 1, 2]);
    }

    #[test]
    fn a_reply_that_does_not_echo_the_bindings_is_a_mismatch() {
        let b = two();
        for bad in [
            r#"{"postgres_changes":[]}"#,
            r#"{"postgres_changes":[{"id":1,"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"}]}"#,
            r#"{"postgres_changes":[{"id":1,"event":"UPDATE","schema":"public","table":"messages","filter":"room_id=eq.1"},{"id":2,"event":"*","schema":"public","table":"rooms"}]}"#,
            r#"{"postgres_changes":[{"id":1,"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.2"},{"id":2,"event":"*","schema":"public","table":"rooms"}]}"#,
            r#"{"postgres_changes":[{"id":2,"event":"*","schema":"public","table":"rooms"},{"id":1,"event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"}]}"#,
            r#"{"postgres_changes":[{"id":"1","event":"INSERT","schema":"public","table":"messages","filter":"room_id=eq.1"},{"id":2,"event":"*","schema":"public","table":"rooms"}]}"#,
            "[",
        ] {
            assert_eq!(b.pair(bad), Err(BindingMismatch), "{bad}");
        }
        // Case and a null field are fine; `select` is not compared.
        let ok = r#"{"postgres_changes":[{"id":1,"event":"insert","schema":"public","table":"messages","filter":"room_id=eq.1"},{"id":2,"event":"*","schema":"public","table":"rooms","filter":null}]}"#;
        assert_eq!(b.pair(ok), Ok(Some(vec![1, 2])));
        assert_eq!(b.pair(r#"{}"#), Ok(None), "an old server's reply: unpaired");
        assert_eq!(b.pair(r#"{"postgres_changes":null}"#), Ok(None));
    }

    #[test]
    fn at_most_64_bindings() {
        let mut b = Bindings::new();
        for i in 0..MAX_BINDINGS {
            assert_eq!(
                b.push(Binding::new(ChangeEvent::All, "public").table(&alloc::format!("t{i}"))),
                Ok(i)
            );
        }
        assert_eq!(b.push(Binding::new(ChangeEvent::All, "public")), Err(BindingError::TooMany));
        let ids: Vec<u64> = (0..64).collect();
        assert_eq!(b.matching(Some(&ids), Some(&[63]), "INSERT").iter().collect::<Vec<_>>(), [63]);
        assert!(!BindingSet::default().contains(64));
    }
}
