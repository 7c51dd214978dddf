//! Opening a stream to a target: TCP (to the target, or to an HTTP proxy and then the core's
//! CONNECT tunnel over it), then TLS for `wss`/`https`. The socket and REST requests both
//! dial through here.

use alloc::boxed::Box;
use alloc::string::String;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};

use realtime_core::client::Target;
use realtime_core::phoenix::proxy::{Tunnel, proxy_for};

use crate::config::Proxy;
use crate::error::{ConnectionError, IoError, ProxyFailure};
use crate::runtime::{ByteStream, Runtime};

/// The proxy answer is read in pieces this big (the head is short; nothing may follow it).
const TUNNEL_READ: usize = 512;

/// Where the TCP connection goes: the proxy to use for `target`, if any.
fn proxy_target<R: Runtime>(
    rt: &R,
    proxy: &Proxy,
    target: &Target,
) -> Result<Option<Target>, ConnectionError> {
    let url = match proxy {
        Proxy::None => return Ok(None),
        Proxy::Url(u) => u.clone(),
        Proxy::FromEnv => {
            let env = |k: &str| rt.env(k).or_else(|| rt.env(&k.to_ascii_lowercase()));
            let (https, http, no) = (env("HTTPS_PROXY"), env("HTTP_PROXY"), env("NO_PROXY"));
            match proxy_for(target, https.as_deref(), http.as_deref(), no.as_deref()) {
                Some(u) => String::from(u),
                None => return Ok(None),
            }
        }
    };
    let bad = |_| ConnectionError::Proxy(ProxyFailure::Io(IoError::msg("the proxy URL cannot be parsed")));
    let proxy = Target::parse(&url).map_err(bad)?;
    // The tunnel is plain HTTP to the proxy: TLS to the proxy itself (`https://`) is not
    // spoken, and saying so beats a confusing parse error of its TLS bytes.
    if proxy.tls {
        return Err(ConnectionError::Proxy(ProxyFailure::Io(IoError::msg(
            "https:// proxies are not supported: use an http:// proxy URL (the tunnel still carries TLS)",
        ))));
    }
    Ok(Some(proxy))
}

enum Step<R: Runtime> {
    Tcp {
        connect: Pin<Box<R::Connect>>,
        proxied: bool,
    },
    Tunnel {
        tcp: R::Tcp,
        tunnel: Tunnel,
        buf: Box<[u8; TUNNEL_READ]>,
        pos: usize,
        len: usize,
    },
    Tls(Pin<Box<R::Handshake>>),
    /// Failed before the first poll (a proxy URL that cannot be parsed).
    Failed(ConnectionError),
    Done,
}

/// A stream being opened.
pub(crate) struct Dial<R: Runtime> {
    rt: R,
    host: String,
    port: u16,
    tls: bool,
    step: Step<R>,
}

impl<R: Runtime> Dial<R> {
    pub(crate) fn new(rt: &R, proxy: &Proxy, target: &Target) -> Self {
        let (host, port, tls) = (target.host.clone(), target.port, target.tls);
        let step = match proxy_target(rt, proxy, target) {
            Ok(Some(p)) => Step::Tcp { connect: Box::pin(rt.connect(&p.host, p.port)), proxied: true },
            Ok(None) => Step::Tcp { connect: Box::pin(rt.connect(&host, port)), proxied: false },
            // Reported on the first poll, as any other failure to connect.
            Err(e) => Step::Failed(e),
        };
        Self { rt: rt.clone(), host, port, tls, step }
    }

    /// The last step: the plain stream at once, or the TLS handshake next.
    fn secure(&mut self, tcp: R::Tcp) -> Option<Result<R::Stream, ConnectionError>> {
        if !self.tls {
            return Some(Ok(self.rt.plain(tcp)));
        }
        self.step = Step::Tls(Box::pin(self.rt.tls(tcp, &self.host)));
        None
    }
}

impl<R: Runtime> Unpin for Dial<R> {}

