//! Harness functions shared by the cargo-fuzz targets in `fuzz/` and the replay tests, so both
//! exercise exactly the same code. Unstable API behind the `_fuzzing` feature.
//!
//! Each harness takes arbitrary bytes, never panics on bad input, and panics on a broken
//! property (a bug): a round trip that does not return what was encoded, an output larger than
//! its bound, or a different result for the same input split differently.

mod ws;
pub use ws::{ws_client, ws_handshake, ws_mask};
#[cfg(feature = "alloc")]
pub use ws::{ws_connection, ws_deflate, ws_frame_decoder, ws_handshake_response};

#[cfg(feature = "alloc")]
mod phoenix;
#[cfg(feature = "alloc")]
pub use phoenix::{phoenix_binary, phoenix_decode, phoenix_round_trip, phoenix_text_v1, phoenix_text_v2};

#[cfg(feature = "alloc")]
mod rest;
#[cfg(feature = "alloc")]
pub use rest::rest_response;

#[cfg(feature = "alloc")]
mod postgres;
#[cfg(feature = "alloc")]
pub use postgres::{postgres_change, postgres_convert};

#[cfg(feature = "alloc")]
mod filter;
#[cfg(feature = "alloc")]
pub use filter::filter_builder;

#[cfg(feature = "alloc")]
pub mod sim;

#[cfg(feature = "alloc")]
mod client;
#[cfg(feature = "alloc")]
pub use client::{phoenix_client, realtime_client};

/// A harness: arbitrary bytes in, a panic only on a broken property.
pub type Harness = fn(&[u8]);

/// Every harness by its fuzz target's name, so the corpus replay can run each committed corpus
/// through the same function its target runs.
#[cfg(feature = "alloc")]
pub const TARGETS: &[(&str, Harness)] = &[
    ("ws_client", ws_client),
    ("ws_handshake", ws_handshake),
    ("ws_handshake_response", ws_handshake_response),
    ("ws_frame_decoder", ws_frame_decoder),
    ("ws_connection", ws_connection),
    ("ws_deflate", ws_deflate),
    ("ws_mask", ws_mask),
    ("phoenix_decode", phoenix_decode),
    ("phoenix_text_v1", phoenix_text_v1),
    ("phoenix_text_v2", phoenix_text_v2),
    ("phoenix_binary", phoenix_binary),
    ("phoenix_round_trip", phoenix_round_trip),
    ("phoenix_client", phoenix_client),
    ("realtime_client", realtime_client),
    ("rest_response", rest_response),
    ("postgres_change", postgres_change),
    ("postgres_convert", postgres_convert),
    ("filter_builder", filter_builder),
];

/// Split points of an input of `len` bytes for the chunking property: cut lengths from a small
/// generator seeded by `seed`, so one input covers whole, byte-by-byte and uneven splits.
#[cfg(feature = "alloc")]
fn pieces(seed: u8, len: usize) -> impl Iterator<Item = usize> {
    let mut state = u32::from(seed) | 1;
    let mut at = 0usize;
    core::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let cut = match seed % 4 {
            0 => 1,
            _ => (state >> 16) as usize % (usize::from(seed % 16) + 2) + 1,
        };
        let end = (at + cut).min(len);
        let piece = end - at;
        at = end;
        Some(piece)
    })
}
