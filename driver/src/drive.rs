//! The drive loop: the one future per client that moves bytes between the core and the
//! runtime's stream, wakes the core at its deadline, and hands its events to the app's
//! streams. It makes no protocol decision: it opens, closes and aborts transports when the
//! core says so, reports what the transport did, and passes the time (monotonic and wall)
//! with every turn.
//!
//! Each turn of [`Drive::poll`]: the core under the lock (time, commands, bytes out, bytes in,
//! events), then the IO outside it (write, read, dial, REST requests, the token source, the
//! timer). It returns `Pending` when no step made progress, and yields after
//! [`TURNS_BEFORE_YIELD`] busy turns so that one busy client cannot starve its executor.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use core::time::Duration;

use realtime_core::client::{PushId, TransportClosed, TransportCommand, TransportId};
use realtime_core::{Instant, ws};

use crate::client::Inner;
use crate::dial::Dial;
use crate::error::ConnectionError;
use crate::item::ClientEvent;
use crate::lock::{Lock, Shared};
use crate::rest::RestRun;
use crate::runtime::{BoxFuture, ByteStream, Runtime, Timer};
use crate::session::Session;
use crate::socket::{MessageSocket, SocketEvent, SocketOpenError};

/// The longest a polite close (the close frame, then the stream's end) may take.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// A connection's first read buffer; it doubles while reads fill it, up to
/// `Config::read_buffer`. An idle connection (most of a big fan-out's) reads heartbeat
/// replies of under 100 bytes, so it starts small.
pub const READ_START: usize = 512;
/// The most the read buffer grows to while the core holds bytes it cannot use yet (a long
/// handshake response); past it the server is not speaking the protocol.
pub const MAX_READ_BUFFER: usize = 1 << 20;
/// The send buffer's first size; it doubles (to [`OUT_MAX`]) while the core fills it. Joins
/// and heartbeats fit; the core splits a bigger frame across calls.
pub const OUT_MIN: usize = 256;
/// The send buffer's largest size.
pub const OUT_MAX: usize = 16 * 1024;
/// Busy turns before the loop yields to its executor.
pub const TURNS_BEFORE_YIELD: u32 = 64;

enum Link<R: Runtime> {
    None,
    Dialing {
        id: TransportId,
        dial: Dial<R>,
    },
    Open {
        id: TransportId,
        stream: R::Stream,
    },
    /// A self-framing socket being opened.
    SocketOpening {
        id: TransportId,
        open: Pin<alloc::boxed::Box<R::OpenSocket>>,
    },
    /// A self-framing socket, with the message it is sending.
    Socket {
        id: TransportId,
        socket: R::Socket,
        sending: Option<ws::Message>,
    },
}

enum Ending<R: Runtime> {
    /// The rest of the core's bytes, a flush, the stream's end.
    Stream(R::Stream),
    /// The socket's own close frame.
    Socket { socket: R::Socket, code: u16, reason: alloc::string::String },
}

struct Closing<R: Runtime> {
    ending: Ending<R>,
    timer: R::Timer,
}

/// The client's drive loop: a future the runtime spawns
/// ([`Runtime::spawn`](crate::Runtime::spawn)). It ends after `shutdown`, or once every
/// handle is dropped, closing the socket politely first.
#[must_use = "the drive loop must be spawned for the client to do anything"]
pub struct Drive<R: Runtime> {
    inner: Shared<Inner<R>>,
    timer: R::Timer,
    armed: Option<Instant>,
    link: Link<R>,
    closing: Option<Closing<R>>,
    /// Bytes from `poll_transmit` and how far they are written.
    out: Vec<u8>,
    out_pos: usize,
    out_len: usize,
    unflushed: bool,
    /// Bytes read: `inbuf[in_start..in_end]` is what the core has not taken yet.
    inbuf: Vec<u8>,
    in_start: usize,
    in_end: usize,
    /// REST fallback broadcasts in flight.
    rests: Vec<(PushId, RestRun<R>)>,
    token: Option<BoxFuture<Option<alloc::string::String>>>,
    /// Tasks to wake after the lock is released; swapped with the session's list so that
    /// neither allocates per message.
    wake: Vec<Waker>,
    /// The client is ending: the core was told to disconnect.
    stopping: bool,
    ended: bool,
}

impl<R: Runtime> Unpin for Drive<R> {}

impl<R: Runtime> core::fmt::Debug for Drive<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Drive").field("stopping", &self.stopping).field("ended", &self.ended).finish()
    }
}

