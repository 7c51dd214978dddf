//! What the server sends back: a row change (`postgres_changes {ids, data}`, or a legacy
//! `INSERT`/`UPDATE`/`DELETE` with the bare data), read once into its parts with the rows kept
//! as raw JSON, so every value can still be had exactly (spec C.3, "`data` fields").

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::convert::{ConvertError, Value, convert};

/// The row event of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A row was inserted (`new` is set).
    Insert,
    /// A row was updated (`new` is set, `old` too when the table's replica identity gives it).
    Update,
    /// A row was deleted (`old` is set; only the primary key on an RLS table).
    Delete,
}

impl ChangeKind {
    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Insert, Self::Update, Self::Delete].into_iter().find(|k| k.as_str().eq_ignore_ascii_case(name))
    }
}

/// A column of the changed table, as the role may see it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its Postgres type name (`int8`, `text`, `_text` for an array of text, ...).
    #[serde(rename = "type")]
    pub type_name: String,
}

/// A row as raw JSON text, with the position of each field's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    raw: String,
    fields: Vec<(String, Range<usize>)>,
}

impl Row {
    fn read(raw: &RawValue) -> Result<Self, ChangeError> {
        let text = raw.get();
        let map: Vec<(Cow<'_, str>, &RawValue)> =
            serde_json::from_str::<RowMap<'_>>(text).map_err(|_| ChangeError::InvalidPayload)?.0;
        let base = text.as_ptr() as usize;
        let fields = map
            .into_iter()
            .map(|(name, value)| {
                // The value is a slice of `text` (serde_json borrows raw values in place);
                // checked all the same, so a surprise is an error, not a wrong slice.
                let start =
                    (value.get().as_ptr() as usize).checked_sub(base).ok_or(ChangeError::InvalidPayload)?;
                let end = start + value.get().len();
                if text.get(start..end) != Some(value.get()) {
                    return Err(ChangeError::InvalidPayload);
                }
                Ok((name.into_owned(), start..end))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // A name given twice would read one way here and another in the app's own parse.
        let mut names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(ChangeError::InvalidPayload);
        }
        Ok(Self { raw: String::from(text), fields })
    }

    /// The row as raw JSON text, for `serde_json::from_str` into the app's own type.
    pub fn as_json(&self) -> &str {
        &self.raw
    }

    /// The row as the app's own type (a struct of its columns). Numbers keep their precision
    /// where `T` does (an `int8` into an `i64`); an old row that only carries the key (a delete
    /// on a table without `REPLICA IDENTITY FULL`) needs a `T` whose other fields are optional.
    ///
    /// # Errors
    ///
    /// serde_json's, when the row does not deserialize into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.raw)
    }

    /// The raw JSON token of column `name`, if the row has it.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, r)| &self.raw[r.clone()])
    }

    /// The column names and raw JSON tokens, in the server's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, r)| (n.as_str(), &self.raw[r.clone()]))
    }
}

/// A JSON object read as its entries in order, values left raw.
struct RowMap<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de> Deserialize<'de> for RowMap<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RowMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a row object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RowMap<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<Cow<'de, str>, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(RowMap(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A row change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The schema.
    pub schema: String,
    /// The table.
    pub table: String,
    /// When the transaction committed: ISO-8601 UTC with milliseconds (`...T10:11:12.345Z`).
    pub commit_timestamp: String,
    /// The row event.
    pub kind: ChangeKind,
    /// The columns the role may see, in attribute order.
    pub columns: Vec<Column>,
    /// The row after the change (insert, update).
    pub new: Option<Row>,
    /// The row before the change (update, delete), as far as the replica identity gives it.
    pub old: Option<Row>,
    /// The server's errors about this change, such as `Error 413: Payload Too Large` (values
    /// over 64 bytes were then left out) or `Error 401: Unauthorized`.
    pub errors: Vec<String>,
}

/// A change message that could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeError {
    /// Not `{ids, data}` with the data's fields of the right types.
    InvalidPayload,
    /// A `type` other than INSERT, UPDATE or DELETE.
    UnknownKind,
}

impl fmt::Display for ChangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidPayload => "postgres change payload has the wrong shape",
            Self::UnknownKind => "postgres change of an unknown type",
        })
    }
}

impl core::error::Error for ChangeError {}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    schema: Cow<'a, str>,
    #[serde(borrow)]
    table: Cow<'a, str>,
    #[serde(borrow, default)]
    commit_timestamp: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default)]
    columns: Vec<Column>,
    #[serde(borrow, default)]
    record: Option<&'a RawValue>,
    #[serde(borrow, default)]
    old_record: Option<&'a RawValue>,
    #[serde(default)]
    errors: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    ids: Vec<u64>,
    #[serde(borrow)]
    data: &'a RawValue,
}

/// A row field that is absent, `null`, or an empty object is no row.
fn row(raw: Option<&RawValue>) -> Result<Option<Row>, ChangeError> {
    match raw {
        None => Ok(None),
        Some(r) if r.get() == "null" => Ok(None),
        // `{}`: the server's way of saying "no row" (an insert's old row, a delete's new one).
        Some(r) => Row::read(r).map(|row| (!row.fields.is_empty()).then_some(row)),
    }
}

impl Change {
    /// A `postgres_changes` payload: the ids of the subscriptions it matched, and the change.
    pub fn parse(payload: &str) -> Result<(Vec<u64>, Self), ChangeError> {
        let env: Envelope<'_> = serde_json::from_str(payload).map_err(|_| ChangeError::InvalidPayload)?;
        Ok((env.ids, Self::parse_data(env.data.get())?))
    }