impl<R: Runtime> Future for Dial<R> {
    type Output = Result<R::Stream, ConnectionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            // Each step owns what it holds: taken out, and put back while it waits.
            match core::mem::replace(&mut this.step, Step::Done) {
                Step::Tcp { mut connect, proxied } => {
                    let tcp = match connect.as_mut().poll(cx) {
                        Poll::Pending => {
                            this.step = Step::Tcp { connect, proxied };
                            return Poll::Pending;
                        }
                        Poll::Ready(Ok(tcp)) => tcp,
                        Poll::Ready(Err(e)) if proxied => {
                            return Poll::Ready(Err(ConnectionError::Proxy(ProxyFailure::Io(e))));
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(ConnectionError::Connect(e))),
                    };
                    if proxied {
                        let tunnel = match Tunnel::new(&this.host, this.port) {
                            Ok(t) => t,
                            Err(e) => {
                                return Poll::Ready(Err(ConnectionError::Proxy(ProxyFailure::Refused(e))));
                            }
                        };
                        let buf = Box::new([0u8; TUNNEL_READ]);
                        this.step = Step::Tunnel { tcp, tunnel, buf, pos: 0, len: 0 };
                    } else if let Some(done) = this.secure(tcp) {
                        return Poll::Ready(done);
                    }
                }
                Step::Tunnel { mut tcp, mut tunnel, mut buf, mut pos, mut len } => {
                    match poll_tunnel(cx, &mut tcp, &mut tunnel, &mut buf, &mut pos, &mut len) {
                        Poll::Pending => {
                            this.step = Step::Tunnel { tcp, tunnel, buf, pos, len };
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(ConnectionError::Proxy(e))),
                        Poll::Ready(Ok(())) => {
                            if let Some(done) = this.secure(tcp) {
                                return Poll::Ready(done);
                            }
                        }
                    }
                }
                Step::Tls(mut handshake) => match handshake.as_mut().poll(cx) {
                    Poll::Pending => {
                        this.step = Step::Tls(handshake);
                        return Poll::Pending;
                    }
                    Poll::Ready(r) => return Poll::Ready(r.map_err(ConnectionError::Tls)),
                },
                Step::Failed(e) => return Poll::Ready(Err(e)),
                Step::Done => {
                    return Poll::Ready(Err(ConnectionError::Io(IoError::msg("polled after it finished"))));
                }
            }
        }
    }
}

/// The CONNECT exchange: the core's request out, the proxy's head in (never a byte past it).
fn poll_tunnel<S: ByteStream>(
    cx: &mut Context<'_>,
    tcp: &mut S,
    tunnel: &mut Tunnel,
    buf: &mut [u8; TUNNEL_READ],
    pos: &mut usize,
    len: &mut usize,
) -> Poll<Result<(), ProxyFailure>> {
    loop {
        if *pos < *len {
            let n = ready!(tcp.poll_write(cx, &buf[*pos..*len])).map_err(ProxyFailure::Io)?;
            if n == 0 {
                return Poll::Ready(Err(ProxyFailure::Io(IoError::msg("the proxy stopped reading"))));
            }
            *pos += n;
            continue;
        }
        let n = tunnel.poll_transmit(&mut buf[..]);
        if n > 0 {
            (*pos, *len) = (0, n);
            continue;
        }
        ready!(tcp.poll_flush(cx)).map_err(ProxyFailure::Io)?;
        match tunnel.result() {
            Some(Ok(())) => return Poll::Ready(Ok(())),
            Some(Err(e)) => return Poll::Ready(Err(ProxyFailure::Refused(e))),
            None => {}
        }
        let n = ready!(tcp.poll_read(cx, &mut buf[..])).map_err(ProxyFailure::Io)?;
        if n == 0 {
            tunnel.handle_eof();
            continue;
        }
        let used = tunnel.handle_input(&buf[..n]);
        // The server speaks only after the client (the upgrade request, a TLS hello): bytes
        // past the proxy's head mean a broken proxy, and they cannot be handed back.
        if used < n {
            return Poll::Ready(Err(ProxyFailure::TrailingBytes));
        }
    }
}
