//! Retry schedules: socket reconnects and channel rejoins (spec B.3, B.5, F.1).
//!
//! Attempt `n` (counting from 1) waits the `n`-th step, and the last step repeats. The
//! defaults are realtime-js's: reconnect 1, 2, 5, 10, 10... s; rejoin 1, 2, 5, 10... s. Beyond
//! the reference clients (none of which caps or spreads its retries): an optional attempt limit,
//! and optional jitter that draws each delay from `[(1 - p) * step, step]`, so a fleet of clients
//! that lost the same server does not come back in lock step, and no delay exceeds its step.

use alloc::vec::Vec;
use core::time::Duration;

use crate::rng::Rng;

/// realtime-js's reconnect and rejoin steps: 1, 2, 5, then 10 s.
pub const DEFAULT_STEPS: [Duration; 4] =
    [Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(5), Duration::from_secs(10)];

/// A schedule that cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackoffError {
    /// No steps.
    NoSteps,
    /// Jitter above 100 %.
    JitterOver100,
    /// An attempt limit of 0.
    ZeroAttempts,
}

impl core::fmt::Display for BackoffError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NoSteps => "a retry schedule needs at least one step",
            Self::JitterOver100 => "jitter is a percentage from 0 to 100",
            Self::ZeroAttempts => "an attempt limit must be at least 1",
        })
    }
}

impl core::error::Error for BackoffError {}

/// A retry schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    steps: Vec<Duration>,
    jitter_percent: u8,
    max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { steps: DEFAULT_STEPS.to_vec(), jitter_percent: 0, max_attempts: None }
    }
}

impl Backoff {
    /// A schedule of these steps, without jitter or limit.
    pub fn new(steps: Vec<Duration>) -> Result<Self, BackoffError> {
        if steps.is_empty() {
            return Err(BackoffError::NoSteps);
        }
        Ok(Self { steps, jitter_percent: 0, max_attempts: None })
    }

    /// Draws each delay from `[(100 - percent) % of the step, the step]`.
    pub fn with_jitter(mut self, percent: u8) -> Result<Self, BackoffError> {
        if percent > 100 {
            return Err(BackoffError::JitterOver100);
        }
        self.jitter_percent = percent;
        Ok(self)
    }

    /// Gives up after `attempts` attempts.
    pub fn with_max_attempts(mut self, attempts: u32) -> Result<Self, BackoffError> {
        if attempts == 0 {
            return Err(BackoffError::ZeroAttempts);
        }
        self.max_attempts = Some(attempts);
        Ok(self)
    }

    /// The delay before attempt `attempt` (counting from 1), or `None` past the limit.
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Option<Duration> {
        if self.max_attempts.is_some_and(|max| attempt > max) {
            return None;
        }
        let index = usize::try_from(attempt.max(1) - 1).unwrap_or(usize::MAX).min(self.steps.len() - 1);
        let step = self.steps[index];
        if self.jitter_percent == 0 {
            return Some(step);
        }
        // Jitter in whole microseconds, up to `percent` of the step.
        let step_us = u64::try_from(step.as_micros()).unwrap_or(u64::MAX);
        let span = step_us / 100 * u64::from(self.jitter_percent);
        let cut = if span == 0 { 0 } else { rng.next_u64() % (span + 1) };
        Some(Duration::from_micros(step_us - cut))
    }

    /// The longest step: what a rate-limited client waits (design.md's endings table).
    pub fn longest(&self) -> Duration {
        self.steps.iter().copied().max().unwrap_or(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_repeats_the_last_step() {
        let b = Backoff::default();
        let mut rng = Rng::from_seed([0; 32]);
        let got: Vec<u64> = (1..=6).map(|n| b.delay(n, &mut rng).unwrap().as_secs()).collect();
        assert_eq!(got, [1, 2, 5, 10, 10, 10]);
        assert_eq!(b.longest(), Duration::from_secs(10));
    }

    #[test]
    fn jitter_stays_within_the_step_and_spreads() {
        let b = Backoff::default().with_jitter(50).unwrap();
        let mut rng = Rng::from_seed([9; 32]);
        let delays: Vec<Duration> = (0..200).map(|_| b.delay(3, &mut rng).unwrap()).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(2500) && *d <= Duration::from_secs(5)));
        let distinct: alloc::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 150, "spread: {}", distinct.len());
    }

    #[test]
    fn attempt_limit_and_bad_configs() {
        let b = Backoff::default().with_max_attempts(2).unwrap();
        let mut rng = Rng::from_seed([0; 32]);
        assert!(b.delay(2, &mut rng).is_some());
        assert_eq!(b.delay(3, &mut rng), None);
        assert_eq!(Backoff::new(Vec::new()), Err(BackoffError::NoSteps));
        assert_eq!(Backoff::default().with_jitter(101), Err(BackoffError::JitterOver100));
        assert_eq!(Backoff::default().with_max_attempts(0), Err(BackoffError::ZeroAttempts));
    }
}
