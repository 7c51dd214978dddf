//! The heartbeat: a `heartbeat` push on topic `phoenix` every interval, with a reply deadline
//! measured from the send (spec B.2).
//!
//! A sub-machine of the socket, on the core's virtual time. Differences from the reference
//! clients, on purpose: the beat is due one interval after the previous *send*, so no other
//! traffic (and no late reply) postpones it; a missed reply is detected at its own deadline
//! ([`DEFAULT_HEARTBEAT_DEADLINE`] after the send), not at the next tick; and the state is reset
//! on every new connection, so a reply owed by a dead connection never counts against the next
//! one.
//!
//! # How soon a dead link is found
//!
//! A link that goes silent right after a beat was answered is found when the next beat's reply
//! is missed: at most one interval plus the reply deadline later ([`Heartbeat::worst_case`]),
//! 35 s with the defaults (25 s + 10 s). The reference clients find it at the tick after the
//! missed reply, 50-60 s. A server answers a heartbeat in milliseconds; the 10 s deadline leaves
//! room for a slow mobile link.

use core::time::Duration;

use crate::time::Instant;

/// Default interval between heartbeats (Supabase's clients; phoenix.js uses 30 s, and the server
/// drops sockets silent for 60 s).
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(25);

/// Default time a heartbeat's reply may take from its send. The server answers in milliseconds;
/// this is the room a slow or congested link gets before the connection counts as dead (a
/// shorter interval shortens it too: it is never longer than the interval).
pub const DEFAULT_HEARTBEAT_DEADLINE: Duration = Duration::from_secs(10);

/// The topic and event of a heartbeat.
pub const HEARTBEAT_TOPIC: &str = "phoenix";
/// The heartbeat event.
pub const HEARTBEAT_EVENT: &str = "heartbeat";

/// A heartbeat configuration the socket cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeartbeatConfigError {
    /// A zero interval.
    ZeroInterval,
    /// A zero reply deadline, or one longer than the interval (one beat in flight at a time).
    BadDeadline,
}

impl core::fmt::Display for HeartbeatConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ZeroInterval => "heartbeat interval must be above zero",
            Self::BadDeadline => "heartbeat reply deadline must be above zero and at most the interval",
        })
    }
}

impl core::error::Error for HeartbeatConfigError {}

/// What the heartbeat asks of the socket after a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Send a heartbeat push with this ref now.
    Send {
        /// The push's ref.
        msg_ref: u64,
    },
    /// The reply did not arrive in time: drop the transport at once and reconnect.
    TimedOut,
}

/// A reply to our heartbeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatReply {
    /// The reply's status was `ok`.
    pub ok: bool,
    /// Time from the send to the reply.
    pub latency: Duration,
}

/// The heartbeat of one socket.
#[derive(Clone, Debug)]
pub struct Heartbeat {
    interval: Duration,
    deadline: Duration,
    /// When the next beat is due; `None` while no connection is open.
    next_send: Option<Instant>,
    /// The beat in flight: its ref, when it was sent, and when its reply is due.
    pending: Option<(u64, Instant, Instant)>,
    /// The reply deadline of the next beat when it is a probe.
    probe: Option<Duration>,
}

impl Heartbeat {
    /// A heartbeat every `interval`, each reply due within `deadline` of its send.
    pub fn new(interval: Duration, deadline: Duration) -> Result<Self, HeartbeatConfigError> {
        if interval.is_zero() {
            return Err(HeartbeatConfigError::ZeroInterval);
        }
        if deadline.is_zero() || deadline > interval {
            return Err(HeartbeatConfigError::BadDeadline);
        }
        Ok(Self { interval, deadline, next_send: None, pending: None, probe: None })
    }

    /// A connection opened: the first beat is due one interval from now; nothing is pending.
    pub fn start(&mut self, now: Instant) {
        self.next_send = Some(now + self.interval);
        self.pending = None;
        self.probe = None;
    }

    /// The connection ended: no beats until the next `start`.
    pub fn stop(&mut self) {
        self.next_send = None;
        self.pending = None;
        self.probe = None;
    }

    /// A liveness probe now (the app came to the foreground, the network changed): a beat goes
    /// out at once and its reply is due within `within` (or the usual deadline, if shorter).
    /// With a beat already in flight, that beat's reply becomes due within `within` instead.
    pub fn probe(&mut self, now: Instant, within: Duration) {
        if self.next_send.is_none() {
            return;
        }
        match &mut self.pending {
            Some((_, _, due)) => *due = (*due).min(now + within),
            None => {
                self.next_send = Some(now);
                self.probe = Some(within);
            }
        }
    }

    /// The next deadline: the due beat, or the pending reply's deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.pending {
            Some((_, _, due)) => Some(due),
            None => self.next_send,
        }
    }

    /// Acts on `now`; `next_ref` gives the ref for a beat that is due. Early calls do nothing.
    pub fn handle_timeout(
        &mut self,
        now: Instant,
        next_ref: impl FnOnce() -> u64,
    ) -> Option<HeartbeatAction> {
        if let Some((_, _, due)) = self.pending {
            if now >= due {
                self.stop();
                return Some(HeartbeatAction::TimedOut);
            }
            return None;
        }
        let due = self.next_send?;
        if now < due {
            return None;
        }
        let msg_ref = next_ref();
        let within = self.probe.take().map_or(self.deadline, |p| p.min(self.deadline));
        self.pending = Some((msg_ref, now, now + within));
        // Due one interval after this send, whatever else happens meanwhile.
        self.next_send = Some(now + self.interval);
        Some(HeartbeatAction::Send { msg_ref })
    }

    /// A `phx_reply` on the heartbeat topic with ref `msg_ref`; returns the reply when it is
    /// ours.
    pub fn handle_reply(&mut self, msg_ref: u64, ok: bool, now: Instant) -> Option<HeartbeatReply> {
        match self.pending {
            Some((pending, sent, _)) if pending == msg_ref => {
                self.pending = None;
                Some(HeartbeatReply { ok, latency: now - sent })
            }
            _ => None,
        }
    }

    /// The longest a link can be dead before this heartbeat finds it: one interval (the link
    /// died right after a beat was answered) plus the reply deadline of the next beat.
    pub fn worst_case(&self) -> Duration {
        self.interval.saturating_add(self.deadline)
    }

    /// Whether a beat is in flight.
    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }
}

