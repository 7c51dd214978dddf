//! The cells of the `ws` benchmark (`benches/ws.rs`), usable without criterion.
//!
//! Every implementation of every group is a [`Setup`]: given a [`Case`] (one payload size, N
//! messages), it builds the library state once and returns a [`Batch`], a closure that handles
//! the N messages once. One criterion iteration is one call of the batch (`benches/ws.rs`), and
//! the instruction-count harness (`src/bin/icount.rs`, driven by `icount.py`) runs the same
//! closure under callgrind.
//!
//! Method (shared/spec/websocket.md sections 3-4): each batch handles N = max(2, 1 MiB / size)
//! messages of one payload size. The "socket" is an in-memory reader cycling over a pre-built
//! wire image of exactly N frames, which hands out at most 128 KiB per read (like a `recv()`),
//! and a writer that discards. Every receive path pays exactly one copy of the wire bytes into
//! a read buffer (ours, or the library's own).
//!
//! Groups ([`GROUPS`]):
//! - `client_recv_binary`: unmasked server-to-client binary frames, each payload touched.
//! - `client_recv_text`: the same with ASCII JSON-like text, for implementations that check UTF-8.
//! - `client_send`: encode and mask a binary message into a send buffer drained when full.
//!
//! `memcpy_floor` is in every group: one `copy_from_slice` of each message's payload from a
//! source to a destination buffer. Each implementation is one small function (in `recv.rs` and
//! `send.rs`); the tables [`RECV_BINARY`], [`RECV_TEXT`] and [`SEND`] list them per group.

use core::hint::black_box;

pub mod deflate;
pub mod live;
pub mod phoenix;
mod recv;
mod send;
mod transport;

/// Payload sizes and their labels (the labels name criterion's directories).
pub const SIZES: [(usize, &str); 5] =
    [(16, "16B"), (125, "125B"), (1024, "1KiB"), (64 << 10, "64KiB"), (1 << 20, "1MiB")];

/// Payload bytes per batch (at least 2 messages): N = max(2, `BATCH_BYTES` / size).
pub const BATCH_BYTES: usize = 1 << 20;

/// What the messages of a case carry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Pseudo-random bytes in binary frames.
    Binary,
    /// ASCII JSON-like text in text frames.
    Text,
}

/// One cell's input: N payloads back to back and the server's wire image of them.
pub struct Case {
    /// Payload bytes per message.
    pub size: usize,
    /// Messages per batch: max(2, [`BATCH_BYTES`] / size).
    pub n: usize,
    /// Binary or text messages.
    pub kind: Kind,
    /// Message `i` is `src[i * size..][..size]`.
    src: Vec<u8>,
    /// N unmasked frames, one per message.
    wire: Vec<u8>,
}

impl Case {
    /// Builds the N payloads of `size` bytes and their wire image.
    pub fn new(size: usize, kind: Kind) -> Self {
        assert!(size > 0, "payload size must be at least 1 byte");
        let n = (BATCH_BYTES / size).max(2);
        let src = match kind {
            Kind::Binary => random_bytes(n * size, 0x9E37_79B9_7F4A_7C15),
            Kind::Text => json_text(n * size),
        };
        let opcode = match kind {
            Kind::Binary => 0x2,
            Kind::Text => 0x1,
        };
        let mut wire = Vec::with_capacity(n * (size + transport::MAX_HEADER));
        for chunk in src.chunks_exact(size) {
            push_server_frame(&mut wire, opcode, chunk);
        }
        Self { size, n, kind, src, wire }
    }

    fn msg(&self, i: usize) -> &[u8] {
        &self.src[i * self.size..][..self.size]
    }

    fn ws_kind(&self) -> realtime_core::ws::MessageKind {
        match self.kind {
            Kind::Binary => realtime_core::ws::MessageKind::Binary,
            Kind::Text => realtime_core::ws::MessageKind::Text,
        }
    }
}

/// One batch: handles the case's N messages once (one criterion iteration). Library state
/// lives in the closure and is reused from batch to batch.
pub type Batch<'a> = Box<dyn FnMut() + 'a>;

/// Builds an implementation's state for a case and returns its batch.
pub type Setup = for<'a> fn(&'a Case) -> Batch<'a>;

/// One implementation in a group.
#[derive(Clone, Copy)]
pub struct Impl {
    /// Criterion's function id (`memcpy_floor`, `ours`, `tungstenite`, ...).
    pub name: &'static str,
    /// Builds the state and the batch.
    pub setup: Setup,
}

/// A benchmark group: what its messages are and which implementations handle them.
#[derive(Clone, Copy)]
pub struct Group {
    /// Criterion's group name.
    pub name: &'static str,
    /// Binary or text messages.
    pub kind: Kind,
    /// The implementations, `memcpy_floor` and `ours` first.
    pub impls: &'static [Impl],
}

