//! Cells of the `phoenix` benchmark: decode and dispatch of server messages through the client
//! (`handle_message` then `poll_event`), against the least work any client must do on the same
//! bytes: `serde_json::from_slice::<IgnoredAny>` for JSON frames (validation only), one copy of
//! the payload for a binary broadcast.
//!
//! Each batch handles [`BATCH`] copies of one message. The copies are made outside the timed
//! part (criterion's `iter_batched`); inside it, both sides take each message from bytes in
//! memory to done, freeing it (and, for ours, the event it became) once.

use core::hint::black_box;

use realtime_core::Instant;
use realtime_core::phoenix::channel_config::ChannelConfig;
use realtime_core::phoenix::client::{Client, ClientConfig, Event, TransportCommand, TransportKind};
use realtime_core::phoenix::serializer::Vsn;
use realtime_core::ws::Message;

/// Messages per batch.
pub const BATCH: usize = 1000;

/// One message kind to decode.
pub struct PhoenixCase {
    /// The label (criterion's directory name).
    pub name: &'static str,
    /// The serializer the client speaks.
    pub vsn: Vsn,
    /// The message as the server sends it.
    pub message: Message,
    /// For binary broadcasts: where the payload starts (the floor copies from there).
    pub payload_at: usize,
}

const BROADCAST: &str = r##"{"type":"broadcast","event":"cursor","payload":{"x":1204,"y":587,"user":"a7c1e2","color":"#3ecf8e"}}"##;

/// A kind-4 binary broadcast of `len` payload bytes, and where its payload starts.
fn kind4(len: usize) -> (Vec<u8>, usize) {
    let mut frame = vec![4, 14, 6, 0, 0];
    frame.extend_from_slice(b"realtime:room1cursor");
    let payload_at = frame.len();
    frame.extend((0..len).map(|i| (i as u8).wrapping_mul(37)));
    (frame, payload_at)
}

/// The four messages of the issue: a v2 broadcast, a v1 broadcast, a heartbeat reply and a
/// kind-4 binary broadcast (64 bytes of payload, and 1 KiB to show how the floor's copy grows
/// while ours, which hands the frame over without copying, does not).
pub fn cases() -> Vec<PhoenixCase> {
    let (kind4_64, payload_at) = kind4(64);
    let (kind4_1k, _) = kind4(1024);
    vec![
        PhoenixCase {
            name: "v2_broadcast",
            vsn: Vsn::V2,
            message: Message::Text(format!(r#"[null,null,"realtime:room1","broadcast",{BROADCAST}]"#)),
            payload_at: 0,
        },
        PhoenixCase {
            name: "v1_broadcast",
            vsn: Vsn::V1,
            // As the server writes it: Jason encodes the map's keys sorted.
            message: Message::Text(format!(
                r#"{{"event":"broadcast","payload":{BROADCAST},"ref":null,"topic":"realtime:room1"}}"#
            )),
            payload_at: 0,
        },
        PhoenixCase {
            name: "heartbeat_reply",
            vsn: Vsn::V2,
            message: Message::Text(
                r#"[null,"2","phoenix","phx_reply",{"status":"ok","response":{}}]"#.into(),
            ),
            payload_at: 0,
        },
        PhoenixCase { name: "kind4_binary", vsn: Vsn::V2, message: Message::Binary(kind4_64), payload_at },
        PhoenixCase { name: "kind4_binary_1k", vsn: Vsn::V2, message: Message::Binary(kind4_1k), payload_at },
    ]
}

/// A client on a self-framing transport with channel `room1` joined.
pub fn joined_client(vsn: Vsn) -> Client {
    let mut config = ClientConfig::new("ws://bench.test/realtime/v1", "key");
    config.transport = TransportKind::Messages;
    config.vsn = vsn;
    config.max_events = usize::MAX;
    let mut c = Client::new(config, [3; 32]).expect("config");
    let t = Instant::ZERO;
    let ch = c.channel(t, "room1", ChannelConfig::new()).expect("channel");
    c.subscribe(t, ch).expect("subscribe");
    let Some(TransportCommand::Open { id, .. }) = c.poll_transport() else { panic!("open") };
    c.handle_transport_open(t, id);
    while c.poll_message().is_some() {}
    let reply = match vsn {
        Vsn::V2 => r#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#.to_string(),
        Vsn::V1 => {
            r#"{"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}"#
                .to_string()
        }
    };
    c.handle_message(t, Message::Text(reply));
    while c.poll_event().is_some() {}
    c
}

/// Ours: each message through the client and out as an event (or absorbed, for a heartbeat
/// reply).
pub fn ours(client: &mut Client, batch: Vec<Message>) {
    for m in batch {
        client.handle_message(Instant::ZERO, m);
        let event: Option<Event> = client.poll_event();
        black_box(&event);
    }
}

/// The floor: JSON validated (nothing kept), or the binary payload copied once.
pub fn floor(case: &PhoenixCase, batch: Vec<Message>) {
    for m in batch {
        match &m {
            Message::Text(t) => {
                let ok = serde_json::from_slice::<serde::de::IgnoredAny>(t.as_bytes()).is_ok();
                black_box(ok);
            }
            Message::Binary(b) => {
                black_box(b[case.payload_at..].to_vec());
            }
        }
    }
}
