//! Arbitrary bytes as the server's handshake response and what follows it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_handshake(data));
