//! A chat room with broadcast and presence on smol: two users (two clients, as two processes
//! would be) join `room:lobby`, track their presence and exchange a message; then one leaves.
//!
//! ```sh
//! cargo run -p realtime-smol --example smol_chat
//! ```
//!
//! Without environment variables it starts the local Realtime server (`realtime-testkit`)
//! on loopback, so it needs no internet and ends on its own. With `REALTIME_URL` and
//! `REALTIME_API_KEY` it runs against that project instead.

#[path = "common/mod.rs"]
mod common;

use std::error::Error;

use common::within;
use realtime_smol::{ChannelConfig, Config, PresenceEvent, RealtimeClient};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let (_local, url, key) = common::endpoint()?;
    smol::block_on(async {
        let join = |name: &'static str| {
            let (url, key) = (url.clone(), key.clone());
            async move {
                let client = RealtimeClient::new(Config::new(url, key))?;
                let room = client
                    .channel("room:lobby", ChannelConfig::new().presence_key(name).broadcast_ack(true))
                    .await?;
                Ok::<_, realtime_smol::Error>((client, room))
            }
        };
        let (ana, ana_room) = join("ana").await?;
        let (bo, bo_room) = join("bo").await?;
        // Listen before subscribing, so nothing from the join is missed.
        let mut ana_sees = ana_room.on_presence().await;
        let mut ana_messages = ana_room.on_broadcast("message").await;
        ana_room.subscribe().await?;
        ana_room.track(&json!({"name": "ana"})).await?;
        bo_room.subscribe().await?;
        bo_room.track(&json!({"name": "bo"})).await?;
        within("bo's presence", async {
            while let Some(e) = ana_sees.recv().await {
                match e {
                    Ok(PresenceEvent::Join { key, .. }) => println!("[ana] presence: {key} is here"),
                    Ok(PresenceEvent::Leave { key, .. }) => println!("[ana] presence: {key} left"),
                    Ok(PresenceEvent::Sync) => {}
                    Err(lag) => println!("[ana] presence: {lag}"),
                }
                let online = ana_room.presence_state().await.unwrap_or_default();
                if online.iter().any(|(k, _)| k == "bo") {
                    break;
                }
            }
        })
        .await?;
        bo_room.send("message", &json!({"from": "bo", "text": "hi ana"})).await?;
        let m = within("bo's message", ana_messages.recv()).await?.ok_or("the stream ended")??;
        println!("[ana] {}", m.payload_text());
        println!("[ bo] leaves: {}", within("bo's leave", bo_room.unsubscribe()).await??);
        bo.shutdown().await?;
        ana.shutdown().await?;
        println!("done");
        Ok(())
    })
}

/// The message as text, for printing.
trait Text {
    fn payload_text(&self) -> String;
}

impl Text for realtime_smol::Broadcast {
    fn payload_text(&self) -> String {
        match self.json::<serde_json::Value>() {
            Ok(v) => {
                format!("{} says: {}", v["from"].as_str().unwrap_or("?"), v["text"].as_str().unwrap_or(""))
            }
            Err(e) => format!("an odd message: {e}"),
        }
    }
}
