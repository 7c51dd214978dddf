//! The Realtime client on a byte transport: handshake responses, frames and garbage from the
//! peer, app operations and time steps, with the run's invariants checked after every step.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| realtime_core::fuzzing::realtime_client(data));
