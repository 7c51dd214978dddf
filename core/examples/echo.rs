//! The WebSocket core against a local peer, over real TCP on loopback.
//!
//! Starts an echo server from an independent implementation (tungstenite) on 127.0.0.1, then
//! drives `realtime_core::ws::WebSocket` with a plain blocking socket: the handshake, a text and
//! a binary message echoed back, a ping with its round-trip time, and the close handshake.
//! No internet needed: `cargo run -p realtime-core --example echo`.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant as StdInstant};

use realtime_core::Instant;
use realtime_core::ws::{CloseCode, Config, MessageKind, Request, State, Url, WebSocket, WsEvent};

fn echo_server() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::spawn(move || {
        let Ok((stream, _)) = listener.accept() else { return };
        let Ok(mut ws) = tungstenite::accept(stream) else { return };
        while let Ok(msg) = ws.read() {
            if msg.is_text() || msg.is_binary() {
                let _ = ws.send(msg);
            }
        }
    });
    Ok(port)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = echo_server()?;
    let url = format!("ws://127.0.0.1:{port}/echo");
    let started = StdInstant::now();
    let now = || Instant::from_micros(started.elapsed().as_micros() as u64);

    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_millis(50)))?;

    // A real runtime seeds from the OS; the example derives a seed from the clock.
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&started.elapsed().as_nanos().to_le_bytes());
    let mut ws = WebSocket::new(Config::default(), seed)?;
    let request = Request {
        url: Url::parse(&url)?,
        protocols: &[],
        headers: &[("X-Client-Info", "realtime-rs/example")],
    };
    ws.connect(now(), &request)?;
    println!("connecting to {url}");

    let mut out = vec![0u8; 16 * 1024];
    let mut inbuf: Vec<u8> = Vec::new();
    let mut step = 0;
    let deadline = StdInstant::now() + Duration::from_secs(10);
    while ws.state() != State::Closed && StdInstant::now() < deadline {
        loop {
            let n = ws.poll_transmit(&mut out);
            if n == 0 {
                break;
            }
            stream.write_all(&out[..n])?;
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk) {
            Ok(0) => ws.handle_transport_closed(now()),
            Ok(n) => inbuf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e.into()),
        }
        let used = ws.handle_input(now(), &inbuf);
        inbuf.drain(..used);
        if ws.poll_timeout().is_some_and(|t| t <= now()) {
            ws.handle_timeout(now());
        }
        while let Some(event) = ws.poll_event() {
            match event {
                WsEvent::Open { .. } => {
                    println!("open");
                    ws.send(MessageKind::Text, br#"{"event":"hello","payload":{"n":1}}"#.to_vec())?;
                    ws.send(MessageKind::Binary, vec![0xde, 0xad, 0xbe, 0xef])?;
                }
                WsEvent::Message(m) => {
                    match &m {
                        realtime_core::ws::Message::Text(t) => println!("echo text: {t}"),
                        realtime_core::ws::Message::Binary(b) => println!("echo binary: {b:02x?}"),
                    }
                    step += 1;
                    if step == 2 {
                        ws.ping(now())?;
                    }
                }
                WsEvent::Pong { rtt } => {
                    println!("pong, round trip {rtt:?}");
                    ws.close(now(), CloseCode::NORMAL, "done")?;
                }
                WsEvent::Close { code, reason } => println!("server closed: {code:?} {reason:?}"),
                other => println!("{other:?}"),
            }
        }
    }
    println!("closed: {:?}", ws.state());
    Ok(())
}
