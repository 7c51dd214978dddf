//! A network for the device under test, on the host, without a TAP device or root: two
//! embassy-net stacks linked in memory by embassy-net-driver-channel. Stack A (10.42.0.1) is
//! the device, running the real adapter; stack B (10.42.0.2) is its gateway: it answers DNS
//! (every name is 10.42.0.2) and forwards each TCP connection on a port to the same port on
//! the host's 127.0.0.1, where the local test server listens.
//!
//! Everything runs on the test thread's [`LocalExecutor`]: embassy-net's `Stack` is not
//! `Send`. The waits of the scenarios run on a timer thread, the server on its own.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::net::{Ipv4Addr, TcpStream};

use async_executor::LocalExecutor;
use async_io::Async;
use embassy_net::driver::HardwareAddress;
use embassy_net::tcp::TcpSocket;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{Config, Ipv4Cidr, Stack, StackResources, StaticConfigV4};
use embassy_net_driver_channel::{RxRunner, State, TxRunner};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};

/// The device's address.
pub(crate) const DEVICE: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 1);
/// The gateway's: where every name resolves.
pub(crate) const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 42, 0, 2);
/// The name the scenarios' `127.0.0.1` becomes, so that every connection is resolved first.
pub(crate) const SERVER_NAME: &str = "server.test";

const MTU: usize = 1500;
/// Sockets per stack: the busiest scenario has 21 clients of two sockets each.
const SOCKETS: usize = 96;
/// Listening sockets per forwarded port, so that a connection arriving while one of them
/// hands over its last still finds one listening.
const LISTENERS: usize = 4;
/// The gateway's buffers per forwarded connection.
const BRIDGE_BUFFER: usize = 8 * 1024;

thread_local! {
    static EXECUTOR: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    static NET: &'static Net = Net::start();
}

/// The test thread's executor.
pub(crate) fn executor() -> &'static LocalExecutor<'static> {
    EXECUTOR.with(|e| *e)
}

/// Runs `fut` on the test thread's executor, with the network's tasks beside it.
pub(crate) fn run<F: Future>(fut: F) -> F::Output {
    future::block_on(executor().run(fut))
}

/// Spawns `fut` on the test thread's executor.
pub(crate) fn spawn(fut: impl Future<Output = ()> + 'static) {
    executor().spawn(fut).detach();
}

/// The device's network (started on the thread's first use).
pub(crate) fn net() -> &'static Net {
    NET.with(|n| *n)
}

/// The two stacks and the ports the gateway forwards.
pub(crate) struct Net {
    /// The device's stack: what the client under test runs on.
    pub(crate) device: Stack<'static>,
    gateway: Stack<'static>,
    forwarded: RefCell<HashSet<u16>>,
    /// DNS questions answered.
    pub(crate) dns_answers: Cell<usize>,
}

impl Net {
    fn start() -> &'static Net {
        let device = stack(DEVICE, 1);
        let gateway = stack(GATEWAY, 2);
        let (a, b) = (device.1, gateway.1);
        let (_, a_rx, a_tx) = a.split();
        let (_, b_rx, b_tx) = b.split();
        spawn(pump(a_tx, b_rx));
        spawn(pump(b_tx, a_rx));
        let net: &'static Net = Box::leak(Box::new(Net {
            device: device.0,
            gateway: gateway.0,
            forwarded: RefCell::new(HashSet::new()),
            dns_answers: Cell::new(0),
        }));
        spawn(dns(net));
        net
    }

    /// Makes the gateway forward `port` to the host (once per port).
    pub(crate) fn forward(&'static self, port: u16) {
        if self.forwarded.borrow_mut().insert(port) {
            for _ in 0..LISTENERS {
                spawn(listen(self.gateway, port));
            }
        }
    }
}

/// A stack with a static address on a fresh in-memory link; its runner is spawned.
fn stack(address: Ipv4Addr, seed: u64) -> (Stack<'static>, embassy_net_driver_channel::Runner<'static, MTU>) {
    let state = Box::leak(Box::new(State::<MTU, 8, 8>::new()));
    let (link, driver) = embassy_net_driver_channel::new(state, HardwareAddress::Ip);
    link.state_runner().set_link_state(embassy_net::driver::LinkState::Up);
    let mut dns_servers = heapless::Vec::new();
    dns_servers.push(GATEWAY).expect("room for one DNS server");
    let config = Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(address, 24),
        gateway: None,
        dns_servers,
    });
    let resources = Box::leak(Box::new(StackResources::<SOCKETS>::new()));
    let (stack, mut runner) = embassy_net::new(driver, config, resources, seed);
    spawn(async move { runner.run().await });
    (stack, link)
}

