//! Postgres Changes (spec C.3): what a channel asks for, and what the server sends back.
//!
//! - [`filter`]: the typed filter of a binding (13 operators, `not.`, AND, the server's quoting).
//! - [`binding`]: the bindings, their wire form, the pairing with the join reply's ids, and
//!   which bindings a change is for.
//! - [`change`]: a row change, read into its parts with the rows kept as raw JSON.
//! - [`convert`](mod@convert): the lossless column converter, by Postgres type, on the raw JSON tokens.

pub mod binding;
pub mod change;
pub mod convert;
pub mod filter;

pub use binding::{Binding, BindingError, BindingMismatch, BindingSet, Bindings, ChangeEvent, MAX_BINDINGS};
pub use change::{Change, ChangeError, ChangeKind, Column, Row};
pub use convert::{ConvertError, Value, convert};
pub use filter::{Filter, FilterError, FilterValue, IsValue, Op};
