//! The offer and the server's answer to it (RFC 7692 section 7.1), without an allocator.

use core::fmt;

use super::{EXTENSION_NAME, MAX_WINDOW_BITS, MIN_WINDOW_BITS};

/// What the client offers in `Sec-WebSocket-Extensions`: one permessage-deflate offer.
///
/// The default is what browsers offer, `permessage-deflate; client_max_window_bits`: context
/// takeover both ways, any server window, and the server free to limit the client's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// Ask the server to compress each message on its own (its answer must agree): every
    /// message can be inflated alone, at some cost in ratio.
    pub server_no_context_takeover: bool,
    /// Tell the server this client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// Ask the server to use an LZ77 window of at most this many bits (8-15): less memory for
    /// the server's compressor. The answer must name a value no larger.
    pub server_max_window_bits: Option<u8>,
    /// Let the server limit this client's window: `Some(15)` offers the parameter without a
    /// value (the server may pick any 8-15), `Some(n)` promises at most `n` bits, `None` leaves
    /// it out (the client then uses 15). Agreed under 15, this client sends uncompressed (see
    /// [`Deflater::new`](super::Deflater::new)) and still takes compressed messages.
    pub client_max_window_bits: Option<u8>,
}

impl Default for Offer {
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: None,
            client_max_window_bits: Some(MAX_WINDOW_BITS),
        }
    }
}

impl Offer {
    /// True when every window size is within 8-15.
    pub fn is_valid(&self) -> bool {
        let ok = |b: Option<u8>| b.is_none_or(|b| (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&b));
        ok(self.server_max_window_bits) && ok(self.client_max_window_bits)
    }
}

/// The header value, as it goes on the wire.
impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EXTENSION_NAME)?;
        if self.server_no_context_takeover {
            f.write_str("; server_no_context_takeover")?;
        }
        if self.client_no_context_takeover {
            f.write_str("; client_no_context_takeover")?;
        }
        if let Some(bits) = self.server_max_window_bits {
            write!(f, "; server_max_window_bits={bits}")?;
        }
        match self.client_max_window_bits {
            Some(MAX_WINDOW_BITS) => f.write_str("; client_max_window_bits")?,
            Some(bits) => write!(f, "; client_max_window_bits={bits}")?,
            None => {}
        }
        Ok(())
    }
}

/// What both sides agreed to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// The server compresses each message on its own: the inflater starts afresh each message.
    pub server_no_context_takeover: bool,
    /// This client compresses each message on its own.
    pub client_no_context_takeover: bool,
    /// The server's window, in bits (15 when unlimited).
    pub server_max_window_bits: u8,
    /// This client's window, in bits (15 when unlimited).
    pub client_max_window_bits: u8,
}

impl Default for Params {
    /// Context takeover both ways, full windows: what a bare `permessage-deflate` answer means.
    fn default() -> Self {
        Self {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: MAX_WINDOW_BITS,
            client_max_window_bits: MAX_WINDOW_BITS,
        }
    }
}

/// Why the server's `Sec-WebSocket-Extensions` answer breaks the offer (the client fails the
/// connection, RFC 7692 section 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// Not a list of `name; param=value` elements.
    Malformed,
    /// More than one extension (only one was offered).
    SeveralExtensions,
    /// An extension other than permessage-deflate.
    UnknownExtension,
    /// A parameter RFC 7692 does not define.
    UnknownParameter,
    /// A parameter named twice.
    RepeatedParameter,
    /// A window size that is not 8-15, or a value on a parameter that takes none.
    InvalidValue,
    /// `client_max_window_bits` although the offer did not include it.
    WindowNotOffered,
    /// A window larger than the offer allows.
    WindowTooLarge,
    /// The answer leaves out `server_no_context_takeover` or `server_max_window_bits`, which the
    /// offer asked for: the server did not accept this offer.
    Declined,
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed extension answer",
            Self::SeveralExtensions => "several extensions in the answer, one was offered",
            Self::UnknownExtension => "an extension that was not offered",
            Self::UnknownParameter => "an unknown permessage-deflate parameter",
            Self::RepeatedParameter => "a permessage-deflate parameter given twice",
            Self::InvalidValue => "an invalid permessage-deflate parameter value",
            Self::WindowNotOffered => "client_max_window_bits was not offered",
            Self::WindowTooLarge => "a window larger than offered",
            Self::Declined => "the answer leaves out a parameter the offer asked for",
        })
    }
}

