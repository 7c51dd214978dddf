//! Postgres changes as the server sees them (spec C.3): a channel's bindings, their ids, the
//! filter grammar, and whether an emitted row change matches a binding.

use serde_json::{Map, Value, json};

/// The filter operators of the server's `@filter_types`.
const OPS: [&str; 13] =
    ["eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch", "isdistinct"];

/// One binding of a channel, with the id the join reply gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// `phash2(params)` in the real server; here a hash of the params' canonical JSON, so equal
    /// params give equal ids.
    pub id: u64,
    /// The params as the client sent them (echoed in the join reply).
    pub params: Value,
    event: String,
    schema: String,
    table: String,
    filter: Vec<Condition>,
    select: Option<Vec<String>>,
}

/// Why a binding cannot be subscribed (sent as a `system` postgres_changes error; the real
/// server does not retry these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingError(pub String);

#[derive(Clone, Debug, PartialEq)]
struct Condition {
    column: String,
    op: &'static str,
    negated: bool,
    value: FilterValue,
}

#[derive(Clone, Debug, PartialEq)]
enum FilterValue {
    One(String),
    List(Vec<String>),
}

/// The id of a binding's params: FNV-1a of their canonical JSON (keys sorted), 27 bits like
/// `phash2`.
pub fn binding_id(params: &Value) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in params.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h & ((1 << 27) - 1)
}

/// Splits at top-level commas, outside `(...)` and `"..."`.
fn split_top_level(s: &str) -> Vec<String> {
    let (mut out, mut cur, mut depth, mut quoted, mut escaped) =
        (Vec::new(), String::new(), 0i32, false, false);
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => {
                escaped = true;
                cur.push(c);
            }
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            '(' if !quoted => {
                depth += 1;
                cur.push(c);
            }
            ')' if !quoted => {
                depth -= 1;
                cur.push(c);
            }
            ',' if !quoted && depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// A value as the filter grammar writes it: `"..."` unquoted with `\` escapes, else trimmed.
fn unquote(v: &str) -> String {
    let t = v.trim();
    if t.len() >= 2 && t.starts_with('"') && t.ends_with('"') {
        let mut out = String::new();
        let mut chars = t[1..t.len() - 1].chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        out
    } else {
        t.to_string()
    }
}

fn parse_filter(filter: &str) -> Result<Vec<Condition>, BindingError> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    let bad = |why: &str| BindingError(format!("Error parsing `filter` params: {why}"));
    split_top_level(filter)
        .into_iter()
        .map(|cond| {
            let (column, rest) = cond.split_once('=').ok_or_else(|| bad(&cond))?;
            let (negated, rest) = match rest.strip_prefix("not.") {
                Some(r) => (true, r),
                None => (false, rest),
            };
            let (op, value) = rest.split_once('.').ok_or_else(|| bad(&cond))?;
            let op = OPS.iter().copied().find(|o| *o == op).ok_or_else(|| bad(&cond))?;
            if value == "undefined" {
                return Err(bad(&cond));
            }
            let value = if op == "in" {
                let inner =
                    value.strip_prefix('(').and_then(|v| v.strip_suffix(')')).ok_or_else(|| bad(&cond))?;
                FilterValue::List(split_top_level(inner).iter().map(|v| unquote(v)).collect())
            } else {
                let v = unquote(value);
                if op == "is" && !["null", "true", "false", "unknown"].contains(&v.as_str()) {
                    return Err(bad(&cond));
                }
                FilterValue::One(v)
            };
            Ok(Condition { column: column.trim().to_string(), op, negated, value })
        })
        .collect()
}

