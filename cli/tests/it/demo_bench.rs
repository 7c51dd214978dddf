//! `realtime demo` and `realtime bench` as a user runs them: the built binary, stdout a pipe.

use std::process::Command;

use realtime_testkit::{Config, Server};

fn realtime() -> Command {
    Command::new(env!("CARGO_BIN_EXE_realtime"))
}

#[test]
fn the_demo_runs_for_its_time_and_shows_joins_leaves_and_messages() {
    let out = realtime().args(["demo", "--for", "6"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    // Not a terminal: plain lines, no escape sequences.
    assert!(!text.contains('\x1b'), "{text}");
    for want in ["* alice joined", "* bob joined", "alice: ", "bob: ", "left (online:", "demo over after"] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_bench_loses_nothing_and_counts_expected_deliveries() {
    let server = Server::start(Config::default()).await.unwrap();
    let url = server.url();
    let out = tokio::task::spawn_blocking(move || {
        realtime()
            .args(["bench", "--url", &url, "--api-key", "k", "--clients", "6", "--channels", "2"])
            .args(["--rate", "20", "--duration", "1", "--lost-after", "3", "--json"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    // 20 broadcasts, each to the 3 clients of its channel less the sender.
    assert_eq!(r["sent"], 20, "{r}");
    assert_eq!(r["expected"], 40, "{r}");
    assert_eq!(r["delivered"], 40, "{r}");
    assert_eq!(r["lost"], 0, "{r}");
    assert_eq!(r["errors_total"], 0, "{r}");
    assert!(r["latency"]["p99_us"].as_u64().unwrap() > 0, "{r}");
    server.stop().await;
}

/// `realtime demo --for 1` on a pseudo-terminal (util-linux's `script`, on every Debian), with
/// `env` set; its output.
fn demo_on_a_terminal(env: &[(&str, &str)]) -> String {
    let command = format!("{} demo --for 1", env!("CARGO_BIN_EXE_realtime"));
    let mut script = Command::new("script");
    script.args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR").env("TERM", "xterm");
    for (k, v) in env {
        script.env(k, v);
    }
    let out = script.output().expect("util-linux's `script` makes the pseudo-terminal");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// On a terminal the demo redraws its screen in colour; `NO_COLOR` keeps the screen without
/// colour, and `TERM=dumb` gets plain lines.
#[test]
fn the_demo_honours_no_color_and_a_dumb_terminal() {
    let colour = demo_on_a_terminal(&[]);
    assert!(colour.contains("\x1b[H") && colour.contains("\x1b[32m"), "{colour:?}");
    let no_color = demo_on_a_terminal(&[("NO_COLOR", "1")]);
    assert!(no_color.contains("\x1b[H"), "still a screen: {no_color:?}");
    assert!(!no_color.contains("\x1b[32m") && !no_color.contains("\x1b[1m"), "{no_color:?}");
    let dumb = demo_on_a_terminal(&[("TERM", "dumb")]);
    assert!(!dumb.contains('\x1b'), "plain lines: {dumb:?}");
    assert!(dumb.contains("demo over after"), "{dumb:?}");
}

/// Piped to `head`: once stdout is closed the demo ends quietly (no panic, exit 0).
#[test]
fn a_closed_stdout_ends_the_demo_quietly() {
    use std::io::BufRead as _;
    let mut child = realtime()
        .args(["demo", "--for", "5"])
        .env("TERM", "dumb")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.starts_with("realtime demo:"), "{first}");
    // The reader is gone: the next line the demo writes finds the pipe closed.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