/// What a turn of the core left to do.
struct Turn {
    deadline: Option<Instant>,
    end: bool,
    wants_token: bool,
}

impl<R: Runtime> Drive<R> {
    pub(crate) fn new(inner: Shared<Inner<R>>) -> Self {
        let timer = inner.rt.timer();
        Self {
            inner,
            timer,
            armed: None,
            link: Link::None,
            closing: None,
            out: alloc::vec![0; OUT_MIN],
            out_pos: 0,
            out_len: 0,
            unflushed: false,
            inbuf: Vec::new(),
            in_start: 0,
            in_end: 0,
            rests: Vec::new(),
            token: None,
            wake: Vec::new(),
            stopping: false,
            ended: false,
        }
    }

    /// Runs `f` on the session, then wakes the tasks it made ready (outside the lock).
    fn with<T>(&mut self, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut wake = core::mem::take(&mut self.wake);
        let out = self.inner.session.with(|s| {
            let out = f(s);
            // What `f` made the core say reaches the app before anything else acts.
            s.drain_events();
            core::mem::swap(&mut s.wake, &mut wake);
            out
        });
        wake_all(&mut wake);
        self.wake = wake;
        out
    }

    /// The core's part of a turn, under the lock.
    fn turn(&mut self, cx: &mut Context<'_>) -> Turn {
        let inner = self.inner.clone();
        let mut wake = core::mem::take(&mut self.wake);
        let turn = inner.session.with(|s| {
            if !s.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.driver = Some(cx.waker().clone());
            }
            // Events the handles' calls raised go out first, in the core's order (a
            // `Disconnected` before the next `Connecting`).
            s.drain_events();
            let now = inner.rt.now();
            if let Some(ms) = inner.rt.unix_ms() {
                s.client.set_wall_clock(now, ms);
            }
            if s.client.poll_timeout().is_some_and(|at| at <= now) {
                s.client.handle_timeout(now);
            }
            if (s.shutdown || s.handles == 0) && !self.stopping {
                self.stopping = true;
                s.client.disconnect(now);
            }
            self.transport_commands(s, now);
            if self.closing.is_none() {
                match &mut self.link {
                    Link::Open { .. } => {
                        self.fill_out(s);
                        self.feed(s, now);
                        // What the input called for (a pong, a join after the upgrade).
                        self.fill_out(s);
                    }
                    Link::Socket { sending, .. } if sending.is_none() => *sending = s.client.poll_message(),
                    _ => {}
                }
            }
            s.drain_events();
            // What the input and the events called for: a close the server asked for, REST
            // fallback requests, a token (the source is called once the lock is released: it
            // is the app's code).
            self.transport_commands(s, now);
            while let Some((push, req)) = s.client.poll_rest() {
                self.rests.push((push, RestRun::new(&inner.rt, &inner.proxy, req)));
            }
            let wants_token = core::mem::take(&mut s.token_wanted);
            let end = self.stopping && self.closing.is_none() && matches!(self.link, Link::None);
            if end {
                s.end();
            }
            core::mem::swap(&mut s.wake, &mut wake);
            Turn { deadline: if end { None } else { s.client.poll_timeout() }, end, wants_token }
        });
        wake_all(&mut wake);
        self.wake = wake;
        if turn.wants_token
            && self.token.is_none()
            && let Some(source) = &inner.token_source
        {
            self.token = Some(source());
        }
        turn
    }

    /// Opens, closes and aborts transports as the core asks. A polite close runs to its end
    /// before the next command is taken (its bytes come from the same `poll_transmit`).
    fn transport_commands(&mut self, s: &mut Session, now: Instant) {
        while self.closing.is_none() {
            let Some(cmd) = s.client.poll_transport() else { break };
            match cmd {
                TransportCommand::Open { url, target, id } => {
                    self.drop_link();
                    self.link = if self.inner.messages {
                        let open = self.inner.rt.open_socket(&url, s.client.headers());
                        Link::SocketOpening { id, open: alloc::boxed::Box::pin(open) }
                    } else {
                        Link::Dialing { id, dial: Dial::new(&self.inner.rt, &self.inner.proxy, &target) }
                    };
                    s.emit(ClientEvent::Connecting);
                }
                TransportCommand::Close { code, reason } => self.start_close(now, code, reason),
                TransportCommand::Abort => self.drop_link(),
            }
        }
        if self.stopping && self.closing.is_none() {
            // Ending: a link the core did not ask to close is closed all the same.
            // (`start_close` keeps what `out` holds for the closing stream: the core counts
            // those bytes as sent.)
            self.start_close(now, 1000, alloc::string::String::new());
        }
    }

    fn start_close(&mut self, now: Instant, code: u16, reason: alloc::string::String) {
        let ending = match core::mem::replace(&mut self.link, Link::None) {
            Link::Open { stream, .. } => Ending::Stream(stream),
            Link::Socket { socket, .. } => Ending::Socket { socket, code, reason },
            // Not open yet: nothing to close politely.
            _ => return self.drop_link(),
        };
        let mut timer = self.inner.rt.timer();
        timer.reset(now + CLOSE_WAIT);
        self.closing = Some(Closing { ending, timer });
    }

    /// Forgets the link at once: no flush, no close handshake.
    fn drop_link(&mut self) {
        self.link = Link::None;
        (self.out_pos, self.out_len, self.unflushed) = (0, 0, false);
        (self.in_start, self.in_end) = (0, 0);
    }

    /// Takes the core's next bytes once the previous ones are written.
    fn fill_out(&mut self, s: &mut Session) {
        if self.out_pos < self.out_len {
            return;
        }
        let n = s.client.poll_transmit(&mut self.out);
        if n > 0 {
            (self.out_pos, self.out_len) = (0, n);
            if n == self.out.len() && self.out.len() < OUT_MAX {
                self.out.resize(self.out.len() * 2, 0);
            }
        }
    }

    /// Offers the core the bytes it has not taken. It takes at most one event's worth per
    /// call and leaves bytes while its event queue is full (drained here) or while a pong
    /// waits to be written (offered again after the next write).
    fn feed(&mut self, s: &mut Session, now: Instant) {
        while self.in_start < self.in_end {
            let mut used = s.client.handle_input(now, &self.inbuf[self.in_start..self.in_end]);
            if used == 0 {
                s.drain_events();
                used = s.client.handle_input(now, &self.inbuf[self.in_start..self.in_end]);
                if used == 0 {
                    break;
                }
            }
            self.in_start += used;
        }
        if self.in_start == self.in_end {
            (self.in_start, self.in_end) = (0, 0);
        }
    }

    /// Writes what the core gave; `true` if bytes moved.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Open { id, stream } = &mut self.link else { return false };
        let id = *id;
        let mut progress = false;
        let failed = loop {
            if self.out_pos < self.out_len {
                match stream.poll_write(cx, &self.out[self.out_pos..self.out_len]) {
                    Poll::Ready(Ok(0)) => {
                        break Some(crate::IoError::msg("the stream accepts no more bytes"));
                    }
                    Poll::Ready(Ok(n)) => {
                        self.out_pos += n;
                        self.unflushed = true;
                        progress = true;
                        continue;
                    }
                    Poll::Ready(Err(e)) => break Some(e),
                    Poll::Pending => break None,
                }
            }
            if self.unflushed {
                match stream.poll_flush(cx) {
                    Poll::Ready(Ok(())) => self.unflushed = false,
                    Poll::Ready(Err(e)) => break Some(e),
                    Poll::Pending => break None,
                }
            }
            break None;
        };
        if let Some(e) = failed {
            self.lost(id, Some(ConnectionError::Io(e)));
            return true;
        }
        progress
    }

    /// Reads what the server sent; `true` if bytes came (or the stream ended).
    fn poll_read(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Open { id, stream } = &mut self.link else { return false };
        let id = *id;
        if self.in_end == self.inbuf.len() {
            if self.in_start == 0 && self.out_pos < self.out_len {
                // The core holds input back until it can write (a ping behind a pong that waits
                // for the send buffer): read again once the write moved, do not grow.
                return false;
            }
            if self.in_start > 0 {
                // Keep what the core left at the front, read after it.
                self.inbuf.copy_within(self.in_start..self.in_end, 0);
                (self.in_start, self.in_end) = (0, self.in_end - self.in_start);
            } else if self.inbuf.len() >= MAX_READ_BUFFER {
                let e = crate::IoError::msg(
                    "the server sent more than the read buffer's bound without a whole frame",
                );
                self.lost(id, Some(ConnectionError::Io(e)));
                return true;
            } else {
                let grow = self.inbuf.len().max(READ_START.min(self.inner.read_buffer));
                self.inbuf.resize(self.inbuf.len() + grow, 0);
            }
        }
        match stream.poll_read(cx, &mut self.inbuf[self.in_end..]) {
            Poll::Ready(Ok(0)) => {
                self.lost(id, None);
                true
            }
            Poll::Ready(Ok(n)) => {
                self.in_end += n;
                if self.in_end == self.inbuf.len() && self.inbuf.len() < self.inner.read_buffer {
                    // That read filled it: more is likely waiting; read bigger next time.
                    let grow = self.inbuf.len().min(self.inner.read_buffer - self.inbuf.len());
                    self.inbuf.resize(self.inbuf.len() + grow, 0);
                }
                true
            }
            Poll::Ready(Err(e)) => {
                self.lost(id, Some(ConnectionError::Io(e)));
                true
            }
            Poll::Pending => false,
        }
    }

    /// The link ended (EOF when `why` is none): the core hears it.
    fn lost(&mut self, id: TransportId, why: Option<ConnectionError>) {
        self.drop_link();
        let now = self.inner.rt.now();
        self.with(|s| {
            let how = if why.is_some() { TransportClosed::Error } else { TransportClosed::Eof };
            if let Some(e) = why {
                s.io_error = Some(e);
            }
            s.client.handle_transport_closed(now, id, how);
        });
    }

    /// The connection being opened; `true` once it opened or failed.
    fn poll_dial(&mut self, cx: &mut Context<'_>) -> bool {
        let Link::Dialing { id, dial } = &mut self.link else { return false };
        let id = *id;
        let done = match Pin::new(dial).poll(cx) {
            Poll::Pending => return false,
            Poll::Ready(done) => done,
        };
        let now = self.inner.rt.now();
        match done {
            Ok(stream) => {
                self.link = Link::Open { id, stream };
                (self.in_start, self.in_end) = (0, 0);
                let start = READ_START.min(self.inner.read_buffer.max(1));
                if self.inbuf.len() != start {
                    self.inbuf = alloc::vec![0; start];
                }
                self.with(|s| s.client.handle_transport_open(now, id));
            }
            Err(e) => {
                self.link = Link::None;
                self.with(|s| {
                    // Recorded now, so an app woken by this batch's statuses already sees it.
                    s.last_error = Some(e.clone());
                    s.io_error = Some(e);
                    s.client.handle_transport_closed(now, id, TransportClosed::Error);
                });
            }
        }
        true
    }

    /// A polite close: the rest of the core's bytes (the close frame), a flush, the stream's
    /// end, at most [`CLOSE_WAIT`] in all.
    fn poll_closing(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(c) = self.closing.as_mut() else { return Poll::Ready(()) };
        if c.timer.poll_fired(cx).is_ready() {
            return Poll::Ready(());
        }
        let stream = match &mut c.ending {
            Ending::Socket { socket, code, reason } => {
                return socket.poll_close(cx, *code, reason).map(|_| ());
            }
            Ending::Stream(stream) => stream,
        };
        loop {
            if self.out_pos < self.out_len {
                match stream.poll_write(cx, &self.out[self.out_pos..self.out_len]) {
                    Poll::Ready(Ok(n)) if n > 0 => self.out_pos += n,
                    Poll::Ready(_) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            let (out, inner) = (&mut self.out, &self.inner);
            let n = inner.session.with(|s| s.client.poll_transmit(out));
            if n == 0 {
                break;
            }
            (self.out_pos, self.out_len) = (0, n);
        }
        match stream.poll_flush(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Ready(Ok(())) => {}
        }
        stream.poll_close(cx).map(|_| ())
    }

    /// The self-framing socket: its opening, the message it sends, what it receives; `true`
    /// if anything moved.
    fn poll_socket(&mut self, cx: &mut Context<'_>) -> bool {
        let now = self.inner.rt.now();
        match &mut self.link {
            Link::SocketOpening { id, open } => {
                let id = *id;
                let Poll::Ready(opened) = open.as_mut().poll(cx) else { return false };
                match opened {
                    Ok(socket) => {
                        self.link = Link::Socket { id, socket, sending: None };
                        self.with(|s| s.client.handle_transport_open(now, id));
                    }
                    Err(e) => {
                        self.link = Link::None;
                        self.with(|s| {
                            let how = match &e {
                                SocketOpenError::Rejected { status } => {
                                    TransportClosed::UpgradeRejected { status: *status }
                                }
                                SocketOpenError::Io(io) => {
                                    s.last_error = Some(ConnectionError::Connect(io.clone()));
                                    s.io_error = Some(ConnectionError::Connect(io.clone()));
                                    TransportClosed::Error
                                }
                            };
                            s.client.handle_transport_closed(now, id, how);
                        });
                    }
                }
                true
            }
            Link::Socket { id, socket, sending } => {
                let id = *id;
                let mut progress = false;
                if sending.is_some() {
                    match socket.poll_send(cx, sending) {
                        Poll::Ready(Ok(())) => progress = true,
                        Poll::Ready(Err(e)) => {
                            self.socket_lost(id, Err(e));
                            return true;
                        }
                        Poll::Pending => {}
                    }
                }
                match socket.poll_recv(cx) {
                    Poll::Ready(Ok(SocketEvent::Message(m))) => {
                        self.with(|s| {
                            s.client.handle_message(now, m);
                            s.drain_events();
                        });
                        true
                    }
                    Poll::Ready(Ok(SocketEvent::Closed { code, reason })) => {
                        self.socket_lost(id, Ok((code, reason)));
                        true
                    }
                    Poll::Ready(Err(e)) => {
                        self.socket_lost(id, Err(e));
                        true
                    }
                    Poll::Pending => progress,
                }
            }
            _ => false,
        }
    }

    /// The socket closed (the server's close frame) or failed.
    fn socket_lost(
        &mut self,
        id: TransportId,
        how: Result<(Option<u16>, alloc::string::String), crate::IoError>,
    ) {
        self.link = Link::None;
        let now = self.inner.rt.now();
        self.with(|s| match &how {
            Ok((code, reason)) => {
                s.client.handle_transport_closed(now, id, TransportClosed::Closed { code: *code, reason })
            }
            Err(e) => {
                s.io_error = Some(ConnectionError::Io(e.clone()));
                s.client.handle_transport_closed(now, id, TransportClosed::Error);
            }
        });
    }

    /// REST fallback requests; `true` if one ended.
    fn poll_rests(&mut self, cx: &mut Context<'_>) -> bool {
        let mut done = Vec::new();
        self.rests.retain_mut(|(push, run)| match Pin::new(run).poll(cx) {
            Poll::Ready((result, _)) => {
                done.push((*push, result));
                false
            }
            Poll::Pending => true,
        });
        if done.is_empty() {
            return false;
        }
        self.with(|s| {
            for (push, result) in &done {
                s.client.handle_rest_result(*push, result);
            }
        });
        true
    }

    /// The token source's answer; `true` once it came.
    fn poll_token(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(fut) = self.token.as_mut() else { return false };
        let Poll::Ready(token) = fut.as_mut().poll(cx) else { return false };
        self.token = None;
        let now = self.inner.rt.now();
        self.with(|s| s.client.set_access_token(now, token));
        true
    }

    /// The core's deadline; `true` once it passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>, deadline: Option<Instant>) -> bool {
        if deadline != self.armed {
            self.armed = deadline;
            if let Some(at) = deadline {
                self.timer.reset(at);
            }
        }
        if self.armed.is_some() && self.timer.poll_fired(cx).is_ready() {
            // The next turn calls `handle_timeout`; the core then moves its deadline past now.
            self.armed = None;
            return true;
        }
        false
    }
}

