//! Postgres changes on smol: a binding with a typed filter, and row changes read through the
//! lossless column converter (an `int8` past 2^53 stays exact).
//!
//! ```sh
//! cargo run -p realtime-smol --example smol_postgres_changes
//! ```
//!
//! Without environment variables it starts the local Realtime server and emits the changes
//! itself; with `REALTIME_URL` and `REALTIME_API_KEY` it listens to a real project for
//! `REALTIME_WAIT_SECS` (30) seconds.

#[path = "common/mod.rs"]
mod common;

use std::error::Error;
use std::time::Duration;

use common::within;
use realtime_smol::{Binding, ChangeEvent, ChannelConfig, Config, Filter, RealtimeClient};
use realtime_testkit::RowChange;
use serde_json::json;

fn row(kind: &str, id: i64, room_id: i64) -> RowChange {
    RowChange {
        schema: "public".into(),
        table: "messages".into(),
        kind: kind.into(),
        columns: vec![("id".into(), "int8".into()), ("room_id".into(), "int8".into())],
        record: json!({"id": id, "room_id": room_id}),
        old_record: json!({"id": id}),
        commit_timestamp: "2026-12-07T10:11:12.345Z".into(),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let (local, url, key) = common::endpoint()?;
    smol::block_on(async {
        let client = RealtimeClient::new(Config::new(url, key))?;
        // Subscribing resolves once the server says the bindings are live.
        let channel =
            client.channel("db-changes", ChannelConfig::new().wait_for_postgres_ready(common::WAIT)).await?;
        let filter = Filter::eq("room_id", "1");
        let mut inserts = channel
            .on_postgres_changes(
                Binding::new(ChangeEvent::Insert, "public").table("messages").filter(&filter),
            )
            .await?;
        channel.subscribe().await?;
        println!("subscribed: INSERT on public.messages where {filter}");
        let Some(local) = &local else {
            let secs = std::env::var("REALTIME_WAIT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
            let wait = async {
                while let Some(Ok(c)) = inserts.recv().await {
                    println!("insert: {:?}", c.new_value("id"))
                }
            };
            futures_lite::future::or(wait, async {
                async_io::Timer::after(Duration::from_secs(secs)).await;
            })
            .await;
            return Ok(());
        };
        for (id, room_id) in [(9_007_199_254_740_993, 1), (7, 2)] {
            let delivered = local.server.emit_change(&row("INSERT", id, room_id));
            println!("emitted INSERT id={id} room_id={room_id} (to {delivered} channel(s))");
        }
        let change = within("the room 1 insert", inserts.recv()).await?.ok_or("the stream ended")??;
        let id = change.new_value("id").ok_or("no id")??;
        println!("insert on {}.{}: id = {id:?} (exact, past 2^53)", change.schema, change.table);
        println!("left: {}", within("the leave", channel.unsubscribe()).await??);
        client.shutdown().await?;
        println!("done");
        Ok::<_, Box<dyn Error>>(())
    })
}
