//! Live benchmarks: clients against the testkit server running in its own process.
//!
//! - Throughput and CPU ([`send_paced`] and the receivers): one sender process joins the
//!   channel over vsn 2.0.0 and pushes kind-3 binary user broadcasts, each carrying the same
//!   200-byte JSON object ([`Tick`], with its own sequence number and send time), at a fixed
//!   rate; each receiver process ([`recv_ours`], `recv_supabase_rs`, `benches/js/recv.mjs`)
//!   joins the channel in its own wire format, deserializes every payload into a [`Tick`] and
//!   reports a [`RecvReport`]: its CPU time (user + sys, `getrusage`) from the first to the last
//!   message, per message, its peak RSS (`VmHWM`) and the latency from the sender's clock
//!   (`sent_us`, Unix microseconds) to the moment the payload is deserialized.
//! - Memory ([`memory_ours`]): N clients of ours in one process, each connected and joined to
//!   its own channel; RSS growth per client once all are subscribed.
//!
//! `realtime_report.py` builds, starts the server, runs the receivers interleaved and writes the
//! tables; the functions are here so that a CLI `bench` command can run the same code.

mod memory;
mod ours;
mod sender;
#[cfg(feature = "peer-supabase-rs")]
mod supabase_rs;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use memory::{MemReport, memory_ours};
pub use ours::recv_ours;
pub use sender::{SendReport, send_paced};
#[cfg(feature = "peer-supabase-rs")]
pub use supabase_rs::recv_supabase_rs;

/// The channel the throughput run uses (sub-topic, without `realtime:`).
pub const TOPIC: &str = "bench";
/// The broadcast event of every message.
pub const EVENT: &str = "tick";
/// Bytes of JSON in every payload.
pub const PAYLOAD_BYTES: usize = 200;

/// The payload: a cursor-like object, padded by `text` to exactly [`PAYLOAD_BYTES`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// 0-based sequence number.
    pub seq: u64,
    /// The sender's wall clock when it wrote the message, Unix microseconds.
    pub sent_us: u64,
    /// A user id.
    pub user: String,
    /// A room name.
    pub room: String,
    /// Cursor x.
    pub x: i32,
    /// Cursor y.
    pub y: i32,
    /// A flag.
    pub active: bool,
    /// Padding text (ASCII letters, no escapes).
    pub text: String,
}

/// The wall clock in Unix microseconds (the latency clock: sender and receivers share it).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The JSON text of message `seq` sent at `sent_us`: exactly [`PAYLOAD_BYTES`] bytes.
pub fn tick_json(seq: u64, sent_us: u64) -> String {
    let mut t = Tick {
        seq,
        sent_us,
        user: "user-4821".into(),
        room: "lobby".into(),
        x: 1024,
        y: -768,
        active: true,
        text: String::new(),
    };
    let base = serde_json::to_string(&t).map_or(0, |s| s.len());
    assert!(base < PAYLOAD_BYTES, "the fixed fields take {base} bytes");
    t.text = (b'a'..=b'z').cycle().take(PAYLOAD_BYTES - base).map(char::from).collect();
    let out = serde_json::to_string(&t).unwrap_or_default();
    debug_assert_eq!(out.len(), PAYLOAD_BYTES);
    out
}

/// What one receiver saw, printed by `rtbench recv` as one JSON line.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecvReport {
    /// Which receiver.
    pub receiver: String,
    /// Messages expected.
    pub expected: u64,
    /// Messages received and deserialized.
    pub received: u64,
    /// Payloads that did not deserialize into a [`Tick`] (counted, not in the latencies).
    pub bad: u64,
    /// CPU time (user + sys) of the process from the first message to the last, microseconds.
    pub cpu_us: u64,
    /// `cpu_us` / (received - 1): CPU per delivered message, microseconds.
    pub cpu_per_msg_us: f64,
    /// Wall time from the first message to the last, seconds.
    pub wall_s: f64,
    /// Latency percentiles (send to deserialized), microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// The largest.
    pub max_us: u64,
    /// Peak RSS of the process (`VmHWM`), KiB.
    pub hwm_kib: u64,
}

