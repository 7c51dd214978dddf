//! The typed filter of a binding (spec C.3's grammar), so a filter is built from values
//! rather than written as a string with hand-made quoting.
//!
//! ```text
//! Filter::eq("room_id", 1).and(Filter::gt("id", 0))         ->  room_id=eq.1,id=gt.0
//! !Filter::in_("status", ["a", "b,c"])?                     ->  status=not.in.(a,"b,c")
//! Filter::eq("name", "null")                                ->  name=eq."null"
//! ```
//!
//! # What goes on the wire, and how it differs from realtime-js
//!
//! realtime-js takes the filter as a string and sends it as written; the app quotes (or, more
//! often, does not). This builder writes what the server reads back as the values given:
//!
//! - Text is quoted (`"..."`, with `\` and `"` escaped) when the server would otherwise read
//!   something else: when it is empty (sent as `""`), has leading or trailing whitespace (the
//!   server trims), holds `,` `(` `)` `"` `\` (the grammar's own characters) or `{` `}` (an `in`
//!   list becomes a Postgres array literal, where a bare brace breaks it), or is `null` in any
//!   case (SQL NULL in an array literal) or `undefined` (which the server refuses bare). Other
//!   text goes bare, as realtime-js would send it.
//! - Numbers and booleans go bare: `1`, `-2.5`, `true`. A float that is not finite is written as
//!   Postgres spells it (`NaN`, `Infinity`, `-Infinity`).
//! - `in` takes a list of at least one value ([`FilterError::EmptyIn`] otherwise: the server's
//!   `= ANY('{}')` matches no row, which is never what an app meant), and `is` only its four
//!   words ([`IsValue`]); the generic [`Filter::new`] takes neither, so neither can get a value
//!   of the wrong shape.
//! - Conditions joined with [`Filter::and`] go comma-separated, which the server ANDs.
//!
//! A column is written as given: the grammar cannot quote a column, so a name holding `=` or
//! `,` cannot be expressed (Postgres identifiers of letters, digits and `_` always can).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

/// A scalar filter operator (the server's `@filter_types` but `in` and `is`, which have their
/// own constructors and value shapes: [`Filter::in_`], [`Filter::is`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `=`
    Eq,
    /// `<>`
    Neq,
    /// `<`
    Lt,
    /// `<=`
    Lte,
    /// `>`
    Gt,
    /// `>=`
    Gte,
    /// `LIKE`
    Like,
    /// `ILIKE`
    Ilike,
    /// `~` (a POSIX regular expression)
    Match,
    /// `~*` (case-insensitive)
    Imatch,
    /// `IS DISTINCT FROM`
    IsDistinct,
}

impl Op {
    /// Every scalar operator, in the server's order.
    pub const ALL: [Self; 11] = [
        Self::Eq,
        Self::Neq,
        Self::Lt,
        Self::Lte,
        Self::Gt,
        Self::Gte,
        Self::Like,
        Self::Ilike,
        Self::Match,
        Self::Imatch,
        Self::IsDistinct,
    ];

    /// The operator's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Like => "like",
            Self::Ilike => "ilike",
            Self::Match => "match",
            Self::Imatch => "imatch",
            Self::IsDistinct => "isdistinct",
        }
    }
}

/// The value of `is`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IsValue {
    /// `null`
    Null,
    /// `true`
    True,
    /// `false`
    False,
    /// `unknown`
    Unknown,
}

impl IsValue {
    /// The word on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Null => "null",
            Self::True => "true",
            Self::False => "false",
            Self::Unknown => "unknown",
        }
    }
}

/// A value to compare a column with: text, a number or a boolean. Anything that converts
/// (`&str`, `&String`, the integer types, `f32`, `f64`, `bool`) can be passed where a filter
/// takes a value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FilterValue<'a> {
    /// Text, quoted where the server would read it otherwise.
    Text(&'a str),
    /// A signed integer, bare.
    Int(i64),
    /// An unsigned integer, bare.
    Uint(u64),
    /// A float, bare (`NaN`, `Infinity`, `-Infinity` when not finite).
    Float(f64),
    /// `true` or `false`, bare.
    Bool(bool),
}

