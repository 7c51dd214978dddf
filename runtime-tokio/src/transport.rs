//! Opening a byte transport: TCP with `TCP_NODELAY`, through an HTTP CONNECT proxy when the
//! environment names one, then TLS (rustls) for `wss`/`https`.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// Which certificate authorities TLS connections trust.
#[derive(Clone, Debug, Default)]
pub enum Roots {
    /// Mozilla's roots, built in (webpki-roots): the default, the same on every machine.
    #[default]
    WebPki,
    /// The operating system's store (rustls-native-certs).
    Native,
    /// Exactly these (DER), for a private CA or a test server's own certificate.
    Custom(Vec<CertificateDer<'static>>),
}

/// How connections reach the server.
#[derive(Clone, Debug, Default)]
pub enum Proxy {
    /// `HTTPS_PROXY` (for `wss`/`https`) or `HTTP_PROXY` (for `ws`/`http`), lower case too,
    /// except for hosts in `NO_PROXY`: what users of other Rust network crates expect.
    #[default]
    FromEnv,
    /// Straight to the server.
    None,
    /// Through this HTTP proxy (`http://host:port`), for every host.
    Url(String),
}

/// A connected stream, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Where a URL points: host, port, TLS or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) tls: bool,
}

/// The host, port and TLS of a `ws`/`wss`/`http`/`https` URL.
pub(crate) fn target(url: &str) -> io::Result<Target> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "not a ws, wss, http or https URL");
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "wss" | "https" => true,
        "ws" | "http" => false,
        _ => return Err(bad()),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, tail) = v6.split_once(']').ok_or_else(bad)?;
        (h.to_string(), tail.strip_prefix(':').map(str::to_string))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p.to_string())),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse().map_err(|_| bad())?,
        None if tls => 443,
        None => 80,
    };
    Ok(Target { host, port, tls })
}

/// The proxy to use for `t`, if any.
fn proxy_for(proxy: &Proxy, t: &Target) -> Option<String> {
    match proxy {
        Proxy::None => None,
        Proxy::Url(u) => Some(u.clone()),
        Proxy::FromEnv => {
            let env = |k: &str| std::env::var(k).ok().or_else(|| std::env::var(k.to_ascii_lowercase()).ok());
            let url = if t.tls { env("HTTPS_PROXY") } else { env("HTTP_PROXY") }.filter(|u| !u.is_empty())?;
            let no_proxy = env("NO_PROXY").unwrap_or_default();
            (!no_proxy_matches(&no_proxy, &t.host)).then_some(url)
        }
    }
}

/// `NO_PROXY`: comma-separated hosts or domain suffixes (`.example.com` or `example.com`
/// match `a.example.com`), or `*` for all.
pub(crate) fn no_proxy_matches(no_proxy: &str, host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    no_proxy.split(',').map(|e| e.trim().to_ascii_lowercase()).filter(|e| !e.is_empty()).any(|e| {
        let e = e.split(':').next().unwrap_or("").to_string();
        e == "*"
            || host == e.trim_start_matches('.')
            || host.ends_with(&format!(".{}", e.trim_start_matches('.')))
    })
}

/// The head of a proxy's answer to CONNECT: at most this long.
const MAX_PROXY_HEAD: usize = 8 * 1024;

/// Asks an HTTP proxy for a tunnel to `t`.
async fn tunnel(proxy: &str, t: &Target) -> io::Result<TcpStream> {
    let p = target(proxy)?;
    let mut tcp = TcpStream::connect((p.host.as_str(), p.port)).await?;
    tcp.set_nodelay(true)?;
    let authority = if t.host.contains(':') {
        format!("[{}]:{}", t.host, t.port)
    } else {
        format!("{}:{}", t.host, t.port)
    };
    tcp.write_all(format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n").as_bytes()).await?;
    // Read the head byte by byte: nothing past it may be consumed (it is the server's).
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_PROXY_HEAD {
            return Err(io::Error::other("proxy answer too long"));
        }
        let b = tcp.read_u8().await?;
        head.push(b);
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&head) {
        Ok(httparse::Status::Complete(_)) if resp.code == Some(200) => Ok(tcp),
        Ok(_) => Err(io::Error::other(format!("proxy refused CONNECT: {:?}", resp.code))),
        Err(e) => Err(io::Error::other(format!("proxy answer: {e}"))),
    }
}

/// The TLS client configuration for these roots.
/// Whether connections to `url` use TLS (true when it cannot be parsed, so that the error
/// comes from the connection, as before). A rustls `ClientConfig` costs about 24 KiB (its
/// session cache and root store): a client of a `ws` endpoint does not build one.
pub(crate) fn needs_tls(url: &str) -> bool {
    target(url).map_or(true, |t| t.tls)
}

pub(crate) fn tls_connector(roots: &Roots) -> io::Result<TlsConnector> {
    let mut store = rustls::RootCertStore::empty();
    match roots {
        Roots::WebPki => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Roots::Native => {
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = store.add(cert);
            }
        }
        Roots::Custom(certs) => {
            for cert in certs {
                store.add(cert.clone()).map_err(io::Error::other)?;
            }
        }
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_root_certificates(store)
            .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Opens a stream to `url`'s host: proxy tunnel if configured, TLS with SNI if `wss`/`https`
/// (`tls` must then be given: clients of a `ws` endpoint do not build one, see
/// [`needs_tls`]).
pub(crate) async fn connect(url: &str, proxy: &Proxy, tls: Option<&TlsConnector>) -> io::Result<Stream> {
    let t = target(url)?;
    let tcp = match proxy_for(proxy, &t) {
        Some(p) => tunnel(&p, &t).await?,
        None => {
            let tcp = TcpStream::connect((t.host.as_str(), t.port)).await?;
            tcp.set_nodelay(true)?;
            tcp
        }
    };
    if !t.tls {
        return Ok(Stream::Plain(tcp));
    }
    let tls =
        tls.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "TLS URL without a TLS setup"))?;
    let name =
        ServerName::try_from(t.host.clone()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(Stream::Tls(Box::new(tls.connect(name, tcp).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_no_proxy() {
        assert_eq!(
            target("wss://x.supabase.co/realtime/v1/websocket?apikey=k").unwrap(),
            Target { host: "x.supabase.co".into(), port: 443, tls: true }
        );
        assert_eq!(
            target("ws://127.0.0.1:4000/socket").unwrap(),
            Target { host: "127.0.0.1".into(), port: 4000, tls: false }
        );
        assert_eq!(
            target("http://[::1]:8080").unwrap(),
            Target { host: "::1".into(), port: 8080, tls: false }
        );
        assert!(target("ftp://x").is_err());
        assert!(target("ws://:80").is_err());
        assert!(no_proxy_matches("localhost, .example.com", "api.example.com"));
        assert!(no_proxy_matches("example.com", "example.com"));
        assert!(no_proxy_matches("*", "anything"));
        assert!(!no_proxy_matches("example.com", "notexample.com"));
        assert!(!no_proxy_matches("", "x"));
    }
}
