//! The Realtime serializer: text and binary decoders and encode-then-decode round trips.

/// Decodes `data` as a binary frame and, when it is UTF-8, as v1 and v2 text frames; checks that
/// what decodes re-encodes (text) to something that decodes the same.
pub fn phoenix_decode(data: &[u8]) {
    use alloc::string::String;
    use alloc::vec::Vec;

    use crate::phoenix::serializer::{Vsn, decode_binary, decode_text};
    let _ = decode_binary(Vec::from(data));
    let Ok(text) = core::str::from_utf8(data) else { return };
    for vsn in [Vsn::V1, Vsn::V2] {
        let Ok(msg) = decode_text(vsn, String::from(text)) else { continue };
        text_round_trip(vsn, &msg);
    }
}

/// A decoded text message encoded again as `vsn` text, when its payload is JSON (every text
/// message's is), must decode to the same message.
fn text_round_trip(vsn: crate::phoenix::serializer::Vsn, msg: &crate::phoenix::serializer::Message) {
    use crate::phoenix::serializer::{Outgoing, Payload, decode_text, encode_text};
    let Payload::Json(payload) = msg.payload() else { panic!("a text frame with a binary payload: {msg:?}") };
    let out = Outgoing {
        join_ref: msg.join_ref(),
        msg_ref: msg.msg_ref(),
        topic: msg.topic(),
        event: msg.event(),
        payload,
    };
    let again = decode_text(vsn, encode_text(vsn, &out));
    assert_eq!(again.as_ref(), Ok(msg), "re-encoded message decodes differently");
}

/// The text decoder of `vsn` on `data` (when UTF-8): a message's fields fit in the frame (an
/// escape only shortens a string), its payload is a slice of the frame, and it round-trips.
fn text(vsn: crate::phoenix::serializer::Vsn, data: &[u8]) {
    use alloc::string::String;

    use crate::phoenix::serializer::{Payload, decode_text};
    let Ok(text) = core::str::from_utf8(data) else { return };
    let Ok(msg) = decode_text(vsn, String::from(text)) else { return };
    let fields = [msg.join_ref(), msg.msg_ref(), Some(msg.topic()), Some(msg.event())];
    let fields_len: usize = fields.iter().flatten().map(|f| f.len()).sum();
    assert!(fields_len <= text.len(), "fields of {fields_len} bytes from a frame of {}", text.len());
    if let Payload::Json(payload) = msg.payload() {
        assert!(text.contains(payload), "the payload is not the frame's own text");
    }
    text_round_trip(vsn, &msg);
}

/// The v1 (JSON object) text decoder.
pub fn phoenix_text_v1(data: &[u8]) {
    text(crate::phoenix::serializer::Vsn::V1, data);
}

/// The v2 (JSON array) text decoder.
pub fn phoenix_text_v2(data: &[u8]) {
    text(crate::phoenix::serializer::Vsn::V2, data);
}

/// The kind-4 frame the server fans out for a kind-3 frame the client sent: the same fields
/// without the refs (the rewrite the serializer tests check against the server).
fn kind_3_as_kind_4(frame: &[u8]) -> alloc::vec::Vec<u8> {
    let refs = usize::from(frame[1]) + usize::from(frame[2]);
    let mut k4 = alloc::vec![4, frame[3], frame[4], frame[5], frame[6]];
    k4.extend_from_slice(&frame[7 + refs..]);
    k4
}

