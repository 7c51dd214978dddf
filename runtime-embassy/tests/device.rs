//! The real adapter on a host: the client on embassy-net (stack A, the device), linked in
//! memory to a gateway stack that answers DNS and forwards to the local test server, running
//! the driver's conformance scenarios that fit a device.

mod net;

use embassy_net::tcp::ConnectError;
use realtime_conformance::scenarios::Subject;
use realtime_conformance::{Harness, next, quick, until};
use realtime_embassy::{
    ChannelConfig, ClientEvent, Config, ConnectionError, Embassy, RealtimeClient, Resources, TcpError,
};
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
        let rt = Embassy::new(net::net().device, resources, &mut rand_core::OsRng);
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
        postgres_changes_reach_their_bindings,
        the_server_dropping_every_connection_is_survived,
        a_half_open_link_is_found_by_the_heartbeat,
        the_client_comes_back_after_a_restart_on_the_same_port,
        pushes_buffered_while_offline_are_written_once,
        unsubscribe_and_remove_say_how_the_leave_ended,
        shutdown_closes_politely_and_ends_every_stream,
        dropping_every_handle_closes_the_connection,
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
