//! Supabase Realtime on embassy: the [`realtime_driver`] client on a microcontroller, over
//! embassy-net TCP and DNS, embassy-time timers and the chip's random number generator.
//!
//! The protocol lives in the sans-IO core and the async client in the driver; this crate adds
//! only what is embassy's: TCP sockets over buffers the firmware gives (no heap for them),
//! names resolved by embassy-net's DNS, embassy-time timers, entropy from the chip, the wall
//! clock where the board has one, and TLS by embedded-tls (feature `tls`).
//!
//! ```no_run
//! use realtime_embassy::{ChannelConfig, Config, Embassy, Error, Resources, Runner};
//! use static_cell::StaticCell;
//!
//! // In a firmware: `#[embassy_executor::task] async fn realtime(runner: Runner) { runner.run().await }`
//! // and `spawn` is `|runner| spawner.spawn(realtime(runner).unwrap())`.
//! async fn firmware(
//!     stack: embassy_net::Stack<'static>,
//!     chip_rng: &mut impl rand_core::RngCore,
//!     spawn: impl FnOnce(Runner),
//! ) -> Result<(), Error> {
//!     static RESOURCES: StaticCell<Resources> = StaticCell::new();
//!     let rt = Embassy::new(stack, RESOURCES.init(Resources::new()), chip_rng);
//!     let (client, runner) = rt.client(Config::new("ws://192.168.1.10:4000/realtime/v1", "anon-key"))?;
//!     spawn(runner);
//!     let room = client.channel("sensors", ChannelConfig::new().presence_key("board-7")).await?;
//!     room.subscribe().await?;
//!     room.send("reading", &serde_json::json!({"celsius": 21.5})).await?;
//!     Ok(())
//! }
//! ```
//!
//! # The `(client, runner)` pair
//! [`Embassy::client`] gives the client and a [`Runner`], in embassy's style: the runner holds
//! the drive loop (the WebSocket, heartbeats, reconnects) and must be spawned as a task. The
//! client and its channels are handles: clone them into any task of the same executor. They
//! are not `Send`, as embassy-net's `Stack` is not: the drive loop and every handle live on
//! one executor, so the shared state needs no critical section (a `RefCell`, held only for
//! the length of one call, never across an `.await`). Streams are the driver's
//! [`Receiver`]s, awaited from any task of that executor; [`forward`] moves one into an
//! embassy-sync channel, which a task of another executor can read.
//!
//! # Memory
//! - The stack must have an address before the client connects (`stack.wait_config_up()`);
//!   until then attempts fail with "no route to the host" and are retried on the schedule.
//! - The stack's `StackResources<S>` must hold the client's `N` sockets besides the firmware's
//!   own (DHCP, DNS): `Embassy::new` adds them to the stack, and embassy-net panics when it is
//!   full.
//! - TCP buffers come from [`Resources`], which the firmware places in a `static` (sized at
//!   compile time by its const parameters): one socket for the WebSocket, one for a REST
//!   request (`Channel::http_send`, the REST fallback).
//! - The heap (the firmware's global allocator) holds the core's state: per channel, per
//!   binding, per message being assembled (bounded by `ClientConfig::max_message_len`), the
//!   driver's read buffer (`Config::read_buffer`, grown from 512 B while reads fill it) and its
//!   send buffer (256 B, doubling to 16 KiB while a message is written), and each stream's
//!   queue (`Config::stream_capacity` items). Lower `read_buffer`, `stream_capacity` and
//!   `max_message_len` to fit a small heap. Each connection attempt allocates its connect
//!   future (and with TLS its pump: the TLS connection's state, and during the handshake the
//!   verifier's copy of the chain, about 8 KiB), freed when the connection ends.
//! - Measured by the host test (`tests/heap.rs`) for one channel with presence, reads of at
//!   most 4 KiB, messages of at most 16 KiB and 16 items per stream, through a session with
//!   broadcasts both ways and a reconnect: a heap high-water mark of about 17 KiB, 25 KiB over
//!   TLS (whose record buffers, 16.6 KiB + 4 KiB + two 1 KiB pipes, are static).
//!
//! # Clocks
//! Timers and the core's instants run on embassy-time. The wall clock is the firmware's to
//! give ([`Embassy::wall_clock`], from SNTP or an RTC): with one, the core checks an access
//! token's expiry before sending it. Without one, expiry is judged by the server alone: a
//! token is sent until the server refuses it, and a [`TokenSource`] is then asked for a new
//! one as on the other runtimes.
//!
//! # TLS (feature `tls`)
//! TLS 1.3 by embedded-tls, with the server's certificate always verified: its chain up to one
//! of the firmware's roots, its signatures, its name (a DNS name: IP addresses are not
//! matched), and its dates when the firmware gives a wall clock. To set up the trust anchors:
//! 1. Find the root CA the server's chain ends in (`openssl s_client -connect
//!    <host>:443 -showcerts` prints the chain; its last issuer is the root) and save it as DER
//!    (`openssl x509 -outform der`). Embed it: `include_bytes!("root.der")`. A self-signed
//!    server certificate may be its own root (pinning). Several roots may be given, for a
//!    server that changes CA.
//! 2. `config.roots = Roots::Custom(vec![CertificateDer::from(ROOT.to_vec())])`; any other
//!    `Roots` is refused when the endpoint is `wss://` or `https://` (a device has no system
//!    store, and Mozilla's roots would cost more flash than the whole client).
//! 3. Give the buffers: `Embassy::new(..).tls(TLS.init(TlsResources::new()))`, one slot per
//!    TLS connection at once (the WebSocket, plus one if `http_send` runs beside it).
//! 4. P-256 keys are verified by default; a chain signed with P-384 (Let's Encrypt's ECDSA
//!    intermediates) needs the `tls-p384` feature, one signed with RSA `tls-rsa`.
//!
//! Handshake failures are `ConnectionError::Tls` with a `TlsFailure` source that says what
//! was wrong ("the server's certificate is not trusted by the roots, or not for this name").
//!
//! # Randomness
//! [`Embassy::new`] takes the chip's RNG once and seeds a ChaCha20 generator from it: the
//! core's seed (WebSocket masks and keys, reconnect jitter) and, with TLS, the key exchange's
//! randomness are drawn from that. Give it a true RNG (the chip's TRNG peripheral), never a
//! constant.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod clock;
mod tcp;
#[cfg(feature = "tls")]
mod tls;

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;

