//! The receiver of ours: `realtime-tokio` (vsn 2.0.0: kind-4 binary broadcasts), every payload
//! deserialized with `Broadcast::json::<Tick>()`.

use realtime_tokio::{ChannelConfig, Config, Proxy, RealtimeClient};

use realtime_cli::load::{Meter, RecvReport, Tick, Waits};

/// Subscribes to `topic` on `url`, calls `ready` once subscribed, then receives `expected`
/// broadcasts (or until a wait in `waits` passes) and reports. Runs on the caller's tokio
/// runtime (`rtbench recv --flavour` picks current-thread or multi-thread for every Rust
/// receiver).
pub async fn recv_ours(
    url: &str,
    topic: &str,
    expected: u64,
    waits: Waits,
    ready: impl FnOnce(),
) -> Result<RecvReport, String> {
    let mut config = Config::new(url, "bench");
    config.proxy = Proxy::None;
    let client = RealtimeClient::new(config).map_err(|e| e.to_string())?;
    let channel = client.channel(topic, ChannelConfig::new()).await.map_err(|e| e.to_string())?;
    let mut rx = channel.on_broadcast("*").await;
    channel.subscribe().await.map_err(|e| e.to_string())?;
    ready();
    let mut meter = Meter::new(expected);
    loop {
        let Ok(Some(Ok(b))) = tokio::time::timeout(waits.next(&meter), rx.recv()).await else { break };
        let done = match b.json::<Tick>() {
            Ok(t) => meter.record(t.sent_us),
            Err(_) => meter.record_bad(),
        };
        if done {
            break;
        }
    }
    let report = meter.finish("ours");
    // The leave starts at once; its outcome does not matter here.
    drop(channel.unsubscribe());
    Ok(report)
}
