//! The Realtime client's main job, end to end over real TCP on loopback, no internet needed:
//! `cargo run -p realtime-core --example realtime`.
//!
//! A small Phoenix-speaking server runs in a thread (its WebSocket side is tungstenite, an
//! independent implementation; it answers joins, heartbeats and broadcasts, echoing broadcasts
//! to the sender as Realtime does with `broadcast.self`). The client joins `room1`, sends two
//! broadcasts, receives them back, heartbeats, leaves and disconnects, driven by a plain
//! blocking loop: the whole sans-IO contract in one screen. (The full local server is the
//! `testkit` crate.)

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use realtime_core::Instant;
use realtime_core::client::{
    ChannelStatus, Client, ClientConfig, Event, PushBody, TransportClosed, TransportCommand,
};
use realtime_core::supabase::channel_config::ChannelConfig;
use serde_json::{Value, json};

/// Answers what the example sends: joins, heartbeats, broadcasts (echoed, then acknowledged)
/// and leaves, on the 2.0.0 serializer.
fn server() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let Ok(mut ws) = tungstenite::accept(stream) else { return };
        while let Ok(msg) = ws.read() {
            let Ok(text) = msg.to_text() else { continue };
            let Ok(Value::Array(f)) = serde_json::from_str::<Value>(text) else { continue };
            let [join_ref, msg_ref, topic, event, payload] = &f[..] else { continue };
            let reply = |response: Value| json!([join_ref, msg_ref, topic, "phx_reply", {"status": "ok", "response": response}]);
            let mut out = Vec::new();
            match event.as_str() {
                Some("phx_join") => out.push(reply(json!({"postgres_changes": []}))),
                Some("heartbeat") => out.push(reply(json!({}))),
                Some("broadcast") => {
                    out.push(json!([join_ref, null, topic, "broadcast", payload]));
                    out.push(reply(json!({})));
                }
                Some("phx_leave") => {
                    out.push(reply(json!({})));
                    out.push(json!([join_ref, join_ref, topic, "phx_close", {}]));
                }
                _ => {}
            }
            for v in out {
                if ws.send(tungstenite::Message::text(v.to_string())).is_err() {
                    return;
                }
            }
        }
    });
    Ok(port)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = server()?;
    let started = StdInstant::now();
    let now = || Instant::from_micros(started.elapsed().as_micros() as u64);

    let mut config = ClientConfig::new(format!("http://127.0.0.1:{port}/realtime/v1"), "anon-key")
        .heartbeat(Duration::from_secs(1));
    config.access_token = Some("example-token".into());
    // A real runtime seeds from the OS; the example derives a seed from the clock.
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&started.elapsed().as_nanos().to_le_bytes());
    let mut client = Client::new(config, seed)?;
    println!("url: {}", client.url());

    let room =
        client.channel(now(), "room1", ChannelConfig::new().broadcast_self(true).broadcast_ack(true))?;
    client.subscribe(now(), room)?; // connects the socket

    let mut stream: Option<TcpStream> = None;
    let mut transport = None;
    let mut out = vec![0u8; 16 * 1024];
    let mut inbuf: Vec<u8> = Vec::new();
    let (mut received, mut heartbeats, mut left) = (0, 0, false);
    let deadline = StdInstant::now() + Duration::from_secs(10);
    while StdInstant::now() < deadline {
        // 1. Transport commands.
        while let Some(cmd) = client.poll_transport() {
            match cmd {
                TransportCommand::Open { url, target, id } => {
                    println!("open {url}");
                    let s = TcpStream::connect((target.host.as_str(), target.port))?;
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(Duration::from_millis(20)))?;
                    stream = Some(s);
                    transport = Some(id);
                    client.handle_transport_open(now(), id);
                }
                TransportCommand::Close { .. } | TransportCommand::Abort => {
                    if let Some(mut s) = stream.take() {
                        loop {
                            let n = client.poll_transmit(&mut out);
                            if n == 0 {
                                break;
                            }
                            s.write_all(&out[..n])?;
                        }
                    }
                }
            }
        }
        let Some(s) = stream.as_mut() else { break };
        // 2. Bytes out.
        loop {
            let n = client.poll_transmit(&mut out);
            if n == 0 {
                break;
            }
            s.write_all(&out[..n])?;
        }
        // 3. Bytes in (the read timeout stands in for waiting on `poll_timeout`).
        let mut chunk = [0u8; 8192];
        match s.read(&mut chunk) {
            Ok(0) => {
                if let Some(id) = transport {
                    client.handle_transport_closed(now(), id, TransportClosed::Eof);
                }
            }
            Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        let used = client.handle_input(now(), &inbuf);
        inbuf.drain(..used);
        // 4. Timers.
        if client.poll_timeout().is_some_and(|t| t <= now()) {
            client.handle_timeout(now());
        }
        // 5. Events.
        while let Some(event) = client.poll_event() {
            match &event {
                Event::Status { status: ChannelStatus::Subscribed, .. } => {
                    println!("subscribed to {}", client.channel_topic(room).unwrap_or("?"));
                    for i in 1..=2 {
                        let payload =
                            json!({"type": "broadcast", "event": "cursor", "payload": {"x": i * 10, "y": 7}});
                        client.push(
                            now(),
                            room,
                            PushBody::Json { event: "broadcast".into(), payload: payload.to_string() },
                        )?;
                    }
                }
                Event::Message { message, .. } => {
                    received += 1;
                    println!("broadcast received: {:?}", message.payload());
                }
                Event::Push { outcome, .. } => println!("broadcast acknowledged: {outcome:?}"),
                Event::Heartbeat(status) => {
                    println!("heartbeat {status:?}");
                    heartbeats += 1;
                    if heartbeats == 2 && received == 2 && !left {
                        left = true;
                        client.remove_channel(now(), room)?;
                    }
                }
                Event::Status { status: ChannelStatus::Closed, .. } => {
                    println!("left the channel");
                    client.disconnect(now());
                }
                Event::Disconnected { end, next } => {
                    println!("disconnected: {end:?}, next: {next:?}");
                    return Ok(());
                }
                other => println!("{other:?}"),
            }
        }
    }
    Err("the example did not finish in time".into())
}
