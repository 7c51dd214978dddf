//! Golden tests of the serializers: exact bytes for v2 and binary frames, the same JSON value for
//! v1 objects, the spec's examples made concrete, the realtime-js binary frame, and properties.

use proptest::prelude::*;
use realtime_core::phoenix::serializer::{
    BroadcastDataRef, DecodeError, EncodeError, Field, Message, Outgoing, Payload, UserBroadcast,
    UserBroadcastPush, Vsn, decode_binary, decode_text, encode_text, encode_user_broadcast,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

/// A decoded message's fields, comparable.
type Parts<'a> = (Option<&'a str>, Option<&'a str>, &'a str, &'a str, Payload<'a>);

fn parts(m: &Message) -> Parts<'_> {
    (m.join_ref(), m.msg_ref(), m.topic(), m.event(), m.payload())
}

fn msg<'a>(
    join_ref: Option<&'a str>,
    msg_ref: Option<&'a str>,
    topic: &'a str,
    event: &'a str,
    payload: Payload<'a>,
) -> Parts<'a> {
    (join_ref, msg_ref, topic, event, payload)
}

/// Decodes text the way the client does: the message takes the frame.
fn dt(vsn: Vsn, text: &str) -> Result<Message, DecodeError> {
    decode_text(vsn, text.to_string())
}

fn db(frame: &[u8]) -> Result<Message, DecodeError> {
    decode_binary(frame.to_vec())
}

const JOIN_PAYLOAD: &str = r#"{"config":{"broadcast":{"ack":true,"self":false},"presence":{"key":"user-42","enabled":true},"private":true},"access_token":"t"}"#;

