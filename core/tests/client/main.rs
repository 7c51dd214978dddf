//! The Realtime client driven through its public API in a deterministic simulation: virtual
//! time, a fake server that speaks the protocol, and a link that can delay, split, blackhole and
//! reset.

mod api;
mod auth;
mod broadcast;
mod golden;
mod leave;
mod phoenix;
mod postgres;
mod random;
mod regressions;
mod regressions2;
mod regressions3;
mod scenarios;
mod server;
mod world;
