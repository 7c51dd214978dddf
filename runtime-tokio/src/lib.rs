//! Supabase Realtime on tokio: the [`realtime_driver`] client with tokio's IO and timers.
//!
//! The protocol lives in the sans-IO core and the async client in the driver; this crate adds
//! only what is tokio's: TCP (`TCP_NODELAY`), TLS by rustls (webpki roots by default, native
//! or custom roots, SNI), tokio timers, the OS clocks and randomness, and spawning. HTTP
//! CONNECT proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`) are read from the environment.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_tokio::{ChannelConfig, Config, RealtimeClient};
//! let client = RealtimeClient::new(Config::new("ws://127.0.0.1:4000/realtime/v1", "anon-key"))?;
//! let room = client.channel("room1", ChannelConfig::new().broadcast_self(true)).await?;
//! let mut cursors = room.on_broadcast("cursor").await;
//! room.subscribe().await?;
//! room.send("cursor", &serde_json::json!({"x": 1})).await?;
//! while let Some(Ok(b)) = cursors.recv().await {
//!     println!("{} {:?}", b.event, b.json::<serde_json::Value>());
//! }
//! # Ok(()) }
//! ```
//!
//! Drop, cancellation and stream bounds are the driver's: see [`realtime_driver`]. The tokio
//! runtime must have its IO and time drivers on (`#[tokio::main]`, or a `Builder` with
//! `enable_all`): tokio panics on a socket or timer without them.

mod tls;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use realtime_core::Instant;
use realtime_driver::{ByteStream, Drive, FromContext, IoError, NoSocket, NoSocketOpen, StdLock};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

realtime_driver::runtime_api!(Tokio, "tokio");

/// The tokio runtime: one per client, holding the tokio handle it spawns on, its clock's
/// epoch, and the TLS setup (built only for `wss` endpoints: a rustls config costs memory).
#[derive(Clone)]
pub struct Tokio {
    handle: tokio::runtime::Handle,
    epoch: tokio::time::Instant,
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Tokio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokio").field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

impl Tokio {
    /// A runtime on `handle`, with TLS set up for `config` when its endpoint needs it.
    pub fn new(handle: tokio::runtime::Handle, config: &Config) -> Result<Self, Error> {
        let tls = tls::connector_for(config)?;
        Ok(Self { handle, epoch: tokio::time::Instant::now(), tls })
    }

    fn at(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_micros(at.as_micros())
    }
}

impl FromContext for Tokio {
    fn from_context(config: &Config) -> Result<Self, Error> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::NoRuntime("RealtimeClient::new must be called inside a tokio runtime"))?;
        Self::new(handle, config)
    }
}

/// A connected stream, plain or TLS.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// TCP before it becomes a [`Stream`] (a proxy tunnel runs over it first).
#[derive(Debug)]
pub struct Tcp(TcpStream);

/// Both halves of a tokio stream.
trait Duplex: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Duplex for T {}

impl Stream {
    fn io(&mut self) -> Pin<&mut dyn Duplex> {
        match self {
            Self::Plain(s) => Pin::new(s),
            Self::Tls(s) => Pin::new(&mut **s),
        }
    }
}

impl Tcp {
    fn io(&mut self) -> Pin<&mut dyn Duplex> {
        Pin::new(&mut self.0)
    }
}

/// A tokio stream as the driver's [`ByteStream`].
macro_rules! byte_stream {
    ($t:ty) => {
        impl ByteStream for $t {
            fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
                let mut rb = ReadBuf::new(buf);
                self.io().poll_read(cx, &mut rb).map(|r| r.map(|()| rb.filled().len()).map_err(IoError::from))
            }
            fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
                self.io().poll_write(cx, buf).map_err(IoError::from)
            }
            fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
                self.io().poll_flush(cx).map_err(IoError::from)
            }
            fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
                self.io().poll_shutdown(cx).map_err(IoError::from)
            }
        }
    };
}

byte_stream!(Stream);
byte_stream!(Tcp);

/// A tokio `Sleep`, reset to each new deadline (one per client: creating one per wake-up
/// costs a timer-wheel insert and removal per message).
pub struct Timer {
    sleep: Pin<Box<tokio::time::Sleep>>,
    epoch: tokio::time::Instant,
}

impl realtime_driver::Timer for Timer {
    fn reset(&mut self, at: Instant) {
        self.sleep.as_mut().reset(self.epoch + std::time::Duration::from_micros(at.as_micros()));
    }
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.sleep.as_mut().poll(cx)
    }
}

/// A boxed future with `Send`, as tokio's spawn needs.
type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl realtime_driver::Runtime for Tokio {
    type Lock<T> = StdLock<T>;
    type Timer = Timer;
    type Tcp = Tcp;
    type Stream = Stream;
    type Connect = Boxed<Result<Tcp, IoError>>;
    type Handshake = Boxed<Result<Stream, IoError>>;
    type Socket = NoSocket;
    type OpenSocket = NoSocketOpen;

    fn now(&self) -> Instant {
        // tokio's clock, not std's: the timers run on it (and a test may pause it).
        Instant::from_micros(u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
    }
    fn unix_ms(&self) -> Option<u64> {
        realtime_driver::os::unix_ms()
    }
    fn timer(&self) -> Timer {
        // Far away until the driver resets it; `Sleep` needs some deadline.
        let far = self.at(Instant::from_micros(u64::from(u32::MAX) * 1_000_000));
        let _guard = self.handle.enter();
        Timer { sleep: Box::pin(tokio::time::sleep_until(far)), epoch: self.epoch }
    }
    fn connect(&self, host: &str, port: u16) -> Self::Connect {
        let host = host.to_string();
        Box::pin(async move {
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            Ok(Tcp(tcp))
        })
    }
    fn plain(&self, tcp: Tcp) -> Stream {
        Stream::Plain(tcp.0)
    }
    fn tls(&self, tcp: Tcp, server_name: &str) -> Self::Handshake {
        let connector = self.tls.clone();
        let name = server_name.to_string();
        Box::pin(async move {
            let connector = connector.ok_or_else(|| IoError::msg("a TLS connection without a TLS setup"))?;
            let name = rustls::pki_types::ServerName::try_from(name).map_err(IoError::new)?;
            Ok(Stream::Tls(Box::new(connector.connect(name, tcp.0).await?)))
        })
    }
    fn open_socket(&self, _: &str, _: &[(String, String)]) -> NoSocketOpen {
        NoSocketOpen
    }
    fn entropy(&self) -> Result<[u8; 32], IoError> {
        realtime_driver::os::entropy()
    }
    fn spawn(&self, drive: Drive<Self>) -> Result<(), Error> {
        self.handle.spawn(drive);
        Ok(())
    }
    fn env(&self, name: &str) -> Option<String> {
        realtime_driver::os::env(name)
    }
}

// The handles must cross tasks and threads like any tokio value.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<RealtimeClient>();
    send_sync::<Channel>();
    send_sync::<Receiver<Broadcast>>();
};
