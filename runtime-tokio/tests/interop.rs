//! Interop: the Rust client and the official realtime-js client in one channel on the testkit,
//! exchanging broadcasts both ways and seeing each other's presence. realtime-js is pinned in
//! `testkit/interop/` and installed by `scripts/interop-setup`; its side is `tests/js/peer.mjs`,
//! which reports what it observed as JSON lines. Timeouts only guard against hanging.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{next, until};
use realtime_testkit::{Config as ServerConfig, Server};
use realtime_tokio::{ChannelConfig, Config, PresenceEvent, RealtimeClient};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

const LINE_TIMEOUT: Duration = Duration::from_secs(60);

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit/interop")
}

/// Fails (never skips) when `scripts/interop-setup` has not been run.
fn require_setup() {
    let dir = interop_dir();
    let missing: Vec<String> = [
        dir.join("node_modules/@supabase/realtime-js/package.json"),
        dir.join("node_modules/ws/package.json"),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .map(|p| p.display().to_string())
    .collect();
    assert!(
        missing.is_empty(),
        "realtime-js is not installed (missing {missing:?}): run scripts/interop-setup"
    );
}

/// The node process: its stdout lines (parsed), its stdin for commands.
struct JsPeer {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
}

impl JsPeer {
    fn spawn(url: &str, topic: &str) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/peer.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .args([url, topic])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node (Node 20+ is needed): {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    Err(_) => eprintln!("[js stdout] {line}"),
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("[js stderr] {line}");
            }
        });
        let stdin = child.stdin.take().expect("piped stdin");
        Self { child, stdin, lines, seen: Vec::new() }
    }

    /// The next line `want` accepts; fails on a reported error, an early exit or the guard.
    async fn until(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let line = match tokio::time::timeout(LINE_TIMEOUT, self.lines.recv()).await {
                Ok(Some(line)) => line,
                Ok(None) => panic!("js: exited before {what}; it reported {:#?}", self.seen),
                Err(_) => panic!("js: no {what} within {LINE_TIMEOUT:?}; it reported {:#?}", self.seen),
            };
            self.seen.push(line.clone());
            assert!(line.get("error").is_none(), "js: {line}; before that {:#?}", self.seen);
            if want(&line) {
                return line;
            }
        }
    }

    async fn send(&mut self, command: Value) {
        self.stdin.write_all(format!("{command}\n").as_bytes()).await.expect("write to node");
        self.stdin.flush().await.expect("flush to node");
    }

    async fn finish(mut self) {
        let status = tokio::time::timeout(LINE_TIMEOUT, self.child.wait())
            .await
            .expect("node exits in time")
            .expect("node's status");
        while let Ok(line) = self.lines.try_recv() {
            assert!(line.get("error").is_none(), "js: {line}");
        }
        assert!(status.success(), "js exited with {status}");
    }
}

#[tokio::test]
async fn the_rust_client_and_realtime_js_share_broadcasts_and_presence() {
    require_setup();
    let server = Server::start(ServerConfig::default()).await.unwrap();
    let mut js = JsPeer::spawn(&server.url(), "mixed");
    js.until("SUBSCRIBED", |l| l["step"] == "subscribed").await;

    let c = RealtimeClient::new(Config::new(server.url(), "anon")).unwrap();
    let ch = c.channel("mixed", ChannelConfig::new().presence_key("rust").broadcast_ack(true)).await.unwrap();
    let mut broadcasts = ch.on_broadcast("*").await;
    let mut presence = ch.on_presence().await;
    ch.subscribe().await.unwrap();
    ch.track(&json!({"lang": "rust"})).await.unwrap();
    ch.send("from-rust", &json!({"from": "rust", "n": 2})).await.unwrap();
    js.send(json!({"go": true})).await;

    // Rust sees JS's broadcast and presence ...
    let got = next(&mut broadcasts).await;
    assert_eq!(got.event, "from-js");
    assert_eq!(got.json::<Value>().unwrap(), json!({"from": "js", "n": 1}));
    until(&mut presence, "js's join", |e| matches!(e, PresenceEvent::Join { key, .. } if key == "js")).await;
    // ... and JS saw Rust's.
    let done = js.until("done", |l| l["done"] == true).await;
    assert_eq!(done["received"], json!([{"event": "from-rust", "payload": {"from": "rust", "n": 2}}]));
    assert_eq!(done["presence"], json!(["js", "rust"]));
    let state = ch.presence_state().await.unwrap();
    let mut keys: Vec<&str> = state.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["js", "rust"]);
    js.send(json!({"finish": true})).await;
    js.until("its leave", |l| l.get("left").is_some()).await;
    js.finish().await;
}