use embassy_net::Stack;
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use realtime_core::Instant;
use realtime_driver::{Drive, IoError, LocalLock, NoSocket, NoSocketOpen};

pub use clock::Timer;
pub use tcp::{DEFAULT_RX, DEFAULT_SOCKETS, DEFAULT_TX, Resources, Stream, Tcp, TcpError};
#[cfg(feature = "tls")]
pub use tls::{DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, TlsFailure, TlsResources, TlsStream};

realtime_driver::runtime_api!(Embassy, "embassy");

/// The embassy runtime: the network stack, the socket buffers, the random generator and the
/// clocks. Cheap to clone (handles on shared state).
#[derive(Clone)]
pub struct Embassy {
    stack: Stack<'static>,
    sockets: tcp::Pool,
    rng: Rc<RefCell<ChaCha20Rng>>,
    wall_clock: Option<fn() -> Option<u64>>,
    /// Where [`spawn`](realtime_driver::Runtime::spawn) leaves the drive loop for the runner.
    drive: Rc<RefCell<Option<Drive<Embassy>>>>,
    #[cfg(feature = "tls")]
    tls: Option<tls::Setup>,
}

impl fmt::Debug for Embassy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embassy")
            .field("sockets", &self.sockets)
            .field("wall_clock", &self.wall_clock.is_some())
            .finish_non_exhaustive()
    }
}

impl Embassy {
    /// A runtime on `stack`, its TCP sockets on `resources`' buffers, seeded once from `rng`
    /// (the chip's true random number generator).
    pub fn new<const RX: usize, const TX: usize, const N: usize>(
        stack: Stack<'static>,
        resources: &'static mut Resources<RX, TX, N>,
        rng: &mut impl RngCore,
    ) -> Self {
        let mut seed = [0; 32];
        rng.fill_bytes(&mut seed);
        Self {
            stack,
            sockets: tcp::Pool::new(stack, resources),
            rng: Rc::new(RefCell::new(ChaCha20Rng::from_seed(seed))),
            wall_clock: None,
            drive: Rc::new(RefCell::new(None)),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// The wall clock, in Unix milliseconds (from SNTP or an RTC), or `None` while it is not
    /// known yet. Without one (the default), access tokens are judged by the server alone.
    #[must_use]
    pub fn wall_clock(mut self, now_unix_ms: fn() -> Option<u64>) -> Self {
        self.wall_clock = Some(now_unix_ms);
        self
    }

    /// TLS (`wss://`, `https://`) on `resources`' buffers, verified against `Config::roots`,
    /// which must be `Roots::Custom`: the root certificates (DER) the firmware embeds, for
    /// example `include_bytes!("root.der")`, the root CA your server's chain ends in (for a
    /// public server, its CA's root; `openssl s_client -showcerts` shows the chain). A
    /// certificate's validity dates are checked against the wall clock
    /// ([`wall_clock`](Self::wall_clock)); without one they are not (the chain, the signatures
    /// and the name still are). TLS 1.3 only, TLS_AES_128_GCM_SHA256 over secp256r1, P-256
    /// certificates (embedded-tls's `p384` and `rsa` features add those keys).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls<const READ: usize, const WRITE: usize, const N: usize>(
        mut self,
        resources: &'static mut TlsResources<READ, WRITE, N>,
    ) -> Self {
        self.tls = Some(tls::Setup::new(resources));
        self
    }

    #[cfg(feature = "tls")]
    fn with_roots(mut self, config: &Config) -> Result<Self, Error> {
        let secure = ["wss://", "https://"].iter().any(|s| config.client.endpoint.starts_with(s));
        match self.tls.take() {
            Some(setup) if secure => self.tls = Some(setup.with_roots(config)?),
            Some(setup) => self.tls = Some(setup),
            None => {}
        }
        Ok(self)
    }

    /// The client for `config` and the [`Runner`] that drives it (spawn it as a task). The
    /// client connects on its first subscribe, or on [`RealtimeClient::connect`].
    pub fn client(self, config: Config) -> Result<(RealtimeClient, Runner), Error> {
        let rt = Self { drive: Rc::new(RefCell::new(None)), ..self };
        #[cfg(feature = "tls")]
        let rt = rt.with_roots(&config)?;
        let slot = rt.drive.clone();
        let client = RealtimeClient::with_runtime(rt, config)?;
        let drive = slot.borrow_mut().take().ok_or(Error::NoRuntime("the drive loop was not handed over"))?;
        Ok((client, Runner { drive }))
    }

    /// The network stack the client runs on.
    pub fn stack(&self) -> Stack<'static> {
        self.stack
    }
}

