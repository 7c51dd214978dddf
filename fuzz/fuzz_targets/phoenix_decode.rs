//! Arbitrary bytes as a Realtime frame: binary kinds 0-4, v1 and v2 text.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_decode(data));
