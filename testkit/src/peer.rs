//! Peer processes for interop tests: the official JS and Python clients (installed, pinned, by
//! `scripts/interop-setup` into `testkit/interop/`) or any program that reports what it observed
//! as JSON lines on stdout and takes commands as JSON lines on stdin. Used by this crate's
//! interop suite and by the runtimes' tests. Timeouts only guard against hanging.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// How long one expected line may take before the test fails instead of hanging.
pub const LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Where the interop peers and their pinned packages live (`testkit/interop`).
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

/// Panics (a test fails, never skips) when `scripts/interop-setup` has not been run.
pub fn require_setup() {
    let dir = interop_dir();
    let missing: Vec<String> = [
        dir.join("node_modules/@supabase/realtime-js/package.json"),
        dir.join("node_modules/ws/package.json"),
        dir.join("node_modules/phoenix/package.json"),
        dir.join(".venv/bin/python"),
    ]
    .into_iter()
    .filter(|p| !p.exists())
    .map(|p| p.display().to_string())
    .collect();
    assert!(
        missing.is_empty(),
        "the interop peers are not installed (missing {missing:?}): run scripts/interop-setup"
    );
}

/// A client program: its stdout lines (parsed), its stdin for commands.
#[derive(Debug)]
pub struct Peer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Every line read so far, for failure messages.
    seen: Vec<Value>,
}

impl Peer {
    /// Starts `program` with `args` in the interop directory.
    pub fn spawn(name: &str, program: &Path, args: &[&str]) -> Self {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(interop_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start {}: {e}", program.display()));
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let peer = name.to_string();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) => {
                        let _ = tx.send(v);
                    }
                    // Library logging on stdout is not a report: echo it for the reader.
                    Err(_) => eprintln!("[{peer} stdout] {line}"),
                }
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let peer = name.to_string();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                eprintln!("[{peer} stderr] {line}");
            }
        });
        let stdin = child.stdin.take();
        Self { name: name.to_string(), child, stdin, lines, seen: Vec::new() }
    }

    /// `node testkit/interop/js_peer.mjs <url> <scenario> <extra...>`.
    pub fn js(url: &str, scenario: &str, extra: &[&str]) -> Self {
        let script = interop_dir().join("js_peer.mjs");
        let mut args = vec![script.to_str().expect("utf-8 path"), url, scenario];
        args.extend_from_slice(extra);
        Self::spawn(&format!("js {scenario}"), Path::new("node"), &args)
    }

    /// `node testkit/interop/phoenix_peer.mjs <url>`: phoenix.js against the plain Phoenix mode.
    pub fn phoenix(url: &str) -> Self {
        let script = interop_dir().join("phoenix_peer.mjs");
        Self::spawn("phoenix.js", Path::new("node"), &[script.to_str().expect("utf-8 path"), url])
    }

    /// `testkit/interop/.venv/bin/python testkit/interop/py_peer.py <url>`.
    pub fn python(url: &str) -> Self {
        let script = interop_dir().join("py_peer.py");
        Self::spawn(
            "python",
            &interop_dir().join(".venv/bin/python"),
            &[script.to_str().expect("utf-8 path"), url],
        )
    }

    /// The next line that `want` accepts (earlier ones are kept in `seen`); fails on a
    /// reported error, an early exit or the guard timeout.
    pub async fn until(&mut self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        loop {
            let next = tokio::time::timeout(LINE_TIMEOUT, self.lines.recv()).await;
            let line = match next {
                Ok(Some(line)) => line,
                Ok(None) => panic!("{}: exited before {what}; it reported {:#?}", self.name, self.seen),
                Err(_) => {
                    panic!("{}: no {what} within {LINE_TIMEOUT:?}; it reported {:#?}", self.name, self.seen)
                }
            };
            self.seen.push(line.clone());
            assert!(line.get("error").is_none(), "{}: {line}; before that {:#?}", self.name, self.seen);
            if want(&line) {
                return line;
            }
        }
    }

    /// The next line with `"step": step`.
    pub async fn step(&mut self, step: &str) {
        self.until(&format!("step {step}"), |l| l["step"] == step).await;
    }

    /// Sends a command line.
    pub async fn send(&mut self, command: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let line = format!("{command}\n");
        stdin.write_all(line.as_bytes()).await.expect("write to peer");
        stdin.flush().await.expect("flush to peer");
    }

    /// Reads to the end and checks the exit status; returns every line it reported.
    pub async fn finish(mut self) -> Vec<Value> {
        drop(self.stdin.take());
        while let Ok(Some(line)) = tokio::time::timeout(LINE_TIMEOUT, self.lines.recv()).await {
            self.seen.push(line);
        }
        let status = tokio::time::timeout(LINE_TIMEOUT, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: did not exit", self.name))
            .expect("wait");
        assert!(status.success(), "{}: exit {status}; it reported {:#?}", self.name, self.seen);
        for line in &self.seen {
            assert!(line.get("error").is_none(), "{}: {line}", self.name);
        }
        self.seen
    }
}
