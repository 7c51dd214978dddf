//! The filter builder against a model of how the server reads a filter (spec C.3: its
//! `parse_filters`, `split_top_level` and unquoting; an `in` list becomes a Postgres array
//! literal, read by Postgres's array rules). Written from the grammar, not from the builder,
//! so the two can disagree.

use alloc::string::String;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};

use crate::supabase::postgres::filter::{Filter, FilterError, FilterValue as Value, IsValue, Op};

/// The server's operators (`@filter_types`).
const OPS: [&str; 13] =
    ["eq", "neq", "lt", "lte", "gt", "gte", "in", "like", "ilike", "is", "match", "imatch", "isdistinct"];

/// A value as the server ends up with it.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    One(String),
    /// Array elements; `None` is SQL NULL.
    List(Vec<Option<String>>),
}

/// One condition as the server reads it.
#[derive(Debug, PartialEq, Eq)]
struct Condition {
    column: String,
    negated: bool,
    op: String,
    value: Read,
}

/// Splits at commas outside `(...)` and `"..."` (a backslash escapes inside quotes).
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut quoted, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

/// A scalar value: `"..."` unquoted (backslash escapes), anything else trimmed.
fn unquote(v: &str) -> String {
    let t = v.trim();
    match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if t.len() >= 2 => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                out.push(if c == '\\' { chars.next().unwrap_or('\\') } else { c });
            }
            out
        }
        _ => String::from(t),
    }
}

/// The elements of the Postgres array literal `{inner}`: quoted elements with backslash
/// escapes, unquoted ones with ASCII whitespace around them dropped, `NULL` (any case,
/// unquoted) as SQL NULL; an empty unquoted element, or a brace or quote inside one, is
/// malformed.
fn array_elements(inner: &str) -> Result<Vec<Option<String>>, String> {
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    if inner.trim_matches(|c: char| c.is_ascii_whitespace()).is_empty() {
        return Ok(out);
    }
    loop {
        while chars.next_if(char::is_ascii_whitespace).is_some() {}
        if chars.next_if_eq(&'"').is_some() {
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => s.push(chars.next().ok_or("an escape at the end")?),
                    Some(c) => s.push(c),
                    None => return Err("an unterminated quoted element".into()),
                }
            }
            while chars.next_if(char::is_ascii_whitespace).is_some() {}
            out.push(Some(s));
        } else {
            let mut s = String::new();
            let mut escapes = false;
            while let Some(&c) = chars.peek() {
                match c {
                    ',' => break,
                    '{' | '}' | '"' => return Err(alloc::format!("a bare {c:?} in an element")),
                    '\\' => {
                        chars.next();
                        s.push(chars.next().ok_or("an escape at the end")?);
                        escapes = true;
                        continue;
                    }
                    _ => s.push(c),
                }
                chars.next();
            }
            let trimmed = s.trim_end_matches(|c: char| c.is_ascii_whitespace());
            if trimmed.is_empty() {
                return Err("an empty element".into());
            }
            out.push((escapes || !trimmed.eq_ignore_ascii_case("null")).then(|| String::from(trimmed)));
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(c) => return Err(alloc::format!("{c:?} after an element")),
        }
    }
}

/// The filter as the server reads it, or why it refuses it.
fn server_reads(filter: &str) -> Result<Vec<Condition>, String> {
    if filter.trim().is_empty() {
        return Ok(Vec::new());
    }
    split_top_level(filter)
        .into_iter()
        .map(|cond| {
            let (column, rest) = cond.split_once('=').ok_or("no `=`")?;
            let (negated, rest) = rest.strip_prefix("not.").map_or((false, rest), |r| (true, r));
            let (op, value) = rest.split_once('.').ok_or("no operator")?;
            if !OPS.contains(&op) {
                return Err(alloc::format!("unknown operator {op}"));
            }
            if value == "undefined" {
                return Err("the value `undefined`".into());
            }
            let value = if op == "in" {
                let inner =
                    value.strip_prefix('(').and_then(|v| v.strip_suffix(')')).ok_or("`in` without (...)")?;
                Read::List(array_elements(inner)?)
            } else {
                Read::One(unquote(value))
            };
            Ok(Condition { column: String::from(column.trim()), negated, op: String::from(op), value })
        })
        .collect()
}

