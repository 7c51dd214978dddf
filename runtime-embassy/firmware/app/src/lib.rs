//! The app of the example firmwares, written once: a sensor on Supabase Realtime. Each board's
//! `main.rs` brings up its network, its RNG and its sensor, builds the client with [`config`],
//! and runs [`run`] in a task beside the client's runner.
//!
//! The sensor joins [`CHANNEL`] with presence under the board's key, broadcasts a `reading`
//! every [`DEFAULT_PERIOD`] (`{"celsius_milli": 31250, "uptime_s": 42}`: the die temperature
//! in milli-degrees Celsius, `null` before the first conversion), and obeys `command`
//! broadcasts: `{"set": "interval", "seconds": 10}` sets the period (within
//! [`PERIOD_RANGE_S`]); other commands are ignored.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::string::String;
use core::sync::atomic::{AtomicI32, Ordering};

use embassy_futures::select::{Either, select};
use embassy_net::Stack;
use embassy_time::{Duration, Instant, Ticker, Timer, with_timeout};
use rand_core::RngCore;
use realtime_embassy::{
    Broadcast, Channel, ChannelConfig, Config, Embassy, Error, RealtimeClient, Receiver, Resources, Runner,
};
use serde::{Deserialize, Serialize};
use static_cell::StaticCell;

/// The Realtime endpoint (`ws://` or, with the `tls` feature, `wss://`), from `REALTIME_URL`
/// when the firmware is built.
pub const ENDPOINT: &str = match option_env!("REALTIME_URL") {
    Some(url) => url,
    None => "ws://192.168.1.10:4000/realtime/v1",
};
/// The project's API key (the anon key), from `REALTIME_API_KEY` when the firmware is built.
pub const API_KEY: &str = match option_env!("REALTIME_API_KEY") {
    Some(key) => key,
    None => "anon",
};
/// The channel the board joins.
pub const CHANNEL: &str = "sensors";
/// How often a reading goes out until a command changes it.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(5);
/// The shortest and longest period a command may set, in seconds.
pub const PERIOD_RANGE_S: core::ops::RangeInclusive<u32> = 1..=3600;
/// The wait before a failed step (joining the channel, tracking) is tried again.
pub const RETRY: Duration = Duration::from_secs(5);
/// The longest a reading waits to go out (the client reconnects meanwhile by itself).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The value of a sensor that has not converted yet.
pub const NO_READING: i32 = i32::MIN;

/// The client's settings for a small device: reads of at most 4 KiB, messages of at most
/// 16 KiB, 16 items per stream. The client's heap high-water mark for this app is about
/// 17 KiB with them (25 KiB over TLS; realtime-embassy's `tests/heap.rs`).
pub fn config(endpoint: &str, api_key: &str) -> Config {
    let mut config = Config::new(endpoint, api_key);
    config.read_buffer = 4096;
    config.stream_capacity = 16;
    config.client.ws.max_message_len = 16 * 1024;
    config.client.ws.max_frame_len = 16 * 1024;
    config
}

/// The client of [`ENDPOINT`] on `stack`, seeded from the chip's `rng`, with [`config`]'s
/// settings and its
/// buffers in statics: two TCP sockets (2 KiB receive, 1 KiB send each: the WebSocket and a
/// REST request) and, with `tls`, one TLS slot and `root` (DER) as the only trusted root.
/// The stack's `StackResources` must hold the two sockets besides DHCP and DNS. Call it once
/// (its statics are taken); it fails only on an endpoint or API key the client cannot use.
pub fn client(
    stack: Stack<'static>,
    rng: &mut impl RngCore,
    root: Option<&'static [u8]>,
) -> Result<(RealtimeClient, Runner), Error> {
    static RESOURCES: StaticCell<Resources<2048, 1024, 2>> = StaticCell::new();
    let rt = Embassy::new(stack, RESOURCES.init(Resources::new()), rng);
    #[cfg_attr(not(feature = "tls"), expect(unused_mut, reason = "TLS sets the roots"))]
    let mut config = config(ENDPOINT, API_KEY);
    #[cfg(feature = "tls")]
    let rt = {
        static TLS_RESOURCES: StaticCell<realtime_embassy::TlsResources> = StaticCell::new();
        if let Some(root) = root {
            let root = realtime_embassy::CertificateDer::from(alloc::vec::Vec::from(root));
            config.roots = realtime_embassy::Roots::Custom(alloc::vec![root]);
        }
        rt.tls(TLS_RESOURCES.init(realtime_embassy::TlsResources::new()))
    };
    #[cfg(not(feature = "tls"))]
    let _ = root;
    rt.client(config)
}

