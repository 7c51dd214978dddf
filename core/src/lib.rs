//! Sans-IO core of the Supabase Realtime client.
//!
//! This crate is a pure state machine: it never touches a socket, never reads a clock and has no
//! entropy source of its own. The runtime passes bytes and the current [`Instant`] in, and takes
//! bytes to send, the next deadline and events out. The same core therefore runs under tokio,
//! smol, embassy on a microcontroller, or a deterministic test simulation.
//!
//! # Layers
//!
//! - [`ws`]: RFC 6455 WebSocket client (handshake, framing, close handshake, pings). It needs no
//!   allocator: payload is handed out as borrowed chunks. With the `alloc` feature,
//!   [`ws::Reassembler`] builds whole messages and [`ws::WebSocket`] owns a send queue.
//! - `phoenix` (with `alloc`): the Phoenix Channels protocol of Supabase Realtime: serializers,
//!   the zero-copy [`Message`](phoenix::message::Message), and [`Client`](client::Client),
//!   the socket and channel state machine the runtimes drive.
//!
//! # Run loop
//!
//! After any `handle_*` call or command, drain the outputs in this order: `poll_transport` (the
//! client's open/close requests), `poll_transmit` until it returns 0, then events, then
//! `poll_timeout` (transmitting can move the deadline).
//!
//! # Panics
//!
//! Nothing the network sends can panic this crate: every bad input ends as a typed error and,
//! where the protocol says so, a close frame with the right code. A panic is a bug.
//!
//! # Features
//!
//! - `alloc` (default): owned messages, the reassembler and the message-level client.
//! - `std`: implies `alloc` and `deflate`; runtime CPU feature detection for UTF-8 validation.
//! - `deflate`: implies `alloc`; permessage-deflate's codecs (miniz_oxide) in `ws::WebSocket`.
//! - `simd`: implies `std`; masking with AVX2 where the CPU has it (x86_64, detected at run
//!   time), the crate's one `unsafe` call (`ws::mask`, see ARCHITECTURE.md).
#![no_std]
// No `unsafe` in the core; with `simd`, one allowed call in `ws::mask::avx2` (and nothing
// else: `deny` everywhere, `forbid` without the feature).
#![cfg_attr(not(feature = "simd"), forbid(unsafe_code))]
#![cfg_attr(feature = "simd", deny(unsafe_code))]
// The core reaches only for `core` and `alloc`; std code elsewhere (tests, runtimes) may use std.
#![warn(clippy::std_instead_of_core, clippy::alloc_instead_of_core)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
pub mod client;
mod decimal;
#[cfg(feature = "_fuzzing")]
pub mod fuzzing;
#[cfg(feature = "alloc")]
pub mod phoenix;
pub mod rng;
#[cfg(feature = "alloc")]
pub mod supabase;
pub mod time;
pub mod ws;

pub use rng::Rng;
pub use time::Instant;
