//! The lossless column converter: one column's value, typed by its Postgres type name.
//!
//! A Postgres Changes message carries a row as a JSON object (`record`, `old_record`) and the
//! column types as `columns: [{name, type}]`, where `type` is the Postgres `typname` (`int8`,
//! `_text`, `timestamptz`, ...). [`convert`] takes one column's type name and that column's
//! value as its *raw JSON token text*, exactly as it sits in the message, and returns a
//! [`Value`].
//!
//! It works on the token text rather than on a parsed JSON number because the reference clients
//! lose data there: they read `int8` through a double (so `9007199254740993` becomes
//! `9007199254740992`), round `numeric` to a double, and split array literals on every comma,
//! even inside quotes. Here integers are parsed from their digits, `numeric` keeps its text, and
//! array literals are read with Postgres's own quoting rules.
//!
//! ```text
//! int8       9007199254740993      ->  Int(9007199254740993)
//! numeric    1.000000000000000001  ->  Numeric("1.000000000000000001")
//! _text      "{\"a,b\",c,NULL}"    ->  Array([Text("a,b"), Text("c"), Null])
//! timestamp  "2024-01-02 03:04:05" ->  Timestamp("2024-01-02T03:04:05")
//! ```
//!
//! Choices the spec leaves open:
//! - An integer column accepts any decimal form whose value is a whole number: `10.0`,
//!   `"10.00"`, `1e3`, `1.5e1`. A fractional value is [`ConvertError::NotAnInteger`]; a whole
//!   number outside `i64` is [`ConvertError::OutOfRange`]. The narrower types (`int2`, `int4`,
//!   `oid`) are not range-checked against their own width: the column type already bounds them.
//! - Surrounding JSON whitespace in `raw` is accepted and dropped; `Json` and verbatim `Text`
//!   hold the token without it, and a `json` string whose content is JSON holds that content
//!   without its surrounding whitespace.
//! - `timestamp` applies only to string tokens; any other token of a `timestamp` column is
//!   `Text` as sent, like an unknown type.
//! - In a JSON array token, an element that is itself a JSON array is a nested dimension, except
//!   for `_json` / `_jsonb`, where it is one JSON value (`to_jsonb` of a `jsonb[]` holding
//!   `[1,2]` and of a two-dimensional `jsonb[]` look the same; the one-value reading loses
//!   nothing).
//! - Array literals are checked for syntax, depth and "no scalars beside sub-arrays", but not
//!   for equal sub-array lengths or against a `[lo:hi]=` decoration: what is written is what is
//!   returned.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde_json::value::RawValue;

/// The deepest array accepted, as a literal or as nested JSON arrays: Postgres's `MAXDIM`.
/// It also bounds the converter's only recursion (into nested JSON arrays).
pub const MAX_ARRAY_DEPTH: usize = 6;

/// A column value converted by its Postgres type.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL` (a JSON `null` token, or an unquoted `NULL` in an array literal).
    Null,
    /// `bool`.
    Bool(bool),
    /// int2, int4, int8, oid: exact.
    Int(i64),
    /// numeric (and decimal): the exact decimal text, never rounded (e.g.
    /// `"123456789012345678901234567890.123"`), also `"NaN"`, `"Infinity"`, `"-Infinity"`.
    Numeric(String),
    /// float4, float8.
    Float(f64),
    /// json, jsonb: raw JSON text of the value.
    Json(String),
    /// timestamp (without time zone): the text with the date/time space replaced by 'T'.
    Timestamp(String),
    /// any other type (text, uuid, date, timestamptz, time, money, ranges, unknown types...):
    /// the text as sent.
    Text(String),
    /// `_<type>` arrays: elements converted as `<type>` (nested arrays nest).
    Array(Vec<Value>),
}

impl Value {
    /// Whether this is SQL `NULL`.
    pub const fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub const fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is a [`Value::Int`].
    pub const fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The float, if this is a [`Value::Float`] (integers and numerics are not converted: that
    /// could round).
    pub const fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// The text of a [`Value::Text`], [`Value::Numeric`], [`Value::Timestamp`] or
    /// [`Value::Json`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(s) | Self::Numeric(s) | Self::Timestamp(s) | Self::Json(s) => Some(s),
            _ => None,
        }
    }

    /// The elements, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Self]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }
}

/// Why a value could not be converted (the raw token stays available to the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConvertError {
    /// `raw` is not one valid JSON value.
    InvalidJson,
    /// A `bool` column's value is not `true`, `false`, `"t"`, `"true"`, `"f"` or `"false"`.
    NotABool,
    /// An integer column's value is not a whole number (`1.5`, `"abc"`, `true`).
    NotAnInteger,
    /// An integer column's value is a whole number outside `i64`.
    OutOfRange,
    /// A float or numeric column's value is not a number (nor `NaN` / `Infinity`).
    NotANumber,
    /// An array column's value is neither a JSON array nor a string.
    NotAnArray,
    /// An array literal is malformed: unbalanced braces or quotes, an empty element, junk after
    /// the closing brace, scalars beside sub-arrays, a bad `[lo:hi]=` decoration.
    InvalidArray,
    /// An array nests deeper than [`MAX_ARRAY_DEPTH`].
    TooDeep,
}

