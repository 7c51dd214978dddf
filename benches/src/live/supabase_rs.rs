//! The receiver of `supabase-realtime-rs` 0.1.2 (crates.io): vsn 1.0.0 JSON objects; its
//! broadcast stream yields the whole broadcast payload as a `serde_json::Value`, and the user
//! payload (`["payload"]`) is deserialized from it into a [`Tick`].
//!
//! The crate connects to the endpoint exactly as given, adding only `apikey` (no `/websocket`
//! path, no `vsn`): given `.../realtime/v1` as its README shows, the server answers 404. So it
//! gets `<url>/websocket`, and with no `vsn` the server speaks 1.0.0 (Phoenix's default).

use serde::Deserialize;
use supabase_realtime_rs::{ChannelEvent, EventPayload, RealtimeClient, RealtimeClientOptions};

use realtime_cli::load::{EVENT, Meter, RecvReport, Tick, Waits};

/// As [`recv_ours`](super::recv_ours), with `supabase-realtime-rs`.
pub async fn recv_supabase_rs(
    url: &str,
    topic: &str,
    expected: u64,
    waits: Waits,
    ready: impl FnOnce(),
) -> Result<RecvReport, String> {
    let options = RealtimeClientOptions { api_key: "bench".into(), ..Default::default() };
    let endpoint = format!("{}/websocket", url.trim_end_matches('/'));
    let client = RealtimeClient::new(endpoint, options).map_err(|e| e.to_string())?;
    client.connect().await.map_err(|e| e.to_string())?;
    let channel = client.channel(topic, Default::default()).await;
    let mut rx = channel.on(ChannelEvent::broadcast(EVENT)).await;
    channel.subscribe().await.map_err(|e| e.to_string())?;
    ready();
    let mut meter = Meter::new(expected);
    loop {
        let Ok(Some(event)) = tokio::time::timeout(waits.next(&meter), rx.recv()).await else { break };
        let EventPayload::Broadcast(v) = event else { continue };
        let done = match Tick::deserialize(&v["payload"]) {
            Ok(t) => meter.record(t.sent_us),
            Err(_) => meter.record_bad(),
        };
        if done {
            break;
        }
    }
    let report = meter.finish("supabase-realtime-rs");
    let _ = channel.unsubscribe().await;
    Ok(report)
}
