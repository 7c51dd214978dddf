//! `realtime bench`: N clients of ours on C channels, R broadcasts per second in all, for S
//! seconds; every delivery is checked against the [`Ledger`](crate::load::Ledger).
//!
//! Client i joins channel `bench-<i mod C>`. Broadcast k is sent by subscribed client k mod N
//! (so channels take turns), stamped with its send time and id ([`Tick`]), on a schedule fixed
//! from the start (a late send does not push the later ones back). Each broadcast should reach
//! every subscriber of its channel except the sender (and the sender too with `--self`); one
//! that does not arrive within `--lost-after` of its send is lost.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use realtime_tokio::{Channel, ChannelConfig, ChannelStatus, ClientEvent, RealtimeClient};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::args::Bench;
use crate::load::{
    EVENT, Ledger, Percentiles, Tally, Tick, expected_deliveries, process_cpu, raise_open_files, tick_json,
    unix_micros,
};
use crate::run::{client, subscribe};
use crate::{Failure, lines};

/// Counters every task adds to, and the ledger.
#[derive(Default)]
struct Shared {
    ledger: Mutex<Option<Ledger>>,
    subscribed: AtomicU64,
    subscribe_failed: AtomicU64,
    send_failed: AtomicU64,
    channel_errors: AtomicU64,
    bad_payloads: AtomicU64,
    disconnects: AtomicU64,
    reconnects: AtomicU64,
}

impl Shared {
    fn ledger(&self) -> MutexGuard<'_, Option<Ledger>> {
        // A panicking task cannot leave the ledger half-updated in a way that matters here.
        self.ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Errors by kind.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Errors {
    /// Clients whose channel did not subscribe.
    subscribe: u64,
    /// Broadcasts whose send failed (not expected to arrive).
    send: u64,
    /// Channel statuses other than subscribed after the first subscribe (errors, timeouts,
    /// closes).
    channel: u64,
    /// Payloads that were not a [`Tick`].
    bad_payload: u64,
}

impl Errors {
    fn total(&self) -> u64 {
        self.subscribe + self.send + self.channel + self.bad_payload
    }
}

/// The run's result: the table's figures, or the `--json` object.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct BenchReport {
    url: String,
    clients: u64,
    channels: u64,
    rate: f64,
    duration_s: f64,
    lost_after_s: f64,
    receive_own: bool,
    subscribed: u64,
    connect_s: f64,
    #[serde(flatten)]
    tally: Tally,
    latency: Percentiles,
    /// The largest delay of a send behind its schedule, microseconds (the generator's own lag).
    send_behind_max_us: u64,
    /// Connection drops seen by the clients, and reopened connections.
    disconnects: u64,
    reconnects: u64,
    errors: Errors,
    errors_total: u64,
    /// CPU time of this process while sending and draining, seconds.
    cpu_s: f64,
}

fn check(a: &Bench) -> Result<(), Failure> {
    if a.clients == 0 || a.channels == 0 || a.channels > a.clients {
        return Err(Failure::input(
            "--clients and --channels must be at least 1, with no more channels than clients",
        ));
    }
    if !(a.rate.is_finite() && a.rate > 0.0) {
        return Err(Failure::input("--rate must be a number of broadcasts per second above 0"));
    }
    if !(a.duration.is_finite() && a.duration > 0.0) {
        return Err(Failure::input("--duration must be a number of seconds above 0"));
    }
    if !(a.lost_after.is_finite() && a.lost_after >= 0.0) {
        return Err(Failure::input("--lost-after must be a number of seconds, 0 or more"));
    }
    Ok(())
}

/// One subscribed client.
struct Member {
    client: RealtimeClient,
    channel: Channel,
    index: u32,
}

