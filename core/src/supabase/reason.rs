//! What the server's refusals mean: every join error reason (spec A.6) and `system` error text
//! falls in one class, and each class has one action. The server's text is kept verbatim next
//! to the class, so nothing it said is lost.

use alloc::string::String;
use core::fmt;

/// The kind of a server-reported failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorClass {
    /// The access token was refused (expired, bad signature, malformed).
    Token,
    /// The user may not read (or write) this channel, or the channel must be private.
    Permission,
    /// A server rate limit was hit.
    RateLimited,
    /// The server or its database is momentarily unable (pool, restart, RPC timeout).
    TransientServer,
    /// The request can never succeed as it is (unknown tenant, Realtime disabled, bad topic).
    Permanent,
    /// A message was larger than the server accepts.
    PayloadTooLarge,
    /// The server is shutting down or draining the connection.
    ServerShutdown,
    /// The connection failed (TCP, TLS, a WebSocket protocol error, an abrupt end).
    Transport,
    /// Something did not answer in time (connect, heartbeat, ping).
    Timeout,
    /// Anything else.
    Unknown,
}

/// What the client does about a failure of a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorAction {
    /// Ask the token source for a new token and rejoin with it; without a source, stop.
    RefreshToken,
    /// Stop: report and never retry on its own.
    Stop,
    /// Rejoin after the schedule's longest step.
    BackoffLongest,
    /// Rejoin on the usual backoff schedule.
    Rejoin,
}

impl ErrorClass {
    /// The action for this class (issue 4's table).
    pub const fn action(self) -> ErrorAction {
        match self {
            Self::Token => ErrorAction::RefreshToken,
            Self::Permission | Self::Permanent => ErrorAction::Stop,
            Self::RateLimited => ErrorAction::BackoffLongest,
            Self::TransientServer
            | Self::PayloadTooLarge
            | Self::ServerShutdown
            | Self::Transport
            | Self::Timeout
            | Self::Unknown => ErrorAction::Rejoin,
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token => "the access token was refused",
            Self::Permission => "permission denied",
            Self::RateLimited => "rate limited",
            Self::TransientServer => "the server is momentarily unable",
            Self::Permanent => "the request can never succeed",
            Self::PayloadTooLarge => "a message was too large",
            Self::ServerShutdown => "the server is shutting down",
            Self::Transport => "the connection failed",
            Self::Timeout => "no answer in time",
            Self::Unknown => "an unknown failure",
        })
    }
}

impl fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RefreshToken => "ask for a new token",
            Self::Stop => "stop",
            Self::BackoffLongest => "retry after the longest backoff step",
            Self::Rejoin => "retry on the backoff schedule",
        })
    }
}

/// A failure the server reported: its class and its words.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ServerReason {
    /// The class, decided from the text.
    pub class: ErrorClass,
    /// The server's text, verbatim (`"InvalidJWTToken: Token has expired 12 seconds ago"`).
    pub text: String,
}

impl ServerReason {
    /// A join error reply's `reason`.
    pub fn join_error(text: String) -> Self {
        Self { class: classify_join_error(&text), text }
    }

    /// A reason no table reads: from a plain Phoenix server, whose replies are the app's own
    /// (its class is [`ErrorClass::Unknown`], so the channel rejoins on the schedule, as
    /// phoenix.js does).
    pub fn unclassified(text: String) -> Self {
        Self { class: ErrorClass::Unknown, text }
    }

    /// A `system` message's `message` with status `error`.
    pub fn system_error(text: String) -> Self {
        Self { class: classify_system_error(&text), text }
    }

    /// The reason's code, the part before `": "` when it has one (`InvalidJWTToken`).
    pub fn code(&self) -> Option<&str> {
        let (code, _) = self.text.split_once(": ")?;
        (!code.is_empty() && code.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(code)
    }
}

impl fmt::Debug for ServerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}({:?})", self.class, self.text)
    }
}

