//! What the app does to the client: the operations both the fuzz targets and the seeded
//! simulation draw (with `arbitrary`, from fuzzer bytes or from a seeded generator's bytes).

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::Arbitrary;

use super::check::Invariants;
use crate::client::{ChannelId, Client, PushBody};
use crate::phoenix::serializer::BroadcastData;
use crate::supabase::channel_config::ChannelConfig;
use crate::supabase::postgres::{Binding, ChangeEvent};
use crate::time::Instant;

/// The topics the app uses (`realtime:` + name), few so that operations meet.
pub const NAMES: [&str; 3] = ["a", "b", "c"];

/// The postgres changes bindings channel `a` asks for (and that the model servers echo):
/// INSERT on `public.t`, then every event on schema `public`.
pub fn postgres_bindings() -> [Binding; 2] {
    [Binding::new(ChangeEvent::Insert, "public").table("t"), Binding::new(ChangeEvent::All, "public")]
}

/// An index into the handles the app holds, taken modulo their number.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct Pick(u8);

/// A channel's configuration, from a few that cover the join payload's parts.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Flavour {
    /// Defaults.
    Plain,
    /// Postgres changes bindings (on channel `a` only: the model servers pair them there).
    Postgres,
    /// Postgres changes, waiting for the server's "ready" before `Subscribed`.
    PostgresReady,
    /// Presence with a key, broadcast acks and own broadcasts.
    Chatty,
    /// A private channel.
    Private,
    /// A plain Phoenix channel on the same topic (`phoenix_channel`, with join params of its
    /// own): refused while a Realtime channel holds the topic, and refusing Realtime's pushes.
    Phoenix,
}

/// The join params of a [`Flavour::Phoenix`] channel.
pub const PHOENIX_PARAMS: &str = r#"{"user":"sim"}"#;

/// The token the app sets.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Token {
    /// Clears it.
    None,
    /// A JWT valid until this many half hours after the Unix epoch's first day (so some are
    /// expired by the wall clock the app sets, some are not).
    Jwt(u8),
    /// Not a JWT.
    Opaque,
}

/// One thing the app does. Drawn by [`APP_WEIGHTS`], not uniformly: a run where the app
/// disconnects as often as it connects, or creates channels as rarely as it resumes, spends
/// its length offline.
#[derive(Clone, Copy, Debug)]
pub enum AppOp {
    /// `connect`.
    Connect,
    /// `disconnect`.
    Disconnect,
    /// `disconnect_with` a code from a few valid and invalid ones.
    DisconnectWith(u8),
    /// `resume` (a liveness probe, or a reconnect now).
    Resume,
    /// `set_access_token`.
    SetToken(Token),
    /// `set_wall_clock` to this many half hours after the epoch's first day.
    SetWallClock(u8),
    /// `channel` for `NAMES[n % 3]`.
    Channel(u8, Flavour),
    /// `retain_channel`: one more handle, as a runtime's handle clone takes.
    Retain(Pick),
    /// `subscribe`.
    Subscribe(Pick),
    /// `unsubscribe`.
    Unsubscribe(Pick),
    /// `remove_channel` on one handle.
    Remove(Pick),
    /// `remove_all_channels`.
    RemoveAll,
    /// `push` of a JSON broadcast.
    Push(Pick),
    /// `broadcast`: JSON or bytes, as text or as a kind-3 frame.
    Broadcast(Pick, bool, bool),
    /// `enable_presence`.
    EnablePresence(Pick),
    /// `track` with a small payload.
    Track(Pick, u8),
    /// `untrack`.
    Untrack(Pick),
}

/// How often each [`AppOp`] is drawn, in the order of its variants (out of their sum).
pub const APP_WEIGHTS: [(&str, u8); 17] = [
    ("connect", 3),
    ("disconnect", 1),
    ("disconnect_with", 1),
    ("resume", 1),
    ("set_access_token", 1),
    ("set_wall_clock", 1),
    ("channel", 3),
    ("retain_channel", 1),
    ("subscribe", 3),
    ("unsubscribe", 1),
    ("remove_channel", 1),
    ("remove_all_channels", 1),
    ("push", 3),
    ("broadcast", 2),
    ("enable_presence", 1),
    ("track", 1),
    ("untrack", 1),
];

/// The index of the entry `draw` lands on, each entry taking its weight's share.
pub fn weighted<T>(table: &[(T, u8)], draw: u32) -> usize {
    let total: u32 = table.iter().map(|(_, w)| u32::from(*w)).sum();
    let mut at = draw % total.max(1);
    for (i, (_, w)) in table.iter().enumerate() {
        if at < u32::from(*w) {
            return i;
        }
        at -= u32::from(*w);
    }
    0
}

impl<'a> Arbitrary<'a> for AppOp {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match weighted(&APP_WEIGHTS, u32::from(u.arbitrary::<u8>()?)) {
            0 => Self::Connect,
            1 => Self::Disconnect,
            2 => Self::DisconnectWith(u.arbitrary()?),
            3 => Self::Resume,
            4 => Self::SetToken(u.arbitrary()?),
            5 => Self::SetWallClock(u.arbitrary()?),
            6 => Self::Channel(u.arbitrary()?, u.arbitrary()?),
            7 => Self::Retain(u.arbitrary()?),
            8 => Self::Subscribe(u.arbitrary()?),
            9 => Self::Unsubscribe(u.arbitrary()?),
            10 => Self::Remove(u.arbitrary()?),
            11 => Self::RemoveAll,
            12 => Self::Push(u.arbitrary()?),
            13 => Self::Broadcast(u.arbitrary()?, u.arbitrary()?, u.arbitrary()?),
            14 => Self::EnablePresence(u.arbitrary()?),
            15 => Self::Track(u.arbitrary()?, u.arbitrary()?),
            _ => Self::Untrack(u.arbitrary()?),
        })
    }
}