impl Default for Heartbeat {
    fn default() -> Self {
        Self {
            interval: DEFAULT_HEARTBEAT_INTERVAL,
            deadline: DEFAULT_HEARTBEAT_DEADLINE,
            next_send: None,
            pending: None,
            probe: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * 1000)
    }

    #[test]
    fn beats_every_interval_from_the_send_and_measures_latency() {
        let mut hb = Heartbeat::default();
        let mut refs = 0u64;
        let mut next = || {
            refs += 1;
            refs
        };
        assert_eq!(hb.poll_timeout(), None, "no beats before a connection");
        hb.start(at(100));
        assert_eq!(hb.poll_timeout(), Some(at(125)));
        assert_eq!(hb.handle_timeout(at(124), &mut next), None);
        assert_eq!(hb.handle_timeout(at(125), &mut next), Some(HeartbeatAction::Send { msg_ref: 1 }));
        assert_eq!(hb.poll_timeout(), Some(at(135)), "reply deadline 10 s after the send");
        assert_eq!(hb.handle_reply(99, true, at(126)), None, "not our ref");
        let reply = hb.handle_reply(1, true, at(126)).unwrap();
        assert_eq!(reply, HeartbeatReply { ok: true, latency: Duration::from_secs(1) });
        assert_eq!(hb.poll_timeout(), Some(at(150)), "next beat one interval after the previous send");
        assert_eq!(hb.handle_timeout(at(150), &mut next), Some(HeartbeatAction::Send { msg_ref: 2 }));
    }

    #[test]
    fn a_missed_reply_times_out_at_its_own_deadline() {
        let mut hb = Heartbeat::new(Duration::from_secs(25), Duration::from_secs(10)).unwrap();
        hb.start(at(0));
        assert!(matches!(hb.handle_timeout(at(25), || 7), Some(HeartbeatAction::Send { msg_ref: 7 })));
        assert_eq!(hb.poll_timeout(), Some(at(35)));
        assert_eq!(hb.handle_timeout(at(34), || 8), None);
        assert_eq!(hb.handle_timeout(at(35), || 8), Some(HeartbeatAction::TimedOut));
        assert_eq!(hb.poll_timeout(), None, "stopped until the next connection");
        assert_eq!(hb.handle_reply(7, true, at(36)), None, "a late reply does not count");
    }

    #[test]
    fn a_new_connection_resets_and_a_probe_beats_at_once() {
        let mut hb = Heartbeat::default();
        hb.start(at(0));
        assert!(hb.handle_timeout(at(25), || 1).is_some());
        assert!(hb.is_pending());
        hb.start(at(30));
        assert!(!hb.is_pending(), "the old connection's beat is forgotten");
        assert_eq!(hb.handle_reply(1, true, at(31)), None);
        hb.probe(at(40), Duration::from_secs(5));
        assert_eq!(hb.poll_timeout(), Some(at(40)));
        assert_eq!(hb.handle_timeout(at(40), || 2), Some(HeartbeatAction::Send { msg_ref: 2 }));
        assert_eq!(hb.poll_timeout(), Some(at(45)), "a probe's reply is due within its own deadline");
        assert!(hb.handle_reply(2, true, at(41)).is_some());
        assert_eq!(hb.poll_timeout(), Some(at(65)), "beats go on an interval after the probe");
        assert!(hb.handle_timeout(at(65), || 3).is_some());
        assert_eq!(hb.poll_timeout(), Some(at(75)), "the next beat has the usual deadline");
        hb.probe(at(68), Duration::from_secs(5));
        assert_eq!(hb.poll_timeout(), Some(at(73)), "a probe shortens the deadline of a beat in flight");
        hb.probe(at(69), Duration::from_secs(60));
        assert_eq!(hb.poll_timeout(), Some(at(73)), "and never lengthens it");
    }

    #[test]
    fn a_link_dead_right_after_an_answered_beat_is_found_within_35_s() {
        let mut hb = Heartbeat::default();
        assert_eq!(hb.worst_case(), Duration::from_secs(35));
        hb.start(at(0));
        assert!(hb.handle_timeout(at(25), || 1).is_some());
        assert!(hb.handle_reply(1, true, at(25)).is_some());
        // The link dies now: nothing comes back any more.
        assert!(hb.handle_timeout(at(50), || 2).is_some());
        assert_eq!(hb.handle_timeout(at(59), || 3), None);
        assert_eq!(hb.handle_timeout(at(60), || 3), Some(HeartbeatAction::TimedOut));
        assert_eq!(at(60) - at(25), hb.worst_case(), "found one worst case after the last sign of life");
    }

    #[test]
    fn configs_are_checked() {
        assert_eq!(
            Heartbeat::new(Duration::ZERO, Duration::ZERO).err(),
            Some(HeartbeatConfigError::ZeroInterval)
        );
        assert_eq!(
            Heartbeat::new(Duration::from_secs(5), Duration::from_secs(6)).err(),
            Some(HeartbeatConfigError::BadDeadline)
        );
        assert_eq!(
            Heartbeat::new(Duration::from_secs(5), Duration::ZERO).err(),
            Some(HeartbeatConfigError::BadDeadline)
        );
    }
}
