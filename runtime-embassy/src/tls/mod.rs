//! TLS 1.3 by embedded-tls (feature `tls`), with the server's certificate verified against
//! the firmware's roots (`Roots::Custom`), on buffers the firmware gives ([`TlsResources`]).
//!
//! embedded-tls is written with `async fn`s whose reads are not safe to cancel (a record
//! header half read is lost), while the driver polls its stream. So each connection is one
//! future, the *pump*, that owns the TLS connection and its TCP socket and is never dropped
//! midway: its reader half copies plaintext into an inbound pipe, its writer half drains an
//! outbound pipe, and the driver's `poll_read`/`poll_write` move bytes through the pipes and
//! poll the pump (on the driver's task, with its waker). The pump waits on the pipes without a
//! waker of its own: it is polled again after every change the driver makes to them.

mod verify;

pub(crate) use verify::set_unix_time;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;
use core::future::{Future, poll_fn};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::select::{Either, select};
use embedded_tls::TlsError;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use realtime_driver::{ByteStream, Config, Error, IoError, Roots};

use crate::tcp::{Tcp, TcpError};

/// A TLS record's largest size: a read buffer this big reads any server.
pub const DEFAULT_TLS_READ: usize = 16_640;
/// The record write buffer: records of up to this much are sent (each adds 128 bytes).
pub const DEFAULT_TLS_WRITE: usize = 4096;
/// Each pipe between the driver and the pump.
const PIPE: usize = 1024;
/// The most the server's certificate chain may take (the verifier copies it).
const CHAIN_CAP: usize = 4096;
/// What the pump copies from the outbound pipe at once.
const CHUNK: usize = 512;

pub(crate) const NO_TLS_RESOURCES: &str =
    "a TLS endpoint, but the runtime has no TLS resources (Embassy::tls)";

/// The buffers of the client's TLS connections, `N` of them (one per TLS socket in use at
/// once: the WebSocket, and a REST request if it runs beside it): a record read buffer of
/// `READ` bytes, a record write buffer of `WRITE` bytes and two 1 KiB pipes each. Placed in a
/// `static` by the firmware.
pub struct TlsResources<
    const READ: usize = DEFAULT_TLS_READ,
    const WRITE: usize = DEFAULT_TLS_WRITE,
    const N: usize = 1,
> {
    slots: [TlsSlot<READ, WRITE>; N],
}

/// One connection's buffers.
struct TlsSlot<const READ: usize, const WRITE: usize> {
    read: [u8; READ],
    write: [u8; WRITE],
    inbound: [u8; PIPE],
    outbound: [u8; PIPE],
}

impl<const READ: usize, const WRITE: usize, const N: usize> TlsResources<READ, WRITE, N> {
    /// Zeroed buffers (a `const fn`, for a `static`).
    pub const fn new() -> Self {
        Self {
            slots: [const {
                TlsSlot { read: [0; READ], write: [0; WRITE], inbound: [0; PIPE], outbound: [0; PIPE] }
            }; N],
        }
    }
}

impl<const READ: usize, const WRITE: usize, const N: usize> Default for TlsResources<READ, WRITE, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const READ: usize, const WRITE: usize, const N: usize> fmt::Debug for TlsResources<READ, WRITE, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsResources").field("read", &READ).field("write", &WRITE).field("slots", &N).finish()
    }
}

/// Why TLS failed, in words; the source is embedded-tls's error.
#[derive(Debug, Clone, Copy)]
pub struct TlsFailure(pub TlsError);

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            TlsError::InvalidCertificate => "the server's certificate is not trusted by the roots, or not for this name",
            TlsError::InvalidSignatureScheme | TlsError::InvalidSignature => {
                "the server's certificate signature could not be verified (unsupported algorithm or bad signature)"
            }
            TlsError::InvalidHandshake => "the server did not prove its certificate",
            TlsError::HandshakeAborted(..) => "the server aborted the TLS handshake",
            TlsError::InsufficientSpace | TlsError::OutOfMemory => {
                "a TLS record or the certificate chain is larger than the client's TLS buffers"
            }
            TlsError::ConnectionClosed => "the server closed the TLS connection",
            TlsError::Io(_) | TlsError::IoError => "the connection under TLS failed",
            _ => "the TLS connection failed",
        })?;
        write!(f, " ({:?})", self.0)
    }
}

