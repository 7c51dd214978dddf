//! Supabase Realtime in the browser: the [`realtime_driver`] client compiled to WebAssembly,
//! over the browser's `WebSocket`, timers, `crypto.getRandomValues`, `Date.now()` and `fetch`.
//!
//! The protocol lives in the sans-IO core and the async client in the driver; this crate adds
//! only what is the browser's: the WebSocket as a self-framing transport (binary frames as
//! `ArrayBuffer`s; the browser does the handshake and framing), `setTimeout` timers,
//! `performance.now()` as the monotonic clock, entropy from `crypto.getRandomValues`, REST
//! broadcast over `fetch`, and the drive loop spawned with `wasm-bindgen-futures`. No tokio in
//! its dependencies. It runs in a page and in a Web Worker (everything is read from
//! `globalThis`).
//!
//! ```no_run
//! use realtime_wasm::{ChannelConfig, Config, RealtimeClient};
//! # async fn run() -> Result<(), realtime_wasm::Error> {
//! let client = RealtimeClient::new(Config::new("wss://<ref>.supabase.co/realtime/v1", "<anon key>"))?;
//! let _wake = realtime_wasm::resume_on_wake(&client);   // probe the link when the page comes back
//! let room = client.channel("room1", ChannelConfig::new()).await?;
//! let mut messages = room.on_broadcast("message").await;
//! room.subscribe().await?;
//! room.send("message", &serde_json::json!({"text": "hi"})).await?;
//! while let Some(Ok(m)) = messages.recv().await {
//!     web_sys::console::log_1(&m.event.into());
//! }
//! # Ok(()) }
//! ```
//!
//! # What the browser costs
//! - **Background tabs.** Browsers throttle a hidden tab's timers (to once a second, and after
//!   some minutes to once a minute in Chrome), so heartbeats and reconnect attempts run late
//!   there; the server may drop a connection whose heartbeats stop for long (Realtime's limit
//!   is about a minute). Messages still arrive: the socket's events are not throttled. To keep
//!   a client on time in the background, run it in a Web Worker (a dedicated worker's timers
//!   are not throttled as a page's are): this crate works there unchanged, and the page
//!   talks to the worker with `postMessage`.
//! - **Sleep and lost networks.** A sleeping laptop or a network change kills sockets without
//!   a close; the heartbeat finds it within one interval plus the reply deadline (35 s). Sooner
//!   with [`resume_on_wake`]: on `visibilitychange` (the page shown again), `online` and
//!   `pageshow` (back from the back-forward cache) it calls `resume`, which probes the link at
//!   once (a heartbeat with a short deadline) or reconnects now if the socket is down; on
//!   `offline` too, so a link lost with the network is found in 5 s.
//! - **No headers on the upgrade.** A browser WebSocket sends no custom headers: the API key
//!   goes as the `apikey` query parameter (as realtime-js does) and `Config::client.headers`
//!   is not sent. The browser hides why an upgrade failed: a refused key and an unreachable
//!   host both end as the close code 1006.
//! - **Token sources** are `Send` futures, which a JavaScript promise is not: fetch tokens in
//!   the app and give them with `set_access_token`.

#![deny(unsafe_code)]
#![no_std]

extern crate alloc;

mod fetch;
mod js;
mod page;
mod socket;
mod timer;

use core::future::{Ready, ready};

use realtime_core::Instant;
use realtime_driver::{Drive, FromContext, IoError, LocalLock};

pub use fetch::{Fetch, MAX_REQUEST, MAX_RESPONSE};
pub use page::{WakeWatch, resume_on_wake};
pub use socket::{MAX_QUEUED_BYTES, Opening, Socket};
pub use timer::Timer;

realtime_driver::runtime_api!(Wasm, "the browser");

/// The browser runtime. It holds nothing: everything it uses is a global of the page (or the
/// worker).
#[derive(Clone, Copy, Debug, Default)]
pub struct Wasm;

/// The monotonic clock: `performance.now()`, in microseconds.
pub(crate) fn now() -> Instant {
    let ms = js::performance_now();
    // Non-negative and finite by the API; a broken one reads as the epoch.
    Instant::from_micros(if ms.is_finite() && ms > 0.0 { (ms * 1000.0) as u64 } else { 0 })
}

impl realtime_driver::Runtime for Wasm {
    type Lock<T> = LocalLock<T>;
    type Timer = Timer;
    type Tcp = Fetch;
    type Stream = Fetch;
    type Connect = Ready<Result<Fetch, IoError>>;
    type Handshake = Ready<Result<Fetch, IoError>>;
    type Socket = Socket;
    type OpenSocket = Opening;
    const MESSAGES_ONLY: bool = true;

    fn now(&self) -> Instant {
        now()
    }
    fn unix_ms(&self) -> Option<u64> {
        let ms = js_sys::Date::now();
        (ms.is_finite() && ms > 0.0).then_some(ms as u64)
    }
    fn timer(&self) -> Timer {
        Timer::new()
    }
    /// No TCP in a browser: the "connection" is a `fetch` to `host:port` (REST only; the
    /// WebSocket goes through `open_socket`).
    fn connect(&self, host: &str, port: u16) -> Self::Connect {
        ready(Ok(Fetch::new(host, port)))
    }
    fn plain(&self, tcp: Fetch) -> Fetch {
        tcp
    }
    /// `https`: the browser does TLS (and checks the certificate) itself.
    fn tls(&self, mut tcp: Fetch, _server_name: &str) -> Self::Handshake {
        tcp.https = true;
        ready(Ok(tcp))
    }
    /// The browser sends no headers of the page's on an upgrade: `headers` are not used.
    fn open_socket(&self, url: &str, _headers: &[(alloc::string::String, alloc::string::String)]) -> Opening {
        Opening::new(url)
    }
    fn entropy(&self) -> Result<[u8; 32], IoError> {
        let mut seed = [0u8; 32];
        js::get_random_values(&mut seed).map_err(|e| IoError::msg(js::describe(&e)))?;
        Ok(seed)
    }
    fn spawn(&self, drive: Drive<Self>) -> Result<(), Error> {
        wasm_bindgen_futures::spawn_local(drive);
        Ok(())
    }
}

impl FromContext for Wasm {
    fn from_context(_: &Config) -> Result<Self, Error> {
        Ok(Self)
    }
}
