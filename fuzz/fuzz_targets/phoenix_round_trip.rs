//! Encode-then-decode of every message kind the client sends, from arbitrary fields.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_round_trip(data));
