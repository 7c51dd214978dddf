//! TLS with the generated certificate, and the `realtime-testkit` binary.

mod common;

use std::process::Stdio;
use std::sync::Arc;

use common::{Client, Io, kind3};
use realtime_testkit::{Config, Server};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn tls_client(server: &Server) -> Client {
    let pem = server.ca_pem().expect("a certificate with tls: true");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")).expect("a root");
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the TLS handshake");
    let url = format!("{}/websocket?vsn=2.0.0", server.url());
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
    let req = url.into_client_request().unwrap();
    match Client::handshake(req, Box::new(tls) as Box<dyn Io>).await {
        Ok(c) => c,
        Err(r) => panic!("refused: {r:?}"),
    }
}

#[tokio::test]
async fn tls_join_and_broadcast() {
    let server = Server::start(Config { tls: true, ..Config::default() }).await.unwrap();
    assert!(server.ca_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(server.http_url().starts_with("https://"));
    let topic = "realtime:room1";
    let mut a = tls_client(&server).await;
    let mut b = tls_client(&server).await;
    let jr = a.join_ok(topic, json!({})).await;
    b.join_ok(topic, json!({})).await;
    let msg = json!({"type": "broadcast", "event": "e", "payload": {"over": "tls"}});
    a.push2(Some(&jr), Some("2"), topic, "broadcast", msg.clone()).await;
    assert_eq!(b.json().await, json!([null, null, topic, "broadcast", msg]));
    a.send_binary(kind3(&jr, "3", topic, "bin", "", 0, &[1, 2, 3])).await;
    assert_eq!(b.binary().await, common::kind4(topic, "bin", "", 0, &[1, 2, 3]));
    a.quiet2().await;
    b.quiet2().await;
}

/// Kills the child if the test fails before it does.
struct Child(tokio::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

#[tokio::test]
async fn the_binary_prints_its_url_and_serves() {
    let mut child = Child(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_realtime-testkit"))
            .args(["--port", "0", "--api-key", "k"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn realtime-testkit"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(common::WAIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("the URL in time")
        .unwrap();
    let url = line.trim();
    assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with("/realtime/v1"), "{url:?}");

    let mut c = Client::at(url, "apikey=k&vsn=2.0.0").await;
    c.join_ok("realtime:room1", json!({})).await;
    c.quiet2().await;
    let refused = Client::try_connect(&common::ws_url(url, "apikey=nope"), &[]).await;
    assert!(matches!(refused, Err(common::Refused(401))));

    child.0.start_kill().unwrap();
    let _ = child.0.wait().await;
}
