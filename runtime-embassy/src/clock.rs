//! The core's clock and the drive loop's timer, on embassy-time.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_core::Instant;

/// The monotonic clock: embassy-time's, in the core's microseconds.
pub(crate) fn now() -> Instant {
    Instant::from_micros(embassy_time::Instant::now().as_micros())
}

/// An embassy-time timer, moved to each of the core's deadlines.
#[derive(Debug, Default)]
pub struct Timer(Option<embassy_time::Timer>);

impl realtime_driver::Timer for Timer {
    fn reset(&mut self, at: Instant) {
        self.0 = Some(embassy_time::Timer::at(embassy_time::Instant::from_micros(at.as_micros())));
    }
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.0 {
            // Polled again after it fired, embassy-time's timer is ready again at once.
            Some(timer) => Pin::new(timer).poll(cx),
            None => Poll::Pending,
        }
    }
}
