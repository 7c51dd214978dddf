//! The page's lifecycle: when it comes back (shown again, back online, restored from the
//! back-forward cache), the link may be dead without a close, so the client probes it at once.

use alloc::vec::Vec;

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{EventTarget, VisibilityState};

use crate::RealtimeClient;

/// An event listener: where, which event, the callback the browser holds.
type Listener = (EventTarget, &'static str, Closure<dyn FnMut()>);

/// The listeners [`resume_on_wake`] added; dropping it removes them (and lets go of the
/// client handle they hold).
#[must_use = "dropping it removes the listeners"]
pub struct WakeWatch {
    listeners: Vec<Listener>,
}

impl Drop for WakeWatch {
    fn drop(&mut self) {
        for (target, event, callback) in &self.listeners {
            let _ = target.remove_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
        }
    }
}

/// Calls [`RealtimeClient::resume`] when the page comes back or the network changes:
/// `visibilitychange` to visible, `pageshow`, `online` and `offline` (on the window), or
/// `online` and `offline` in a worker. `resume` sends a heartbeat with a short deadline (5 s,
/// `ClientConfig::probe_timeout`) on an open socket, and reconnects at once when the socket is
/// down: after `offline`, a dead link is found in 5 s instead of up to 35 s. The watch holds a client handle: drop it to
/// stop watching (the client then closes once its other handles are gone).
pub fn resume_on_wake(client: &RealtimeClient) -> WakeWatch {
    let global = js_sys::global();
    let mut listeners = Vec::new();
    let mut listen = |target: &EventTarget, event: &'static str, visible_only: bool| {
        let client = client.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            if visible_only {
                let visible = web_sys::window()
                    .and_then(|w| w.document())
                    .is_some_and(|d| d.visibility_state() == VisibilityState::Visible);
                if !visible {
                    return;
                }
            }
            let _ = client.resume();
        });
        if target.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref()).is_ok() {
            listeners.push((target.clone(), event, callback));
        }
    };
    if let Some(window) = global.dyn_ref::<web_sys::Window>() {
        listen(window, "online", false);
        listen(window, "offline", false);
        listen(window, "pageshow", false);
        if let Some(document) = window.document() {
            listen(&document, "visibilitychange", true);
        }
    } else if let Some(worker) = global.dyn_ref::<web_sys::WorkerGlobalScope>() {
        listen(worker, "online", false);
        listen(worker, "offline", false);
    }
    WakeWatch { listeners }
}
