//! REST over `fetch`. The driver runs a REST request (a broadcast over HTTP) as bytes over a
//! [`ByteStream`]: the core writes an HTTP/1.1 request and reads the response. A page cannot
//! open TCP, so this stream takes the request's bytes, sends it with `fetch` when the driver
//! flushes it, and hands the response back as HTTP/1.1 bytes for the core to read: the core
//! keeps every decision (the request, its credentials, the response's meaning, the timeout).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_driver::{ByteStream, IoError};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, Headers, Request, RequestInit, RequestMode, Response};

use crate::js;

/// The largest request taken (the core's REST requests are a few KiB; a batch of broadcasts
/// stays far below this).
pub const MAX_REQUEST: usize = 4 * 1024 * 1024;
/// The largest response body handed back (the core keeps less of it).
pub const MAX_RESPONSE: usize = 1024 * 1024;
/// Header fields a page may not set on `fetch` (the browser sets them).
const FORBIDDEN: [&str; 5] = ["host", "content-length", "connection", "accept-encoding", "user-agent"];

type Pending = Pin<Box<dyn Future<Output = Result<Vec<u8>, IoError>>>>;

enum State {
    /// Taking the request's bytes.
    Writing,
    /// The fetch is under way.
    Fetching(Pending),
    /// The response's bytes, read out from `pos`.
    Reading { bytes: Vec<u8>, pos: usize },
}

/// One HTTP exchange with `host:port` by `fetch`, seen by the driver as a byte stream.
/// Dropped before its answer (the core's deadline passed), it aborts the fetch.
pub struct Fetch {
    host: String,
    port: u16,
    pub(crate) https: bool,
    request: Vec<u8>,
    state: State,
    abort: Option<AbortController>,
}

impl Drop for Fetch {
    fn drop(&mut self) {
        if let (Some(abort), State::Fetching(_)) = (&self.abort, &self.state) {
            abort.abort();
        }
    }
}

impl Fetch {
    pub(crate) fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            https: false,
            request: Vec::new(),
            state: State::Writing,
            abort: None,
        }
    }

    /// Starts the fetch for the request written so far.
    fn start(&mut self) -> Result<(), IoError> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = req.parse(&self.request) else {
            return Err(IoError::msg("the REST request has no whole head"));
        };
        let method = req.method.unwrap_or("POST");
        if method.eq_ignore_ascii_case("CONNECT") {
            // An HTTP proxy (`Proxy::Url`) cannot be dialled from a page: the browser's own
            // proxy settings apply to its requests.
            return Err(IoError::msg("a browser cannot use Proxy::Url: its own proxy settings apply"));
        }
        let path = req.path.unwrap_or("/");
        let scheme = if self.https { "https" } else { "http" };
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        let url = format!("{scheme}://{host}:{}{path}", self.port);
        let fields = Headers::new().map_err(js_error)?;
        for h in req.headers.iter() {
            if FORBIDDEN.iter().any(|f| h.name.eq_ignore_ascii_case(f)) {
                continue;
            }
            let value =
                core::str::from_utf8(h.value).map_err(|_| IoError::msg("a header value is not UTF-8"))?;
            fields.append(h.name, value).map_err(js_error)?;
        }
        let abort = AbortController::new().map_err(js_error)?;
        let init = RequestInit::new();
        init.set_signal(Some(&abort.signal()));
        self.abort = Some(abort);
        init.set_method(method);
        init.set_mode(RequestMode::Cors);
        init.set_headers(&fields);
        let body = &self.request[head..];
        if !body.is_empty() {
            init.set_body(&js_sys::Uint8Array::from(body));
        }
        let request = Request::new_with_str_and_init(&url, &init).map_err(js_error)?;
        let promise = js::fetch(&request);
        self.state = State::Fetching(Box::pin(async move {
            let response: Response = JsFuture::from(promise).await.map_err(js_error)?.unchecked_into();
            // A body said to be larger than the core would keep is not read at all. (One that
            // does not say is read by the browser whole; what reaches wasm is still capped.)
            let declared = response.headers().get("content-length").ok().flatten();
            if declared.and_then(|n| n.trim().parse::<usize>().ok()).is_some_and(|n| n > MAX_RESPONSE) {
                return Err(IoError::msg(format!("a REST response over {MAX_RESPONSE} bytes")));
            }
            let body = JsFuture::from(response.array_buffer().map_err(js_error)?).await.map_err(js_error)?;
            let body = js_sys::Uint8Array::new(&body);
            let len = (body.length() as usize).min(MAX_RESPONSE);
            let mut bytes = format!(
                "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\n\r\n",
                response.status(),
                response.status_text(),
                response.headers().get("content-type").ok().flatten().unwrap_or_default(),
            )
            .into_bytes();
            let head = bytes.len();
            bytes.resize(head + len, 0);
            body.subarray(0, len as u32).copy_to(&mut bytes[head..]);
            Ok(bytes)
        }));
        Ok(())
    }
}

fn js_error(e: JsValue) -> IoError {
    IoError::msg(js::describe(&e))
}

impl ByteStream for Fetch {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
        loop {
            match &mut self.state {
                State::Writing => {
                    // The driver reads only after it flushed the whole request.
                    if let Err(e) = self.start() {
                        return Poll::Ready(Err(e));
                    }
                }
                State::Fetching(fut) => match fut.as_mut().poll(cx) {
                    Poll::Ready(Ok(bytes)) => self.state = State::Reading { bytes, pos: 0 },
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                State::Reading { bytes, pos } => {
                    let n = (bytes.len() - *pos).min(buf.len());
                    buf[..n].copy_from_slice(&bytes[*pos..*pos + n]);
                    *pos += n;
                    // Zero once all is read: the end of the response.
                    return Poll::Ready(Ok(n));
                }
            }
        }
    }

    fn poll_write(&mut self, _: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
        if !matches!(self.state, State::Writing) {
            return Poll::Ready(Err(IoError::msg("one request per fetch")));
        }
        if self.request.len() + buf.len() > MAX_REQUEST {
            return Poll::Ready(Err(IoError::msg(format!("a REST request over {MAX_REQUEST} bytes"))));
        }
        self.request.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(&mut self, _: &mut Context<'_>) -> Poll<Result<(), IoError>> {
        Poll::Ready(Ok(()))
    }
}
