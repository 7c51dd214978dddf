//! The paced sender: one WebSocket (vsn 2.0.0, blocking tungstenite), joined to the channel,
//! writing kind-3 binary user broadcasts at a fixed rate.
//!
//! Why a socket and not REST: the server decodes a kind-3 frame (a few length bytes, one JSON
//! validation) and fans it out; a REST batch costs it an HTTP request, a JSON parse of the whole
//! body into values and a re-encode per message. Either way every receiver gets the same
//! messages in its own format, encoded by the server.

use std::io;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use realtime_cli::load::{EVENT, tick_json, unix_micros};

/// What the sender did.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SendReport {
    /// Messages written.
    pub sent: u64,
    /// Seconds from the first write to the last.
    pub secs: f64,
    /// The largest delay of a write behind its schedule, microseconds (the sender's own lag).
    pub max_behind_us: u64,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// A kind-3 user broadcast push (spec A.4): `[3, len(join_ref), len(ref), len(topic),
/// len(event), len(meta), encoding=1 (JSON)]` then the fields and the JSON payload.
fn kind3(join_ref: &str, topic: &str, event: &str, json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(7 + join_ref.len() + topic.len() + event.len() + json.len());
    out.push(3);
    for len in [join_ref.len(), 0, topic.len(), event.len(), 0] {
        out.push(u8::try_from(len).unwrap_or(u8::MAX));
    }
    out.push(1);
    out.extend_from_slice(join_ref.as_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(event.as_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

/// Joins `realtime:<topic>` and waits for the server's ok.
fn join(ws: &mut WebSocket<MaybeTlsStream<TcpStream>>, topic: &str) -> io::Result<()> {
    let join = serde_json::json!([
        "1",
        "1",
        topic,
        "phx_join",
        {"config": {"broadcast": {"ack": false, "self": false}, "presence": {"enabled": false},
                    "postgres_changes": [], "private": false}}
    ]);
    ws.send(Message::text(join.to_string())).map_err(io_err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let Message::Text(t) = ws.read().map_err(io_err)? else { continue };
        let v: serde_json::Value = serde_json::from_str(t.as_str()).map_err(io_err)?;
        if v[1] == "1" && v[3] == "phx_reply" {
            if v[4]["status"] == "ok" {
                return Ok(());
            }
            return Err(io_err(format!("join refused: {t}")));
        }
    }
    Err(io_err("no join reply in 10 s"))
}

/// Sends `count` broadcasts of [`tick_json`] to `topic` (sub-topic) at `rate` per second,
/// each stamped with its send time, on a schedule fixed from the first write (a late write
/// does not push the later ones back). `url` is the Realtime URL (`ws://host:port/realtime/v1`).
pub fn send_paced(url: &str, topic: &str, count: u64, rate: u32) -> io::Result<SendReport> {
    let full = format!("{}/websocket?apikey=bench&vsn=2.0.0", url.trim_end_matches('/'));
    let (mut ws, _) = tungstenite::connect(full).map_err(io_err)?;
    if let MaybeTlsStream::Plain(s) = ws.get_mut() {
        s.set_nodelay(true)?;
    }
    let topic = format!("realtime:{topic}");
    join(&mut ws, &topic)?;
    let period = Duration::from_secs(1) / rate.max(1);
    let start = Instant::now();
    let mut max_behind = Duration::ZERO;
    for seq in 0..count {
        let due = start + period * u32::try_from(seq).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else {
            max_behind = max_behind.max(now - due);
        }
        let frame = kind3("1", &topic, EVENT, &tick_json(seq, unix_micros()));
        ws.send(Message::binary(frame)).map_err(io_err)?;
    }
    let secs = start.elapsed().as_secs_f64();
    let _ = ws.close(None);
    // Read until the server echoes the close (so every frame was taken before the socket ends).
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline && ws.read().is_ok() {}
    Ok(SendReport {
        sent: count,
        secs,
        max_behind_us: u64::try_from(max_behind.as_micros()).unwrap_or(u64::MAX),
    })
}
