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

use core::sync::atomic::{AtomicI32, Ordering};

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_time::{Duration, Timer};
use esp_backtrace as _;
use esp_hal::clock::CpuClock;
use esp_hal::rng::Rng;
use esp_hal::timer::timg::TimerGroup;
use esp_hal::tsens::{self, TemperatureSensor};
use esp_println::println;
use esp_radio::wifi::sta::StationConfig;
use esp_radio::wifi::{AuthenticationMethodConfig, Config as WifiConfig, Interface, WifiController};
use realtime_embassy::RealtimeClient;
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
/// The board's presence key on the channel.
const BOARD: &str = "esp32c3";
/// The wait before a failed step (joining the access point or the channel, tracking) is tried
/// again.
const RETRY: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------- allocator
/// The static part of the heap (in `.bss`); `main` adds the 64 KiB the bootloader used. Wi-Fi
/// takes its frame buffers, its tasks' stacks and its state from the heap (tens of KiB, more
/// under traffic); the client's high-water mark for one channel with presence is about 17 KiB
/// with these settings, 25 KiB over TLS (runtime-embassy's `tests/heap.rs`).
const HEAP_SIZE: usize = 64 * 1024;

/// Latest sensor reading in milli-degrees Celsius (`i32::MIN`: none yet).
static TEMP_MILLI_C: AtomicI32 = AtomicI32::new(realtime_firmware_app::NO_READING);

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

/// The app's notes, on the serial console.
fn note(note: realtime_firmware_app::Note) {
    use realtime_firmware_app::Note;
    match note {
        Note::NetworkUp => println!("net: up"),
        Note::Joined => println!("realtime: joined {}", realtime_firmware_app::CHANNEL),
        Note::Period(period) => println!("realtime: a reading every {} s", period.as_secs()),
    }
}

/// The client's drive loop: the WebSocket, heartbeats, reconnects.
#[embassy_executor::task]
async fn realtime_task(runner: realtime_embassy::Runner) {
    runner.run().await
}

/// The app (realtime-firmware-app): join the channel with presence, then report readings and
/// obey commands.
#[embassy_executor::task]
async fn app_task(stack: Stack<'static>, client: RealtimeClient) -> ! {
    realtime_firmware_app::run(stack, client, BOARD, env!("CARGO_PKG_VERSION"), &TEMP_MILLI_C, note).await
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

    // The client (realtime-firmware-app): its buffers in statics, `root-ca.der` as its root
    // with TLS (replace it with your server's root). Fails only on an endpoint or API key the
    // client cannot use: fix the build settings.
    let root = cfg!(feature = "tls").then_some(&include_bytes!("../root-ca.der")[..]);
    let (client, runner) = realtime_firmware_app::client(stack, &mut rng, root).unwrap();

    let sensor = TemperatureSensor::new(p.TSENS, tsens::Config::default()).unwrap();

    println!("{BOARD}: joining {WIFI_SSID}, then {}", realtime_firmware_app::ENDPOINT);
    spawner.spawn(wifi_task(controller).unwrap());
    spawner.spawn(net_task(net_runner).unwrap());
    spawner.spawn(sensor_task(sensor).unwrap());
    spawner.spawn(realtime_task(runner).unwrap());
    spawner.spawn(app_task(stack, client).unwrap());
}
