//! The one task that owns the core `Client`: it moves bytes between the core and the socket,
//! wakes the core at its deadline, runs the app's commands, and hands the core's events to the
//! app's streams. No protocol decision is made here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use realtime_core::Instant;
use realtime_core::phoenix::channel_config::ChannelConfig;
use realtime_core::phoenix::client::{
    ChannelError, ChannelId, ChannelState, ChannelStatus, Client, ConnectionEnd, ConnectionState, Event,
    HeartbeatStatus, PushError, PushId, PushOutcome, TransportClosed, TransportCommand, TransportId,
};
use realtime_core::phoenix::postgres::{Binding, Change};
use realtime_core::phoenix::presence::{Presence, PresenceEvent};
use realtime_core::phoenix::serializer::{BroadcastData, BroadcastDataRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use crate::transport::{self, Proxy, Stream};
use crate::{Broadcast, TokenSource};

/// The longest a polite close (the close frame, then the stream's end) may take.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// A deadline so far away it stands for "none".
const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The most the read buffer grows to while the core holds bytes it cannot use yet.
const MAX_READ_BUFFER: usize = 1 << 20;

/// What the app asks of the driver.
pub(crate) enum Command {
    Connect,
    Disconnect,
    Resume,
    SetToken(Option<String>),
    Channel {
        name: String,
        // Boxed, as are the other big payloads: the command queue's blocks hold 32 commands
        // each, so the largest variant sets every client's memory.
        config: Box<ChannelConfig>,
        reply: oneshot::Sender<Result<ChannelId, ChannelError>>,
    },
    Subscribe {
        id: ChannelId,
        reply: oneshot::Sender<Result<ChannelStatus, ChannelError>>,
    },
    Unsubscribe {
        id: ChannelId,
    },
    Remove {
        id: ChannelId,
    },
    RemoveAll,
    AddBinding {
        id: ChannelId,
        binding: Box<Binding>,
        tx: mpsc::Sender<Arc<Change>>,
        reply: oneshot::Sender<Result<(), ChannelError>>,
    },
    ListenBroadcast {
        id: ChannelId,
        event: String,
        tx: mpsc::Sender<Broadcast>,
    },
    ListenPresence {
        id: ChannelId,
        tx: mpsc::Sender<PresenceEvent>,
    },
    ListenMessages {
        id: ChannelId,
        tx: mpsc::Sender<(String, String)>,
    },
    ListenStatus {
        id: ChannelId,
        tx: mpsc::Sender<ChannelStatus>,
    },
    PresenceState {
        id: ChannelId,
        reply: oneshot::Sender<Vec<(String, Vec<Presence>)>>,
    },
    Broadcast {
        id: ChannelId,
        push: Box<(String, BroadcastData)>,
        reply: oneshot::Sender<Result<PushOutcome, PushError>>,
    },
    Track {
        id: ChannelId,
        payload: String,
        reply: oneshot::Sender<Result<(), PushError>>,
    },
    Untrack {
        id: ChannelId,
        reply: oneshot::Sender<Result<(), PushError>>,
    },
    /// The core's REST pieces, for `http_send`: the socket URL and the current token.
    RestInfo {
        reply: oneshot::Sender<(String, Option<String>)>,
    },
    /// A REST fallback request (`ClientConfig::rest_fallback`) finished.
    RestDone {
        push: PushId,
        result: Result<(), realtime_core::phoenix::rest::RestError>,
    },
    /// Close the connection politely, then end the task; answered once the socket is closed.
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

/// What the app can watch without asking.
pub(crate) struct Watches {
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) latency: watch::Sender<Option<Duration>>,
    /// Why the last connection attempt or connection ended (none after a manual disconnect).
    pub(crate) error: watch::Sender<Option<String>>,
}

#[derive(Default)]
struct Listeners {
    broadcasts: Vec<(String, mpsc::Sender<Broadcast>)>,
    presence: Vec<mpsc::Sender<PresenceEvent>>,
    statuses: Vec<mpsc::Sender<ChannelStatus>>,
    /// Other server messages (`system`, ...) as (event, raw JSON payload).
    messages: Vec<mpsc::Sender<(String, String)>>,
    /// Binding index -> stream.
    changes: HashMap<usize, mpsc::Sender<Arc<Change>>>,
    /// `subscribe().await`s waiting for the first outcome.
    first: Vec<oneshot::Sender<Result<ChannelStatus, ChannelError>>>,
}

/// An item for a bounded stream: dropped (and said so) when the app does not keep up, so a slow
/// reader never stalls the socket or grows memory.
fn offer<T>(tx: &mpsc::Sender<T>, item: T, what: &str) -> bool {
    match tx.try_send(item) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            warn!(stream = what, "a stream is full: the app is not reading it; an item was dropped");
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

struct Link {
    id: TransportId,
    read: ReadHalf<Stream>,
    write: WriteHalf<Stream>,
    /// Bytes read that the core did not take yet. Reads go into its spare capacity
    /// (`read_buf`). It starts small and doubles, up to `read_buffer`, while reads fill it: an
    /// idle connection (most of a big fan-out's) holds 1 KiB, a busy one reads in big chunks.
    inbuf: Vec<u8>,
    /// The size reads grow to.
    read_max: usize,
}

/// A connection's first read buffer.
const READ_START: usize = 1024;

type Connecting = tokio::task::JoinHandle<(TransportId, std::io::Result<Stream>)>;

pub(crate) struct Driver {
    pub(crate) client: Client,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) self_tx: mpsc::WeakUnboundedSender<Command>,
    pub(crate) watches: Watches,
    /// `None` for a `ws` endpoint.
    pub(crate) tls: Option<TlsConnector>,
    pub(crate) proxy: Proxy,
    pub(crate) read_buffer: usize,
    pub(crate) token_source: Option<TokenSource>,
    pub(crate) token: Option<String>,
    /// Events taken from the core, reused between batches.
    pub(crate) batch: Vec<Event>,
}

impl Driver {
    pub(crate) async fn run(mut self) {
        let epoch = tokio::time::Instant::now();
        let now =
            move || Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX));
        // The core checks a JWT's `exp` (and asks the token source before it) only with a wall
        // clock, and it has no clock of its own: give it the system's. Without this, a token
        // source was asked only after the server had already refused an expired token (the
        // channel closed, then rejoined), never ahead of `exp` as `token_refresh_margin` says.
        if let Ok(since_epoch) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            let unix_ms = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
            self.client.set_wall_clock(now(), unix_ms);
        }
        let mut link: Option<Link> = None;
        let mut connecting: Option<Connecting> = None;
        let mut listeners: HashMap<ChannelId, Listeners> = HashMap::new();
        let mut pushes: HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>> = HashMap::new();
        // Starts small and doubles (to OUT_MAX) while the core fills it: joins and heartbeats
        // fit in 1 KiB, so an idle connection does not hold 16 KiB of it.
        let mut out = vec![0u8; OUT_MIN];
        // One timer for the life of the task, moved when the core's deadline moves: creating
        // and cancelling one per wake-up costs a timer-wheel insert and removal per message.
        let timer = tokio::time::sleep_until(epoch + FAR);
        tokio::pin!(timer);
        let mut armed: Option<Instant> = None;
        loop {
            // 1. The transport commands.
            while let Some(cmd) = self.client.poll_transport() {
                match cmd {
                    TransportCommand::Open { url, id } => {
                        debug!(?id, "opening a transport");
                        if let Some(old) = connecting.take() {
                            old.abort();
                        }
                        link = None;
                        let (proxy, tls) = (self.proxy.clone(), self.tls.clone());
                        connecting = Some(tokio::spawn(async move {
                            (id, transport::connect(&url, &proxy, tls.as_ref()).await)
                        }));
                    }
                    TransportCommand::Close { .. } => {
                        // Write what is left (the close frame), then end the stream.
                        if let Some(mut l) = link.take() {
                            close_link(&mut self.client, &mut l.write, &mut out, epoch).await;
                        }
                    }
                    TransportCommand::Abort => {
                        link = None;
                        if let Some(c) = connecting.take() {
                            c.abort();
                        }
                    }
                }
            }
            // 1b. REST fallback broadcasts (opt-in): each runs in its own task and reports back.
            while let Some((push, mut req)) = self.client.poll_rest() {
                let (tls, proxy, tx) = (self.tls.clone(), self.proxy.clone(), self.self_tx.clone());
                tokio::spawn(async move {
                    crate::rest::run(&mut req, tls.as_ref(), &proxy, epoch).await;
                    let result = req
                        .result()
                        .cloned()
                        .unwrap_or(Err(realtime_core::phoenix::rest::RestError::Timeout));
                    if let Some(tx) = tx.upgrade() {
                        let _ = tx.send(Command::RestDone { push, result });
                    }
                });
            }
            // 2. Bytes out, batched: one flush for everything queued.
            if let Some(l) = link.as_mut()
                && let Err(e) = write_all(&mut self.client, &mut l.write, &mut out, epoch).await
            {
                debug!(error = %e, "write failed");
                let id = l.id;
                link = None;
                self.client.handle_transport_closed(now(), id, TransportClosed::Error);
                continue;
            }
            // 2b. Bytes the core left (a ping behind a pending pong, now written): offer them again.
            if let Some(l) = link.as_mut()
                && !l.inbuf.is_empty()
            {
                self.drain_events(&mut listeners, &mut pushes);
                let used = self.client.handle_input(now(), &l.inbuf);
                if used > 0 {
                    l.inbuf.drain(..used);
                    continue;
                }
            }
            // 3. Events to the app.
            self.drain_events(&mut listeners, &mut pushes);
            // Watchers wake only when the state changes.
            let state = self.client.state();
            self.watches.state.send_if_modified(|s| {
                let changed = *s != state;
                *s = state;
                changed
            });
            // 4. Wait for the next thing.
            let deadline = self.client.poll_timeout();
            if deadline != armed {
                armed = deadline;
                let at = deadline.map_or(epoch + FAR, |at| epoch + Duration::from_micros(at.as_micros()));
                timer.as_mut().reset(at);
            }
            let read = async {
                match link.as_mut() {
                    Some(l) => {
                        if l.inbuf.len() == l.inbuf.capacity() {
                            // The core left a full buffer (a long handshake response or control
                            // frame still partial): grow it, up to a bound; past it the peer is
                            // not speaking the protocol and the read fails.
                            if l.inbuf.capacity() >= MAX_READ_BUFFER {
                                return Some(Err(std::io::Error::other(
                                    "the server sent more than the read buffer's bound without a whole frame",
                                )));
                            }
                            l.inbuf.reserve(l.inbuf.capacity().max(1024));
                        }
                        let n = l.read.read_buf(&mut l.inbuf).await;
                        if l.inbuf.len() == l.inbuf.capacity() && l.inbuf.capacity() < l.read_max {
                            // That read filled it: more is likely waiting; read bigger next time.
                            let grow = l.inbuf.capacity().min(l.read_max - l.inbuf.capacity());
                            l.inbuf.reserve(grow);
                        }
                        Some(n)
                    }
                    None => std::future::pending().await,
                }
            };
            let connected = async {
                match connecting.as_mut() {
                    Some(c) => c.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                cmd = self.commands.recv() => {
                    // Every handle gone, or a shutdown: close politely, then end.
                    let done = match cmd {
                        None => None,
                        Some(Command::Shutdown { reply }) => Some(reply),
                        Some(cmd) => {
                            self.command(cmd, now(), &mut listeners, &mut pushes);
                            continue;
                        }
                    };
                    self.client.disconnect(now());
                    while self.client.poll_transport().is_some() {}
                    if let Some(mut l) = link.take() {
                        close_link(&mut self.client, &mut l.write, &mut out, epoch).await;
                    }
                    if let Some(reply) = done {
                        let _ = reply.send(());
                    }
                    return;
                }
                () = &mut timer, if armed.is_some() => {
                    armed = None;
                    self.client.handle_timeout(now());
                }
                done = connected => {
                    connecting = None;
                    match done {
                        Ok((id, Ok(stream))) => {
                            let (read, write) = tokio::io::split(stream);
                            let inbuf = Vec::with_capacity(READ_START.min(self.read_buffer));
                            link = Some(Link { id, read, write, inbuf, read_max: self.read_buffer });
                            self.client.handle_transport_open(now(), id);
                        }
                        Ok((id, Err(e))) => {
                            info!(error = %e, "connect failed");
                            // The io error says what the core cannot: refused, unreachable,
                            // a certificate the roots do not trust.
                            let _ = self.watches.error.send_replace(Some(format!("connect failed: {e}")));
                            self.client.handle_transport_closed(now(), id, TransportClosed::Error);
                        }
                        Err(_) => {}
                    }
                }
                Some(read) = read => {
                    let Some(l) = link.as_mut() else { continue };
                    match read {
                        Ok(0) => {
                            let id = l.id;
                            link = None;
                            self.client.handle_transport_closed(now(), id, TransportClosed::Eof);
                        }
                        Ok(_) => {
                            let used = self.client.handle_input(now(), &l.inbuf);
                            l.inbuf.drain(..used);
                            // The core may leave bytes while its event queue is full: drain it
                            // and offer them again.
                            while !l.inbuf.is_empty() {
                                self.drain_events(&mut listeners, &mut pushes);
                                let used = self.client.handle_input(now(), &l.inbuf);
                                if used == 0 {
                                    break;
                                }
                                l.inbuf.drain(..used);
                            }
                        }
                        Err(e) => {
                            debug!(error = %e, "read failed");
                            let id = l.id;
                            link = None;
                            self.client.handle_transport_closed(now(), id, TransportClosed::Error);
                        }
                    }
                }
            }
        }
    }

    fn command(
        &mut self,
        cmd: Command,
        now: Instant,
        listeners: &mut HashMap<ChannelId, Listeners>,
        pushes: &mut HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    ) {
        match cmd {
            Command::Connect => self.client.connect(now),
            Command::Disconnect => self.client.disconnect(now),
            Command::Resume => self.client.resume(now),
            Command::SetToken(token) => {
                self.token.clone_from(&token);
                self.client.set_access_token(now, token);
            }
            Command::Channel { name, config, reply } => {
                let config = *config;
                let _ = reply.send(self.client.channel(now, &name, config));
            }
            Command::Subscribe { id, reply } => {
                // Joined already: subscribing is a no-op in the core and no status follows, so
                // waiting for "the first status" would hang until the next reconnect. The
                // outcome is known now.
                let joined = self.client.channel_state(id) == Some(ChannelState::Joined);
                match self.client.subscribe(now, id) {
                    Ok(()) if joined => {
                        let _ = reply.send(Ok(ChannelStatus::Subscribed));
                    }
                    Ok(()) => listeners.entry(id).or_default().first.push(reply),
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Unsubscribe { id } => {
                let _ = self.client.unsubscribe(now, id);
            }
            Command::Remove { id } => {
                let _ = self.client.remove_channel(now, id);
                self.prune(listeners);
            }
            Command::RemoveAll => {
                self.client.remove_all_channels(now);
                self.prune(listeners);
            }
            Command::AddBinding { id, binding, tx, reply } => {
                let binding = *binding;
                let result = self.client.add_postgres_changes(now, id, binding).map(|index| {
                    listeners.entry(id).or_default().changes.insert(index, tx);
                });
                let _ = reply.send(result);
            }
            Command::ListenBroadcast { id, event, tx } => {
                listeners.entry(id).or_default().broadcasts.push((event, tx))
            }
            Command::ListenPresence { id, tx } => {
                listeners.entry(id).or_default().presence.push(tx);
                // Listening to presence is asking for it (spec C.2): the join must say so.
                let _ = self.client.enable_presence(now, id);
            }
            Command::ListenStatus { id, tx } => listeners.entry(id).or_default().statuses.push(tx),
            Command::ListenMessages { id, tx } => listeners.entry(id).or_default().messages.push(tx),
            Command::PresenceState { id, reply } => {
                let state = self
                    .client
                    .presence(id)
                    .map(|p| p.list().iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let _ = reply.send(state);
            }
            Command::Broadcast { id, push, reply } => {
                let (event, data) = *push;
                match self.client.broadcast(now, id, &event, data, false) {
                    Ok(push) => {
                        pushes.insert(push, reply);
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::Track { id, payload, reply } => {
                let _ = reply.send(self.client.track(now, id, &payload));
            }
            Command::Untrack { id, reply } => {
                let _ = reply.send(self.client.untrack(now, id));
            }
            Command::RestInfo { reply } => {
                let _ = reply.send((self.client.url().to_string(), self.token.clone()));
            }
            Command::RestDone { push, result } => self.client.handle_rest_result(push, &result),
            // Handled by the loop (it ends the task).
            Command::Shutdown { .. } => {}
        }
    }

    /// Forgets the listeners of channels the core deleted (their streams end), so an app that
    /// creates and removes channels does not grow the driver.
    fn prune(&self, listeners: &mut HashMap<ChannelId, Listeners>) {
        listeners.retain(|&id, _| self.client.channel_state(id).is_some());
    }

    /// Hands every queued event to the app. Why a connection ended is recorded first, so an app
    /// woken by a status of this batch (a failed `subscribe`) already sees it in `last_error`.
    fn drain_events(
        &mut self,
        listeners: &mut HashMap<ChannelId, Listeners>,
        pushes: &mut HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    ) {
        let mut batch = std::mem::take(&mut self.batch);
        batch.extend(std::iter::from_fn(|| self.client.poll_event()));
        for event in &batch {
            match event {
                Event::Connected => {
                    let _ = self.watches.error.send_replace(None);
                }
                Event::Disconnected { end, .. } => {
                    let why = match end {
                        ConnectionEnd::Manual => None,
                        // A failed connect was recorded when it happened, with its io error.
                        ConnectionEnd::TransportLost if self.watches.error.borrow().is_some() => continue,
                        ConnectionEnd::UpgradeRejected { status, body } => {
                            Some(format!("the server refused the upgrade: HTTP {status} {}", body.trim()))
                        }
                        ConnectionEnd::ServerClosed { code, reason } => {
                            Some(format!("the server closed the socket: {code} {reason}"))
                        }
                        other => Some(format!("{other:?}")),
                    };
                    let _ = self.watches.error.send_replace(why);
                }
                _ => {}
            }
        }
        for event in batch.drain(..) {
            self.dispatch(event, listeners, pushes);
        }
        self.batch = batch;
    }

    fn dispatch(
        &mut self,
        event: Event,
        listeners: &mut HashMap<ChannelId, Listeners>,
        pushes: &mut HashMap<PushId, oneshot::Sender<Result<PushOutcome, PushError>>>,
    ) {
        match event {
            Event::Status { channel, status } => {
                info!(?channel, ?status, "channel status");
                let Some(l) = listeners.get_mut(&channel) else { return };
                l.statuses.retain(|tx| offer(tx, status.clone(), "statuses"));
                // The first status after `subscribe` is its outcome, whatever it is.
                for w in l.first.drain(..) {
                    let _ = w.send(Ok(status.clone()));
                }
                // A removed channel's last status: its streams end (their senders go).
                if self.client.channel_state(channel).is_none() {
                    listeners.remove(&channel);
                }
            }
            Event::Message { channel, message } => {
                let Some(l) = listeners.get_mut(&channel) else { return };
                let Some(b) = message.broadcast() else {
                    // Not a broadcast: a `system` message or another server push.
                    if let realtime_core::phoenix::serializer::Payload::Json(text) = message.payload() {
                        let item = (message.event().to_string(), text.to_string());
                        l.messages.retain(|tx| offer(tx, item.clone(), "messages"));
                    }
                    return;
                };
                let item = Broadcast {
                    event: b.event.to_string(),
                    payload: match b.payload {
                        BroadcastDataRef::Json(t) => crate::Payload::Json(t.to_string()),
                        BroadcastDataRef::Binary(d) => crate::Payload::Binary(d.to_vec()),
                    },
                    meta: b.meta.map(str::to_string),
                };
                l.broadcasts.retain(|(filter, tx)| {
                    !realtime_core::phoenix::message::event_matches(filter, &item.event)
                        || offer(tx, item.clone(), "broadcasts")
                });
            }
            Event::Presence { channel, events } => {
                let Some(l) = listeners.get_mut(&channel) else { return };
                for e in events {
                    l.presence.retain(|tx| offer(tx, e.clone(), "presence"));
                }
            }
            Event::PostgresChange { channel, bindings, change } => {
                let Some(l) = listeners.get_mut(&channel) else { return };
                let change: Arc<Change> = Arc::from(change);
                for i in bindings.iter() {
                    if let Some(tx) = l.changes.get(&i)
                        && !offer(tx, change.clone(), "postgres changes")
                    {
                        l.changes.remove(&i);
                    }
                }
            }
            Event::Push { push, outcome, .. } => {
                if let Some(w) = pushes.remove(&push) {
                    let _ = w.send(Ok(outcome));
                }
            }
            Event::TokenNeeded { reason } => {
                debug!(?reason, "token needed");
                if let (Some(source), Some(tx)) = (self.token_source.clone(), self.self_tx.upgrade()) {
                    tokio::spawn(async move {
                        let token = source().await;
                        let _ = tx.send(Command::SetToken(token));
                    });
                }
            }
            Event::Heartbeat(HeartbeatStatus::Ok { latency }) => {
                let _ = self.watches.latency.send_replace(Some(latency));
            }
            Event::Connected => info!("connected"),
            Event::Disconnected { end, next } => info!(?end, ?next, "disconnected"),
            Event::Reconnected { gap } => info!(?gap, "reconnected"),
            other => debug!(event = ?other, "event"),
        }
    }
}

/// The send buffer's first and largest sizes.
const OUT_MIN: usize = 1024;
const OUT_MAX: usize = 16 * 1024;

/// Writes everything the core has to send, then flushes once. `out` doubles (up to
/// [`OUT_MAX`]) each time the core fills it.
async fn write_all(
    client: &mut Client,
    write: &mut WriteHalf<Stream>,
    out: &mut Vec<u8>,
    epoch: tokio::time::Instant,
) -> std::io::Result<()> {
    let mut wrote = false;
    loop {
        let n = client.poll_transmit(out);
        if n == 0 {
            break;
        }
        let mut pos = 0;
        while pos < n {
            // `write` is cancel-safe (a write either happened or did not), so a deadline can
            // interrupt it without losing track of the bytes.
            pos += match until_deadline(client, epoch, write.write(&out[pos..n])).await? {
                Some(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Some(k) => k,
                None => continue,
            };
        }
        wrote = true;
        if n == out.len() && out.len() < OUT_MAX {
            out.resize(out.len() * 2, 0);
        }
    }
    if wrote {
        while until_deadline(client, epoch, write.flush()).await?.is_none() {}
    }
    Ok(())
}

/// Runs a write until it completes or the core's next deadline passes. A peer that stops
/// reading must not freeze the core's timers: at the deadline the core gets `handle_timeout`
/// (a heartbeat or close timeout then ends the connection, and the write fails), otherwise the
/// write is tried again (`None`).
async fn until_deadline<T>(
    client: &mut Client,
    epoch: tokio::time::Instant,
    io: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<Option<T>> {
    let Some(at) = client.poll_timeout() else { return io.await.map(Some) };
    match tokio::time::timeout_at(epoch + Duration::from_micros(at.as_micros()), io).await {
        Ok(r) => r.map(Some),
        Err(_) => {
            let now = Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX));
            client.handle_timeout(now);
            if matches!(client.state(), ConnectionState::Open | ConnectionState::Closing) {
                Ok(None)
            } else {
                Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the peer stopped reading"))
            }
        }
    }
}

/// The polite end of a connection: what is left (the close frame), then the stream's end, at
/// most [`CLOSE_WAIT`] in all (a peer that does not read gets no longer).
async fn close_link(
    client: &mut Client,
    write: &mut WriteHalf<Stream>,
    out: &mut Vec<u8>,
    epoch: tokio::time::Instant,
) {
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        let _ = write_all(client, write, out, epoch).await;
        let _ = write.shutdown().await;
    })
    .await;
}
#[cfg(test)]
mod tests {
    /// The command queue allocates 32 commands per block: keep a command small.
    #[test]
    fn a_command_is_small() {
        assert!(size_of::<super::Command>() <= 64, "{}", size_of::<super::Command>());
    }
}
