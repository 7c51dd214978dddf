//! The Supabase Realtime client written once, for every runtime.
//!
//! The protocol lives in the sans-IO [`realtime_core`]; this crate is the async client on top
//! of it: the [`RealtimeClient`] and [`Channel`] handles, the event streams ([`Receiver`]),
//! the waits (a subscribe's outcome, a push's ack, a leave), and the drive loop ([`Drive`])
//! that moves bytes between the core and a runtime's streams. It is `no_std` + `alloc`, has no
//! executor and names no runtime: a runtime crate implements [`Runtime`] (TCP, TLS, a timer,
//! the clocks, entropy, spawning) in a few hundred lines and re-exports these types.
//!
//! Handles reach the drive loop through state shared behind the runtime's [`Lock`] and the
//! loop's waker (as quinn and embassy-net do), not through a channel round trip per call: a
//! call acts on the core at once and wakes the loop to write.
//!
//! # Streams never lose items silently
//! Every stream is bounded (`Config::stream_capacity`). When the app does not keep up, new
//! items are dropped and counted, and the stream gives [`Lagged`] at the place of the gap;
//! a presence stream then gives a `Sync`, and [`Channel::presence_state`] is the whole state.
//!
//! # Drop and cancellation
//! - [`RealtimeClient`] and [`Channel`] are counted handles: the drive loop closes the socket
//!   politely and ends when the last one is dropped (or on [`RealtimeClient::shutdown`]).
//! - Dropping a [`Channel`] does not leave it: call [`Channel::unsubscribe`] or
//!   [`Channel::remove`]. Cloning one takes another handle on the channel.
//! - Dropping any future here never corrupts the client: a call acts when it is first polled
//!   (or, for [`Channel::unsubscribe`] and [`Channel::remove`], when it is made), and only the
//!   wait for its outcome is dropped.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod channel;
mod client;
mod config;
mod dial;
mod drive;
mod error;
mod item;
mod lock;
/// The clocks, entropy and environment of a std runtime (feature `std`).
#[cfg(feature = "std")]
pub mod os;
mod rest;
mod runtime;
mod session;
mod socket;
mod stream;
/// The rustls client config the std runtimes share (feature `rustls`).
#[cfg(feature = "rustls")]
pub mod tls;

pub use channel::{Channel, Leave};
pub use client::RealtimeClient;
pub use config::{
    CertificateDer, Config, DEFAULT_READ_BUFFER, DEFAULT_STREAM_CAPACITY, Proxy, Roots, TokenSource,
};
pub use drive::{CLOSE_WAIT, Drive, MAX_READ_BUFFER, OUT_MAX, OUT_MIN, READ_START, TURNS_BEFORE_YIELD};
pub use error::{BoxError, ConnectionError, Error, IoError, Lagged, ProxyFailure};
pub use item::{Broadcast, ClientEvent, Payload};
#[cfg(feature = "std")]
pub use lock::StdLock;
pub use lock::{LocalLock, Lock, Shared};
pub use runtime::{BoxFuture, ByteStream, FromContext, Runtime, Timer};
pub use socket::{MessageSocket, NoSocket, NoSocketOpen, SocketEvent, SocketOpenError};
pub use stream::{Item, Parse, Receiver, RowChange, Typed};

pub use realtime_core;
pub use realtime_core::client::{
    ChannelError, ChannelErrorReason, ChannelStatus, ClientConfig, ConnectionEnd, ConnectionState,
    HeartbeatStatus, LeaveOutcome, Next, PushError, PushOutcome,
};
pub use realtime_core::phoenix::presence::{Presence, PresenceEvent};
pub use realtime_core::supabase::channel_config::ChannelConfig;
pub use realtime_core::supabase::postgres::{Binding, Change, ChangeEvent, Filter};

/// The public face of a runtime crate, written once: the driver's types re-exported, and its
/// handles as aliases for the runtime `$rt` (`RealtimeClient = RealtimeClient<$rt>`, ...).
/// `$name` is how the docs call the runtime.
///
/// ```text
/// realtime_driver::runtime_api!(Tokio, "tokio");
/// ```
#[macro_export]
macro_rules! runtime_api {
    ($rt:ty, $name:literal) => {
        pub use $crate::{
            Binding, Broadcast, CertificateDer, Change, ChangeEvent, ChannelConfig, ChannelError,
            ChannelErrorReason, ChannelStatus, ClientConfig, ClientEvent, Config, ConnectionEnd,
            ConnectionError, ConnectionState, Error, Filter, HeartbeatStatus, Item, Lagged, LeaveOutcome,
            Next, Payload, Presence, PresenceEvent, Proxy, ProxyFailure, PushError, PushOutcome, Roots,
            TokenSource,
        };

        #[doc = concat!("The client on ", $name, ".")]
        pub type RealtimeClient = $crate::RealtimeClient<$rt>;
        #[doc = concat!("A channel of a ", $name, " client.")]
        pub type Channel = $crate::Channel<$rt>;
        #[doc = concat!("A stream of a ", $name, " client's items.")]
        pub type Receiver<T> = $crate::Receiver<T, $rt>;
        /// A stream of broadcasts deserialized into `T`.
        pub type Typed<T> = $crate::Typed<T, $rt>;
        /// How a leave ended ([`Channel::unsubscribe`], [`Channel::remove`]).
        pub type Leave = $crate::Leave<$rt>;
    };
}