#[test]
fn v2_text_frames_exact_bytes() {
    let cases = [
        (Outgoing { join_ref: None, msg_ref: Some("5"), topic: "phoenix", event: "heartbeat", payload: "{}" }, r#"[null,"5","phoenix","heartbeat",{}]"#.to_string()),
        (
            Outgoing { join_ref: Some("3"), msg_ref: Some("3"), topic: "realtime:room1", event: "phx_join", payload: JOIN_PAYLOAD },
            format!(r#"["3","3","realtime:room1","phx_join",{JOIN_PAYLOAD}]"#),
        ),
        (Outgoing { join_ref: Some("3"), msg_ref: Some("9"), topic: "realtime:room1", event: "phx_leave", payload: "{}" }, r#"["3","9","realtime:room1","phx_leave",{}]"#.to_string()),
        (
            Outgoing {
                join_ref: Some("3"),
                msg_ref: Some("15"),
                topic: "realtime:room1",
                event: "broadcast",
                payload: r#"{"type":"broadcast","event":"cursor","payload":{"x":1,"y":2}}"#,
            },
            r#"["3","15","realtime:room1","broadcast",{"type":"broadcast","event":"cursor","payload":{"x":1,"y":2}}]"#.to_string(),
        ),
        // Strings are JSON-escaped; the payload is passed through as it is.
        (Outgoing { join_ref: None, msg_ref: None, topic: "realtime:a\"b\\c\n\u{1}", event: "e", payload: "[1.50]" }, r#"[null,null,"realtime:a\"b\\c\n\u0001","e",[1.50]]"#.to_string()),
    ];
    for (out, want) in cases {
        assert_eq!(encode_text(Vsn::V2, &out), want);
    }
}

#[test]
fn v1_text_frames_same_json_value_and_always_a_ref() {
    let heartbeat =
        Outgoing { join_ref: None, msg_ref: Some("5"), topic: "phoenix", event: "heartbeat", payload: "{}" };
    assert_eq!(
        json(&encode_text(Vsn::V1, &heartbeat)),
        json(r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"5"}"#)
    );
    let leave = Outgoing {
        join_ref: Some("3"),
        msg_ref: Some("9"),
        topic: "realtime:room1",
        event: "phx_leave",
        payload: "{}",
    };
    assert_eq!(
        json(&encode_text(Vsn::V1, &leave)),
        json(r#"{"topic":"realtime:room1","event":"phx_leave","payload":{},"ref":"9","join_ref":"3"}"#)
    );
    let no_ref = Outgoing { msg_ref: None, ..leave };
    assert_eq!(json(&encode_text(Vsn::V1, &no_ref))["ref"], serde_json::Value::Null);
    assert!(encode_text(Vsn::V1, &no_ref).contains("\"ref\":null"));
}

#[test]
fn text_frames_decode_with_raw_payloads() {
    let reply = r#"[ "3" , "3", "realtime:room1","phx_reply",{"status":"ok","response":{"postgres_changes":[{"id":31338429,"event":"INSERT"}]}}]"#;
    let m = dt(Vsn::V2, reply).unwrap();
    assert_eq!(
        parts(&m),
        msg(
            Some("3"),
            Some("3"),
            "realtime:room1",
            "phx_reply",
            Payload::Json(
                r#"{"status":"ok","response":{"postgres_changes":[{"id":31338429,"event":"INSERT"}]}}"#
            )
        )
    );
    // Numbers stay exact: the payload is the raw text.
    let big = r#"[null,null,"realtime:room1","broadcast",{"n":9007199254740993,"d":0.10000000000000000001}]"#;
    let m = dt(Vsn::V2, big).unwrap();
    let Payload::Json(p) = m.payload() else { panic!() };
    assert_eq!(p, r#"{"n":9007199254740993,"d":0.10000000000000000001}"#);
    // v1: no join_ref from the server; escaped strings are unescaped.
    let v1 = r#"{"topic":"realtime:r\u00e9","event":"phx_close","payload":{},"ref":"3"}"#;
    assert_eq!(
        parts(&dt(Vsn::V1, v1).unwrap()),
        msg(None, Some("3"), "realtime:ré", "phx_close", Payload::Json("{}"))
    );
    // A 1.0.0 frame is an object: an array is refused even where its fields would fit by
    // position.
    assert_eq!(dt(Vsn::V1, r#"["t","e",{},null]"#).err(), Some(DecodeError::InvalidJson));
    for bad in [
        "",
        "[]",
        "[null,null,\"t\",\"e\"]",
        "{\"topic\":\"t\"}",
        "[null,null,1,\"e\",{}]",
        "[null,null,\"t\",\"e\",{]",
    ] {
        assert_eq!(
            dt(Vsn::V2, bad).err().or(dt(Vsn::V1, bad).err()),
            Some(DecodeError::InvalidJson),
            "{bad}"
        );
    }
}

#[test]
fn kind_3_matches_realtime_js_and_the_spec() {
    // realtime-js 2.10x on Node 20 (shared/env-notes.md): join_ref "6", ref "7", ping {"hi":1}.
    let js = hex("0301010e04000136377265616c74696d653a726f6f6d3170696e677b226869223a317d");
    let ours = encode_user_broadcast(&UserBroadcastPush {
        join_ref: Some("6"),
        msg_ref: Some("7"),
        topic: "realtime:room1",
        event: "ping",
        meta: None,
        data: BroadcastDataRef::Json(r#"{"hi":1}"#),
    })
    .unwrap();
    assert_eq!(ours, js);
    // Spec A.4: join_ref "3", ref "15", event cursor, {"x":1}.
    let mut want = hex("030102").to_vec();
    want.extend_from_slice(&[0x0e, 0x06, 0x00, 0x01]);
    want.extend_from_slice(b"315realtime:room1cursor{\"x\":1}");
    let ours = encode_user_broadcast(&UserBroadcastPush {
        join_ref: Some("3"),
        msg_ref: Some("15"),
        topic: "realtime:room1",
        event: "cursor",
        meta: None,
        data: BroadcastDataRef::Json(r#"{"x":1}"#),
    })
    .unwrap();
    assert_eq!(ours, want);
    // Binary data and metadata.
    let ours = encode_user_broadcast(&UserBroadcastPush {
        join_ref: Some("3"),
        msg_ref: None,
        topic: "t",
        event: "e",
        meta: Some(r#"{"id":"x"}"#),
        data: BroadcastDataRef::Binary(&[0, 255]),
    })
    .unwrap();
    let mut want = vec![3, 1, 0, 1, 1, 10, 0];
    want.extend_from_slice(b"3te{\"id\":\"x\"}");
    want.extend_from_slice(&[0, 255]);
    assert_eq!(ours, want);
}

#[test]
fn binary_fields_are_measured_in_utf8_bytes_and_capped() {
    // 128 two-byte characters: 128 UTF-16 units but 256 UTF-8 bytes, one too many.
    let topic = "é".repeat(128);
    let push = UserBroadcastPush {
        join_ref: None,
        msg_ref: None,
        topic: &topic,
        event: "e",
        meta: None,
        data: BroadcastDataRef::Json("{}"),
    };
    assert_eq!(
        encode_user_broadcast(&push),
        Err(EncodeError::FieldTooLong { field: Field::Topic, len: 256 })
    );
    let topic = "é".repeat(127);
    let frame = encode_user_broadcast(&UserBroadcastPush { topic: &topic, ..push }).unwrap();
    assert_eq!(frame[3], 254);
}

#[test]
fn kind_4_decodes_json_binary_and_meta() {
    let mut frame = vec![4, 0x0e, 0x06, 0x00, 0x01];
    frame.extend_from_slice(b"realtime:room1cursor{\"x\":1}");
    assert_eq!(
        parts(&db(&frame).unwrap()),
        msg(
            None,
            None,
            "realtime:room1",
            "broadcast",
            Payload::UserBroadcast(UserBroadcast {
                event: "cursor",
                meta: None,
                data: BroadcastDataRef::Json("{\"x\":1}")
            })
        )
    );
    let mut frame = vec![4, 1, 1, 14, 0];
    frame.extend_from_slice(b"te{\"replayed\":1}");
    frame.extend_from_slice(&[1, 2, 3]);
    let m = db(&frame).unwrap();
    let Payload::UserBroadcast(b) = m.payload() else { panic!() };
    assert_eq!((b.meta, b.data), (Some("{\"replayed\":1}"), BroadcastDataRef::Binary(&[1, 2, 3])));
}

#[test]
fn phoenix_kinds_0_1_2_decode() {
    let mut push = vec![0, 1, 1, 2];
    push.extend_from_slice(b"3tev");
    push.extend_from_slice(&[9, 9]);
    assert_eq!(parts(&db(&push).unwrap()), msg(Some("3"), None, "t", "ev", Payload::Binary(&[9, 9])));
    let mut reply = vec![1, 1, 2, 1, 2];
    reply.extend_from_slice(b"312tok");
    reply.extend_from_slice(&[7]);
    assert_eq!(
        parts(&db(&reply).unwrap()),
        msg(Some("3"), Some("12"), "t", "phx_reply", Payload::BinaryReply { status: "ok", response: &[7] })
    );
    let mut bcast = vec![2, 1, 1];
    bcast.extend_from_slice(b"te");
    assert_eq!(parts(&db(&bcast).unwrap()), msg(None, None, "t", "e", Payload::Binary(&[])));
}

#[test]
fn malformed_binary_frames_are_typed_errors() {
    assert_eq!(db(&[]), Err(DecodeError::Truncated));
    assert_eq!(db(&[5]), Err(DecodeError::UnknownKind(5)));
    assert_eq!(db(&[3, 0, 0, 0, 0, 0, 0]), Err(DecodeError::UnknownKind(3)), "kind 3 is client to server");
    assert_eq!(db(&[4, 1, 1, 0]), Err(DecodeError::Truncated));
    assert_eq!(db(&[4, 1, 1, 0, 1, b't']), Err(DecodeError::Truncated));
    assert_eq!(db(&[4, 1, 1, 0, 2, b't', b'e']), Err(DecodeError::UnknownEncoding(2)));
    assert_eq!(db(&[4, 1, 1, 0, 1, 0xFF, b'e', b'{']), Err(DecodeError::InvalidUtf8(Field::Topic)));
    assert_eq!(db(&[4, 1, 1, 0, 1, b't', b'e', b'{']), Err(DecodeError::InvalidJsonData));
    assert_eq!(db(&[4, 1, 1, 1, 0, b't', b'e', b'x']), Err(DecodeError::InvalidJsonData));
}

proptest! {
    /// What the client encodes as v2 text decodes back to the same fields and payload. Topics
    /// include control characters and quotes, so the hand-written JSON string escaper is checked
    /// against serde_json's parser.
    #[test]
    fn v2_and_v1_round_trip(join_ref in proptest::option::of("[0-9]{1,4}"), msg_ref in proptest::option::of("[0-9]{1,4}"),
                            topic in "(?s).{0,30}", event in "[a-z_]{1,12}", n in any::<i64>(), s in "\\PC{0,20}") {
        let payload = serde_json::json!({"n": n, "s": s}).to_string();
        let out = Outgoing { join_ref: join_ref.as_deref(), msg_ref: msg_ref.as_deref(), topic: &topic, event: &event, payload: &payload };
        for vsn in [Vsn::V2, Vsn::V1] {
            let m = dt(vsn, &encode_text(vsn, &out)).unwrap();
            prop_assert_eq!(parts(&m), msg(join_ref.as_deref(), msg_ref.as_deref(), &topic, &event, Payload::Json(&payload)));
        }
    }

    /// A kind-3 frame turned into the kind-4 frame the server fans out decodes to what was sent.
    #[test]
    fn kind_3_to_kind_4_round_trip(topic in "\\PC{0,40}", event in "\\PC{1,20}", data in proptest::collection::vec(any::<u8>(), 0..64), json in any::<bool>()) {
        let json_data = format!("{:?}", data);
        let d = if json { BroadcastDataRef::Json(&json_data) } else { BroadcastDataRef::Binary(&data) };
        let frame = encode_user_broadcast(&UserBroadcastPush { join_ref: Some("1"), msg_ref: Some("2"), topic: &topic, event: &event, meta: None, data: d }).unwrap();
        // The server's rewrite: drop the refs, kind 4.
        let (t, e) = (usize::from(frame[3]), usize::from(frame[4]));
        let body = &frame[7 + 2..];
        let mut k4 = vec![4, frame[3], frame[4], 0, frame[6]];
        k4.extend_from_slice(body);
        let m = db(&k4).unwrap();
        prop_assert_eq!(t + e <= body.len(), true);
        let want = if json { BroadcastDataRef::Json(&json_data) } else { BroadcastDataRef::Binary(&data) };
        prop_assert_eq!(m.payload(), Payload::UserBroadcast(UserBroadcast { event: &event, meta: None, data: want }));
        prop_assert_eq!(m.topic(), topic);
    }

    /// Nothing from the wire panics.
    #[test]
    fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = db(&bytes);
        if let Ok(text) = core::str::from_utf8(&bytes) {
            let _ = dt(Vsn::V2, text);
            let _ = dt(Vsn::V1, text);
        }
    }
}

mod endpoint {
    use realtime_core::phoenix::endpoint::{CLIENT_INFO, EndpointError, LogLevel, endpoint_url};
    use realtime_core::phoenix::serializer::Vsn;

    #[test]
    fn urls_as_the_reference_clients_build_them() {
        assert_eq!(
            endpoint_url("https://abc.supabase.co/realtime/v1", Some("sb_publishable_x"), Vsn::V2, None, &[])
                .unwrap(),
            "wss://abc.supabase.co/realtime/v1/websocket?apikey=sb_publishable_x&vsn=2.0.0"
        );
        assert_eq!(
            endpoint_url(
                "http://127.0.0.1:4000/socket/",
                Some("k"),
                Vsn::V1,
                Some(LogLevel::Warning),
                &[("x", "a b&c")]
            )
            .unwrap(),
            "ws://127.0.0.1:4000/socket/websocket?apikey=k&x=a%20b%26c&log_level=warning&vsn=1.0.0"
        );
        assert_eq!(
            endpoint_url(
                "wss://h/realtime/v1/websocket?keep=1",
                Some("k=/"),
                Vsn::V2,
                Some(LogLevel::Info),
                &[]
            )
            .unwrap(),
            "wss://h/realtime/v1/websocket?keep=1&apikey=k%3D%2F&log_level=info&vsn=2.0.0"
        );
        assert_eq!(endpoint_url("ftp://h", Some("k"), Vsn::V2, None, &[]), Err(EndpointError::InvalidBase));
        assert_eq!(endpoint_url("https://", Some("k"), Vsn::V2, None, &[]), Err(EndpointError::InvalidBase));
        assert_eq!(
            endpoint_url("https://h", Some(""), Vsn::V2, None, &[]),
            Err(EndpointError::MissingApiKey)
        );
        assert!(CLIENT_INFO.starts_with("realtime-rs/"));
    }

    #[test]
    fn a_plain_phoenix_endpoint_has_no_api_key() {
        assert_eq!(
            endpoint_url("ws://127.0.0.1:4000/socket", None, Vsn::V2, None, &[("token", "t")]).unwrap(),
            "ws://127.0.0.1:4000/socket/websocket?token=t&vsn=2.0.0"
        );
        assert_eq!(
            endpoint_url("ws://h/socket?keep=1", None, Vsn::V1, None, &[]).unwrap(),
            "ws://h/socket/websocket?keep=1&vsn=1.0.0"
        );
    }
}

mod join_payload {
    use realtime_core::phoenix::endpoint::CLIENT_INFO;
    use realtime_core::supabase::channel_config::ChannelConfig;

    #[test]
    fn default_join_payload_exact_text() {
        assert_eq!(
            ChannelConfig::new().join_payload(None),
            format!(
                r#"{{"config":{{"broadcast":{{"ack":false,"self":false}},"presence":{{"key":"","enabled":false}},"postgres_changes":[],"private":false}},"version":"{CLIENT_INFO}"}}"#
            )
        );
    }

    #[test]
    fn full_join_payload_matches_the_spec_example() {
        let config = ChannelConfig::new()
            .broadcast_ack(true)
            .broadcast_self(false)
            .broadcast_replay(1_755_700_000_000, Some(10))
            .presence_key("user-42")
            .presence_enabled(true)
            .private(true);
        let got: serde_json::Value = serde_json::from_str(&config.join_payload(Some("<jwt>"))).unwrap();
        // Spec A.6 without the postgres_changes entries (part 3) and with our version string.
        let want = serde_json::json!({
            "config": {
                "broadcast": {"ack": true, "self": false, "replay": {"since": 1_755_700_000_000u64, "limit": 10}},
                "presence": {"key": "user-42", "enabled": true},
                "postgres_changes": [],
                "private": true
            },
            "access_token": "<jwt>",
            "version": CLIENT_INFO
        });
        assert_eq!(got, want);
        assert!(config.is_private());
        assert_ne!(config, ChannelConfig::new(), "configs compare, for the same-topic rule");
    }
}

/// The decoder (fast paths included) against plain serde on server-style frames with random
/// edits: both accept the same frames and read the same fields (a second read's harness).
mod differential {
    use super::*;
    use serde_json::value::RawValue;

    type Ref<'a> = (Option<String>, Option<String>, String, String, &'a RawValue);

    fn check_v2(text: &str) {
        let reference = serde_json::from_str::<Ref<'_>>(text);
        let got = decode_text(Vsn::V2, text.to_string());
        match (reference, got) {
            (Ok((j, r, t, e, p)), Ok(m)) => {
                assert_eq!(m.join_ref(), j.as_deref(), "{text:?}");
                assert_eq!(m.msg_ref(), r.as_deref(), "{text:?}");
                assert_eq!(m.topic(), t, "{text:?}");
                assert_eq!(m.event(), e, "{text:?}");
                assert_eq!(m.payload(), Payload::Json(p.get()), "{text:?}");
            }
            (Err(_), Err(_)) => {}
            (a, b) => panic!("disagree on {text:?}: serde {:?} decode {:?}", a.is_ok(), b.is_ok()),
        }
    }

    fn check_v1(text: &str) {
        // No duplicate keys in the inputs below, so a map is a faithful reference.
        let reference = serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(text);
        let got = decode_text(Vsn::V1, text.to_string());
        let s = |v: Option<&&RawValue>| v.and_then(|v| serde_json::from_str::<Option<String>>(v.get()).ok());
        if let Ok(m) = got {
            let map = reference.expect("decode accepted what serde rejects");
            assert_eq!(m.topic(), s(map.get("topic")).flatten().unwrap(), "{text:?}");
            assert_eq!(m.event(), s(map.get("event")).flatten().unwrap(), "{text:?}");
            assert_eq!(m.msg_ref(), s(map.get("ref")).flatten().as_deref(), "{text:?}");
            assert_eq!(m.payload(), Payload::Json(map["payload"].get()), "{text:?}");
        }
    }

    const PIECES: &[&str] = &[
        "[",
        "]",
        ",",
        "null",
        "\"",
        "\\",
        " ",
        "\t",
        "\n",
        "é",
        "\u{1F600}",
        "1",
        "-",
        "0",
        ".",
        "e",
        "{",
        "}",
        ":",
        "\"a\"",
        "\u{1}",
        "\u{7f}",
        "nul",
        "true",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]
        #[test]
        fn decode_text_agrees_with_serde(
            base in prop_oneof![
                Just(r#"["1","2","realtime:r","phx_reply",{"status":"ok","response":{}}]"#.to_string()),
                Just(r#"[null,null,"t","e",12]"#.to_string()),
                Just(r#"[null,"3","t","e","x"]"#.to_string()),
                Just(r#"{"event":"e","payload":12,"ref":null,"topic":"t"}"#.to_string()),
                Just(r#"{"event":"e","payload":{"a":[1]},"ref":"3","topic":"t"}"#.to_string()),
            ],
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 0usize..3, 0usize..PIECES.len()), 0..3),
        ) {
            let mut s = base;
            for (at, op, piece) in edits {
                let mut i = at.index(s.len() + 1);
                while !s.is_char_boundary(i) { i -= 1; }
                match op {
                    0 => s.insert_str(i, PIECES[piece]),
                    1 => if i < s.len() { let c = s[i..].chars().next().unwrap(); s.replace_range(i..i + c.len_utf8(), ""); },
                    _ => if i < s.len() { let c = s[i..].chars().next().unwrap(); s.replace_range(i..i + c.len_utf8(), PIECES[piece]); },
                }
            }
            check_v2(&s);
            check_v1(&s);
        }

        #[test]
        fn decode_binary_never_panics_and_reads_its_fields(frame in proptest::collection::vec(prop_oneof![0u8..6, any::<u8>(), Just(b'a'), Just(0xC3), Just(0xA9), Just(b'{'), Just(b'}')], 0..40)) {
            if let Ok(m) = decode_binary(frame.clone()) {
                let _ = (m.join_ref(), m.msg_ref(), m.topic(), m.event(), m.payload());
                if frame[0] == 4 {
                    let t = usize::from(frame[1]);
                    prop_assert_eq!(m.topic().as_bytes(), &frame[5..5 + t]);
                }
            }
        }
    }

    #[test]
    fn kind4_with_high_length_bytes_that_happen_to_be_utf8() {
        // topic length 0xC3, event length 0xA9: together the bytes C3 A9 ("é").
        let mut f = vec![4u8, 0xC3, 0xA9, 0, 1];
        f.extend(std::iter::repeat_n(b't', 0xC3));
        f.extend(std::iter::repeat_n(b'e', 0xA9));
        f.extend_from_slice(b"{}");
        let m = decode_binary(f).unwrap();
        assert_eq!(m.topic().len(), 0xC3);
        let Payload::UserBroadcast(b) = m.payload() else { panic!() };
        assert_eq!(b.event.len(), 0xA9);
        assert_eq!(b.data, BroadcastDataRef::Json("{}"));
    }
}
