//! The client's settings: the core's, plus what every runtime reads (TLS roots, proxy, buffer
//! and stream sizes, the token source).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use realtime_core::client::ClientConfig;
pub use rustls_pki_types::CertificateDer;

use crate::lock::Shared;
use crate::runtime::BoxFuture;

/// The default socket read buffer: reads grow to this while they fill it.
pub const DEFAULT_READ_BUFFER: usize = 16 * 1024;
/// The default capacity of each stream before it reports [`Lagged`](crate::Lagged).
pub const DEFAULT_STREAM_CAPACITY: usize = 256;

/// An async source of access tokens: called when the core asks for one (before connecting,
/// before a join with a missing or expiring token, after a refusal). Its answer is set as the
/// access token: `None` clears it (joins then carry the API key alone), so answer the current
/// token when a refresh fails for a while. A source that holds a `RealtimeClient` keeps the
/// client alive (the handle count never reaches zero): hold what it needs to fetch a token,
/// not the client.
pub type TokenSource = Shared<dyn Fn() -> BoxFuture<Option<String>> + Send + Sync>;

/// Which certificate authorities TLS connections trust.
#[derive(Clone, Debug, Default)]
pub enum Roots {
    /// Mozilla's roots, built in (webpki-roots): the default, the same on every machine.
    #[default]
    WebPki,
    /// The operating system's store.
    Native,
    /// Exactly these (DER), for a private CA or a test server's own certificate.
    Custom(Vec<CertificateDer<'static>>),
}

/// How connections reach the server.
#[derive(Clone, Debug, Default)]
pub enum Proxy {
    /// `HTTPS_PROXY` (for `wss`/`https`) or `HTTP_PROXY` (for `ws`/`http`), lower case too,
    /// except for hosts in `NO_PROXY`, where the platform has an environment.
    #[default]
    FromEnv,
    /// Straight to the server.
    None,
    /// Through this HTTP proxy (`http://host:port`), for every host.
    Url(String),
}

/// The client's settings.
#[derive(Clone)]
pub struct Config {
    /// The protocol settings (endpoint, API key, timings, limits).
    pub client: ClientConfig,
    /// Which CAs TLS trusts.
    pub roots: Roots,
    /// How connections reach the server.
    pub proxy: Proxy,
    /// The most a socket read takes at once ([`DEFAULT_READ_BUFFER`]); reads start at 1 KiB
    /// and double while they fill the buffer, so idle clients stay small.
    pub read_buffer: usize,
    /// Items each stream holds before it drops new ones and reports
    /// [`Lagged`](crate::Lagged) ([`DEFAULT_STREAM_CAPACITY`]).
    pub stream_capacity: usize,
    /// An async token source (see [`TokenSource`]).
    pub token_source: Option<TokenSource>,
}

impl Config {
    /// The defaults for this Realtime URL and API key. With the `std` feature (the tokio and
    /// smol runtimes) they offer permessage-deflate (`client.ws.deflate`, the core's
    /// [`DeflateConfig`](realtime_core::ws::DeflateConfig) defaults); without it (embassy) they
    /// do not, for the memory it takes. Set `client.ws.deflate` to choose either way.
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Self {
        Self::with(offer_deflate(ClientConfig::new(endpoint, api_key)))
    }

    /// The defaults for a plain Phoenix Channels server (`ws://host:4000/socket`): no API key,
    /// no `X-Client-Info`; what the server's `connect/3` reads goes in `client.params`. Join
    /// with [`phoenix_channel`](crate::RealtimeClient::phoenix_channel). permessage-deflate as
    /// in [`new`](Self::new).
    pub fn phoenix(endpoint: impl Into<String>) -> Self {
        Self::with(offer_deflate(ClientConfig::phoenix(endpoint)))
    }

    /// The defaults around these protocol settings.
    pub fn with(client: ClientConfig) -> Self {
        Self {
            client,
            roots: Roots::default(),
            proxy: Proxy::default(),
            read_buffer: DEFAULT_READ_BUFFER,
            stream_capacity: DEFAULT_STREAM_CAPACITY,
            token_source: None,
        }
    }
}

/// permessage-deflate on by default where the driver has `std`: a desktop or server client has
/// the memory the codecs take (about 60 KiB a connection to inflate, 370 KiB once it
/// compresses a long message: README "permessage-deflate"); a microcontroller opts in.
fn offer_deflate(mut client: ClientConfig) -> ClientConfig {
    if cfg!(feature = "std") {
        client.ws.deflate = Some(realtime_core::ws::DeflateConfig::default());
    }
    client
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("client", &self.client)
            .field("roots", &self.roots)
            .field("proxy", &self.proxy)
            .field("read_buffer", &self.read_buffer)
            .field("stream_capacity", &self.stream_capacity)
            .field("token_source", &self.token_source.is_some())
            .finish()
    }
}
