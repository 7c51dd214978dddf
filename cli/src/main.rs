//! `realtime`: see `realtime --help` and the crate docs of `realtime_cli`.

use std::process::ExitCode;

use clap::Parser;
use realtime_cli::args::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version go to stdout with 0. Bad input is clap's whole message on
        // stderr with 2: which flags a subcommand still needs, the values a flag allows, the
        // subcommand a typo was meant to be, and the usage (its first line alone loses them).
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
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