impl fmt::Display for ConvertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidJson => "the value is not valid JSON",
            Self::NotABool => "the value is not a boolean",
            Self::NotAnInteger => "the value is not a whole number",
            Self::OutOfRange => "the integer does not fit in 64 bits",
            Self::NotANumber => "the value is not a number",
            Self::NotAnArray => "the value of an array column is neither a JSON array nor a string",
            Self::InvalidArray => "the array literal is malformed",
            Self::TooDeep => "the array nests deeper than Postgres allows",
        })
    }
}

impl core::error::Error for ConvertError {}

/// Converts one column's value, given as its raw JSON token text, by its Postgres type name.
///
/// A `null` token is [`Value::Null`] for every type. A type name starting with `_` is an array
/// of the rest of the name. Type names this module does not know give [`Value::Text`].
///
/// # Errors
///
/// [`ConvertError::InvalidJson`] if `raw` is not one JSON value; otherwise the error of the
/// type family (see [`ConvertError`]). Never panics, whatever `raw` holds.
pub fn convert(type_name: &str, raw: &str) -> Result<Value, ConvertError> {
    let token: &RawValue = serde_json::from_str(raw).map_err(|_| ConvertError::InvalidJson)?;
    let token = token.get();
    match type_name.strip_prefix('_') {
        // Postgres has no arrays of arrays (dimensions nest instead), so the element type is
        // read as a scalar type even if its own name starts with `_`.
        Some(elem) => convert_array(Family::of(elem), token),
        None => convert_token(Family::of(type_name), token),
    }
}

/// How a type's values are read: the conversion rules are per family, not per name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Bool,
    Int,
    Float,
    Numeric,
    Json,
    Timestamp,
    /// Anything else: text as sent.
    Other,
    /// `box`: text as sent, but its arrays are delimited by `;` (a box's text has commas).
    Box,
}

impl Family {
    fn of(type_name: &str) -> Self {
        match type_name {
            "bool" => Self::Bool,
            "int2" | "int4" | "int8" | "oid" => Self::Int,
            "float4" | "float8" => Self::Float,
            "numeric" | "decimal" => Self::Numeric,
            "json" | "jsonb" => Self::Json,
            "timestamp" => Self::Timestamp,
            "box" => Self::Box,
            _ => Self::Other,
        }
    }

    /// The element delimiter of this type's array literals (Postgres's `typdelim`).
    fn delimiter(self) -> u8 {
        if self == Self::Box { b';' } else { b',' }
    }
}

/// Converts one JSON token (already validated and trimmed) of a scalar type.
fn convert_token(family: Family, token: &str) -> Result<Value, ConvertError> {
    let bytes = token.as_bytes();
    match bytes.first() {
        Some(b'n') => Ok(Value::Null),
        Some(b'"') => {
            let text: String = serde_json::from_str(token).map_err(|_| ConvertError::InvalidJson)?;
            convert_text(family, &text, Some(token))
        }
        _ => {
            let is_number = matches!(bytes.first(), Some(b'-' | b'0'..=b'9'));
            match family {
                Family::Bool => match token {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    _ => Err(ConvertError::NotABool),
                },
                Family::Int if is_number => parse_int(token).map(Value::Int),
                Family::Int => Err(ConvertError::NotAnInteger),
                Family::Float if is_number => parse_float(token),
                Family::Numeric if is_number => Ok(Value::Numeric(token.to_owned())),
                Family::Float | Family::Numeric => Err(ConvertError::NotANumber),
                Family::Json => Ok(Value::Json(token.to_owned())),
                Family::Timestamp | Family::Other | Family::Box => Ok(Value::Text(token.to_owned())),
            }
        }
    }
}

/// Converts a value given as text: a JSON string token's content, or an array literal's
/// element. `token` is the JSON string token the text came from, if any (kept as the JSON of a
/// `json` column whose text is not JSON itself).
fn convert_text(family: Family, text: &str, token: Option<&str>) -> Result<Value, ConvertError> {
    match family {
        Family::Bool => match text {
            "t" | "true" => Ok(Value::Bool(true)),
            "f" | "false" => Ok(Value::Bool(false)),
            _ => Err(ConvertError::NotABool),
        },
        Family::Int => parse_int(text).map(Value::Int),
        Family::Float => parse_float(text),
        Family::Numeric => {
            if matches!(text, "NaN" | "Infinity" | "-Infinity") || DecimalParts::split(text).is_some() {
                Ok(Value::Numeric(text.to_owned()))
            } else {
                Err(ConvertError::NotANumber)
            }
        }
        Family::Json => match serde_json::from_str::<&RawValue>(text) {
            Ok(inner) => Ok(Value::Json(inner.get().to_owned())),
            Err(_) => match token {
                Some(token) => Ok(Value::Json(token.to_owned())),
                None => serde_json::to_string(text).map(Value::Json).map_err(|_| ConvertError::InvalidJson),
            },
        },
        // Only the first space: `0001-01-01 00:00:00 BC` keeps the one before the era.
        Family::Timestamp => Ok(Value::Timestamp(text.replacen(' ', "T", 1))),
        Family::Other | Family::Box => Ok(Value::Text(text.to_owned())),
    }
}

