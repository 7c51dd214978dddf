//! Limits and timeouts of a connection, with their defaults.

use core::time::Duration;

use super::deflate::DeflateConfig;
use super::frame::MAX_CONTROL_PAYLOAD;

/// Default limit on a received frame's payload (16 MiB).
pub const DEFAULT_MAX_FRAME_LEN: u32 = 16 << 20;
/// Default limit on a received message (16 MiB).
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 16 << 20;
/// Default limit on the handshake response header (8 KiB).
pub const DEFAULT_MAX_HANDSHAKE_RESPONSE_LEN: u32 = 8 << 10;
/// Default payload size of the frames a large outgoing message is cut into (64 KiB).
pub const DEFAULT_SEND_FRAME_LEN: u32 = 64 << 10;
/// Default time allowed for the server's handshake response.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time allowed for the close handshake and the server's end of TCP.
pub const DEFAULT_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest close reason that fits a control frame with its 2-byte code.
pub const MAX_CLOSE_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Limits and timeouts of a connection. Lengths are `u32`: a realtime client has no use for
/// single messages of 4 GiB, and 32-bit microcontrollers count in `u32` anyway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Largest payload of one received frame; a larger frame closes with 1009.
    pub max_frame_len: u32,
    /// Largest received message (all fragments); a larger one closes with 1009.
    pub max_message_len: u32,
    /// Largest handshake response header.
    pub max_handshake_response_len: u32,
    /// Outgoing messages longer than this are sent as several frames of this payload size.
    pub send_frame_len: u32,
    /// Time allowed from `start` to a complete handshake response.
    pub handshake_timeout: Duration,
    /// Time allowed for the server's close reply and its end of TCP after a close.
    pub close_timeout: Duration,
    /// permessage-deflate: offered when set (off by default in the core; the std runtimes turn
    /// it on). The allocation-free [`Connection`](super::Connection) negotiates it and passes
    /// compressed payloads on; [`WebSocket`](super::WebSocket) inflates and compresses.
    pub deflate: Option<DeflateConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_message_len: DEFAULT_MAX_MESSAGE_LEN,
            max_handshake_response_len: DEFAULT_MAX_HANDSHAKE_RESPONSE_LEN,
            send_frame_len: DEFAULT_SEND_FRAME_LEN,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            close_timeout: DEFAULT_CLOSE_TIMEOUT,
            deflate: None,
        }
    }
}

impl Config {
    /// Checks that a connection can work with these values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.send_frame_len == 0 {
            return Err(ConfigError::ZeroSendFrameLen);
        }
        if self.max_handshake_response_len < 64 {
            return Err(ConfigError::HandshakeLimitTooSmall);
        }
        if let Some(d) = self.deflate
            && (!d.offer.is_valid() || d.level > super::deflate::MAX_LEVEL)
        {
            return Err(ConfigError::InvalidDeflate);
        }
        Ok(())
    }
}

/// A configuration value the connection cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `send_frame_len` is 0.
    ZeroSendFrameLen,
    /// `max_handshake_response_len` is below 64 bytes, too short for any real response.
    HandshakeLimitTooSmall,
    /// A permessage-deflate window outside 8-15 bits, or a level above 10.
    InvalidDeflate,
    /// A `WebSocket` config that offers permessage-deflate in a build without the codecs (the
    /// core's `deflate` feature).
    DeflateNotBuilt,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::ZeroSendFrameLen => "send_frame_len must be at least 1",
            Self::HandshakeLimitTooSmall => "max_handshake_response_len must be at least 64",
            Self::InvalidDeflate => "permessage-deflate window bits must be 8-15 and the level at most 10",
            Self::DeflateNotBuilt => {
                "permessage-deflate offered, but the core was built without its `deflate` feature"
            }
        })
    }
}

impl core::error::Error for ConfigError {}
