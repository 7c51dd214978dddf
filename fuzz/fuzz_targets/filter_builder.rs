//! The postgres filter builder: whatever it builds, the server's grammar reads back the same
//! conditions and values.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::filter_builder(data));