/// What the app tells the board's log (a board without one ignores it).
#[derive(Debug, Clone, Copy)]
pub enum Note {
    /// The stack has its address; the channel is joined next.
    NetworkUp,
    /// The channel is joined (again, after its removal).
    Joined,
    /// A command set the period of the readings.
    Period(Duration),
}

/// What the board tracks as its presence.
#[derive(Serialize)]
struct Presence<'a> {
    board: &'a str,
    firmware: &'a str,
}

/// The `reading` broadcast.
#[derive(Serialize)]
struct Reading {
    /// The die temperature in milli-degrees Celsius (`null` before the first conversion).
    celsius_milli: Option<i32>,
    /// Seconds since boot.
    uptime_s: u64,
}

/// A `command` broadcast: `{"set": "interval", "seconds": 10}` sends a reading every 10 s.
#[derive(Deserialize)]
struct Command {
    set: String,
    #[serde(default)]
    seconds: u32,
}

/// The app: waits for the network, joins the channel with presence under `board` (tracking
/// `firmware` as its version), then reports `temperature` (milli-degrees Celsius, or
/// [`NO_READING`]) and obeys commands; joins again if the channel goes.
pub async fn run(
    stack: Stack<'static>,
    client: RealtimeClient,
    board: &'static str,
    firmware: &'static str,
    temperature: &'static AtomicI32,
    note: fn(Note),
) -> ! {
    stack.wait_config_up().await;
    note(Note::NetworkUp);
    loop {
        let Ok(room) = client.channel(CHANNEL, ChannelConfig::new().presence_key(board)).await else {
            Timer::after(RETRY).await;
            continue;
        };
        // Listening before the join: no command sent right after it is missed.
        let mut commands = room.on_broadcast("command").await;
        while room.subscribe().await.is_err() {
            Timer::after(RETRY).await;
        }
        note(Note::Joined);
        // Tracked once: the client tracks it again after every rejoin.
        while room.track(&Presence { board, firmware }).await.is_err() {
            Timer::after(RETRY).await;
        }
        report(&room, &mut commands, temperature, note).await;
        // The command stream ended (the channel was removed): join again.
        Timer::after(RETRY).await;
    }
}

/// Sends a reading every period and applies commands, until the command stream ends.
async fn report(room: &Channel, commands: &mut Receiver<Broadcast>, temperature: &AtomicI32, note: fn(Note)) {
    let mut ticker = Ticker::every(DEFAULT_PERIOD);
    loop {
        match select(ticker.next(), commands.recv()).await {
            Either::First(()) => {
                let celsius_milli = Some(temperature.load(Ordering::Relaxed)).filter(|&t| t != NO_READING);
                let reading = Reading { celsius_milli, uptime_s: Instant::now().as_secs() };
                // A reading lost to a dropped link is not resent: the next one follows.
                let _ = with_timeout(SEND_TIMEOUT, room.send("reading", &reading)).await;
            }
            Either::Second(Some(Ok(command))) => {
                if let Some(period) = new_period(&command) {
                    note(Note::Period(period));
                    ticker = Ticker::every(period);
                }
            }
            // Commands dropped while the stream was full: the next ones still count.
            Either::Second(Some(Err(_lagged))) => {}
            Either::Second(None) => return,
        }
    }
}

/// The period an `interval` command sets, if the broadcast is one (within `PERIOD_RANGE_S`).
fn new_period(command: &Broadcast) -> Option<Duration> {
    let command: Command = command.json().ok()?;
    (command.set == "interval" && PERIOD_RANGE_S.contains(&command.seconds))
        .then(|| Duration::from_secs(command.seconds.into()))
}
