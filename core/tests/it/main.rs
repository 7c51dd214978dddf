//! Integration tests of the WebSocket layer through its public API: RFC 6455 vectors, the
//! handshake, every rejection rule with its close code, the close handshake, pings, limits,
//! and property tests of the codec (round trips, chunking, send buffer sizes); presence sync
//! against a model of the server's tracker.

mod harness;

mod chunking;
mod close;
mod corpus;
mod deflate;
mod display;
mod fuzz;
mod handshake;
mod presence_js;
mod presence_model;
mod proxy;
mod rejections;
mod rest;
mod serializer;
mod sizes;
mod vectors;