pub(crate) async fn bench(a: Bench) -> Result<(), Failure> {
    check(&a)?;
    // Every client is one socket; leave room for the runtime's own files.
    let limit = raise_open_files(u64::from(a.clients) + 256);
    if limit < u64::from(a.clients) + 16 {
        eprintln!(
            "realtime: the open-file limit is {limit}; raise it (`ulimit -n`) for {} clients",
            a.clients
        );
    }
    client(&a.conn)?; // checks the flags once, before anything connects
    let shared = Arc::new(Shared::default());
    let progress = std::io::stderr().is_terminal().then(|| Progress::start(Arc::clone(&shared), &a));

    // Connect and subscribe every client, `--concurrency` at a time.
    let connect_start = Instant::now();
    let mut members: Vec<Member> = Vec::with_capacity(a.clients as usize);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..a.clients {
        while set.len() >= a.concurrency.max(1) as usize {
            if let Some(Ok(Some(m))) = set.join_next().await {
                members.push(m);
            }
        }
        let (conn, shared, receive_own) = (a.conn.clone(), Arc::clone(&shared), a.receive_own);
        let topic = format!("bench-{}", i % a.channels);
        set.spawn(async move {
            let joined = join(&conn, &topic, receive_own, &shared).await;
            match joined {
                Ok((client, channel)) => {
                    shared.subscribed.fetch_add(1, Relaxed);
                    Some(Member { client, channel, index: i })
                }
                Err(_) => {
                    shared.subscribe_failed.fetch_add(1, Relaxed);
                    None
                }
            }
        });
    }
    while let Some(r) = set.join_next().await {
        if let Ok(Some(m)) = r {
            members.push(m);
        }
    }
    let connect_s = connect_start.elapsed().as_secs_f64();
    if members.is_empty() {
        if let Some(p) = progress {
            p.stop().await;
        }
        return Err(Failure::runtime("no client could subscribe"));
    }
    members.sort_by_key(|m| m.index);
    let mut subscribers = vec![0u64; a.channels as usize];
    for m in &members {
        subscribers[(m.index % a.channels) as usize] += 1;
    }

    // Send on schedule.
    *shared.ledger() = Some(Ledger::new(Duration::from_secs_f64(a.lost_after)));
    let cpu_start = process_cpu();
    let period = Duration::from_secs_f64(1.0 / a.rate);
    let total = (a.rate * a.duration).round() as u64;
    let start = tokio::time::Instant::now();
    let mut behind = Duration::ZERO;
    for k in 0..total {
        let due = start + period.mul_f64(k as f64);
        tokio::time::sleep_until(due).await;
        behind = behind.max(tokio::time::Instant::now().saturating_duration_since(due));
        let m = &members[(k % members.len() as u64) as usize];
        let expected = expected_deliveries(subscribers[(m.index % a.channels) as usize], a.receive_own);
        let id = shared.ledger().as_mut().map_or(0, |l| l.open(expected));
        let Ok(raw) = RawValue::from_string(tick_json(id, unix_micros())) else { continue };
        let (channel, shared) = (m.channel.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            if channel.send(EVENT, &raw).await.is_err() {
                shared.send_failed.fetch_add(1, Relaxed);
                if let Some(l) = shared.ledger().as_mut() {
                    l.cancel(id);
                }
            }
        });
    }

    // Wait for the stragglers: until everything came, or the last send is `--lost-after` old.
    let drain_until =
        tokio::time::Instant::now() + Duration::from_secs_f64(a.lost_after) + Duration::from_millis(100);
    while tokio::time::Instant::now() < drain_until {
        if shared.ledger().as_ref().is_some_and(Ledger::complete) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cpu_s = (process_cpu().saturating_sub(cpu_start)).as_secs_f64();
    let (tally, latency) = {
        let mut guard = shared.ledger();
        let ledger = guard.as_mut().ok_or_else(|| Failure::runtime("no ledger"))?;
        (ledger.tally(), ledger.percentiles())
    };
    if let Some(p) = progress {
        p.stop().await;
    }
    let errors = Errors {
        subscribe: shared.subscribe_failed.load(Relaxed),
        send: shared.send_failed.load(Relaxed),
        channel: shared.channel_errors.load(Relaxed),
        bad_payload: shared.bad_payloads.load(Relaxed),
    };
    let report = BenchReport {
        url: a.conn.url.clone(),
        clients: u64::from(a.clients),
        channels: u64::from(a.channels),
        rate: a.rate,
        duration_s: a.duration,
        lost_after_s: a.lost_after,
        receive_own: a.receive_own,
        subscribed: members.len() as u64,
        connect_s,
        tally,
        latency,
        send_behind_max_us: u64::try_from(behind.as_micros()).unwrap_or(u64::MAX),
        disconnects: shared.disconnects.load(Relaxed),
        reconnects: shared.reconnects.load(Relaxed),
        errors,
        errors_total: errors.total(),
        cpu_s,
    };
    let mut out = std::io::stdout().lock();
    let text = if a.json { serde_json::to_string(&report).unwrap_or_default() } else { table(&report) };
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
    drop(out);

    // Leave politely, without waiting long.
    let mut set = tokio::task::JoinSet::new();
    for m in members {
        set.spawn(async move {
            let _ = m.client.shutdown().await;
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(3), async { while set.join_next().await.is_some() {} })
        .await;
    Ok(())
}

/// Connects one client, subscribes it to `topic` and starts its watcher task (deliveries,
/// channel statuses, connection states).
async fn join(
    conn: &crate::args::Connection,
    topic: &str,
    receive_own: bool,
    shared: &Arc<Shared>,
) -> Result<(RealtimeClient, Channel), Failure> {
    let client = client(conn)?;
    let channel = client
        .channel(topic, ChannelConfig::new().broadcast_self(receive_own))
        .await
        .map_err(|e| Failure::runtime(lines::chain(&e)))?;
    let mut broadcasts = channel.on_broadcast(EVENT).await;
    subscribe(&client, &channel).await?;
    let mut statuses = channel.statuses().await;
    let mut events = client.events();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                b = broadcasts.recv() => {
                    let Some(b) = b else { break };
                    // A receiver that fell behind: what it dropped is counted as lost.
                    let Ok(b) = b else { continue };
                    let now = unix_micros();
                    match b.json::<Tick>() {
                        Ok(t) => {
                            if let Some(l) = shared.ledger().as_mut() {
                                l.deliver(t.seq, now.saturating_sub(t.sent_us));
                            }
                        }
                        Err(_) => { shared.bad_payloads.fetch_add(1, Relaxed); }
                    }
                }
                Some(s) = statuses.recv() => {
                    if s != Ok(ChannelStatus::Subscribed) {
                        shared.channel_errors.fetch_add(1, Relaxed);
                    }
                }
                Some(Ok(e)) = events.recv() => match e {
                    ClientEvent::Disconnected { .. } => {
                        shared.disconnects.fetch_add(1, Relaxed);
                    }
                    ClientEvent::Reconnected { .. } => {
                        shared.reconnects.fetch_add(1, Relaxed);
                    }
                    _ => {}
                },
            }
        }
    });
    Ok((client, channel))
}