/// A column the builder is given: identifier-like names (the grammar has no quoting for
/// columns, so a column holding `=` or `,` cannot be written at all).
#[derive(Arbitrary, Debug)]
struct Column(u8);

impl Column {
    fn name(&self) -> &'static str {
        ["id", "room_id", "status", "name", "created_at"][usize::from(self.0) % 5]
    }
}

/// A value the app gives: text, a number or a boolean.
#[derive(Arbitrary, Debug)]
enum Given {
    Text(String),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bool(bool),
}

impl Given {
    fn value(&self) -> Value<'_> {
        match self {
            Self::Text(t) => Value::Text(t),
            Self::Int(i) => Value::Int(*i),
            Self::Uint(u) => Value::Uint(*u),
            Self::Float(f) => Value::Float(*f),
            Self::Bool(b) => Value::Bool(*b),
        }
    }

    /// The text the server must end up with (it casts by the column's type from there).
    fn read(&self) -> String {
        match self {
            Self::Text(t) => t.clone(),
            Self::Int(i) => alloc::format!("{i}"),
            Self::Uint(u) => alloc::format!("{u}"),
            Self::Float(f) if f.is_nan() => String::from("NaN"),
            Self::Float(f) if f.is_infinite() => {
                String::from(if *f < 0.0 { "-Infinity" } else { "Infinity" })
            }
            // Postgres reads a float back from Rust's shortest round-trip form exactly.
            Self::Float(f) => alloc::format!("{f}"),
            Self::Bool(b) => String::from(if *b { "true" } else { "false" }),
        }
    }
}

/// One condition the app builds.
#[derive(Arbitrary, Debug)]
enum Built {
    /// A scalar operator through the generic constructor (which cannot take `in` or `is`).
    Scalar(Column, u8, Given),
    In(Column, Vec<Given>),
    Is(Column, u8),
}

const IS: [IsValue; 4] = [IsValue::Null, IsValue::True, IsValue::False, IsValue::Unknown];

impl Built {
    fn op(op: u8) -> Op {
        Op::ALL[usize::from(op) % Op::ALL.len()]
    }

    /// The filter, or `None` for the one refusal (an empty `in` list).
    fn filter(&self) -> Option<Filter> {
        match self {
            Self::Scalar(c, op, v) => Some(Filter::new(c.name(), Self::op(*op), v.value())),
            Self::In(c, vs) => match Filter::in_(c.name(), vs.iter().map(Given::value)) {
                Ok(f) => Some(f),
                Err(FilterError::EmptyIn) => {
                    assert!(vs.is_empty(), "refused a list of {} values", vs.len());
                    None
                }
            },
            Self::Is(c, v) => Some(Filter::is(c.name(), IS[usize::from(*v) % IS.len()])),
        }
    }

    /// What the server must read back.
    fn expected(&self, negated: bool) -> Condition {
        let (column, op, value) = match self {
            Self::Scalar(c, op, v) => (c, Self::op(*op).as_str(), Read::One(v.read())),
            Self::In(c, vs) => (c, "in", Read::List(vs.iter().map(|v| Some(v.read())).collect())),
            Self::Is(c, v) => (c, "is", Read::One(String::from(IS[usize::from(*v) % IS.len()].as_str()))),
        };
        Condition { column: String::from(column.name()), negated, op: String::from(op), value }
    }
}

/// Builds a filter of arbitrary conditions (values of any text, negated or not, ANDed) and
/// checks that the server's grammar reads back exactly the conditions and values built.
pub fn filter_builder(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(conditions) = Vec::<(Built, bool)>::arbitrary(&mut u) else { return };
    let mut filter: Option<Filter> = None;
    let mut expected = Vec::new();
    for (built, negated) in &conditions {
        let Some(mut one) = built.filter() else { continue };
        if *negated {
            one = !one;
        }
        expected.push(built.expected(*negated));
        filter = Some(match filter {
            None => one,
            Some(f) => f.and(one),
        });
    }
    let Some(filter) = filter else { return };
    let text = alloc::string::ToString::to_string(&filter);
    match server_reads(&text) {
        Ok(read) => assert_eq!(read, expected, "the server reads {text:?} otherwise"),
        Err(why) => panic!("the server refuses the built filter {text:?}: {why}"),
    }
}
