//! What the server checks and how hard it pushes back. Every limit is off by default, so tests
//! and load runs are not throttled; each one can be turned on (spec F.2 gives the real values).

use std::sync::Arc;
use std::time::Duration;

use crate::jwt::Claims;

/// How clients authenticate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Auth {
    /// Anything goes (the default).
    #[default]
    Open,
    /// Local development: the API key must be exactly this string; access tokens are not
    /// checked.
    ApiKey(String),
    /// As the real server: the API key and every access token must be an HS256 JWT signed with
    /// this secret, with `role` and an `exp` in the future.
    Jwt {
        /// The signing secret.
        secret: Vec<u8>,
    },
}

/// What a private channel's client may do, as `realtime.messages` policies would say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policies {
    /// Join and receive (`broadcast.read` / `presence.read`).
    pub read: bool,
    /// Broadcast and track (`broadcast.write` / `presence.write`).
    pub write: bool,
}

/// A private channel's join, for the authorization rule.
#[derive(Debug)]
pub struct AuthzRequest<'a> {
    /// The sub-topic (without `realtime:`).
    pub topic: &'a str,
    /// The access token's claims, if the join carried a verified token.
    pub claims: Option<&'a Claims>,
}

/// The rule that decides private channels' policies.
pub type Authorizer = Arc<dyn Fn(&AuthzRequest<'_>) -> Policies + Send + Sync>;

/// Limits and delays of spec F.2; `None` is off.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// Connected sockets at once; more are refused with 429.
    pub max_concurrent_users: Option<usize>,
    /// Broadcasts per second over all sockets and the REST endpoints (presence calls have their
    /// own limit); more close the sending channel with a `system` error "Too many messages per
    /// second" (REST: 429).
    pub max_events_per_second: Option<u32>,
    /// Channels per socket; another join is refused with `ChannelRateLimitReached`.
    pub max_channels_per_client: Option<usize>,
    /// Joins per second per socket; more disconnect the socket (close 1001) after an error
    /// reply `ClientJoinRateLimitReached`.
    pub max_joins_per_second: Option<u32>,
    /// Presence calls per channel in a window; more close the channel with "Client presence
    /// rate limit exceeded".
    pub presence_calls: Option<(u32, Duration)>,
    /// The largest broadcast or track payload, in bytes of JSON; larger ones get an error
    /// reply (and a 413 on REST).
    pub max_payload_bytes: Option<usize>,
    /// The largest WebSocket frame.
    pub max_frame_bytes: Option<usize>,
    /// Delay of every join error reply (5 s on the real server).
    pub join_error_delay: Option<Duration>,
    /// Delay of every refused upgrade (2 s on the real server).
    pub connect_error_delay: Option<Duration>,
    /// Close a socket that sent nothing for this long (60 s on the real server).
    pub idle_timeout: Option<Duration>,
}

/// The server's configuration.
#[derive(Clone)]
pub struct Config {
    /// How clients authenticate.
    pub auth: Auth,
    /// Serve TLS with a generated certificate (see `Server::ca_pem`).
    pub tls: bool,
    /// Private channels' policies (allow everything by default).
    pub authorize: Authorizer,
    /// How often joined channels' tokens are checked again (the real server: every
    /// min(5 min, time to `exp`)); an expired token gets a `system` error and `phx_close`.
    pub token_recheck: Duration,
    /// Time from a join with postgres bindings to its `system` "Subscribed to PostgreSQL".
    pub postgres_ready_delay: Duration,
    /// Limits, all off by default.
    pub limits: Limits,
    /// Told a line for each socket that connects or closes and each join or leave it asks
    /// for (`realtime serve -v` prints them); none by default.
    pub log: Option<Log>,
    /// A plain Phoenix Channels server instead of Supabase Realtime: any topic joins (no
    /// `realtime:` prefix), with any join payload, answered `{}`; every other event a member
    /// pushes is answered with its own payload (an echo) and routed to the topic's other
    /// members under the same event, as a `broadcast_from` would. No Realtime features
    /// (broadcast config, presence, postgres changes) in this mode. Off by default.
    pub phoenix: bool,
    /// Agree to permessage-deflate (RFC 7692) when a client offers it: the client's messages
    /// are inflated and every message to it is compressed (zlib-rs, context takeover unless
    /// the client asks otherwise). Off by default.
    pub deflate: bool,
}

/// Where the server's log lines go.
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

impl Default for Config {
    fn default() -> Self {
        Self {
            auth: Auth::Open,
            tls: false,
            authorize: Arc::new(|_| Policies { read: true, write: true }),
            token_recheck: Duration::from_secs(5 * 60),
            postgres_ready_delay: Duration::ZERO,
            limits: Limits::default(),
            log: None,
            phoenix: false,
            deflate: false,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = match &self.auth {
            Auth::Open => "open",
            Auth::ApiKey(_) => "api key",
            Auth::Jwt { .. } => "jwt",
        };
        f.debug_struct("Config")
            .field("auth", &auth)
            .field("tls", &self.tls)
            .field("token_recheck", &self.token_recheck)
            .field("postgres_ready_delay", &self.postgres_ready_delay)
            .field("limits", &self.limits)
            .field("log", &self.log.is_some())
            .field("phoenix", &self.phoenix)
            .field("deflate", &self.deflate)
            .finish_non_exhaustive()
    }
}
