//! 1,000 seeds of random operation sequences against a misbehaving server and link, in the
//! operation model the `phoenix_client` and `realtime_client` fuzz targets use
//! (`realtime_core::fuzzing::sim`: the app's operations, time steps, and here the model
//! server's and the link's moves), with the same invariants checked after every step (see
//! `sim::Invariants`): no panic, no duplicate ref, nothing sent to a topic not joined with that
//! join ref, every push ends exactly once, every leave the app asks for is answered exactly
//! once, the next deadline never lies in the past, the event queue stays bounded. The model
//! server adds its own check: nothing pushed to a topic it has not acknowledged.

use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use realtime_core::client::{ChannelState, ChannelStatus, ConnectionEnd, Event, LeaveOutcome, PushOutcome};
use realtime_core::fuzzing::sim::{App, Invariants, Op, PHOENIX_PARAMS, Setup, ops, weighted};
use realtime_core::rng::Rng;
use realtime_core::supabase::postgres::ChangeKind;
use serde_json::json;

use crate::server::JoinMode;
use crate::world::World;

const SEEDS: u64 = 1_000;
/// Operations per seed (a third of them, about, are time steps).
const OPS: usize = 120;
/// Bytes drawn per seed: enough for `OPS` operations.
const BYTES: usize = 1024;

/// What one run exercised, so the test can show it covered the interesting paths.
#[derive(Default, Debug)]
struct Coverage {
    pushes_ok: usize,
    pushes_timed_out: usize,
    pushes_not_sent: usize,
    subscribed: usize,
    channel_errors: usize,
    connections: usize,
    heartbeat_timeouts: usize,
    changes: usize,
    left: usize,
    leaves_timed_out: usize,
    leaves_offline: usize,
    /// Plain Phoenix channels joined (their join carried the app's params).
    phoenix_joins: usize,
}

/// What the server and the link do between the app's operations: the simulation's peer in
/// the shared operation model (`realtime_core::fuzzing::sim::Op`).
#[derive(Clone, Copy, Debug)]
enum WorldOp {
    /// A row change for channel `a`'s subscriptions, of kind 0, 1, 2 (mod 3).
    RowChange(u8),
    /// The server's "Subscribed to PostgreSQL" for channel `a`.
    PostgresReady,
    /// The server drops the connection.
    Reset,
    /// The server closes with a code from a few.
    Close(u8),
    /// The link loses everything, or stops losing it.
    ToggleDead,
    /// Joins are answered so from now on (ok twice as often as the others).
    Joins(u8),
    /// The server ends a joined channel with `phx_error` (true) or `phx_close`.
    CloseChannel(bool),
    /// Bytes arrive in random pieces, or stop doing so.
    ToggleSplit,
    /// The server answers heartbeats and pushes, or stops (each false one time in four).
    Replies(u8, u8),
    /// TCP connects are refused one time in three.
    RefuseTcp(u8),
}

/// How often each [`WorldOp`] is drawn, in the order of its variants: row changes often
/// (they need channel `a` joined with its bindings to land), the disruptions less.
const WORLD_WEIGHTS: [(&str, u8); 10] = [
    ("row change", 6),
    ("postgres ready", 1),
    ("reset", 1),
    ("close", 1),
    ("toggle dead", 1),
    ("joins", 1),
    ("close channel", 1),
    ("toggle split", 1),
    ("replies", 1),
    ("refuse tcp", 1),
];

impl<'a> Arbitrary<'a> for WorldOp {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(match weighted(&WORLD_WEIGHTS, u32::from(u.arbitrary::<u8>()?)) {
            0 => Self::RowChange(u.arbitrary()?),
            1 => Self::PostgresReady,
            2 => Self::Reset,
            3 => Self::Close(u.arbitrary()?),
            4 => Self::ToggleDead,
            5 => Self::Joins(u.arbitrary()?),
            6 => Self::CloseChannel(u.arbitrary()?),
            7 => Self::ToggleSplit,
            8 => Self::Replies(u.arbitrary()?, u.arbitrary()?),
            _ => Self::RefuseTcp(u.arbitrary()?),
        })
    }
}

impl WorldOp {
    fn apply(self, w: &mut World) {
        match self {
            Self::RowChange(_) | Self::PostgresReady => {
                let kind = match self {
                    Self::RowChange(k) => Some(["INSERT", "UPDATE", "DELETE"][usize::from(k % 3)]),
                    _ => None,
                };
                w.with_server(|s| {
                    // The server sends changes only to a join that asked for them.
                    let Some(ids) = s.pg_ids.get("realtime:a").cloned().filter(|ids| !ids.is_empty()) else {
                        return;
                    };
                    // Like Phoenix, a channel's pushes carry its join ref, so a client that has
                    // rejoined since (its new join lost on a dead link) drops them as outdated.
                    let Some(join_ref) = s.joined.get("realtime:a").cloned() else { return };
                    let join_ref = Some(join_ref.as_str());
                    match kind {
                        None => {
                            let p = json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL"});
                            s.send(join_ref, None, "realtime:a", "system", p);
                        }
                        Some(kind) => {
                            let data = json!({"schema": "public", "table": "t", "type": kind, "commit_timestamp": "x",
                                "columns": [{"name": "id", "type": "int8"}], "record": {"id": 1}, "old_record": null, "errors": null});
                            s.send(join_ref, None, "realtime:a", "postgres_changes", json!({"ids": ids, "data": data}));
                        }
                    }
                });
            }
            Self::Reset => w.reset(),
            Self::Close(n) => {
                let (code, reason) =
                    [(1000, ""), (1001, "ClientJoinRateLimitReached"), (1011, "x"), (4000, "")]
                        [usize::from(n % 4)];
                w.with_server(|s| s.close(code, reason));
            }
            Self::ToggleDead => w.dead = !w.dead,
            Self::Joins(n) => {
                w.behaviour.join =
                    [JoinMode::Ok, JoinMode::Ok, JoinMode::Error, JoinMode::Silent][usize::from(n % 4)];
                let b = w.behaviour;
                w.with_server(|s| s.behaviour = b);
            }
            Self::CloseChannel(error) => {
                let event = if error { "phx_error" } else { "phx_close" };
                w.with_server(|s| {
                    if let Some(topic) = s.joined.keys().next().cloned() {
                        s.close_channel(&topic, event);
                    }
                });
            }
            Self::ToggleSplit => w.split = !w.split,
            Self::Replies(h, p) => {
                w.behaviour.heartbeat_replies = h % 4 != 0;
                w.behaviour.push_replies = p % 4 != 0;
                let b = w.behaviour;
                w.with_server(|s| s.behaviour = b);
            }
            Self::RefuseTcp(n) => w.refuse_tcp = n % 3 == 0,
        }
    }
}

