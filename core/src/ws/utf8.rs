//! Streaming UTF-8 validation across chunks and fragments.
//!
//! Text payload reaches the application in chunks, and a code point may straddle two chunks or
//! two frames. [`Utf8Validator`] keeps at most three bytes of an unfinished code point and fails
//! at the chunk that holds the first invalid byte, not at the end of the message (RFC 6455
//! section 8.1 lets an endpoint fail fast; conformance suites count late failure as non-strict).
//! A word-wise ASCII check runs first: small Phoenix messages are mostly ASCII JSON, and it is
//! cheaper than a call into the SIMD validator for them.

/// The payload is not valid UTF-8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Utf8Error;

impl core::fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("invalid utf-8 in a text message")
    }
}

impl core::error::Error for Utf8Error {}

/// Incremental UTF-8 validator state: an unfinished code point carried between chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Utf8Validator {
    carry: [u8; 3],
    carry_len: u8,
}

impl Utf8Validator {
    /// A validator at the start of a message.
    pub const fn new() -> Self {
        Self { carry: [0; 3], carry_len: 0 }
    }

    /// Validates the next chunk. Fails as soon as the bytes seen so far cannot start valid
    /// UTF-8, even if the chunk ends mid code point.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), Utf8Error> {
        if self.carry_len > 0 {
            chunk = self.finish_carry(chunk)?;
        }
        if chunk.len() < ASCII_FAST_PATH_MAX && is_ascii(chunk) {
            return Ok(());
        }
        // The fast validator first; the one that says where and why only when it fails (an
        // unfinished code point at the end of the chunk is not a failure).
        if simdutf8::basic::from_utf8(chunk).is_ok() {
            return Ok(());
        }
        match simdutf8::compat::from_utf8(chunk) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(e) => {
                // An unfinished code point at the end: at most 3 bytes, all of them a valid
                // prefix (else error_len would be Some).
                let tail = &chunk[e.valid_up_to()..];
                self.carry[..tail.len()].copy_from_slice(tail);
                self.carry_len = tail.len() as u8;
                Ok(())
            }
        }
    }

    /// Validates a whole message in one call (no carry in or out).
    pub fn validate_whole(bytes: &[u8]) -> Result<(), Utf8Error> {
        if bytes.len() < ASCII_FAST_PATH_MAX && is_ascii(bytes) {
            return Ok(());
        }
        simdutf8::basic::from_utf8(bytes).map(|_| ()).map_err(|_| Utf8Error)
    }

    /// Checks that the message did not end inside a code point, and resets for the next one.
    pub fn finish(&mut self) -> Result<(), Utf8Error> {
        let complete = self.carry_len == 0;
        *self = Self::new();
        if complete { Ok(()) } else { Err(Utf8Error) }
    }

    /// Completes the carried code point from the front of `chunk`; returns the rest.
    fn finish_carry<'a>(&mut self, chunk: &'a [u8]) -> Result<&'a [u8], Utf8Error> {
        let have = usize::from(self.carry_len);
        let mut buf = [0u8; 4];
        buf[..have].copy_from_slice(&self.carry[..have]);
        let need = match buf[0] {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let take = (need - have).min(chunk.len());
        buf[have..have + take].copy_from_slice(&chunk[..take]);
        let len = have + take;
        match simdutf8::compat::from_utf8(&buf[..len]) {
            Ok(_) => {
                self.carry_len = 0;
                Ok(&chunk[take..])
            }
            Err(e) if e.error_len().is_some() => Err(Utf8Error),
            Err(_) => {
                // Still unfinished: the chunk was shorter than the code point's remainder.
                self.carry[..len].copy_from_slice(&buf[..len]);
                self.carry_len = len as u8;
                Ok(&[])
            }
        }
    }
}

/// Below this length a word-wise ASCII check beats a call into the SIMD validator; above it the
/// SIMD validator is faster even on pure ASCII.
const ASCII_FAST_PATH_MAX: usize = 64;

/// True when every byte is below 0x80, checked eight bytes at a time.
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc |= u64::from_ne_bytes(w);
    }
    let mut tail = 0u8;
    for b in chunks.remainder() {
        tail |= b;
    }
    acc & 0x8080_8080_8080_8080 == 0 && tail < 0x80
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn feed_split(bytes: &[u8], cuts: &[usize]) -> Result<(), Utf8Error> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &c in cuts {
            let c = c.clamp(start, bytes.len());
            v.feed(&bytes[start..c])?;
            start = c;
        }
        v.feed(&bytes[start..])?;
        v.finish()
    }

    #[test]
    fn fails_at_first_invalid_byte_not_at_the_end() {
        let mut v = Utf8Validator::new();
        // 0xCE 0xBA is kappa; 0xF4 0x90 is already beyond U+10FFFF.
        assert_eq!(v.feed(&[0xCE]), Ok(()));
        assert_eq!(v.feed(&[0xBA, 0xF4]), Ok(()));
        assert_eq!(v.feed(&[0x90]), Err(Utf8Error));
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(b"ok \xED\xA0"), Err(Utf8Error), "surrogate prefix fails before its end");
    }

    #[test]
    fn unfinished_code_point_at_message_end_fails() {
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&[0xE2, 0x82]), Ok(()));
        assert_eq!(v.finish(), Err(Utf8Error));
        assert_eq!(v.feed(b"fresh"), Ok(()));
        assert_eq!(v.finish(), Ok(()));
    }

    proptest! {
        #[test]
        fn any_split_agrees_with_std(bytes in proptest::collection::vec(any::<u8>(), 0..40),
                                     cuts in proptest::collection::vec(0usize..40, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert_eq!(feed_split(&bytes, &cuts).is_ok(), core::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn valid_text_any_split(s in "\\PC{0,20}", cuts in proptest::collection::vec(0usize..80, 0..6)) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            prop_assert!(feed_split(s.as_bytes(), &cuts).is_ok());
        }
    }
}
