//! The module's own cases.

use alloc::format;
use alloc::string::ToString;

use proptest::prelude::*;

use super::*;

fn fields(text: &str, f: &TextFields) -> (Option<String>, Option<String>, String, String, String) {
    let m = Message {
        frame: Frame::Text(text.to_string()),
        join_ref: f.0.clone(),
        msg_ref: f.1.clone(),
        topic: f.2.clone(),
        event: f.3.clone(),
        body: Body::Json(range(f.4.clone())),
    };
    let Payload::Json(p) = m.payload() else { unreachable!() };
    (
        m.join_ref().map(String::from),
        m.msg_ref().map(String::from),
        m.topic().into(),
        m.event().into(),
        p.into(),
    )
}

/// The same for v1.
fn agree_v1(text: &str) {
    if let Some(fast) = v1_fast(text) {
        let general = v1_general(text).expect("the fast path accepted a frame serde rejects");
        assert_eq!(fields(text, &fast), fields(text, &general), "{text}");
    }
}

#[test]
fn the_v1_fast_path_takes_the_servers_frames_and_leaves_the_rest() {
    let server =
        r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"3","topic":"realtime:room1"}"#;
    assert!(v1_fast(server).is_some());
    agree_v1(server);
    let broadcast = r#"{"event":"broadcast","payload":{"a":[1,{"b":2}]},"ref":null,"topic":"realtime:r"}"#;
    assert!(v1_fast(broadcast).is_some());
    agree_v1(broadcast);
    for other in [
        r#"{"topic":"t","event":"e","payload":{},"ref":null}"#,
        r#"{"event":"e","payload": {},"ref":null,"topic":"t"}"#,
        r#"{"event":"e","payload":{},"ref":null,"topic":"t","join_ref":"1"}"#,
        r#"{"event":"e","payload":{},"ref":null,"topic":"t"} "#,
        r#"{"event":"e","payload":{},"topic":"t"}"#,
        r#"{"event":"e\u0041","payload":{},"ref":null,"topic":"t"}"#,
        r#"{"event":"e","payload":{,"ref":null,"topic":"t"}"#,
    ] {
        assert!(v1_fast(other).is_none(), "{other}");
        agree_v1(other);
    }
}

/// Whatever the fast path accepts, the general path reads the same way.
fn agree(text: &str) {
    if let Some(fast) = v2_fast(text) {
        let general = v2_general(text).expect("the fast path accepted a frame serde rejects");
        assert_eq!(fields(text, &fast), fields(text, &general), "{text}");
    }
}

#[test]
fn the_fast_path_takes_the_servers_frames_and_leaves_the_rest() {
    let server = r#"["1","2","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#;
    assert!(v2_fast(server).is_some());
    agree(server);
    assert!(v2_fast(r#"[null,null,"realtime:r","broadcast",{"a":[1,2]}]"#).is_some());
    for other in [
        r#"[ null,null,"t","e",{}]"#,
        r#"[null,null,"t\u0041","e",{}]"#,
        r#"[null,null,"t","e", {}]"#,
        r#"[null,null,"t","e",{} ]"#,
        r#"[null,null,"t","e",{}]]"#,
        r#"[null,null,"t","e",]"#,
        r#"[null,null,"t","e"]"#,
        r#"[1,null,"t","e",{}]"#,
        r#"[null,null,null,"e",{}]"#,
        "[null,null,\"t\u{1}\",\"e\",{}]",
    ] {
        assert!(v2_fast(other).is_none(), "{other}");
        agree(other);
    }
}

proptest! {
    /// Frames built from pieces the fast path has to get right or refuse.
    #[test]
    fn fast_and_general_paths_agree(
        jr in prop_oneof![Just("null".to_string()), "\"[0-9a-z\\\\\"]{0,4}\""],
        r in prop_oneof![Just("null".to_string()), "\"[0-9 ]{0,4}\""],
        topic in "\"[a-z:\\\\\" \u{1}é]{0,8}\"",
        event in "\"[a-z_]{0,8}\"",
        ws in "[ \t]{0,1}",
        payload in prop_oneof![Just("{}".to_string()), Just("[1,2]".to_string()), Just("\"x\"".to_string()), Just("{".to_string()), Just("1]".to_string())],
    ) {
        agree(&format!("[{jr},{r},{topic},{event},{ws}{payload}]"));
        agree(&format!("[{jr},{r},{topic},{event},{payload}{ws}]"));
        agree_v1(&format!(r#"{{"event":{event},"payload":{ws}{payload},"ref":{r},"topic":{topic}}}"#));
        agree_v1(&format!(r#"{{"event":{event},"payload":{payload}{ws},"ref":{jr},"topic":{topic}}}{ws}"#));
    }
}
