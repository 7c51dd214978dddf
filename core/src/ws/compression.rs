//! permessage-deflate's codecs on an open `WebSocket` (feature `deflate`): the inflater, the
//! compressor made at the first message long enough, and the threshold. Without the feature
//! `Compression` has no values, so the `WebSocket` code around it is the same either way.

#[cfg(feature = "deflate")]
pub(super) use with_codecs::Compression;
#[cfg(not(feature = "deflate"))]
pub(super) use without::Compression;

#[cfg(feature = "deflate")]
mod with_codecs {
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::super::deflate::{DeflateConfig, Deflater, InflateError, Inflater, MAX_WINDOW_BITS, Params};
    use super::super::error::{Error, ProtocolError};
    use super::super::event::{Data, MessageKind};
    use super::super::reassembly::Message;

    /// permessage-deflate's codecs on an open connection.
    #[derive(Debug)]
    pub(in crate::ws) struct Compression {
        inflater: Inflater,
        /// Made at the first message long enough to compress: a client that sends only short
        /// messages never holds one (it is most of the memory).
        deflater: Option<Deflater>,
        params: Params,
        level: u8,
        /// Messages this long or longer are compressed (`usize::MAX`: none are).
        min_len: usize,
    }

    impl Compression {
        pub(in crate::ws) fn new(
            params: &Params,
            config: &DeflateConfig,
            max_message_len: usize,
        ) -> Option<Self> {
            // Nothing is compressed without a threshold, or under a window smaller than what
            // miniz_oxide keeps to (see `Deflater::new`).
            let window_ok = params.client_max_window_bits == MAX_WINDOW_BITS;
            let min_len = match config.compress_min_len {
                Some(n) if window_ok => n as usize,
                _ => usize::MAX,
            };
            Some(Self {
                inflater: Inflater::new(params, max_message_len),
                deflater: None,
                params: *params,
                level: config.level,
                min_len,
            })
        }

        /// The message compressed, when it is long enough to be.
        pub(in crate::ws) fn compress(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
            // Past half of `u32::MAX` the compressed length might not fit the connection's
            // `u32` lengths, and a message refused after compressing would put the peer's
            // window out of step: such a message goes as it is.
            if payload.len() < self.min_len || payload.len() > (u32::MAX / 2) as usize {
                return None;
            }
            if self.deflater.is_none() {
                self.deflater = Deflater::new(&self.params, self.level);
            }
            let mut out = Vec::new();
            self.deflater.as_mut()?.compress(payload, &mut out);
            Some(out)
        }

        /// Inflates a chunk of a compressed message; the message once `fin` ends it.
        pub(in crate::ws) fn inflate(&mut self, d: Data<'_>) -> Result<Option<Message>, Error> {
            let too_large = |e| match e {
                InflateError::TooLarge { max } => Error::MessageTooLong { len: max + 1, max },
                _ => Error::Protocol(ProtocolError::BadCompressedData),
            };
            self.inflater.feed(d.payload).map_err(too_large)?;
            if !d.fin {
                return Ok(None);
            }
            let bytes = self.inflater.finish().map_err(too_large)?;
            Ok(Some(match d.kind {
                MessageKind::Text => Message::Text(String::from_utf8(bytes).map_err(|_| Error::InvalidUtf8)?),
                MessageKind::Binary => Message::Binary(bytes),
            }))
        }

        pub(in crate::ws) fn reset(&mut self) {
            self.inflater.reset();
        }
    }
}

#[cfg(not(feature = "deflate"))]
mod without {
    use alloc::vec::Vec;

    use super::super::deflate::{DeflateConfig, Params};
    use super::super::error::Error;
    use super::super::event::Data;
    use super::super::reassembly::Message;

    /// No codecs in this build: never made (`WebSocket` refuses a config that offers deflate).
    #[derive(Debug)]
    pub(in crate::ws) enum Compression {}

    impl Compression {
        pub(in crate::ws) fn new(_: &Params, _: &DeflateConfig, _: usize) -> Option<Self> {
            None
        }

        pub(in crate::ws) fn compress(&mut self, _: &[u8]) -> Option<Vec<u8>> {
            match *self {}
        }

        pub(in crate::ws) fn inflate(&mut self, _: Data<'_>) -> Result<Option<Message>, Error> {
            match *self {}
        }

        pub(in crate::ws) fn reset(&mut self) {
            match *self {}
        }
    }
}
