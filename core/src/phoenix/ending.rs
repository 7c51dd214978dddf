//! What the socket does when a connection ends: design.md's connection-endings table as one
//! pure function, so every row is tested on its own and the socket cannot drift from it.

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

/// The first row of the table that matches `ending` wins.
pub fn decide(ending: &Ending<'_>) -> Decision {
    match *ending {
        Ending::Manual => Decision::Stop(StopReason::Manual),
        Ending::UpgradeRejected { status: status @ (401 | 403) } => {
            Decision::Stop(StopReason::Auth { status })
        }
        Ending::UpgradeRejected { status: 404 } => Decision::Stop(StopReason::TenantNotFound),
        Ending::ServerClosed { code: CloseCode::GOING_AWAY, context }
            if context.contains("TenantNotFound") =>
        {
            Decision::Stop(StopReason::TenantNotFound)
        }
        Ending::UpgradeRejected { status: 429 } => Decision::RateLimited,
        Ending::ServerClosed { code: CloseCode::GOING_AWAY, context }
            if context.contains("ClientJoinRateLimitReached") =>
        {
            Decision::RateLimited
        }
        Ending::LivenessTimeout => Decision::Backoff { abort_transport: true },
        Ending::UpgradeRejected { .. } | Ending::ServerClosed { .. } | Ending::TransportFailed => {
            Decision::Backoff { abort_transport: false }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed(code: u16, context: &str) -> Decision {
        decide(&Ending::ServerClosed { code: CloseCode(code), context })
    }

    #[test]
    fn every_row_of_the_endings_table() {
        // manual disconnect
        assert_eq!(decide(&Ending::Manual), Decision::Stop(StopReason::Manual));
        // upgrade 401 or 403, close 1001 with TenantNotFound, upgrade 404
        assert_eq!(
            decide(&Ending::UpgradeRejected { status: 401 }),
            Decision::Stop(StopReason::Auth { status: 401 })
        );
        assert_eq!(
            decide(&Ending::UpgradeRejected { status: 403 }),
            Decision::Stop(StopReason::Auth { status: 403 })
        );
        assert_eq!(
            closed(1001, "TenantNotFound: Tenant not found: abc"),
            Decision::Stop(StopReason::TenantNotFound)
        );
        assert_eq!(
            decide(&Ending::UpgradeRejected { status: 404 }),
            Decision::Stop(StopReason::TenantNotFound)
        );
        // upgrade 429, close 1001 with ClientJoinRateLimitReached
        assert_eq!(decide(&Ending::UpgradeRejected { status: 429 }), Decision::RateLimited);
        assert_eq!(
            closed(1001, "ClientJoinRateLimitReached: Too many joins per second"),
            Decision::RateLimited
        );
        // heartbeat or WebSocket-ping deadline missed
        assert_eq!(decide(&Ending::LivenessTimeout), Decision::Backoff { abort_transport: true });
        // any other close code, an upgrade 5xx or other status, our own closes, TCP/TLS, EOF
        let backoff = Decision::Backoff { abort_transport: false };
        for code in [1000, 1001, 1006, 1008, 1011, 1012, 1013, 4000, 4999] {
            assert_eq!(closed(code, ""), backoff, "{code}");
        }
        assert_eq!(closed(1000, "TenantNotFound"), backoff, "only 1001 carries the tenant meaning");
        for status in [500, 502, 503, 400, 418] {
            assert_eq!(decide(&Ending::UpgradeRejected { status }), backoff, "{status}");
        }
        assert_eq!(decide(&Ending::TransportFailed), backoff);
    }
}
