//! Payloads from anywhere: `--payload -` (stdin), `--payload @PATH` (a file, past the command
//! line's length limit), `--binary` bytes, and `send` without a payload: a line-per-broadcast
//! session that prints what the channel receives.

use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::common::{Proc, Serve, broadcast, client, listen};

#[tokio::test]
async fn a_payload_from_stdin_is_sent() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "room", &["--exit-after", "1"]).await;
    let (sender, mut stdin) = Proc::spawn_with_stdin(&client(
        "send",
        &server.url,
        &["--channel", "room", "--event", "e", "--payload", "-"],
    ));
    stdin.write_all(br#"{"from": "stdin"}"#).await.unwrap();
    drop(stdin);
    sender.exit().await.assert_quiet_success();
    assert_eq!(listener.line().await, broadcast("room", "e", json!({"from": "stdin"})));
    listener.exit().await.assert_quiet_success();
}

#[tokio::test]
async fn a_payload_from_a_file_may_be_larger_than_a_command_line() {
    let server = Serve::start(&[]).await;
    let text = "x".repeat(200 * 1024);
    let path = std::env::temp_dir().join(format!("realtime-payload-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(&json!({ "text": text })).unwrap()).unwrap();
    let mut listener = listen(&server.url, "big", &["--exit-after", "1"]).await;
    let file = format!("@{}", path.display());
    let sent = crate::common::run(&client(
        "send",
        &server.url,
        &["--channel", "big", "--event", "e", "--payload", &file],
    ))
    .await;
    let _ = std::fs::remove_file(&path);
    sent.assert_quiet_success();
    let got = listener.line().await;
    assert_eq!(got["payload"]["text"].as_str().map(str::len), Some(200 * 1024));
    listener.exit().await.assert_quiet_success();

    let missing = crate::common::run(&client(
        "send",
        &server.url,
        &["--channel", "big", "--event", "e", "--payload", "@/nonexistent/payload.json"],
    ))
    .await;
    missing.assert_failed(2, "--payload @/nonexistent/payload.json");
}

#[tokio::test]
async fn binary_bytes_from_stdin_arrive_as_bytes() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "bytes", &["--exit-after", "1"]).await;
    let (sender, mut stdin) = Proc::spawn_with_stdin(&client(
        "send",
        &server.url,
        &["--channel", "bytes", "--event", "blob", "--payload", "-", "--binary"],
    ));
    stdin.write_all(&[0, 1, 2, 255]).await.unwrap();
    drop(stdin);
    sender.exit().await.assert_quiet_success();
    let got = listener.line().await;
    assert_eq!(got["event"], "blob");
    assert_eq!(got["payload_base64"], "AAEC/w==", "{got}");
    listener.exit().await.assert_quiet_success();

    let rest = crate::common::run(&client(
        "send",
        &server.url,
        &["--channel", "bytes", "--event", "blob", "--payload", "-", "--binary", "--rest"],
    ))
    .await;
    rest.assert_failed(2, "--binary goes over the socket");
}

#[tokio::test]
async fn send_without_a_payload_sends_each_line_and_prints_what_arrives() {
    let server = Serve::start(&[]).await;
    let mut listener = listen(&server.url, "chat", &["--exit-after", "2"]).await;
    let (mut session, mut stdin) =
        Proc::spawn_with_stdin(&client("send", &server.url, &["--channel", "chat", "--event", "line"]));
    stdin.write_all(b"{\"n\": 1}\nnot json\n\n\"two\"\n").await.unwrap();
    assert_eq!(listener.line().await, broadcast("chat", "line", json!({"n": 1})));
    assert_eq!(listener.line().await, broadcast("chat", "line", json!("two")));
    listener.exit().await.assert_quiet_success();
    assert!(session.stderr_line().await.starts_with("realtime: not sent, the line is not valid JSON"));
    // What the channel receives from others is printed, as `listen` prints it.
    crate::common::send(&server.url, "chat", "reply", r#"{"ok": true}"#, &[]).await;
    assert_eq!(session.line().await, broadcast("chat", "reply", json!({"ok": true})));
    // The end of stdin ends the session.
    drop(stdin);
    let end = session.exit().await;
    assert_eq!(end.code, Some(0), "{end:?}");
}
