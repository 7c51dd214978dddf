//! The inflater and the deflater of messages, on miniz_oxide (no `std`).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use miniz_oxide::deflate::core::{CompressionStrategy, CompressorOxide};
use miniz_oxide::inflate::stream::{InflateState, MinReset};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

use super::{Params, SYNC_TAIL};

/// How far the inflated message grows at a time (at least; half its length once longer),
/// never past the limit: a compressed frame does not reserve its worst case up front, and a
/// bomb stops with at most `max_message_len` + 1 bytes taken (or the kept buffer's 16 KiB,
/// under a smaller limit).
const GROW_STEP: usize = 16 << 10;
/// A message up to this long is copied out of the inflater's buffer, which it keeps for the
/// next; a longer one takes the buffer with it (so one big message does not pin its size).
const RETAINED: usize = GROW_STEP;

/// Why a compressed message could not be inflated. A message both too large and corrupt is
/// reported as whichever the inflater meets first, which can depend on how much of it arrives
/// at once (miniz_oxide decodes ahead of what it hands out); either ends the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InflateError {
    /// It inflates past the message limit (the connection closes with 1009). Found as it
    /// inflates: the memory past the limit is never taken.
    TooLarge {
        /// The limit (`max_message_len`).
        max: u64,
    },
    /// Not valid DEFLATE data (the connection closes with 1002).
    Corrupt,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { max } => write!(f, "compressed message inflates past the limit of {max} bytes"),
            Self::Corrupt => f.write_str("compressed message is not valid deflate data"),
        }
    }
}

impl core::error::Error for InflateError {}

/// Inflates the server's messages one after another, keeping the LZ77 window between them
/// unless the server agreed to `server_no_context_takeover`.
///
/// A server that agreed to no context takeover and still refers back past the start of a
/// message is not caught: miniz_oxide reads its stale window there (C zlib would fail with
/// "invalid distance too far back"), so such a message inflates to wrong bytes, not an error.
pub struct Inflater {
    state: Box<InflateState>,
    /// Start each message afresh.
    reset_each_message: bool,
    max_len: usize,
    /// The buffer the current message inflates into: zeroed up to its length once, when it
    /// grows, so small reads of a large message do not zero it again.
    out: Vec<u8>,
    /// Bytes of `out` that are the message so far.
    written: usize,
    /// The stream ended inside this message (a final block): the rest of it is not inflated.
    ended: bool,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("reset_each_message", &self.reset_each_message)
            .field("max_len", &self.max_len)
            .field("inflated", &self.written)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for what `params` agreed, refusing messages that inflate past `max_len`.
    pub fn new(params: &Params, max_len: usize) -> Self {
        Self {
            state: InflateState::new_boxed(DataFormat::Raw),
            reset_each_message: params.server_no_context_takeover,
            max_len,
            out: Vec::new(),
            written: 0,
            ended: false,
        }
    }

    /// Bytes of the current message inflated so far.
    pub fn inflated_len(&self) -> usize {
        self.written
    }

