//! The measuring parts of load runs, shared by `realtime bench` and the live benchmarks
//! (`realtime-benches`, `src/live/`): the [`Tick`] payload and its JSON, the latency clock
//! ([`unix_micros`]), latency percentiles ([`Latencies`]), one receiver's [`Meter`], the
//! delivery [`Ledger`] of a many-to-many run, and process figures (CPU time, RSS, the open-file
//! limit).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The broadcast event of every message.
pub const EVENT: &str = "tick";
/// Bytes of JSON in every payload.
pub const PAYLOAD_BYTES: usize = 200;

/// The payload: a cursor-like object, padded by `text` to exactly [`PAYLOAD_BYTES`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// 0-based sequence number (unique within a run: the message's id).
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

/// The wall clock in Unix microseconds (the latency clock: senders and receivers share it).
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

/// Latency samples in microseconds, and their percentiles.
#[derive(Clone, Debug, Default)]
pub struct Latencies {
    samples: Vec<u64>,
    sorted: bool,
}

/// Percentiles of a set of latencies, microseconds (all 0 when there is none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// The largest.
    pub max_us: u64,
}

impl Latencies {
    /// Room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self { samples: Vec::with_capacity(n), sorted: true }
    }

    /// One sample.
    pub fn push(&mut self, us: u64) {
        self.sorted = self.samples.last().is_none_or(|&l| l <= us) && self.sorted;
        self.samples.push(us);
    }

    /// Samples so far.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The `p` quantile (0.0..=1.0) by nearest rank on the sorted samples: the sample at index
    /// round((n - 1) * p). 0 when there is none.
    pub fn quantile(&mut self, p: f64) -> u64 {
        self.sort();
        if self.samples.is_empty() {
            return 0;
        }
        let last = self.samples.len() - 1;
        let i = (last as f64 * p.clamp(0.0, 1.0)).round() as usize;
        self.samples[i.min(last)]
    }

    /// p50, p90, p99 and the largest.
    pub fn percentiles(&mut self) -> Percentiles {
        Percentiles {
            count: self.samples.len() as u64,
            p50_us: self.quantile(0.50),
            p90_us: self.quantile(0.90),
            p99_us: self.quantile(0.99),
            max_us: self.quantile(1.0),
        }
    }

    fn sort(&mut self) {
        if !self.sorted {
            self.samples.sort_unstable();
            self.sorted = true;
        }
    }
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

/// Raises the soft limit on open files to at least `want` (up to the hard limit) and returns
/// the soft limit in force afterwards (each client is one socket).
pub fn raise_open_files(want: u64) -> u64 {
    // SAFETY: getrlimit only writes the struct it is given; a zeroed rlimit is a valid value.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: RLIMIT_NOFILE with a valid pointer to an rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    let want = want as libc::rlim_t;
    if lim.rlim_cur < want {
        let raised = libc::rlimit { rlim_cur: want.min(lim.rlim_max), rlim_max: lim.rlim_max };
        // SAFETY: RLIMIT_NOFILE with a valid rlimit at most the hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = raised.rlim_cur;
        }
    }
    lim.rlim_cur as u64
}

/// Collects one receiver's measurements: CPU and wall time at the first and at the last
/// message, and every message's latency.
#[derive(Debug)]
pub struct Meter {
    expected: u64,
    received: u64,
    bad: u64,
    latencies: Latencies,
    first: Option<(Instant, Duration)>,
    last: Option<(Instant, Duration)>,
}

impl Meter {
    /// A meter for `expected` messages.
    pub fn new(expected: u64) -> Self {
        let cap = usize::try_from(expected).unwrap_or(0);
        Self {
            expected,
            received: 0,
            bad: 0,
            latencies: Latencies::with_capacity(cap),
            first: None,
            last: None,
        }
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
        let p = self.latencies.percentiles();
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
            p50_us: p.p50_us,
            p99_us: p.p99_us,
            max_us: p.max_us,
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

/// Deliveries one broadcast should have: every subscriber of its channel, less the sender
/// unless it asked for its own broadcasts (`self`).
pub fn expected_deliveries(subscribers: u64, receive_own: bool) -> u64 {
    if receive_own { subscribers } else { subscribers.saturating_sub(1) }
}

/// One broadcast in the [`Ledger`].
#[derive(Clone, Copy, Debug)]
struct Sent {
    /// Deliveries it should have (0 once its send failed).
    expected: u32,
    /// Deliveries within the deadline.
    on_time: u32,
    /// Deliveries after the deadline.
    late: u32,
}

/// Every broadcast of a many-to-many run and every delivery of it: a message's id is its index
/// here (the [`Tick`]'s `seq`), a delivery counts if it came within `lost_after` of its send.
#[derive(Debug)]
pub struct Ledger {
    lost_after_us: u64,
    sent: Vec<Sent>,
    latencies: Latencies,
    unknown: u64,
}

/// What a [`Ledger`] adds up to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Broadcasts written.
    pub sent: u64,
    /// Deliveries expected (per broadcast: its channel's subscribers, less the sender unless
    /// `self`).
    pub expected: u64,
    /// Deliveries within the deadline (extra copies of one broadcast to one channel are not
    /// counted here but in `duplicates`).
    pub delivered: u64,
    /// Expected deliveries that did not come within the deadline: `expected - delivered`.
    pub lost: u64,
    /// Deliveries after the deadline (already counted as lost).
    pub late: u64,
    /// Deliveries beyond a broadcast's expected count.
    pub duplicates: u64,
    /// Deliveries naming no broadcast of this run.
    pub unknown: u64,
}

impl Ledger {
    /// An empty ledger for messages lost after `lost_after`.
    pub fn new(lost_after: Duration) -> Self {
        Self {
            lost_after_us: u64::try_from(lost_after.as_micros()).unwrap_or(u64::MAX),
            sent: Vec::new(),
            latencies: Latencies::default(),
            unknown: 0,
        }
    }