/// A float from a number token or text, with Postgres's spellings of the special values.
fn parse_float(text: &str) -> Result<Value, ConvertError> {
    // Rust's grammar is Postgres's `float8in` minus surrounding whitespace: digits with an
    // optional point and exponent, `NaN`, `Infinity`/`inf` in any case, with a sign.
    text.parse::<f64>().map(Value::Float).map_err(|_| ConvertError::NotANumber)
}

/// The pieces of a decimal number: `[+-]? digits [. digits] [(e|E) [+-]? digits]`, with at least
/// one digit before or after the point (so `5.` and `.5` count, as in Postgres).
#[derive(Clone, Copy, Debug)]
struct DecimalParts<'a> {
    negative: bool,
    int: &'a [u8],
    frac: &'a [u8],
    /// The exponent, saturated: anything beyond `i64` is far outside every range we check.
    exp: i64,
}

impl<'a> DecimalParts<'a> {
    fn split(text: &'a str) -> Option<Self> {
        let mut rest = text.as_bytes();
        let negative = match rest.first() {
            Some(b'-') => true,
            Some(b'+') => false,
            _ => return Self::unsigned(rest, false),
        };
        rest = rest.get(1..)?;
        Self::unsigned(rest, negative)
    }

    fn unsigned(text: &'a [u8], negative: bool) -> Option<Self> {
        let (int, rest) = split_digits(text);
        let (frac, rest) = match rest.split_first() {
            Some((b'.', after)) => split_digits(after),
            _ => (&[][..], rest),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let exp = match rest.split_first() {
            None => 0,
            Some((b'e' | b'E', after)) => {
                let (exp_negative, after) = match after.split_first() {
                    Some((b'-', a)) => (true, a),
                    Some((b'+', a)) => (false, a),
                    _ => (false, after),
                };
                let (digits, tail) = split_digits(after);
                if digits.is_empty() || !tail.is_empty() {
                    return None;
                }
                let magnitude =
                    digits.iter().fold(0i64, |n, d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')));
                if exp_negative { -magnitude } else { magnitude }
            }
            Some(_) => return None,
        };
        Some(Self { negative, int, frac, exp })
    }

    /// The exact integer value, if it is one and fits `i64`.
    fn to_i64(self) -> Result<i64, ConvertError> {
        let digits: Vec<u8> = self.int.iter().chain(self.frac).copied().collect();
        let start = digits.iter().position(|&d| d != b'0').unwrap_or(digits.len());
        let mut significant = digits.get(start..).unwrap_or_default();
        if significant.is_empty() {
            // Zero in any spelling (`-0`, `0.000`, `0e999`).
            return Ok(0);
        }
        // The power of ten the significant digits are scaled by.
        let frac_len = i64::try_from(self.frac.len()).unwrap_or(i64::MAX);
        let scale = self.exp.saturating_sub(frac_len);
        let mut zeros = 0usize;
        if scale < 0 {
            // Digits below the units place must all be zero.
            let below = usize::try_from(scale.unsigned_abs()).unwrap_or(usize::MAX);
            let Some(kept) = significant.len().checked_sub(below) else {
                return Err(ConvertError::NotAnInteger);
            };
            let (whole, fraction) = significant.split_at(kept);
            if fraction.iter().any(|&d| d != b'0') {
                return Err(ConvertError::NotAnInteger);
            }
            significant = whole;
        } else {
            zeros = usize::try_from(scale).unwrap_or(usize::MAX);
        }
        // i64 has 19 digits; anything longer overflows below anyway, this only keeps the loop
        // short for `1e999999`.
        if significant.len().saturating_add(zeros) > 19 {
            return Err(ConvertError::OutOfRange);
        }
        let mut magnitude = 0u64;
        let all = significant.iter().map(|d| d - b'0').chain(core::iter::repeat_n(0, zeros));
        for d in all {
            magnitude = magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(d)))
                .ok_or(ConvertError::OutOfRange)?;
        }
        if self.negative {
            0i64.checked_sub_unsigned(magnitude).ok_or(ConvertError::OutOfRange)
        } else {
            i64::try_from(magnitude).map_err(|_| ConvertError::OutOfRange)
        }
    }
}

/// The leading ASCII digits of `text`, and the rest.
fn split_digits(text: &[u8]) -> (&[u8], &[u8]) {
    let n = text.iter().position(|d| !d.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(n)
}

/// An integer from a number token or text, read from its digits (never through a float).
fn parse_int(text: &str) -> Result<i64, ConvertError> {
    DecimalParts::split(text).ok_or(ConvertError::NotAnInteger)?.to_i64()
}

/// Converts the value of an array column: a JSON array token or a string holding an array
/// literal.
fn convert_array(elem: Family, token: &str) -> Result<Value, ConvertError> {
    match token.as_bytes().first() {
        Some(b'n') => Ok(Value::Null),
        Some(b'[') => convert_json_array(elem, token, 1),
        Some(b'"') => {
            let text: String = serde_json::from_str(token).map_err(|_| ConvertError::InvalidJson)?;
            parse_literal(elem, &text)
        }
        _ => Err(ConvertError::NotAnArray),
    }
}

/// Converts a JSON array token at nesting `depth` (1 for the outermost).
fn convert_json_array(elem: Family, token: &str, depth: usize) -> Result<Value, ConvertError> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(ConvertError::TooDeep);
    }
    let items: Vec<&RawValue> = serde_json::from_str(token).map_err(|_| ConvertError::InvalidJson)?;
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let item = item.get();
        let value = if item.starts_with('[') && elem != Family::Json {
            // Bounded: `depth` grows by one per level and stops at MAX_ARRAY_DEPTH.
            convert_json_array(elem, item, depth + 1)?
        } else {
            convert_token(elem, item)?
        };
        values.push(value);
    }
    Ok(Value::Array(values))
}

