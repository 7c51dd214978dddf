//! Arbitrary bytes into the frame decoder, whole and in pieces: the same events either way.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_frame_decoder(data));
