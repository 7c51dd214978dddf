//! Postgres Changes: two bindings on `public.messages` (inserts into room 1, by a typed filter;
//! and every change), subscribe, then print the changes as they arrive, each column converted
//! by its Postgres type without loss (an int8 above 2^53 stays exact).
//!
//! ```sh
//! cargo run -p realtime-tokio --example postgres_changes
//! ```
//!
//! Without environment variables it starts the local Realtime server (`realtime-testkit`)
//! in-process and emits a few row changes itself, so it needs no internet and no database, and
//! ends on its own in about a second. With `REALTIME_URL` (e.g.
//! `https://<ref>.supabase.co/realtime/v1`) and `REALTIME_API_KEY` it listens on that project
//! instead (the table must be in the `supabase_realtime` publication; `REALTIME_TABLE` picks
//! another table than `messages`) for `REALTIME_WAIT_SECS` seconds (30); it does not write
//! rows itself: change some while it runs.

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use realtime_core::supabase::postgres::Value;
use realtime_testkit::{Config as ServerConfig, RowChange, Server};
use realtime_tokio::{
    Binding, Change, ChangeEvent, ChannelConfig, Config, Filter, Lagged, RealtimeClient, Receiver,
};
use serde_json::json;

/// A guard against hanging if the server never answers, not a timing claim.
const WAIT: Duration = Duration::from_secs(10);

/// 2^53 + 1: the first integer an f64 (and so JavaScript's `number`) cannot hold.
const BIG_ID: i64 = 9_007_199_254_740_993;

/// The row changes the local server emits: `(kind, id, room_id)`.
const EMITTED: [(&str, i64, i64); 4] =
    [("INSERT", BIG_ID, 1), ("INSERT", 42, 2), ("UPDATE", BIG_ID, 1), ("DELETE", 42, 2)];

/// A column value as the converter gives it.
fn show(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(n) => format!("{n} (int, exact)"),
        Value::Float(x) => format!("{x} (float)"),
        Value::Numeric(s) => format!("{s} (numeric text)"),
        Value::Json(s) => format!("{s} (json)"),
        Value::Timestamp(s) | Value::Text(s) => format!("{s:?}"),
        Value::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
    }
}

fn print_change(binding: &str, change: &Change) {
    println!(
        "[{binding}] {} on {}.{} at {}",
        change.kind.as_str(),
        change.schema,
        change.table,
        change.commit_timestamp
    );
    for (label, row, value) in [
        ("new", change.new.as_ref(), Change::new_value as fn(&Change, &str) -> _),
        ("old", change.old.as_ref(), Change::old_value),
    ] {
        let Some(row) = row else { continue };
        for (name, raw) in row.iter() {
            let ty = change.column_type(name).unwrap_or("?");
            let shown = match value(change, name) {
                Some(Ok(v)) => show(&v),
                Some(Err(e)) => format!("not convertible ({e}): raw {raw}"),
                None => raw.to_string(),
            };
            println!("    {label}.{name}: {ty} = {shown}");
        }
    }
    if let Some(Ok(Value::Int(id))) = change.new_value("id").or_else(|| change.old_value("id"))
        && id as f64 as i64 != id
    {
        // What a converter through f64 (JSON.parse in JavaScript) would have given.
        println!("    (through an f64, as JSON.parse reads it, id would be {})", id as f64 as i64);
    }
}

