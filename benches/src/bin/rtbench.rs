//! Live benchmark processes against a running testkit (driven by `realtime_report.py`).
//!
//! ```text
//! rtbench send <url> [--count 20000] [--rate 2000] [--topic bench]
//! rtbench recv <ours|supabase-rs> <url> [--count 20000] [--topic bench]
//! rtbench memory <url> [--clients 10000] [--cert FILE] [--concurrency 200] [--step 1000]
//! ```
//!
//! `recv` prints `ready` once subscribed, then one JSON line (`RecvReport`); `send` and
//! `memory` print one JSON line each. Every run uses a current-thread tokio runtime.
//! `supabase-rs` needs the `peer-supabase-rs` feature. The payload, latency clock and meter are
//! `realtime_cli::load`'s, the same code `realtime bench` measures with.

use std::io::Write;
use std::process::ExitCode;

use realtime_benches::live::{self, TOPIC};
use realtime_cli::load::Waits;

fn usage() -> ExitCode {
    eprintln!(
        "usage: rtbench send <url> [--count N] [--rate R] [--topic T]\n       \
         rtbench recv <ours|supabase-rs> <url> [--count N] [--topic T]\n       \
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
            let rt = runtime().map_err(|e| e.to_string())?;
            let report = match which.as_str() {
                "ours" => rt.block_on(live::recv_ours(url, &topic, count, Waits::default(), ready))?,
                #[cfg(feature = "peer-supabase-rs")]
                "supabase-rs" => {
                    rt.block_on(live::recv_supabase_rs(url, &topic, count, Waits::default(), ready))?
                }
                other => {
                    return Err(format!(
                        "unknown receiver {other} (supabase-rs needs --features peer-supabase-rs)"
                    ));
                }
            };
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
