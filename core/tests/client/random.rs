//! 1,000 seeds of random operation sequences against a misbehaving server and link, with the
//! invariants checked after every step: no panic, no duplicate ref, nothing pushed to a
//! channel that is not joined, every push ends exactly once, every leave the app asks for
//! reports its outcome exactly once, the next deadline never lies in the past.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use realtime_core::phoenix::channel_config::ChannelConfig;
use realtime_core::phoenix::client::{
    ChannelId, ChannelState, ChannelStatus, ConnectionEnd, Event, LeaveOutcome, PushBody, PushOutcome,
};
use realtime_core::phoenix::postgres::{Binding, ChangeEvent, ChangeKind};
use realtime_core::rng::Rng;
use serde_json::json;

use crate::server::JoinMode;
use crate::world::World;

const SEEDS: u64 = 1_000;
const OPS: usize = 60;

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
}

/// The leaves the app asked for, by handle id, against the `Left` events that answer them.
#[derive(Default)]
struct Leaves {
    /// Handles the app holds, by id (equal configs share an id).
    handles: HashMap<ChannelId, usize>,
    /// Ids whose leave is asked and not yet answered.
    waiting: HashSet<ChannelId>,
    /// `Left` events seen so far (an index into the world's events).
    seen: usize,
}

impl Leaves {
    /// The app asks `id` to leave: a leave under way for that id answers this ask too.
    fn ask(&mut self, id: ChannelId) {
        self.waiting.insert(id);
    }

    /// Takes the events since the last look: every `Left` answers a waiting ask, once.
    fn look(&mut self, w: &World, seed: u64) {
        for (_, e) in &w.events[self.seen..] {
            if let Event::Left { channel, .. } = e {
                assert!(
                    self.waiting.remove(channel),
                    "seed {seed}: Left for {channel:?}, which asked nothing"
                );
            }
        }
        self.seen = w.events.len();
    }
}