/// The binary decoder: every field read from the frame fits in it and within the one-byte length limit,
/// and a user broadcast (kind 4) encoded again as the client's kind 3 and rewritten as the
/// server does decodes to the same message.
pub fn phoenix_binary(data: &[u8]) {
    use alloc::vec::Vec;

    use crate::phoenix::serializer::{
        MAX_BINARY_FIELD_LEN, Payload, UserBroadcastPush, decode_binary, encode_user_broadcast,
    };
    let Ok(msg) = decode_binary(Vec::from(data)) else { return };
    // Not the event: kinds 1 and 2 carry none, and theirs is a fixed name.
    let fields = [msg.join_ref(), msg.msg_ref(), Some(msg.topic())];
    for field in fields.iter().flatten() {
        assert!(field.len() <= data.len(), "a field of {} bytes from a frame of {}", field.len(), data.len());
    }
    let Payload::UserBroadcast(b) = msg.payload() else { return };
    assert!(b.event.len() <= MAX_BINARY_FIELD_LEN && b.meta.is_none_or(|m| m.len() <= MAX_BINARY_FIELD_LEN));
    let push = UserBroadcastPush {
        join_ref: None,
        msg_ref: None,
        topic: msg.topic(),
        event: b.event,
        meta: b.meta,
        data: b.data,
    };
    let frame =
        encode_user_broadcast(&push).unwrap_or_else(|e| panic!("a decoded broadcast does not encode: {e:?}"));
    assert_eq!(
        frame.len(),
        data.len() + 2,
        "a kind-3 frame of {} for a kind-4 frame of {}",
        frame.len(),
        data.len()
    );
    let again = decode_binary(kind_3_as_kind_4(&frame));
    assert_eq!(again.as_ref(), Ok(&msg), "re-encoded broadcast decodes differently");
}

/// Encode-then-decode for every message kind the client sends: v1 and v2 text and the kind-3
/// binary broadcast (through the server's kind-4 rewrite). The first byte says which fields are
/// present; the rest, cut at 0xFF bytes, gives the refs, topic, event, payload and meta.
/// Payloads that are not JSON are sent as a JSON string of their text, as a caller would.
pub fn phoenix_round_trip(data: &[u8]) {
    use alloc::borrow::Cow;
    use alloc::string::String;

    use crate::phoenix::serializer::{
        BroadcastDataRef, EncodeError, MAX_BINARY_FIELD_LEN, Outgoing, Payload, UserBroadcast,
        UserBroadcastPush, Vsn, decode_binary, decode_text, encode_text, encode_user_broadcast,
    };
    let Some((&flags, rest)) = data.split_first() else { return };
    let mut parts = rest.split(|&b| b == 0xFF);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or_default());
    let (join_ref, msg_ref, topic, event, payload, meta) = (next(), next(), next(), next(), next(), next());
    let join_ref = (flags & 1 != 0).then_some(&*join_ref);
    let msg_ref = (flags & 2 != 0).then_some(&*msg_ref);
    let json = |text: &str| -> String {
        match serde_json::from_str::<&serde_json::value::RawValue>(text) {
            Ok(raw) => String::from(raw.get()),
            Err(_) => serde_json::to_string(text).unwrap_or_default(),
        }
    };
    let payload: Cow<'_, str> = Cow::Owned(json(&payload));
    for vsn in [Vsn::V1, Vsn::V2] {
        let out = Outgoing { join_ref, msg_ref, topic: &topic, event: &event, payload: &payload };
        let msg = decode_text(vsn, encode_text(vsn, &out))
            .unwrap_or_else(|e| panic!("{vsn:?} text of {out:?} does not decode: {e:?}"));
        assert_eq!(msg.join_ref(), join_ref, "{vsn:?} join ref");
        assert_eq!(msg.msg_ref(), msg_ref, "{vsn:?} ref");
        assert_eq!(msg.topic(), &*topic, "{vsn:?} topic");
        assert_eq!(msg.event(), &*event, "{vsn:?} event");
        assert_eq!(msg.payload(), Payload::Json(&payload), "{vsn:?} payload");
    }
    let meta = (flags & 4 != 0).then(|| json(&meta)).filter(|m| !m.is_empty());
    let data = if flags & 8 != 0 { BroadcastDataRef::Json(&payload) } else { BroadcastDataRef::Binary(rest) };
    let push =
        UserBroadcastPush { join_ref, msg_ref, topic: &topic, event: &event, meta: meta.as_deref(), data };
    let frame = match encode_user_broadcast(&push) {
        Ok(frame) => frame,
        Err(EncodeError::FieldTooLong { len, .. }) => {
            assert!(len > MAX_BINARY_FIELD_LEN, "a field of {len} bytes refused");
            return;
        }
    };
    let msg = decode_binary(kind_3_as_kind_4(&frame))
        .unwrap_or_else(|e| panic!("kind 3 of {push:?} does not decode: {e:?}"));
    assert_eq!(msg.topic(), &*topic, "kind 3 topic");
    assert_eq!(
        msg.payload(),
        Payload::UserBroadcast(UserBroadcast { event: &event, meta: meta.as_deref(), data }),
        "kind 3 payload"
    );
}
