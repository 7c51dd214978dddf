//! The REST broadcast endpoints (spec A.7) as sans-IO requests: the core encodes the HTTP/1.1
//! request and parses the response into a typed result; the runtime opens one connection per
//! request (TLS when [`RestRequest::is_tls`]) and moves the bytes.
//!
//! ```text
//! let mut req = RestRequest::single(socket_url, auth, "room1", "cursor", false, RestBody::Json(r#"{"x":1}"#), now, timeout)?;
//! connect to req.host():req.port(), then loop:
//!     write what req.poll_transmit(out) gives
//!     req.handle_input(read bytes) / req.handle_eof() at EOF / req.handle_timeout(now) at req.poll_timeout()
//!     until req.result() is Some
//! ```
//!
//! Responses are bounded: the head by [`MAX_RESPONSE_HEAD`], the body the client keeps (for
//! the error message) by [`MAX_RESPONSE_BODY`]. A `202` is decided at its head, whatever body
//! follows; bytes past the caps are read and dropped, never stored.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::fmt::Write as _;
use core::time::Duration;

use crate::phoenix::endpoint::{CLIENT_INFO, push_encoded};
use crate::phoenix::serializer::push_str;
use crate::time::Instant;
use crate::ws::Url;

/// Longest response head kept (status line and headers).
pub const MAX_RESPONSE_HEAD: usize = 8 << 10;
/// Longest response body kept for an error's message; the rest is dropped.
pub const MAX_RESPONSE_BODY: usize = 4 << 10;
/// Default time for a whole request (all the reference clients use 10 s).
pub const DEFAULT_REST_TIMEOUT: Duration = Duration::from_secs(10);
/// Headers parsed in a response (gateways and CDNs add many).
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line of a chunked body (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 128;

/// What a single broadcast carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestBody<'a> {
    /// Raw JSON text, sent as `application/json`.
    Json(&'a str),
    /// Bytes, sent as `application/octet-stream`.
    Binary(&'a [u8]),
}

/// One message of a batch (`POST /api/broadcast`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMessage<'a> {
    /// The channel name, without the `realtime:` prefix.
    pub topic: &'a str,
    /// The event.
    pub event: &'a str,
    /// The payload as raw JSON text.
    pub payload: &'a str,
    /// Whether the channel is private.
    pub private: bool,
}

/// Credentials of a request. Never printed: `Debug` shows only whether they are set.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Auth<'a> {
    /// The project's API key (the `apikey` header).
    pub api_key: &'a str,
    /// The user's access token (`Authorization: Bearer`), if any.
    pub access_token: Option<&'a str>,
}

impl fmt::Debug for Auth<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("api_key", &"<redacted>")
            .field("access_token", &self.access_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a REST broadcast failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestError {
    /// The socket URL does not give an HTTP base.
    InvalidUrl,
    /// A JSON payload that is not valid JSON.
    InvalidJson,
    /// A header value (API key or token) with a control character.
    InvalidHeader,
    /// 404 from the single-message endpoint: the server is older than v2.97.0.
    ServerTooOld,
    /// 401: the credentials were refused.
    Unauthorized(String),
    /// 403: the project is suspended or the request is forbidden.
    Forbidden(String),
    /// 422 saying the payload is too large.
    PayloadTooLarge(String),
    /// 422: the request did not validate.
    Invalid(String),
    /// 429: the project's rate limit.
    RateLimited(String),
    /// Any other status.
    Status {
        /// The HTTP status.
        status: u16,
        /// The server's message (its `message` or `error` field, or the body's text).
        message: String,
    },
    /// The response is not HTTP/1.x.
    MalformedResponse,
    /// The response head is longer than [`MAX_RESPONSE_HEAD`].
    ResponseTooLarge,
    /// The connection ended before the response did.
    Truncated,
    /// No complete response within the timeout.
    Timeout,
    /// REST broadcast is Supabase Realtime's: a client of a plain Phoenix server
    /// (`ServerKind::Phoenix`), or a plain Phoenix channel, has no such endpoint.
    NotRealtime,
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidUrl => f.write_str("the realtime url gives no http base"),
            Self::NotRealtime => f.write_str("rest broadcast needs a supabase realtime server"),
            Self::InvalidJson => f.write_str("the payload is not valid json"),
            Self::InvalidHeader => f.write_str("an api key or token with a control character"),
            Self::ServerTooOld => {
                f.write_str("the server has no single-message broadcast endpoint (older than v2.97.0)")
            }
            Self::Unauthorized(m) => write!(f, "unauthorized: {m}"),
            Self::Forbidden(m) => write!(f, "forbidden: {m}"),
            Self::PayloadTooLarge(m) => write!(f, "payload too large: {m}"),
            Self::Invalid(m) => write!(f, "invalid request: {m}"),
            Self::RateLimited(m) => write!(f, "rate limited: {m}"),
            Self::Status { status, message } => write!(f, "http {status}: {message}"),
            Self::MalformedResponse => f.write_str("malformed http response"),
            Self::ResponseTooLarge => f.write_str("http response head too large"),
            Self::Truncated => f.write_str("connection ended before the response"),
            Self::Timeout => f.write_str("no response in time"),
        }
    }
}

