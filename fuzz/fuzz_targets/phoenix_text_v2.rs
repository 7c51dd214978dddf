//! Arbitrary bytes as a v2 (JSON array) text frame, re-encoded when they decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_text_v2(data));
