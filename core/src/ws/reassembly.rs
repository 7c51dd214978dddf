//! Whole messages from payload chunks, bounded by the message limit.

use alloc::string::String;
use alloc::vec::Vec;

use super::error::Error;
use super::event::{Data, MessageKind};

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

/// Builds whole messages from [`Data`] chunks, with one allocation per message after warm-up:
/// a message sent as one frame gets a buffer of its exact size at its first chunk (the frame
/// header announced it, and the connection already held it to the limits) and is handed over
/// without a copy; a fragmented message is gathered in a buffer kept between messages and
/// copied out once.
#[derive(Debug)]
pub struct Reassembler {
    /// The message being received as a single frame.
    direct: Vec<u8>,
    /// Gathering buffer of fragmented messages, reused.
    gather: Vec<u8>,
    /// Bytes of the current message so far.
    len: usize,
    max_len: usize,
}

impl Reassembler {
    /// A reassembler that refuses messages longer than `max_message_len`.
    pub fn new(max_message_len: usize) -> Self {
        Self { direct: Vec::new(), gather: Vec::new(), len: 0, max_len: max_message_len }
    }

    /// Adds a chunk; returns the message when `chunk.fin` completes it.
    pub fn push(&mut self, chunk: Data<'_>) -> Result<Option<Message>, Error> {
        let len = self.len + chunk.payload.len();
        if len > self.max_len {
            self.reset();
            return Err(Error::MessageTooLong { len: len as u64, max: self.max_len as u64 });
        }
        let first = self.len == 0 && self.gather.is_empty() && self.direct.capacity() == 0;
        self.len = len;
        if first && chunk.final_frame {
            if chunk.fin {
                self.len = 0;
                return finish(chunk.kind, chunk.payload.to_vec()).map(Some);
            }
            let rest = usize::try_from(chunk.frame_remaining).unwrap_or(usize::MAX);
            self.direct = Vec::with_capacity(chunk.payload.len().saturating_add(rest).min(self.max_len));
        }
        if self.direct.capacity() > 0 {
            self.direct.extend_from_slice(chunk.payload);
        } else {
            self.gather.extend_from_slice(chunk.payload);
        }
        if !chunk.fin {
            return Ok(None);
        }
        self.len = 0;
        let bytes = if self.direct.capacity() > 0 {
            core::mem::take(&mut self.direct)
        } else {
            let whole = self.gather.clone();
            self.gather.clear();
            if self.gather.capacity() > RETAINED_CAPACITY {
                self.gather.shrink_to(RETAINED_CAPACITY);
            }
            whole
        };
        finish(chunk.kind, bytes).map(Some)
    }

    /// The message limit.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Drops a partial message (after the connection failed or closed).
    pub fn reset(&mut self) {
        self.direct = Vec::new();
        self.gather.clear();
        self.len = 0;
    }
}

fn finish(kind: MessageKind, bytes: Vec<u8>) -> Result<Message, Error> {
    Ok(match kind {
        // The connection validated the text as it arrived; a failure here would mean the
        // chunks did not come from a connection, so it is reported, not trusted.
        MessageKind::Text => Message::Text(String::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?),
        MessageKind::Binary => Message::Binary(bytes),
    })
}
