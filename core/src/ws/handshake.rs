//! The opening handshake (RFC 6455 section 4): the client's request and the server's response.
//!
//! The request is encoded into a caller buffer (the `ws` layer owns no heap). The response is
//! parsed with httparse from whatever bytes have arrived: a partial response consumes nothing,
//! so the caller keeps the bytes and offers them again with more appended; the response header
//! may not exceed `max_handshake_response_len`. Anything after the header is frame data.

use crate::decimal::Decimal;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use super::deflate::{self, Offer, Params};
use super::error::HandshakeError;

/// Magic GUID of section 1.3, appended to the key before hashing.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
/// Header fields the response parser accepts; more is an error, not an allocation.
pub const MAX_RESPONSE_HEADERS: usize = 32;
/// How much of a rejected response's body is reported (the Realtime server answers 401, 403,
/// 404 and 429 with a short JSON `{"error": ...}` body).
pub const MAX_REJECTION_BODY: usize = 512;
/// Length of a base64-encoded 16-byte key.
pub const KEY_LEN: usize = 24;
/// Length of a base64-encoded SHA-1 digest.
pub const ACCEPT_LEN: usize = 28;

/// A parsed `ws://` or `wss://` URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Url<'a> {
    /// `wss`: the transport must be TLS.
    pub secure: bool,
    /// The host as written, IPv6 literals with their brackets (what the `Host` header needs).
    pub host: &'a str,
    /// The port, explicit or the scheme's default (80 or 443).
    pub port: u16,
    /// Whether the URL named the port.
    pub explicit_port: bool,
    /// Path and query as written (`/` when both are empty; a query without a path stays
    /// `?query`, and the request puts the `/` in front).
    pub resource: &'a str,
}

/// Why a URL is not a WebSocket URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Not `ws://` or `wss://`.
    Scheme,
    /// No host, or a host with characters a host cannot have.
    Host,
    /// A port that is not a number from 1 to 65535.
    Port,
    /// A `#fragment` (section 3 forbids it) or credentials in the URL.
    Unsupported,
}

impl core::fmt::Display for UrlError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Scheme => "url scheme must be ws or wss",
            Self::Host => "url has no valid host",
            Self::Port => "url port must be 1-65535",
            Self::Unsupported => "url may not have a fragment or credentials",
        })
    }
}

impl core::error::Error for UrlError {}

impl<'a> Url<'a> {
    /// Parses a WebSocket URL (section 3). `http`/`https` are not accepted: callers turn a
    /// Realtime base URL into a WebSocket one before this.
    pub fn parse(url: &'a str) -> Result<Self, UrlError> {
        let (secure, rest) = if let Some(r) = strip_prefix_ci(url, "wss://") {
            (true, r)
        } else if let Some(r) = strip_prefix_ci(url, "ws://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme);
        };
        if rest.contains('#') || authority_of(rest).contains('@') {
            return Err(UrlError::Unsupported);
        }
        Self::after_scheme(secure, rest)
    }

    /// The rest of a URL after `scheme://`: host, port and resource. The callers have dealt
    /// with fragments and credentials (a WebSocket URL refuses them; a connect target drops
    /// them), so an `@` left in the authority is not a valid host.
    pub(crate) fn after_scheme(secure: bool, rest: &'a str) -> Result<Self, UrlError> {
        let (authority, resource) = rest.split_at(authority_of(rest).len());
        let (host, port) = if authority.starts_with('[') {
            let close = authority.find(']').ok_or(UrlError::Host)?;
            let (h, p) = authority.split_at(close + 1);
            (h, p)
        } else {
            match authority.rfind(':') {
                Some(i) => authority.split_at(i),
                None => (authority, ""),
            }
        };
        let host_ok = !host.is_empty()
            && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%[]:".contains(&b))
            && (host.starts_with('[') || !host.contains(':'));
        if !host_ok {
            return Err(UrlError::Host);
        }
        let default_port = if secure { 443 } else { 80 };
        let (port, explicit_port) = match port.strip_prefix(':') {
            None if port.is_empty() => (default_port, false),
            None => return Err(UrlError::Host),
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) => (n, true),
                _ => return Err(UrlError::Port),
            },
        };
        let resource = if resource.is_empty() { "/" } else { resource };
        if resource.bytes().any(|b| b <= b' ' || b == 0x7F) {
            return Err(UrlError::Unsupported);
        }
        Ok(Self { secure, host, port, explicit_port, resource })
    }

    /// The host for DNS and TLS server names: IPv6 literals without brackets.
    pub fn host_name(&self) -> &'a str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(self.host)
    }
}