impl core::error::Error for TlsFailure {}

/// One connection's buffers, lent out of the pool and given back when dropped.
struct Lease {
    slot: Option<Slot>,
    home: Rc<RefCell<Vec<Slot>>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.home.borrow_mut().push(slot);
        }
    }
}

struct Slot {
    read: &'static mut [u8],
    write: &'static mut [u8],
}

/// The runtime's TLS: the buffer pool and the trust anchors.
#[derive(Clone)]
pub(crate) struct Setup {
    slots: Rc<RefCell<Vec<Slot>>>,
    pipes: PipePool,
    roots: Rc<[Vec<u8>]>,
}

impl Setup {
    pub(crate) fn new<const READ: usize, const WRITE: usize, const N: usize>(
        resources: &'static mut TlsResources<READ, WRITE, N>,
    ) -> Self {
        let (mut slots, mut pipes) = (Vec::with_capacity(N), Vec::with_capacity(N));
        for slot in resources.slots.iter_mut() {
            slots.push(Slot { read: &mut slot.read, write: &mut slot.write });
            pipes.push((&mut slot.inbound[..], &mut slot.outbound[..]));
        }
        Self { slots: Rc::new(RefCell::new(slots)), pipes: Rc::new(RefCell::new(pipes)), roots: Rc::from([]) }
    }

    /// The roots of `config`: only the firmware's own (`Roots::Custom`) exist on a device.
    pub(crate) fn with_roots(mut self, config: &Config) -> Result<Self, Error> {
        match &config.roots {
            Roots::Custom(certs) => {
                self.roots = certs.iter().map(|c| c.as_ref().to_vec()).collect();
                Ok(self)
            }
            _ => Err(Error::Tls(IoError::msg(
                "realtime-embassy trusts only the roots the firmware gives: set Config::roots to Roots::Custom",
            ))),
        }
    }

    /// Connects TLS over `tcp` for `name`, the key exchange's randomness from `seed`.
    pub(crate) async fn handshake(
        self,
        tcp: Tcp,
        name: String,
        seed: [u8; 32],
    ) -> Result<TlsStream, IoError> {
        let no_buffers = || IoError::new(TcpError::NoFreeSocket);
        let slot = self.slots.borrow_mut().pop().ok_or_else(no_buffers)?;
        let lease = Lease { slot: Some(slot), home: self.slots.clone() };
        let (inbound, outbound) = self.pipes.borrow_mut().pop().ok_or_else(no_buffers)?;
        let pipes = Rc::new(RefCell::new(Pipes {
            inbound: Pipe::new(inbound),
            outbound: Pipe::new(outbound),
            flushed: true,
            open: false,
            closing: false,
            ended: None,
            home: self.pipes.clone(),
        }));
        let pump = pump(tcp, lease, self.roots.clone(), name, seed, pipes.clone());
        let mut stream = TlsStream { pump: Some(Box::pin(pump)), pipes };
        poll_fn(|cx| {
            stream.poll_pump(cx);
            let p = stream.pipes.borrow();
            match &p.ended {
                _ if p.open => Poll::Ready(Ok(())),
                Some(Err(e)) => Poll::Ready(Err(e.clone())),
                Some(Ok(())) => Poll::Ready(Err(IoError::msg(
                    "the server closed the connection during the TLS handshake",
                ))),
                None => Poll::Pending,
            }
        })
        .await?;
        Ok(stream)
    }
}

/// The idle pipe buffers (inbound, outbound) of the connections.
type PipePool = Rc<RefCell<Vec<(&'static mut [u8], &'static mut [u8])>>>;

/// A buffer bytes go into at the end and come out of at the front.
struct Pipe {
    buf: &'static mut [u8],
    start: usize,
    end: usize,
}

