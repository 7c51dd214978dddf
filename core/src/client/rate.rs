//! The opt-in client-side rate limit of a channel's pushes: GCRA (a token bucket kept as one
//! instant), so pushes never exceed `per_second` on average nor `burst` at once.

use core::time::Duration;

use crate::Instant;

/// What a push over the limit does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RateLimitPolicy {
    /// It waits in the channel's buffer (its timeout running) until the limit allows it.
    Queue,
    /// It is refused with `PushError::RateLimited`.
    Refuse,
}

/// A per-channel limit on pushes, to stay under the server's `max_events_per_second` (which
/// closes the channel when exceeded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Pushes per second on average (1 to 1,000,000).
    pub per_second: u32,
    /// Pushes allowed back to back (at least 1).
    pub burst: u32,
    /// What a push over the limit does.
    pub policy: RateLimitPolicy,
}

/// One channel's limiter state.
#[derive(Clone, Copy, Debug)]
pub(super) struct Limiter {
    /// Theoretical arrival time of the next push: the bucket is full when it is in the past.
    tat: Instant,
}

impl Limiter {
    pub(super) const fn new() -> Self {
        Self { tat: Instant::ZERO }
    }

    /// Time per push, rounded up so the rate is never exceeded (at least 1 µs).
    fn cost(limit: &RateLimit) -> Duration {
        let per_second = u64::from(limit.per_second.max(1));
        Duration::from_micros(1_000_000_u64.div_ceil(per_second).max(1))
    }

    /// When a push is allowed: `now` if it may go now.
    pub(super) fn allowed_at(&self, limit: &RateLimit, now: Instant) -> Instant {
        let tat = if self.tat > now { self.tat } else { now };
        let slack = Self::cost(limit) * (limit.burst.max(1) - 1);
        let earliest = Instant::from_micros(
            tat.as_micros().saturating_sub(u64::try_from(slack.as_micros()).unwrap_or(u64::MAX)),
        );
        if earliest > now { earliest } else { now }
    }

    /// Takes a token at `now` (call only when `allowed_at(now) <= now`).
    pub(super) fn take(&mut self, limit: &RateLimit, now: Instant) {
        let tat = if self.tat > now { self.tat } else { now };
        self.tat = tat + Self::cost(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_burst_at_once_nor_the_rate_on_average() {
        let limit = RateLimit { per_second: 10, burst: 3, policy: RateLimitPolicy::Queue };
        let mut l = Limiter::new();
        let mut now = Instant::from_millis(1000);
        let mut sent = alloc::vec::Vec::new();
        while sent.len() < 23 {
            let at = l.allowed_at(&limit, now);
            now = if at > now { at } else { now };
            l.take(&limit, now);
            sent.push(now.as_micros() / 1000);
        }
        assert_eq!(&sent[..4], [1000, 1000, 1000, 1100], "a burst of 3, then one per 100 ms");
        // In any window of one second, at most rate + burst - 1 pushes.
        for (i, &t) in sent.iter().enumerate() {
            let in_window = sent[i..].iter().take_while(|&&u| u < t + 1000).count();
            assert!(in_window <= 12, "{in_window} from {t}");
        }
    }
}