/// Whitespace as Postgres's array parser sees it (`scanner_isspace`).
const fn is_array_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A reader over an array literal's bytes. It only ever splits at ASCII bytes, so every
/// element it collects is valid UTF-8 again.
struct Literal<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Literal<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(is_array_space) {
            self.pos += 1;
        }
    }

    /// Skips the optional `[lo:hi][lo:hi]...=` decoration (bounds are not checked against the
    /// content).
    fn skip_dimensions(&mut self) -> Result<(), ConvertError> {
        let mut dims = 0;
        loop {
            self.skip_space();
            if self.peek() != Some(b'[') {
                break;
            }
            self.pos += 1;
            dims += 1;
            if dims > MAX_ARRAY_DEPTH {
                return Err(ConvertError::TooDeep);
            }
            self.bound()?;
            if self.peek() == Some(b':') {
                self.pos += 1;
                self.bound()?;
            }
            if self.peek() != Some(b']') {
                return Err(ConvertError::InvalidArray);
            }
            self.pos += 1;
        }
        if dims > 0 {
            if self.peek() != Some(b'=') {
                return Err(ConvertError::InvalidArray);
            }
            self.pos += 1;
            self.skip_space();
        }
        Ok(())
    }

    /// One dimension bound: an optionally signed integer, with space around it.
    fn bound(&mut self) -> Result<(), ConvertError> {
        self.skip_space();
        if matches!(self.peek(), Some(b'+' | b'-')) {
            self.pos += 1;
        }
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(ConvertError::InvalidArray);
        }
        self.skip_space();
        Ok(())
    }

    /// The byte after a backslash, taken literally.
    fn escaped(&mut self, out: &mut Vec<u8>) -> Result<(), ConvertError> {
        let b = self.bytes.get(self.pos + 1).copied().ok_or(ConvertError::InvalidArray)?;
        out.push(b);
        self.pos += 2;
        Ok(())
    }

    /// A quoted element, from its opening quote; backslash escapes any byte.
    fn quoted(&mut self) -> Result<String, ConvertError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ConvertError::InvalidArray),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => self.escaped(&mut out)?,
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| ConvertError::InvalidArray)
    }

    /// An unquoted element, from its first non-space byte up to the delimiter or `}`. Trailing
    /// space is dropped unless escaped; `None` is an unescaped `NULL` in any case.
    fn unquoted(&mut self, delimiter: u8) -> Result<Option<String>, ConvertError> {
        let mut out = Vec::new();
        // The length up to the last byte that is not trailing space.
        let mut kept = 0;
        let mut any_escape = false;
        loop {
            match self.peek() {
                None => return Err(ConvertError::InvalidArray),
                Some(b) if b == delimiter || b == b'}' => break,
                Some(b'"' | b'{') => return Err(ConvertError::InvalidArray),
                Some(b'\\') => {
                    self.escaped(&mut out)?;
                    any_escape = true;
                    kept = out.len();
                }
                Some(b) => {
                    out.push(b);
                    self.pos += 1;
                    if !is_array_space(b) {
                        kept = out.len();
                    }
                }
            }
        }
        out.truncate(kept);
        if !any_escape && out.eq_ignore_ascii_case(b"NULL") {
            return Ok(None);
        }
        String::from_utf8(out).map(Some).map_err(|_| ConvertError::InvalidArray)
    }
}

/// One open `{` of an array literal.
#[derive(Default)]
struct Level {
    items: Vec<Value>,
    /// Whether a sub-array / a scalar has been seen here: Postgres refuses a level with both.
    has_arrays: bool,
    has_scalars: bool,
}

/// Where the literal parser is between tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Right after `{`: an element or `}`.
    FirstElement,
    /// After a delimiter: an element.
    Element,
    /// After an element: a delimiter or `}`.
    DelimiterOrClose,
}