impl Group {
    /// The implementation called `name`, if the group has it.
    pub fn find(&self, name: &str) -> Option<&'static Impl> {
        self.impls.iter().find(|i| i.name == name)
    }
}

const fn imp(name: &'static str, setup: Setup) -> Impl {
    Impl { name, setup }
}

/// `client_recv_binary`: parse unmasked binary frames, touch each payload.
pub const RECV_BINARY: &[Impl] = &[
    imp("memcpy_floor", memcpy_floor),
    imp("ours", recv::ours),
    imp("tungstenite", recv::tungstenite),
    imp("fastwebsockets", recv::fastwebsockets),
    imp("yawc_codec", recv::yawc),
    imp("websocket_sans_io", recv::wsio),
    imp("embedded_websocket", recv::embedded),
];

/// `client_recv_text`: the same with ASCII JSON-like text, UTF-8 checked.
pub const RECV_TEXT: &[Impl] = &[
    imp("memcpy_floor", memcpy_floor),
    imp("ours", recv::ours),
    imp("tungstenite", recv::tungstenite),
    imp("fastwebsockets", recv::fastwebsockets),
    imp("wsio_simdutf8", recv::wsio_simdutf8),
];

/// `client_send`: encode and mask binary messages.
pub const SEND: &[Impl] = &[
    imp("memcpy_floor", memcpy_floor),
    imp("ours", send::ours),
    imp("tungstenite", send::tungstenite),
    imp("fastwebsockets", send::fastwebsockets),
    imp("yawc_codec", send::yawc),
    imp("websocket_sans_io", send::wsio),
    imp("embedded_websocket", send::embedded),
];

/// Every group, in the order the benchmark runs them.
pub const GROUPS: [Group; 3] = [
    Group { name: "client_recv_binary", kind: Kind::Binary, impls: RECV_BINARY },
    Group { name: "client_recv_text", kind: Kind::Text, impls: RECV_TEXT },
    Group { name: "client_send", kind: Kind::Binary, impls: SEND },
];

/// The group called `name`.
pub fn group(name: &str) -> Option<&'static Group> {
    GROUPS.iter().find(|g| g.name == name)
}

/// A size given as a label of [`SIZES`] (`16B`, `1KiB`, ...) or as a number of bytes.
pub fn parse_size(s: &str) -> Option<usize> {
    SIZES
        .iter()
        .find(|(_, label)| label.eq_ignore_ascii_case(s))
        .map(|&(size, _)| size)
        .or_else(|| s.parse().ok().filter(|&n: &usize| n > 0))
}

// ---------------------------------------------------------------------------------------------
// Inputs
// ---------------------------------------------------------------------------------------------

/// Our core's configuration: receive limits above the 1 MiB messages, the rest default.
fn ours_config() -> realtime_core::ws::Config {
    let max = transport::MAX_LEN as u32;
    realtime_core::ws::Config { max_frame_len: max, max_message_len: max, ..Default::default() }
}

/// A final, unmasked frame as a server sends it.
fn push_server_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn mask(&mut self) -> [u8; 4] {
        ((self.next() >> 32) as u32).to_ne_bytes()
    }
}

fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift(seed);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        v.extend_from_slice(&rng.next().to_le_bytes());
    }
    v.truncate(len);
    v
}

/// ASCII Phoenix-like JSON, cut to `len` bytes (every cut of ASCII is valid UTF-8).
fn json_text(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 256);
    let mut i = 0u64;
    while v.len() < len {
        let line = format!(
            r#"{{"topic":"realtime:public:messages","event":"postgres_changes","payload":{{"data":{{"id":{i},"body":"hello world","user_id":"8f2c-{:x}"}},"ids":[{i}]}},"ref":"{}"}}"#,
            i.wrapping_mul(0x9E37_79B9),
            i % 97,
        );
        v.extend_from_slice(line.as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

/// What every receive path does with each payload chunk: look at its length and first byte.
/// Returns the length, which debug builds (`cargo test --benches`) add up and check.
#[inline(always)]
fn touch(payload: &[u8]) -> usize {
    black_box(payload.len());
    if let Some(&b) = payload.first() {
        black_box(b);
    }
    payload.len()
}

// ---------------------------------------------------------------------------------------------
// The floor
// ---------------------------------------------------------------------------------------------

/// One `copy_from_slice` per message from the N-message source to a destination of the same
/// size: what any implementation that hands out (or writes) the payload must at least do.
fn memcpy_floor(case: &Case) -> Batch<'_> {
    let mut dst = vec![0u8; case.src.len()];
    Box::new(move || {
        let mut bytes = 0;
        for i in 0..case.n {
            let d = &mut dst[i * case.size..][..case.size];
            d.copy_from_slice(case.msg(i));
            bytes += touch(d);
        }
        debug_assert_eq!(bytes, case.n * case.size, "payload bytes per iteration");
    })
}