impl<'a> From<&'a str> for FilterValue<'a> {
    fn from(v: &'a str) -> Self {
        Self::Text(v)
    }
}

impl<'a> From<&'a String> for FilterValue<'a> {
    fn from(v: &'a String) -> Self {
        Self::Text(v)
    }
}

impl From<bool> for FilterValue<'_> {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}

impl From<f64> for FilterValue<'_> {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<f32> for FilterValue<'_> {
    fn from(v: f32) -> Self {
        Self::Float(f64::from(v))
    }
}

macro_rules! int_values {
    ($variant:ident as $wide:ty: $($t:ty),*) => {$(
        impl From<$t> for FilterValue<'_> {
            fn from(v: $t) -> Self {
                // Lossless: every type listed widens.
                Self::$variant(v as $wide)
            }
        }
    )*};
}
int_values!(Int as i64: i8, i16, i32, i64, isize);
int_values!(Uint as u64: u8, u16, u32, u64, usize);

impl FilterValue<'_> {
    /// Appends the value as the server must read it.
    fn write(self, out: &mut String) {
        // Writing to a `String` cannot fail.
        let _ = match self {
            Self::Text(t) => {
                quote(t, out);
                Ok(())
            }
            Self::Int(i) => write!(out, "{i}"),
            Self::Uint(u) => write!(out, "{u}"),
            Self::Float(f) if f.is_nan() => write!(out, "NaN"),
            Self::Float(f) if f.is_infinite() => write!(out, "{}Infinity", if f < 0.0 { "-" } else { "" }),
            Self::Float(f) => write!(out, "{f}"),
            Self::Bool(b) => write!(out, "{b}"),
        };
    }
}

/// A filter that cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// An `in` list with no value.
    EmptyIn,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EmptyIn => "an `in` filter needs at least one value",
        })
    }
}

impl core::error::Error for FilterError {}

/// One condition: `column=[not.]op.value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Condition {
    column: String,
    /// `eq`, `in`, `is`, ...
    op: &'static str,
    negated: bool,
    /// The value as it goes on the wire (quoted where needed; `(a,b)` for `in`).
    value: String,
}

/// A binding's filter: conditions ANDed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    conditions: Vec<Condition>,
}

/// Whether text must be quoted for the server to read it back as this very string (the module
/// docs say why each case).
fn needs_quotes(value: &str) -> bool {
    value.is_empty()
        || value.trim() != value
        || value.eq_ignore_ascii_case("null")
        || value == "undefined"
        || value.chars().any(|c| matches!(c, ',' | '(' | ')' | '"' | '\\' | '{' | '}'))
}