impl<R: Runtime> Future for Drive<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(());
        }
        for _ in 0..TURNS_BEFORE_YIELD {
            let mut progress = false;
            let turn = this.turn(cx);
            if turn.end {
                this.ended = true;
                return Poll::Ready(());
            }
            // A close the turn started is polled at once (it registers its waker).
            if this.closing.is_some() && this.poll_closing(cx).is_ready() {
                this.closing = None;
                (this.out_pos, this.out_len, this.unflushed) = (0, 0, false);
                progress = true;
            }
            progress |= this.poll_write(cx);
            progress |= this.poll_read(cx);
            progress |= this.poll_dial(cx);
            progress |= this.poll_socket(cx);
            progress |= this.poll_rests(cx);
            progress |= this.poll_token(cx);
            progress |= this.poll_timer(cx, turn.deadline);
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<R: Runtime> Drop for Drive<R> {
    /// A drive loop dropped before it ended (its runtime shut down): the handles learn that
    /// the client is gone instead of waiting forever.
    fn drop(&mut self) {
        if !self.ended {
            self.with(|s| {
                if !s.ended {
                    s.end();
                }
            });
        }
    }
}

/// Wakes and empties `wake`, keeping its allocation.
fn wake_all(wake: &mut Vec<Waker>) {
    for w in wake.drain(..) {
        w.wake();
    }
}
