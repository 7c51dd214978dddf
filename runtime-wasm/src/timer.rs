//! The driver's timer on `setTimeout`: one browser timeout per armed deadline, replaced on
//! every `reset`. A background tab may run it late (browsers throttle timers there to once a
//! second or less); the core then acts on the late instant it is given.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::task::{Context, Poll, Waker};

use realtime_core::Instant;
use wasm_bindgen::JsCast;
use wasm_bindgen::JsValue;
use wasm_bindgen::closure::Closure;

use crate::js;

/// What the timeout callback and the timer share.
#[derive(Default)]
struct Fired {
    waker: Option<Waker>,
    /// The browser called back (the timeout is spent).
    done: bool,
}

/// A timer, moved to each new deadline.
pub struct Timer {
    at: Option<Instant>,
    fired: Rc<RefCell<Fired>>,
    /// The pending browser timeout and the callback it calls (kept alive until it is cleared).
    pending: Option<(JsValue, Closure<dyn FnMut()>)>,
}

impl Timer {
    pub(crate) fn new() -> Self {
        Self { at: None, fired: Rc::default(), pending: None }
    }

    fn cancel(&mut self) {
        if let Some((handle, _callback)) = self.pending.take() {
            js::clear_timeout(&handle);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl realtime_driver::Timer for Timer {
    fn reset(&mut self, at: Instant) {
        self.cancel();
        self.at = Some(at);
        let now = crate::now();
        // Whole milliseconds, rounded up, so the callback never comes before the deadline.
        let ms = at.saturating_duration_since(now).as_micros().div_ceil(1000);
        let ms = i32::try_from(ms).unwrap_or(i32::MAX);
        let fired = self.fired.clone();
        fired.borrow_mut().done = false;
        let callback = Closure::<dyn FnMut()>::new(move || {
            let mut f = fired.borrow_mut();
            f.done = true;
            if let Some(w) = f.waker.take() {
                w.wake();
            }
        });
        let handle = js::set_timeout(callback.as_ref().unchecked_ref(), ms);
        self.pending = Some((handle, callback));
    }

    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.at else {
            self.fired.borrow_mut().waker = Some(cx.waker().clone());
            return Poll::Pending;
        };
        if crate::now() >= at {
            return Poll::Ready(());
        }
        // A coarse `performance.now()` (browsers round it) can read just short of the deadline
        // when the timeout comes: wait again rather than never.
        if self.fired.borrow().done {
            self.reset(at);
        }
        self.fired.borrow_mut().waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
