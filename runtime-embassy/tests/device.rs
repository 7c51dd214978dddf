//! The real adapter on a host: the client on embassy-net (stack A, the device), linked in
//! memory to a gateway stack that answers DNS and forwards to the local test server, running
//! the driver's conformance scenarios that fit a device.

mod net;

use embassy_net::tcp::ConnectError;
use std::time::Duration;

use realtime_conformance::scenarios::Subject;
use realtime_conformance::{Harness, eventually, next, quick, until, within};
use realtime_embassy::{
    ChannelConfig, ChannelStatus, ClientEvent, Config, ConnectionEnd, ConnectionError, DEFAULT_TLS_READ,
    DEFAULT_TLS_WRITE, Embassy, PresenceEvent, RealtimeClient, Resources, Roots, TcpError, TlsFailure,
    TlsResources,
};
use realtime_testkit::Config as ServerConfig;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

/// The client under test, on the device's stack, with buffers as a firmware would give.
struct Device;

impl Subject for Device {
    type R = Embassy;
    fn config(mut config: Config) -> Config {
        let (url, port) = net::through_gateway(&config.client.endpoint);
        if let Some(port) = port {
            net::net().forward(port);
        }
        config.client.endpoint = url;
        config
    }
    fn client(config: Config) -> RealtimeClient {
        let resources = Box::leak(Box::new(Resources::<4096, 2048, 2>::new()));
        let tls = Box::leak(Box::new(TlsResources::<DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, 2>::new()));
        let rt = Embassy::new(net::net().device, resources, &mut rand_core::OsRng).tls(tls);
        let (client, runner) = rt.client(config).expect("a client");
        net::spawn(runner.run());
        client
    }
}

realtime_conformance::suite!(
    block_on = net::run,
    subject = Device,
    only = [
        subscribe_reports_the_connection,
        broadcasts_go_both_ways_with_acks_binary_and_rest,
        a_room_larger_than_the_stream_lags_then_syncs,
        tls_with_the_servers_certificate_as_root,
        postgres_changes_reach_their_bindings,
        the_server_dropping_every_connection_is_survived,
        a_half_open_link_is_found_by_the_heartbeat,
        the_client_comes_back_after_a_restart_on_the_same_port,
        pushes_buffered_while_offline_are_written_once,
        unsubscribe_and_remove_say_how_the_leave_ended,
        shutdown_closes_politely_and_ends_every_stream,
        dropping_every_handle_closes_the_connection,
        a_plain_phoenix_server_is_served,
        compressed_end_to_end,
    ]
);

/// A client on the device with `resources`, its runner spawned.
fn device_client<const RX: usize, const TX: usize, const N: usize>(
    config: Config,
    resources: Resources<RX, TX, N>,
) -> RealtimeClient {
    let rt = Embassy::new(net::net().device, Box::leak(Box::new(resources)), &mut rand_core::OsRng);
    let (client, runner) = rt.client(config).expect("a client");
    net::spawn(runner.run());
    client
}

/// Every connection was resolved by embassy-net's DNS first (the server's name is asked of
/// the gateway), then connected.
#[test]
fn the_server_name_is_resolved_by_embassy_net_dns() {
    net::run(async {
        let h = Harness::plain();
        let c = device_client(Device::config(quick(&h.url())), Resources::<2048, 1024, 1>::new());
        let room = c.channel("dns", ChannelConfig::new()).await.unwrap();
        room.subscribe().await.unwrap();
        assert!(net::net().dns_answers.get() >= 1, "the name was asked of the gateway");
        assert_eq!(h.frames(Some("realtime:dns"), "phx_join").len(), 1);
    });
}