/// Appends text as the server reads it back: bare, or quoted with `\` and `"` escaped.
fn quote(value: &str, out: &mut String) {
    if !needs_quotes(value) {
        out.push_str(value);
        return;
    }
    out.reserve(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

impl Filter {
    /// `column=op.value` for a scalar operator.
    pub fn new<'a>(column: &str, op: Op, value: impl Into<FilterValue<'a>>) -> Self {
        let mut text = String::new();
        value.into().write(&mut text);
        Self::one(column, op.as_str(), text)
    }

    fn one(column: &str, op: &'static str, value: String) -> Self {
        Self {
            conditions: alloc::vec![Condition { column: String::from(column), op, negated: false, value }],
        }
    }

    /// `column=eq.value`
    pub fn eq<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Eq, value)
    }

    /// `column=neq.value`
    pub fn neq<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Neq, value)
    }

    /// `column=lt.value`
    pub fn lt<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Lt, value)
    }

    /// `column=lte.value`
    pub fn lte<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Lte, value)
    }

    /// `column=gt.value`
    pub fn gt<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Gt, value)
    }

    /// `column=gte.value`
    pub fn gte<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::Gte, value)
    }

    /// `column=like.pattern` (`%` and `_` are SQL's wildcards).
    pub fn like(column: &str, pattern: &str) -> Self {
        Self::new(column, Op::Like, pattern)
    }

    /// `column=ilike.pattern` (case-insensitive `like`).
    pub fn ilike(column: &str, pattern: &str) -> Self {
        Self::new(column, Op::Ilike, pattern)
    }

    /// `column=match.regex` (a POSIX regular expression, `~`).
    pub fn match_(column: &str, regex: &str) -> Self {
        Self::new(column, Op::Match, regex)
    }

    /// `column=imatch.regex` (case-insensitive, `~*`).
    pub fn imatch(column: &str, regex: &str) -> Self {
        Self::new(column, Op::Imatch, regex)
    }

    /// `column=isdistinct.value` (`IS DISTINCT FROM`: unequal, with NULL a value like any other).
    pub fn is_distinct<'a>(column: &str, value: impl Into<FilterValue<'a>>) -> Self {
        Self::new(column, Op::IsDistinct, value)
    }

    /// `column=in.(v1,v2,...)`, each value written as [`new`](Self::new) writes one.
    ///
    /// # Errors
    ///
    /// [`FilterError::EmptyIn`] for an empty list.
    pub fn in_<'a, V: Into<FilterValue<'a>>>(
        column: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Result<Self, FilterError> {
        let mut list = String::from("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            v.into().write(&mut list);
        }
        if list.len() == 1 {
            return Err(FilterError::EmptyIn);
        }
        list.push(')');
        Ok(Self::one(column, "in", list))
    }

    /// `column=is.null|true|false|unknown`
    pub fn is(column: &str, value: IsValue) -> Self {
        Self::one(column, "is", String::from(value.as_str()))
    }

    /// Both filters (conditions joined by commas, which the server ANDs).
    pub fn and(mut self, other: Self) -> Self {
        self.conditions.extend(other.conditions);
        self
    }
}

/// `!filter` negates every condition (`not.` before the operator). Negating a filter of
/// several conditions negates each: `not (a and b)` has no form in this grammar.
impl core::ops::Not for Filter {
    type Output = Self;

    fn not(mut self) -> Self {
        for c in &mut self.conditions {
            c.negated = !c.negated;
        }
        self
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={}{}.{}", c.column, if c.negated { "not." } else { "" }, c.op, c.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn the_grammar_of_the_spec() {
        assert_eq!(Filter::eq("room_id", "1").to_string(), "room_id=eq.1");
        assert_eq!(Filter::gt("id", 0).and(Filter::lt("id", 100)).to_string(), "id=gt.0,id=lt.100");
        assert_eq!((!Filter::in_("status", ["a", "b"]).unwrap()).to_string(), "status=not.in.(a,b)");
        assert_eq!((!!Filter::eq("a", 1)).to_string(), "a=eq.1");
        assert_eq!(Filter::is("deleted_at", IsValue::Null).to_string(), "deleted_at=is.null");
        let names = ["eq", "neq", "lt", "lte", "gt", "gte", "like", "ilike", "match", "imatch", "isdistinct"];
        for (op, name) in Op::ALL.into_iter().zip(names) {
            assert_eq!(op.as_str(), name);
            assert_eq!(Filter::new("c", op, "v").to_string(), alloc::format!("c={name}.v"));
        }
    }

    #[test]
    fn every_operator_has_a_named_constructor() {
        let named = [
            Filter::eq("c", "v"),
            Filter::neq("c", "v"),
            Filter::lt("c", "v"),
            Filter::lte("c", "v"),
            Filter::gt("c", "v"),
            Filter::gte("c", "v"),
            Filter::like("c", "v"),
            Filter::ilike("c", "v"),
            Filter::match_("c", "v"),
            Filter::imatch("c", "v"),
            Filter::is_distinct("c", "v"),
        ];
        for (filter, op) in named.into_iter().zip(Op::ALL) {
            assert_eq!(filter, Filter::new("c", op, "v"));
        }
        assert_eq!(Filter::in_("c", ["v"]).unwrap().to_string(), "c=in.(v)");
        assert_eq!(Filter::is("c", IsValue::Unknown).to_string(), "c=is.unknown");
    }

