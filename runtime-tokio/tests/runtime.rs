//! What is tokio's own: constructing a client outside a runtime, and the handles crossing
//! threads.

use realtime_tokio::{Config, Error, RealtimeClient};

#[test]
fn a_client_made_outside_a_tokio_runtime_is_an_error_not_a_panic() {
    let got = RealtimeClient::new(Config::new("ws://127.0.0.1:1/socket", "anon"));
    assert!(matches!(got, Err(Error::NoRuntime(_))), "{got:?}");
    let Err(e) = got else { unreachable!() };
    assert!(e.to_string().contains("tokio runtime"), "{e}");
}

#[test]
fn a_bad_endpoint_is_a_config_error() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let got = rt.block_on(async { RealtimeClient::new(Config::new("ftp://nowhere", "anon")) });
    assert!(matches!(got, Err(Error::Config(_))), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_work_from_other_tasks_and_threads() {
    let h = realtime_conformance::Harness::plain();
    let c = RealtimeClient::new(realtime_conformance::quick(&h.url())).unwrap();
    let ch = c.channel("threads", realtime_tokio::ChannelConfig::new().broadcast_self(true)).await.unwrap();
    let mut rx = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    let sends: Vec<_> = (0..8)
        .map(|i| {
            let ch = ch.clone();
            tokio::spawn(async move { ch.send(&format!("t{i}"), &serde_json::json!({"i": i})).await })
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
    let mut got: Vec<String> = Vec::new();
    for _ in 0..8 {
        got.push(realtime_conformance::next(&mut rx).await.event);
    }
    got.sort();
    assert_eq!(got.len(), 8);
}

/// What one idle client costs before its buffers: the drive loop's future (tokio boxes it
/// in the task) is the per-client state besides the shared session.
#[test]
fn the_drive_loop_is_small() {
    let size = size_of::<realtime_driver::Drive<realtime_tokio::Tokio>>();
    println!("Drive<Tokio>: {size} bytes");
    assert!(size <= 512, "Drive<Tokio> is {size} bytes");
}
