//! The in-memory socket and the read and send buffers the implementations share.

use core::future::Future;
use core::hint::black_box;
use core::pin::{Pin, pin};
use core::task::{Context, Poll, Waker};
use std::io;

use bytes::BytesMut;

use crate::Case;

/// Largest single read from the in-memory socket, and the size of the sans-IO read buffers
/// (tungstenite's default read buffer is the same).
pub(crate) const CHUNK: usize = 128 << 10;
/// Send buffer: drained (discarded) when the next write does not fit. Encoders that need a
/// whole frame contiguous (embedded-websocket, yawc) grow it to one frame.
pub(crate) const SEND_BUF: usize = 128 << 10;
/// Room for any frame header (2 + 8 + 4 mask).
pub(crate) const MAX_HEADER: usize = 14;
/// Receive limits set on every implementation that has them: above the 1 MiB messages.
pub(crate) const MAX_LEN: usize = 16 << 20;

/// The server side of the socket: cycles over the wire image, at most `CHUNK` bytes per read
/// and never across the end of the image (so every iteration starts at a frame boundary).
pub(crate) struct Wire {
    data: Vec<u8>,
    pos: usize,
}

impl Wire {
    pub(crate) fn new(case: &Case) -> Self {
        Self::from_bytes(case.wire.clone())
    }

    /// A wire of these bytes (a whole number of frames).
    pub(crate) fn from_bytes(data: Vec<u8>) -> Self {
        Self { data, pos: 0 }
    }

    fn next_len(&self, room: usize) -> usize {
        room.min(CHUNK).min(self.data.len() - self.pos)
    }

    fn advance(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.data.len() {
            self.pos = 0;
        }
    }

    /// Like `recv()`: copies the next bytes into `dst`.
    pub(crate) fn recv(&mut self, dst: &mut [u8]) -> usize {
        let n = self.next_len(dst.len());
        dst[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.advance(n);
        n
    }

    /// `recv()` into a growable buffer (at least `CHUNK` of room).
    pub(crate) fn recv_bytes(&mut self, dst: &mut BytesMut) -> usize {
        let n = self.next_len(CHUNK);
        dst.extend_from_slice(&self.data[self.pos..self.pos + n]);
        self.advance(n);
        n
    }
}

/// A fixed 128 KiB read buffer for the sans-IO decoders: `data()` is what is not consumed yet.
pub(crate) struct RecvBuf {
    pub(crate) buf: Box<[u8]>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

impl RecvBuf {
    pub(crate) fn new() -> Self {
        Self { buf: vec![0; CHUNK].into_boxed_slice(), start: 0, end: 0 }
    }

    /// Moves the unconsumed tail (a partial header at most) to the front, then reads.
    pub(crate) fn fill(&mut self, wire: &mut Wire) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        self.end += wire.recv(&mut self.buf[self.end..]);
    }
}

/// A blocking stream: reads cycle over the wire image, writes are discarded.
pub(crate) struct SyncStream {
    pub(crate) wire: Option<Wire>,
}

impl io::Read for SyncStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.wire {
            Some(w) => Ok(w.recv(buf)),
            None => Err(io::ErrorKind::WouldBlock.into()),
        }
    }
}

impl io::Write for SyncStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        black_box(buf.len());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The async twin of [`SyncStream`]; it is never `Pending`.
pub(crate) struct AsyncStream {
    pub(crate) wire: Option<Wire>,
}

impl tokio::io::AsyncRead for AsyncStream {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(w) = &mut self.get_mut().wire {
            let n = w.next_len(buf.remaining());
            buf.put_slice(&w.data[w.pos..w.pos + n]);
            w.advance(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl tokio::io::AsyncWrite for AsyncStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        black_box(buf.len());
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(black_box(bufs.iter().map(|b| b.len()).sum())))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls a future once with a no-op waker; the in-memory streams never return `Pending`.
pub(crate) fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("in-memory stream went pending"),
    }
}

/// The send buffer: writes go to `room()`, and it is drained (discarded) when full.
pub(crate) struct SendBuf {
    buf: Vec<u8>,
    pub(crate) len: usize,
}

impl SendBuf {
    pub(crate) fn new() -> Self {
        Self { buf: vec![0; SEND_BUF], len: 0 }
    }

    pub(crate) fn drain(&mut self) {
        black_box(&self.buf[..self.len]);
        self.len = 0;
    }

    /// Free space of at least `need` bytes (draining first if needed, growing if it must).
    pub(crate) fn room(&mut self, need: usize) -> &mut [u8] {
        if self.buf.len() - self.len < need {
            self.drain();
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        &mut self.buf[self.len..]
    }
}