    /// A legacy `INSERT`/`UPDATE`/`DELETE` payload: the bare data.
    pub fn parse_data(data: &str) -> Result<Self, ChangeError> {
        let d: Data<'_> = serde_json::from_str(data).map_err(|_| ChangeError::InvalidPayload)?;
        let kind = ChangeKind::parse(&d.kind).ok_or(ChangeError::UnknownKind)?;
        Ok(Self {
            schema: d.schema.into_owned(),
            table: d.table.into_owned(),
            commit_timestamp: d.commit_timestamp.map(Cow::into_owned).unwrap_or_default(),
            kind,
            columns: d.columns,
            new: row(d.record)?,
            old: row(d.old_record)?,
            errors: d.errors.unwrap_or_default(),
        })
    }

    /// The Postgres type of column `name`.
    pub fn column_type(&self, name: &str) -> Option<&str> {
        self.columns.iter().find(|c| c.name == name).map(|c| c.type_name.as_str())
    }

    /// Column `name` of the new row, converted by its type without loss (`None`: no new row
    /// or no such column). A column the `columns` list does not type is read as text.
    pub fn new_value(&self, name: &str) -> Option<Result<Value, ConvertError>> {
        self.value(self.new.as_ref()?, name)
    }

    /// Column `name` of the old row, converted by its type without loss.
    pub fn old_value(&self, name: &str) -> Option<Result<Value, ConvertError>> {
        self.value(self.old.as_ref()?, name)
    }

    fn value(&self, row: &Row, name: &str) -> Option<Result<Value, ConvertError>> {
        let raw = row.raw(name)?;
        Some(convert(self.column_type(name).unwrap_or("text"), raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = r#"{"ids":[31338429],"data":{"schema":"public","table":"messages","commit_timestamp":"2026-08-21T10:11:12.345Z","type":"UPDATE","columns":[{"name":"id","type":"int8"},{"name":"body","type":"text"},{"name":"tags","type":"_text"}],"record":{"id":9007199254740993,"body":"hi","tags":["a"]},"old_record":{"id":7},"errors":null}}"#;

    #[test]
    fn the_spec_example_reads_into_its_parts() {
        let (ids, c) = Change::parse(SPEC).unwrap();
        assert_eq!(ids, [31338429]);
        assert_eq!((c.schema.as_str(), c.table.as_str(), c.kind), ("public", "messages", ChangeKind::Update));
        assert_eq!(c.commit_timestamp, "2026-08-21T10:11:12.345Z");
        assert_eq!(c.column_type("tags"), Some("_text"));
        let new = c.new.as_ref().unwrap();
        assert_eq!(new.raw("id"), Some("9007199254740993"));
        assert_eq!(new.iter().map(|(n, _)| n).collect::<Vec<_>>(), ["id", "body", "tags"]);
        assert_eq!(c.new_value("id"), Some(Ok(Value::Int(9007199254740993))), "int8 exact");
        assert_eq!(c.old_value("id"), Some(Ok(Value::Int(7))));
        assert_eq!(c.old_value("body"), None, "the old row has only the key");
        assert!(c.errors.is_empty());
    }

    /// Second read: `{}` was read as a row, so a typed insert failed on its empty old row.
    #[test]
    fn an_empty_object_is_no_row() {
        let insert = r#"{"ids":[1],"data":{"schema":"s","table":"t","type":"INSERT","record":{"id":1},"old_record":{ }}}"#;
        let (_, c) = Change::parse(insert).unwrap();
        assert!(c.new.is_some());
        assert_eq!(c.old, None);
    }

    #[test]
    fn rows_read_into_the_apps_types() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Message {
            id: i64,
            body: Option<String>,
        }
        let (_, c) = Change::parse(SPEC).unwrap();
        let new: Message = c.new.as_ref().unwrap().json().unwrap();
        assert_eq!(new, Message { id: 9007199254740993, body: Some(String::from("hi")) }, "int8 exact");
        let old: Message = c.old.as_ref().unwrap().json().unwrap();
        assert_eq!(old, Message { id: 7, body: None }, "the old row has only the key");
        assert!(c.new.as_ref().unwrap().json::<Vec<u8>>().is_err(), "another shape is an error");
    }

    #[test]
    fn bad_payloads_are_typed_errors() {
        assert_eq!(Change::parse("{}"), Err(ChangeError::InvalidPayload));
        assert_eq!(
            Change::parse(r#"{"ids":[1],"data":{"schema":"s","table":"t"}}"#),
            Err(ChangeError::InvalidPayload)
        );
        assert_eq!(
            Change::parse(r#"{"ids":[1],"data":{"schema":"s","table":"t","type":"TRUNCATE"}}"#),
            Err(ChangeError::UnknownKind)
        );
        assert_eq!(
            Change::parse(r#"{"ids":[1],"data":{"schema":"s","table":"t","type":"INSERT","record":[1]}}"#),
            Err(ChangeError::InvalidPayload)
        );
        assert_eq!(
            Change::parse(
                r#"{"ids":[1],"data":{"schema":"s","table":"t","type":"INSERT","record":{"a":1,"a":2}}}"#
            ),
            Err(ChangeError::InvalidPayload),
            "a column given twice"
        );
        let c = Change::parse_data(r#"{"schema":"s","table":"t","type":"delete","old_record":{"id":1},"errors":["Error 401: Unauthorized"]}"#)
            .unwrap();
        assert_eq!((c.kind, c.new.is_none(), c.errors.len()), (ChangeKind::Delete, true, 1));
    }
}
