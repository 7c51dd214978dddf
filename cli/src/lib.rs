//! The `realtime` command line: what `wscat` is for raw WebSockets, for Supabase Realtime.
//!
//! - `serve`: the local server (`realtime-testkit`).
//! - `listen`: join a channel and print every event as one JSON object per line.
//! - `send`: broadcast over the socket or the REST endpoint.
//! - `presence`: track a payload and print the presence state as it changes.
//! - `demo`: a local server and two simulated users chatting, with a live view.
//! - `bench`: a load generator (N clients, C channels, R broadcasts per second) that reports
//!   deliveries, losses and latency percentiles; its measuring parts are [`load`], which the
//!   live benchmarks (`realtime-benches`) use too.
//!
//! Every line `listen` and `presence` print has a `"type"`: `status`, `broadcast`, `presence`,
//! `postgres_changes`, `connection` or `error` (see [`lines`]). Errors are one line on stderr
//! and a non-zero exit.

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
