//! Arbitrary bytes as a v1 (JSON object) text frame, re-encoded when they decode.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_text_v1(data));
