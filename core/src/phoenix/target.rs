//! Where a transport connects: host, port, TLS or not, and the request path, parsed once from
//! a `ws`, `wss`, `http` or `https` URL. The client's socket URL gives the runtime its
//! [`TransportCommand::Open`](crate::client::TransportCommand::Open) target; a proxy URL from
//! the environment gives where the tunnel starts.
//!
//! The host and port rules are the WebSocket layer's ([`ws::Url`](crate::ws::Url)): one parser, so the target
//! the runtime dials is the host the upgrade request names.

use alloc::string::String;
use core::fmt;

use crate::ws::UrlError;
use crate::ws::handshake::{Url, authority_of, strip_prefix_ci};

/// A parsed connect target. `Debug` hides the values of credential-like query parameters
/// (`apikey`, tokens), as [`TransportCommand`](crate::client::TransportCommand)'s does.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host for DNS and the TLS server name: IPv6 literals without their brackets (`::1`).
    pub host: String,
    /// The port, explicit or the scheme's default (80, or 443 with TLS).
    pub port: u16,
    /// `wss` or `https`: the connection is TLS.
    pub tls: bool,
    /// The request path and query, always starting with `/`
    /// (`/realtime/v1/websocket?apikey=...&vsn=2.0.0`).
    pub path: String,
}

/// Why a URL gives no connect target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TargetError {
    /// Not `ws`, `wss`, `http` or `https`.
    Scheme,
    /// No host, or a host with characters a host cannot have.
    Host,
    /// A port that is not a number from 1 to 65535.
    Port,
    /// A path or query with spaces or control characters.
    Path,
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Scheme => "url scheme must be ws, wss, http or https",
            Self::Host => "url has no valid host",
            Self::Port => "url port must be 1-65535",
            Self::Path => "url path may not hold spaces or control characters",
        })
    }
}

impl core::error::Error for TargetError {}

impl Target {
    /// Parses `url`. Credentials (`user:password@`) and a `#fragment` are dropped: neither goes
    /// on the wire (a proxy that wants credentials is not supported).
    ///
    /// # Errors
    ///
    /// [`TargetError`] for another scheme, an empty or invalid host, a bad port, or a path with
    /// spaces or control characters.
    pub fn parse(url: &str) -> Result<Self, TargetError> {
        let mut found = None;
        for (scheme, tls) in [("wss://", true), ("ws://", false), ("https://", true), ("http://", false)] {
            if let Some(rest) = strip_prefix_ci(url, scheme) {
                found = Some((rest, tls));
                break;
            }
        }
        let (rest, tls) = found.ok_or(TargetError::Scheme)?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        // The userinfo ends at the authority's last `@` (a password may hold one, unescaped).
        let rest = match authority_of(rest).rfind('@') {
            Some(at) => &rest[at + 1..],
            None => rest,
        };
        let url = Url::after_scheme(tls, rest).map_err(|e| match e {
            UrlError::Port => TargetError::Port,
            UrlError::Unsupported => TargetError::Path,
            _ => TargetError::Host,
        })?;
        let mut path = String::with_capacity(url.resource.len() + 1);
        if !url.resource.starts_with('/') {
            // `ws://host?query`: the request target still starts with `/`.
            path.push('/');
        }
        path.push_str(url.resource);
        Ok(Self { host: String::from(url.host_name()), port: url.port, tls, path })
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("path", &super::endpoint::redacted_url(&self.path))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    fn target(host: &str, port: u16, tls: bool, path: &str) -> Target {
        Target { host: host.into(), port, tls, path: path.into() }
    }

    /// The cases of the runtime's former parser, and the rules it left implicit.
    #[test]
    fn schemes_ports_hosts_and_paths() {
        assert_eq!(
            Target::parse("wss://x.supabase.co/realtime/v1/websocket?apikey=k").unwrap(),
            target("x.supabase.co", 443, true, "/realtime/v1/websocket?apikey=k")
        );
        assert_eq!(
            Target::parse("ws://127.0.0.1:4000/socket").unwrap(),
            target("127.0.0.1", 4000, false, "/socket")
        );
        assert_eq!(Target::parse("http://[::1]:8080").unwrap(), target("::1", 8080, false, "/"));
        assert_eq!(Target::parse("HTTPS://Example.com").unwrap(), target("Example.com", 443, true, "/"));
        assert_eq!(Target::parse("http://proxy").unwrap(), target("proxy", 80, false, "/"));
        assert_eq!(Target::parse("ws://h?vsn=2.0.0").unwrap(), target("h", 80, false, "/?vsn=2.0.0"));
        // Credentials and fragments never reach the wire.
        assert_eq!(
            Target::parse("http://user:p@ss@proxy.corp:3128/#x").unwrap(),
            target("proxy.corp", 3128, false, "/")
        );
        assert_eq!(Target::parse("ftp://x"), Err(TargetError::Scheme));
        assert_eq!(Target::parse("x.supabase.co"), Err(TargetError::Scheme));
        assert_eq!(Target::parse("ws://:80"), Err(TargetError::Host));
        assert_eq!(Target::parse("ws://"), Err(TargetError::Host));
        assert_eq!(Target::parse("http://user@/"), Err(TargetError::Host));
        assert_eq!(Target::parse("ws://x:99999"), Err(TargetError::Port));
        assert_eq!(Target::parse("ws://x:0"), Err(TargetError::Port));
        assert_eq!(Target::parse("ws://x:8o"), Err(TargetError::Port));
        assert_eq!(Target::parse("ws://[::1/"), Err(TargetError::Host));
        assert_eq!(Target::parse("ws://x/a b"), Err(TargetError::Path));
    }

    #[test]
    fn debug_hides_credentials_in_the_query() {
        let t = Target::parse("wss://p.supabase.co/realtime/v1/websocket?apikey=SECRET&vsn=2.0.0").unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("apikey=<redacted>&vsn=2.0.0"), "{shown}");
        assert!(shown.contains("p.supabase.co"), "{shown}");
    }
}
