//! ESP32-C3 on Supabase Realtime, over Wi-Fi with realtime-embassy.
//!
//! - 160 MHz, esp-rtos's scheduler and embassy executor on TIMG0
//! - Wi-Fi station (esp-radio), embassy-net with DHCPv4 and DNS, reconnecting to the access
//!   point whenever the link drops
//! - the chip's RNG (true random while the radio runs) seeds the network stack and the client
//! - a global allocator (esp-alloc) on 64 KiB of RAM reclaimed from the bootloader and a 64 KiB
//!   static heap, shared by Wi-Fi and the client's state
//! - the internal temperature sensor (`tsens`), read every second
//! - the Realtime client: joins `sensors` with presence (key `esp32c3`), broadcasts a `reading`
//!   every 5 s, and obeys `command` broadcasts (`{"set":"interval","seconds":N}`)
//!
//! The Wi-Fi network is read at build time from `WIFI_SSID` and `WIFI_PASSWORD`, the endpoint
//! and API key from `REALTIME_URL` and `REALTIME_API_KEY` (see the README).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use core::sync::atomic::{AtomicI32, Ordering};

use embassy_executor::Spawner;
use embassy_futures::select::{Either, select};
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration, Instant, Ticker, Timer, with_timeout};
use esp_backtrace as _;
use esp_hal::clock::CpuClock;
use esp_hal::rng::Rng;
use esp_hal::timer::timg::TimerGroup;
use esp_hal::tsens::{self, TemperatureSensor};
use esp_println::println;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{AuthenticationMethodConfig, Config as WifiConfig, Interface, WifiController};
use realtime_embassy::{Broadcast, Channel, ChannelConfig, Embassy, RealtimeClient, Receiver, Resources};
use serde::{Deserialize, Serialize};
use static_cell::StaticCell;

// The application descriptor the ESP-IDF second-stage bootloader checks.
esp_bootloader_esp_idf::esp_app_desc!();

// ---------------------------------------------------------------- settings

/// The Wi-Fi network (SSID, at most 32 bytes), from `WIFI_SSID` at build time.
const WIFI_SSID: &str = match option_env!("WIFI_SSID") {
    Some(ssid) => ssid,
    None => "realtime-demo",
};
/// The Wi-Fi passphrase (WPA2 Personal, 8 to 64 bytes; empty: an open network), from
/// `WIFI_PASSWORD` at build time.
const WIFI_PASSWORD: &str = match option_env!("WIFI_PASSWORD") {
    Some(password) => password,
    None => "change-me",
};
/// The Realtime endpoint (`ws://` or, with the `tls` feature, `wss://`), from `REALTIME_URL`
/// at build time.
const ENDPOINT: &str = match option_env!("REALTIME_URL") {
    Some(url) => url,
    None => "ws://192.168.1.10:4000/realtime/v1",
};
/// The project's API key (the anon key), from `REALTIME_API_KEY` at build time.
const API_KEY: &str = match option_env!("REALTIME_API_KEY") {
    Some(key) => key,
    None => "anon",
};
/// The channel the board joins.
const CHANNEL: &str = "sensors";
/// The board's presence key on the channel.
const BOARD: &str = "esp32c3";
/// How often a reading goes out until a command changes it.
const DEFAULT_PERIOD: Duration = Duration::from_secs(5);
/// The shortest and longest period a command may set, in seconds.
const PERIOD_RANGE_S: core::ops::RangeInclusive<u32> = 1..=3600;
/// The wait before a failed step (joining the access point or the channel, tracking) is tried
/// again.
const RETRY: Duration = Duration::from_secs(5);
/// The longest a reading waits to go out (the client reconnects meanwhile by itself).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------- allocator
/// The static part of the heap (in `.bss`); `main` adds the 64 KiB the bootloader used. Wi-Fi
/// takes its frame buffers, its tasks' stacks and its state from the heap (tens of KiB, more
/// under traffic); the client's high-water mark for one channel with presence is about 17 KiB
/// with these settings, 25 KiB over TLS (runtime-embassy's `tests/heap.rs`).
const HEAP_SIZE: usize = 64 * 1024;