/// The app: the channel handles it holds, in the order it got them (a channel appears once per
/// handle).
#[derive(Debug, Default)]
pub struct App {
    handles: Vec<ChannelId>,
}

impl App {
    /// An app holding nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The handles held.
    pub fn handles(&self) -> &[ChannelId] {
        &self.handles
    }

    fn pick(&self, p: Pick) -> Option<ChannelId> {
        (!self.handles.is_empty()).then(|| self.handles[usize::from(p.0) % self.handles.len()])
    }

    /// Does `op` to `client` at `now`, telling `check` what the app was promised: push ids,
    /// handles, leaves asked. Errors the client returns are the app's to handle and ignored.
    pub fn apply(&mut self, op: AppOp, client: &mut Client, now: Instant, check: &mut Invariants) {
        match op {
            AppOp::Connect => client.connect(now),
            AppOp::Disconnect => client.disconnect(now),
            AppOp::DisconnectWith(n) => {
                let code = [1000, 1001, 3000, 4999, 1005, 5000][usize::from(n) % 6];
                let _ = client.disconnect_with(now, code, "bye");
            }
            AppOp::Resume => client.resume(now),
            AppOp::SetToken(t) => client.set_access_token(now, token(t)),
            AppOp::SetWallClock(h) => client.set_wall_clock(now, DAY_MS + u64::from(h) * HALF_HOUR_MS),
            AppOp::Channel(n, flavour) => {
                let name = NAMES[usize::from(n) % NAMES.len()];
                let id = if let Flavour::Phoenix = flavour {
                    client.phoenix_channel(now, &format!("realtime:{name}"), PHOENIX_PARAMS)
                } else {
                    client.channel(now, name, channel_config(name, flavour))
                };
                if let Ok(id) = id {
                    self.handles.push(id);
                    check.handle_added(id);
                }
            }
            AppOp::Retain(p) => {
                if let Some(id) = self.pick(p)
                    && client.retain_channel(id).is_ok()
                {
                    self.handles.push(id);
                    check.handle_added(id);
                }
            }
            AppOp::Subscribe(p) => {
                if let Some(id) = self.pick(p) {
                    let _ = client.subscribe(now, id);
                }
            }
            AppOp::Unsubscribe(p) => {
                if let Some(id) = self.pick(p)
                    && client.unsubscribe(now, id).is_ok()
                {
                    check.leave_asked(id);
                }
            }
            AppOp::Remove(p) => {
                if !self.handles.is_empty() {
                    let id = self.handles.swap_remove(usize::from(p.0) % self.handles.len());
                    if let Err(e) = client.remove_channel(now, id) {
                        check.violation(format!("remove_channel refused a held handle {id:?}: {e:?}"));
                    }
                    check.handle_removed(id);
                }
            }
            AppOp::RemoveAll => {
                client.remove_all_channels(now);
                for id in self.handles.drain(..) {
                    check.handle_removed(id);
                }
            }
            AppOp::Push(p) => {
                if let Some(id) = self.pick(p) {
                    let payload = format!(r#"{{"type":"broadcast","event":"e","payload":{{"n":{}}}}}"#, p.0);
                    let body = PushBody::Json { event: "broadcast".into(), payload };
                    if let Ok(push) = client.push(now, id, body) {
                        check.push_accepted(push);
                    }
                }
            }
            AppOp::Broadcast(p, bytes, binary_frames) => {
                if let Some(id) = self.pick(p) {
                    let data = if bytes {
                        BroadcastData::Binary(vec![1, 2, p.0])
                    } else {
                        BroadcastData::Json(format!(r#"{{"n":{}}}"#, p.0))
                    };
                    if let Ok(push) = client.broadcast(now, id, "e", data, binary_frames) {
                        check.push_accepted(push);
                    }
                }
            }
            AppOp::EnablePresence(p) => {
                if let Some(id) = self.pick(p) {
                    let _ = client.enable_presence(now, id);
                }
            }
            AppOp::Track(p, n) => {
                if let Some(id) = self.pick(p) {
                    let _ = client.track(now, id, &format!(r#"{{"n":{n}}}"#));
                }
            }
            AppOp::Untrack(p) => {
                if let Some(id) = self.pick(p) {
                    let _ = client.untrack(now, id);
                }
            }
        }
    }
}

const HALF_HOUR_MS: u64 = 1_800_000;
const DAY_MS: u64 = 86_400_000;

fn token(t: Token) -> Option<String> {
    use base64::Engine as _;
    match t {
        Token::None => None,
        Token::Opaque => Some("not-a-jwt".into()),
        Token::Jwt(h) => {
            let exp = (DAY_MS + u64::from(h) * HALF_HOUR_MS) / 1000;
            let claims =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
            Some(format!("eyJhbGciOiJIUzI1NiJ9.{claims}.sig"))
        }
    }
}

/// The configuration for channel `name` in `flavour` (postgres bindings only on `a`).
pub fn channel_config(name: &str, flavour: Flavour) -> ChannelConfig {
    let config = ChannelConfig::new();
    match flavour {
        Flavour::Postgres | Flavour::PostgresReady if name == "a" => {
            let [insert, all] = postgres_bindings();
            let config = config.postgres_changes(insert).postgres_changes(all);
            if matches!(flavour, Flavour::PostgresReady) {
                config.wait_for_postgres_ready(Duration::from_secs(15))
            } else {
                config
            }
        }
        Flavour::Chatty => config.presence_key("k").broadcast_ack(true).broadcast_self(true),
        Flavour::Private => config.private(true),
        _ => config,
    }
}
