//! A channel's configuration and the `phx_join` payload it produces (spec A.5, A.6).
//!
//! The payload is what realtime-js sends: `{"config":{"broadcast":{...},"presence":{...},
//! "postgres_changes":[...],"private":...},"access_token":...,"version":...}`.

use alloc::string::String;
use core::time::Duration;

use serde::Serialize;

use super::postgres::{Binding, Bindings};
use crate::phoenix::endpoint::CLIENT_INFO;

/// How long `Subscribed` waits for the server's "Subscribed to PostgreSQL" by default in the
/// ready mode (realtime-js's `postgres_changes_options.timeout`).
pub const DEFAULT_POSTGRES_READY_TIMEOUT: Duration = Duration::from_secs(15);

/// What a channel asks of the server when it joins. Two handles to one topic must agree on it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ChannelConfig {
    broadcast: BroadcastConfig,
    presence: PresenceConfig,
    postgres_changes: Bindings,
    private: bool,
    /// Client-side: replay what was missed after a reconnect (not sent to the server).
    #[serde(skip)]
    auto_replay: bool,
    /// Client-side: hold `Subscribed` until the postgres changes are live, at most this long.
    #[serde(skip)]
    postgres_ready: Option<Duration>,
    /// Client-side: do not track the app's presence again after a rejoin.
    #[serde(skip)]
    no_retrack: bool,
}

/// The most messages a replay returns (the server's hard cap, spec C.1).
pub const MAX_REPLAY: u32 = 25;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct BroadcastConfig {
    ack: bool,
    #[serde(rename = "self")]
    receive_own: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    replay: Option<Replay>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
struct Replay {
    since: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
struct PresenceConfig {
    key: String,
    enabled: bool,
}

#[derive(Serialize)]
struct JoinPayload<'a> {
    config: &'a ChannelConfig,
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token: Option<&'a str>,
    version: &'static str,
}

impl ChannelConfig {
    /// The defaults: no ack, no self-broadcast, presence off with the server's key, public.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the server to acknowledge each broadcast (the send then waits for its reply).
    pub fn broadcast_ack(mut self, ack: bool) -> Self {
        self.broadcast.ack = ack;
        self
    }

    /// Receive the broadcasts this client sends (`self`).
    pub fn broadcast_self(mut self, receive_own: bool) -> Self {
        self.broadcast.receive_own = receive_own;
        self
    }

    /// On a private channel, replay the broadcasts since `since_ms` (Unix milliseconds), at
    /// most `limit` of them (the server caps it at 25).
    pub fn broadcast_replay(mut self, since_ms: u64, limit: Option<u32>) -> Self {
        self.broadcast.replay = Some(Replay { since: since_ms, limit });
        self
    }

    /// The key this client's presence is tracked under (empty: the server picks a UUID).
    pub fn presence_key(mut self, key: impl Into<String>) -> Self {
        self.presence.key = key.into();
        self
    }

    /// Turn presence on for this channel.
    pub fn presence_enabled(mut self, enabled: bool) -> Self {
        self.presence.enabled = enabled;
        self
    }

    /// Listen to row changes: `binding`'s index in the [`BindingSet`](super::postgres::BindingSet)
    /// of each change is its position among this channel's bindings, counting from 0. At most
    /// [`MAX_BINDINGS`](super::postgres::MAX_BINDINGS) (more: the channel is refused). An exact
    /// repeat of an earlier binding is sent once and shares its id.
    pub fn postgres_changes(mut self, binding: Binding) -> Self {
        self.postgres_changes.push_unbounded(binding);
        self
    }

    /// The postgres changes bindings, in order.
    pub fn bindings(&self) -> &Bindings {
        &self.postgres_changes
    }

    pub(crate) fn bindings_mut(&mut self) -> &mut Bindings {
        &mut self.postgres_changes
    }

    /// Beyond the reference clients: `Subscribed` waits until the server says the postgres
    /// changes are live (`system` "Subscribed to PostgreSQL"), because the join's ok comes
    /// before they are and early writes would be missed (spec E.4). After `timeout` without it
    /// the channel reports `ChannelError(PostgresNotReady)` (and `Subscribed` if it still comes).
    /// Only for channels with bindings.
    pub fn wait_for_postgres_ready(mut self, timeout: Duration) -> Self {
        self.postgres_ready = Some(timeout);
        self
    }

    /// The ready mode's timeout, when it is on and the channel has bindings.
    pub fn postgres_ready_timeout(&self) -> Option<Duration> {
        self.postgres_ready.filter(|_| !self.postgres_changes.is_empty())
    }

    /// Beyond the reference clients, on by default: after every rejoin (the server forgot the
    /// presence with the old channel process) the last tracked payload is tracked again. Off:
    /// a rejoin forgets it, and the app tracks again after `Subscribed`, as with realtime-js.
    pub fn presence_retrack(mut self, on: bool) -> Self {
        self.no_retrack = !on;
        self
    }

    /// Whether presence is tracked again after a rejoin.
    pub fn retracks_presence(&self) -> bool {
        !self.no_retrack
    }

    /// Whether presence is asked for explicitly.
    pub fn presence_requested(&self) -> bool {
        self.presence.enabled
    }

    /// A private channel: the server checks the RLS policies on `realtime.messages`.
    pub fn private(mut self, private: bool) -> Self {
        self.private = private;
        self
    }

    /// Whether the server acknowledges broadcasts (`broadcast.ack`).
    pub fn acks_broadcasts(&self) -> bool {
        self.broadcast.ack
    }

    /// Beyond the reference clients, for private channels: after a reconnect, rejoin with
    /// `broadcast.replay.since` at the last message seen (by the wall clock, which the runtime
    /// must give), and drop replayed messages already delivered (by `meta.id`).
    pub fn auto_replay(mut self, on: bool) -> Self {
        self.auto_replay = on;
        self
    }

    /// Whether `auto_replay` is on (and the channel private, which replay needs).
    pub fn replays_automatically(&self) -> bool {
        self.auto_replay && self.private
    }

    /// Whether the channel is private.
    pub fn is_private(&self) -> bool {
        self.private
    }

    /// The `phx_join` payload, as JSON text.
    pub fn join_payload(&self, access_token: Option<&str>) -> String {
        self.join_payload_since(access_token, None)
    }

    /// The `phx_join` payload, asking for a replay since `since_ms` (Unix milliseconds) when
    /// given (an automatic replay after a reconnect).
    pub fn join_payload_since(&self, access_token: Option<&str>, since_ms: Option<u64>) -> String {
        self.join_payload_with(access_token, since_ms, false)
    }

    /// The `phx_join` payload, with presence turned on when `presence` (the app tracks or
    /// listens to presence) even if the config leaves it off.
    pub(crate) fn join_payload_with(
        &self,
        access_token: Option<&str>,
        since_ms: Option<u64>,
        presence: bool,
    ) -> String {
        let changed;
        let config = if since_ms.is_some() || (presence && !self.presence.enabled) {
            let mut c = self.clone();
            if let Some(since) = since_ms {
                c.broadcast.replay = Some(Replay { since, limit: Some(MAX_REPLAY) });
            }
            c.presence.enabled |= presence;
            changed = c;
            &changed
        } else {
            self
        };
        let payload = JoinPayload { config, access_token, version: CLIENT_INFO };
        // Invariant: these types always serialize (strings, booleans and integers only).
        serde_json::to_string(&payload).unwrap_or_default()
    }
}
