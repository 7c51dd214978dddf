//! `serve --api-key` and `serve --jwt-secret` against the clients' `--api-key` and `--token`.

use std::time::{SystemTime, UNIX_EPOCH};

use realtime_testkit::jwt;
use serde_json::json;

use crate::common::{Proc, Serve, broadcast, run, subscribed};

fn args(command: &str, url: &str, key: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec![command.to_string(), "--url".into(), url.into(), "--api-key".into(), key.into()];
    v.extend(extra.iter().map(|s| (*s).to_string()));
    v
}

/// An HS256 token for `role`, valid for an hour.
fn token(role: &str, secret: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    jwt::sign(&json!({"role": role, "sub": "user-1", "exp": now + 3600}), secret.as_bytes())
}

#[tokio::test]
async fn an_api_key_server_refuses_a_wrong_key() {
    let server = Serve::start(&["--api-key", "right"]).await;
    let send = ["--channel", "room", "--event", "e", "--payload", "{}"];

    run(&args("listen", &server.url, "wrong", &["--channel", "room"])).await.assert_failed(
        1,
        "subscribe failed: cannot connect: the server refused the websocket upgrade with http 401",
    );
    run(&args("send", &server.url, "wrong", &send)).await.assert_failed(1, "subscribe failed");
    let mut rest = send.to_vec();
    rest.push("--rest");
    run(&args("send", &server.url, "wrong", &rest)).await.assert_failed(1, "nauthorized");

    // The right key works.
    let mut listener =
        Proc::spawn(&args("listen", &server.url, "right", &["--channel", "room", "--exit-after", "1"]));
    assert_eq!(listener.line().await, subscribed("room"));
    run(&args("send", &server.url, "right", &send)).await.assert_quiet_success();
    assert_eq!(listener.line().await, broadcast("room", "e", json!({})));
    listener.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn a_jwt_server_takes_signed_keys_and_tokens_only() {
    let secret = "a-secret-of-at-least-32-characters!!";
    let server = Serve::start(&["--jwt-secret", secret]).await;
    let anon = token("anon", secret);
    let user = token("authenticated", secret);
    let forged = token("authenticated", "another-secret-of-32-characters!!!!!");

    let mut listener = Proc::spawn(&args(
        "listen",
        &server.url,
        &anon,
        &["--token", &user, "--channel", "room", "--exit-after", "2"],
    ));
    assert_eq!(listener.line().await, subscribed("room"));
    let send = ["--channel", "room", "--event", "e", "--payload", "1", "--token", user.as_str()];
    run(&args("send", &server.url, &anon, &send)).await.assert_quiet_success();
    let mut rest = send.to_vec();
    rest.push("--rest");
    run(&args("send", &server.url, &anon, &rest)).await.assert_quiet_success();
    assert_eq!(listener.line().await, broadcast("room", "e", json!(1)));
    assert_eq!(listener.line().await, broadcast("room", "e", json!(1)));
    listener.exit().await.assert_quiet_success();

    // A token signed with another secret is refused at the join; a key that is not a JWT at
    // the connection.
    run(&args("listen", &server.url, &anon, &["--token", &forged, "--channel", "room"]))
        .await
        .assert_failed(1, "subscribe failed");
    run(&args("listen", &server.url, "not-a-jwt", &["--channel", "room"]))
        .await
        .assert_failed(1, "subscribe failed");
    // The REST endpoint checks the key too.
    let bad_rest = ["--channel", "room", "--event", "e", "--payload", "1", "--rest"];
    run(&args("send", &server.url, "not-a-jwt", &bad_rest)).await.assert_failed(1, "broadcast 1 of 1 failed");
}

/// An expired `--token` is refused before anything connects, saying so: otherwise the client
/// leaves it out and joins under the API key, and the command seems to work.
#[tokio::test]
async fn an_expired_token_is_refused_up_front() {
    let secret = "an expired secret";
    let server = Serve::start(&["--jwt-secret", secret]).await;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let expired = jwt::sign(&json!({"role": "authenticated", "exp": now - 600}), secret.as_bytes());
    let key = token("anon", secret);
    for command in ["listen", "send", "presence"] {
        let mut argv = vec![
            command.to_string(),
            "--url".into(),
            server.url.clone(),
            "--api-key".into(),
            key.clone(),
            "--token".into(),
            expired.clone(),
            "--channel".into(),
            "room".into(),
        ];
        if command == "send" {
            argv.extend(["--event", "e", "--payload", "1"].map(String::from));
        }
        run(&argv).await.assert_failed(2, "--token expired 6");
    }
}

/// A REST broadcast the server refuses shows the server's reason.
#[tokio::test]
async fn a_refused_rest_broadcast_shows_the_servers_reason() {
    let secret = "the right secret";
    let server = Serve::start(&["--jwt-secret", secret]).await;
    let forged = token("anon", "another secret");
    let rest = ["--channel", "room", "--event", "e", "--payload", "1", "--rest"];
    run(&args("send", &server.url, &forged, &rest)).await.assert_failed(1, "unauthorized: Signature error");
}