/// Latest sensor reading in milli-degrees Celsius (`i32::MIN`: none yet).
static TEMP_MILLI_C: AtomicI32 = AtomicI32::new(i32::MIN);

// ---------------------------------------------------------------- payloads

/// What the board tracks as its presence.
#[derive(Serialize)]
struct Presence {
    board: &'static str,
    firmware: &'static str,
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

// ---------------------------------------------------------------- tasks
#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Interface>) -> ! {
    runner.run().await
}

/// Keeps the station on the access point: connects, waits for the link to drop, connects again.
/// embassy-net follows the link (DHCP again after a reconnect).
#[embassy_executor::task]
async fn wifi_task(mut controller: WifiController<'static>) -> ! {
    loop {
        match controller.connect_async().await {
            Ok(_) => {
                println!("wifi: connected to {WIFI_SSID}");
                let _ = controller.wait_for_disconnect_async().await;
                println!("wifi: disconnected");
            }
            Err(e) => println!("wifi: cannot connect to {WIFI_SSID}: {e:?}"),
        }
        Timer::after(RETRY).await;
    }
}

#[embassy_executor::task]
async fn sensor_task(sensor: TemperatureSensor<'static>) -> ! {
    // The sensor settles within a few hundred microseconds of power-up.
    Timer::after_millis(1).await;
    loop {
        let t = sensor.get_temperature();
        // esp-hal's `to_celsius`, in integers: T = raw * 0.4386 - offset * 27.88 - 20.52 °C
        let milli_c = (i32::from(t.raw_value) * 43_860 - i32::from(t.offset) * 2_788_000 - 2_052_000) / 100;
        TEMP_MILLI_C.store(milli_c, Ordering::Relaxed);
        Timer::after_secs(1).await;
    }
}

/// The client's drive loop: the WebSocket, heartbeats, reconnects.
#[embassy_executor::task]
async fn realtime_task(runner: realtime_embassy::Runner) {
    runner.run().await
}

/// The app: join the channel with presence, then report readings and obey commands.
#[embassy_executor::task]
async fn app_task(stack: Stack<'static>, client: RealtimeClient) -> ! {
    stack.wait_config_up().await;
    if let Some(config) = stack.config_v4() {
        println!("net: address {}", config.address);
    }
    loop {
        let Ok(room) = client.channel(CHANNEL, ChannelConfig::new().presence_key(BOARD)).await else {
            Timer::after(RETRY).await;
            continue;
        };
        // Listening before the join: no command sent right after it is missed.
        let mut commands = room.on_broadcast("command").await;
        while room.subscribe().await.is_err() {
            Timer::after(RETRY).await;
        }
        println!("realtime: joined {CHANNEL}");
        // Tracked once: the client tracks it again after every rejoin.
        let presence = Presence { board: BOARD, firmware: env!("CARGO_PKG_VERSION") };
        while room.track(&presence).await.is_err() {
            Timer::after(RETRY).await;
        }
        report(&room, &mut commands).await;
        // The command stream ended (the channel was removed): join again.
        Timer::after(RETRY).await;
    }
}

