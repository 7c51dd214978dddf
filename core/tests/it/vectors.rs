//! RFC 6455 section 5.7 examples.

use realtime_core::Instant;
use realtime_core::ws::frame::{MAX_HEADER_LEN, Opcode, encode_header};
use realtime_core::ws::mask::copy_masked;
use realtime_core::ws::{Config, MessageKind};

use crate::harness::{Ev, feed, open_with};

#[test]
fn single_frame_unmasked_text() {
    let mut conn = open_with(Config::default());
    let (ev, used) =
        feed(&mut conn, Instant::ZERO, &[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], &[], &mut Vec::new());
    assert_eq!(ev, [Ev::Message(MessageKind::Text, b"Hello".to_vec())]);
    assert_eq!(used, 7);
}

#[test]
fn single_frame_masked_text_as_the_client_encodes_it() {
    // "A single-frame masked text message": 0x81 0x85 0x37 0xfa 0x21 0x3d 0x7f 0x9f 0x4d 0x51 0x58
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut header = [0u8; MAX_HEADER_LEN];
    let n = encode_header(&mut header, true, Opcode::Text, 5, key);
    let mut payload = [0u8; 5];
    copy_masked(&mut payload, b"Hello", key, 0);
    assert_eq!(&header[..n], &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
    assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    // Pong "Hello", masked: 0x8a 0x85 then the same key and payload.
    let n = encode_header(&mut header, true, Opcode::Pong, 5, key);
    assert_eq!(&header[..n], &[0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d]);
}

#[test]
fn fragmented_unmasked_text() {
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let mut conn = open_with(Config::default());
    let (ev, _) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut Vec::new());
    assert_eq!(ev, [Ev::Message(MessageKind::Text, b"Hello".to_vec())]);
}

#[test]
fn unmasked_ping_gets_a_masked_pong_with_the_same_payload() {
    let mut conn = open_with(Config::default());
    let mut wire = Vec::new();
    let (ev, _) = feed(&mut conn, Instant::ZERO, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f], &[], &mut wire);
    assert_eq!(ev, [Ev::Ping(b"Hello".to_vec())]);
    let frames = crate::harness::client_frames(&wire);
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].opcode, frames[0].payload.as_slice()), (0xA, &b"Hello"[..]));
    assert_eq!(&wire[..2], &[0x8a, 0x85]);
}

#[test]
fn binary_256_bytes_and_64_kib_length_encodings() {
    let mut bytes = vec![0x82, 0x7E, 0x01, 0x00];
    bytes.extend((0..256).map(|i| i as u8));
    bytes.extend_from_slice(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
    bytes.extend(std::iter::repeat_n(0xAB, 65536));
    let mut conn = open_with(Config::default());
    let (ev, _) = feed(&mut conn, Instant::ZERO, &bytes, &[], &mut Vec::new());
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0], Ev::Message(MessageKind::Binary, (0..256).map(|i| i as u8).collect()));
    assert_eq!(ev[1], Ev::Message(MessageKind::Binary, vec![0xAB; 65536]));
}