    /// Inflates a piece of the current message's compressed payload onto what came before.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), InflateError> {
        self.run(piece)
    }

    /// Ends the current message: puts the sync tail back, inflates what it releases and hands
    /// over the whole message, its capacity its length.
    pub fn finish(&mut self) -> Result<Vec<u8>, InflateError> {
        self.run(&SYNC_TAIL)?;
        let message = if self.out.capacity() <= RETAINED {
            // Copied out: the buffer stays for the next message.
            self.out[..self.written].to_vec()
        } else {
            let mut whole = core::mem::take(&mut self.out);
            whole.truncate(self.written);
            whole.shrink_to_fit();
            whole
        };
        self.written = 0;
        if self.reset_each_message || self.ended {
            // A final block ends the stream: the next message starts a new one.
            self.state.reset_as(MinReset);
        }
        self.ended = false;
        Ok(message)
    }

    /// Drops the current message (the connection failed or closed); the window is no longer
    /// trustworthy either.
    pub fn reset(&mut self) {
        self.out = Vec::new();
        self.written = 0;
        self.ended = false;
        self.state.reset_as(MinReset);
    }

    fn too_large(&mut self) -> InflateError {
        self.reset();
        InflateError::TooLarge { max: self.max_len as u64 }
    }

    fn run(&mut self, mut input: &[u8]) -> Result<(), InflateError> {
        // One byte past the limit is room enough to tell a message that is too large.
        let limit = self.max_len.saturating_add(1);
        while !self.ended {
            if self.written > self.max_len {
                return Err(self.too_large());
            }
            if self.written == self.out.len() {
                let grow = GROW_STEP.max(self.out.len() / 2).min(limit.saturating_sub(self.out.len()));
                if grow == 0 {
                    return Err(self.too_large());
                }
                self.out.reserve_exact(grow);
                self.out.resize(self.out.len() + grow, 0);
            }
            let room = self.out.len() - self.written;
            let r = miniz_oxide::inflate::stream::inflate(
                &mut self.state,
                input,
                &mut self.out[self.written..],
                MZFlush::None,
            );
            self.written += r.bytes_written;
            input = &input[r.bytes_consumed..];
            match r.status {
                Ok(MZStatus::StreamEnd) => self.ended = true,
                // `Buf`: no progress possible until more input comes.
                Ok(_) | Err(MZError::Buf) => {}
                Err(_) => {
                    self.reset();
                    return Err(InflateError::Corrupt);
                }
            }
            let stalled = r.bytes_consumed == 0 && r.bytes_written == 0;
            if (input.is_empty() && r.bytes_written < room) || stalled {
                // Everything it had is out (the output was not filled), or it cannot move.
                break;
            }
        }
        if self.written > self.max_len {
            return Err(self.too_large());
        }
        Ok(())
    }
}

/// Compresses this client's messages, keeping the window between them unless
/// `client_no_context_takeover` was agreed.
pub struct Deflater {
    state: Box<CompressorOxide>,
    reset_each_message: bool,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("reset_each_message", &self.reset_each_message)
            .finish_non_exhaustive()
    }
}

impl Deflater {
    /// A compressor for what `params` agreed, at `level` (0-10); `None` when the agreed
    /// client window is under 15 bits. miniz_oxide's compressor searches a 32 KiB window and
    /// does not keep to a smaller one (C zlib with a 9-bit window refuses its output: "invalid
    /// distance too far back"), so a client held to less sends uncompressed, which RFC 7692
    /// allows (a sender never has to compress).
    pub fn new(params: &Params, level: u8) -> Option<Self> {
        if params.client_max_window_bits < super::MAX_WINDOW_BITS {
            return None;
        }
        let state = Box::new(CompressorOxide::with_params(
            DataFormat::Raw,
            level,
            CompressionStrategy::Default,
            super::MAX_WINDOW_BITS,
        ));
        Some(Self { state, reset_each_message: params.client_no_context_takeover })
    }

    /// Compresses one whole message into `out` (cleared first): DEFLATE blocks ending in a
    /// sync flush, its four-byte tail left off, as the frame payload goes on the wire.
    pub fn compress(&mut self, message: &[u8], out: &mut Vec<u8>) {
        out.clear();
        // Stored blocks bound the output: 5 bytes per 16 KiB block, the flush's empty block.
        let bound = message.len() + 5 * (message.len() / (16 << 10) + 2) + 16;
        let mut input = message;
        loop {
            let len = out.len();
            let room = if len == 0 { bound } else { bound.max(64) };
            out.resize(len + room, 0);
            let r =
                miniz_oxide::deflate::stream::deflate(&mut self.state, input, &mut out[len..], MZFlush::Sync);
            out.truncate(len + r.bytes_written);
            input = &input[r.bytes_consumed..];
            // The output was not filled: the flush is complete.
            if r.status.is_err() || (input.is_empty() && r.bytes_written < room) {
                break;
            }
        }
        if out.ends_with(&SYNC_TAIL) {
            out.truncate(out.len() - SYNC_TAIL.len());
        }
        // It was sized for the worst case; what stays queued is what goes out.
        out.shrink_to_fit();
        if self.reset_each_message {
            self.state.reset();
        }
    }
}
