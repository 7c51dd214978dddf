//! Live benchmark processes against a running testkit (driven by `realtime_report.py`).
//!
//! ```text
//! rtbench send <url> [--count 20000] [--rate 2000] [--topic bench]
//! rtbench recv <floor|ours|supabase-rs> <url> [--count 20000] [--topic bench] [--flavour current|multi]
//! rtbench memory <url> [--clients 10000] [--cert FILE] [--concurrency 200] [--step 1000]
//! ```
//!
//! `recv` prints `ready` once subscribed, then one JSON line (`RecvReport`); `send` and
//! `memory` print one JSON line each. `recv` runs the receiver as a task spawned on a tokio
//! runtime of the given flavour (`current`, the default: current-thread; `multi`: multi-thread
//! with 2 workers), as an app that spawns its work would; `memory` runs on a current-thread
//! runtime. `supabase-rs` needs the `peer-supabase-rs` feature. The payload, latency clock and meter are
//! `realtime_cli::load`'s, the same code `realtime bench` measures with.

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::process::ExitCode;

use realtime_benches::live::{self, TOPIC};
use realtime_cli::load::{RecvReport, Waits};

fn usage() -> ExitCode {
    eprintln!(
        "usage: rtbench send <url> [--count N] [--rate R] [--topic T]\n       \
         rtbench recv <floor|ours|supabase-rs> <url> [--count N] [--topic T] [--flavour current|multi]\n       \
         rtbench memory <url> [--clients N] [--cert FILE] [--concurrency C] [--step S]"
    );
    ExitCode::from(2)
}

/// `--name value` options after the positional arguments.
struct Opts(Vec<String>);

impl Opts {
    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.0.iter().position(|a| a == name) {
            Some(i) => self.0.get(i + 1).and_then(|v| v.parse().ok()).ok_or_else(|| format!("bad {name}")),
            None => Ok(default),
        }
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", serde_json::to_string(v).unwrap_or_default());
    let _ = out.flush();
}

fn ready() {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}

/// The runtime of `rtbench recv --flavour`: current-thread, or multi-thread with 2 workers.
fn flavoured_runtime(flavour: &str) -> Result<tokio::runtime::Runtime, String> {
    let mut b = match flavour {
        "current" => tokio::runtime::Builder::new_current_thread(),
        "multi" => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
        other => return Err(format!("unknown flavour {other} (current or multi)")),
    };
    b.enable_all().build().map_err(|e| e.to_string())
}

type RecvFuture = Pin<Box<dyn Future<Output = Result<RecvReport, String>> + Send>>;

/// The receiver `which` as a future the runtime can spawn.
fn receiver(which: &str, url: String, topic: String, count: u64) -> Result<RecvFuture, String> {
    let waits = Waits::default();
    Ok(match which {
        "floor" => Box::pin(async move { live::recv_floor(&url, &topic, count, waits, ready).await }),
        "ours" => Box::pin(async move { live::recv_ours(&url, &topic, count, waits, ready).await }),
        #[cfg(feature = "peer-supabase-rs")]
        "supabase-rs" => {
            Box::pin(async move { live::recv_supabase_rs(&url, &topic, count, waits, ready).await })
        }
        other => {
            return Err(format!("unknown receiver {other} (supabase-rs needs --features peer-supabase-rs)"));
        }
    })
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, url, rest @ ..] if cmd == "send" => {
            let o = Opts(rest.to_vec());
            let report = live::send_paced(
                url,
                &o.get("--topic", TOPIC.to_string())?,
                o.get("--count", 20_000)?,
                o.get("--rate", 2000)?,
            )
            .map_err(|e| e.to_string())?;
            print_json(&report);
        }
        [cmd, which, url, rest @ ..] if cmd == "recv" => {
            let o = Opts(rest.to_vec());
            let (topic, count) = (o.get("--topic", TOPIC.to_string())?, o.get("--count", 20_000)?);
            let rt = flavoured_runtime(&o.get("--flavour", "current".to_string())?)?;
            let fut = receiver(which, url.clone(), topic, count)?;
            // Spawned, so that on the multi-thread runtime it runs on a worker (the thread that
            // polls the IO driver), not on the thread blocked in `block_on`.
            let report = rt.block_on(async { tokio::spawn(fut).await.map_err(|e| e.to_string())? })?;
            print_json(&report);
        }
        [cmd, url, rest @ ..] if cmd == "memory" => {
            let o = Opts(rest.to_vec());
            let cert = match o.get("--cert", String::new())? {
                f if f.is_empty() => None,
                f => Some(std::fs::read_to_string(&f).map_err(|e| format!("{f}: {e}"))?),
            };
            let rt = runtime().map_err(|e| e.to_string())?;
            let report = rt.block_on(live::memory_ours(
                url,
                o.get("--clients", 10_000)?,
                cert.as_deref(),
                o.get("--concurrency", 200)?,
                o.get("--step", 1000)?,
            ))?;
            print_json(&report);
        }
        _ => return Err(String::new()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_empty() => usage(),
        Err(e) => {
            eprintln!("rtbench: {e}");
            ExitCode::FAILURE
        }
    }
}
