//! permessage-deflate (RFC 7692): compressed messages, negotiated in the handshake.
//!
//! The allocation-free [`Connection`](super::Connection) does the parts that need no memory: it
//! writes the [`Offer`] into the upgrade request, holds the server's answer to it
//! ([`negotiate`]), accepts RSV1 on the first frame of a data message once the extension is on
//! (and refuses it on control frames and continuations, RFC 7692 section 6.1), and reports
//! compressed payloads as they come (`Data::compressed`) without checking their UTF-8 (that
//! waits for the inflated text). The allocating layer, [`WebSocket`](super::WebSocket), inflates
//! with an [`Inflater`] bounded by `max_message_len` as it inflates, checks the text, and
//! compresses outgoing messages from [`DeflateConfig::compress_min_len`] up with a
//! [`Deflater`]. Both codecs are miniz_oxide's, which runs without `std` (feature `deflate`,
//! on with `std`).
//!
//! # Memory per connection
//! Measured by `core/tests/it/deflate.rs::memory_per_connection` (miniz_oxide 0.9 on x86_64):
//!
//! | what the connection holds                                  | kept      | peak      |
//! |------------------------------------------------------------|-----------|-----------|
//! | inflater only (nothing sent compressed yet, or `compress_min_len: None`) | 58.6 KiB | 68.5 KiB |
//! | inflater and compressor                                    | 370.4 KiB | 382.4 KiB |
//!
//! The inflater holds its 32 KiB window and tables (42.3 KiB) whatever the server's window
//! bits, and a 16 KiB buffer that short messages are inflated in and copied out of; the
//! compressor (miniz_oxide's window, hash chains and buffers) is made at the first message of
//! at least `compress_min_len` bytes. Both are kept for the connection's life and reset after
//! each message where no context takeover was agreed (so the figures are the same either way,
//! and no message pays for an allocation); the peak adds a message being inflated. Window bits
//! change the server's memory, not this client's: miniz_oxide's codecs are fixed at 32 KiB.

mod negotiate;
pub use negotiate::{NegotiationError, Offer, Params, negotiate};

#[cfg(feature = "deflate")]
mod codec;
#[cfg(feature = "deflate")]
pub use codec::{Deflater, InflateError, Inflater};

/// The extension's name in `Sec-WebSocket-Extensions`.
pub const EXTENSION_NAME: &str = "permessage-deflate";
/// Smallest LZ77 window a peer may ask for (RFC 7692 section 7.1.2: 8 to 15 bits).
pub const MIN_WINDOW_BITS: u8 = 8;
/// Largest LZ77 window (32 KiB), what a peer uses when nothing limits it.
pub const MAX_WINDOW_BITS: u8 = 15;
/// The four bytes a sync flush ends with, left off each compressed message on the wire and put
/// back before inflating (RFC 7692 section 7.2.1).
pub const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Default [`DeflateConfig::compress_min_len`] (1 KiB, as Node's `ws`): shorter messages go as
/// they are. Heartbeats, joins and most broadcasts are shorter, so a client that sends only
/// those never makes a compressor (about 312 KiB with miniz_oxide).
pub const DEFAULT_COMPRESS_MIN_LEN: u32 = 1024;
/// Highest compression level (miniz_oxide's scale).
pub const MAX_LEVEL: u8 = 10;
/// Default compression level (miniz_oxide's scale, 0-10): level 1 compresses repetitive JSON
/// 4-10x at a fraction of level 6's CPU.
pub const DEFAULT_LEVEL: u8 = 1;

/// permessage-deflate settings of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeflateConfig {
    /// What the upgrade request offers.
    pub offer: Offer,
    /// Outgoing messages of at least this many bytes are compressed; `None` compresses nothing
    /// (the connection still takes compressed messages, and keeps no compressor).
    pub compress_min_len: Option<u32>,
    /// Compression level, 0 (stored) to 10 (miniz_oxide's scale; 1 fastest).
    pub level: u8,
}

impl Default for DeflateConfig {
    fn default() -> Self {
        Self {
            offer: Offer::default(),
            compress_min_len: Some(DEFAULT_COMPRESS_MIN_LEN),
            level: DEFAULT_LEVEL,
        }
    }
}
