//! Running `realtime` as a subprocess: stdout read line by line, stderr and the exit code
//! collected at the end, every wait guarded.

use std::future::Future;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdout, Command};

/// How long one wait may take before the test fails: a guard against hanging, not a timing
/// claim.
pub(crate) const GUARD: Duration = Duration::from_secs(30);

/// The API key for servers that take any.
pub(crate) const KEY: &str = "anon";

/// Waits for `f`; fails the test if it takes longer than [`GUARD`].
pub(crate) async fn guard<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("no {what} within {GUARD:?}"),
    }
}

/// A running `realtime`.
pub(crate) struct Proc {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: BufReader<ChildStderr>,
    /// The command line, for failure messages.
    args: String,
}

/// How a process ended.
#[derive(Debug)]
pub(crate) struct Exit {
    /// The exit code (`None`: killed by a signal).
    pub(crate) code: Option<i32>,
    /// The stdout lines not read before.
    pub(crate) stdout: Vec<String>,
    /// All of stderr.
    pub(crate) stderr: String,
}

impl Exit {
    /// Asserts a clean exit with nothing more on stdout or stderr.
    #[track_caller]
    pub(crate) fn assert_quiet_success(&self) {
        assert_eq!(self.code, Some(0), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert!(self.stderr.is_empty(), "{self:?}");
    }

    /// Asserts the failure contract: exit `code`, nothing on stdout, one line on stderr that
    /// starts with `realtime: ` and contains `needle`.
    #[track_caller]
    pub(crate) fn assert_failed(&self, code: i32, needle: &str) {
        assert_eq!(self.code, Some(code), "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "one stderr line: {self:?}");
        assert!(self.stderr.starts_with("realtime: "), "{self:?}");
        assert!(self.stderr.contains(needle), "{needle:?} in {self:?}");
    }
}

impl Proc {
    /// Starts `realtime ARGS`.
    pub(crate) fn spawn<S: AsRef<str>>(args: &[S]) -> Self {
        Self::start(args, Stdio::null())
    }

    /// Starts `realtime ARGS` with its stdin a pipe the test writes (closing it is the end of
    /// stdin).
    pub(crate) fn spawn_with_stdin<S: AsRef<str>>(args: &[S]) -> (Self, tokio::process::ChildStdin) {
        let mut proc = Self::start(args, Stdio::piped());
        // Invariant: asked for as a pipe just above.
        let stdin = proc.child.stdin.take().expect("piped stdin");
        (proc, stdin)
    }

    fn start<S: AsRef<str>>(args: &[S], stdin: Stdio) -> Self {
        let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_realtime"))
            .args(&args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the realtime binary starts");
        // Invariant: both were asked for as pipes just above.
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        Self { child, stdout, stderr, args: args.join(" ") }
    }

    /// The next stdout line.
    pub(crate) async fn text_line(&mut self) -> String {
        let what = format!("stdout line from `realtime {}`", self.args);
        match guard(&what, self.stdout.next_line()).await {
            Ok(Some(line)) => line,
            other => panic!("`realtime {}` ended its stdout: {other:?}", self.args),
        }
    }

    /// The next stdout line, as JSON.
    pub(crate) async fn line(&mut self) -> Value {
        let text = self.text_line().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not a JSON line ({e}): {text}"))
    }

    /// The next stderr line.
    pub(crate) async fn stderr_line(&mut self) -> String {
        let mut line = String::new();
        let what = format!("stderr line from `realtime {}`", self.args);
        guard(&what, self.stderr.read_line(&mut line)).await.expect("stderr reads");
        line.trim_end().to_string()
    }

    /// Waits for it to end by itself.
    pub(crate) async fn exit(mut self) -> Exit {
        let what = format!("exit of `realtime {}`", self.args);
        guard(&what, async {
            let mut stdout = Vec::new();
            while let Ok(Some(line)) = self.stdout.next_line().await {
                stdout.push(line);
            }
            let mut stderr = String::new();
            self.stderr.read_to_string(&mut stderr).await.expect("stderr reads");
            let status = self.child.wait().await.expect("the child is waited for");
            Exit { code: status.code(), stdout, stderr }
        })
        .await
    }

    /// Sends SIGINT (Ctrl-C), then waits for the exit.
    pub(crate) async fn interrupt(self) -> Exit {
        let pid = self.child.id().expect("still running").to_string();
        let status = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
        assert!(status.success());
        self.exit().await
    }
}

/// Runs `realtime ARGS` to its end.
pub(crate) async fn run<S: AsRef<str>>(args: &[S]) -> Exit {
    Proc::spawn(args).exit().await
}

/// `realtime serve --port 0 EXTRA`, killed when dropped.
pub(crate) struct Serve {
    pub(crate) proc: Proc,
    /// Its first stdout line.
    pub(crate) url: String,
    /// With `--tls`: the certificate it wrote (path from its stderr).
    pub(crate) ca_file: Option<PathBuf>,
}

impl Serve {
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let mut args = vec!["serve", "--port", "0"];
        args.extend_from_slice(extra);
        let mut proc = Proc::spawn(&args);
        let url = proc.text_line().await;
        let ca_file = if extra.contains(&"--tls") {
            assert!(url.starts_with("wss://127.0.0.1:"), "{url}");
            let line = proc.stderr_line().await;
            let path = line
                .strip_prefix("certificate: ")
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_else(|| panic!("a certificate line: {line}"));
            Some(PathBuf::from(path))
        } else {
            let path = if extra.contains(&"--phoenix") { "/socket" } else { "/realtime/v1" };
            assert!(url.starts_with("ws://127.0.0.1:") && url.ends_with(path), "{url}");
            None
        };
        Self { proc, url, ca_file }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(path) = &self.ca_file {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `realtime COMMAND --url URL --api-key anon EXTRA`.
pub(crate) fn client(command: &str, url: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![command.to_string(), "--url".into(), url.into(), "--api-key".into(), KEY.into()];
    args.extend(extra.iter().map(|s| (*s).to_string()));
    args
}

/// `realtime listen --channel CHANNEL EXTRA` (with `--url` and `--api-key` unless EXTRA has
/// them), after its first line, which must say SUBSCRIBED.
pub(crate) async fn listen(url: &str, channel: &str, extra: &[&str]) -> Proc {
    let mut args = client("listen", url, &["--channel", channel]);
    args.extend(extra.iter().map(|s| (*s).to_string()));
    let mut proc = Proc::spawn(&args);
    assert_eq!(proc.line().await, subscribed(channel));
    proc
}

/// `realtime send --channel CHANNEL --event EVENT --payload PAYLOAD EXTRA`, which must succeed
/// quietly.
pub(crate) async fn send(url: &str, channel: &str, event: &str, payload: &str, extra: &[&str]) {
    let mut args = client("send", url, &["--channel", channel, "--event", event, "--payload", payload]);
    args.extend(extra.iter().map(|s| (*s).to_string()));
    run(&args).await.assert_quiet_success();
}

/// The SUBSCRIBED status line.
pub(crate) fn subscribed(channel: &str) -> Value {
    json!({"type": "status", "channel": channel, "status": "SUBSCRIBED"})
}

/// A broadcast line.
pub(crate) fn broadcast(channel: &str, event: &str, payload: Value) -> Value {
    json!({"type": "broadcast", "channel": channel, "event": event, "payload": payload})
}

/// `line` with every `presence_ref` (a server-made id) checked to be a non-empty string and
/// replaced by `"REF"`.
pub(crate) fn without_refs(mut line: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get_mut("presence_ref") {
                    assert!(r.as_str().is_some_and(|s| !s.is_empty()), "a presence_ref: {r}");
                    *r = json!("REF");
                }
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut line);
    line
}

/// `POST /realtime/v1/testkit/WHAT` with `body` to the `realtime serve` at `url` (its
/// test-control endpoint); the answer's JSON.
pub(crate) async fn control(url: &str, what: &str, body: &str) -> Value {
    use tokio::io::AsyncWriteExt;
    let authority = url.trim_start_matches("ws://").split('/').next().expect("host:port").to_string();
    let mut http = tokio::net::TcpStream::connect(&authority).await.expect("the server listens");
    let request = format!(
        "POST /realtime/v1/testkit/{what} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    http.write_all(request.as_bytes()).await.expect("the request goes out");
    let mut answer = String::new();
    guard("the control answer", http.read_to_string(&mut answer)).await.expect("the answer reads");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(json).unwrap_or_else(|e| panic!("a JSON answer ({e}): {answer}"))
}
