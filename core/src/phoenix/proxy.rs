//! HTTP CONNECT proxies, sans-IO: which proxy a target goes through ([`proxy_for`], with
//! `NO_PROXY`'s rules in [`no_proxy_matches`]), and the tunnel handshake itself ([`Tunnel`]).
//!
//! The runtime reads the environment and moves bytes; the decisions are here, once for every
//! runtime:
//!
//! ```text
//! match proxy_for(client.target(), env HTTPS_PROXY, env HTTP_PROXY, env NO_PROXY) {
//!     None => connect to target.host:target.port
//!     Some(url) => {
//!         let proxy = Target::parse(url)?;            // where the tunnel starts
//!         connect to proxy.host:proxy.port
//!         let mut tunnel = Tunnel::new(&target.host, target.port)?;
//!         loop: write what tunnel.poll_transmit(out) gives;
//!               tunnel.handle_input(read bytes) (keep what it did not consume: it is the
//!               server's, the first TLS or WebSocket bytes) / tunnel.handle_eof() at EOF;
//!               until tunnel.result() is Some
//!     }
//! }
//! then TLS (when target.tls) and the WebSocket over the stream
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use super::target::Target;

/// Longest proxy response head (status line, headers and the empty line) a tunnel reads.
pub const MAX_PROXY_HEAD: usize = 8 * 1024;
/// Header fields parsed in a proxy's answer; more is a malformed answer, not an allocation.
const MAX_PROXY_HEADERS: usize = 64;

/// Why a CONNECT tunnel did not open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy answered with a status other than 2xx (407: it wants credentials).
    Refused {
        /// The HTTP status.
        status: u16,
    },
    /// The answer is not an HTTP/1.x response head.
    Malformed,
    /// The answer's head did not end within [`MAX_PROXY_HEAD`] bytes.
    HeadTooLong,
    /// The proxy closed the connection before its answer's head ended.
    Eof,
    /// The host cannot be put in a request line (empty, or with spaces, control or other
    /// characters no host has).
    InvalidHost,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { status } => write!(f, "the proxy refused the tunnel with http {status}"),
            Self::Malformed => f.write_str("the proxy's answer is not an http response"),
            Self::HeadTooLong => write!(f, "the proxy's answer head is longer than {MAX_PROXY_HEAD} bytes"),
            Self::Eof => f.write_str("the proxy closed the connection before answering"),
            Self::InvalidHost => f.write_str("the host cannot be named in a connect request"),
        }
    }
}

impl core::error::Error for ProxyError {}

/// The CONNECT handshake with an HTTP proxy: the request out, the answer's head in, a typed
/// result. Bytes after the head belong to the server (TLS or the WebSocket upgrade) and are
/// never consumed.
///
/// Interim answers (`100 Continue` and the other 1xx but `101`) are skipped, each bounded on
/// its own; the runtime's connect timeout bounds how long a proxy may keep sending them. The
/// result is
/// decided at one byte of the answer whatever the pieces it came in, so any split gives the
/// same result and the same count of bytes consumed: the last byte of the final head, the
/// first byte that cannot start `HTTP/`, the line end where a head stops parsing, or the byte
/// that makes a head [`MAX_PROXY_HEAD`] long without ending.
#[derive(Clone, Debug)]
pub struct Tunnel {
    request: Vec<u8>,
    sent: usize,
    head: Vec<u8>,
    result: Option<Result<(), ProxyError>>,
}

impl Tunnel {
    /// A tunnel to `host:port` (an IPv6 host with or without brackets; it is bracketed in the
    /// request): `CONNECT host:port HTTP/1.1` with the same `Host`.
    ///
    /// # Errors
    ///
    /// [`ProxyError::InvalidHost`] for a host that would not keep the request one line (empty,
    /// or holding characters no host has), so no caller can inject header fields.
    pub fn new(host: &str, port: u16) -> Result<Self, ProxyError> {
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let valid =
            !bare.is_empty() && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~%:".contains(&b));
        if !valid {
            return Err(ProxyError::InvalidHost);
        }
        let mut authority = String::with_capacity(bare.len() + 8);
        // Invariant: writing to a String cannot fail.
        let _ = if bare.contains(':') {
            write!(authority, "[{bare}]:{port}")
        } else {
            write!(authority, "{bare}:{port}")
        };
        let mut request = String::with_capacity(2 * authority.len() + 32);
        let _ = write!(request, "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        Ok(Self { request: request.into_bytes(), sent: 0, head: Vec::new(), result: None })
    }

    /// Fills `out` with request bytes; 0 once all are out. A small `out` takes the request in
    /// pieces.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let rest = &self.request[self.sent..];
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.sent += n;
        n
    }

    /// Bytes from the proxy; returns how many were consumed. Once the result is decided it
    /// consumes nothing more: what is left of `bytes` (after a 2xx, the server's first bytes)
    /// is the caller's.
    pub fn handle_input(&mut self, bytes: &[u8]) -> usize {
        if self.result.is_some() {
            return 0;
        }
        for (i, &b) in bytes.iter().enumerate() {
            self.head.push(b);
            match self.step(b) {
                Step::More => {}
                // An interim answer (`100 Continue`): the final one follows it.
                Step::Interim => self.head.clear(),
                Step::Done(result) => {
                    self.result = Some(result);
                    // What was kept is no longer needed.
                    self.head = Vec::new();
                    return i + 1;
                }
            }
        }
        bytes.len()
    }