/// Microseconds as milliseconds with two decimals.
fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

/// The final table.
fn table(r: &BenchReport) -> String {
    let t = &r.tally;
    let pct = |n: u64| if t.expected == 0 { 0.0 } else { n as f64 * 100.0 / t.expected as f64 };
    let e = &r.errors;
    let rows: Vec<(&str, String)> = vec![
        (
            "clients subscribed",
            format!(
                "{} of {} on {} channels ({:.1} s to connect)",
                r.subscribed, r.clients, r.channels, r.connect_s
            ),
        ),
        (
            "broadcasts sent",
            format!(
                "{} ({} /s for {} s; at most {} behind schedule)",
                t.sent,
                r.rate,
                r.duration_s,
                ms(r.send_behind_max_us)
            ),
        ),
        (
            "deliveries expected",
            format!(
                "{}{}",
                t.expected,
                if r.receive_own { " (senders included)" } else { " (senders excluded)" }
            ),
        ),
        ("delivered", format!("{} ({:.3} %)", t.delivered, pct(t.delivered))),
        (
            "lost",
            format!(
                "{} ({:.3} %; not in within {} s; {} of them late)",
                t.lost,
                pct(t.lost),
                r.lost_after_s,
                t.late
            ),
        ),
        ("duplicates", t.duplicates.to_string()),
        ("latency p50", ms(r.latency.p50_us)),
        ("latency p90", ms(r.latency.p90_us)),
        ("latency p99", ms(r.latency.p99_us)),
        ("latency max", ms(r.latency.max_us)),
        ("disconnects", r.disconnects.to_string()),
        ("reconnects", r.reconnects.to_string()),
        (
            "errors",
            format!(
                "{} (subscribe {}, send {}, channel {}, bad payload {}, unknown id {})",
                r.errors_total, e.subscribe, e.send, e.channel, e.bad_payload, t.unknown
            ),
        ),
        ("bench CPU", format!("{:.1} s", r.cpu_s)),
    ];
    let mut s = format!("realtime bench {}\n", r.url);
    for (k, v) in rows {
        s.push_str(&format!("  {k:<20} {v}\n"));
    }
    s.pop();
    s
}

/// The progress bar on stderr (a terminal): redrawn four times a second.
struct Progress {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(shared: Arc<Shared>, a: &Bench) -> Self {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let (clients, duration, lost_after) = (u64::from(a.clients), a.duration, a.lost_after);
        let task = tokio::spawn(async move {
            let mut sending_since: Option<Instant> = None;
            loop {
                let line = {
                    let ledger = shared.ledger();
                    match ledger.as_ref() {
                        None => {
                            let done =
                                shared.subscribed.load(Relaxed) + shared.subscribe_failed.load(Relaxed);
                            format!(
                                "connecting {}",
                                bar(done as f64 / clients as f64, &format!("{done}/{clients}"))
                            )
                        }
                        Some(l) => {
                            let since = *sending_since.get_or_insert_with(Instant::now);
                            let t = l.tally();
                            let secs = since.elapsed().as_secs_f64();
                            let label = if secs <= duration {
                                format!("{secs:.0}/{duration} s")
                            } else {
                                format!("draining (up to {lost_after} s)")
                            };
                            format!(
                                "sending {} sent {} delivered {}/{}",
                                bar(secs / duration, &label),
                                t.sent,
                                t.delivered,
                                t.expected
                            )
                        }
                    }
                };
                eprint!("\r\x1b[2K{line}");
                tokio::select! {
                    _ = &mut stopped => break,
                    () = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
            eprint!("\r\x1b[2K");
        });
        Self { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// `[#####.....] label`, `fraction` of 30 cells filled.
fn bar(fraction: f64, label: &str) -> String {
    let filled = (fraction.clamp(0.0, 1.0) * 30.0).round() as usize;
    format!("[{}{}] {label}", "#".repeat(filled), ".".repeat(30 - filled))
}
