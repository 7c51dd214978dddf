//! Arbitrary bytes as a REST broadcast response, whole and split: the same result.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::rest_response(data));