/// The drive loop of one client: spawn it as a task and await [`run`](Self::run).
pub struct Runner {
    drive: Drive<Embassy>,
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runner").finish_non_exhaustive()
    }
}

impl Runner {
    /// Runs the client: connects when asked, reads and writes, keeps the heartbeat, reconnects.
    /// Returns once the client is shut down or its every handle is dropped.
    pub async fn run(self) {
        self.drive.await;
    }
}

/// Moves every item of `items` into an embassy-sync channel, in order, waiting while it is
/// full; returns when the stream ends (the channel left, the client shut down).
///
/// The handles are not `Send`, but a channel over a `CriticalSectionRawMutex` is `Sync`: a
/// task on another executor (an interrupt-priority one) or code that already reads an
/// embassy-sync channel gets the items this way. The stream's own bound still holds: a
/// reader that falls behind gets `Err(Lagged)` where items were dropped, forwarded like the
/// items.
pub async fn forward<T, M, const N: usize>(
    mut items: Receiver<T>,
    into: embassy_sync::channel::Sender<'_, M, Result<T, Lagged>, N>,
) where
    T: Item,
    M: embassy_sync::blocking_mutex::raw::RawMutex,
{
    while let Some(item) = items.recv().await {
        into.send(item).await;
    }
}

/// A boxed future (the runtime's connect and TLS handshake: one allocation per connection).
type Boxed<T> = Pin<Box<dyn Future<Output = T>>>;

impl realtime_driver::Runtime for Embassy {
    type Lock<T> = LocalLock<T>;
    type Timer = Timer;
    type Tcp = Tcp;
    type Stream = Stream;
    type Connect = Boxed<Result<Tcp, IoError>>;
    type Handshake = Boxed<Result<Stream, IoError>>;
    type Socket = NoSocket;
    type OpenSocket = NoSocketOpen;

    fn now(&self) -> Instant {
        clock::now()
    }
    fn unix_ms(&self) -> Option<u64> {
        self.wall_clock.and_then(|f| f())
    }
    fn timer(&self) -> Timer {
        Timer::default()
    }
    fn connect(&self, host: &str, port: u16) -> Self::Connect {
        Box::pin(self.sockets.clone().connect(String::from(host), port))
    }
    fn plain(&self, tcp: Tcp) -> Stream {
        Stream::Plain(tcp)
    }
    #[cfg(feature = "tls")]
    fn tls(&self, tcp: Tcp, server_name: &str) -> Self::Handshake {
        let setup = self.tls.clone();
        let mut seed = [0; 32];
        self.rng.borrow_mut().fill_bytes(&mut seed);
        let name = String::from(server_name);
        if let Some(ms) = self.unix_ms() {
            tls::set_unix_time(u32::try_from(ms / 1000).unwrap_or(u32::MAX));
        }
        Box::pin(async move {
            let setup = setup.ok_or_else(|| IoError::msg(tls::NO_TLS_RESOURCES))?;
            setup.handshake(tcp, name, seed).await.map(Stream::Tls)
        })
    }
    #[cfg(not(feature = "tls"))]
    fn tls(&self, _: Tcp, _: &str) -> Self::Handshake {
        Box::pin(async {
            Err(IoError::msg("a TLS endpoint, but realtime-embassy was built without its `tls` feature"))
        })
    }
    fn open_socket(&self, _: &str, _: &[(String, String)]) -> NoSocketOpen {
        NoSocketOpen
    }
    fn entropy(&self) -> Result<[u8; 32], IoError> {
        let mut seed = [0; 32];
        self.rng.borrow_mut().fill_bytes(&mut seed);
        Ok(seed)
    }
    fn spawn(&self, drive: Drive<Self>) -> Result<(), Error> {
        // Embassy spawns only its declared tasks: the drive loop waits here for the runner.
        *self.drive.borrow_mut() = Some(drive);
        Ok(())
    }
}
