//! Postgres Changes (spec C.3): what a channel asks for, and what the server sends back.
//!
//! - [`filter`]: the typed filter of a binding (13 operators, `not.`, AND, the server's quoting).
//! - [`convert`]: the lossless column converter, by Postgres type, on the raw JSON tokens.

pub mod convert;
pub mod filter;

pub use filter::{Filter, IsValue, Op};
