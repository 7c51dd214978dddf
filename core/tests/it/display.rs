//! `Display` of everything a user sees is written for people: every variant says something,
//! none is Debug text (no braces, no `Some(`, no variant names), and wrapping errors hand their
//! cause over as `source` instead of repeating it.

use std::error::Error as _;
use std::fmt::{Debug, Display};
use std::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelStatus, ConfigError, ConnectionEnd, ConnectionState,
    DisconnectError, HeartbeatStatus, LeaveOutcome, Next, NotSentReason, PushError, PushOutcome,
    Subscription, TargetError, TokenReason,
};
use realtime_core::phoenix::ending::StopReason;
use realtime_core::phoenix::endpoint::EndpointError;
use realtime_core::phoenix::heartbeat::HeartbeatConfigError;
use realtime_core::phoenix::proxy::ProxyError;
use realtime_core::phoenix::serializer::{EncodeError, Field};
use realtime_core::supabase::reason::{ErrorAction, ErrorClass, ServerReason};
use realtime_core::supabase::rest::RestError;
use realtime_core::ws::{self, HandshakeError, ProtocolError};

/// One value: its Display and its Debug.
fn case<T: Display + Debug>(v: T) -> (String, String) {
    (v.to_string(), format!("{v:?}"))
}

fn check(cases: &[(String, String)]) {
    for (shown, debug) in cases {
        assert!(!shown.trim().is_empty(), "empty Display for {debug}");
        assert_ne!(shown, debug, "Display is the Debug text");
        for bad in ["{", "}", "Some(", "None", "\"", "::"] {
            assert!(!shown.contains(bad), "{bad:?} in {shown:?} (of {debug})");
        }
        // The variant's name (the Debug text's first word) is for programmers.
        let variant: String = debug.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        if variant.chars().skip(1).any(|c| c.is_ascii_uppercase()) {
            assert!(!shown.contains(&variant), "{variant} in {shown:?}");
        }
        // Style rule 20: lowercase, no trailing punctuation.
        assert!(!shown.starts_with(|c: char| c.is_ascii_uppercase()), "{shown:?}");
        assert!(!shown.ends_with(['.', '!', ':', ' ']), "{shown:?}");
    }
}

fn server(text: &str) -> ServerReason {
    ServerReason::join_error(text.into())
}

