//! The `realtime` binary driven as a subprocess, against `realtime serve` (also a subprocess) or
//! the in-process `realtime_testkit::Server`. Every test checks the exact JSON lines, the
//! stderr line and the exit code; timeouts only guard against hanging.

mod auth;
mod common;
mod demo_bench;
mod errors;
mod payloads;
mod postgres;
mod presence;
mod roundtrip;
mod tls;
