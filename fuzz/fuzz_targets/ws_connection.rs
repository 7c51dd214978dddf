//! The allocation-free connection: arbitrary bytes in, interleaved with arbitrary send calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_connection(data));
