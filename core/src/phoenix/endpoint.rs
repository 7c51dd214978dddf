//! The socket endpoint: `<base>/websocket?[apikey=...&]vsn=...[&log_level=...]` (spec A.1).
//!
//! Supabase Realtime wants its `apikey`; a plain Phoenix server takes whatever params its
//! `connect/3` reads, given as the extra params.

use alloc::string::String;
use core::fmt::{self, Write as _};

use super::serializer::Vsn;
use crate::ws::Url;

/// `X-Client-Info` sent by default, so the server's logs can tell this client apart.
pub const CLIENT_INFO: &str = concat!("realtime-rs/", env!("CARGO_PKG_VERSION"));

/// Log levels the server honours (anything else falls back to `error` there, spec A.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogLevel {
    /// `info`.
    Info,
    /// `warning`.
    Warning,
    /// `error`.
    Error,
}

impl LogLevel {
    /// The query parameter value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warning => "warning",
            Self::Error => "error",
        }
    }
}

/// Why an endpoint could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// The base is not an `http`, `https`, `ws` or `wss` URL with a host.
    InvalidBase,
    /// The URL's port is not a number from 1 to 65535.
    InvalidPort,
    /// The URL has a `#fragment` or credentials (`user:pass@`), which a WebSocket URL cannot.
    Unsupported,
    /// The API key is empty (Supabase Realtime refuses the upgrade without one).
    MissingApiKey,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::InvalidBase => "realtime url must be an http(s) or ws(s) url with a host",
            Self::InvalidPort => "the realtime url's port must be a number from 1 to 65535",
            Self::Unsupported => "the realtime url cannot have a #fragment or user:password@",
            Self::MissingApiKey => "an api key is required",
        })
    }
}

impl core::error::Error for EndpointError {}

/// Builds the WebSocket URL for `base`, which may be the project's Realtime URL
/// (`https://<ref>.supabase.co/realtime/v1`), a `ws`/`wss` URL, or already end in
/// `/websocket`. Query parameters: `apikey` (Supabase Realtime's; `None` for a plain Phoenix
/// server), then `extra` in order, then `log_level` if set, then `vsn`; keys and values are
/// percent-encoded.
pub fn endpoint_url(
    base: &str,
    api_key: Option<&str>,
    vsn: Vsn,
    log_level: Option<LogLevel>,
    extra: &[(&str, &str)],
) -> Result<String, EndpointError> {
    if api_key == Some("") {
        return Err(EndpointError::MissingApiKey);
    }
    let (base, query) = base.split_once('?').unwrap_or((base, ""));
    let base = base.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").ok_or(EndpointError::InvalidBase)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(EndpointError::InvalidBase),
    };
    let mut url = String::with_capacity(base.len() + api_key.map_or(0, str::len) + 64);
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(rest);
    if !rest.ends_with("/websocket") {
        url.push_str("/websocket");
    }
    url.push('?');
    if !query.is_empty() {
        url.push_str(query);
        url.push('&');
    }
    let mut first = true;
    let mut param = |url: &mut String, k: &str, v: &str| {
        if !core::mem::take(&mut first) {
            url.push('&');
        }
        push_param(url, k, v);
    };
    if let Some(key) = api_key {
        param(&mut url, "apikey", key);
    }
    for (k, v) in extra {
        param(&mut url, k, v);
    }
    if let Some(level) = log_level {
        param(&mut url, "log_level", level.as_str());
    }
    param(&mut url, "vsn", vsn.as_str());
    Url::parse(&url).map_err(|e| match e {
        crate::ws::UrlError::Port => EndpointError::InvalidPort,
        crate::ws::UrlError::Unsupported => EndpointError::Unsupported,
        _ => EndpointError::InvalidBase,
    })?;
    Ok(url)
}

fn push_param(url: &mut String, key: &str, value: &str) {
    push_encoded(url, key);
    url.push('=');
    push_encoded(url, value);
}

/// Percent-encodes everything but RFC 3986's unreserved characters (query values, path
/// segments).
pub(crate) fn push_encoded(url: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            // Invariant: writing to a String cannot fail.
            let _ = write!(url, "%{b:02X}");
        }
    }
}

/// The URL with the value of every credential-like query parameter (`apikey`, anything
/// naming a key or token) hidden, for `Debug`.
pub(crate) fn redacted_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else { return String::from(url) };
    let mut out = String::from(base);
    out.push('?');
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((k, _)) if is_secret_name(k) => {
                out.push_str(k);
                out.push_str("=<redacted>");
            }
            _ => out.push_str(pair),
        }
    }
    out
}

/// Whether a parameter or header name carries a credential.
pub(crate) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("key")
        || n.contains("token")
        || n.contains("auth")
        || n.contains("cookie")
        || n.contains("secret")
}