/// CPU time (user + sys) of this process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given; a zeroed rusage is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer to a rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`), 0 if it cannot be read.
pub fn proc_status_kib(field: &str) -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return 0 };
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Collects one receiver's measurements: CPU and wall time at the first and at the last
/// message, and every message's latency.
#[derive(Debug)]
pub struct Meter {
    expected: u64,
    received: u64,
    bad: u64,
    latencies: Vec<u64>,
    first: Option<(Instant, Duration)>,
    last: Option<(Instant, Duration)>,
}

impl Meter {
    /// A meter for `expected` messages.
    pub fn new(expected: u64) -> Self {
        let cap = usize::try_from(expected).unwrap_or(0);
        Self { expected, received: 0, bad: 0, latencies: Vec::with_capacity(cap), first: None, last: None }
    }

    fn stamp(&mut self) {
        let now = (Instant::now(), process_cpu());
        if self.first.is_none() {
            self.first = Some(now);
        }
        self.last = Some(now);
    }

    /// One payload deserialized, sent at `sent_us`. True once every expected message is in.
    pub fn record(&mut self, sent_us: u64) -> bool {
        self.latencies.push(unix_micros().saturating_sub(sent_us));
        self.received += 1;
        self.stamp();
        self.received >= self.expected
    }

    /// One payload that did not deserialize (it still counts as the first or last message).
    pub fn record_bad(&mut self) -> bool {
        self.bad += 1;
        self.stamp();
        self.received + self.bad >= self.expected
    }

    /// Whether any message came.
    pub fn started(&self) -> bool {
        self.first.is_some()
    }

    /// The report (sorting the latencies happens here, after the last message).
    pub fn finish(mut self, receiver: &str) -> RecvReport {
        self.latencies.sort_unstable();
        let pct = |p: f64| -> u64 {
            if self.latencies.is_empty() {
                return 0;
            }
            let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
            self.latencies[i.min(self.latencies.len() - 1)]
        };
        let (cpu, wall) = match (self.first, self.last) {
            (Some((w0, c0)), Some((w1, c1))) => (c1.saturating_sub(c0), w1.duration_since(w0)),
            _ => (Duration::ZERO, Duration::ZERO),
        };
        let cpu_us = u64::try_from(cpu.as_micros()).unwrap_or(u64::MAX);
        let n = (self.received + self.bad).saturating_sub(1).max(1);
        RecvReport {
            receiver: receiver.to_string(),
            expected: self.expected,
            received: self.received,
            bad: self.bad,
            cpu_us,
            cpu_per_msg_us: cpu_us as f64 / n as f64,
            wall_s: wall.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            max_us: self.latencies.last().copied().unwrap_or(0),
            hwm_kib: proc_status_kib("VmHWM"),
        }
    }
}

/// How long a receiver waits: for the first message after it is ready, then between messages
/// (a lost message must not hang the run).
#[derive(Clone, Copy, Debug)]
pub struct Waits {
    /// Before the first message.
    pub first: Duration,
    /// After any message.
    pub idle: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Self { first: Duration::from_secs(60), idle: Duration::from_secs(5) }
    }
}

impl Waits {
    /// The wait for the next message given what the meter has seen.
    pub fn next(&self, meter: &Meter) -> Duration {
        if meter.started() { self.idle } else { self.first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_payload_is_200_bytes_and_round_trips() {
        for (seq, at) in [(0, 0), (19_999, 1_764_000_000_000_000), (u64::MAX, u64::MAX)] {
            let json = tick_json(seq, at);
            assert_eq!(json.len(), PAYLOAD_BYTES, "{json}");
            let t: Tick = serde_json::from_str(&json).unwrap();
            assert_eq!((t.seq, t.sent_us), (seq, at));
        }
    }
}
