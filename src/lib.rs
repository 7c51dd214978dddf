//! Supabase Realtime client for Rust.
//!
//! This is the facade users depend on. Today it re-exports the sans-IO core
//! ([`realtime_core`]): the RFC 6455 WebSocket client and the Realtime protocol state machine
//! ([`Client`]) that the runtime adapters (tokio, smol, embassy) drive. Runtimes are picked by
//! feature as they land.
#![no_std]
#![forbid(unsafe_code)]

pub use realtime_core as core;
pub use realtime_core::phoenix::channel_config::ChannelConfig;
pub use realtime_core::phoenix::client::{Client, ClientConfig, Event};
pub use realtime_core::phoenix::postgres::{Binding, ChangeEvent, Filter};
pub use realtime_core::{Instant, Rng, phoenix, ws};