impl Binding {
    /// A binding from the join's `postgres_changes` entry.
    pub fn parse(params: &Value) -> Result<Self, BindingError> {
        let field = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_string);
        let event = field("event").unwrap_or_else(|| "*".into()).to_ascii_uppercase();
        if !["*", "INSERT", "UPDATE", "DELETE"].contains(&event.as_str()) {
            return Err(BindingError(format!(
                "Unable to subscribe to changes with given parameters. Invalid event: {event}"
            )));
        }
        let (schema, table) = match (field("schema"), field("table")) {
            (None, None) => {
                return Err(BindingError(
                    "Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [schema: nil, table: nil]".into(),
                ));
            }
            (Some(s), None) => (s, "*".to_string()),
            (None, Some(t)) => ("public".to_string(), t),
            (Some(s), Some(t)) => (s, t),
        };
        let filter = parse_filter(&field("filter").unwrap_or_default())?;
        let select = match params.get("select") {
            None | Some(Value::Null) => None,
            Some(Value::Array(cols)) => {
                if schema == "*" || table == "*" {
                    return Err(BindingError("Unable to subscribe to changes with given parameters. `select` needs a schema and a table".into()));
                }
                Some(cols.iter().filter_map(Value::as_str).map(str::to_string).collect())
            }
            Some(_) => return Err(BindingError("Error parsing `select` params".into())),
        };
        Ok(Self { id: binding_id(params), params: params.clone(), event, schema, table, filter, select })
    }

    /// Whether a change of `kind` on `schema.table` with this row matches.
    pub fn matches(&self, change: &RowChange) -> bool {
        let row = if change.kind == "DELETE" { &change.old_record } else { &change.record };
        (self.event == "*" || self.event == change.kind)
            && (self.schema == "*" || self.schema == change.schema)
            && (self.table == "*" || self.table == change.table)
            && self.filter.iter().all(|c| c.holds(row.get(&c.column)))
    }

    /// The columns this binding asked for, if it narrowed them.
    pub fn select(&self) -> Option<&[String]> {
        self.select.as_deref()
    }
}

/// A value's text as Postgres would compare it.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn compare(row: &Value, want: &str) -> Option<std::cmp::Ordering> {
    match (row, want.parse::<f64>()) {
        (Value::Number(n), Ok(w)) => n.as_f64()?.partial_cmp(&w),
        _ => Some(text_of(row)?.as_str().cmp(want)),
    }
}

fn like(pattern: &str, text: &str, fold: bool) -> bool {
    let mut re = String::from("^");
    for c in pattern.chars() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex_lite::escape(&c.to_string())),
        }
    }
    re.push('$');
    let re = if fold { format!("(?is){re}") } else { format!("(?s){re}") };
    regex_lite::Regex::new(&re).is_ok_and(|r| r.is_match(text))
}

impl Condition {
    fn holds(&self, row: Option<&Value>) -> bool {
        let row = row.unwrap_or(&Value::Null);
        let result = match (&self.value, self.op) {
            (FilterValue::One(v), "is") => match v.as_str() {
                "null" | "unknown" => row.is_null(),
                "true" => row == &Value::Bool(true),
                _ => row == &Value::Bool(false),
            },
            (FilterValue::One(v), "isdistinct") => text_of(row).as_deref() != Some(v.as_str()),
            (_, _) if row.is_null() => return false, // SQL: a comparison with NULL is not true
            (FilterValue::List(vs), "in") => {
                vs.iter().any(|v| compare(row, v) == Some(std::cmp::Ordering::Equal))
            }
            (FilterValue::One(v), op) => {
                use std::cmp::Ordering::*;
                let text = text_of(row).unwrap_or_default();
                match op {
                    "eq" => compare(row, v) == Some(Equal),
                    "neq" => compare(row, v).is_some_and(|o| o != Equal),
                    "lt" => compare(row, v) == Some(Less),
                    "lte" => compare(row, v).is_some_and(|o| o != Greater),
                    "gt" => compare(row, v) == Some(Greater),
                    "gte" => compare(row, v).is_some_and(|o| o != Less),
                    "like" => like(v, &text, false),
                    "ilike" => like(v, &text, true),
                    "match" => regex_lite::Regex::new(v).is_ok_and(|r| r.is_match(&text)),
                    "imatch" => regex_lite::Regex::new(&format!("(?i){v}")).is_ok_and(|r| r.is_match(&text)),
                    _ => false,
                }
            }
            _ => false,
        };
        result != self.negated
    }
}