/// A port nobody listens on (the gateway forwards none there) answers with a reset: a typed connect error whose source is the
/// adapter's `TcpError` and says so in words.
#[test]
fn a_refused_connection_is_a_typed_tcp_error() {
    net::run(async {
        let c = device_client(quick("ws://server.test:9/socket"), Resources::<2048, 1024, 1>::new());
        let mut events = c.events();
        c.connect().unwrap();
        let lost =
            until(&mut events, "the failed attempt", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
        let ClientEvent::Disconnected { reason: ConnectionError::Connect(io), .. } = &lost else {
            panic!("a connect error: {lost:?}")
        };
        let tcp = io.get_ref().downcast_ref::<TcpError>();
        assert!(matches!(tcp, Some(TcpError::Connect(ConnectError::ConnectionReset))), "{io:?}");
        assert_eq!(io.to_string(), "the connection was refused");
    });
}

/// With one socket, the WebSocket holds it: a REST request beside it fails with a typed
/// error, and the socket comes back to the pool after a reconnect.
#[test]
fn a_rest_request_without_a_free_socket_is_refused_in_words() {
    net::run(async {
        let h = Harness::plain();
        let c = device_client(Device::config(quick(&h.url())), Resources::<2048, 1024, 1>::new());
        let mut events = c.events();
        let room = c.channel("one-socket", ChannelConfig::new().broadcast_self(true)).await.unwrap();
        let mut echo = room.on_broadcast("*").await;
        room.subscribe().await.unwrap();
        let refused = room.http_send("over-rest", &json!({}), false).await.unwrap_err();
        assert!(format!("{refused:?}").contains("NoFreeSocket"), "{refused:?}");
        // The socket is reused across connections: drop the link, come back, talk.
        assert_eq!(h.server().drop_all_connections(), 1);
        until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
        room.send("after", &json!({"n": 1})).await.unwrap();
        assert_eq!(next(&mut echo).await.event, "after");
    });
}

/// The local server with TLS (its certificate names `localhost`), the URL the device uses,
/// and the certificate to trust.
fn tls_server() -> (Harness, Config, CertificateDer<'static>) {
    let h = Harness::start(ServerConfig { tls: true, ..ServerConfig::default() });
    let url = format!("wss://localhost:{}/realtime/v1", h.server().addr().port());
    let cert = CertificateDer::from_pem_slice(h.server().ca_pem().expect("a TLS server").as_bytes()).unwrap();
    let mut config = Device::config(quick(&url));
    config.roots = Roots::Custom(vec![cert.clone()]);
    (h, config, cert)
}

/// Over TLS: subscribe, presence, broadcasts both ways, a missed heartbeat, the server
/// dropping the link and the rejoin, and a polite close that ends in a close_notify.
#[test]
fn a_session_over_tls_survives_a_dead_heartbeat_and_a_dropped_link() {
    net::run(async {
        let (h, mut config, _) = tls_server();
        config.client = config.client.heartbeat(Duration::from_millis(300));
        let a = Device::client(config.clone());
        let b = Device::client(config);
        let mut events = a.events();
        let room_a =
            a.channel("vault", ChannelConfig::new().presence_key("a").broadcast_ack(true)).await.unwrap();
        let room_b = b.channel("vault", ChannelConfig::new().presence_key("b")).await.unwrap();
        let mut presence = room_a.on_presence().await;
        let mut at_a = room_a.on_broadcast("*").await;
        let mut at_b = room_b.on_broadcast("*").await;
        room_a.subscribe().await.unwrap();
        room_b.subscribe().await.unwrap();
        room_b.track(&json!({"role": "b"})).await.unwrap();
        until(&mut presence, "b's join", |p| matches!(p, PresenceEvent::Join { key, .. } if key == "b"))
            .await;
        room_a.send("ping", &json!({"n": 1})).await.unwrap();
        assert_eq!(next(&mut at_b).await.event, "ping");
        // A message larger than a TLS pipe and a record write buffer goes through whole.
        let big = "x".repeat(10_000);
        room_b.send("big", &json!({ "text": big })).await.unwrap();
        let got = next(&mut at_a).await;
        assert_eq!(got.json::<serde_json::Value>().unwrap()["text"].as_str().map(str::len), Some(10_000));
        h.server().set_heartbeat_replies(false);
        let lost = until(&mut events, "the drop", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
        assert!(
            matches!(
                &lost,
                ClientEvent::Disconnected {
                    reason: ConnectionError::Ended(ConnectionEnd::HeartbeatTimeout),
                    ..
                }
            ),
            "{lost:?}"
        );
        h.server().set_heartbeat_replies(true);
        until(&mut events, "the reconnect", |e| matches!(e, ClientEvent::Reconnected { .. })).await;
        let mut statuses = room_a.statuses().await;
        h.server().drop_all_connections();
        until(&mut events, "the reconnect after the drop", |e| matches!(e, ClientEvent::Reconnected { .. }))
            .await;
        until(&mut statuses, "rejoined", |s| *s == ChannelStatus::Subscribed).await;
        room_b.send("back", &json!({})).await.unwrap();
        until(&mut at_a, "b's message after the rejoin", |m| m.event == "back").await;
        a.shutdown().await.unwrap();
        eventually("the server saw the close", || h.server().connections() == 1).await;
    });
}

/// A server whose certificate the roots do not hold is refused with a typed TLS error that
/// says why in words; default roots are refused up front (a device has only its own).
#[test]
fn an_untrusted_server_is_refused_with_a_typed_tls_error() {
    net::run(async {
        let (_h, mut config, _) = tls_server();
        let (_other, _, stranger) = tls_server();
        config.roots = Roots::Custom(vec![stranger]);
        let c = Device::client(config.clone());
        let mut events = c.events();
        c.connect().unwrap();
        let lost = until(&mut events, "the refusal", |e| matches!(e, ClientEvent::Disconnected { .. })).await;
        let ClientEvent::Disconnected { reason: ConnectionError::Tls(io), .. } = &lost else {
            panic!("a TLS error: {lost:?}")
        };
        let failure = io.get_ref().downcast_ref::<TlsFailure>().expect("the adapter's TLS error");
        assert!(matches!(failure.0, embedded_tls::TlsError::InvalidCertificate), "{failure:?}");
        assert!(io.to_string().starts_with("the server's certificate is not trusted"), "{io}");

        config.roots = Roots::WebPki;
        let rt = Embassy::new(
            net::net().device,
            Box::leak(Box::new(Resources::<2048, 1024, 1>::new())),
            &mut rand_core::OsRng,
        )
        .tls(Box::leak(Box::new(TlsResources::<DEFAULT_TLS_READ, DEFAULT_TLS_WRITE, 1>::new())));
        let refused = rt.client(config).unwrap_err();
        assert!(matches!(refused, realtime_embassy::Error::Tls(_)), "{refused:?}");
    });
}

/// Broadcasts forwarded into an embassy-sync channel over a critical-section mutex (which a
/// task of another executor could read) arrive whole and in order, and the forwarding ends
/// with the stream.
#[test]
fn broadcasts_are_forwarded_into_an_embassy_sync_channel() {
    static READINGS: embassy_sync::channel::Channel<
        embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex,
        Result<realtime_embassy::Broadcast, realtime_embassy::Lagged>,
        4,
    > = embassy_sync::channel::Channel::new();
    net::run(async {
        let h = Harness::plain();
        let c = Device::client(Device::config(quick(&h.url())));
        let room = c.channel("forwarded", ChannelConfig::new().broadcast_self(true)).await.unwrap();
        let readings = room.on_broadcast("reading").await;
        room.subscribe().await.unwrap();
        net::spawn(async move {
            realtime_embassy::forward(readings, READINGS.sender()).await;
            READINGS.send(Err(realtime_embassy::Lagged { missed: u64::MAX })).await;
        });
        for i in 0..10 {
            room.send("reading", &json!({ "seq": i })).await.unwrap();
        }
        for i in 0..10 {
            let got = within("a forwarded reading", READINGS.receive()).await.unwrap();
            assert_eq!(got.json::<serde_json::Value>().unwrap()["seq"], i);
        }
        room.remove().await.unwrap();
        let end = within("the end of the forwarding", READINGS.receive()).await;
        assert!(matches!(end, Err(realtime_embassy::Lagged { missed: u64::MAX })), "{end:?}");
    });
}
