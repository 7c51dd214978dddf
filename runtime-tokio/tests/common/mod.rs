//! Helpers shared by the loopback test binaries (each `tests/*.rs` uses what it needs).
#![allow(dead_code)]

use std::time::Duration;

use realtime_core::phoenix::backoff::Backoff;
use realtime_testkit::{Observed, Server};
use realtime_tokio::{ChannelStatus, Config, ConnectionState, RealtimeClient, Receiver};

/// A guard against hanging, not a timing claim.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The next item of a stream, within the guard.
pub(crate) async fn next<T>(rx: &mut Receiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv()).await.expect("an item in time").expect("the stream is open")
}

/// The first item `want` accepts (earlier ones are skipped), within the guard.
pub(crate) async fn until<T: std::fmt::Debug>(
    rx: &mut Receiver<T>,
    what: &str,
    want: impl Fn(&T) -> bool,
) -> T {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let item = rx.recv().await.expect("the stream is open");
            if want(&item) {
                return item;
            }
            skipped.push(format!("{item:?}"));
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no {what} within {WAIT:?}; skipped {skipped:#?}"))
}

/// The next `Subscribed` on a status stream.
pub(crate) async fn subscribed(statuses: &mut Receiver<ChannelStatus>) {
    until(statuses, "Subscribed", |s| *s == ChannelStatus::Subscribed).await;
}

/// Waits (within the guard) until `cond` holds, looking again every few milliseconds: for
/// state only visible by asking (the server's socket count, what it observed).
pub(crate) async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let found = tokio::time::timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(found.is_ok(), "{what}: not within {WAIT:?}");
}

/// Waits (within the guard) until the connection state satisfies `want`.
pub(crate) async fn state_until(
    client: &RealtimeClient,
    what: &str,
    want: impl Fn(&ConnectionState) -> bool,
) {
    let mut rx = client.connection_state();
    let got = tokio::time::timeout(WAIT, async { rx.wait_for(|s| want(s)).await.is_ok() }).await;
    match got {
        Ok(true) => {}
        Ok(false) => panic!("{what}: the client is gone"),
        Err(_) => panic!("{what}: not within {WAIT:?}; the state is {:?}", *rx.borrow()),
    }
}

/// A client config whose retries are short, so recovery tests do not wait out the default
/// 1, 2, 5, 10 s schedule (the schedule itself is the core's simulation's to test).
pub(crate) fn quick(url: &str) -> Config {
    let mut config = Config::new(url, "anon");
    let steps = vec![Duration::from_millis(50), Duration::from_millis(100), Duration::from_millis(200)];
    config.client.reconnect = Backoff::new(steps.clone()).expect("steps");
    config.client.rejoin = Backoff::new(steps).expect("steps");
    config
}

pub(crate) fn client(server: &Server) -> RealtimeClient {
    RealtimeClient::new(Config::new(server.url(), "anon")).unwrap()
}

/// The frames the server observed with this event (and full topic, such as `realtime:room` or
/// `phoenix`, when given).
pub(crate) fn frames(server: &Server, topic: Option<&str>, event: &str) -> Vec<Observed> {
    server
        .observed()
        .into_iter()
        .filter(|o| o.message.event == event && topic.is_none_or(|t| o.message.topic == t))
        .collect()
}

/// How many user broadcasts with this user event the server observed.
pub(crate) fn broadcasts_seen(server: &Server, user_event: &str) -> usize {
    server
        .observed()
        .iter()
        .filter(|o| {
            o.message.user_broadcast.as_ref().is_some_and(|b| b.event == user_event)
                || (o.message.event == "broadcast" && o.message.payload["event"] == user_event)
        })
        .count()
}

/// The Unix time in seconds.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}
