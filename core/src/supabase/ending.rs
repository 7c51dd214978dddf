//! What Supabase Realtime's connection endings mean (design.md's connection-endings table): the
//! refusals and closes it gives a meaning to, over the generic Phoenix rules
//! ([`phoenix::ending::decide`](crate::phoenix::ending::decide)).

use crate::phoenix::ending::{Decision, Ending, StopReason};
use crate::ws::CloseCode;

/// What a connection ending means on Supabase Realtime: refused credentials and an unknown
/// project stop, the rate limits wait the longest step, the rest is Phoenix's. The first row
/// of the table that matches `ending` wins.
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
        _ => crate::phoenix::ending::decide(ending),
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
