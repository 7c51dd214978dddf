//! TCP over embassy-net: sockets on the firmware's static buffers, reused for every connection,
//! names resolved by embassy-net's DNS, and the driver's poll-style byte stream over them.

use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll};

use embassy_net::dns::DnsQueryType;
use embassy_net::tcp::{ConnectError, State, TcpSocket};
use embassy_net::{IpAddress, Stack};
use realtime_driver::{ByteStream, IoError};

/// Default receive buffer of each socket: the TCP window the server may fill.
pub const DEFAULT_RX: usize = 4096;
/// Default transmit buffer of each socket: what is kept until the server acknowledges it.
pub const DEFAULT_TX: usize = 2048;
/// Default number of sockets: one for the WebSocket, one for a REST request beside it.
pub const DEFAULT_SOCKETS: usize = 2;

/// The buffers of the client's TCP sockets, `N` of them with `RX` bytes to receive and `TX`
/// to send each; placed in a `static` by the firmware (a `StaticCell`), so their size is
/// known at link time and the heap never holds them.
pub struct Resources<
    const RX: usize = DEFAULT_RX,
    const TX: usize = DEFAULT_TX,
    const N: usize = DEFAULT_SOCKETS,
> {
    buffers: [([u8; RX], [u8; TX]); N],
}

impl<const RX: usize, const TX: usize, const N: usize> Resources<RX, TX, N> {
    /// Zeroed buffers (a `const fn`, for a `static`).
    pub const fn new() -> Self {
        Self { buffers: [([0; RX], [0; TX]); N] }
    }
}

impl<const RX: usize, const TX: usize, const N: usize> Default for Resources<RX, TX, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const RX: usize, const TX: usize, const N: usize> fmt::Debug for Resources<RX, TX, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resources").field("rx", &RX).field("tx", &TX).field("sockets", &N).finish()
    }
}

/// Why a connection could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcpError {
    /// Every socket is in use (a WebSocket and as many REST requests as [`Resources`] has
    /// sockets for, less one).
    NoFreeSocket,
    /// The name did not resolve (no DNS server, no answer, or no IPv4 address).
    Dns(embassy_net::dns::Error),
    /// The name resolved to no address.
    NoAddress,
    /// The connection failed (refused, timed out, no route).
    Connect(ConnectError),
    /// The connection was reset (or the socket closed under a read or a write).
    Reset,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoFreeSocket => f.write_str("every TCP socket of the client's resources is in use"),
            Self::Dns(e) => write!(f, "the name did not resolve ({e:?})"),
            Self::NoAddress => f.write_str("the name resolved to no IPv4 address"),
            Self::Connect(ConnectError::ConnectionReset) => f.write_str("the connection was refused"),
            Self::Connect(ConnectError::TimedOut) => f.write_str("the connection timed out"),
            Self::Connect(ConnectError::NoRoute) => f.write_str("no route to the host"),
            Self::Connect(ConnectError::InvalidState) => f.write_str("the socket was still in use"),
            Self::Reset => f.write_str("the connection was reset"),
        }
    }
}

impl core::error::Error for TcpError {}

/// The idle sockets, shared by the runtime's clones; a [`Tcp`] gives its socket back here.
#[derive(Clone)]
pub(crate) struct Pool {
    stack: Stack<'static>,
    idle: Rc<RefCell<Vec<TcpSocket<'static>>>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("idle", &self.idle.borrow().len()).finish()
    }
}

impl Pool {
    /// One socket per buffer pair, made once: a socket outlives its connections (it is
    /// aborted and connected again), so the buffers never change hands.
    pub(crate) fn new<const RX: usize, const TX: usize, const N: usize>(
        stack: Stack<'static>,
        resources: &'static mut Resources<RX, TX, N>,
    ) -> Self {
        let idle = resources
            .buffers
            .iter_mut()
            .map(|(rx, tx)| {
                let mut socket = TcpSocket::new(stack, rx, tx);
                // Frames are written whole; waiting to coalesce them only adds latency.
                socket.set_nagle_enabled(false);
                socket
            })
            .collect();
        Self { stack, idle: Rc::new(RefCell::new(idle)) }
    }