fn row_change(kind: &str, id: i64, room_id: i64) -> RowChange {
    let row = json!({
        "id": id,
        "room_id": room_id,
        "body": format!("{} row {id}", kind.to_lowercase()),
        "tags": ["intro", "a \"quoted\" tag"],
        "meta": {"lang": "en"},
        "created_at": "2026-11-26 10:11:12.345",
    });
    let (record, old_record) = match kind {
        "INSERT" => (row, json!(null)),
        "UPDATE" => (row, json!({"id": id})),
        _ => (json!(null), json!({"id": id})),
    };
    RowChange {
        schema: "public".into(),
        table: "messages".into(),
        kind: kind.into(),
        columns: [
            ("id", "int8"),
            ("room_id", "int8"),
            ("body", "text"),
            ("tags", "_text"),
            ("meta", "jsonb"),
            ("created_at", "timestamp"),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect(),
        record,
        old_record,
        commit_timestamp: "2026-11-26T10:11:12.345Z".into(),
    }
}

/// Prints a change, or says how many the stream dropped.
fn report(what: &str, item: Result<Arc<Change>, Lagged>) {
    match item {
        Ok(c) => print_change(what, &c),
        Err(lag) => println!("{what}: {lag}"),
    }
}

/// Prints the next change of either binding; `None` when `wait` passed without one.
async fn next_change(
    room_one: &mut Receiver<Arc<Change>>,
    all: &mut Receiver<Arc<Change>>,
    wait: Duration,
) -> Option<()> {
    let next = async {
        tokio::select! {
            Some(c) = room_one.recv() => report("room 1 inserts", c),
            Some(c) = all.recv() => report("all changes", c),
            else => std::future::pending().await,
        }
    };
    tokio::time::timeout(wait, next).await.ok()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let remote = match (std::env::var("REALTIME_URL"), std::env::var("REALTIME_API_KEY")) {
        (Ok(url), Ok(key)) => Some((url, key)),
        _ => None,
    };
    let table = std::env::var("REALTIME_TABLE").unwrap_or_else(|_| "messages".into());
    let (server, endpoint, api_key) = match remote {
        Some((url, key)) => {
            println!("using the Realtime server at {url}; this example emits no changes there itself");
            (None, url, key)
        }
        None => {
            let server = Server::start(ServerConfig::default()).await?;
            println!(
                "started a local Realtime server at {} (set REALTIME_URL and REALTIME_API_KEY for a real project)",
                server.url()
            );
            let url = server.url();
            (Some(server), url, "anon".to_string())
        }
    };

    let client = RealtimeClient::new(Config::new(endpoint, api_key))?;
    // Subscribing resolves once the server says the bindings are live ("Subscribed to
    // PostgreSQL"), so no change made after it is missed.
    let channel = client.channel("db-changes", ChannelConfig::new().wait_for_postgres_ready(WAIT)).await?;
    let room_filter = Filter::eq("room_id", "1");
    let mut room_one = channel
        .on_postgres_changes(Binding::new(ChangeEvent::Insert, "public").table(&table).filter(&room_filter))
        .await?;
    let mut all = channel.on_postgres_changes(Binding::new(ChangeEvent::All, "public").table(&table)).await?;
    channel.subscribe().await?;
    println!("subscribed: INSERT on public.{table} where {room_filter}, and * on public.{table}");

    match &server {
        Some(server) => {
            for (kind, id, room_id) in EMITTED {
                let delivered = server.emit_change(&row_change(kind, id, room_id));
                println!("emitted {kind} id={id} room_id={room_id} (to {delivered} channel(s))");
            }
            // Every change reaches "all changes"; the room 1 insert also reaches "room 1 inserts".
            for _ in 0..EMITTED.len() + 1 {
                next_change(&mut room_one, &mut all, WAIT).await.ok_or("a change did not arrive")?;
            }
        }
        None => {
            let secs = std::env::var("REALTIME_WAIT_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(30);
            println!("waiting {secs} s for changes to public.{table}");
            let until = tokio::time::Instant::now() + Duration::from_secs(secs);
            while let Some(left) = until.checked_duration_since(tokio::time::Instant::now()) {
                if next_change(&mut room_one, &mut all, left).await.is_none() {
                    break;
                }
            }
        }
    }

    let left = tokio::time::timeout(WAIT, channel.unsubscribe()).await.map_err(|_| "no leave in time")??;
    println!("left: {left}");
    client.shutdown().await?;
    if let Some(server) = server {
        server.stop().await;
    }
    println!("done");
    Ok(())
}