#[test]
fn connection_types_read_as_sentences() {
    check(&[
        case(ConnectionState::Disconnected),
        case(ConnectionState::Connecting),
        case(ConnectionState::Open),
        case(ConnectionState::Closing),
        case(ConnectionState::WaitingToReconnect { at: Instant::from_micros(5), attempt: 3 }),
        case(ConnectionEnd::Manual),
        case(ConnectionEnd::UpgradeRejected { status: 401, body: r#"{"message":"invalid jwt"}"#.into() }),
        case(ConnectionEnd::UpgradeRejected { status: 503, body: String::new() }),
        case(ConnectionEnd::UpgradeRejected { status: 502, body: "bad gateway".into() }),
        case(ConnectionEnd::UpgradeRejected { status: 500, body: r#"{"code":7}"#.into() }),
        case(ConnectionEnd::ServerClosed { code: 1001, reason: "going away".into() }),
        case(ConnectionEnd::ServerClosed { code: 1005, reason: String::new() }),
        case(ConnectionEnd::HeartbeatTimeout),
        case(ConnectionEnd::PingTimeout),
        case(ConnectionEnd::ConnectTimeout),
        case(ConnectionEnd::WebSocket(ws::Error::Protocol(ProtocolError::ReservedOpcode(3)))),
        case(ConnectionEnd::WebSocket(ws::Error::Handshake(HandshakeError::BadAccept))),
        case(ConnectionEnd::WebSocket(ws::Error::CloseTimeout)),
        case(ConnectionEnd::TransportLost),
        case(Next::Reconnect { after: Duration::from_millis(2_500), attempt: 2 }),
        case(Next::Reconnect { after: Duration::from_millis(300), attempt: 1 }),
        case(Next::Stop(StopReason::RetriesExhausted)),
        case(StopReason::Manual),
        case(StopReason::Auth { status: 403 }),
        case(StopReason::TenantNotFound),
        case(StopReason::RetriesExhausted),
        case(StopReason::Idle),
        case(HeartbeatStatus::Sent),
        case(HeartbeatStatus::Ok { latency: Duration::from_micros(850) }),
        case(HeartbeatStatus::Error { latency: Duration::from_millis(12) }),
        case(HeartbeatStatus::TimedOut),
        case(TokenReason::Missing),
        case(TokenReason::Expiring),
        case(TokenReason::Rejected),
    ]);
    // The chain is on one line where an app shows a lost connection.
    let end = ConnectionEnd::WebSocket(ws::Error::Protocol(ProtocolError::ReservedOpcode(3)));
    assert_eq!(end.to_string(), "the server broke the websocket protocol: reserved opcode 0x3");
    assert_eq!(
        Next::Reconnect { after: Duration::from_millis(2_500), attempt: 2 }.to_string(),
        "reconnecting in 2.5 s (attempt 2)"
    );
    assert_eq!(
        ConnectionEnd::UpgradeRejected { status: 401, body: r#"{"message":"invalid jwt"}"#.into() }
            .to_string(),
        "the server refused the websocket upgrade with http 401: invalid jwt"
    );
}

#[test]
fn channel_and_push_types_read_as_sentences() {
    check(&[
        case(ChannelStatus::Subscribed),
        case(ChannelStatus::TimedOut),
        case(ChannelStatus::Closed),
        case(ChannelStatus::ChannelError(ChannelErrorReason::Disconnected)),
        case(ChannelErrorReason::JoinRejected(server("unmatched topic"))),
        case(ChannelErrorReason::System(ServerReason::system_error("token has expired".into()))),
        case(ChannelErrorReason::ServerError(r#"{"reason":"channel crashed"}"#.into())),
        case(ChannelErrorReason::ServerError("{}".into())),
        case(ChannelErrorReason::Disconnected),
        case(ChannelErrorReason::BindingMismatch),
        case(ChannelErrorReason::PostgresChanges(ServerReason::system_error("bad filter".into()))),
        case(ChannelErrorReason::PostgresNotReady),
        case(PushOutcome::Ok(r#"{"echo":1}"#.into())),
        case(PushOutcome::Error(r#"{"reason":"payload too large"}"#.into())),
        case(PushOutcome::Error("{}".into())),
        case(PushOutcome::TimedOut),
        case(PushOutcome::NotSent(NotSentReason::Dropped)),
        case(NotSentReason::Dropped),
        case(NotSentReason::ChannelClosed),
        case(LeaveOutcome::Left),
        case(LeaveOutcome::TimedOut),
        case(LeaveOutcome::Offline),
        case(Subscription::Subscribed),
        case(Subscription::Pending),
    ]);
    let mut classes: Vec<_> = [
        ErrorClass::Token,
        ErrorClass::Permission,
        ErrorClass::RateLimited,
        ErrorClass::TransientServer,
        ErrorClass::Permanent,
        ErrorClass::PayloadTooLarge,
        ErrorClass::ServerShutdown,
        ErrorClass::Transport,
        ErrorClass::Timeout,
        ErrorClass::Unknown,
    ]
    .into_iter()
    .map(case)
    .collect();
    classes.extend(
        [ErrorAction::RefreshToken, ErrorAction::Stop, ErrorAction::BackoffLongest, ErrorAction::Rejoin]
            .into_iter()
            .map(case),
    );
    check(&classes);
    assert_eq!(
        PushOutcome::Error(r#"{"reason":"payload too large"}"#.into()).to_string(),
        "the server replied with an error: payload too large"
    );
}

#[test]
fn errors_read_as_sentences_and_chain_their_causes() {
    let protocol = [
        ProtocolError::MaskedFrame,
        ProtocolError::ReservedBits,
        ProtocolError::ReservedOpcode(11),
        ProtocolError::FragmentedControlFrame,
        ProtocolError::ControlFrameTooLong,
        ProtocolError::UnexpectedContinuation,
        ProtocolError::ExpectedContinuation,
        ProtocolError::NonMinimalLength,
        ProtocolError::LengthOverflow,
        ProtocolError::CloseFrameTooShort,
        ProtocolError::InvalidCloseCode(1005),
    ];
    let handshake = [
        HandshakeError::ResponseTooLarge,
        HandshakeError::MalformedResponse,
        HandshakeError::TooManyHeaders,
        HandshakeError::MissingUpgrade,
        HandshakeError::MissingConnectionUpgrade,
        HandshakeError::BadAccept,
        HandshakeError::UnexpectedExtension,
        HandshakeError::UnexpectedProtocol,
        HandshakeError::Incomplete,
    ];
    let mut cases: Vec<_> = protocol.iter().map(case).chain(handshake.iter().map(case)).collect();
    cases.extend([
        case(ws::Error::Protocol(ProtocolError::MaskedFrame)),
        case(ws::Error::InvalidUtf8),
        case(ws::Error::FrameTooLong { len: 10, max: 5 }),
        case(ws::Error::MessageTooLong { len: 10, max: 5 }),
        case(ws::Error::Handshake(HandshakeError::BadAccept)),
        case(ws::Error::HandshakeTimeout),
        case(ws::Error::CloseTimeout),
        case(ws::Error::ConnectionReset),
        case(RestError::InvalidUrl),
        case(RestError::Unauthorized("invalid jwt".into())),
        case(RestError::Status { status: 500, message: "oops".into() }),
        case(RestError::Timeout),
        case(RestError::NotRealtime),
        case(ChannelError::ConfigMismatch),
        case(ChannelError::UnknownChannel),
        case(ChannelError::Leaving),
        case(ChannelError::TooManyBindings),
        case(ChannelError::AlreadySubscribed),
        case(ChannelError::InvalidParams),
        case(ChannelError::ReservedTopic),
        case(ChannelError::NotRealtime),
        case(PushError::UnknownChannel),
        case(PushError::NotJoined),
        case(PushError::BufferFull),
        case(PushError::Busy),
        case(PushError::RateLimited),
        case(PushError::InvalidJson),
        case(PushError::InvalidHeader),
        case(PushError::Unsupported),
        case(PushError::NotRealtime),
        case(PushError::Encode(EncodeError::FieldTooLong { field: Field::Topic, len: 300 })),
        case(ConfigError::Endpoint(EndpointError::MissingApiKey)),
        case(EndpointError::InvalidPort),
        case(EndpointError::Unsupported),
        case(ConfigError::Heartbeat(HeartbeatConfigError::ZeroInterval)),
        case(ConfigError::WebSocket(ws::ConfigError::ZeroSendFrameLen)),
        case(ConfigError::Zero("timeout")),
        case(ConfigError::InvalidHeader),
        case(TargetError::Scheme),
        case(TargetError::Host),
        case(TargetError::Port),
        case(TargetError::Path),
        case(ProxyError::Refused { status: 407 }),
        case(ProxyError::Malformed),
        case(ProxyError::HeadTooLong),
        case(ProxyError::Eof),
        case(ProxyError::InvalidHost),
        case(DisconnectError::InvalidCode(1001)),
        case(DisconnectError::ReasonTooLong { len: 124 }),
    ]);
    check(&cases);
    // A wrapper names what failed; its source says why, and the two do not repeat each other.
    let chained: [(&dyn std::error::Error, &dyn std::error::Error); 5] = [
        (&ConfigError::Endpoint(EndpointError::MissingApiKey), &EndpointError::MissingApiKey),
        (&ConfigError::Heartbeat(HeartbeatConfigError::ZeroInterval), &HeartbeatConfigError::ZeroInterval),
        (&ConfigError::WebSocket(ws::ConfigError::ZeroSendFrameLen), &ws::ConfigError::ZeroSendFrameLen),
        (&ws::Error::Protocol(ProtocolError::MaskedFrame), &ProtocolError::MaskedFrame),
        (
            &PushError::Encode(EncodeError::FieldTooLong { field: Field::Topic, len: 300 }),
            &EncodeError::FieldTooLong { field: Field::Topic, len: 300 },
        ),
    ];
    for (outer, inner) in chained {
        let source = outer.source().expect("a wrapper has a source");
        assert_eq!(source.to_string(), inner.to_string());
        assert!(!outer.to_string().contains(&inner.to_string()), "{outer} repeats {inner}");
    }
    assert!(ws::Error::InvalidUtf8.source().is_none());
    assert!(ConfigError::InvalidHeader.source().is_none());
}
