//! What Supabase Realtime adds to Phoenix Channels (needs `alloc`).
//!
//! - [`channel_config`]: a Realtime channel's configuration (broadcast, presence, postgres
//!   changes, private) and its join payload.
//! - [`ending`]: what the server's refusals and closes of a connection mean (design.md's
//!   connection-endings table).
//! - [`postgres`]: Postgres Changes: bindings and their filter, id pairing, row changes and the
//!   lossless column converter.
//! - [`reason`]: what the server's refusals mean (a class and an action per reason).
//! - [`rest`]: the REST broadcast endpoints as sans-IO requests.
//! - [`token`]: access tokens and API keys as secrets (redacted in `Debug`; a JWT's `exp`).
//!
//! Nothing in [`phoenix`](crate::phoenix) uses this module: the generic layer stands alone, and
//! the [`client`](crate::client) composes the two.

pub mod channel_config;
pub mod ending;
pub mod postgres;
pub mod reason;
pub mod rest;
pub mod token;
