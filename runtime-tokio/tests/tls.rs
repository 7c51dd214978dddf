//! TLS over loopback: the testkit serves a generated self-signed certificate for `localhost`.

mod common;

use common::{next, quick, state_until};
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, ConnectionState, RealtimeClient, Roots};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

async fn tls_server() -> Server {
    Server::start(ServerConfig { tls: true, ..ServerConfig::default() }).await.unwrap()
}

/// `wss://localhost:<port>/realtime/v1`: the name in the certificate, and the SNI sent.
fn localhost_url(server: &Server) -> String {
    format!("wss://localhost:{}/realtime/v1", server.addr().port())
}

#[tokio::test]
async fn subscribe_and_broadcast_over_tls_with_the_servers_certificate_as_root() {
    let server = tls_server().await;
    let cert = CertificateDer::from_pem_slice(server.ca_pem().expect("a TLS server").as_bytes()).unwrap();
    let mut config = quick(&localhost_url(&server));
    config.roots = Roots::Custom(vec![cert]);
    let a = RealtimeClient::new(config.clone()).unwrap();
    let b = RealtimeClient::new(config).unwrap();
    let room_a = a.channel("secure-room", ChannelConfig::new().broadcast_ack(true)).await.unwrap();
    let room_b = b.channel("secure-room", ChannelConfig::new()).await.unwrap();
    let mut at_a = room_a.on_broadcast("*").await;
    let mut at_b = room_b.on_broadcast("*").await;
    room_a.subscribe().await.unwrap();
    room_b.subscribe().await.unwrap();
    room_a.send("ping", &json!({"n": 1})).await.unwrap();
    let got = next(&mut at_b).await;
    assert_eq!((got.event.as_str(), got.json::<serde_json::Value>().unwrap()), ("ping", json!({"n": 1})));
    room_b.send("pong", &json!({"n": 2})).await.unwrap();
    assert_eq!(next(&mut at_a).await.event, "pong");
    assert_eq!(server.connections(), 2);
}

#[tokio::test]
async fn the_default_webpki_roots_refuse_a_self_signed_server_and_the_client_keeps_trying() {
    let server = tls_server().await;
    let c = RealtimeClient::new(quick(&localhost_url(&server))).unwrap();
    let ch = c.channel("never", ChannelConfig::new()).await.unwrap();
    // The subscription cannot succeed: each attempt fails in the TLS handshake, and the client
    // tries again on its (short) schedule. Seeing attempt 3 scheduled shows it keeps trying.
    let subscribe = tokio::spawn({
        let ch = ch.clone();
        async move { ch.subscribe().await }
    });
    state_until(
        &c,
        "a third attempt",
        |s| matches!(s, ConnectionState::WaitingToReconnect { attempt, .. } if *attempt >= 3),
    )
    .await;
    if subscribe.is_finished() {
        assert!(subscribe.await.unwrap().is_err(), "not subscribed");
    } else {
        subscribe.abort();
    }
    assert!(server.observed().is_empty(), "no frame got through: {:?}", server.observed());
    assert_ne!(*c.connection_state().borrow(), ConnectionState::Open);
}