impl core::error::Error for NegotiationError {}

/// Holds the server's answer (the value of its `Sec-WebSocket-Extensions`, all its header
/// lines joined by commas) to `offer`, and returns what was agreed.
pub fn negotiate(offer: &Offer, answer: &[u8]) -> Result<Params, NegotiationError> {
    let answer = answer.trim_ascii();
    // Every value this extension defines is a number, so a comma anywhere separates elements.
    if answer.contains(&b',') {
        return Err(NegotiationError::SeveralExtensions);
    }
    let mut parts = answer.split(|&b| b == b';');
    let name = parts.next().unwrap_or_default().trim_ascii();
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(NegotiationError::Malformed);
    }
    if !name.eq_ignore_ascii_case(EXTENSION_NAME.as_bytes()) {
        return Err(NegotiationError::UnknownExtension);
    }
    let mut server_nct = false;
    let mut client_nct = false;
    let mut server_bits = None;
    let mut client_bits = None;
    for part in parts {
        let (key, value) = match part.iter().position(|&b| b == b'=') {
            Some(i) => (part[..i].trim_ascii(), Some(unquote(part[i + 1..].trim_ascii())?)),
            None => (part.trim_ascii(), None),
        };
        if key.is_empty() || !key.iter().all(|&b| is_tchar(b)) {
            return Err(NegotiationError::Malformed);
        }
        match key {
            b"server_no_context_takeover" => set_flag(&mut server_nct, value)?,
            b"client_no_context_takeover" => set_flag(&mut client_nct, value)?,
            b"server_max_window_bits" => set_bits(&mut server_bits, value)?,
            b"client_max_window_bits" => set_bits(&mut client_bits, value)?,
            _ => return Err(NegotiationError::UnknownParameter),
        }
    }
    if offer.server_no_context_takeover && !server_nct {
        return Err(NegotiationError::Declined);
    }
    let server_max_window_bits = match (offer.server_max_window_bits, server_bits) {
        (Some(_), None) => return Err(NegotiationError::Declined),
        (Some(max), Some(b)) if b > max => return Err(NegotiationError::WindowTooLarge),
        (_, b) => b.unwrap_or(MAX_WINDOW_BITS),
    };
    let client_max_window_bits = match (offer.client_max_window_bits, client_bits) {
        (None, Some(_)) => return Err(NegotiationError::WindowNotOffered),
        (Some(max), Some(b)) if b > max => return Err(NegotiationError::WindowTooLarge),
        (offered, answered) => answered.or(offered).unwrap_or(MAX_WINDOW_BITS),
    };
    Ok(Params {
        server_no_context_takeover: server_nct,
        client_no_context_takeover: client_nct || offer.client_no_context_takeover,
        server_max_window_bits,
        client_max_window_bits,
    })
}

fn set_flag(flag: &mut bool, value: Option<&[u8]>) -> Result<(), NegotiationError> {
    if value.is_some() {
        return Err(NegotiationError::InvalidValue);
    }
    if core::mem::replace(flag, true) {
        return Err(NegotiationError::RepeatedParameter);
    }
    Ok(())
}

fn set_bits(bits: &mut Option<u8>, value: Option<&[u8]>) -> Result<(), NegotiationError> {
    if bits.is_some() {
        return Err(NegotiationError::RepeatedParameter);
    }
    // In an answer the value is required (section 7.1.2), written without leading zeros.
    let n = match value.ok_or(NegotiationError::InvalidValue)? {
        [d @ b'8'..=b'9'] => d - b'0',
        [b'1', d @ b'0'..=b'5'] => 10 + (d - b'0'),
        _ => return Err(NegotiationError::InvalidValue),
    };
    *bits = Some(n);
    Ok(())
}

