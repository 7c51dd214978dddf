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

mod array;
#[cfg(test)]
mod tests;

use array::convert_array;
#[cfg(test)]
use array::is_array_space;
