//! Property tests: encode/decode round trips, the chunking property, and send-side buffer sizes.

use proptest::prelude::*;
use realtime_core::Instant;
use realtime_core::ws::{Config, MessageKind};

use crate::harness::{ClientFrame, Ev, SEED, client_frames, feed, frame, open_with, send};

/// One thing the server sends.
#[derive(Clone, Debug)]
enum Item {
    /// A message cut into fragments of these sizes (last one fin).
    Message {
        text: bool,
        payload: Vec<u8>,
        frag: usize,
    },
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..126),
        3 => proptest::collection::vec(any::<u8>(), 126..400),
        1 => (65_536usize..66_000).prop_map(|n| (0..n).map(|i| (i * 31 % 251) as u8).collect()),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => (any::<bool>(), payload(), 1usize..300).prop_map(|(text, payload, frag)| {
            let payload = if text { String::from_utf8_lossy(&payload).into_owned().into_bytes() } else { payload };
            Item::Message { text, payload, frag }
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Ping),
        1 => proptest::collection::vec(any::<u8>(), 0..126).prop_map(Item::Pong),
    ]
}

/// The server's wire bytes for `items`, and the events a client must report.
fn server_stream(items: &[Item]) -> (Vec<u8>, Vec<Ev>) {
    let mut wire = Vec::new();
    let mut want = Vec::new();
    for item in items {
        match item {
            Item::Message { text, payload, frag } => {
                let chunks: Vec<&[u8]> =
                    if payload.is_empty() { vec![&[]] } else { payload.chunks(*frag).collect() };
                for (i, c) in chunks.iter().enumerate() {
                    let op = if i > 0 {
                        0
                    } else if *text {
                        1
                    } else {
                        2
                    };
                    wire.extend(frame(i + 1 == chunks.len(), op, c));
                }
                let kind = if *text { MessageKind::Text } else { MessageKind::Binary };
                want.push(Ev::Message(kind, payload.clone()));
            }
            Item::Ping(p) => {
                wire.extend(frame(true, 9, p));
                want.push(Ev::Ping(p.clone()));
            }
            Item::Pong(p) => {
                wire.extend(frame(true, 10, p));
                want.push(Ev::Pong(false));
            }
        }
    }
    (wire, want)
}

fn run(bytes: &[u8], cuts: &[usize]) -> (Vec<Ev>, usize, Vec<u8>) {
    let mut conn = open_with(Config::default());
    let mut out = Vec::new();
    let (ev, used) = feed(&mut conn, Instant::ZERO, bytes, cuts, &mut out);
    (ev, used, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The same byte stream fed whole, byte by byte, and at random split points gives the same
    /// events, the same consumed count and the same bytes out (pongs).
    #[test]
    fn any_split_gives_the_same_events(items in proptest::collection::vec(item(), 1..6),
                                       cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let (bytes, want) = server_stream(&items);
        let whole = run(&bytes, &[]);
        prop_assert_eq!(&whole.0, &want);
        prop_assert_eq!(whole.1, bytes.len());
        let mut split: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        split.sort_unstable();
        prop_assert_eq!(&run(&bytes, &split), &whole);
        if bytes.len() < 4096 {
            let bytewise: Vec<usize> = (1..bytes.len()).collect();
            prop_assert_eq!(&run(&bytes, &bytewise), &whole);
        }
    }

    /// What the client encodes, unmasked and read back as server frames, gives the messages
    /// that were sent, fragmented at `send_frame_len`.
    #[test]
    fn encode_then_decode_round_trips(msgs in proptest::collection::vec((any::<bool>(), payload()), 1..5),
                                      frag in prop_oneof![Just(usize::MAX), 1usize..200, 60_000usize..70_000]) {
        let frag32 = u32::try_from(frag).unwrap_or(u32::MAX);
        let mut client = open_with(Config { send_frame_len: frag32, ..Config::default() });
        let mut server_view = Vec::new();
        let mut want = Vec::new();
        for (text, payload) in &msgs {
            let payload = if *text { String::from_utf8_lossy(payload).into_owned().into_bytes() } else { payload.clone() };
            let kind = if *text { MessageKind::Text } else { MessageKind::Binary };
            let wire = send(&mut client, kind, &payload, &[65_536]);
            let frames = client_frames(&wire);
            let expected_frames = payload.len().div_ceil(frag).max(1);
            prop_assert_eq!(frames.len(), expected_frames);
            for f in &frames {
                let ClientFrame { fin, opcode, payload } = f;
                server_view.extend(frame(*fin, *opcode, payload));
            }
            want.push(Ev::Message(kind, payload));
        }
        let (ev, _, _) = run(&server_view, &[]);
        prop_assert_eq!(ev, want);
    }

    /// The send side gives the same bytes whatever the sizes of the output buffers, from 1 byte
    /// up, including pings and pongs interleaved at frame boundaries.
    #[test]
    fn send_bytes_do_not_depend_on_buffer_sizes(payload in payload(),
                                                sizes in proptest::collection::vec(1usize..2000, 1..8),
                                                ping_between in any::<bool>()) {
        let config = Config { send_frame_len: 1000, ..Config::default() };
        let produce = |sizes: &[usize]| {
            let mut conn = realtime_core::ws::Connection::new_open(config, SEED).unwrap();
            if ping_between {
                conn.send_ping(Instant::ZERO).unwrap();
            }
            let mut wire = send(&mut conn, MessageKind::Binary, &payload, sizes);
            wire.extend(send(&mut conn, MessageKind::Binary, b"tail", sizes));
            wire
        };
        let reference = produce(&[100_000]);
        prop_assert_eq!(produce(&sizes), reference.clone());
        prop_assert_eq!(produce(&[1]), reference);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Control frames round-trip too: a ping of any allowed payload is answered by a pong with
    /// the same payload, and a close with any sendable code and reason arrives as sent.
    #[test]
    fn control_frames_round_trip(ping in proptest::collection::vec(any::<u8>(), 0..=125),
                                 code in prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999],
                                 reason in "[ -~é€]{0,30}") {
        let mut conn = open_with(Config::default());
        let mut wire = Vec::new();
        let (ev, _) = feed(&mut conn, Instant::ZERO, &frame(true, 9, &ping), &[], &mut wire);
        prop_assert_eq!(ev, vec![Ev::Ping(ping.clone())]);
        conn.close(Instant::ZERO, realtime_core::ws::CloseCode(code), &reason).unwrap();
        crate::harness::drain(&mut conn, &mut wire);
        let frames = client_frames(&wire);
        prop_assert_eq!(frames.len(), 2);
        prop_assert_eq!((frames[0].opcode, &frames[0].payload), (10, &ping));
        let mut close = code.to_be_bytes().to_vec();
        close.extend_from_slice(reason.as_bytes());
        prop_assert_eq!((frames[1].opcode, &frames[1].payload), (8, &close));
        // Read back as a server close, it gives the same code and reason.
        let mut peer = open_with(Config::default());
        let (ev, _) = feed(&mut peer, Instant::ZERO, &frame(true, 8, &close), &[], &mut Vec::new());
        prop_assert_eq!(ev, vec![Ev::Close(Some(code), reason)]);
    }
}