/// A value as a token or a quoted string (section 7.1: the same syntax either way).
fn unquote(v: &[u8]) -> Result<&[u8], NegotiationError> {
    match v {
        [b'"', inner @ .., b'"'] => Ok(inner),
        v if v.first() == Some(&b'"') || v.last() == Some(&b'"') => Err(NegotiationError::Malformed),
        v => Ok(v),
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(offer: Offer, a: &str) -> Result<Params, NegotiationError> {
        negotiate(&offer, a.as_bytes())
    }

    #[test]
    fn offers_as_written() {
        extern crate alloc;
        use alloc::string::ToString;
        assert_eq!(Offer::default().to_string(), "permessage-deflate; client_max_window_bits");
        let all = Offer {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(10),
            client_max_window_bits: Some(12),
        };
        assert_eq!(
            all.to_string(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        let bare = Offer { client_max_window_bits: None, ..Offer::default() };
        assert_eq!(bare.to_string(), "permessage-deflate");
        assert!(all.is_valid());
        assert!(!Offer { server_max_window_bits: Some(7), ..bare }.is_valid());
        assert!(!Offer { client_max_window_bits: Some(16), ..bare }.is_valid());
    }

    #[test]
    fn answers_held_to_the_offer() {
        let d = Offer::default();
        assert_eq!(answer(d, "permessage-deflate"), Ok(Params::default()));
        assert_eq!(
            answer(d, " Permessage-Deflate ; client_max_window_bits=\"10\" ;server_no_context_takeover"),
            Ok(Params { server_no_context_takeover: true, client_max_window_bits: 10, ..Params::default() })
        );
        assert_eq!(
            answer(d, "permessage-deflate; server_max_window_bits=9; client_no_context_takeover"),
            Ok(Params { server_max_window_bits: 9, client_no_context_takeover: true, ..Params::default() })
        );
        let asks = Offer {
            server_no_context_takeover: true,
            server_max_window_bits: Some(12),
            client_max_window_bits: Some(11),
            client_no_context_takeover: true,
        };
        assert_eq!(
            answer(asks, "permessage-deflate; server_no_context_takeover; server_max_window_bits=12"),
            Ok(Params {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 12,
                client_max_window_bits: 11,
            })
        );
        use NegotiationError as E;
        let cases: &[(Offer, &str, E)] = &[
            (d, "", E::Malformed),
            (d, "permessage-deflate; ", E::Malformed),
            (d, "permessage-deflate; =1", E::Malformed),
            (d, "permessage-deflate; server_max_window_bits=\"9", E::Malformed),
            (d, "permessage-deflate, permessage-deflate", E::SeveralExtensions),
            (d, "x-webkit-deflate-frame", E::UnknownExtension),
            (d, "permessage-deflate; mystery", E::UnknownParameter),
            (
                d,
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                E::RepeatedParameter,
            ),
            (
                d,
                "permessage-deflate; client_max_window_bits=9; client_max_window_bits=9",
                E::RepeatedParameter,
            ),
            (d, "permessage-deflate; server_no_context_takeover=1", E::InvalidValue),
            (d, "permessage-deflate; server_max_window_bits", E::InvalidValue),
            (d, "permessage-deflate; server_max_window_bits=7", E::InvalidValue),
            (d, "permessage-deflate; server_max_window_bits=16", E::InvalidValue),
            (d, "permessage-deflate; server_max_window_bits=09", E::InvalidValue),
            (d, "permessage-deflate; client_max_window_bits=x", E::InvalidValue),
            (
                Offer { client_max_window_bits: None, ..d },
                "permessage-deflate; client_max_window_bits=15",
                E::WindowNotOffered,
            ),
            (
                asks,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=13",
                E::WindowTooLarge,
            ),
            (
                asks,
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
                E::WindowTooLarge,
            ),
            (asks, "permessage-deflate; server_max_window_bits=12", E::Declined),
            (asks, "permessage-deflate; server_no_context_takeover", E::Declined),
        ];
        for (offer, a, e) in cases {
            assert_eq!(answer(*offer, a), Err(*e), "{a}");
        }
    }
}