impl core::error::Error for RestError {}

/// How the response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// The response so far.
#[derive(Debug)]
enum Reading {
    Head,
    Body { status: u16, framing: Framing, seen: u64 },
    Done,
}

/// One REST broadcast request: its bytes out, its response in, a typed result. `Debug` shows
/// neither the request bytes (they hold the credentials) nor the body.
pub struct RestRequest {
    host: String,
    port: u16,
    tls: bool,
    request: Vec<u8>,
    sent: usize,
    /// The single-message endpoint (404 means "server too old").
    single: bool,
    /// Response bytes kept: the head until it parses, then the body (capped).
    buf: Vec<u8>,
    reading: Reading,
    /// Chunked bodies: bytes of the current chunk still to come, or `None` at a size line.
    chunk_left: Option<u64>,
    /// Chunked bodies: the size line (or the CRLF after a chunk) read so far.
    line: Vec<u8>,
    deadline: Instant,
    result: Option<Result<(), RestError>>,
}

impl fmt::Debug for RestRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestRequest")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("request_len", &self.request.len())
            .field("sent", &self.sent)
            .field("single", &self.single)
            .field("reading", &self.reading)
            .field("deadline", &self.deadline)
            .field("result", &self.result)
            .finish_non_exhaustive()
    }
}

impl RestRequest {
    /// `POST {http base}/api/broadcast/{topic}/events/{event}[?private=true]`: one message to
    /// channel `topic` (its name, without `realtime:`), JSON or bytes. `socket_url` is the
    /// client's WebSocket URL ([`Client::url`](crate::client::Client::url)).
    #[allow(clippy::too_many_arguments)]
    pub fn single(
        socket_url: &str,
        auth: Auth<'_>,
        topic: &str,
        event: &str,
        private: bool,
        body: RestBody<'_>,
        now: Instant,
        timeout: Duration,
    ) -> Result<Self, RestError> {
        let (content_type, bytes) = match body {
            RestBody::Json(text) => {
                check_json(text)?;
                ("application/json", text.as_bytes())
            }
            RestBody::Binary(b) => ("application/octet-stream", b),
        };
        let mut path = String::from("/api/broadcast/");
        push_encoded(&mut path, topic);
        path.push_str("/events/");
        push_encoded(&mut path, event);
        if private {
            path.push_str("?private=true");
        }
        Self::build(socket_url, auth, &path, content_type, bytes, true, now, timeout)
    }

    /// `POST {http base}/api/broadcast` with `{"messages":[...]}` (the batch endpoint, which
    /// every server version has).
    pub fn batch(
        socket_url: &str,
        auth: Auth<'_>,
        messages: &[BatchMessage<'_>],
        now: Instant,
        timeout: Duration,
    ) -> Result<Self, RestError> {
        let mut body = String::from("{\"messages\":[");
        for (i, m) in messages.iter().enumerate() {
            check_json(m.payload)?;
            if i > 0 {
                body.push(',');
            }
            body.push_str("{\"topic\":");
            push_str(&mut body, m.topic);
            body.push_str(",\"event\":");
            push_str(&mut body, m.event);
            body.push_str(",\"payload\":");
            body.push_str(m.payload);
            body.push_str(if m.private { ",\"private\":true}" } else { ",\"private\":false}" });
        }
        body.push_str("]}");
        Self::build(
            socket_url,
            auth,
            "/api/broadcast",
            "application/json",
            body.as_bytes(),
            false,
            now,
            timeout,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        socket_url: &str,
        auth: Auth<'_>,
        api_path: &str,
        content_type: &str,
        body: &[u8],
        single: bool,
        now: Instant,
        timeout: Duration,
    ) -> Result<Self, RestError> {
        let url = Url::parse(socket_url).map_err(|_| RestError::InvalidUrl)?;
        let header_ok = |v: &str| !v.bytes().any(|b| b.is_ascii_control());
        if !header_ok(auth.api_key) || !auth.access_token.is_none_or(header_ok) {
            return Err(RestError::InvalidHeader);
        }
        let base = http_base_path(url.resource);
        let mut head = String::with_capacity(256 + base.len() + api_path.len());
        // Invariant: writing to a String cannot fail.
        let _ = write!(head, "POST {base}{api_path} HTTP/1.1\r\nHost: {}", url.host);
        let default_port = if url.secure { 443 } else { 80 };
        if url.port != default_port {
            let _ = write!(head, ":{}", url.port);
        }
        let _ = write!(head, "\r\napikey: {}\r\n", auth.api_key);
        if let Some(token) = auth.access_token {
            let _ = write!(head, "Authorization: Bearer {token}\r\n");
        }
        let _ = write!(
            head,
            "Content-Type: {content_type}\r\nContent-Length: {}\r\nX-Client-Info: {CLIENT_INFO}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        Ok(Self {
            host: String::from(url.host_name()),
            port: url.port,
            tls: url.secure,
            request,
            sent: 0,
            single,
            buf: Vec::new(),
            reading: Reading::Head,
            chunk_left: None,
            line: Vec::new(),
            deadline: now + timeout,
            result: None,
        })
    }

    /// The host to connect to (IPv6 without brackets; the TLS server name when `is_tls`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port to connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the connection must be TLS (the socket URL was `wss`).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Fills `out` with request bytes; 0 when all are out.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        let rest = &self.request[self.sent..];
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.sent += n;
        n
    }