impl Pipe {
    fn new(buf: &'static mut [u8]) -> Self {
        Self { buf, start: 0, end: 0 }
    }
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// Room at the end (moving what is held to the front first).
    fn room(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        &mut self.buf[self.end..]
    }
    fn filled(&mut self, n: usize) {
        self.end += n;
    }
    /// Moves what fits into `out`.
    fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.end - self.start);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        n
    }
}

/// What the driver's side and the pump share.
struct Pipes {
    inbound: Pipe,
    outbound: Pipe,
    /// Everything written has gone out in a record.
    flushed: bool,
    /// The handshake completed.
    open: bool,
    /// The driver asked for the end (a close_notify, then the TCP FIN).
    closing: bool,
    /// The pump ended: the server closed (`Ok`), or the error.
    ended: Option<Result<(), IoError>>,
    home: PipePool,
}

impl Drop for Pipes {
    fn drop(&mut self) {
        let inbound = core::mem::take(&mut self.inbound.buf);
        let outbound = core::mem::take(&mut self.outbound.buf);
        self.home.borrow_mut().push((inbound, outbound));
    }
}

/// The TCP socket, shared by the connection's reader and writer halves (embedded-tls splits
/// over a cloneable socket). Each operation borrows it for one poll.
#[derive(Clone, Copy)]
struct Half<'a>(&'a RefCell<Tcp>);

impl embedded_io_async::ErrorType for Half<'_> {
    type Error = TcpError;
}

impl embedded_io::Error for TcpError {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::ConnectionReset
    }
}

impl embedded_io_async::Read for Half<'_> {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, TcpError> {
        poll_fn(|cx| self.0.borrow_mut().poll_read_bytes(cx, buf)).await
    }
}

impl embedded_io_async::Write for Half<'_> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, TcpError> {
        poll_fn(|cx| self.0.borrow_mut().poll_write_bytes(cx, buf)).await
    }
    async fn flush(&mut self) -> Result<(), TcpError> {
        // The stack sends what the socket holds by itself (see `Tcp::poll_flush`).
        Ok(())
    }
}

/// Waits until `ready` holds of the pipes (no waker: the driver polls the pump after every
/// change it makes to them).
async fn until(pipes: &RefCell<Pipes>, ready: impl Fn(&mut Pipes) -> bool) {
    poll_fn(|_| if ready(&mut pipes.borrow_mut()) { Poll::Ready(()) } else { Poll::Pending }).await;
}

/// The connection's one future: handshake, then both directions until either ends, then
/// (when the driver closes) a close_notify and the TCP FIN.
async fn pump(
    tcp: Tcp,
    mut lease: Lease,
    roots: Rc<[Vec<u8>]>,
    name: String,
    seed: [u8; 32],
    pipes: Rc<RefCell<Pipes>>,
) {
    let result = run(tcp, &mut lease, &roots, &name, seed, &pipes).await;
    pipes.borrow_mut().ended = Some(result);
}