impl fmt::Display for ServerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Join error reason codes by class (spec A.6), matched on the code before `": "`.
const JOIN_CODES: &[(&str, ErrorClass)] = &[
    ("InvalidJWTToken", ErrorClass::Token),
    ("JwtSignatureError", ErrorClass::Token),
    ("MalformedJWT", ErrorClass::Token),
    ("Unauthorized", ErrorClass::Permission),
    ("PrivateOnly", ErrorClass::Permission),
    ("ChannelRateLimitReached", ErrorClass::RateLimited),
    ("ConnectionRateLimitReached", ErrorClass::RateLimited),
    ("ClientJoinRateLimitReached", ErrorClass::RateLimited),
    ("DatabaseConnectionRateLimitReached", ErrorClass::RateLimited),
    ("IncreaseConnectionPool", ErrorClass::TransientServer),
    ("DatabaseLackOfConnections", ErrorClass::TransientServer),
    ("UnableToSetPolicies", ErrorClass::TransientServer),
    ("UnableToConnectToProject", ErrorClass::TransientServer),
    ("QueryCanceled", ErrorClass::TransientServer),
    ("MissingPartition", ErrorClass::TransientServer),
    ("TimeoutOnRpcCall", ErrorClass::TransientServer),
    ("ErrorOnRpcCall", ErrorClass::TransientServer),
    ("InitializingProjectConnection", ErrorClass::TransientServer),
    ("RealtimeRestarting", ErrorClass::TransientServer),
    // The server's own signer failed, not the user's token.
    ("JwtSignerError", ErrorClass::TransientServer),
    ("TopicNameRequired", ErrorClass::Permanent),
    ("RealtimeDisabledForTenant", ErrorClass::Permanent),
    ("TenantNotFound", ErrorClass::Permanent),
    // A replay asked on a public channel: the config is wrong.
    ("UnableToReplayMessages", ErrorClass::Permanent),
];

/// The class of a join error reply's `reason` (spec A.6).
pub fn classify_join_error(reason: &str) -> ErrorClass {
    let code = reason.split_once(':').map_or(reason, |(c, _)| c).trim();
    if let Some((_, class)) = JOIN_CODES.iter().find(|(c, _)| *c == code) {
        return *class;
    }
    match reason.trim() {
        // Phoenix's own refusals.
        "unmatched topic" => ErrorClass::Permanent,
        "too many channels joined" => ErrorClass::RateLimited,
        _ => ErrorClass::Unknown,
    }
}

/// The class of an upgrade refusal's HTTP status (spec A.1). What the socket does about it is
/// design.md's endings table (`ending::decide`); the class is for reporting.
pub fn classify_upgrade_status(status: u16) -> ErrorClass {
    match status {
        // Missing API key, expired token, missing claims, malformed JWT, bad signature.
        401 => ErrorClass::Token,
        // Tenant suspended.
        403 => ErrorClass::Permission,
        404 => ErrorClass::Permanent,
        429 => ErrorClass::RateLimited,
        500..=599 => ErrorClass::TransientServer,
        _ => ErrorClass::Unknown,
    }
}

/// The class of a close from the server, from its code and reason (spec A.1).
pub fn classify_close(code: u16, reason: &str) -> ErrorClass {
    match code {
        1001 if reason.contains("TenantNotFound") => ErrorClass::Permanent,
        1001 if reason.contains("RateLimit") => ErrorClass::RateLimited,
        1000 | 1001 | 1012 | 1013 => ErrorClass::ServerShutdown,
        1009 => ErrorClass::PayloadTooLarge,
        1011 => ErrorClass::TransientServer,
        1002 | 1003 | 1006 | 1007 => ErrorClass::Transport,
        _ => ErrorClass::Unknown,
    }
}