    /// Response bytes; all are consumed (past the caps they are dropped).
    pub fn handle_input(&mut self, mut bytes: &[u8]) -> usize {
        let total = bytes.len();
        while !bytes.is_empty() && self.result.is_none() {
            match self.reading {
                Reading::Head => {
                    let room = MAX_RESPONSE_HEAD.saturating_sub(self.buf.len());
                    let take = bytes.len().min(room.max(1));
                    self.buf.extend_from_slice(&bytes[..take]);
                    bytes = &bytes[take..];
                    match self.parse_head() {
                        Ok(Some(rest)) => {
                            // Body bytes that came with the head go through the body path.
                            self.feed_body(&rest);
                        }
                        Ok(None) if self.buf.len() >= MAX_RESPONSE_HEAD => {
                            self.result = Some(Err(RestError::ResponseTooLarge));
                        }
                        Ok(None) => {}
                        Err(e) => self.result = Some(Err(e)),
                    }
                }
                Reading::Body { .. } => {
                    self.feed_body(bytes);
                    bytes = &[];
                }
                Reading::Done => break,
            }
        }
        total
    }

    /// The connection ended.
    pub fn handle_eof(&mut self) {
        if self.result.is_some() {
            return;
        }
        self.result = Some(match self.reading {
            Reading::Body { status, framing: Framing::UntilClose, .. } => self.outcome(status),
            _ => Err(RestError::Truncated),
        });
    }

