//! What a runtime gives the driver: a clock, timers, byte streams (TCP, then TLS), entropy, a
//! lock, and a way to run the drive loop. In the manner of quinn's `Runtime` and `AsyncTimer`:
//! small traits a runtime implements in a few dozen lines, and the driver written once on top.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_core::Instant;

use crate::drive::Drive;
use crate::error::{Error, IoError};
use crate::lock::Lock;
use crate::socket::{MessageSocket, SocketOpenError};

/// A runtime: IO, timers, clock, entropy and spawning, with no protocol logic.
///
/// The driver calls these from its drive loop (a future the runtime runs with
/// [`spawn`](Self::spawn)) and from the handles' futures, which run on the app's tasks.
pub trait Runtime: Clone + Sized + 'static {
    /// The lock around the state the handles and the drive loop share. A std runtime uses
    /// [`StdLock`](crate::StdLock) (handles are then `Send + Sync`); a single-executor
    /// runtime may use a lock that only excludes other tasks of that executor.
    type Lock<T>: Lock<T>;
    /// A timer the driver moves to the core's next deadline.
    type Timer: Timer;
    /// A connected TCP stream (or whatever reaches the host: a proxy tunnel runs over it).
    type Tcp: ByteStream;
    /// The stream the WebSocket runs over: a plain [`Self::Tcp`] or TLS over one.
    type Stream: ByteStream;
    /// Connecting TCP ([`connect`](Self::connect)).
    type Connect: Future<Output = Result<Self::Tcp, IoError>>;
    /// The TLS handshake ([`tls`](Self::tls)).
    type Handshake: Future<Output = Result<Self::Stream, IoError>>;
    /// A self-framing WebSocket, for `TransportKind::Messages` (a browser's); [`NoSocket`](crate::NoSocket)
    /// where the runtime has byte streams only.
    type Socket: MessageSocket;
    /// Opening one ([`open_socket`](Self::open_socket)); [`NoSocketOpen`](crate::NoSocketOpen) with `NoSocket`.
    type OpenSocket: Future<Output = Result<Self::Socket, SocketOpenError>>;
    /// The runtime has self-framing sockets only (a browser: no TCP): its clients use
    /// `TransportKind::Messages` whatever the config says.
    const MESSAGES_ONLY: bool = false;

    /// The monotonic clock, from an epoch of the runtime's choice (the core's `Instant`).
    fn now(&self) -> Instant;
    /// The wall clock in Unix milliseconds, if the platform has one. The driver passes it to
    /// the core with every input, so that after a sleep (when a monotonic clock may stand
    /// still) an expired token is not sent.
    fn unix_ms(&self) -> Option<u64>;
    /// A new timer, not armed.
    fn timer(&self) -> Self::Timer;
    /// Opens TCP to `host:port` (resolving the name).
    fn connect(&self, host: &str, port: u16) -> Self::Connect;
    /// A plain stream over `tcp`.
    fn plain(&self, tcp: Self::Tcp) -> Self::Stream;
    /// TLS over `tcp` for `server_name` (SNI and certificate checks).
    fn tls(&self, tcp: Self::Tcp, server_name: &str) -> Self::Handshake;
    /// Opens a self-framing WebSocket to `url` with these upgrade headers.
    fn open_socket(
        &self,
        url: &str,
        headers: &[(alloc::string::String, alloc::string::String)],
    ) -> Self::OpenSocket;
    /// 32 bytes of entropy to seed the core's generator (masking and handshake keys, jitter).
    fn entropy(&self) -> Result<[u8; 32], IoError>;
    /// Runs the drive loop until it ends (when the client is shut down or every handle is
    /// gone).
    fn spawn(&self, drive: Drive<Self>) -> Result<(), Error>;
    /// An environment variable (`HTTPS_PROXY`, `NO_PROXY`, ...), where the platform has them.
    fn env(&self, name: &str) -> Option<alloc::string::String> {
        let _ = name;
        None
    }
}

/// A runtime that can be found from where the code runs (tokio's current runtime handle, for
/// example), so that `RealtimeClient::new(config)` needs nothing else.
pub trait FromContext: Runtime {
    /// The runtime around the caller, set up for `config` (its TLS roots); an error outside
    /// one, never a panic.
    fn from_context(config: &crate::Config) -> Result<Self, Error>;
}

/// A timer, moved to each new deadline.
pub trait Timer {
    /// Fires at `at` (or at once if `at` has passed); replaces any earlier deadline.
    fn reset(&mut self, at: Instant);
    /// Ready once the deadline passed (and stays ready until the next `reset`).
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}

/// A byte stream, poll-style (tokio's `AsyncRead`/`AsyncWrite`, futures' `AsyncRead`, ...).
pub trait ByteStream: Unpin {
    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>>;
    /// Writes some of `buf`; returns how much.
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>>;
    /// Flushes what was written.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>>;
    /// Ends the stream (a TLS close_notify, a TCP FIN).
    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>>;
}

/// A future the driver boxes (a token source's answer).
pub type BoxFuture<T> = Pin<alloc::boxed::Box<dyn Future<Output = T> + Send>>;
