//! The client in a dedicated Web Worker (no `window`: every global is the worker's), in
//! headless Chromium, against the local server that `scripts/wasm-test` starts.
#![cfg(target_arch = "wasm32")]

use futures_util::future::{Either, select};
use realtime_wasm::{ChannelConfig, Config, RealtimeClient};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_dedicated_worker);

#[wasm_bindgen]
extern "C" {
    // Not the crate's own signature (the two would be one symbol).
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &js_sys::Function, ms: u32);
}

async fn sleep(ms: u32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    });
    JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_worker_subscribes_and_hears_its_own_broadcast() {
    assert!(js_sys::global().dyn_into::<web_sys::WorkerGlobalScope>().is_ok(), "in a worker");
    let Some(url) = option_env!("REALTIME_TEST_URL") else {
        panic!("REALTIME_TEST_URL: run these through scripts/wasm-test");
    };
    let c = RealtimeClient::new(Config::new(url, "anon")).unwrap();
    let _wake = realtime_wasm::resume_on_wake(&c);
    let ch = c.channel("wasm-worker", ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut echo = ch.on_broadcast("*").await;
    let done = async {
        ch.subscribe().await.unwrap();
        ch.send("from-worker", &serde_json::json!({"n": 1})).await.unwrap();
        echo.recv().await.expect("the stream is open").expect("no lag")
    };
    match select(Box::pin(done), Box::pin(sleep(10_000))).await {
        Either::Left((b, _)) => assert_eq!(b.event, "from-worker"),
        Either::Right(_) => panic!("no echo within 10 s"),
    }
    c.shutdown().await.unwrap();
}
