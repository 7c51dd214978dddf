//! `serve --tls` with the clients' `--ca-file`.

use serde_json::json;

use crate::common::{Serve, broadcast, client, listen, run, send};

#[tokio::test]
async fn tls_works_with_the_certificate_and_fails_without_it() {
    let server = Serve::start(&["--tls"]).await;
    let ca = server.ca_file.as_ref().expect("serve --tls names its certificate");
    let ca = ca.to_str().expect("a UTF-8 temp path");
    assert!(std::fs::read_to_string(ca).expect("the certificate exists").contains("BEGIN CERTIFICATE"));

    let mut listener = listen(&server.url, "secure", &["--ca-file", ca, "--exit-after", "2"]).await;
    send(&server.url, "secure", "socket", "1", &["--ca-file", ca]).await;
    send(&server.url, "secure", "rest", "2", &["--ca-file", ca, "--rest"]).await;
    assert_eq!(listener.line().await, broadcast("secure", "socket", json!(1)));
    assert_eq!(listener.line().await, broadcast("secure", "rest", json!(2)));
    listener.exit().await.assert_quiet_success();

    // Without it the certificate is not trusted (the system roots do not have it).
    run(&client("listen", &server.url, &["--channel", "secure"])).await.assert_failed(
        1,
        "subscribe failed: cannot connect: the TLS handshake failed: invalid peer certificate",
    );
    let rest = ["--channel", "secure", "--event", "e", "--payload", "1", "--rest"];
    run(&client("send", &server.url, &rest)).await.assert_failed(1, "broadcast 1 of 1 failed");
}