    /// Resolves `host` and connects a socket of the pool to it.
    pub(crate) async fn connect(self, host: String, port: u16) -> Result<Tcp, IoError> {
        let socket = self.idle.borrow_mut().pop().ok_or(TcpError::NoFreeSocket)?;
        let mut tcp = Tcp { socket: Some(socket), home: self };
        let address = tcp.home.resolve(&host).await?;
        let socket = tcp.socket.as_mut().ok_or(TcpError::NoFreeSocket)?;
        socket.connect((address, port)).await.map_err(TcpError::Connect)?;
        Ok(tcp)
    }

    async fn resolve(&self, host: &str) -> Result<IpAddress, TcpError> {
        // An address literal is answered without a query.
        let found = self.stack.dns_query(host, DnsQueryType::A).await.map_err(TcpError::Dns)?;
        found.first().copied().ok_or(TcpError::NoAddress)
    }
}

impl From<TcpError> for IoError {
    fn from(e: TcpError) -> Self {
        IoError::new(e)
    }
}

/// A connected TCP socket; dropping it aborts the connection and gives the socket back.
pub struct Tcp {
    socket: Option<TcpSocket<'static>>,
    home: Pool,
}

impl fmt::Debug for Tcp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.socket.as_ref().map(TcpSocket::state);
        f.debug_struct("Tcp").field("state", &state).finish()
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        if let Some(mut socket) = self.socket.take() {
            // Closed at once (a reset if still open), so the next connect may use it.
            socket.abort();
            self.home.idle.borrow_mut().push(socket);
        }
    }
}

/// Polls a future of embassy-net's once. Its socket futures keep no state of their own (each
/// poll tries the operation and registers the waker if it cannot proceed), so a future made
/// for one poll and dropped after `Pending` loses nothing: the next poll makes a new one.
fn poll_once<F: Future>(cx: &mut Context<'_>, fut: F) -> Poll<F::Output> {
    pin!(fut).poll(cx)
}

impl Tcp {
    fn socket(&mut self) -> Result<&mut TcpSocket<'static>, IoError> {
        self.socket.as_mut().ok_or_else(|| TcpError::Reset.into())
    }

    /// Reads into `buf` (`Ok(0)`: the server closed its side).
    pub(crate) fn poll_read_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, TcpError>> {
        let Some(socket) = self.socket.as_mut() else { return Poll::Ready(Err(TcpError::Reset)) };
        poll_once(cx, socket.read(buf)).map_err(|_| TcpError::Reset)
    }

    /// Writes some of `buf`, once the send buffer has room.
    pub(crate) fn poll_write_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<Result<usize, TcpError>> {
        let Some(socket) = self.socket.as_mut() else { return Poll::Ready(Err(TcpError::Reset)) };
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        poll_once(cx, socket.write(buf)).map_err(|_| TcpError::Reset)
    }

    /// Sends a FIN and waits until the server has everything (the data and the FIN).
    pub(crate) fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TcpError>> {
        let Some(socket) = self.socket.as_mut() else { return Poll::Ready(Ok(())) };
        if matches!(socket.state(), State::Established | State::CloseWait) {
            socket.close();
        }
        poll_once(cx, socket.flush()).map_err(|_| TcpError::Reset)
    }
}

impl ByteStream for Tcp {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
        self.poll_read_bytes(cx, buf).map_err(IoError::from)
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
        self.poll_write_bytes(cx, buf).map_err(IoError::from)
    }
    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        // The stack sends what the socket holds by itself; a flush that waited for the
        // server's acknowledgement (embassy-net's) would only stall the writer.
        let _ = self.socket()?;
        Poll::Ready(Ok(()))
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        self.poll_shutdown(cx).map_err(IoError::from)
    }
}

/// A connected stream, plain or TLS.
pub enum Stream {
    /// TCP.
    Plain(Tcp),
    /// TLS over TCP (feature `tls`).
    #[cfg(feature = "tls")]
    Tls(crate::tls::TlsStream),
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(tcp) => f.debug_tuple("Plain").field(tcp).finish(),
            #[cfg(feature = "tls")]
            Self::Tls(_) => f.write_str("Tls"),
        }
    }
}

impl ByteStream for Stream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
        match self {
            Self::Plain(s) => s.poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => s.poll_read(cx, buf),
        }
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
        match self {
            Self::Plain(s) => s.poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Self::Tls(s) => s.poll_write(cx, buf),
        }
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        match self {
            Self::Plain(s) => s.poll_flush(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => s.poll_flush(cx),
        }
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        match self {
            Self::Plain(s) => s.poll_close(cx),
            #[cfg(feature = "tls")]
            Self::Tls(s) => s.poll_close(cx),
        }
    }
}
