//! The one random-operation model of the whole client: what the app does ([`AppOp`]), what the
//! peer does (each harness's own `P`), and time steps, drawn with `arbitrary`; and the
//! invariants checked after every step ([`Invariants`]). The fuzz targets `phoenix_client` and
//! `realtime_client` draw operations from the fuzzer's bytes; the seeded simulation in
//! `core/tests/client/random.rs` draws them from a seeded generator's bytes, against a model
//! server, and feeds the same checks.

mod app;
mod check;
mod session;

use alloc::format;
use alloc::string::String;
use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

pub use app::{
    APP_WEIGHTS, App, AppOp, Flavour, NAMES, PHOENIX_PARAMS, Pick, Token, channel_config, postgres_bindings,
    weighted,
};
pub use check::{ClientWire, Invariants, Sent, Written};
pub use session::{Session, Setup};

/// One step of a run: the app's half the time, the peer's and a time step a quarter each.
#[derive(Clone, Debug)]
pub enum Op<P> {
    /// The app does something.
    App(AppOp),
    /// The peer (server, network) does something.
    Peer(P),
    /// Time passes, firing every deadline on the way.
    Wait(Pause),
}

impl<'a, P: Arbitrary<'a>> Arbitrary<'a> for Op<P> {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match u.arbitrary::<u8>()? % 4 {
            0 | 1 => Self::App(u.arbitrary()?),
            2 => Self::Peer(u.arbitrary()?),
            _ => Self::Wait(u.arbitrary()?),
        })
    }
}

/// A time step: short ones for races, long ones for timeouts and backoff.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Pause {
    /// Up to about 2 s, in 8 ms steps.
    Short(u8),
    /// Up to 25.5 s, in 100 ms steps.
    Medium(u8),
    /// Up to 255 s, in seconds.
    Long(u8),
}

impl Pause {
    /// How long.
    pub fn duration(self) -> Duration {
        match self {
            Self::Short(n) => Duration::from_millis(u64::from(n) * 8),
            Self::Medium(n) => Duration::from_millis(u64::from(n) * 100),
            Self::Long(n) => Duration::from_secs(u64::from(n)),
        }
    }
}

/// The operations `data` spells, in order, until it runs out.
pub fn ops<'a, P: Arbitrary<'a>>(data: &'a [u8]) -> impl Iterator<Item = Op<P>> + 'a {
    let mut u = Unstructured::new(data);
    core::iter::from_fn(move || if u.is_empty() { None } else { Op::arbitrary(&mut u).ok() })
}

/// A server message that reaches the client's channel machine (random bytes rarely would): the
/// kind, the topic (`NAMES` and `phoenix`), and the ref (its join ref too where it has one)
/// drawn from the small numbers the client uses.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct ServerMsg {
    kind: Kind,
    topic: u8,
    r: u8,
}

/// What a [`ServerMsg`] says.
#[derive(Arbitrary, Clone, Copy, Debug)]
enum Kind {
    JoinOk,
    JoinOkPostgres,
    ReplyError,
    Close,
    Error,
    Broadcast,
    PostgresChange,
    System,
    PresenceState,
    PresenceDiff,
}

impl ServerMsg {
    /// The message as text, in the v2 array form or (with `v1`) the v1 object form.
    pub fn text(&self, v1: bool) -> String {
        let topic = match self.topic % 4 {
            3 => String::from("phoenix"),
            n => format!("realtime:{}", NAMES[usize::from(n)]),
        };
        let r = self.r % 24;
        let rs = format!(r#""{r}""#);
        let (join_ref, msg_ref, event, payload) = match self.kind {
            Kind::JoinOk => (rs.clone(), rs, "phx_reply", String::from(r#"{"status":"ok","response":{}}"#)),
            Kind::JoinOkPostgres => (
                rs.clone(),
                rs,
                "phx_reply",
                format!(
                    r#"{{"status":"ok","response":{{"postgres_changes":[{{"id":{r},"event":"INSERT","schema":"public","table":"t"}},{{"id":7,"event":"*","schema":"public"}}]}}}}"#
                ),
            ),
            Kind::ReplyError => (
                "null".into(),
                rs,
                "phx_reply",
                String::from(r#"{"status":"error","response":{"reason":"x"}}"#),
            ),
            Kind::Close => (rs.clone(), rs, "phx_close", "{}".into()),
            Kind::Error => (rs.clone(), rs, "phx_error", "{}".into()),
            Kind::Broadcast => (
                "null".into(),
                "null".into(),
                "broadcast",
                format!(r#"{{"type":"broadcast","event":"e","payload":{{"n":{r}}}}}"#),
            ),
            Kind::PostgresChange => (
                "null".into(),
                "null".into(),
                "postgres_changes",
                format!(
                    r#"{{"ids":[{r},7],"data":{{"schema":"public","table":"t","type":"{}","columns":[{{"name":"id","type":"int8"}}],"record":{{"id":{r}}},"old_record":{{"id":1}},"errors":null,"commit_timestamp":"2024-01-01T00:00:00Z"}}}}"#,
                    ["INSERT", "UPDATE", "DELETE"][usize::from(r % 3)]
                ),
            ),
            Kind::System => (
                "null".into(),
                "null".into(),
                "system",
                format!(
                    r#"{{"extension":"postgres_changes","status":"{}","message":"Subscribed to PostgreSQL"}}"#,
                    if r.is_multiple_of(2) { "ok" } else { "error" }
                ),
            ),
            Kind::PresenceState => (
                rs,
                "null".into(),
                "presence_state",
                format!(r#"{{"k{r}":{{"metas":[{{"phx_ref":"p{r}","n":1}}]}}}}"#),
            ),
            Kind::PresenceDiff => (
                rs,
                "null".into(),
                "presence_diff",
                format!(
                    r#"{{"joins":{{"k":{{"metas":[{{"phx_ref":"q{r}"}}]}}}},"leaves":{{"k{r}":{{"metas":[{{"phx_ref":"p{r}"}}]}}}}}}"#
                ),
            ),
        };
        if v1 {
            // v1 has no join_ref from the server.
            format!(r#"{{"topic":"{topic}","event":"{event}","payload":{payload},"ref":{msg_ref}}}"#)
        } else {
            format!(r#"[{join_ref},{msg_ref},"{topic}","{event}",{payload}]"#)
        }
    }
}
