//! `postgres_changes`: the change reader and the column converter.

/// Reads `data` as a `postgres_changes` payload (and as legacy bare data) and converts every
/// column of its rows by its type and by a set of other types: nothing may panic.
pub fn postgres_change(data: &[u8]) {
    use crate::supabase::postgres::{Change, convert::convert};
    const TYPES: [&str; 12] = [
        "int8",
        "numeric",
        "bool",
        "jsonb",
        "timestamp",
        "_text",
        "_int4",
        "_numeric",
        "_box",
        "float8",
        "text",
        "_jsonb",
    ];
    let Ok(text) = core::str::from_utf8(data) else { return };
    let changes = [Change::parse(text).map(|(_, c)| c), Change::parse_data(text)];
    for change in changes.into_iter().flatten() {
        for row in [&change.new, &change.old].into_iter().flatten() {
            for (name, raw) in row.iter() {
                let _ = change.new_value(name);
                let _ = change.old_value(name);
                for t in TYPES {
                    let _ = convert(t, raw);
                }
            }
        }
    }
    for t in TYPES {
        let _ = convert(t, text);
    }
}

/// Postgres type names of every converter family, scalar and array, plus ones it does not know.
const TYPE_NAMES: [&str; 24] = [
    "bool",
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "numeric",
    "decimal",
    "json",
    "jsonb",
    "timestamp",
    "box",
    "text",
    "uuid",
    "_bool",
    "_int8",
    "_float8",
    "_numeric",
    "_jsonb",
    "_timestamp",
    "_box",
    "_text",
    "__int4",
];

/// The column converter on one raw JSON token (the bytes after the first, which picks the type):
/// the same result twice (no hidden state), and an output no larger than its input allows: an
/// array has no more elements than its text has bytes, and nests no deeper than the limit.
pub fn postgres_convert(data: &[u8]) {
    use crate::supabase::postgres::convert::{MAX_ARRAY_DEPTH, Value, convert};
    fn check(value: &Value, depth: usize, raw_len: usize) -> usize {
        match value {
            Value::Array(items) => {
                assert!(depth < MAX_ARRAY_DEPTH, "an array nested {} deep", depth + 1);
                assert!(items.len() <= raw_len, "{} elements from {raw_len} bytes", items.len());
                items.iter().map(|v| check(v, depth + 1, raw_len)).sum::<usize>() + 1
            }
            Value::Numeric(s) | Value::Json(s) | Value::Timestamp(s) | Value::Text(s) => {
                // Timestamps gain a `T` at most; escapes only shorten.
                assert!(s.len() <= raw_len + 1, "text of {} bytes from {raw_len}", s.len());
                s.len()
            }
            _ => 1,
        }
    }
    let Some((&pick, raw)) = data.split_first() else { return };
    let Ok(raw) = core::str::from_utf8(raw) else { return };
    let type_name = TYPE_NAMES[usize::from(pick) % TYPE_NAMES.len()];
    let first = convert(type_name, raw);
    // Compared as text: a float column may hold NaN, which is not equal to itself.
    let again = convert(type_name, raw);
    assert_eq!(alloc::format!("{first:?}"), alloc::format!("{again:?}"), "two results for one input");
    if let Ok(value) = &first {
        let size = check(value, 0, raw.len());
        assert!(size <= 2 * raw.len() + 2, "an output of size {size} from {} bytes", raw.len());
    }
}
