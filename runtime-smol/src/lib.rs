//! Supabase Realtime on smol: the [`realtime_driver`] client with async-io's reactor and timers,
//! async-net TCP and futures-rustls TLS.
//!
//! The protocol lives in the sans-IO core and the async client in the driver; this crate adds
//! only what is smol's: TCP (`TCP_NODELAY`), TLS by rustls (webpki roots by default, native or
//! custom roots, SNI: the driver's shared rustls config), async-io timers, the OS clocks and
//! randomness, and spawning. HTTP CONNECT proxies (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`) are
//! read from the environment.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use realtime_smol::{ChannelConfig, Config, RealtimeClient};
//! smol::block_on(async {
//!     let client = RealtimeClient::new(Config::new("ws://127.0.0.1:4000/realtime/v1", "anon-key"))?;
//!     let room = client.channel("room1", ChannelConfig::new()).await?;
//!     let mut cursors = room.on_broadcast("cursor").await;
//!     room.subscribe().await?;
//!     while let Some(Ok(b)) = cursors.recv().await {
//!         println!("{} {:?}", b.event, b.json::<serde_json::Value>());
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # Executors
//! The drive loop of each client runs on an [`async_executor::Executor`]:
//! [`RealtimeClient::new`] uses a process-wide one that runs on a thread of its own (started on
//! first use), so the app may drive its own futures with `smol::block_on`, an
//! `async-executor`, or any executor (async-std's included) that lets async-io's reactor run;
//! [`with_executor`] puts the drive loop on the app's own executor instead (which must then be
//! run). All IO goes through async-io's reactor, which runs by itself when nothing else drives
//! it.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant as StdInstant};

use async_net::TcpStream;
use futures_io::{AsyncRead, AsyncWrite};
use realtime_core::Instant;
use realtime_driver::{ByteStream, Drive, FromContext, IoError, NoSocket, NoSocketOpen, StdLock};

realtime_driver::runtime_api!(Smol, "smol");

/// The smol runtime: the executor the drive loop runs on, the clock's epoch, and the TLS
/// setup (only for `wss` endpoints).
#[derive(Clone)]
pub struct Smol {
    executor: Arc<async_executor::Executor<'static>>,
    epoch: StdInstant,
    tls: Option<futures_rustls::TlsConnector>,
}

impl std::fmt::Debug for Smol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smol").field("tls", &self.tls.is_some()).finish_non_exhaustive()
    }
}

/// The process-wide executor for drive loops, run by a thread of its own.
fn global() -> Arc<async_executor::Executor<'static>> {
    static GLOBAL: OnceLock<Arc<async_executor::Executor<'static>>> = OnceLock::new();
    GLOBAL
        .get_or_init(|| {
            let ex = Arc::new(async_executor::Executor::new());
            let run = ex.clone();
            std::thread::Builder::new()
                .name("realtime-smol".into())
                .spawn(move || async_io::block_on(run.run(std::future::pending::<()>())))
                .expect("a thread for the realtime-smol executor");
            ex
        })
        .clone()
}

impl Smol {
    /// A runtime whose drive loops run on `executor`, with TLS set up for `config` when its
    /// endpoint needs it.
    pub fn new(executor: Arc<async_executor::Executor<'static>>, config: &Config) -> Result<Self, Error> {
        let tls = realtime_driver::tls::client_config_for(config)?.map(futures_rustls::TlsConnector::from);
        Ok(Self { executor, epoch: StdInstant::now(), tls })
    }
}

impl FromContext for Smol {
    fn from_context(config: &Config) -> Result<Self, Error> {
        Self::new(global(), config)
    }
}

/// A client whose drive loop runs on the app's own `executor` (which the app must run).
pub fn with_executor(
    executor: Arc<async_executor::Executor<'static>>,
    config: Config,
) -> Result<RealtimeClient, Error> {
    let rt = Smol::new(executor, &config)?;
    RealtimeClient::with_runtime(rt, config)
}

/// A connected stream, plain or TLS.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<futures_rustls::client::TlsStream<TcpStream>>),
}

/// TCP before it becomes a [`Stream`] (a proxy tunnel runs over it first).
#[derive(Debug)]
pub struct Tcp(TcpStream);

/// Both halves of a futures-io stream.
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

/// A futures-io stream as the driver's [`ByteStream`].
macro_rules! byte_stream {
    ($t:ty) => {
        impl ByteStream for $t {
            fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<Result<usize, IoError>> {
                self.io().poll_read(cx, buf).map_err(IoError::from)
            }
            fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize, IoError>> {
                self.io().poll_write(cx, buf).map_err(IoError::from)
            }
            fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
                self.io().poll_flush(cx).map_err(IoError::from)
            }
            fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), IoError>> {
                self.io().poll_close(cx).map_err(IoError::from)
            }
        }
    };
}

byte_stream!(Stream);
byte_stream!(Tcp);

/// An async-io timer, moved to each new deadline (with the runtime's epoch, to turn the
/// core's instants into std ones).
pub struct Timer(async_io::Timer, StdInstant);

impl realtime_driver::Timer for Timer {
    fn reset(&mut self, at: Instant) {
        self.0.set_at(self.1 + Duration::from_micros(at.as_micros()));
    }
    fn poll_fired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

/// A boxed future with `Send`, as the executor needs.
type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl realtime_driver::Runtime for Smol {
    type Lock<T> = StdLock<T>;
    type Timer = Timer;
    type Tcp = Tcp;
    type Stream = Stream;
    type Connect = Boxed<Result<Tcp, IoError>>;
    type Handshake = Boxed<Result<Stream, IoError>>;
    type Socket = NoSocket;
    type OpenSocket = NoSocketOpen;

    fn now(&self) -> Instant {
        realtime_driver::os::since(self.epoch)
    }
    fn unix_ms(&self) -> Option<u64> {
        realtime_driver::os::unix_ms()
    }
    fn timer(&self) -> Timer {
        Timer(async_io::Timer::never(), self.epoch)
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
        self.executor.spawn(drive).detach();
        Ok(())
    }
    fn env(&self, name: &str) -> Option<String> {
        realtime_driver::os::env(name)
    }
}

// The handles must cross tasks and threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<RealtimeClient>();
    send_sync::<Channel>();
    send_sync::<Receiver<Broadcast>>();
};
