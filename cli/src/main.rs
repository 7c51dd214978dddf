//! `realtime`: see `realtime --help` and the crate docs of `realtime_cli`.

use std::process::ExitCode;

use clap::Parser;
use realtime_cli::args::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: clap prints them on stdout and exits 0.
        Err(e) if !e.use_stderr() => e.exit(),
        // An unknown flag, a missing or bad value: one line, like every other error (clap's
        // own message has a usage block after its first line).
        Err(e) => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            eprintln!("realtime: {} (see --help)", first.strip_prefix("error: ").unwrap_or(first));
            return ExitCode::from(2);
        }
    };
    match realtime_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("realtime: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