/// Sends a reading every period and applies commands, until the command stream ends.
async fn report(room: &Channel, commands: &mut Receiver<Broadcast>) {
    let mut ticker = Ticker::every(DEFAULT_PERIOD);
    loop {
        match select(ticker.next(), commands.recv()).await {
            Either::First(()) => {
                let celsius_milli = Some(TEMP_MILLI_C.load(Ordering::Relaxed)).filter(|&t| t != i32::MIN);
                let reading = Reading { celsius_milli, uptime_s: Instant::now().as_secs() };
                // A reading lost to a dropped link is not resent: the next one follows.
                let _ = with_timeout(SEND_TIMEOUT, room.send("reading", &reading)).await;
            }
            Either::Second(Some(Ok(command))) => {
                if let Some(period) = new_period(&command) {
                    println!("realtime: a reading every {} s", period.as_secs());
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

// ---------------------------------------------------------------- main
#[esp_rtos::main]
async fn main(spawner: Spawner) {
    let p = esp_hal::init(esp_hal::Config::default().with_cpu_clock(CpuClock::max()));

    // The heap: the bootloader's RAM (free once the app runs, outside the app's statics) and a
    // static array.
    esp_alloc::heap_allocator!(#[esp_hal::ram(reclaimed)] size: 64 * 1024);
    esp_alloc::heap_allocator!(size: HEAP_SIZE);

    // The scheduler (Wi-Fi's tasks) and the embassy time driver, on TIMG0.
    let timg0 = TimerGroup::new(p.TIMG0);
    esp_rtos::start(timg0.timer0, p.FROM_CPU_INTR0);

    // Wi-Fi, in station mode. Starting the radio also makes the RNG truly random.
    let station =
        StationConfig::default().with_ssid(WIFI_SSID.try_into().expect("WIFI_SSID: at most 32 bytes"));
    let station = if WIFI_PASSWORD.is_empty() {
        station.with_authentication(AuthenticationMethodConfig::Open)
    } else {
        let password = WIFI_PASSWORD.try_into().expect("WIFI_PASSWORD: at most 64 bytes");
        station.with_authentication(AuthenticationMethodConfig::Wpa2Personal(password))
    };
    // Fails only on a broken radio or Wi-Fi settings the driver refuses.
    let mut controller = WifiController::new(p.WIFI, Default::default()).unwrap();
    controller.set_config(&WifiConfig::Station(station)).unwrap();
    let device = Interface::station();

    // The chip's RNG seeds the network stack here and the client below (esp-hal's `Rng` is a
    // rand_core 0.6 `RngCore`, with its `unstable` feature).
    let mut rng = Rng::new();
    let seed = u64::from(rng.random()) << 32 | u64::from(rng.random());

    let net_config = embassy_net::Config::dhcpv4(Default::default());
    // Sockets: DHCP, DNS, and the client's two TCP sockets (WebSocket, REST).
    static STACK_RESOURCES: StaticCell<StackResources<4>> = StaticCell::new();
    let (stack, net_runner) =
        embassy_net::new(device, net_config, STACK_RESOURCES.init(StackResources::new()), seed);

    // The client: two TCP sockets (2 KiB receive, 1 KiB transmit each) in a static.
    static RESOURCES: StaticCell<Resources<2048, 1024, 2>> = StaticCell::new();
    let rt = Embassy::new(stack, RESOURCES.init(Resources::new()), &mut rng);
    #[cfg(feature = "tls")]
    let rt = {
        static TLS_RESOURCES: StaticCell<realtime_embassy::TlsResources> = StaticCell::new();
        rt.tls(TLS_RESOURCES.init(realtime_embassy::TlsResources::new()))
    };
    let mut config = realtime_embassy::Config::new(ENDPOINT, API_KEY);
    config.read_buffer = 4096;
    config.stream_capacity = 16;
    config.client.ws.max_message_len = 16 * 1024;
    config.client.ws.max_frame_len = 16 * 1024;
    #[cfg(feature = "tls")]
    {
        // The server's root CA (replace root-ca.der with your server's root).
        let root = realtime_embassy::CertificateDer::from(include_bytes!("../root-ca.der").to_vec());
        config.roots = realtime_embassy::Roots::Custom(alloc::vec![root]);
    }
    // Fails only on an endpoint or API key the client cannot use: fix the build settings.
    let (client, runner) = rt.client(config).unwrap();

    let sensor = TemperatureSensor::new(p.TSENS, tsens::Config::default()).unwrap();

    println!("{BOARD}: joining {WIFI_SSID}, then {ENDPOINT}");
    spawner.spawn(wifi_task(controller).unwrap());
    spawner.spawn(net_task(net_runner).unwrap());
    spawner.spawn(sensor_task(sensor).unwrap());
    spawner.spawn(realtime_task(runner).unwrap());
    spawner.spawn(app_task(stack, client).unwrap());
}
