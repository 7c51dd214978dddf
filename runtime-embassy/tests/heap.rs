//! The heap a device needs: the high-water mark of the client's allocations during a session
//! of one channel with presence (join, track, a peer's presence and broadcasts both ways, a
//! dropped link and the rejoin), with the settings a small device would pick.
//!
//! Allocations are counted on the test thread while the client's futures are polled (the
//! runner and the app's calls); the gateway, the links and the server are not the device's.

mod net;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use realtime_conformance::{Harness, next, quick, until};
use realtime_embassy::{
    ChannelConfig, ChannelStatus, ClientEvent, Config, DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, Embassy,
    PresenceEvent, Resources, Roots, TlsResources,
};
use realtime_testkit::Config as ServerConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

/// The settings of a small device: reads of at most 4 KiB, messages of at most 16 KiB, 16
/// items per stream.
fn device_config(url: &str) -> Config {
    let mut config = quick(url);
    config.read_buffer = 4096;
    config.stream_capacity = 16;
    config.client.ws.max_message_len = 16 * 1024;
    config.client.ws.max_frame_len = 16 * 1024;
    config
}

/// What a firmware reserves for the heap, of the 64 KiB goal for static RAM and heap; the
/// test fails if the client needs more.
const HEAP_BUDGET: isize = 24 * 1024;
/// The same with TLS.
const TLS_HEAP_BUDGET: isize = 36 * 1024;

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    let _ = ON.try_with(|on| {
        if on.get() {
            let live = LIVE.get() + delta;
            LIVE.set(live);
            PEAK.set(PEAK.get().max(live));
        }
    });
}

// SAFETY: every call goes to the system allocator unchanged; the counting beside it touches
// only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc`, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract for `realloc`, passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A future whose polls are counted.
struct Counted<F>(F);

impl<F: Future> Future for Counted<F> {
    type Output = F::Output;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        ON.set(true);
        // SAFETY: `F` is pinned in place as the field of a pinned struct, never moved out.
        let out = unsafe { self.map_unchecked_mut(|c| &mut c.0) }.poll(cx);
        ON.set(false);
        out
    }
}

#[test]
fn one_channel_with_presence_fits_the_heap_budget() {
    let peak = session(false);
    assert!(peak < HEAP_BUDGET, "the client needed {peak} bytes of heap, over the {HEAP_BUDGET} budget");
}

/// With TLS the connection's pump adds its state (the TLS connection, and during the
/// handshake the verifier's copy of the chain); the record buffers are static.
#[test]
fn one_channel_with_presence_over_tls_fits_the_heap_budget() {
    let peak = session(true);
    assert!(
        peak < TLS_HEAP_BUDGET,
        "the client needed {peak} bytes of heap, over the {TLS_HEAP_BUDGET} budget"
    );
}

/// The session of one channel with presence; returns the client's heap high-water mark.
fn session(tls: bool) -> isize {
    let h = Harness::start(ServerConfig { tls, ..ServerConfig::default() });
    let url = if tls { format!("wss://localhost:{}/realtime/v1", h.server().addr().port()) } else { h.url() };
    let (url, port) = net::through_gateway(&url);
    net::net().forward(port.expect("a port"));
    let roots = h.server().ca_pem().map(|pem| vec![CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()]);
    let device_config = |url: &str| {
        let mut config = device_config(url);
        if let Some(roots) = &roots {
            config.roots = Roots::Custom(roots.clone());
        }
        config
    };
    let with_tls = |rt: Embassy| {
        rt.tls(Box::leak(Box::new(TlsResources::<DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, 1>::new())))
    };
    // A peer on the host: its presence and broadcasts reach the device.
    let peer = net::run(async {
        let rt = Embassy::new(
            net::net().device,
            Box::leak(Box::new(Resources::<4096, 2048, 1>::new())),
            &mut rand_core::OsRng,
        );
        let (peer, runner) = with_tls(rt).client(device_config(&url)).expect("a peer");
        net::spawn(runner.run());
        let room = peer.channel("lab", ChannelConfig::new().presence_key("peer")).await.unwrap();
        room.subscribe().await.unwrap();
        room.track(&json!({"role": "peer"})).await.unwrap();
        (peer, room)
    });
    // The socket buffers are a firmware's static, not heap.
    let resources = Box::leak(Box::new(Resources::<4096, 2048, 2>::new()));
    let tls_resources = Box::leak(Box::new(TlsResources::<DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, 1>::new()));
    let peak = net::run(Counted(async {
        let rt = Embassy::new(net::net().device, resources, &mut rand_core::OsRng).tls(tls_resources);
        let (client, runner) = rt.client(device_config(&url)).expect("a client");
        net::spawn(Counted(runner.run()));
        let mut events = client.events();
        let room = client.channel("lab", ChannelConfig::new().presence_key("board-7")).await.unwrap();
        let mut statuses = room.statuses().await;
        let mut presence = room.on_presence().await;
        let mut commands = room.on_broadcast("command").await;
        room.subscribe().await.unwrap();
        room.track(&json!({"sensor": "temperature", "firmware": "0.1.0"})).await.unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            if let PresenceEvent::Join { key, .. } = next(&mut presence).await {
                seen.push(key);
            }
        }
        seen.sort();
        assert_eq!(seen, ["board-7", "peer"]);
        for i in 0..20 {
            room.send("reading", &json!({"celsius": 21.5 + f64::from(i) / 10.0, "seq": i})).await.unwrap();
        }
        peer.1.send("command", &json!({"set": "interval", "seconds": 5})).await.unwrap();
        assert_eq!(next(&mut commands).await.event, "command");
        assert_eq!(h.server().drop_all_connections(), 2);
        until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
        until(&mut statuses, "rejoined", |s| *s == ChannelStatus::Subscribed).await;
        room.send("reading", &json!({"celsius": 22.0, "seq": 20})).await.unwrap();
        PEAK.get()
    }));
    let how = if tls { "over TLS" } else { "plain" };
    println!("heap high-water mark of the client, {how}: {peak} bytes ({:.1} KiB)", peak as f64 / 1024.0);
    assert!(peak > 0, "the client's allocations were counted");
    drop(peer);
    peak
}

/// The runner is what an embassy task holds (its arena is static): the drive loop's state,
/// buffers excluded (they are on the heap and counted above).
#[test]
fn the_runner_fits_a_small_task() {
    let size = size_of::<realtime_embassy::Runner>();
    println!("runner: {size} bytes");
    assert!(size <= 640, "the runner takes {size} bytes");
}
