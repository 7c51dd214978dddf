//! One test per rejection rule, each asserting the exact close code the client sends.

use realtime_core::Instant;
use realtime_core::ws::{Config, Error, MessageKind, ProtocolError, State};

use crate::harness::{Ev, feed, frame, open_with, sent_close_code};

/// Feeds `bytes` to an open connection and returns the failure and the close code sent.
fn failure(config: Config, bytes: &[u8]) -> (Error, Option<u16>) {
    let mut conn = open_with(config);
    let mut wire = Vec::new();
    let (ev, _) = feed(&mut conn, Instant::ZERO, bytes, &[], &mut wire);
    let failures: Vec<_> =
        ev.iter().filter_map(|e| if let Ev::Failed(e) = e { Some(*e) } else { None }).collect();
    assert_eq!(failures.len(), 1, "exactly one failure in {ev:?}");
    assert_eq!(conn.state(), State::Closed, "closed once the close frame is out");
    // Nothing more is accepted, and the failure is not reported again.
    let (more, used) = feed(&mut conn, Instant::ZERO, &frame(true, 1, b"late"), &[], &mut wire);
    assert!(more.is_empty());
    assert_eq!(used, 6);
    (failures[0], sent_close_code(&wire))
}

fn protocol(bytes: &[u8]) -> (Error, Option<u16>) {
    failure(Config::default(), bytes)
}

#[test]
fn masked_server_frame_is_1002() {
    assert_eq!(
        protocol(&[0x81, 0x81, 1, 2, 3, 4, b'x' ^ 1]),
        (Error::Protocol(ProtocolError::MaskedFrame), Some(1002))
    );
}

#[test]
fn rsv_bits_without_extension_are_1002() {
    for b0 in [0xC1, 0xA1, 0x91] {
        assert_eq!(protocol(&[b0, 0]), (Error::Protocol(ProtocolError::ReservedBits), Some(1002)));
    }
}

#[test]
fn reserved_opcodes_are_1002() {
    for op in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        assert_eq!(
            protocol(&[0x80 | op, 0]),
            (Error::Protocol(ProtocolError::ReservedOpcode(op)), Some(1002))
        );
    }
}

#[test]
fn fragmented_control_frame_is_1002() {
    assert_eq!(protocol(&[0x09, 0]), (Error::Protocol(ProtocolError::FragmentedControlFrame), Some(1002)));
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    let bytes = frame(true, 9, &[0u8; 126]);
    assert_eq!(protocol(&bytes), (Error::Protocol(ProtocolError::ControlFrameTooLong), Some(1002)));
}

#[test]
fn continuation_with_nothing_to_continue_is_1002() {
    assert_eq!(
        protocol(&frame(true, 0, b"x")),
        (Error::Protocol(ProtocolError::UnexpectedContinuation), Some(1002))
    );
}

#[test]
fn new_data_frame_inside_fragmented_message_is_1002() {
    let mut bytes = frame(false, 1, b"part");
    bytes.extend(frame(true, 2, b"new"));
    assert_eq!(protocol(&bytes), (Error::Protocol(ProtocolError::ExpectedContinuation), Some(1002)));
}

#[test]
fn non_minimal_and_overflowing_lengths_are_1002() {
    assert_eq!(protocol(&[0x82, 126, 0, 5]), (Error::Protocol(ProtocolError::NonMinimalLength), Some(1002)));
    assert_eq!(
        protocol(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        (Error::Protocol(ProtocolError::LengthOverflow), Some(1002))
    );
}

#[test]
fn close_frame_with_one_byte_is_1002() {
    assert_eq!(
        protocol(&frame(true, 8, &[3])),
        (Error::Protocol(ProtocolError::CloseFrameTooShort), Some(1002))
    );
}

#[test]
fn close_frame_with_invalid_code_is_1002() {
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        let bytes = frame(true, 8, &code.to_be_bytes());
        assert_eq!(
            protocol(&bytes),
            (Error::Protocol(ProtocolError::InvalidCloseCode(code)), Some(1002)),
            "{code}"
        );
    }
}

#[test]
fn close_reason_with_invalid_utf8_is_1007() {
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(&[0xCE, 0xBA, 0xFF]);
    assert_eq!(protocol(&frame(true, 8, &payload)), (Error::InvalidUtf8, Some(1007)));
}

#[test]
fn invalid_utf8_in_text_is_1007() {
    assert_eq!(protocol(&frame(true, 1, b"ok\xC0\xAF")), (Error::InvalidUtf8, Some(1007)));
    // A message that ends inside a code point.
    let mut bytes = frame(false, 1, b"ok\xE2");
    bytes.extend(frame(true, 0, b"\x82"));
    assert_eq!(protocol(&bytes), (Error::InvalidUtf8, Some(1007)));
}

#[test]
fn invalid_utf8_fails_at_the_first_bad_byte_before_the_frame_ends() {
    let mut conn = open_with(Config::default());
    let mut wire = Vec::new();
    // A 1000-byte text frame of which only the header and 4 bytes have arrived; byte 3 is bad.
    let mut bytes = vec![0x81, 126, 0x03, 0xE8];
    bytes.extend_from_slice(b"ab\xFFc");
    let (ev, _) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut wire);
    assert_eq!(ev, [Ev::Failed(Error::InvalidUtf8)]);
    assert_eq!(sent_close_code(&wire), Some(1007));
    // Same across fragments: the first fragment is fine, the continuation's first byte is not.
    let mut conn = open_with(Config::default());
    let mut wire = Vec::new();
    let mut bytes = frame(false, 1, b"caf\xC3");
    bytes.extend_from_slice(&[0x80, 126, 0x03, 0xE8, b'x']);
    let (ev, _) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut wire);
    assert_eq!(ev, [Ev::Failed(Error::InvalidUtf8)]);
    assert_eq!(sent_close_code(&wire), Some(1007));
}

#[test]
fn frame_over_max_frame_len_is_1009_at_the_header() {
    let config = Config { max_frame_len: 100, ..Config::default() };
    // Only the header: the payload never needs to arrive.
    assert_eq!(
        failure(config, &[0x82, 126, 0, 200]),
        (Error::FrameTooLong { len: 200, max: 100 }, Some(1009))
    );
}

#[test]
fn message_over_max_message_len_is_1009() {
    let config = Config { max_message_len: 10, ..Config::default() };
    let mut bytes = frame(false, 2, &[1; 6]);
    bytes.extend(frame(true, 0, &[2; 6]));
    assert_eq!(failure(config, &bytes), (Error::MessageTooLong { len: 12, max: 10 }, Some(1009)));
}

#[test]
fn control_frames_interleaved_in_a_fragmented_message_work() {
    let mut conn = open_with(Config::default());
    let mut wire = Vec::new();
    let mut bytes = frame(false, 1, &"ab\u{20AC}".as_bytes()[..3]);
    bytes.extend(frame(true, 9, b"p1"));
    bytes.extend(frame(false, 0, &"\u{20AC}".as_bytes()[1..]));
    bytes.extend(frame(true, 10, b"unsolicited"));
    bytes.extend(frame(true, 0, b"!"));
    let (ev, _) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut wire);
    assert_eq!(
        ev,
        [
            Ev::Ping(b"p1".to_vec()),
            Ev::Pong(false),
            Ev::Message(MessageKind::Text, "ab\u{20AC}!".as_bytes().to_vec()),
        ]
    );
    let frames = crate::harness::client_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].opcode, frames[0].payload.as_slice()), (10, &b"p1"[..]));
}
