//! Cells of the `phoenix` benchmark: decode and dispatch of server messages through the client
//! (`handle_message` then `poll_event`), against the least work any client must do on the same
//! bytes: `serde_json::from_slice::<IgnoredAny>` for JSON frames (validation only), one copy of
//! the payload for a binary broadcast.
//!
//! Each batch handles [`BATCH`] copies of one message. The copies are made outside the timed
//! part (criterion's `iter_batched`); inside it, both sides take each message from bytes in
//! memory to done, freeing it (and, for ours, the event it became) once.
//!
//! Presence cells: a `presence_state` of [`PRESENCES`] presences synced into an empty
//! `PresenceState` against `serde_json::from_str::<serde_json::Value>` of the same text, and
//! [`DIFFS`] one-key diffs applied to a state of [`PRESENCES`] and of 10 presences (the state
//! cloned outside the timed part), to show a diff costs in proportion to itself.

use core::hint::black_box;

use realtime_core::Instant;
use realtime_core::client::{Client, ClientConfig, Event, TransportCommand, TransportKind};
use realtime_core::phoenix::presence::PresenceState;
use realtime_core::phoenix::serializer::Vsn;
use realtime_core::supabase::channel_config::ChannelConfig;
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

// Presence: a `presence_state` synced into an empty `PresenceState` against parsing the same
// text into a `serde_json::Value`, and one-key diffs against a large and a small state.

/// Presences in the large state (the default entry limit).
pub const PRESENCES: usize = 10_000;

/// One-key diffs per batch of the `presence_diff` cells.
pub const DIFFS: usize = 1000;

/// A Phoenix-style ref for presence `i` (`F-` and 16 base64url characters, not in join order).
fn phx_ref(i: u64) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut r = String::from("F-");
    for _ in 0..16 {
        r.push(ALPHABET[(x & 63) as usize] as char);
        x = x.rotate_right(6);
    }
    r
}

/// A meta as the server writes it: the ref, then three user fields (`phx_ref_prev` for an
/// update).
fn meta(i: u64, presence_ref: &str, prev: Option<&str>) -> String {
    let prev = prev.map(|p| format!(r#","phx_ref_prev":"{p}""#)).unwrap_or_default();
    format!(
        r#"{{"phx_ref":"{presence_ref}"{prev},"user_id":"6f1c{i:08x}-52a4-4c1e-9b1e-2d5e8a3c{i:04x}","online_at":"2026-11-26T09:{:02}:{:02}.{:03}Z","status":"online"}}"#,
        i / 60 % 60,
        i % 60,
        i % 1000
    )
}

fn presence_key(i: u64) -> String {
    format!("user-{i:05}")
}

/// A `presence_state` of `n` presences: `n` keys, one meta each.
pub fn presence_state_text(n: usize) -> String {
    let entries: Vec<String> = (0..n as u64)
        .map(|i| format!(r#""{}":{{"metas":[{}]}}"#, presence_key(i), meta(i, &phx_ref(i), None)))
        .collect();
    format!("{{{}}}", entries.join(","))
}

/// Ours: the state synced into an empty `PresenceState`; the events and the state are freed
/// inside (as the floor frees its value).
pub fn presence_sync(text: &str) {
    let mut state = PresenceState::with_limit(PRESENCES);
    let events = state.handle_state("1", text).expect("a valid state");
    black_box(&events);
    black_box(&state);
}

/// The floor: the same text parsed into a `serde_json::Value` (and freed).
pub fn presence_sync_floor(text: &str) {
    let value: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    black_box(&value);
}

/// A synced state and one-key diffs to apply to it.
pub struct DiffCase {
    /// The label (criterion's directory name).
    pub name: &'static str,
    /// The state before the batch (cloned per batch outside the timed part).
    pub state: PresenceState,
    /// [`DIFFS`] diffs, each an update of one presence (a join with `phx_ref_prev` plus a leave
    /// of the old ref), on keys spread over the state; applied in order they keep its size.
    pub diffs: Vec<String>,
}

/// The same [`DIFFS`] one-key updates against a state of [`PRESENCES`] and of 10 presences.
pub fn diff_cases() -> Vec<DiffCase> {
    [("10k", PRESENCES), ("10", 10)]
        .into_iter()
        .map(|(name, n)| {
            let mut state = PresenceState::with_limit(PRESENCES);
            state.handle_state("1", &presence_state_text(n)).expect("a valid state");
            let mut refs: Vec<String> = (0..n as u64).map(phx_ref).collect();
            let diffs = (0..DIFFS as u64)
                .map(|j| {
                    let i = (j * 7919) % n as u64;
                    let new = phx_ref(1 << 32 | j);
                    let old = core::mem::replace(&mut refs[i as usize], new.clone());
                    let key = presence_key(i);
                    format!(
                        r#"{{"joins":{{"{key}":{{"metas":[{}]}}}},"leaves":{{"{key}":{{"metas":[{}]}}}}}}"#,
                        meta(i, &new, Some(&old)),
                        meta(i, &old, None)
                    )
                })
                .collect();
            DiffCase { name, state, diffs }
        })
        .collect()
}

/// Ours: the diffs applied in order; the events are freed inside, the state is handed back (so
/// criterion frees it outside the timed part).
pub fn presence_diffs(mut state: PresenceState, diffs: &[String]) -> PresenceState {
    for d in diffs {
        let events = state.handle_diff("1", d).expect("a valid diff");
        black_box(&events);
    }
    state
}
