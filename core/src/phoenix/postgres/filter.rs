//! The typed filter of a binding (spec C.3's grammar), so a filter is built from values
//! rather than written as a string with hand-made quoting.
//!
//! ```text
//! Filter::eq("room_id", "1").and(Filter::gt("id", "0"))   ->  room_id=eq.1,id=gt.0
//! !Filter::in_("status", ["a", "b,c"])                     ->  status=not.in.(a,"b,c")
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// A filter operator (the server's `@filter_types`).
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
    /// `= ANY(...)`
    In,
    /// `LIKE`
    Like,
    /// `ILIKE`
    Ilike,
    /// `IS` (`null`, `true`, `false`, `unknown`)
    Is,
    /// `~`
    Match,
    /// `~*`
    Imatch,
    /// `IS DISTINCT FROM`
    IsDistinct,
}

impl Op {
    /// The operator's name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Neq => "neq",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::In => "in",
            Self::Like => "like",
            Self::Ilike => "ilike",
            Self::Is => "is",
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

/// One condition: `column=[not.]op.value`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Condition {
    column: String,
    op: Op,
    negated: bool,
    /// The value as it goes on the wire (quoted where needed; `(a,b)` for `in`).
    value: String,
}

/// A binding's filter: conditions ANDed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Filter {
    conditions: Vec<Condition>,
}

/// A value as the server reads it back as this very string: quoted (`\` and `"` escaped) when
/// it is empty, has leading or trailing whitespace, or holds `,` `(` `)` `"` `\` (the filter
/// grammar's own characters) or `{` `}`, or is `null` in any case (an `in` list becomes a
/// Postgres array literal, where bare braces break it and a bare `null` is SQL NULL), or is
/// `undefined` (which the server refuses bare). realtime-js quotes nothing.
fn quote(value: &str) -> String {
    let needs = value.is_empty()
        || value.trim() != value
        || value.eq_ignore_ascii_case("null")
        || value == "undefined"
        || value.chars().any(|c| matches!(c, ',' | '(' | ')' | '"' | '\\' | '{' | '}'));
    if !needs {
        return String::from(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

impl Filter {
    /// `column=op.value` for any operator but `in` and `is` (which take their own shapes).
    pub fn new(column: &str, op: Op, value: &str) -> Self {
        Self::one(column, op, quote(value))
    }

    fn one(column: &str, op: Op, value: String) -> Self {
        Self {
            conditions: alloc::vec![Condition { column: String::from(column), op, negated: false, value }],
        }
    }

    /// `column=eq.value`
    pub fn eq(column: &str, value: &str) -> Self {
        Self::new(column, Op::Eq, value)
    }

    /// `column=neq.value`
    pub fn neq(column: &str, value: &str) -> Self {
        Self::new(column, Op::Neq, value)
    }

    /// `column=lt.value`
    pub fn lt(column: &str, value: &str) -> Self {
        Self::new(column, Op::Lt, value)
    }

    /// `column=lte.value`
    pub fn lte(column: &str, value: &str) -> Self {
        Self::new(column, Op::Lte, value)
    }

    /// `column=gt.value`
    pub fn gt(column: &str, value: &str) -> Self {
        Self::new(column, Op::Gt, value)
    }

    /// `column=gte.value`
    pub fn gte(column: &str, value: &str) -> Self {
        Self::new(column, Op::Gte, value)
    }

    /// `column=like.pattern`
    pub fn like(column: &str, pattern: &str) -> Self {
        Self::new(column, Op::Like, pattern)
    }

    /// `column=ilike.pattern`
    pub fn ilike(column: &str, pattern: &str) -> Self {
        Self::new(column, Op::Ilike, pattern)
    }

    /// `column=in.(v1,v2,...)`, each value quoted as needed.
    pub fn in_<'a>(column: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut list = String::from("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str(&quote(v));
        }
        list.push(')');
        Self::one(column, Op::In, list)
    }

    /// `column=is.null|true|false|unknown`
    pub fn is(column: &str, value: IsValue) -> Self {
        let v = match value {
            IsValue::Null => "null",
            IsValue::True => "true",
            IsValue::False => "false",
            IsValue::Unknown => "unknown",
        };
        Self::one(column, Op::Is, String::from(v))
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
            write!(f, "{}={}{}.{}", c.column, if c.negated { "not." } else { "" }, c.op.as_str(), c.value)?;
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
        assert_eq!(Filter::gt("id", "0").and(Filter::lt("id", "100")).to_string(), "id=gt.0,id=lt.100");
        assert_eq!((!Filter::in_("status", ["a", "b"])).to_string(), "status=not.in.(a,b)");
        assert_eq!((!!Filter::eq("a", "1")).to_string(), "a=eq.1");
        assert_eq!(Filter::is("deleted_at", IsValue::Null).to_string(), "deleted_at=is.null");
        let ops = [
            (Op::Neq, "neq"),
            (Op::Lte, "lte"),
            (Op::Gte, "gte"),
            (Op::Like, "like"),
            (Op::Ilike, "ilike"),
            (Op::Match, "match"),
            (Op::Imatch, "imatch"),
            (Op::IsDistinct, "isdistinct"),
        ];
        for (op, name) in ops {
            assert_eq!(Filter::new("c", op, "v").to_string(), alloc::format!("c={name}.v"));
        }
    }

    #[test]
    fn values_are_quoted_when_the_server_would_split_them() {
        assert_eq!(Filter::eq("name", "a,b").to_string(), r#"name=eq."a,b""#);
        assert_eq!(Filter::eq("name", r#"say "hi" \o/"#).to_string(), r#"name=eq."say \"hi\" \\o/""#);
        assert_eq!(Filter::eq("name", " padded ").to_string(), r#"name=eq." padded ""#);
        assert_eq!(Filter::eq("name", "").to_string(), r#"name=eq."""#);
        assert_eq!(Filter::eq("name", "f(x)").to_string(), r#"name=eq."f(x)""#);
        assert_eq!(Filter::in_("tag", ["x,y", "z"]).to_string(), r#"tag=in.("x,y",z)"#);
        assert_eq!(Filter::like("title", "%rust%").to_string(), "title=like.%rust%");
    }

    /// Found by the `filter_builder` fuzz target (issue 15): in an `in` list, which the server
    /// turns into a Postgres array literal, a bare brace broke the literal and a bare `null`
    /// became SQL NULL; a bare `undefined` the server refuses.
    #[test]
    fn braces_null_and_undefined_are_quoted() {
        assert_eq!(Filter::in_("tag", ["a}", "{b"]).to_string(), r#"tag=in.("a}","{b")"#);
        assert_eq!(
            Filter::in_("tag", ["null", "NULL", "nullish"]).to_string(),
            r#"tag=in.("null","NULL",nullish)"#
        );
        assert_eq!(Filter::eq("name", "undefined").to_string(), r#"name=eq."undefined""#);
        assert_eq!(Filter::eq("name", "null").to_string(), r#"name=eq."null""#);
    }
}