/// The bytes a seed spells its run with: the shared model draws the setup and the
/// operations from them as it draws a fuzz target's from the fuzzer's.
fn seed_bytes(seed: u64) -> Vec<u8> {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[31] = 0xaa;
    let mut rng = Rng::from_seed(s);
    (0..BYTES).map(|_| rng.next_u32() as u8).collect()
}

fn run(seed: u64, cov: &mut Coverage) {
    let bytes = seed_bytes(seed);
    let mut u = Unstructured::new(&bytes);
    let setup = Setup::arbitrary(&mut u).expect("enough bytes");
    let mut config = World::config();
    if setup.ping {
        config.ping_interval = Some(Duration::from_secs(7));
    }
    if setup.small {
        config.push_buffer = 3;
    }
    let mut w = World::new(config, seed);
    // The app reports every push and leave here: the strict checks.
    w.check = Invariants::new();
    let mut app = App::new();
    for op in ops::<WorldOp>(u.take_rest()).take(OPS) {
        match op {
            Op::App(a) => {
                app.apply(a, &mut w.client, w.now, &mut w.check);
                w.settle();
            }
            Op::Peer(p) => p.apply(&mut w),
            Op::Wait(p) => w.run_for(p.duration()),
        }
        assert!(w.violations.is_empty(), "seed {seed}: {:?}", w.violations);
    }
    // A healthy world again: every push ends, exactly once, and every leave is answered.
    w.dead = false;
    w.refuse_tcp = false;
    w.run_for(Duration::from_secs(200));
    w.check.finish();
    w.violations.extend(w.check.take_violations());
    assert!(w.violations.is_empty(), "seed {seed}: {:?}", w.violations);
    for (_, e) in &w.events {
        match e {
            Event::Push { outcome: PushOutcome::Ok(_), .. } => cov.pushes_ok += 1,
            Event::Push { outcome: PushOutcome::TimedOut, .. } => cov.pushes_timed_out += 1,
            Event::Push { outcome: PushOutcome::NotSent(_), .. } => cov.pushes_not_sent += 1,
            Event::Status { status: ChannelStatus::Subscribed, .. } => cov.subscribed += 1,
            Event::Status { status: ChannelStatus::ChannelError(_), .. } => cov.channel_errors += 1,
            Event::Disconnected { end: ConnectionEnd::HeartbeatTimeout, .. } => cov.heartbeat_timeouts += 1,
            Event::Left { outcome: LeaveOutcome::Left, .. } => cov.left += 1,
            Event::Left { outcome: LeaveOutcome::TimedOut, .. } => cov.leaves_timed_out += 1,
            Event::Left { outcome: LeaveOutcome::Offline, .. } => cov.leaves_offline += 1,
            Event::PostgresChange { bindings, change, .. } => {
                // The `*` binding takes every change; the INSERT one only inserts.
                assert!(bindings.contains(1), "seed {seed}: {bindings:?}");
                assert_eq!(bindings.contains(0), change.kind == ChangeKind::Insert, "seed {seed}: {e:?}");
                cov.changes += 1;
            }
            _ => {}
        }
    }
    cov.connections += w.connections;
    let phoenix = serde_json::from_str::<serde_json::Value>(PHOENIX_PARAMS).expect("json");
    cov.phoenix_joins +=
        w.frames.iter().filter(|(_, f)| f.event == "phx_join" && f.payload == phoenix).count();
    for &id in app.handles() {
        // Channels still wanted end up joined or retrying; none is stuck joining without an
        // attempt when the socket is open.
        if let Some(state) = w.client.channel_state(id) {
            assert_ne!(state, ChannelState::Leaving, "seed {seed}: a leave never finished");
        }
    }
}

#[test]
fn random_operation_sequences_keep_the_invariants() {
    let mut cov = Coverage::default();
    for seed in 0..SEEDS {
        run(seed, &mut cov);
    }
    eprintln!("{cov:?}");
    // The runs reached every kind of outcome, many times.
    let seeds = SEEDS as usize;
    assert!(
        cov.pushes_ok > seeds / 4 && cov.pushes_timed_out > seeds / 10 && cov.pushes_not_sent > 0,
        "{cov:?}"
    );
    assert!(cov.subscribed > seeds && cov.channel_errors > seeds / 10, "{cov:?}");
    assert!(cov.connections > 2 * seeds && cov.heartbeat_timeouts > seeds / 10, "{cov:?}");
    assert!(cov.changes > seeds / 20, "{cov:?}");
    assert!(cov.phoenix_joins > seeds / 4, "{cov:?}");
    assert!(
        cov.left > seeds / 8 && cov.leaves_timed_out > seeds / 20 && cov.leaves_offline > seeds,
        "{cov:?}"
    );
}
