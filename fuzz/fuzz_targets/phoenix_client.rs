//! The Realtime client driven by an operation stream with hostile server messages.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::phoenix_client(data));
