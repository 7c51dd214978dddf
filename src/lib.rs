//! Supabase Realtime client for Rust.
//!
//! This is the facade users depend on. Today it re-exports the sans-IO core
//! ([`realtime_core`]): the RFC 6455 WebSocket client that the Realtime protocol layer and the
//! runtime adapters (tokio, smol, embassy) build on. Runtimes are picked by feature as they
//! land.
#![no_std]
#![forbid(unsafe_code)]

pub use realtime_core as core;
pub use realtime_core::{Instant, Rng, ws};
