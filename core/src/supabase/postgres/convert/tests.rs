//! The module's own cases.

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
    for bad in ["\"abc\"", "\"\"", "\" 1\"", "\"1 \"", "\"0x10\"", "\"1e\"", "\".\"", "true", "[1]", "{}"] {
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
    assert_eq!(convert("json", "12345678901234567890123"), Ok(Value::Json("12345678901234567890123".into())));
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
    assert_eq!(convert("_bool", "\"{t,f}\""), Ok(Value::Array(vec![Value::Bool(true), Value::Bool(false)])));
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
    assert_eq!(convert("_text", &string_token("{\"\", \" \"}")), Ok(Value::Array(vec![text(""), text(" ")])));
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
