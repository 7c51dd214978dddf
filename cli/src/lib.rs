//! The `realtime` command line: what `wscat` is for raw WebSockets, for Supabase Realtime.
//!
//! - `serve`: the local server (`realtime-testkit`); its first stdout line is the WebSocket base
//!   URL (`--port 0` picks a free port; `--api-key`, `--jwt-secret`; `--tls` prints the
//!   certificate's path on stderr, for the clients' `--ca-file`).
//! - `listen`: join a channel and print every event as one JSON object per line, until Ctrl-C,
//!   `--exit-after` lines or the server closing the channel.
//! - `send`: broadcast over the socket or the REST endpoint (`--rest`), `--count` times at
//!   `--rate`, optionally waiting for each `--ack`.
//! - `presence`: track a payload and print the presence state each time it changes.
//! - `demo`: a local server and two simulated users chatting, with a live view.
//! - `bench`: a load generator (N clients, C channels, R broadcasts per second) that reports
//!   deliveries, losses and latency percentiles; its measuring parts are [`load`], which the
//!   live benchmarks (`realtime-benches`) use too.
//!
//! Every line `listen` and `presence` print has a `"type"` and the `"channel"` (see [`lines`]):
//! `status`, `broadcast`, `presence` (with `--presence-key` or `--track`; a sync carries the
//! state as the events left it), `postgres_changes` (with the matching `--postgres` flag's
//! index), `system` (other server messages), `connection` (state changes after the first
//! `SUBSCRIBED`) or `error` (why `listen`
//! stopped). Errors are one line on stderr, `realtime: ...`, and a non-zero exit: 2 for bad
//! input (clap's errors included), 1 for failures at run time (see [`Failure`]). The crate's
//! README has every flag and an example of each line.

pub mod args;
mod bench;
mod demo;
pub mod lines;
pub mod load;
mod run;

pub use run::run;

/// A command failed: the one line to print, and the exit code.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong, in one line.
    pub message: String,
    /// The process exit code (2: bad input; 1: a failure at run time).
    pub code: u8,
}

impl Failure {
    /// Bad input (exit code 2).
    pub fn input(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 2 }
    }

    /// A failure at run time (exit code 1).
    pub fn runtime(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 1 }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
