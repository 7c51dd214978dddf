//! Found by the second read of the driver, each fixed: bytes left behind a pending pong, a peer
//! that stops reading, and the listeners of removed channels.
mod common;

use std::time::Duration;

use common::{WAIT, client, until};
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, ChannelStatus, Config, RealtimeClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Accepts one client, completes the WebSocket upgrade, returns the stream.
async fn upgrade(listener: &TcpListener) -> TcpStream {
    let (mut s, _) = listener.accept().await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(s.read_u8().await.unwrap());
    }
    let text = String::from_utf8(head).unwrap();
    let key = text
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_string())
        })
        .unwrap();
    let accept = realtime_core::ws::handshake::accept_for_key(key.as_bytes());
    let resp = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        std::str::from_utf8(&accept).unwrap()
    );
    s.write_all(resp.as_bytes()).await.unwrap();
    s
}

/// Reads one (masked, unfragmented) client frame: (opcode, payload).
async fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let b0 = s.read_u8().await.unwrap();
    let b1 = s.read_u8().await.unwrap();
    let mut len = u64::from(b1 & 0x7f);
    if len == 126 {
        len = u64::from(s.read_u16().await.unwrap());
    } else if len == 127 {
        len = s.read_u64().await.unwrap();
    }
    let mut mask = [0u8; 4];
    s.read_exact(&mut mask).await.unwrap();
    let mut p = vec![0u8; len as usize];
    s.read_exact(&mut p).await.unwrap();
    for (i, b) in p.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    (b0 & 0x0f, p)
}

/// An unmasked server frame.
fn frame(op: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | op];
    if payload.len() < 126 {
        f.push(payload.len() as u8);
    } else {
        f.push(126);
        f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    f.extend_from_slice(payload);
    f
}

/// Reads client frames until the `phx_join`; returns the join message (vsn 2 array).
async fn read_join(s: &mut TcpStream) -> serde_json::Value {
    loop {
        let (op, p) = read_frame(s).await;
        if op != 1 {
            continue;
        }
        let v: serde_json::Value = serde_json::from_slice(&p).unwrap();
        if v[3] == "phx_join" {
            return v;
        }
    }
}

fn join_ok(join: &serde_json::Value) -> Vec<u8> {
    let reply = serde_json::json!([join[0], join[1], join[2], "phx_reply", {"status": "ok", "response": {}}]);
    frame(1, reply.to_string().as_bytes())
}

fn raw_config(addr: std::net::SocketAddr) -> Config {
    let mut c = Config::new(format!("ws://{addr}/socket"), "anon");
    c.proxy = realtime_tokio::Proxy::None;
    c
}

/// A raw server that answers the join with `pings` pings and the ok reply in one write, then
/// reads quietly; whether `subscribe` completes, and the client.
async fn join_behind_pings(
    pings: usize,
) -> (Result<Result<(), realtime_tokio::Error>, tokio::time::error::Elapsed>, RealtimeClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut s = upgrade(&listener).await;
        let join = read_join(&mut s).await;
        let mut burst = Vec::new();
        for i in 0..pings {
            burst.extend(frame(9, &[b'a' + i as u8]));
        }
        burst.extend(join_ok(&join));
        s.write_all(&burst).await.unwrap();
        // Then quiet, but keep reading (pongs, heartbeats).
        let mut sink = vec![0u8; 4096];
        while s.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
    });
    let c = RealtimeClient::new(raw_config(addr)).unwrap();
    let ch = c.channel("room", ChannelConfig::new()).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(3), ch.subscribe()).await;
    server.abort();
    (got, c)
}

/// Two pings and the join reply in one write: the second ping waits for the first pong to be
/// transmitted, the core returns 0, and the driver never offers the leftover bytes again
/// until more bytes arrive. The join reply sits in the driver's buffer.
#[tokio::test]
async fn leftover_bytes_behind_a_pending_pong_are_fed_again() {
    let (got, _c) = join_behind_pings(2).await;
    assert!(matches!(got, Ok(Ok(()))), "subscribe did not complete: {got:?}");
}

/// A peer that stops reading: the driver awaits `write_all` inside its loop, so no command,
/// timer (heartbeat timeout) or read runs; `shutdown` never returns.
#[tokio::test]
async fn a_peer_that_stops_reading_does_not_freeze_the_driver() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut s = upgrade(&listener).await;
        let join = read_join(&mut s).await;
        s.write_all(&join_ok(&join)).await.unwrap();
        // Never read again; keep the socket open.
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(s);
    });
    let mut config = raw_config(addr);
    config.client = config.client.heartbeat(Duration::from_millis(300));
    let c = RealtimeClient::new(config).unwrap();
    let ch = c.channel("room", ChannelConfig::new()).await.unwrap();
    ch.subscribe().await.unwrap();
    let big = "x".repeat(512 * 1024);
    // Fire and forget: enough bytes to fill both kernel buffers.
    for i in 0..64 {
        let ch = ch.clone();
        let big = big.clone();
        tokio::spawn(async move {
            let _ = ch.send(&format!("e{i}"), &big).await;
        });
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The heartbeat (300 ms) should have timed out and the state left Open by now; and a
    // shutdown must come back.
    let state = *c.connection_state().borrow();
    let shut = tokio::time::timeout(Duration::from_secs(5), c.shutdown()).await;
    server.abort();
    assert!(shut.is_ok(), "shutdown hung (state {state:?})");
}

/// Listeners of a removed channel are never dropped: the map entry and its senders live as
/// long as the task, so a stream of a removed channel never ends either.
#[tokio::test]
async fn listeners_of_a_removed_channel_are_released() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let c = client(&server);
    let ch = c.channel("gone", ChannelConfig::new()).await.unwrap();
    let mut statuses = ch.statuses().await;
    let mut b = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    ch.clone().remove().unwrap();
    until(&mut statuses, "Closed", |s| *s == ChannelStatus::Closed).await;
    // The channel is deleted in the core; nothing can come on these streams any more.
    let ended = tokio::time::timeout(Duration::from_secs(2), b.recv()).await;
    assert!(matches!(ended, Ok(None)), "broadcast stream of a removed channel still open: {ended:?}");
    let _ = WAIT;
}

/// Control: the same server without the pings — subscribe completes.
#[tokio::test]
async fn control_join_reply_alone_subscribes() {
    let (got, c) = join_behind_pings(1).await;
    assert!(matches!(got, Ok(Ok(()))), "subscribe did not complete: {got:?}");
    let shut = tokio::time::timeout(Duration::from_secs(5), c.shutdown()).await;
    assert!(shut.is_ok());
}