/// A row change to emit, as the CDC extension would produce it.
#[derive(Clone, Debug, PartialEq)]
pub struct RowChange {
    /// The schema.
    pub schema: String,
    /// The table.
    pub table: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub kind: String,
    /// `[(name, Postgres type)]` in attribute order.
    pub columns: Vec<(String, String)>,
    /// The new row (insert, update): an object, or null.
    pub record: Value,
    /// The old row (update, delete): an object, or null.
    pub old_record: Value,
    /// The commit timestamp (ISO-8601 UTC with milliseconds).
    pub commit_timestamp: String,
}

impl RowChange {
    /// The `data` of a `postgres_changes` message, narrowed to `select` (the `id` column kept).
    pub fn data(&self, select: Option<&[String]>) -> Value {
        let keep = |name: &str| select.is_none_or(|s| name == "id" || s.iter().any(|c| c == name));
        let narrow = |row: &Value| match row {
            Value::Object(m) => Value::Object(
                m.iter().filter(|(k, _)| keep(k)).map(|(k, v)| (k.clone(), v.clone())).collect::<Map<_, _>>(),
            ),
            other => other.clone(),
        };
        let columns: Vec<Value> = self
            .columns
            .iter()
            .filter(|(n, _)| keep(n))
            .map(|(n, t)| json!({"name": n, "type": t}))
            .collect();
        json!({
            "schema": self.schema,
            "table": self.table,
            "commit_timestamp": self.commit_timestamp,
            "type": self.kind,
            "columns": columns,
            "record": if self.kind == "DELETE" { json!({}) } else { narrow(&self.record) },
            "old_record": if self.kind == "INSERT" { json!({}) } else { narrow(&self.old_record) },
            "errors": null,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(record: Value) -> RowChange {
        RowChange {
            schema: "public".into(),
            table: "messages".into(),
            kind: "INSERT".into(),
            columns: vec![("id".into(), "int8".into())],
            record,
            old_record: Value::Null,
            commit_timestamp: "2026-01-01T00:00:00.000Z".into(),
        }
    }

    fn b(filter: &str) -> Binding {
        Binding::parse(&json!({"event": "*", "schema": "public", "table": "messages", "filter": filter}))
            .unwrap()
    }

    #[test]
    fn every_operator_and_the_quoting() {
        let row = change(json!({"id": 5, "room": "a,b", "name": "Ana", "deleted": null, "ok": true}));
        for (f, want) in [
            ("id=eq.5", true),
            ("id=neq.5", false),
            ("id=lt.10", true),
            ("id=lte.5", true),
            ("id=gt.5", false),
            ("id=gte.5", true),
            ("id=in.(1,5)", true),
            ("id=not.in.(1,5)", false),
            (r#"room=eq."a,b""#, true),
            (r#"room=in.("a,b",c)"#, true),
            ("name=like.A%", true),
            ("name=ilike.a%", true),
            ("name=like.a%", false),
            ("deleted=is.null", true),
            ("ok=is.true", true),
            ("name=match.^A.a$", true),
            ("name=imatch.^ana$", true),
            ("name=isdistinct.Bo", true),
            ("id=gt.0,id=lt.3", false),
            ("id=gt.0,id=lt.30", true),
            ("deleted=eq.x", false),
        ] {
            assert_eq!(b(f).matches(&row), want, "{f}");
        }
        for bad in ["id=foo.1", "id", "id=eq", "id=in.1", "id=is.maybe", "id=eq.undefined"] {
            assert!(
                Binding::parse(&json!({"schema": "public", "table": "t", "filter": bad})).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn schema_table_event_and_ids() {
        let a = json!({"event": "INSERT", "schema": "public", "table": "messages"});
        assert_eq!(
            Binding::parse(&a).unwrap().id,
            Binding::parse(&a.clone()).unwrap().id,
            "same params, same id"
        );
        assert!(Binding::parse(&json!({"event": "*"})).is_err(), "neither schema nor table");
        let all_public = Binding::parse(&json!({"event": "*", "schema": "public"})).unwrap();
        assert!(all_public.matches(&change(json!({"id": 1}))));
        let deletes = Binding::parse(&json!({"event": "DELETE", "table": "messages"})).unwrap();
        assert!(!deletes.matches(&change(json!({"id": 1}))));
        assert!(Binding::parse(&json!({"event": "*", "schema": "public", "select": ["id"]})).is_err());
    }
}
