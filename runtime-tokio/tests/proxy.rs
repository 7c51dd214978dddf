//! Through an HTTP CONNECT proxy: a tiny one written here (it reads the CONNECT head, answers
//! 200, then copies both ways), named explicitly with `Proxy::Url`. (`NO_PROXY` matching is
//! unit-tested in `transport.rs`; an environment-based test would race the other tests, since
//! environment variables are process-wide.)

mod common;

use std::sync::{Arc, Mutex};

use common::{next, quick};
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, Proxy, RealtimeClient};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts the proxy; returns its port and the request lines it has seen.
async fn connect_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let _ = tunnel(client, log).await;
            });
        }
    });
    (port, seen)
}

async fn tunnel(mut client: TcpStream, log: Arc<Mutex<Vec<String>>>) -> std::io::Result<()> {
    // The head, byte by byte: what follows it belongs to the tunnel.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(client.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let line = head.lines().next().unwrap_or_default().to_string();
    log.lock().unwrap().push(line.clone());
    let mut parts = line.split(' ');
    let (Some("CONNECT"), Some(authority)) = (parts.next(), parts.next()) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n").await?;
        return Ok(());
    };
    let mut upstream = TcpStream::connect(authority).await?;
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

#[tokio::test]
async fn subscribe_and_broadcast_through_an_http_connect_proxy() {
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let (proxy_port, seen) = connect_proxy().await;
    let mut config = quick(&server.url());
    config.proxy = Proxy::Url(format!("http://127.0.0.1:{proxy_port}"));
    let c = RealtimeClient::new(config).unwrap();
    let ch =
        c.channel("tunnelled", ChannelConfig::new().broadcast_self(true).broadcast_ack(true)).await.unwrap();
    let mut echo = ch.on_broadcast("*").await;
    ch.subscribe().await.unwrap();
    ch.send("through", &json!({"ok": true})).await.unwrap();
    assert_eq!(next(&mut echo).await.event, "through");
    let want = format!("CONNECT 127.0.0.1:{} HTTP/1.1", server.addr().port());
    assert_eq!(*seen.lock().unwrap(), [want]);
}
