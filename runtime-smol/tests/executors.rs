//! The client on other executors than the crate's own: the app's `async-executor` (with
//! `with_executor`, the drive loop on the app's executor) and a plain `block_on` of
//! futures-lite (async-io's reactor runs by itself).

use std::sync::Arc;

use realtime_conformance::{Harness, next, quick};
use realtime_smol::ChannelConfig;
use serde_json::json;

#[test]
fn the_drive_loop_runs_on_the_apps_own_executor() {
    let h = Harness::plain();
    let ex = Arc::new(async_executor::Executor::new());
    let run = ex.clone();
    futures_lite::future::block_on(run.run(async {
        let c = realtime_smol::with_executor(ex.clone(), quick(&h.url())).unwrap();
        let ch =
            c.channel("own", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
        let mut rx = ch.on_broadcast("*").await;
        ch.subscribe().await.unwrap();
        ch.send("hello", &json!({"n": 1})).await.unwrap();
        assert_eq!(next(&mut rx).await.event, "hello");
        c.shutdown().await.unwrap();
    }));
}

#[test]
fn the_client_works_under_a_plain_block_on() {
    let h = Harness::plain();
    futures_lite::future::block_on(async {
        let c = realtime_smol::RealtimeClient::new(quick(&h.url())).unwrap();
        let ch = c.channel("plain", ChannelConfig::new().broadcast_self(true)).await.unwrap();
        let mut rx = ch.on_broadcast("*").await;
        ch.subscribe().await.unwrap();
        ch.send("hello", &json!({"n": 2})).await.unwrap();
        assert_eq!(next(&mut rx).await.event, "hello");
    });
}