/// The authority of the rest of a URL after `scheme://`: everything before the path or query.
pub(crate) fn authority_of(rest: &str) -> &str {
    &rest[..rest.find(['/', '?']).unwrap_or(rest.len())]
}

pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// The client's opening handshake request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// Where to connect.
    pub url: Url<'a>,
    /// Subprotocols to offer, most preferred first. `'static` because the connection keeps the
    /// list to check the server's choice against it, and owns no heap.
    pub protocols: &'static [&'static str],
    /// Extra header fields (`X-Client-Info`, `Authorization`, ...), name then value.
    pub headers: &'a [(&'a str, &'a str)],
}

/// The request could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// The output buffer is shorter than the request.
    BufferTooSmall {
        /// The bytes the request needs.
        required: usize,
    },
    /// A header name that is not an HTTP token, or a value with a control character.
    InvalidHeader,
    /// A subprotocol name that is not an HTTP token.
    InvalidProtocol,
    /// The connection already started a handshake.
    AlreadyStarted,
}

impl core::fmt::Display for RequestError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BufferTooSmall { required } => write!(f, "request needs a buffer of {required} bytes"),
            Self::InvalidHeader => f.write_str("invalid header name or value"),
            Self::InvalidProtocol => f.write_str("invalid subprotocol name"),
            Self::AlreadyStarted => f.write_str("handshake already started"),
        }
    }
}

impl core::error::Error for RequestError {}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl Request<'_> {
    /// Encodes the request with the base64 `key` into `out`; returns the bytes written.
    pub fn encode(&self, key: &[u8; KEY_LEN], out: &mut [u8]) -> Result<usize, RequestError> {
        self.encode_offering(key, None, out)
    }

    /// [`encode`](Self::encode) with a permessage-deflate offer in `Sec-WebSocket-Extensions`.
    pub fn encode_offering(
        &self,
        key: &[u8; KEY_LEN],
        deflate: Option<&Offer>,
        out: &mut [u8],
    ) -> Result<usize, RequestError> {
        for (name, value) in self.headers {
            if !is_token(name) || value.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7F) {
                return Err(RequestError::InvalidHeader);
            }
        }
        if !self.protocols.iter().all(|p| is_token(p)) {
            return Err(RequestError::InvalidProtocol);
        }
        let mut w = Writer { out, len: 0 };
        w.put("GET ");
        if !self.url.resource.starts_with('/') {
            // `ws://host?query`: the path is empty, the request target needs its `/`.
            w.put("/");
        }
        w.put(self.url.resource);
        w.put(" HTTP/1.1\r\nHost: ");
        w.put(self.url.host);
        if self.url.explicit_port {
            w.put(":");
            w.put_bytes(Decimal::new(u64::from(self.url.port)).as_bytes());
        }
        w.put("\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
        w.put_bytes(key);
        w.put("\r\nSec-WebSocket-Version: 13\r\n");
        for (i, p) in self.protocols.iter().enumerate() {
            w.put(if i == 0 { "Sec-WebSocket-Protocol: " } else { ", " });
            w.put(p);
        }
        if !self.protocols.is_empty() {
            w.put("\r\n");
        }
        if let Some(offer) = deflate {
            use core::fmt::Write as _;
            // Writing into a `Writer` cannot fail: it counts what does not fit.
            let _ = write!(w, "Sec-WebSocket-Extensions: {offer}\r\n");
        }
        for (name, value) in self.headers {
            w.put(name);
            w.put(": ");
            w.put(value);
            w.put("\r\n");
        }
        w.put("\r\n");
        if w.len > w.out.len() {
            return Err(RequestError::BufferTooSmall { required: w.len });
        }
        Ok(w.len)
    }
}

/// Writes what fits and counts everything, so one pass gives both the bytes and the length.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl core::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.put(s);
        Ok(())
    }
}

impl Writer<'_> {
    fn put(&mut self, s: &str) {
        self.put_bytes(s.as_bytes());
    }

    fn put_bytes(&mut self, b: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.len..self.len + b.len()) {
            dst.copy_from_slice(b);
        }
        self.len += b.len();
    }
}