/// Copies every packet one side sends to the other side's receive queue.
async fn pump(mut from: TxRunner<'static, MTU>, mut to: RxRunner<'static, MTU>) {
    loop {
        let packet = from.tx_buf().await;
        let len = packet.len();
        let into = to.rx_buf().await;
        into[..len].copy_from_slice(packet);
        to.rx_done(len);
        from.tx_done();
    }
}

/// Answers every DNS question for an A record with the gateway's address.
async fn dns(net: &'static Net) {
    let (mut rx_meta, mut tx_meta) = ([PacketMetadata::EMPTY; 4], [PacketMetadata::EMPTY; 4]);
    let (mut rx, mut tx) = ([0u8; 512], [0u8; 512]);
    let mut socket = UdpSocket::new(net.gateway, &mut rx_meta, &mut rx, &mut tx_meta, &mut tx);
    socket.bind(53).expect("port 53 on the gateway");
    let mut buf = [0u8; 512];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else { continue };
        if let Some(answer) = dns_answer(&buf[..n]) {
            net.dns_answers.set(net.dns_answers.get() + 1);
            let _ = socket.send_to(&answer, from.endpoint).await;
        }
    }
}

/// The answer to one question (RFC 1035): the question echoed, then one A record (for an A
/// question) pointing at its name.
fn dns_answer(query: &[u8]) -> Option<Vec<u8>> {
    let mut end = 12;
    while *query.get(end)? != 0 {
        end += 1 + usize::from(query[end]);
    }
    let question = query.get(12..end + 5)?;
    let is_a = question[question.len() - 4..] == [0, 1, 0, 1];
    let mut answer = Vec::with_capacity(64);
    answer.extend_from_slice(&query[..2]);
    answer.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    answer.extend_from_slice(question);
    if is_a {
        answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        answer.extend_from_slice(&GATEWAY.octets());
    }
    Some(answer)
}

/// Accepts connections on `port` of the gateway, one after another, forwarding each.
async fn listen(gateway: Stack<'static>, port: u16) {
    loop {
        let rx = Box::leak(vec![0; BRIDGE_BUFFER].into_boxed_slice());
        let tx = Box::leak(vec![0; BRIDGE_BUFFER].into_boxed_slice());
        let mut socket = TcpSocket::new(gateway, rx, tx);
        if socket.accept(port).await.is_err() {
            continue;
        }
        spawn(bridge(socket, port));
    }
}

/// Copies both ways between a connection of the device and one to the host, until either
/// side ends; then both are closed (the device's with a reset, as a dropped server's would).
async fn bridge(mut socket: TcpSocket<'static>, port: u16) {
    let Ok(host) = Async::<TcpStream>::connect((Ipv4Addr::LOCALHOST, port)).await else {
        socket.abort();
        let _ = socket.flush().await;
        return;
    };
    let _ = host.get_ref().set_nodelay(true);
    {
        let (mut from_device, mut to_device) = socket.split();
        let up = async {
            let mut buf = [0u8; 2048];
            loop {
                match from_device.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if (&host).write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                }
            }
        };
        let down = async {
            let mut buf = [0u8; 2048];
            loop {
                match (&host).read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let mut at = 0;
                        while at < n {
                            match to_device.write(&buf[at..n]).await {
                                Ok(w) => at += w,
                                Err(_) => return,
                            }
                        }
                    }
                }
            }
            let _ = to_device.flush().await;
        };
        future::or(up, down).await;
    }
    socket.abort();
    let _ = socket.flush().await;
}

/// The URL `url` (of the local server, on 127.0.0.1) as the device reaches it, and its port.
pub(crate) fn through_gateway(url: &str) -> (String, Option<u16>) {
    let url = url.replacen("://127.0.0.1:", &format!("://{SERVER_NAME}:"), 1);
    let port = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|authority| authority.rsplit_once(':'))
        .and_then(|(_, port)| port.parse().ok());
    (url, port)
}
