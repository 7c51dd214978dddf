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
