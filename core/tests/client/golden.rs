//! Golden tests of the messages this part owns, through the client: exact bytes for v2 and
//! binary frames, the same JSON value for v1 objects (key order is free).

use realtime_core::Instant;
use realtime_core::client::{
    ChannelErrorReason, ChannelStatus, Client, Event, PushBody, PushOutcome, TransportCommand, TransportKind,
};
use realtime_core::phoenix::endpoint::CLIENT_INFO;
use realtime_core::phoenix::serializer::{BroadcastData, BroadcastDataRef, Payload, Vsn};
use realtime_core::supabase::channel_config::ChannelConfig;
use realtime_core::ws::Message;
use std::time::Duration;

use crate::world::World;

const T0: Instant = Instant::ZERO;

fn client(vsn: Vsn) -> Client {
    let mut config = World::config();
    config.transport = TransportKind::Messages;
    config.vsn = vsn;
    config.access_token = Some("tok".into());
    let mut c = Client::new(config, [1; 32]).unwrap();
    c.connect(T0);
    let Some(TransportCommand::Open { id, .. }) = c.poll_transport() else { panic!() };
    c.handle_transport_open(T0, id);
    c
}

fn text(c: &mut Client) -> String {
    match c.poll_message() {
        Some(Message::Text(t)) => t,
        other => panic!("{other:?}"),
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

fn join_payload() -> String {
    format!(
        r#"{{"config":{{"broadcast":{{"ack":false,"self":false}},"presence":{{"key":"","enabled":false}},"postgres_changes":[],"private":false}},"access_token":"tok","version":"{CLIENT_INFO}"}}"#
    )
}

#[test]
fn v2_frames_exact_bytes() {
    let mut c = client(Vsn::V2);
    let ch = c.channel(T0, "room1", ChannelConfig::new()).unwrap();
    c.subscribe(T0, ch).unwrap();
    assert_eq!(text(&mut c), format!(r#"["1","1","realtime:room1","phx_join",{}]"#, join_payload()));
    c.handle_message(
        T0,
        Message::Text(
            r#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{"postgres_changes":[]}}]"#
                .into(),
        ),
    );
    let payload = r#"{"type":"broadcast","event":"cursor","payload":{"x":1,"y":2}}"#;
    c.push(T0, ch, PushBody::Json { event: "broadcast".into(), payload: payload.into() }).unwrap();
    assert_eq!(text(&mut c), format!(r#"["1","2","realtime:room1","broadcast",{payload}]"#));
    c.push(
        T0,
        ch,
        PushBody::UserBroadcast {
            event: "ping".into(),
            meta: None,
            data: BroadcastData::Json(r#"{"hi":1}"#.into()),
        },
    )
    .unwrap();
    let mut want = vec![3, 1, 1, 14, 4, 0, 1];
    want.extend_from_slice(b"13realtime:room1ping{\"hi\":1}");
    assert_eq!(c.poll_message(), Some(Message::Binary(want)), "realtime-js's kind-3 layout");
    c.handle_timeout(T0 + Duration::from_secs(25));
    assert_eq!(text(&mut c), r#"[null,"4","phoenix","heartbeat",{}]"#);
    c.unsubscribe(T0, ch).unwrap();
    assert_eq!(text(&mut c), r#"["1","5","realtime:room1","phx_leave",{}]"#);
    assert_eq!(c.poll_message(), None);
}

#[test]
fn v1_frames_same_json_values() {
    let mut c = client(Vsn::V1);
    let ch = c.channel(T0, "room1", ChannelConfig::new()).unwrap();
    c.subscribe(T0, ch).unwrap();
    assert_eq!(
        json(&text(&mut c)),
        json(&format!(
            r#"{{"topic":"realtime:room1","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}}"#,
            join_payload()
        ))
    );
    c.handle_message(T0, Message::Text(r#"{"topic":"realtime:room1","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}"#.into()));
    c.push(T0, ch, PushBody::Json { event: "broadcast".into(), payload: "{}".into() }).unwrap();
    assert_eq!(
        json(&text(&mut c)),
        json(r#"{"topic":"realtime:room1","event":"broadcast","payload":{},"ref":"2","join_ref":"1"}"#)
    );
    assert!(
        c.push(
            T0,
            ch,
            PushBody::UserBroadcast { event: "e".into(), meta: None, data: BroadcastData::Binary(vec![]) }
        )
        .is_err(),
        "no binary frames on v1"
    );
    c.handle_timeout(T0 + Duration::from_secs(25));
    assert_eq!(
        json(&text(&mut c)),
        json(r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"3"}"#)
    );
}

#[test]
fn incoming_kinds_become_the_right_events() {
    let mut c = client(Vsn::V2);
    let ch = c.channel(T0, "room1", ChannelConfig::new()).unwrap();
    c.subscribe(T0, ch).unwrap();
    c.poll_message();
    c.handle_message(
        T0,
        Message::Text(r#"["1","1","realtime:room1","phx_reply",{"status":"ok","response":{}}]"#.into()),
    );
    let p = c.push(T0, ch, PushBody::Json { event: "e".into(), payload: "{}".into() }).unwrap();
    // Kind 1: a binary reply to push "2".
    let mut reply = vec![1, 1, 1, 14, 2];
    reply.extend_from_slice(b"12realtime:room1ok{\"a\":1}");
    c.handle_message(T0, Message::Binary(reply));
    // Kind 0: a binary push; kind 2: a binary broadcast; kind 4: a user broadcast (binary data).
    let mut push = vec![0, 1, 14, 3];
    push.extend_from_slice(b"1realtime:room1evt\x00\x01");
    let mut broadcast = vec![2, 14, 3];
    broadcast.extend_from_slice(b"realtime:room1evt\xff");
    let mut user = vec![4, 14, 4, 0, 0];
    user.extend_from_slice(b"realtime:room1ping\x01\x02");
    for m in [push, broadcast, user] {
        c.handle_message(T0, Message::Binary(m));
    }
    // A phx_error, then garbage.
    c.handle_message(
        T0,
        Message::Text(r#"["1","1","realtime:room1","phx_error",{"reason":"crash"}]"#.into()),
    );
    c.handle_message(T0, Message::Text("[1,2".into()));
    let events: Vec<_> = std::iter::from_fn(|| c.poll_event()).collect();
    assert_eq!(events[0], Event::Connected);
    assert_eq!(events[1], Event::Status { channel: ch, status: ChannelStatus::Subscribed });
    assert_eq!(events[2], Event::Push { channel: ch, push: p, outcome: PushOutcome::Ok("{\"a\":1}".into()) });
    let payloads: Vec<_> = events[3..6]
        .iter()
        .map(|e| match e {
            Event::Message { message, .. } => message.payload(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(payloads[0], Payload::Binary(&[0, 1]));
    assert_eq!(payloads[1], Payload::Binary(&[0xff]));
    assert!(matches!(&payloads[2], Payload::UserBroadcast(b) if b.data == BroadcastDataRef::Binary(&[1, 2])));
    assert_eq!(
        events[6],
        Event::Status {
            channel: ch,
            status: ChannelStatus::ChannelError(ChannelErrorReason::ServerError(
                r#"{"reason":"crash"}"#.into()
            ))
        }
    );
    assert!(matches!(events[7], Event::Undecodable(_)));
}