    /// Ends the request with `Timeout` once its deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.result.is_none() && now >= self.deadline {
            self.result = Some(Err(RestError::Timeout));
        }
    }

    /// The deadline, while the request is unfinished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.result.is_none().then_some(self.deadline)
    }

    /// The outcome, once known: `Ok(())` for an accepted broadcast. Close the connection then.
    pub fn result(&self) -> Option<&Result<(), RestError>> {
        self.result.as_ref()
    }

    /// Parses the head once complete; returns the bytes after it.
    fn parse_head(&mut self) -> Result<Option<Vec<u8>>, RestError> {
        // A loop, not recursion: interim responses (100 Continue, 103 Early Hints) are skipped
        // one after another, however many the (capped) head buffer holds.
        let (head_len, status, framing) = loop {
            let mut headers = alloc::vec![httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            let head_len = match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(n)) => n,
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(httparse::Error::TooManyHeaders) => return Err(RestError::ResponseTooLarge),
                Err(_) => return Err(RestError::MalformedResponse),
            };
            let status = resp.code.unwrap_or(0);
            if (100..200).contains(&status) {
                self.buf.drain(..head_len);
                continue;
            }
            let mut framing = Framing::UntilClose;
            for h in resp.headers.iter() {
                let value = h.value.trim_ascii();
                if h.name.eq_ignore_ascii_case("transfer-encoding") {
                    let last = value.rsplit(|&b| b == b',').next().map_or(value, <[u8]>::trim_ascii);
                    if last.eq_ignore_ascii_case(b"chunked") {
                        framing = Framing::Chunked;
                    }
                } else if h.name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
                    let n = core::str::from_utf8(value).ok().and_then(|v| v.parse::<u64>().ok());
                    framing = Framing::Length(n.ok_or(RestError::MalformedResponse)?);
                }
            }
            break (head_len, status, framing);
        };
        let rest = self.buf.split_off(head_len);
        self.buf.clear();
        if (200..300).contains(&status) {
            // Accepted: the status is all that matters; the body is not waited for.
            self.reading = Reading::Done;
            self.result = Some(Ok(()));
            return Ok(None);
        }
        self.reading = Reading::Body { status, framing, seen: 0 };
        if framing == Framing::Length(0) {
            self.result = Some(self.outcome(status));
        }
        Ok(Some(rest))
    }

    fn feed_body(&mut self, mut bytes: &[u8]) {
        let Reading::Body { status, framing, seen } = self.reading else { return };
        match framing {
            Framing::Length(len) => {
                let want = usize::try_from(len - seen).unwrap_or(usize::MAX).min(bytes.len());
                self.keep(&bytes[..want]);
                let seen = seen + want as u64;
                self.reading = Reading::Body { status, framing, seen };
                if seen == len {
                    self.result = Some(self.outcome(status));
                }
            }
            Framing::UntilClose => self.keep(bytes),
            Framing::Chunked => {
                while !bytes.is_empty() && self.result.is_none() {
                    match self.chunk_left {
                        Some(0) => {
                            // The CRLF that ends a chunk's data.
                            if self.take_line(&mut bytes) {
                                if !matches!(self.line.as_slice(), b"\r\n" | b"\n") {
                                    // More data than the chunk's size said.
                                    self.result = Some(Err(RestError::MalformedResponse));
                                }
                                self.line.clear();
                                self.chunk_left = None;
                            }
                        }
                        Some(left) => {
                            let take = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
                            self.keep(&bytes[..take]);
                            bytes = &bytes[take..];
                            self.chunk_left = Some(left - take as u64);
                        }
                        None => {
                            if !self.take_line(&mut bytes) {
                                continue;
                            }
                            match httparse::parse_chunk_size(&self.line) {
                                Ok(httparse::Status::Complete((_, 0))) => {
                                    self.result = Some(self.outcome(status));
                                }
                                Ok(httparse::Status::Complete((_, size))) => {
                                    self.chunk_left = Some(size);
                                    self.line.clear();
                                }
                                _ => self.result = Some(Err(RestError::MalformedResponse)),
                            }
                        }
                    }
                }
            }
        }
    }

    /// Moves bytes up to a line feed into `line`; true once the line is complete. A line
    /// longer than [`MAX_CHUNK_LINE`] ends the request as malformed.
    fn take_line(&mut self, bytes: &mut &[u8]) -> bool {
        let end = bytes.iter().position(|&b| b == b'\n').map_or(bytes.len(), |i| i + 1);
        // Never copy more than the limit allows.
        let room = (MAX_CHUNK_LINE + 1).saturating_sub(self.line.len());
        let end = end.min(room);
        self.line.extend_from_slice(&bytes[..end]);
        *bytes = &bytes[end..];
        if self.line.len() > MAX_CHUNK_LINE {
            self.result = Some(Err(RestError::MalformedResponse));
            return false;
        }
        self.line.last() == Some(&b'\n')
    }

    /// Keeps body bytes for the error message, up to the cap.
    fn keep(&mut self, bytes: &[u8]) {
        let room = MAX_RESPONSE_BODY.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The result for a non-2xx status, with the server's message.
    fn outcome(&self, status: u16) -> Result<(), RestError> {
        let message = server_message(&self.buf);
        Err(match status {
            404 if self.single => RestError::ServerTooOld,
            401 => RestError::Unauthorized(message),
            403 => RestError::Forbidden(message),
            422 if message.to_ascii_lowercase().contains("too large") => RestError::PayloadTooLarge(message),
            422 => RestError::Invalid(message),
            429 => RestError::RateLimited(message),
            status => RestError::Status { status, message },
        })
    }
}

/// The server's message: the body's `message` or `error` string, else its text.
fn server_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body<'a> {
        #[serde(borrow, default)]
        message: Option<alloc::borrow::Cow<'a, str>>,
        #[serde(borrow, default)]
        error: Option<alloc::borrow::Cow<'a, str>>,
    }
    if let Ok(b) = serde_json::from_slice::<Body<'_>>(body)
        && let Some(m) = b.message.or(b.error)
    {
        return m.into_owned();
    }
    String::from_utf8_lossy(body).into_owned()
}

/// The HTTP base path of a socket URL's resource (spec A.7): the query and a trailing
/// `/socket/websocket`, `/websocket` or `/socket` removed, and trailing slashes.
fn http_base_path(resource: &str) -> &str {
    let path = resource.split('?').next().unwrap_or("");
    let path = path.trim_end_matches('/');
    let path = ["/socket/websocket", "/websocket", "/socket"]
        .iter()
        .find_map(|suffix| path.strip_suffix(suffix))
        .unwrap_or(path);
    path.trim_end_matches('/')
}

fn check_json(text: &str) -> Result<(), RestError> {
    serde_json::from_str::<serde::de::IgnoredAny>(text).map(|_| ()).map_err(|_| RestError::InvalidJson)
}
