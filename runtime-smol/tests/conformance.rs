//! The driver's conformance suite on smol: every end-to-end scenario, written once in
//! `realtime-conformance`, each run under `smol::block_on` (the drive loops run on the
//! crate's executor thread; the local server on its own thread and tokio runtime).

realtime_conformance::suite!(block_on = smol::block_on, realtime_smol::Smol);
