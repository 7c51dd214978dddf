//! NUCLEO-F767ZI on Supabase Realtime, over Ethernet with realtime-embassy.
//!
//! - 216 MHz from the ST-LINK's 8 MHz MCO (HSE bypass), 48 MHz from PLLQ for the RNG
//! - Ethernet (RMII, LAN8742A through the generic SMI PHY), embassy-net with DHCPv4 and DNS
//! - the hardware RNG seeds the network stack and the client
//! - a global allocator (embedded-alloc LLFF) on a 32 KiB static heap, for the client's state
//! - the internal temperature sensor on ADC1, read every second
//! - the Realtime client: joins `sensors` with presence (key `nucleo-f767zi`), broadcasts a
//!   `reading` every 5 s, and obeys `command` broadcasts (`{"set":"interval","seconds":N}`)
//!
//! The endpoint and API key are read at build time from `REALTIME_URL` and
//! `REALTIME_API_KEY` (see the README).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicI32, Ordering};

use embassy_executor::Spawner;
use embassy_net::{Stack, StackResources};
use embassy_stm32::adc::{Adc, SampleTime};
use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ADC1, ETH, ETH_SMA};
use embassy_stm32::rng::{self, Rng};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, peripherals};
use embassy_time::Timer;
use embedded_alloc::LlffHeap as Heap;
use panic_halt as _;
use realtime_embassy::RealtimeClient;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

type Device = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

// ---------------------------------------------------------------- settings

/// The board's presence key on the channel.
const BOARD: &str = "nucleo-f767zi";

// ---------------------------------------------------------------- allocator
#[global_allocator]
static HEAP: Heap = Heap::empty();
/// The client's high-water mark for one channel with presence is about 17 KiB with these
/// settings (runtime-embassy's `tests/heap.rs`).
const HEAP_SIZE: usize = 32 * 1024;
static mut HEAP_MEM: [MaybeUninit<u8>; HEAP_SIZE] = [MaybeUninit::uninit(); HEAP_SIZE];

/// Latest sensor reading in milli-degrees Celsius (`i32::MIN`: none yet).
static TEMP_MILLI_C: AtomicI32 = AtomicI32::new(realtime_firmware_app::NO_READING);

// ---------------------------------------------------------------- tasks
#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, Device>) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn sensor_task(mut adc: Adc<'static, ADC1>) -> ! {
    let mut temp = adc.enable_temperature();
    // Datasheet (DS11532): startup <= 10 us.
    Timer::after_micros(20).await;
    loop {
        let raw = adc.blocking_read(&mut temp, SampleTime::CYCLES480) as i32;
        // V = raw * 3300 / 4095 mV ; T = (V - 760 mV) / 2.5 mV/°C + 25 °C
        let mv = raw * 3300 / 4095;
        let milli_c = (mv - 760) * 400 + 25_000;
        TEMP_MILLI_C.store(milli_c, Ordering::Relaxed);
        Timer::after_secs(1).await;
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
    realtime_firmware_app::run(stack, client, BOARD, env!("CARGO_PKG_VERSION"), &TEMP_MILLI_C, |_| {}).await
}

// ---------------------------------------------------------------- main
#[embassy_executor::main]
async fn main(spawner: Spawner) {
    // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
    unsafe { HEAP.init(&raw mut HEAP_MEM as usize, HEAP_SIZE) }

    let mut config = embassy_stm32::Config::default();
    {
        use embassy_stm32::rcc::*;
        // NUCLEO-F767ZI: 8 MHz MCO from the ST-LINK on PH0 (HSE bypass).
        config.rcc.hse = Some(Hse { freq: Hertz(8_000_000), mode: HseMode::Bypass });
        config.rcc.pll_src = PllSource::HSE;
        config.rcc.pll = Some(Pll {
            prediv: PllPreDiv::DIV4,   // 2 MHz
            mul: PllMul::MUL216,       // 432 MHz VCO
            divp: Some(PllPDiv::DIV2), // 216 MHz SYSCLK
            divq: Some(PllQDiv::DIV9), // 48 MHz for RNG / USB
            divr: None,
        });
        config.rcc.ahb_pre = AHBPrescaler::DIV1;
        config.rcc.apb1_pre = APBPrescaler::DIV4; // 54 MHz
        config.rcc.apb2_pre = APBPrescaler::DIV2; // 108 MHz
        config.rcc.sys = Sysclk::PLL1_P;
        config.rcc.mux.clk48sel = mux::Clk48sel::PLL1_Q;
    }
    let p = embassy_stm32::init(config);

    // The hardware RNG seeds the network stack here and the client below.
    let mut rng = Rng::new(p.RNG, Irqs);
    let mut seed = [0u8; 8];
    rng.fill_bytes(&mut seed);
    let seed = u64::from_le_bytes(seed);

    // Locally administered MAC derived from the 96-bit unique ID.
    let uid = embassy_stm32::uid::uid();
    let mac_addr = [0x02, 0x00, uid[0], uid[4], uid[8], uid[11]];

    static PACKETS: StaticCell<PacketQueue<4, 4>> = StaticCell::new();
    // RMII pins as on the NUCLEO-144 (see embassy examples/stm32f7 eth.rs).
    let device = Ethernet::new(
        PACKETS.init(PacketQueue::<4, 4>::new()),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac_addr,
        p.ETH_SMA,
        p.PA2, // MDIO
        p.PC1, // MDC
    );

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

    spawner.spawn(net_task(net_runner).unwrap());
    spawner.spawn(sensor_task(Adc::new(p.ADC1)).unwrap());
    spawner.spawn(realtime_task(runner).unwrap());
    spawner.spawn(app_task(stack, client).unwrap());
}
