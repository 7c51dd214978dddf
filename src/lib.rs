//! Supabase Realtime client for Rust: broadcast, presence and Postgres changes over the Phoenix
//! Channels protocol.
//!
//! This is the facade users depend on. The protocol lives once, in the sans-IO core
//! ([`realtime_core`], re-exported as [`core`](mod@core)): the RFC 6455 WebSocket client and the
//! Realtime state machine ([`Client`]), with no IO, no clock and no threads. Runtimes drive it;
//! pick one by feature.
//!
//! # Picking a runtime
//!
//! | `Cargo.toml` | what you get |
//! |---|---|
//! | `realtime-client = "0.1"` | the tokio client ([`RealtimeClient`], [`tokio`](mod@tokio)): TCP, TLS (rustls), proxies, async streams |
//! | `realtime-client = { version = "0.1", default-features = false, features = ["std"] }` | the core with std conveniences, for your own runtime |
//! | `realtime-client = { version = "0.1", default-features = false, features = ["embassy"] }` | the client on a microcontroller (`embassy`): embassy-net, embassy-time, `no_std` |
//! | `realtime-client = { version = "0.1", default-features = false, features = ["wasm"] }` | the client in the browser (`wasm`): the browser's WebSocket, timers and `fetch` |
//! | `realtime-client = { version = "0.1", default-features = false }` | the `no_std` core (with `alloc`) for microcontrollers and other runtimes |
//!
//! Features:
//! - `tokio` (default): the tokio runtime, [`realtime_tokio`], as [`tokio`](mod@tokio), with its
//!   client types at the top level. Turns on `std`.
//! - `smol`: the smol runtime, `realtime-smol`, as `smol` (the same client types on async-io).
//! - `embassy`: the embassy runtime, `realtime-embassy`, as `embassy` (`no_std`: embassy-net,
//!   embassy-time, the chip's RNG); `embassy-tls` adds TLS by embedded-tls.
//! - `wasm`: the browser runtime, `realtime-wasm`, as `wasm` (WebAssembly: the browser's
//!   WebSocket, `setTimeout`, `crypto.getRandomValues`, `fetch`; no tokio).
//! - `std` (default): the core's std conveniences (runtime SIMD detection for UTF-8 checks).
//!
//! Without `tokio`, drive [`Client`] yourself: feed it bytes and the time, write what it
//! gives; `core/examples/realtime.rs` in the repository is a complete blocking loop.
//!
//! # With tokio
//!
//! ```no_run
//! # #[cfg(feature = "tokio")]
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::collections::HashMap;
//! use realtime_client::{ChannelConfig, Config, RealtimeClient};
//!
//! let client = RealtimeClient::new(Config::new("https://<ref>.supabase.co/realtime/v1", "<anon key>"))?;
//! let room = client.channel("room1", ChannelConfig::new().presence_key("ana")).await?;
//! let mut messages = room.on_broadcast("message").await;
//! room.subscribe().await?;
//! room.track(&HashMap::from([("status", "online")])).await?;
//! room.send("message", &HashMap::from([("text", "hi")])).await?;
//! while let Some(Ok(m)) = messages.recv().await {
//!     println!("{}: {:?}", m.event, m.payload);
//! }
//! # Ok(()) }
//! # fn main() {}
//! ```
//!
//! Runnable examples, each against a local Realtime server started in-process (no internet
//! needed) or a real project with `REALTIME_URL` and `REALTIME_API_KEY` set:
//! - `runtime-tokio/examples/chat.rs` (`cargo run -p realtime-tokio --example chat`): users
//!   join a room, track presence, exchange messages, and one leaves;
//! - `runtime-tokio/examples/postgres_changes.rs` (`cargo run -p realtime-tokio --example
//!   postgres_changes`): bindings with a typed filter, and row changes printed through the
//!   lossless column converter.
#![no_std]
#![forbid(unsafe_code)]

pub use realtime_core as core;
pub use realtime_core::client::{ChannelStatus, Client, ClientConfig, ConnectionState, Event, PushOutcome};
pub use realtime_core::phoenix::presence::{Presence, PresenceEvent};
pub use realtime_core::supabase::channel_config::ChannelConfig;
pub use realtime_core::supabase::postgres::{Binding, Change, ChangeEvent, Filter};
pub use realtime_core::{Instant, Rng, client, phoenix, supabase, ws};

/// The async client written once, for every runtime ([`realtime_driver`]): implement its
/// `Runtime` trait to run the client on an executor of your own.
pub use realtime_driver as driver;

/// The embassy runtime ([`realtime_embassy`]): the same client on a microcontroller.
#[cfg(feature = "embassy")]
pub use realtime_embassy as embassy;

/// The smol runtime ([`realtime_smol`]): the same client on async-io.
#[cfg(feature = "smol")]
pub use realtime_smol as smol;

/// The browser runtime ([`realtime_wasm`]): the same client in WebAssembly.
#[cfg(feature = "wasm")]
pub use realtime_wasm as wasm;

/// The tokio runtime ([`realtime_tokio`]).
#[cfg(feature = "tokio")]
pub use realtime_tokio as tokio;
#[cfg(feature = "tokio")]
pub use realtime_tokio::{
    Broadcast, Channel, ClientEvent, Config, ConnectionError, Error, Lagged, LeaveOutcome, Payload, Proxy,
    RealtimeClient, Receiver, Roots, TokenSource,
};