/// Parses a Postgres array literal (`array_in`'s syntax), converting each element as `elem`.
/// Iterative, with the open levels on an explicit stack bounded by [`MAX_ARRAY_DEPTH`].
fn parse_literal(elem: Family, text: &str) -> Result<Value, ConvertError> {
    let delimiter = elem.delimiter();
    let mut lit = Literal { bytes: text.as_bytes(), pos: 0 };
    lit.skip_dimensions()?;
    lit.skip_space();
    if lit.peek() != Some(b'{') {
        return Err(ConvertError::InvalidArray);
    }
    lit.pos += 1;
    let mut stack: Vec<Level> = Vec::from([Level::default()]);
    let mut expect = Expect::FirstElement;
    loop {
        lit.skip_space();
        let byte = lit.peek().ok_or(ConvertError::InvalidArray)?;
        let depth = stack.len();
        let level = stack.last_mut().ok_or(ConvertError::InvalidArray)?;
        match expect {
            Expect::DelimiterOrClose if byte == delimiter => {
                lit.pos += 1;
                expect = Expect::Element;
            }
            Expect::DelimiterOrClose | Expect::FirstElement if byte == b'}' => {
                lit.pos += 1;
                let done = stack.pop().ok_or(ConvertError::InvalidArray)?;
                let array = Value::Array(done.items);
                let Some(parent) = stack.last_mut() else {
                    // The outermost level closed: only space may follow.
                    lit.skip_space();
                    return if lit.peek().is_none() { Ok(array) } else { Err(ConvertError::InvalidArray) };
                };
                parent.items.push(array);
                expect = Expect::DelimiterOrClose;
            }
            Expect::DelimiterOrClose => return Err(ConvertError::InvalidArray),
            Expect::FirstElement | Expect::Element => {
                if byte == b'{' {
                    if level.has_scalars {
                        return Err(ConvertError::InvalidArray);
                    }
                    if depth >= MAX_ARRAY_DEPTH {
                        return Err(ConvertError::TooDeep);
                    }
                    level.has_arrays = true;
                    lit.pos += 1;
                    stack.push(Level::default());
                    expect = Expect::FirstElement;
                    continue;
                }
                if level.has_arrays || byte == delimiter || byte == b'}' {
                    // Scalars beside sub-arrays, or an empty element (`{a,,b}`, `{a,}`).
                    return Err(ConvertError::InvalidArray);
                }
                let value = if byte == b'"' {
                    convert_text(elem, &lit.quoted()?, None)?
                } else {
                    match lit.unquoted(delimiter)? {
                        Some(text) => convert_text(elem, &text, None)?,
                        None => Value::Null,
                    }
                };
                level.has_scalars = true;
                level.items.push(value);
                expect = Expect::DelimiterOrClose;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;
    use alloc::vec;

    use proptest::prelude::*;

    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_string())
    }

    /// The JSON string token of `s`, as the server would send a text value.
    fn string_token(s: &str) -> String {
        serde_json::to_string(s).unwrap()
    }

    #[test]
    fn null_is_null_for_every_type() {
        for ty in ["bool", "int8", "float8", "numeric", "jsonb", "timestamp", "text", "_int4", "_text", "x"] {
            assert_eq!(convert(ty, "null"), Ok(Value::Null), "{ty}");
        }
        assert!(convert("text", "null").unwrap().is_null());
    }

    #[test]
    fn integers_are_exact() {
        assert_eq!(convert("int8", "9007199254740993"), Ok(Value::Int(9_007_199_254_740_993)));
        assert_eq!(convert("int8", "\"9007199254740993\""), Ok(Value::Int(9_007_199_254_740_993)));
        assert_eq!(convert("int8", "9223372036854775807"), Ok(Value::Int(i64::MAX)));
        assert_eq!(convert("int8", "-9223372036854775808"), Ok(Value::Int(i64::MIN)));
        assert_eq!(convert("int8", "\"-9223372036854775808\""), Ok(Value::Int(i64::MIN)));
        assert_eq!(convert("int8", "9223372036854775808"), Err(ConvertError::OutOfRange));
        assert_eq!(convert("int8", "-9223372036854775809"), Err(ConvertError::OutOfRange));
        assert_eq!(convert("int8", "123456789012345678901234567890"), Err(ConvertError::OutOfRange));
        assert_eq!(convert("int4", "42"), Ok(Value::Int(42)));
        assert_eq!(convert("int2", "-7"), Ok(Value::Int(-7)));
        assert_eq!(convert("oid", "\"4294967295\""), Ok(Value::Int(4_294_967_295)));
        assert_eq!(convert("int4", " 42 ").unwrap().as_i64(), Some(42));
    }

    #[test]
    fn integers_written_as_whole_decimals_are_accepted() {
        assert_eq!(convert("int4", "10.0"), Ok(Value::Int(10)));
        assert_eq!(convert("int4", "\"10.00\""), Ok(Value::Int(10)));
        assert_eq!(convert("int4", "\"+10\""), Ok(Value::Int(10)));
        assert_eq!(convert("int4", "-0"), Ok(Value::Int(0)));
        assert_eq!(convert("int4", "0e999999999999999999999"), Ok(Value::Int(0)));
        assert_eq!(convert("int8", "1e3"), Ok(Value::Int(1000)));
        assert_eq!(convert("int8", "1.5e1"), Ok(Value::Int(15)));
        assert_eq!(convert("int8", "1500e-2"), Ok(Value::Int(15)));
        assert_eq!(convert("int8", "9.223372036854775807e18"), Ok(Value::Int(i64::MAX)));
        assert_eq!(convert("int8", "1e19"), Err(ConvertError::OutOfRange));
        assert_eq!(convert("int8", "1e999999999999999999999"), Err(ConvertError::OutOfRange));
        assert_eq!(convert("int8", "1.5"), Err(ConvertError::NotAnInteger));
        assert_eq!(convert("int8", "15e-1"), Err(ConvertError::NotAnInteger));
        assert_eq!(convert("int8", "1e-99999999999999999999"), Err(ConvertError::NotAnInteger));
        for bad in ["\"abc\"", "\"\"", "\" 1\"", "\"1 \"", "\"0x10\"", "\"1e\"", "\".\"", "true", "[1]", "{}"]
        {
            assert_eq!(convert("int8", bad), Err(ConvertError::NotAnInteger), "{bad}");
        }
    }

    #[test]
    fn bools_in_their_json_and_postgres_forms() {
        for (raw, b) in [("true", true), ("false", false), ("\"t\"", true), ("\"true\"", true)] {
            assert_eq!(convert("bool", raw), Ok(Value::Bool(b)), "{raw}");
        }
        for (raw, b) in [("\"f\"", false), ("\"false\"", false)] {
            assert_eq!(convert("bool", raw).unwrap().as_bool(), Some(b), "{raw}");
        }
        for bad in ["1", "0", "\"yes\"", "\"T\"", "\"\"", "[]"] {
            assert_eq!(convert("bool", bad), Err(ConvertError::NotABool), "{bad}");
        }
    }

    #[test]
    fn floats_and_their_special_values() {
        assert_eq!(convert("float8", "1.5"), Ok(Value::Float(1.5)));
        assert_eq!(convert("float4", "\"-2.25\""), Ok(Value::Float(-2.25)));
        assert_eq!(convert("float8", "1e308"), Ok(Value::Float(1e308)));
        assert_eq!(convert("float8", "\"Infinity\""), Ok(Value::Float(f64::INFINITY)));
        assert_eq!(convert("float8", "\"-Infinity\""), Ok(Value::Float(f64::NEG_INFINITY)));
        assert!(convert("float8", "\"NaN\"").unwrap().as_f64().unwrap().is_nan());
        for bad in ["true", "\"abc\"", "\"\"", "{}"] {
            assert_eq!(convert("float8", bad), Err(ConvertError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn numerics_keep_every_digit() {
        let long = "123456789012345678901234567890.123456789";
        assert_eq!(convert("numeric", long), Ok(Value::Numeric(long.to_string())));
        assert_eq!(convert("numeric", &string_token(long)), Ok(Value::Numeric(long.to_string())));
        assert_eq!(convert("decimal", "1E+5").unwrap().as_str(), Some("1E+5"));
        for s in ["NaN", "Infinity", "-Infinity", "-.5", "5.", "+1e-3", "0.10"] {
            assert_eq!(convert("numeric", &string_token(s)), Ok(Value::Numeric(s.to_string())), "{s}");
        }
        for bad in ["\"1.2.3\"", "\"nan\"", "\"1e\"", "\" 1\"", "\"\"", "\".\"", "\"-\"", "true", "[1]"] {
            assert_eq!(convert("numeric", bad), Err(ConvertError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn json_as_object_as_string_with_json_and_as_plain_string() {
        assert_eq!(convert("jsonb", r#"{"k": [1, 2]}"#), Ok(Value::Json(r#"{"k": [1, 2]}"#.to_string())));
        assert_eq!(
            convert("json", "12345678901234567890123"),
            Ok(Value::Json("12345678901234567890123".into()))
        );
        assert_eq!(convert("jsonb", r#""{\"k\":1}""#), Ok(Value::Json(r#"{"k":1}"#.to_string())));
        assert_eq!(convert("jsonb", r#""hello""#), Ok(Value::Json(r#""hello""#.to_string())));
        assert_eq!(convert("jsonb", r#""a\u0022b""#).unwrap().as_str(), Some(r#""a\u0022b""#));
        assert_eq!(convert("jsonb", "true"), Ok(Value::Json("true".to_string())));
    }

    #[test]
    fn timestamps_get_a_t() {
        assert_eq!(
            convert("timestamp", "\"2024-01-02 03:04:05.123\""),
            Ok(Value::Timestamp("2024-01-02T03:04:05.123".to_string()))
        );
        assert_eq!(
            convert("timestamp", "\"0001-01-01 00:00:00 BC\""),
            Ok(Value::Timestamp("0001-01-01T00:00:00 BC".to_string()))
        );
        for s in ["infinity", "-infinity"] {
            assert_eq!(convert("timestamp", &string_token(s)), Ok(Value::Timestamp(s.to_string())));
        }
        // timestamptz is text as sent.
        assert_eq!(convert("timestamptz", "\"2024-01-02 03:04:05+00\""), Ok(text("2024-01-02 03:04:05+00")));
    }

    #[test]
    fn other_types_are_text_as_sent() {
        assert_eq!(convert("text", r#""a\nb""#), Ok(text("a\nb")));
        assert_eq!(
            convert("uuid", r#""0e7c9f3c-0000-4000-8000-000000000000""#).unwrap().as_str(),
            Some("0e7c9f3c-0000-4000-8000-000000000000")
        );
        assert_eq!(convert("my_enum", "17"), Ok(text("17")));
        assert_eq!(convert("money", "{\"a\":1}"), Ok(text("{\"a\":1}")));
    }

    #[test]
    fn invalid_json_is_a_typed_error() {
        for bad in ["", " ", "tru", "01", "1.", "\"unterminated", "{", "[1,]", "1 2", "'a'", "\"\\ud800\""] {
            assert_eq!(convert("text", bad), Err(ConvertError::InvalidJson), "{bad}");
            assert_eq!(convert("_int4", bad), Err(ConvertError::InvalidJson), "{bad}");
        }
    }

    #[test]
    fn a_quoted_comma_stays_inside_its_element() {
        // The reference clients split this into three elements.
        assert_eq!(convert("_text", r#""{\"a,b\",c}""#), Ok(Value::Array(vec![text("a,b"), text("c")])));
    }

    #[test]
    fn unquoted_null_is_null_and_quoted_null_is_text() {
        assert_eq!(
            convert("_text", r#""{NULL,\"NULL\",null,\\NULL}""#),
            Ok(Value::Array(vec![Value::Null, text("NULL"), Value::Null, text("NULL")]))
        );
    }

    #[test]
    fn literals_nest_and_convert_their_elements() {
        let int = Value::Int;
        assert_eq!(
            convert("_int4", "\"{{1,2},{3,4}}\""),
            Ok(Value::Array(vec![Value::Array(vec![int(1), int(2)]), Value::Array(vec![int(3), int(4)])]))
        );
        assert_eq!(convert("_int4", "\"{}\""), Ok(Value::Array(vec![])));
        assert_eq!(convert("_int4", "\" { } \""), Ok(Value::Array(vec![])));
        assert_eq!(convert("_int4", "\"[1:2]={1,2}\""), Ok(Value::Array(vec![int(1), int(2)])));
        assert_eq!(
            convert("_int4", "\"[0:0][-1:0]={{5,6}}\""),
            Ok(Value::Array(vec![Value::Array(vec![int(5), int(6)])]))
        );
        assert_eq!(
            convert("_int8", "\"{ 9007199254740993 , \\\"-1\\\" }\""),
            Ok(Value::Array(vec![int(9_007_199_254_740_993), int(-1)]))
        );
        assert_eq!(
            convert("_bool", "\"{t,f}\""),
            Ok(Value::Array(vec![Value::Bool(true), Value::Bool(false)]))
        );
        assert_eq!(
            convert("_numeric", "\"{123456789012345678901234567890.5,NaN}\""),
            Ok(Value::Array(vec![
                Value::Numeric("123456789012345678901234567890.5".into()),
                Value::Numeric("NaN".into())
            ]))
        );
        assert_eq!(
            convert("_timestamp", "\"{\\\"2024-01-02 03:04:05\\\"}\""),
            Ok(Value::Array(vec![Value::Timestamp("2024-01-02T03:04:05".into())]))
        );
        assert_eq!(
            convert("_jsonb", r#""{\"{\\\"a\\\": 1}\",plain}""#),
            Ok(Value::Array(vec![Value::Json(r#"{"a": 1}"#.into()), Value::Json(r#""plain""#.into())]))
        );
        assert_eq!(convert("_int4", "\"{1,x}\""), Err(ConvertError::NotAnInteger));
    }

    #[test]
    fn literal_escapes_and_spaces() {
        assert_eq!(
            convert("_text", r#""{\"a\\\"b\",\"c\\\\d\"}""#),
            Ok(Value::Array(vec![text("a\"b"), text("c\\d")]))
        );
        // Unquoted: space around is trimmed, space inside and escaped space are kept.
        assert_eq!(
            convert("_text", &string_token("{  a b  ,\\ x\\ , é }")),
            Ok(Value::Array(vec![text("a b"), text(" x "), text("é")]))
        );
        assert_eq!(
            convert("_text", &string_token("{\"\", \" \"}")),
            Ok(Value::Array(vec![text(""), text(" ")]))
        );
    }

    #[test]
    fn box_arrays_are_delimited_by_semicolons() {
        assert_eq!(
            convert("_box", &string_token("{(1,2),(0,0);(3,3),(2,2)}")),
            Ok(Value::Array(vec![text("(1,2),(0,0)"), text("(3,3),(2,2)")]))
        );
    }

    #[test]
    fn json_array_tokens_convert_each_element() {
        assert_eq!(
            convert("_int8", "[9007199254740993]"),
            Ok(Value::Array(vec![Value::Int(9_007_199_254_740_993)]))
        );
        assert_eq!(
            convert("_int4", "[[1,\"2\"],[null,4]]"),
            Ok(Value::Array(vec![
                Value::Array(vec![Value::Int(1), Value::Int(2)]),
                Value::Array(vec![Value::Null, Value::Int(4)])
            ]))
        );
        assert_eq!(
            convert("_numeric", "[1.000000000000000000001, \"2.5\"]"),
            Ok(Value::Array(vec![
                Value::Numeric("1.000000000000000000001".into()),
                Value::Numeric("2.5".into())
            ]))
        );
        assert_eq!(
            convert("_jsonb", r#"[[1,2],{"a":null},"x"]"#),
            Ok(Value::Array(vec![
                Value::Json("[1,2]".into()),
                Value::Json(r#"{"a":null}"#.into()),
                Value::Json(r#""x""#.into())
            ]))
        );
        assert_eq!(convert("_text", "[\"a,b\",\"c\"]").unwrap().as_array().map(<[Value]>::len), Some(2));
        assert_eq!(convert("_int4", "[1.5]"), Err(ConvertError::NotAnInteger));
        assert_eq!(convert("_int4", "5"), Err(ConvertError::NotAnArray));
        assert_eq!(convert("_int4", "{}"), Err(ConvertError::NotAnArray));
    }

    #[test]
    fn malformed_literals_are_typed_errors() {
        for bad in [
            "",
            "1,2",
            "{",
            "}",
            "{1,2",
            "{1,2}}",
            "{1,2} x",
            "{{1},2}",
            "{1,{2}}",
            "{1,,2}",
            "{,}",
            "{1,}",
            "{\"a}",
            "{\"a\"b}",
            "{a\"b}",
            "{a{b}",
            "{a\\",
            "{\"a\\",
            "[1:2]{1,2}",
            "[1:]={1}",
            "[x]={1}",
            "[1:2={1}",
            "{{1,2}",
            "{{}x}",
        ] {
            assert_eq!(convert("_text", &string_token(bad)), Err(ConvertError::InvalidArray), "{bad}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let ok = "{{{{{{1}}}}}}";
        assert!(convert("_int4", &string_token(ok)).is_ok());
        let deep = "{{{{{{{1}}}}}}}";
        assert_eq!(convert("_int4", &string_token(deep)), Err(ConvertError::TooDeep));
        let very_deep = "{".repeat(100_000);
        assert_eq!(convert("_int4", &string_token(&very_deep)), Err(ConvertError::TooDeep));
        assert_eq!(convert("_int4", &string_token("[1][1][1][1][1][1][1]={1}")), Err(ConvertError::TooDeep));
        assert!(convert("_int4", "[[[[[[1]]]]]]").is_ok());
        assert_eq!(convert("_int4", "[[[[[[[1]]]]]]]"), Err(ConvertError::TooDeep));
        // Deep JSON in a text column is one verbatim value: serde_json skips over it without
        // recursing, and only our own array levels count.
        let deep_json = alloc::format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(convert("text", &deep_json), Ok(Value::Text(deep_json.clone())));
        assert_eq!(convert("_text", &deep_json), Err(ConvertError::TooDeep));
    }

    #[test]
    fn accessors_answer_only_for_their_variants() {
        let n = Value::Int(1);
        assert_eq!(
            (n.as_i64(), n.as_bool(), n.as_str(), n.as_f64(), n.is_null()),
            (Some(1), None, None, None, false)
        );
        for v in [
            Value::Text("a".into()),
            Value::Numeric("a".into()),
            Value::Timestamp("a".into()),
            Value::Json("a".into()),
        ] {
            assert_eq!(v.as_str(), Some("a"));
            assert_eq!(v.as_i64(), None);
        }
        assert_eq!(Value::Null.as_array(), None);
        assert_eq!(Value::Bool(true).as_str(), None);
    }

    #[test]
    fn errors_display() {
        assert_eq!(ConvertError::OutOfRange.to_string(), "the integer does not fit in 64 bits");
        let e: &dyn core::error::Error = &ConvertError::TooDeep;
        assert!(!e.to_string().is_empty());
    }

    /// `array_out`'s quoting: an element is quoted if it is empty, reads as `NULL`, or holds a
    /// brace, quote, backslash, delimiter or space; inside quotes `"` and `\` are escaped.
    fn array_out(items: &[Option<String>]) -> String {
        let mut out = String::from("{");
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let Some(s) = item else {
                out.push_str("NULL");
                continue;
            };
            let quote = s.is_empty()
                || s.eq_ignore_ascii_case("NULL")
                || s.bytes().any(|b| matches!(b, b'{' | b'}' | b'"' | b'\\' | b',') || is_array_space(b));
            if quote {
                out.push('"');
            }
            for c in s.chars() {
                if quote && matches!(c, '"' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            if quote {
                out.push('"');
            }
        }
        out.push('}');
        out
    }

    proptest! {
        #[test]
        fn any_i64_is_exact(n in any::<i64>()) {
            prop_assert_eq!(convert("int8", &n.to_string()), Ok(Value::Int(n)));
            prop_assert_eq!(convert("int8", &string_token(&n.to_string())), Ok(Value::Int(n)));
        }

        #[test]
        fn text_arrays_round_trip_through_array_out(
            items in proptest::collection::vec(
                proptest::option::of(prop_oneof![
                    "[a-cN ,{}\"\\\\\t\u{b}é]{0,6}",
                    Just("NULL".to_string()),
                    Just("null".to_string()),
                    any::<String>(),
                ]),
                0..8,
            )
        ) {
            let literal = array_out(&items);
            let expected: Vec<Value> = items.iter().map(|i| i.as_deref().map_or(Value::Null, text)).collect();
            prop_assert_eq!(convert("_text", &string_token(&literal)), Ok(Value::Array(expected)));
        }

        #[test]
        fn any_raw_input_is_ok_or_a_typed_error(
            raw in prop_oneof![any::<String>(), "[\\[\\]{}\",\\\\ 0-9a-zNUL:=.eE+-]{0,24}"],
            ty in prop_oneof![
                Just("bool"), Just("int8"), Just("float8"), Just("numeric"), Just("jsonb"),
                Just("timestamp"), Just("text"), Just("_int4"), Just("_text"), Just("_jsonb"), Just("_box"),
            ],
        ) {
            let _ = convert(ty, &raw);
            // The same bytes as a string token reach the literal and text parsers.
            let _ = convert(ty, &string_token(&raw));
        }
    }
}
