//! A local Supabase Realtime server for tests and demos.
//!
//! It speaks the Realtime protocol the way the hosted server does (vsn 1.0.0 and 2.0.0,
//! binary user broadcasts, presence as Phoenix.Presence keeps it, postgres changes with the
//! filter grammar, the REST broadcast endpoints, API-key or JWT auth, private channels), over
//! real TCP (and TLS with a generated certificate), with fault injection for tests. It is
//! deliberately independent of the client crates: its WebSocket side is tokio-tungstenite and
//! its message handling is its own, so one bug cannot hide on both sides.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use realtime_testkit::{Config, Server};
//! let server = Server::start(Config::default()).await?;
//! println!("{}", server.url()); // ws://127.0.0.1:<port>/realtime/v1
//! # Ok(()) }
//! ```
//!
//! Modules: [`wire`] (the serializers), [`jwt`] (HS256 tokens), [`postgres`] (bindings,
//! filters, row changes), [`presence`] (the tracker), `hub` (shared state), `http` (requests,
//! REST and test control) and `server` (the listener and the socket tasks).

pub mod config;
mod deflate;
mod http;
mod hub;
pub mod jwt;
pub mod peer;
pub mod postgres;
pub mod presence;
mod server;
pub mod wire;

pub use config::{Auth, Authorizer, AuthzRequest, Config, Limits, Log, Policies};
pub use hub::{JoinFault, Observed};
pub use postgres::RowChange;
pub use server::{Server, row_change};
