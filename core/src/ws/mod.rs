//! RFC 6455 WebSocket client, sans-IO and without an allocator.
//!
//! - [`handshake`]: the upgrade request and response.
//! - [`frame`]: frame headers, decoded incrementally.
//! - [`mask`]: word-wise masking.
//! - [`utf8`]: streaming UTF-8 validation.
//! - [`Connection`]: one connection's state machine (receive rules, send path, pings, close).
//! - [`deflate`]: permessage-deflate (RFC 7692): the offer and its negotiation; with `alloc`,
//!   the bounded inflater and the deflater.
//! - With `alloc`: [`Reassembler`] for whole messages and [`WebSocket`], which owns a send
//!   queue on top of [`Connection`].

mod close;
#[cfg(feature = "alloc")]
mod compression;
mod config;
mod connection;
pub mod deflate;
mod error;
mod event;
pub mod frame;
pub mod handshake;
pub mod mask;
#[cfg(feature = "alloc")]
mod reassembly;
#[cfg(feature = "alloc")]
mod socket;
pub mod utf8;

pub use close::CloseCode;
pub use config::{
    Config, ConfigError, DEFAULT_CLOSE_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_MAX_FRAME_LEN,
    DEFAULT_MAX_HANDSHAKE_RESPONSE_LEN, DEFAULT_MAX_MESSAGE_LEN, DEFAULT_SEND_FRAME_LEN, MAX_CLOSE_REASON,
};
pub use connection::Connection;
pub use deflate::DeflateConfig;
pub use error::{Error, HandshakeError, ProtocolError};
pub use event::{CloseFrame, Data, Event, MessageKind, Read, Rejection, SendError, State, Transmit};
pub use handshake::{Request, RequestError, Url, UrlError};
#[cfg(feature = "alloc")]
pub use reassembly::{Message, Reassembler};
#[cfg(feature = "alloc")]
pub use socket::{DEFAULT_MAX_PENDING_EVENTS, DEFAULT_MAX_PENDING_MESSAGES, WebSocket, WsEvent};
