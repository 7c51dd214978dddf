//! The browser's globals this runtime uses, read from `globalThis` so that the same code runs
//! in a page and in a Web Worker (which has no `window`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `setTimeout(handler, ms)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub(crate) fn set_timeout(handler: &js_sys::Function, ms: i32) -> JsValue;
    /// `clearTimeout(handle)`.
    #[wasm_bindgen(js_name = clearTimeout)]
    pub(crate) fn clear_timeout(handle: &JsValue);
    /// `performance.now()`: milliseconds on the monotonic clock, from the page's start.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub(crate) fn performance_now() -> f64;
    /// `crypto.getRandomValues(buf)`.
    #[wasm_bindgen(catch, js_namespace = crypto, js_name = getRandomValues)]
    pub(crate) fn get_random_values(buf: &mut [u8]) -> Result<JsValue, JsValue>;
    /// `fetch(request)`.
    #[wasm_bindgen(js_name = fetch)]
    pub(crate) fn fetch(request: &web_sys::Request) -> js_sys::Promise;
}

/// A JavaScript error as text, for an `IoError`.
pub(crate) fn describe(e: &JsValue) -> alloc::string::String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return err.message().into();
    }
    e.as_string().unwrap_or_else(|| alloc::format!("{e:?}"))
}