/// The `Sec-WebSocket-Key` for a 16-byte nonce.
pub fn key_for_nonce(nonce: &[u8; 16]) -> [u8; KEY_LEN] {
    let mut key = [0u8; KEY_LEN];
    // Invariant: 16 bytes encode to exactly 24 base64 characters.
    let n = BASE64.encode_slice(nonce, &mut key).unwrap_or(0);
    debug_assert_eq!(n, KEY_LEN);
    key
}

/// The `Sec-WebSocket-Accept` value a server must answer to `key` (section 4.2.2).
pub fn accept_for_key(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    let digest = sha.finalize();
    let mut out = [0u8; ACCEPT_LEN];
    // Invariant: 20 bytes encode to exactly 28 base64 characters.
    let n = BASE64.encode_slice(digest.as_slice(), &mut out).unwrap_or(0);
    debug_assert_eq!(n, ACCEPT_LEN);
    out
}

/// A parsed handshake response.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Response<'a> {
    /// More bytes needed; nothing consumed.
    Partial,
    /// 101 with a valid upgrade, and permessage-deflate's terms if it was agreed.
    Accepted { consumed: usize, protocol: Option<&'a str>, deflate: Option<Params> },
    /// Any other status, with the start of its body.
    Rejected { consumed: usize, status: u16, body: &'a [u8] },
}

/// Parses the response to a request sent with `nonce`, offering `protocols` and `offer`.
pub(crate) fn parse_response<'a>(
    input: &'a [u8],
    nonce: &[u8; 16],
    protocols: &[&str],
    offer: Option<&Offer>,
    max_len: usize,
) -> Result<Response<'a>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(input) {
        Ok(httparse::Status::Complete(n)) if n <= max_len => n,
        Ok(httparse::Status::Complete(_)) => return Err(HandshakeError::ResponseTooLarge),
        Ok(httparse::Status::Partial) if input.len() >= max_len => {
            return Err(HandshakeError::ResponseTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Response::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HandshakeError::TooManyHeaders),
        Err(_) => return Err(HandshakeError::MalformedResponse),
    };
    let status = resp.code.unwrap_or(0);
    if resp.version != Some(1) && status == 101 {
        return Err(HandshakeError::MalformedResponse);
    }
    if status != 101 {
        return Ok(match rejection_body(&input[head_len..], resp.headers) {
            Some((used, body)) => Response::Rejected { consumed: head_len + used, status, body },
            None => Response::Partial,
        });
    }
    let mut upgrade = false;
    let mut connection = false;
    let mut accept_ok = None;
    let mut protocol = None;
    let mut extension: Option<&[u8]> = None;
    let expected = accept_for_key(&key_for_nonce(nonce));
    for h in resp.headers.iter() {
        let value = trim(h.value);
        if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case(b"websocket");
        } else if h.name.eq_ignore_ascii_case("connection") {
            connection |= value.split(|&b| b == b',').any(|t| trim(t).eq_ignore_ascii_case(b"upgrade"));
        } else if h.name.eq_ignore_ascii_case("sec-websocket-accept") {
            // A repeated accept header is as bad as a wrong one.
            accept_ok = Some(accept_ok.is_none() && value == expected);
        } else if h.name.eq_ignore_ascii_case("sec-websocket-extensions") {
            if value.is_empty() {
                continue;
            }
            // One extension was offered at most: a second header line is a second one.
            if offer.is_none() || extension.is_some() {
                return Err(HandshakeError::UnexpectedExtension);
            }
            extension = Some(value);
        } else if h.name.eq_ignore_ascii_case("sec-websocket-protocol") {
            let chosen = core::str::from_utf8(value).map_err(|_| HandshakeError::UnexpectedProtocol)?;
            if protocol.is_some() || !protocols.contains(&chosen) {
                return Err(HandshakeError::UnexpectedProtocol);
            }
            protocol = Some(chosen);
        }
    }
    if !upgrade {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !connection {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    if accept_ok != Some(true) {
        return Err(HandshakeError::BadAccept);
    }
    let deflate = match (offer, extension) {
        (Some(offer), Some(answer)) => {
            Some(deflate::negotiate(offer, answer).map_err(HandshakeError::Deflate)?)
        }
        _ => None,
    };
    Ok(Response::Accepted { consumed: head_len, protocol, deflate })
}

/// The start of a rejection's body once enough of it is here: `Content-Length` bytes (capped),
/// the first chunk of a chunked body (capped), or whatever follows the header otherwise.
fn rejection_body<'a>(rest: &'a [u8], headers: &[httparse::Header<'_>]) -> Option<(usize, &'a [u8])> {
    let mut content_length = None;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length") {
            content_length = core::str::from_utf8(trim(h.value)).ok().and_then(|v| v.parse::<u64>().ok());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let value = trim(h.value);
            let last = value.rsplit(|&b| b == b',').next().map(trim).unwrap_or(value);
            chunked = last.eq_ignore_ascii_case(b"chunked");
        }
    }
    if chunked {
        let (used, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((used, size))) => (used, size),
            Ok(httparse::Status::Partial) if rest.len() < 32 => return None,
            _ => return Some((rest.len(), &rest[..0])),
        };
        let want = usize::try_from(size).unwrap_or(usize::MAX).min(MAX_REJECTION_BODY);
        let body = rest.get(used..used + want)?;
        return Some((rest.len(), body));
    }
    let want = match content_length {
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX).min(MAX_REJECTION_BODY),
        None => rest.len().min(MAX_REJECTION_BODY),
    };
    let body = rest.get(..want)?;
    Some((rest.len(), body))
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_key_and_accept() {
        // Section 1.3: nonce "the sample nonce" -> dGhlIHNhbXBsZSBub25jZQ==, accept s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
        let key = key_for_nonce(b"the sample nonce");
        assert_eq!(&key, b"dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(&accept_for_key(&key), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn urls() {
        let u = Url::parse("wss://abc.supabase.co/realtime/v1/websocket?apikey=k&vsn=2.0.0").unwrap();
        assert!(u.secure);
        assert_eq!((u.host, u.port, u.explicit_port), ("abc.supabase.co", 443, false));
        assert_eq!(u.resource, "/realtime/v1/websocket?apikey=k&vsn=2.0.0");
        let u = Url::parse("ws://[::1]:4000?x=1").unwrap();
        assert_eq!((u.host, u.host_name(), u.port, u.resource), ("[::1]", "::1", 4000, "?x=1"));
        let u = Url::parse("WS://localhost").unwrap();
        assert_eq!((u.port, u.resource), (80, "/"));
        assert_eq!(Url::parse("http://x/"), Err(UrlError::Scheme));
        assert_eq!(Url::parse("ws://x:0/"), Err(UrlError::Port));
        assert_eq!(Url::parse("ws://x:99999/"), Err(UrlError::Port));
        assert_eq!(Url::parse("ws://x:+1/"), Err(UrlError::Port));
        assert_eq!(Url::parse("ws:///path"), Err(UrlError::Host));
        assert_eq!(Url::parse("ws://u:p@x/"), Err(UrlError::Unsupported));
        assert_eq!(Url::parse("ws://x/#frag"), Err(UrlError::Unsupported));
        assert_eq!(Url::parse("ws://x/a b"), Err(UrlError::Unsupported));
    }

    #[test]
    fn request_bytes() {
        let req = Request {
            url: Url::parse("ws://localhost:4000/socket/websocket?vsn=2.0.0").unwrap(),
            protocols: &["a", "b"],
            headers: &[("X-Client-Info", "realtime-rs/0.1")],
        };
        let mut out = [0u8; 512];
        let n = req.encode(b"dGhlIHNhbXBsZSBub25jZQ==", &mut out).unwrap();
        let text = core::str::from_utf8(&out[..n]).unwrap();
        assert_eq!(
            text,
            "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: localhost:4000\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, b\r\nX-Client-Info: realtime-rs/0.1\r\n\r\n"
        );
        assert_eq!(
            req.encode(b"dGhlIHNhbXBsZSBub25jZQ==", &mut out[..10]),
            Err(RequestError::BufferTooSmall { required: n })
        );
        let bad = Request { headers: &[("X", "a\r\nInjected: 1")], ..req };
        assert_eq!(bad.encode(b"dGhlIHNhbXBsZSBub25jZQ==", &mut out), Err(RequestError::InvalidHeader));
    }
}
