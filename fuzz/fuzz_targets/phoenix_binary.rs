//! Arbitrary bytes as a binary frame; user broadcasts re-encoded as kind 3 and decoded again.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_binary(data));
