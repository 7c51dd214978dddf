//! The browser's `WebSocket` as the driver's self-framing [`MessageSocket`]: binary frames as
//! `ArrayBuffer`s, the browser's events turned into a queue the drive loop polls.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use realtime_core::ws::Message;
use realtime_driver::{IoError, MessageSocket, SocketEvent, SocketOpenError};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, Event, MessageEvent, WebSocket};

/// The most bytes of received messages held for the drive loop. The browser delivers messages
/// whether or not they are read; a client that stops reading this long fails the connection
/// instead of growing without bound (the core then reconnects on its schedule).
pub const MAX_QUEUED_BYTES: usize = 64 * 1024 * 1024;

/// What the browser's callbacks leave for the drive loop.
#[derive(Default)]
struct Events {
    open: bool,
    messages: VecDeque<Message>,
    queued_bytes: usize,
    /// The close (code, reason, clean) once the browser reported it.
    closed: Option<(u16, String, bool)>,
    /// The queue bound was passed.
    overflow: bool,
    waker: Option<Waker>,
}

impl Events {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

type Shared = Rc<RefCell<Events>>;

/// An open browser WebSocket.
pub struct Socket {
    ws: WebSocket,
    events: Shared,
    /// The callbacks the browser holds; they live as long as the socket.
    _handlers: [Closure<dyn FnMut(Event)>; 3],
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        // The drive loop closes politely first; a socket dropped without that (an aborted
        // connection) must not stay open behind the client's back.
        if self.ws.ready_state() <= WebSocket::OPEN {
            let _ = self.ws.close();
        }
    }
}

/// Opening a socket: ready once the browser says it is open, or failed.
pub struct Opening(Option<Result<Socket, SocketOpenError>>);

impl Opening {
    pub(crate) fn new(url: &str) -> Self {
        Self(Some(open(url)))
    }
}

fn open(url: &str) -> Result<Socket, SocketOpenError> {
    let ws = WebSocket::new(url).map_err(|e| SocketOpenError::Io(IoError::msg(crate::js::describe(&e))))?;
    ws.set_binary_type(BinaryType::Arraybuffer);
    let events: Shared = Rc::default();
    let on_open = {
        let events = events.clone();
        Closure::<dyn FnMut(Event)>::new(move |_: Event| {
            let mut e = events.borrow_mut();
            e.open = true;
            e.wake();
        })
    };
    let on_message = {
        let events = events.clone();
        Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            let Ok(ev) = ev.dyn_into::<MessageEvent>() else { return };
            let data = ev.data();
            let message = if let Some(text) = data.as_string() {
                Message::Text(text)
            } else if let Ok(buf) = data.dyn_into::<js_sys::ArrayBuffer>() {
                Message::Binary(js_sys::Uint8Array::new(&buf).to_vec())
            } else {
                return;
            };
            let len = queued_len(&message);
            let mut e = events.borrow_mut();
            if e.overflow {
                // The connection is failing: nothing after a dropped message may be handed on.
                return;
            }
            if e.queued_bytes.saturating_add(len) > MAX_QUEUED_BYTES {
                e.overflow = true;
            } else {
                e.queued_bytes += len;
                e.messages.push_back(message);
            }
            e.wake();
        })
    };
    let on_close = {
        let events = events.clone();
        Closure::<dyn FnMut(Event)>::new(move |ev: Event| {
            // 1006 is the browser's "no close frame came"; any other code is the server's
            // (`wasClean` is false too when a close frame came and TCP then reset).
            let (code, reason, clean) = match ev.dyn_into::<CloseEvent>() {
                Ok(c) => (c.code(), c.reason(), c.code() != 1006),
                Err(_) => (1006, String::new(), false),
            };
            let mut e = events.borrow_mut();
            e.closed = Some((code, reason, clean));
            e.wake();
        })
    };
    ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // A failure comes as an `error` event and then a `close` (code 1006): the close says it.
    ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
    Ok(Socket { ws, events, _handlers: [on_open, on_message, on_close] })
}

impl Future for Opening {
    type Output = Result<Socket, SocketOpenError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(Ok(socket)) = &self.0 else {
            return Poll::Ready(
                self.0
                    .take()
                    .unwrap_or_else(|| Err(SocketOpenError::Io(IoError::msg("polled after it ended")))),
            );
        };
        let mut e = socket.events.borrow_mut();
        if e.open {
            drop(e);
            return Poll::Ready(
                self.0.take().unwrap_or_else(|| Err(SocketOpenError::Io(IoError::msg("gone")))),
            );
        }
        if let Some((code, reason, _)) = &e.closed {
            // The browser does not say why (a refused upgrade and an unreachable host look
            // alike to a page, by design): the close code is all there is.
            let why = format!(
                "the browser could not open the WebSocket (close {code}{}{reason})",
                if reason.is_empty() { "" } else { ": " }
            );
            return Poll::Ready(Err(SocketOpenError::Io(IoError::msg(why))));
        }
        e.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl MessageSocket for Socket {
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<SocketEvent, IoError>> {
        let mut e = self.events.borrow_mut();
        // Before what is queued: a message was dropped, so none after it may be read.
        if e.overflow {
            return Poll::Ready(Err(IoError::msg(format!(
                "more than {MAX_QUEUED_BYTES} bytes of messages waited to be read"
            ))));
        }
        if let Some(m) = e.messages.pop_front() {
            e.queued_bytes -= queued_len(&m);
            return Poll::Ready(Ok(SocketEvent::Message(m)));
        }
        match &e.closed {
            // A close frame came: the server's code and reason.
            Some((code, reason, true)) => {
                Poll::Ready(Ok(SocketEvent::Closed { code: Some(*code), reason: reason.clone() }))
            }
            // No close frame (1006): the connection was lost.
            Some((code, _, false)) => Poll::Ready(Err(IoError::msg(format!(
                "the connection was lost (close {code}, no close frame)"
            )))),
            None => {
                e.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn poll_send(&mut self, _: &mut Context<'_>, msg: &mut Option<Message>) -> Poll<Result<(), IoError>> {
        // The browser buffers what it cannot send yet (`bufferedAmount`) and offers no event
        // when it drains, so there is no backpressure to pass on: on a link that died without
        // a close, sends pile up there until the heartbeat finds it (at most 35 s).
        let sent = match msg.take() {
            Some(Message::Text(t)) => self.ws.send_with_str(&t),
            Some(Message::Binary(b)) => self.ws.send_with_u8_array(&b),
            None => return Poll::Ready(Ok(())),
        };
        Poll::Ready(sent.map_err(|e| IoError::msg(crate::js::describe(&e))))
    }

    fn poll_close(&mut self, _: &mut Context<'_>, code: u16, reason: &str) -> Poll<Result<(), IoError>> {
        // The browser takes 1000 and 3000-4999 only (the core sends no other from the app).
        let closed = if code == 1000 || (3000..=4999).contains(&code) {
            self.ws.close_with_code_and_reason(code, reason)
        } else {
            self.ws.close_with_code(1000)
        };
        Poll::Ready(closed.map_err(|e| IoError::msg(crate::js::describe(&e))))
    }
}

/// What a queued message counts against [`MAX_QUEUED_BYTES`]: its bytes and its place in the
/// queue (so a flood of empty messages is bounded too).
fn queued_len(m: &Message) -> usize {
    size_of::<Message>()
        + match m {
            Message::Text(t) => t.len(),
            Message::Binary(b) => b.len(),
        }
}
