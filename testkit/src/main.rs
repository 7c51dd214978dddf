//! `realtime-testkit`: runs the local Realtime server until interrupted.
//!
//! ```text
//! realtime-testkit [--port N] [--host H] [--api-key K | --jwt-secret S] [--tls] [--cert-out FILE]
//! ```
//!
//! The first line on stdout is the Realtime URL (`ws://127.0.0.1:<port>/realtime/v1`); with
//! `--tls`, `--cert-out` writes the generated certificate (PEM) for clients to trust.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use realtime_testkit::{Auth, Config, Server};

fn usage() -> ExitCode {
    eprintln!(
        "usage: realtime-testkit [--port N] [--host H] [--api-key K | --jwt-secret S] [--tls] [--cert-out FILE]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = Config::default();
    let (mut host, mut port, mut cert_out): (IpAddr, u16, Option<String>) = ([127, 0, 0, 1].into(), 0, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next();
        match arg.as_str() {
            "--port" => match value().and_then(|v| v.parse().ok()) {
                Some(p) => port = p,
                None => return usage(),
            },
            "--host" => match value().and_then(|v| v.parse().ok()) {
                Some(h) => host = h,
                None => return usage(),
            },
            "--api-key" => match value() {
                Some(k) => config.auth = Auth::ApiKey(k),
                None => return usage(),
            },
            "--jwt-secret" => match value() {
                Some(s) => config.auth = Auth::Jwt { secret: s.into_bytes() },
                None => return usage(),
            },
            "--tls" => config.tls = true,
            "--cert-out" => match value() {
                Some(f) => cert_out = Some(f),
                None => return usage(),
            },
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        }
    }
    let server = match Server::start_on(SocketAddr::new(host, port), config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("realtime-testkit: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(path), Some(pem)) = (cert_out, server.ca_pem())
        && let Err(e) = std::fs::write(&path, pem)
    {
        eprintln!("realtime-testkit: writing {path}: {e}");
        return ExitCode::FAILURE;
    }
    println!("{}", server.url());
    let _ = tokio::signal::ctrl_c().await;
    server.stop().await;
    ExitCode::SUCCESS
}
