//! The filter builder against a model of how the server reads a filter (spec C.3: its
//! `parse_filters`, `split_top_level` and unquoting; an `in` list becomes a Postgres array
//! literal, read by Postgres's array rules). Written from the grammar, not from the builder,
//! so the two can disagree.

use alloc::string::String;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};

use crate::phoenix::postgres::filter::{Filter, IsValue, Op};

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

/// One condition the app builds.
#[derive(Arbitrary, Debug)]
enum Built {
    /// A scalar operator (the generic constructor with `in` and `is` is left out: it takes a
    /// raw value).
    Scalar(Column, u8, String),
    In(Column, Vec<String>),
    Is(Column, u8),
}

const SCALAR: [Op; 11] = [
    Op::Eq,
    Op::Neq,
    Op::Lt,
    Op::Lte,
    Op::Gt,
    Op::Gte,
    Op::Like,
    Op::Ilike,
    Op::Match,
    Op::Imatch,
    Op::IsDistinct,
];
const IS: [(IsValue, &str); 4] = [
    (IsValue::Null, "null"),
    (IsValue::True, "true"),
    (IsValue::False, "false"),
    (IsValue::Unknown, "unknown"),
];

impl Built {
    fn filter(&self) -> Filter {
        match self {
            Self::Scalar(c, op, v) => Filter::new(c.name(), SCALAR[usize::from(*op) % SCALAR.len()], v),
            Self::In(c, vs) => Filter::in_(c.name(), vs.iter().map(String::as_str)),
            Self::Is(c, v) => Filter::is(c.name(), IS[usize::from(*v) % IS.len()].0),
        }
    }

    /// What the server must read back.
    fn expected(&self, negated: bool) -> Condition {
        let (column, op, value) = match self {
            Self::Scalar(c, op, v) => {
                (c, SCALAR[usize::from(*op) % SCALAR.len()].as_str(), Read::One(v.clone()))
            }
            Self::In(c, vs) => (c, "in", Read::List(vs.iter().cloned().map(Some).collect())),
            Self::Is(c, v) => (c, "is", Read::One(String::from(IS[usize::from(*v) % IS.len()].1))),
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
        let mut one = built.filter();
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
