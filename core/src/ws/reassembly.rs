//! Whole messages from payload chunks, bounded by the message limit.

use alloc::string::String;
use alloc::vec::Vec;

use super::connection::{Data, MessageKind};
use super::error::Error;

/// Capacity the reassembly buffer keeps between messages; after a larger message it shrinks
/// back, so one big message does not pin its size for the connection's life.
const RETAINED_CAPACITY: usize = 64 << 10;

/// A complete received message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The payload bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Text(s) => s.as_bytes(),
            Self::Binary(b) => b,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> MessageKind {
        match self {
            Self::Text(_) => MessageKind::Text,
            Self::Binary(_) => MessageKind::Binary,
        }
    }
}

/// Builds whole messages from [`Data`] chunks. A message that arrives in one chunk costs one
/// allocation (its payload); a longer one is gathered in a buffer kept between messages and
/// copied out once, so after warm-up every message costs exactly one allocation.
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    max_len: usize,
}

impl Reassembler {
    /// A reassembler that refuses messages longer than `max_message_len`.
    pub fn new(max_message_len: usize) -> Self {
        Self { buf: Vec::new(), max_len: max_message_len }
    }

    /// Adds a chunk; returns the message when `chunk.fin` completes it.
    pub fn push(&mut self, chunk: Data<'_>) -> Result<Option<Message>, Error> {
        let len = self.buf.len() + chunk.payload.len();
        if len > self.max_len {
            self.buf.clear();
            return Err(Error::MessageTooLong { len: len as u64, max: self.max_len as u64 });
        }
        if !chunk.fin {
            self.buf.extend_from_slice(chunk.payload);
            return Ok(None);
        }
        let bytes = if self.buf.is_empty() {
            chunk.payload.to_vec()
        } else {
            let mut whole = Vec::with_capacity(len);
            whole.extend_from_slice(&self.buf);
            whole.extend_from_slice(chunk.payload);
            self.buf.clear();
            if self.buf.capacity() > RETAINED_CAPACITY {
                self.buf.shrink_to(RETAINED_CAPACITY);
            }
            whole
        };
        Ok(Some(match chunk.kind {
            // The connection validated the text as it arrived; a failure here would mean the
            // chunks did not come from a connection, so it is reported, not trusted.
            MessageKind::Text => Message::Text(String::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?),
            MessageKind::Binary => Message::Binary(bytes),
        }))
    }

    /// Drops a partial message (after the connection failed or closed).
    pub fn reset(&mut self) {
        self.buf.clear();
    }
}
