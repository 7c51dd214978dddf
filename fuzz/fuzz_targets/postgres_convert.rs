//! Arbitrary bytes as one column's raw JSON token, converted by a type the first byte picks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::postgres_convert(data));
