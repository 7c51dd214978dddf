//! The Phoenix Channels protocol as Supabase Realtime speaks it (needs `alloc`).
//!
//! - [`backoff`]: reconnect and rejoin schedules.
//! - [`channel_config`]: a channel's configuration and its join payload.
//! - [`client`]: the client state machine: socket, channels, pushes.
//! - [`endpoint`]: the socket URL and the default `X-Client-Info`.
//! - [`ending`]: what the socket does when a connection ends (design.md's table).
//! - [`heartbeat`]: the heartbeat sub-machine (interval, reply deadline, latency).
//! - [`message`]: a server message, decoded in place (it owns its frame and points into it).
//! - [`postgres`]: Postgres Changes: bindings and their filter, id pairing, row changes and the
//!   lossless column converter.
//! - [`presence`]: presence state (`presence_state` / `presence_diff`, pending diffs).
//! - [`proxy`]: HTTP CONNECT proxies: which one a target uses (`NO_PROXY`) and the tunnel
//!   handshake.
//! - [`reason`]: what the server's refusals mean (a class and an action per reason).
//! - [`rest`]: the REST broadcast endpoints as sans-IO requests.
//! - [`target`]: where a transport connects (host, port, TLS, path), parsed from a URL.
//! - [`token`]: access tokens and API keys as secrets (redacted in `Debug`; a JWT's `exp`).
//! - [`serializer`]: the wire formats: vsn 1.0.0 JSON objects, vsn 2.0.0 JSON arrays, and the
//!   binary frames (kinds 0-4). Payloads stay raw JSON text or raw bytes; nothing is re-encoded
//!   on the way through.

pub mod backoff;
pub mod channel_config;
pub mod client;
pub mod ending;
pub mod endpoint;
pub mod heartbeat;
pub mod message;
pub mod postgres;
pub mod presence;
pub mod proxy;
pub mod reason;
pub mod rest;
pub mod serializer;
pub mod target;
pub mod token;