fn run(seed: u64, cov: &mut Coverage) {
    let mut config = World::config();
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&seed.to_le_bytes());
    s[31] = 0xaa;
    let mut rng = Rng::from_seed(s);
    if rng.below(2) == 0 {
        config.ping_interval = Some(Duration::from_secs(7));
    }
    if rng.below(3) == 0 {
        config.push_buffer = 3;
    }
    let mut w = World::new(config, seed);
    let mut ids: Vec<ChannelId> = Vec::new();
    let mut leaves = Leaves::default();
    let mut pushes = Vec::new();
    for _ in 0..OPS {
        let pick = |rng: &mut Rng, ids: &[ChannelId]| {
            (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u32) as usize])
        };
        match rng.below(26) {
            22..=24 => {
                // A row change for channel `a`'s subscriptions, or the server's "live".
                let kind = ["INSERT", "UPDATE", "DELETE"][rng.below(3) as usize];
                let live = rng.below(3) == 0;
                w.with_server(|s| {
                    let Some(ids) = s.pg_ids.get("realtime:a").cloned() else { return };
                    if !s.joined.contains_key("realtime:a") {
                        return;
                    }
                    if live {
                        let p = json!({"extension": "postgres_changes", "status": "ok", "message": "Subscribed to PostgreSQL"});
                        s.send(None, None, "realtime:a", "system", p);
                    } else {
                        let data = json!({"schema": "public", "table": "t", "type": kind, "commit_timestamp": "x",
                            "columns": [{"name": "id", "type": "int8"}], "record": {"id": 1}, "old_record": null, "errors": null});
                        s.send(None, None, "realtime:a", "postgres_changes", json!({"ids": ids, "data": data}));
                    }
                });
            }
            25 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let _ = w.client.enable_presence(w.now, id);
                }
            }
            0 => w.client.connect(w.now),
            1 => w.client.disconnect(w.now),
            2 => w.client.resume(w.now),
            3 | 4 => {
                let name = ["a", "b", "c"][rng.below(3) as usize];
                // Channel `a` listens to postgres changes, sometimes in the ready mode.
                let mut config = ChannelConfig::new();
                if name == "a" {
                    config = config
                        .postgres_changes(Binding::new(ChangeEvent::Insert, "public").table("t"))
                        .postgres_changes(Binding::new(ChangeEvent::All, "public"));
                    if seed.is_multiple_of(2) {
                        config = config.wait_for_postgres_ready(Duration::from_secs(15));
                    }
                }
                if let Ok(id) = w.client.channel(w.now, name, config) {
                    ids.push(id);
                    *leaves.handles.entry(id).or_default() += 1;
                }
            }
            5 | 6 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let _ = w.client.subscribe(w.now, id);
                }
            }
            7 => {
                if let Some(id) = pick(&mut rng, &ids)
                    && w.client.unsubscribe(w.now, id).is_ok()
                {
                    leaves.ask(id);
                }
            }
            8 => {
                if !ids.is_empty() {
                    let id = ids.swap_remove(rng.below(ids.len() as u32) as usize);
                    assert_eq!(w.client.remove_channel(w.now, id), Ok(()), "seed {seed}: a held handle");
                    let held = leaves.handles.get_mut(&id).expect("counted");
                    *held -= 1;
                    if *held == 0 {
                        leaves.ask(id);
                    }
                }
            }
            11 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let data = if rng.below(2) == 0 {
                        realtime_core::phoenix::serializer::BroadcastData::Binary(vec![1, 2, 3])
                    } else {
                        realtime_core::phoenix::serializer::BroadcastData::Json(r#"{"n":1}"#.into())
                    };
                    if let Ok(p) = w.client.broadcast(w.now, id, "e", data, rng.below(2) == 0) {
                        pushes.push(p);
                    }
                }
            }
            9..=10 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let payload =
                        json!({"type": "broadcast", "event": "e", "payload": {"n": rng.next_u32()}});
                    let body = PushBody::Json { event: "broadcast".into(), payload: payload.to_string() };
                    if let Ok(p) = w.client.push(w.now, id, body) {
                        pushes.push(p);
                    }
                }
            }
            12 => w.reset(),
            13 => {
                let (code, reason) =
                    [(1000, ""), (1001, "ClientJoinRateLimitReached"), (1011, "x"), (4000, "")]
                        [rng.below(4) as usize];
                w.with_server(|s| s.close(code, reason));
            }
            14 => w.dead = !w.dead,
            15 => {
                w.behaviour.join =
                    [JoinMode::Ok, JoinMode::Ok, JoinMode::Error, JoinMode::Silent][rng.below(4) as usize];
                let b = w.behaviour;
                w.with_server(|s| s.behaviour = b);
            }
            16 => {
                let event = if rng.below(2) == 0 { "phx_error" } else { "phx_close" };
                w.with_server(|s| {
                    if let Some(topic) = s.joined.keys().next().cloned() {
                        s.close_channel(&topic, event);
                    }
                });
            }
            17 => w.split = !w.split,
            18 => {
                w.behaviour.heartbeat_replies = rng.below(4) != 0;
                w.behaviour.push_replies = rng.below(4) != 0;
                let b = w.behaviour;
                w.with_server(|s| s.behaviour = b);
            }
            20 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let _ = w.client.track(w.now, id, &format!(r#"{{"n":{}}}"#, rng.below(100)));
                }
            }
            21 => {
                if let Some(id) = pick(&mut rng, &ids) {
                    let _ = w.client.untrack(w.now, id);
                }
            }
            _ => w.refuse_tcp = rng.below(3) == 0,
        }
        let ms = u64::from(rng.below(8_000));
        w.run_for(Duration::from_millis(ms));
        assert!(w.violations.is_empty(), "seed {seed}: {:?}", w.violations);
        leaves.look(&w, seed);
    }
    // A healthy world again: every push ends, exactly once.
    w.dead = false;
    w.refuse_tcp = false;
    w.run_for(Duration::from_secs(200));
    assert!(w.violations.is_empty(), "seed {seed}: {:?}", w.violations);
    leaves.look(&w, seed);
    assert!(leaves.waiting.is_empty(), "seed {seed}: leaves never answered: {:?}", leaves.waiting);
    for p in &pushes {
        assert_eq!(
            w.outcomes.get(p),
            Some(&1),
            "seed {seed}: push {p:?} ended {:?} times",
            w.outcomes.get(p)
        );
    }
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
                assert_eq!(bindings.contains(0), change.kind == ChangeKind::Insert, "seed {seed}");
                cov.changes += 1;
            }
            _ => {}
        }
    }
    cov.connections += w.connections;
    for id in ids {
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
    // The runs reached every kind of outcome, many times.
    let seeds = SEEDS as usize;
    assert!(
        cov.pushes_ok > seeds / 4 && cov.pushes_timed_out > seeds / 10 && cov.pushes_not_sent > 0,
        "{cov:?}"
    );
    assert!(cov.subscribed > seeds && cov.channel_errors > seeds / 10, "{cov:?}");
    assert!(cov.connections > 2 * seeds && cov.heartbeat_timeouts > seeds / 10, "{cov:?}");
    assert!(cov.changes > seeds / 20, "{cov:?}");
    assert!(
        cov.left > seeds / 8 && cov.leaves_timed_out > seeds / 20 && cov.leaves_offline > seeds,
        "{cov:?}"
    );
}