async fn run(
    tcp: Tcp,
    lease: &mut Lease,
    roots: &[Vec<u8>],
    name: &str,
    seed: [u8; 32],
    pipes: &RefCell<Pipes>,
) -> Result<(), IoError> {
    let tls = |e: TlsError| IoError::new(TlsFailure(e));
    let Some(slot) = lease.slot.as_mut() else { return Err(IoError::msg(NO_TLS_RESOURCES)) };
    let tcp = RefCell::new(tcp);
    let anchors: Vec<&[u8]> = roots.iter().map(Vec::as_slice).collect();
    let config = verify::ClientConfig { server_name: name, trust_anchors: &anchors };
    let rng = ChaCha20Rng::from_seed(seed);
    let mut conn = verify::connect::<_, _, verify::GlobalUnixClock, CHAIN_CAP>(
        Half(&tcp),
        &config,
        rng,
        &mut *slot.read,
        &mut *slot.write,
    )
    .await
    .map_err(tls)?;
    pipes.borrow_mut().open = true;
    let closing = {
        let (mut reader, mut writer) = conn.split();
        let receive = async {
            loop {
                let mut data = match reader.read_buffered().await {
                    Ok(data) => data,
                    // The server's close_notify, or its end of the TCP stream.
                    Err(TlsError::ConnectionClosed | TlsError::IoError) => return Ok::<(), IoError>(()),
                    Err(e) => return Err(tls(e)),
                };
                while !data.is_empty() {
                    until(pipes, |p| !p.inbound.room().is_empty()).await;
                    let mut p = pipes.borrow_mut();
                    let room = p.inbound.room();
                    let n = room.len().min(data.len());
                    room[..n].copy_from_slice(data.pop(n));
                    p.inbound.filled(n);
                }
            }
        };
        let send = async {
            let mut chunk = [0u8; CHUNK];
            loop {
                until(pipes, |p| !p.outbound.is_empty() || p.closing || !p.flushed).await;
                let n = pipes.borrow_mut().outbound.take_into(&mut chunk);
                if n == 0 {
                    embedded_io_async::Write::flush(&mut writer).await.map_err(tls)?;
                    let mut p = pipes.borrow_mut();
                    p.flushed = p.outbound.is_empty();
                    if p.closing && p.flushed {
                        return Ok::<(), IoError>(());
                    }
                    continue;
                }
                let mut at = 0;
                while at < n {
                    at += embedded_io_async::Write::write(&mut writer, &chunk[at..n]).await.map_err(tls)?;
                }
            }
        };
        match select(receive, send).await {
            Either::First(ended) => ended.map(|()| false)?,
            Either::Second(closed) => closed.map(|()| true)?,
        }
    };
    if closing {
        conn.close().await.map_err(|(_, e)| tls(e))?;
        poll_fn(|cx| tcp.borrow_mut().poll_shutdown(cx)).await.map_err(IoError::new)?;
    }
    Ok(())
}

/// A TLS stream: the pump and the pipes.
pub struct TlsStream {
    pump: Option<Pin<Box<dyn Future<Output = ()>>>>,
    pipes: Rc<RefCell<Pipes>>,
}

impl fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsStream").field("running", &self.pump.is_some()).finish()
    }
}

impl TlsStream {
    fn poll_pump(&mut self, cx: &mut Context<'_>) {
        if let Some(pump) = self.pump.as_mut()
            && pump.as_mut().poll(cx).is_ready()
        {
            self.pump = None;
        }
    }

    fn ended(&self) -> Option<Result<(), IoError>> {
        self.pipes.borrow().ended.clone()
    }
}

impl ByteStream for TlsStream {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
        self.poll_pump(cx);
        let n = self.pipes.borrow_mut().inbound.take_into(buf);
        if n > 0 {
            // Room again: let the reader go on (and register its waker).
            self.poll_pump(cx);
            return Poll::Ready(Ok(n));
        }
        match self.ended() {
            Some(Ok(())) => Poll::Ready(Ok(0)),
            Some(Err(e)) => Poll::Ready(Err(e)),
            None => Poll::Pending,
        }
    }
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
        self.poll_pump(cx);
        if let Some(ended) = self.ended() {
            return Poll::Ready(Err(ended
                .err()
                .unwrap_or_else(|| IoError::msg("the TLS connection was closed"))));
        }
        let n = {
            let mut p = self.pipes.borrow_mut();
            let room = p.outbound.room();
            let n = room.len().min(buf.len());
            room[..n].copy_from_slice(&buf[..n]);
            p.outbound.filled(n);
            if n > 0 {
                p.flushed = false;
            }
            n
        };
        if n == 0 {
            // The pipe is full: the pump is writing and waits on the socket's waker.
            return Poll::Pending;
        }
        self.poll_pump(cx);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        self.poll_pump(cx);
        if let Some(Err(e)) = self.ended() {
            return Poll::Ready(Err(e));
        }
        let p = self.pipes.borrow();
        if p.flushed && p.outbound.is_empty() || p.ended.is_some() {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        self.pipes.borrow_mut().closing = true;
        self.poll_pump(cx);
        match self.ended() {
            Some(ended) => Poll::Ready(ended),
            None => Poll::Pending,
        }
    }
}
