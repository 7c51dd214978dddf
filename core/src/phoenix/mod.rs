//! The Phoenix Channels protocol, generic: nothing here knows Supabase (needs `alloc`).
//!
//! Any Phoenix server speaks it (an Elixir chat, a LiveView backend); Supabase Realtime is one of
//! them, and [`supabase`](crate::supabase) holds what it adds.
//!
//! - [`backoff`]: reconnect and rejoin schedules.
//! - [`endpoint`]: the socket URL and the default `X-Client-Info`.
//! - [`ending`]: what the socket does when a connection ends (design.md's table).
//! - [`heartbeat`]: the heartbeat sub-machine (interval, reply deadline, latency).
//! - [`message`]: a server message, decoded in place (it owns its frame and points into it).
//! - [`presence`]: presence state as phoenix.js keeps it (`presence_state` / `presence_diff`,
//!   pending diffs).
//! - [`proxy`]: HTTP CONNECT proxies: which one a target uses (`NO_PROXY`) and the tunnel
//!   handshake.
//! - [`target`]: where a transport connects (host, port, TLS, path), parsed from a URL.
//! - [`serializer`]: the wire formats: vsn 1.0.0 JSON objects, vsn 2.0.0 JSON arrays, and the
//!   binary frames (kinds 0-4). Payloads stay raw JSON text or raw bytes; nothing is re-encoded
//!   on the way through.

pub mod backoff;
pub mod ending;
pub mod endpoint;
pub mod heartbeat;
pub mod message;
pub mod presence;
pub mod proxy;
pub mod serializer;
pub mod target;