    #[test]
    fn numbers_and_booleans_go_bare() {
        assert_eq!(Filter::eq("n", -7i8).to_string(), "n=eq.-7");
        assert_eq!(Filter::eq("n", u64::MAX).to_string(), "n=eq.18446744073709551615");
        assert_eq!(Filter::eq("n", i64::MIN).to_string(), "n=eq.-9223372036854775808");
        assert_eq!(Filter::gte("price", 9.5).to_string(), "price=gte.9.5");
        assert_eq!(Filter::lt("price", 0.1f32).to_string(), "price=lt.0.10000000149011612");
        assert_eq!(Filter::eq("x", f64::NAN).to_string(), "x=eq.NaN");
        assert_eq!(Filter::lt("x", f64::INFINITY).to_string(), "x=lt.Infinity");
        assert_eq!(Filter::gt("x", f64::NEG_INFINITY).to_string(), "x=gt.-Infinity");
        assert_eq!(Filter::eq("done", true).to_string(), "done=eq.true");
        assert_eq!(Filter::in_("id", [1, 2, 3]).unwrap().to_string(), "id=in.(1,2,3)");
        let owned = [String::from("a b"), String::from("c,d")];
        assert_eq!(Filter::in_("t", &owned).unwrap().to_string(), r#"t=in.(a b,"c,d")"#);
    }

    #[test]
    fn an_empty_in_list_is_refused() {
        assert_eq!(Filter::in_("id", [0u8; 0]), Err(FilterError::EmptyIn));
        assert_eq!(Filter::in_::<&str>("id", []), Err(FilterError::EmptyIn));
        // An empty string is a value: quoted, so the list is not empty.
        assert_eq!(Filter::in_("t", [""]).unwrap().to_string(), r#"t=in.("")"#);
    }

    #[test]
    fn values_are_quoted_when_the_server_would_split_them() {
        assert_eq!(Filter::eq("name", "a,b").to_string(), r#"name=eq."a,b""#);
        assert_eq!(Filter::eq("name", r#"say "hi" \o/"#).to_string(), r#"name=eq."say \"hi\" \\o/""#);
        assert_eq!(Filter::eq("name", " padded ").to_string(), r#"name=eq." padded ""#);
        assert_eq!(Filter::eq("name", "").to_string(), r#"name=eq."""#);
        assert_eq!(Filter::eq("name", "f(x)").to_string(), r#"name=eq."f(x)""#);
        assert_eq!(Filter::in_("tag", ["x,y", "z"]).unwrap().to_string(), r#"tag=in.("x,y",z)"#);
        assert_eq!(Filter::like("title", "%rust%").to_string(), "title=like.%rust%");
        // The string "1" and the number 1 read alike: the server casts by the column's type.
        assert_eq!(Filter::eq("id", "1"), Filter::eq("id", 1));
    }

    /// Found by the `filter_builder` fuzz target (issue 15): in an `in` list, which the server
    /// turns into a Postgres array literal, a bare brace broke the literal and a bare `null`
    /// became SQL NULL; a bare `undefined` the server refuses.
    #[test]
    fn braces_null_and_undefined_are_quoted() {
        assert_eq!(Filter::in_("tag", ["a}", "{b"]).unwrap().to_string(), r#"tag=in.("a}","{b")"#);
        assert_eq!(
            Filter::in_("tag", ["null", "NULL", "nullish"]).unwrap().to_string(),
            r#"tag=in.("null","NULL",nullish)"#
        );
        assert_eq!(Filter::eq("name", "undefined").to_string(), r#"name=eq."undefined""#);
        assert_eq!(Filter::eq("name", "null").to_string(), r#"name=eq."null""#);
    }
}
