//! Array columns: a JSON array token (nested arrays as dimensions) or a string holding a
//! Postgres array literal, read with `array_in`'s quoting rules, depth bounded.

use super::*;

/// Converts the value of an array column: a JSON array token or a string holding an array
/// literal.
pub(super) fn convert_array(elem: Family, token: &str) -> Result<Value, ConvertError> {
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
pub(super) const fn is_array_space(b: u8) -> bool {
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