    /// The proxy closed the connection: a tunnel still waiting for its answer fails.
    pub fn handle_eof(&mut self) {
        self.result.get_or_insert(Err(ProxyError::Eof));
    }

    /// `None` while the answer's head is still coming; then `Ok` (2xx: the stream is now the
    /// tunnel) or why not.
    pub fn result(&self) -> Option<Result<(), ProxyError>> {
        self.result
    }

    /// What byte `b`, just appended to the head, means.
    fn step(&self, b: u8) -> Step {
        let len = self.head.len();
        const START: &[u8] = b"HTTP/";
        if len <= START.len() && b != START[len - 1] {
            // Not HTTP at all (an HTML page, a TLS alert, an SSH banner): fail at once rather
            // than wait for a head that never ends.
            return Step::Done(Err(ProxyError::Malformed));
        }
        if b == b'\n' {
            let ended = self.head.ends_with(b"\n\n") || self.head.ends_with(b"\n\r\n");
            let mut headers = [httparse::EMPTY_HEADER; MAX_PROXY_HEADERS];
            let mut response = httparse::Response::new(&mut headers);
            // Parsed at each line end only: at most a status line and the header bound's
            // lines parse before the head ends or fails, so the work stays bounded.
            match (response.parse(&self.head), ended) {
                (Ok(httparse::Status::Complete(n)), true) if n == len => {
                    return match response.code {
                        Some(100 | 102..=199) => Step::Interim,
                        Some(200..=299) => Step::Done(Ok(())),
                        Some(status) => Step::Done(Err(ProxyError::Refused { status })),
                        None => Step::Done(Err(ProxyError::Malformed)),
                    };
                }
                (Ok(httparse::Status::Partial), false) => {}
                _ => return Step::Done(Err(ProxyError::Malformed)),
            }
        }
        if len >= MAX_PROXY_HEAD { Step::Done(Err(ProxyError::HeadTooLong)) } else { Step::More }
    }
}

/// What one byte of the answer means.
enum Step {
    /// The head goes on.
    More,
    /// An interim (1xx) head ended; the final answer follows.
    Interim,
    /// The result.
    Done(Result<(), ProxyError>),
}

/// The proxy URL for `target`, if it goes through one: `https_proxy` for a TLS target,
/// `http_proxy` otherwise (the values of `HTTPS_PROXY` and `HTTP_PROXY`; empty means none),
/// unless `no_proxy` (the value of `NO_PROXY`) names the target's host.
pub fn proxy_for<'a>(
    target: &Target,
    https_proxy: Option<&'a str>,
    http_proxy: Option<&'a str>,
    no_proxy: Option<&str>,
) -> Option<&'a str> {
    let proxy = if target.tls { https_proxy } else { http_proxy };
    let proxy = proxy.map(str::trim).filter(|p| !p.is_empty())?;
    (!no_proxy.is_some_and(|n| no_proxy_matches(n, &target.host))).then_some(proxy)
}

/// `NO_PROXY`: whether `host` is excluded from proxying. The list is comma-separated hosts or
/// domain suffixes (`.example.com` or `example.com` match `example.com` and `a.example.com`,
/// not `notexample.com`), or `*` for all; case-insensitive, a port on an entry is ignored, and
/// IPv6 literals match with or without brackets.
pub fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = unbracket(host).trim_end_matches('.');
    no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = without_port(entry).trim_start_matches('.').trim_end_matches('.');
        if entry.is_empty() {
            return false;
        }
        if host.eq_ignore_ascii_case(entry) {
            return true;
        }
        // A suffix at a label boundary: `a.example.com` ends with `.example.com`. Compared as
        // bytes, so a host that is not ASCII cannot split inside a character.
        host.len() > entry.len() && {
            let (head, tail) = host.as_bytes().split_at(host.len() - entry.len());
            head.ends_with(b".") && tail.eq_ignore_ascii_case(entry.as_bytes())
        }
    })
}

/// An IPv6 literal without its brackets.
fn unbracket(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// A `NO_PROXY` entry without its port: `host:port`, `[v6]:port` or `[v6]`. A bare IPv6
/// literal (more than one `:`) has none.
fn without_port(entry: &str) -> &str {
    if let Some(v6) = entry.strip_prefix('[') {
        return v6.split_once(']').map_or(v6, |(h, _)| h);
    }
    match entry.split_once(':') {
        Some((h, p)) if !p.contains(':') => h,
        _ => entry,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_target_and_brackets_ipv6() {
        let mut t = Tunnel::new("db.example.com", 443).unwrap();
        let mut out = [0u8; 7];
        let mut request = Vec::new();
        loop {
            let n = t.poll_transmit(&mut out);
            if n == 0 {
                break;
            }
            request.extend_from_slice(&out[..n]);
        }
        assert_eq!(request, b"CONNECT db.example.com:443 HTTP/1.1\r\nHost: db.example.com:443\r\n\r\n");
        for host in ["::1", "[::1]"] {
            let mut t = Tunnel::new(host, 8080).unwrap();
            let mut out = [0u8; 128];
            let n = t.poll_transmit(&mut out);
            assert_eq!(&out[..n], b"CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");
        }
        for host in ["", "[]", "a b", "evil\r\nX-Injected: 1", "a/b", "user@host"] {
            assert_eq!(Tunnel::new(host, 1).unwrap_err(), ProxyError::InvalidHost, "{host:?}");
        }
    }
}
