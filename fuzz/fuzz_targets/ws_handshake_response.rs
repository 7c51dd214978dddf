//! Arbitrary bytes as the server's handshake response, whole and as growing prefixes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_handshake_response(data));
