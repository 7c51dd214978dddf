//! `realtime`: see `realtime --help` and the crate docs of `realtime_cli`.

use std::process::ExitCode;

use clap::Parser;
use realtime_cli::args::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    // clap prints its own one-line errors (an unknown flag, a missing value) and exits 2.
    let cli = Cli::parse();
    match realtime_cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("realtime: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
