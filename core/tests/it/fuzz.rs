//! The fuzz harnesses on generated inputs, so stable CI runs what the fuzz targets run.

use proptest::prelude::*;

fn frames_like() -> impl Strategy<Value = Vec<u8>> {
    // Bytes biased toward valid frame headers, so the search reaches past the first check.
    proptest::collection::vec(
        prop_oneof![
            (0u8..=255, 0u8..=130, proptest::collection::vec(any::<u8>(), 0..40)).prop_map(|(b0, b1, p)| {
                let mut v = vec![b0 & 0x8F, b1];
                v.extend(p);
                v
            }),
            proptest::collection::vec(any::<u8>(), 0..40),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ws_client_survives_any_bytes(shape in any::<u8>(), ops in any::<u8>(), body in frames_like()) {
        let mut data = vec![shape, ops];
        data.extend(body);
        realtime_core::fuzzing::ws_client(&data);
    }

    #[test]
    fn ws_handshake_survives_any_response(mode in any::<u8>(),
                                          head in "HTTP/1.1 [0-9]{3} [a-zA-Z ]{0,12}\r\n([A-Za-z-]{1,20}: [ -~]{0,30}\r\n){0,6}\r\n",
                                          body in frames_like()) {
        let mut data = vec![mode & !1];
        data.extend(head.into_bytes());
        data.extend(body);
        realtime_core::fuzzing::ws_handshake(&data);
    }

    #[test]
    fn ws_frames_after_a_valid_upgrade_survive(mode in any::<u8>(), body in frames_like()) {
        let mut data = vec![mode | 1];
        data.extend(body);
        realtime_core::fuzzing::ws_handshake(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn phoenix_decode_survives_and_round_trips(frame in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..80),
        ("[a-z0-9]{0,3}", "[a-z0-9]{0,3}", "\\PC{0,12}", "[a-z_]{1,10}", "\\PC{0,12}").prop_map(|(j, r, t, e, s)| {
            format!("[{},{},{:?},{:?},{{\"s\":{:?},\"n\":1e400}}]",
                if j.is_empty() { "null".into() } else { format!("{j:?}") },
                if r.is_empty() { "null".into() } else { format!("{r:?}") }, t, e, s).into_bytes()
        }),
    ]) {
        realtime_core::fuzzing::phoenix_decode(&frame);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The client harness on random operation streams (its replay of the fuzz target).
    #[test]
    fn phoenix_client_survives_any_operations(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        realtime_core::fuzzing::phoenix_client(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// The postgres change harness on random bytes and on change-shaped text with odd values.
    #[test]
    fn postgres_change_survives_any_input(data in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120),
        ("\\PC{0,16}", "[-0-9.eE+]{0,24}", "[{}\",\\\\a-zNUL ]{0,24}").prop_map(|(s, n, a)| {
            format!(
                r#"{{"ids":[1],"data":{{"schema":"s","table":"t","type":"INSERT","columns":[{{"name":"a","type":"int8"}},{{"name":"b","type":"_text"}}],"record":{{"a":{},"b":{:?},"c":{:?}}},"old_record":null,"errors":null}}}}"#,
                if n.is_empty() { "0" } else { &n }, a, s
            ).into_bytes()
        }),
    ]) {
        realtime_core::fuzzing::postgres_change(&data);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The parser harnesses on random bytes (their corpora replay in `corpus.rs`).
    #[test]
    fn parser_harnesses_survive_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        realtime_core::fuzzing::ws_frame_decoder(&data);
        realtime_core::fuzzing::ws_connection(&data);
        realtime_core::fuzzing::phoenix_binary(&data);
        realtime_core::fuzzing::phoenix_round_trip(&data);
        realtime_core::fuzzing::rest_response(&data);
        realtime_core::fuzzing::postgres_convert(&data);
    }

    /// The frame decoder's chunking property on header-shaped streams.
    #[test]
    fn frame_decoder_is_split_invariant(seed in any::<u8>(), body in frames_like()) {
        let mut data = vec![seed];
        data.extend(body);
        realtime_core::fuzzing::ws_frame_decoder(&data);
        realtime_core::fuzzing::ws_connection(&[&[5, 0, 8, 3, 17, 1][..], &data].concat());
    }

    /// The handshake response parser on HTTP-shaped responses, with and without a valid accept.
    #[test]
    fn handshake_response_prefixes_agree(mode in any::<u8>(),
                                         head in "(HTTP/1.1 [0-9]{3} [a-zA-Z ]{0,12}\r\n)?((Upgrade: websocket|Connection: upgrade|Content-Length: [0-9]{1,3}|Transfer-Encoding: chunked|[A-Za-z-]{1,20}: [ -~]{0,30})\r\n){0,6}\r\n[0-9a-f]{0,3}\r\n",
                                         body in "[ -~]{0,40}") {
        let data = [&[mode][..], head.as_bytes(), body.as_bytes()].concat();
        realtime_core::fuzzing::ws_handshake_response(&data);
    }

    /// The text decoders and the REST parser on shaped text.
    #[test]
    fn text_harnesses_survive_shaped_text(frame in "[\\[\\]{}\",:0-9a-z_ \\\\]{0,60}",
                                          response in "HTTP/1.1 (202|401|404|422|500) [A-Za-z]{0,6}\r\n(Content-Length: [0-9]{1,2}\r\n)?\r\n\\{\"message\":\"[a-z]{0,12}\"\\}") {
        realtime_core::fuzzing::phoenix_text_v1(frame.as_bytes());
        realtime_core::fuzzing::phoenix_text_v2(frame.as_bytes());
        for mode in 0..8u8 {
            realtime_core::fuzzing::rest_response(&[&[mode][..], response.as_bytes()].concat());
        }
    }
}

/// Found by `ws_connection`: a connection that owes a pong reads no further ping until the pong
/// is written (its backpressure), so a caller that only feeds bytes fills its buffer. The
/// harness now drains the send side before calling that a stall; this stream of pings with no
/// send operation is the input that tripped it.
#[test]
fn an_open_connection_reads_on_once_the_pong_it_owes_is_written() {
    let mut data = vec![1, 0x50];
    for _ in 0..600 {
        data.extend_from_slice(&[0x89, 0x00]);
    }
    realtime_core::fuzzing::ws_connection(&data);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The filter builder harness on random condition lists, biased toward the characters
    /// the grammar gives a meaning to.
    #[test]
    fn built_filters_read_back_as_built(seed in proptest::collection::vec(any::<u8>(), 0..48),
                                        text in "[a-z ,()\"\\\\{}.=NnUuLl]{0,12}") {
        let mut data = seed;
        data.extend(text.into_bytes());
        realtime_core::fuzzing::filter_builder(&data);
    }
}
