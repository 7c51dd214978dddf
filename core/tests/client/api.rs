//! The client's commands and getters for runtimes: the connect target, handle claims, the
//! close code of a disconnect, and what `subscribe` answers.

use realtime_core::phoenix::client::{Client, ClientConfig, ConfigError, Target, TransportCommand};
use realtime_core::phoenix::endpoint::EndpointError;

#[test]
fn the_target_is_parsed_once_and_rides_every_open() {
    let client = Client::new(ClientConfig::new("https://p.supabase.co/realtime/v1", "k"), [0; 32]).unwrap();
    assert_eq!(
        client.target(),
        &Target {
            host: "p.supabase.co".into(),
            port: 443,
            tls: true,
            path: "/realtime/v1/websocket?apikey=k&vsn=2.0.0".into()
        }
    );
    let mut client =
        Client::new(ClientConfig::new("ws://[::1]:4000/socket/websocket", "k"), [0; 32]).unwrap();
    assert_eq!(
        (client.target().host.as_str(), client.target().port, client.target().tls),
        ("::1", 4000, false)
    );
    client.connect(realtime_core::Instant::ZERO);
    let Some(TransportCommand::Open { target, .. }) = client.poll_transport() else { panic!("no open") };
    assert_eq!(&target, client.target());
}

#[test]
fn an_unusable_endpoint_fails_construction() {
    for endpoint in
        ["ftp://h/realtime/v1", "https://", "ws://:80/x", "ws://h:99999", "ws://h:0/", "ws://u@/x"]
    {
        let err = Client::new(ClientConfig::new(endpoint, "k"), [0; 32]).unwrap_err();
        assert_eq!(err, ConfigError::Endpoint(EndpointError::InvalidBase), "{endpoint}");
    }
}