/// The class of a `system` error's `message` (spec A.6: the channel stops after it).
pub fn classify_system_error(message: &str) -> ErrorClass {
    let m = message.to_ascii_lowercase();
    let has = |s: &str| m.contains(s);
    if has("permission") || has("unauthorized") {
        ErrorClass::Permission
    } else if has("token") || has("jwt") {
        ErrorClass::Token
    } else if has("too many") || has("rate limit") {
        ErrorClass::RateLimited
    } else if has("size exceeded") || has("too large") {
        ErrorClass::PayloadTooLarge
    } else if has("disconnect") || has("shutdown") || has("restarting") {
        ErrorClass::ServerShutdown
    } else if has("not established") || has("unable to connect") || has("timeout") {
        ErrorClass::TransientServer
    } else {
        ErrorClass::Unknown
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    /// Every reason of spec A.6, with the class and action the issue asks for.
    #[test]
    fn every_join_error_reason_of_the_spec() {
        use ErrorAction::*;
        use ErrorClass::*;
        let table = [
            ("TopicNameRequired: You must provide a topic name", Permanent, Stop),
            ("InvalidJWTToken: Token has expired 12 seconds ago", Token, RefreshToken),
            (
                "Unauthorized: You do not have permissions to read from this Channel topic: x",
                Permission,
                Stop,
            ),
            ("ChannelRateLimitReached: Too many channels", RateLimited, BackoffLongest),
            ("ConnectionRateLimitReached: Too many connected users", RateLimited, BackoffLongest),
            ("ClientJoinRateLimitReached: Too many joins per second", RateLimited, BackoffLongest),
            ("IncreaseConnectionPool: Please increase your connection pool size", TransientServer, Rejoin),
            ("DatabaseLackOfConnections: Database can't accept more connections", TransientServer, Rejoin),
            ("DatabaseConnectionRateLimitReached: Too many connection attempts", RateLimited, BackoffLongest),
            ("UnableToSetPolicies: Policies could not be set", TransientServer, Rejoin),
            ("UnableToConnectToProject: Realtime was unable to connect", TransientServer, Rejoin),
            ("QueryCanceled: canceling statement", TransientServer, Rejoin),
            ("MissingPartition: partition missing", TransientServer, Rejoin),
            ("TimeoutOnRpcCall: Node request timeout", TransientServer, Rejoin),
            ("ErrorOnRpcCall: rpc error", TransientServer, Rejoin),
            ("InitializingProjectConnection: Realtime is initializing", TransientServer, Rejoin),
            ("MalformedJWT: The token provided is not a valid JWT", Token, RefreshToken),
            ("PrivateOnly: This project only allows private channels", Permission, Stop),
            ("TenantNotFound: Tenant not found: abc", Permanent, Stop),
            ("RealtimeDisabledForTenant: Realtime disabled for this tenant", Permanent, Stop),
            ("JwtSignatureError: Failed to validate JWT signature", Token, RefreshToken),
            ("RealtimeRestarting: Realtime is restarting", TransientServer, Rejoin),
            ("UnableToReplayMessages: Replay is only for private channels", Permanent, Stop),
            ("JwtSignerError: Failed to generate JWT signer", TransientServer, Rejoin),
            ("Unknown Error on Channel", Unknown, Rejoin),
            ("too many channels joined", RateLimited, BackoffLongest),
            ("unmatched topic", Permanent, Stop),
            ("SomethingNew: a reason this client does not know", Unknown, Rejoin),
        ];
        for (text, class, action) in table {
            let r = ServerReason::join_error(text.to_string());
            assert_eq!((r.class, r.class.action()), (class, action), "{text}");
            assert_eq!(r.text, text, "kept verbatim");
        }
        assert_eq!(ServerReason::join_error("InvalidJWTToken: x".into()).code(), Some("InvalidJWTToken"));
        assert_eq!(ServerReason::join_error("unmatched topic".into()).code(), None);
    }

    #[test]
    fn upgrade_statuses_and_closes() {
        use ErrorClass::*;
        let statuses = [
            (401, Token),
            (403, Permission),
            (404, Permanent),
            (429, RateLimited),
            (500, TransientServer),
            (503, TransientServer),
            (418, Unknown),
        ];
        for (status, class) in statuses {
            assert_eq!(classify_upgrade_status(status), class, "{status}");
        }
        for (code, reason, class) in [
            (1001, "TenantNotFound: Tenant not found", Permanent),
            (1001, "", ServerShutdown),
            (1001, "ClientJoinRateLimitReached", RateLimited),
            (1012, "", ServerShutdown),
            (1009, "", PayloadTooLarge),
            (1011, "", TransientServer),
            (1006, "", Transport),
            (4000, "", Unknown),
        ] {
            assert_eq!(classify_close(code, reason), class, "{code} {reason}");
        }
    }

    /// Every `system` error text of spec A.6.
    #[test]
    fn every_system_error_text_of_the_spec() {
        use ErrorClass::*;
        let table = [
            ("Token has expired 3 seconds ago", Token),
            ("InvalidJWTToken: Token has expired", Token),
            ("Too many messages per second", RateLimited),
            ("Too many presence messages per second", RateLimited),
            ("Client presence rate limit exceeded", RateLimited),
            ("Track message size exceeded", PayloadTooLarge),
            ("You no longer have permission to read from this Channel topic: x", Permission),
            ("Replication connection was not established in time", TransientServer),
            ("Realtime was unable to connect to the project database", TransientServer),
            ("Node request timeout", TransientServer),
            ("Server requested disconnect", ServerShutdown),
            ("Something else", Unknown),
        ];
        for (text, class) in table {
            assert_eq!(classify_system_error(text), class, "{text}");
        }
    }
}
