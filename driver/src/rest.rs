//! One REST request (a broadcast over HTTP) to its result: the core builds the request and
//! reads the response; this dials, moves the bytes, and wakes the core at its deadline.

use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_core::client::Target;
use realtime_core::supabase::rest::{RestError, RestRequest};

use crate::config::Proxy;
use crate::dial::Dial;
use crate::error::ConnectionError;
use crate::runtime::{ByteStream, Runtime, Timer};

/// The request and response move through a buffer this big.
const REST_BUFFER: usize = 8 * 1024;

enum Step<R: Runtime> {
    Dial(Dial<R>),
    Exchange(R::Stream),
    Done,
}

/// A REST request being run.
pub(crate) struct RestRun<R: Runtime> {
    rt: R,
    req: RestRequest,
    timer: R::Timer,
    step: Step<R>,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
    /// Why the connection failed, when it did (the core then reads it as a cut response).
    failure: Option<ConnectionError>,
}

impl<R: Runtime> Unpin for RestRun<R> {}

impl<R: Runtime> RestRun<R> {
    pub(crate) fn new(rt: &R, proxy: &Proxy, req: RestRequest) -> Self {
        let target =
            Target { host: req.host().into(), port: req.port(), tls: req.is_tls(), path: "/".into() };
        let mut timer = rt.timer();
        if let Some(at) = req.poll_timeout() {
            timer.reset(at);
        }
        let dial = Dial::new(rt, proxy, &target);
        Self {
            rt: rt.clone(),
            req,
            timer,
            step: Step::Dial(dial),
            buf: alloc::vec![0; REST_BUFFER],
            pos: 0,
            len: 0,
            failure: None,
        }
    }

    fn fail(&mut self, e: ConnectionError) {
        self.failure = Some(e);
        self.req.handle_eof();
        self.step = Step::Done;
    }

    /// Moves bytes; `Ready` once the core has its answer.
    fn exchange(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Step::Exchange(stream) = &mut self.step else { return Poll::Ready(()) };
        loop {
            if self.req.result().is_some() {
                return Poll::Ready(());
            }
            if self.pos < self.len {
                match stream.poll_write(cx, &self.buf[self.pos..self.len]) {
                    Poll::Ready(Ok(n)) if n > 0 => self.pos += n,
                    Poll::Ready(Ok(_)) => return self.end(None),
                    Poll::Ready(Err(e)) => return self.end(Some(ConnectionError::Io(e))),
                    Poll::Pending => return Poll::Pending,
                }
                continue;
            }
            let n = self.req.poll_transmit(&mut self.buf);
            if n > 0 {
                (self.pos, self.len) = (0, n);
                continue;
            }
            match stream.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return self.end(Some(ConnectionError::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
            match stream.poll_read(cx, &mut self.buf) {
                Poll::Ready(Ok(0)) => return self.end(None),
                Poll::Ready(Ok(n)) => {
                    self.req.handle_input(&self.buf[..n]);
                }
                Poll::Ready(Err(e)) => return self.end(Some(ConnectionError::Io(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// The stream ended (or failed): the core decides what that means for the response.
    fn end(&mut self, failure: Option<ConnectionError>) -> Poll<()> {
        self.failure = failure;
        self.req.handle_eof();
        self.step = Step::Done;
        Poll::Ready(())
    }
}

/// How a REST request ended: the core's result, and the connection's failure if there was
/// one.
pub(crate) type RestEnd = (Result<(), RestError>, Option<ConnectionError>);

impl<R: Runtime> Future for RestRun<R> {
    type Output = RestEnd;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<RestEnd> {
        let this = self.get_mut();
        loop {
            if let Some(r) = this.req.result() {
                return Poll::Ready((r.clone(), this.failure.take()));
            }
            // The deadline first: a server that never answers must not hold the request.
            if this.timer.poll_fired(cx).is_ready() {
                this.req.handle_timeout(this.rt.now());
                match this.req.poll_timeout() {
                    Some(at) if this.req.result().is_none() => this.timer.reset(at),
                    _ => {}
                }
                continue;
            }
            match &mut this.step {
                Step::Dial(dial) => match Pin::new(dial).poll(cx) {
                    Poll::Ready(Ok(stream)) => this.step = Step::Exchange(stream),
                    Poll::Ready(Err(e)) => this.fail(e),
                    Poll::Pending => return Poll::Pending,
                },
                Step::Exchange(_) => {
                    if this.exchange(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                Step::Done => {
                    this.req.handle_eof();
                    if this.req.result().is_none() {
                        // The core always answers an end of stream; never spin if it did not.
                        return Poll::Ready((Err(RestError::Timeout), this.failure.take()));
                    }
                }
            }
        }
    }
}
