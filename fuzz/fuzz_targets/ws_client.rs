//! Arbitrary bytes into an open WebSocket connection, in arbitrary pieces.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_client(data));
