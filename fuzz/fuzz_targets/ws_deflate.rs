//! permessage-deflate: hostile compressed frames into a WebSocket whole and split, and round
//! trips through the deflater and the inflater.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_deflate(data));