    /// A broadcast about to be written, that `expected` subscribers should get: its id.
    pub fn open(&mut self, expected: u64) -> u64 {
        let expected = u32::try_from(expected).unwrap_or(u32::MAX);
        self.sent.push(Sent { expected, on_time: 0, late: 0 });
        (self.sent.len() - 1) as u64
    }

    /// The broadcast `id` was not written: nobody should get it.
    pub fn cancel(&mut self, id: u64) {
        if let Some(s) = usize::try_from(id).ok().and_then(|i| self.sent.get_mut(i)) {
            s.expected = 0;
        }
    }

    /// A delivery of broadcast `id`, `latency_us` after its send.
    pub fn deliver(&mut self, id: u64, latency_us: u64) {
        let Some(s) = usize::try_from(id).ok().and_then(|i| self.sent.get_mut(i)) else {
            self.unknown += 1;
            return;
        };
        if latency_us <= self.lost_after_us {
            s.on_time += 1;
            self.latencies.push(latency_us);
        } else {
            s.late += 1;
        }
    }

    /// Whether every expected delivery came in time.
    pub fn complete(&self) -> bool {
        self.sent.iter().all(|s| s.on_time >= s.expected)
    }

    /// The sums so far.
    pub fn tally(&self) -> Tally {
        let mut t = Tally { unknown: self.unknown, ..Tally::default() };
        for s in &self.sent {
            if s.expected > 0 {
                t.sent += 1;
            }
            let (expected, on_time) = (u64::from(s.expected), u64::from(s.on_time));
            t.expected += expected;
            t.delivered += on_time.min(expected);
            t.duplicates += (on_time + u64::from(s.late)).saturating_sub(expected);
            t.late += u64::from(s.late);
        }
        t.lost = t.expected - t.delivered;
        t
    }

    /// Latency percentiles of the deliveries in time.
    pub fn percentiles(&mut self) -> Percentiles {
        self.latencies.percentiles()
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

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.percentiles(), Percentiles::default());
        // 100..=1 pushed backwards: sorted on demand.
        for v in (1..=100).rev() {
            l.push(v);
        }
        let p = l.percentiles();
        // Index round(99 * p): 50 -> 50th (51), 89.1 -> 89 (90), 98.01 -> 98 (99).
        assert_eq!((p.count, p.p50_us, p.p90_us, p.p99_us, p.max_us), (100, 51, 90, 99, 100));
        let mut one = Latencies::default();
        one.push(7);
        assert_eq!(one.percentiles(), Percentiles { count: 1, p50_us: 7, p90_us: 7, p99_us: 7, max_us: 7 });
    }

    #[test]
    fn the_sender_is_not_expected_unless_self() {
        assert_eq!(expected_deliveries(100, false), 99);
        assert_eq!(expected_deliveries(100, true), 100);
        assert_eq!(expected_deliveries(0, false), 0);
        assert_eq!(expected_deliveries(1, false), 0);
    }

    #[test]
    fn late_missing_duplicate_and_failed_deliveries() {
        let mut l = Ledger::new(Duration::from_millis(5));
        let a = l.open(3); // all three in time, plus a duplicate
        let b = l.open(2); // one in time, one late
        let c = l.open(4); // never written
        for us in [100, 200, 300, 400] {
            l.deliver(a, us);
        }
        l.deliver(b, 1_000);
        l.deliver(b, 6_000);
        l.cancel(c);
        l.deliver(99, 1);
        assert!(!l.complete());
        let t = l.tally();
        assert_eq!(
            t,
            Tally { sent: 2, expected: 5, delivered: 4, lost: 1, late: 1, duplicates: 1, unknown: 1 }
        );
        assert_eq!(l.percentiles().count, 5);
    }
}
