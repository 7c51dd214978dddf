//! Masking: the AVX2 path (feature `simd`, where the CPU has it) and the portable path against
//! the bytewise definition, whole and in pieces.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::ws_mask(data));
