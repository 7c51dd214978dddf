//! Arbitrary bytes as a postgres change payload and as column values of every converter type.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::postgres_change(data));
