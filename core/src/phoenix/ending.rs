//! What the socket does when a connection ends, as pure functions so every row is tested on its
//! own and the socket cannot drift from them: the endings and decisions, and the generic
//! Phoenix rule ([`decide`]). Supabase Realtime's table (design.md's connection endings) is
//! [`supabase::ending::decide`](crate::supabase::ending::decide).

use crate::ws::CloseCode;

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending<'a> {
    /// The app disconnected.
    Manual,
    /// The server answered the upgrade with this HTTP status.
    UpgradeRejected {
        /// The status.
        status: u16,
    },
    /// The server closed with this code. `context` is the close reason, or the reason of the
    /// last join error before the close (Realtime closes with 1001 after `TenantNotFound` and
    /// `ClientJoinRateLimitReached` join errors, spec A.1).
    ServerClosed {
        /// The close code (1005 when the frame had none, 1006 when there was no frame).
        code: CloseCode,
        /// The close reason or the last join error's reason.
        context: &'a str,
    },
    /// Our heartbeat reply or WebSocket pong did not arrive in time.
    LivenessTimeout,
    /// Anything else: a bad upgrade response, our own protocol close (1002/1007/1009), a TCP or
    /// TLS error, EOF.
    TransportFailed,
}

/// Why the socket stopped for good (until the app connects again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The app disconnected.
    Manual,
    /// The credentials were refused (upgrade 401 or 403).
    Auth {
        /// The HTTP status.
        status: u16,
    },
    /// The project is unknown to the server (upgrade 404, or `TenantNotFound`).
    TenantNotFound,
    /// The reconnect schedule's attempt limit was reached (never returned by [`decide`]).
    RetriesExhausted,
    /// The socket had no channels for the configured time (never returned by [`decide`]).
    Idle,
}

impl core::fmt::Display for StopReason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Manual => f.write_str("disconnected by the app"),
            Self::Auth { status } => write!(f, "the server refused the credentials (http {status})"),
            Self::TenantNotFound => f.write_str("the server does not know the project"),
            Self::RetriesExhausted => f.write_str("the last reconnect attempt failed"),
            Self::Idle => f.write_str("no channels were left"),
        }
    }
}

/// What the socket does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Stop and report.
    Stop(StopReason),
    /// Reconnect after the schedule's next delay.
    Backoff {
        /// Drop the transport without a close handshake (the link is presumed dead).
        abort_transport: bool,
    },
    /// Reconnect after the schedule's longest step (the server rate-limited us).
    RateLimited,
}

/// What a plain Phoenix server's connection ending means, as phoenix.js reads it: only a manual
/// disconnect stops; a missed heartbeat drops the transport at once; anything else (a refused
/// upgrade too: a Phoenix `connect/3` that says no answers 403) reconnects on the schedule.
/// Supabase Realtime reads more into some endings (`supabase::ending::decide`).
pub fn decide(ending: &Ending<'_>) -> Decision {
    match *ending {
        Ending::Manual => Decision::Stop(StopReason::Manual),
        Ending::LivenessTimeout => Decision::Backoff { abort_transport: true },
        Ending::UpgradeRejected { .. } | Ending::ServerClosed { .. } | Ending::TransportFailed => {
            Decision::Backoff { abort_transport: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_phoenix_server_is_reconnected_to_whatever_it_says() {
        assert_eq!(decide(&Ending::Manual), Decision::Stop(StopReason::Manual));
        assert_eq!(decide(&Ending::LivenessTimeout), Decision::Backoff { abort_transport: true });
        let backoff = Decision::Backoff { abort_transport: false };
        for status in [401, 403, 404, 429, 500] {
            assert_eq!(decide(&Ending::UpgradeRejected { status }), backoff, "{status}");
        }
        for context in ["TenantNotFound", "ClientJoinRateLimitReached", ""] {
            assert_eq!(decide(&Ending::ServerClosed { code: CloseCode::GOING_AWAY, context }), backoff);
        }
        assert_eq!(decide(&Ending::TransportFailed), backoff);
    }
}
