//! The state the handles and the drive loop share, behind the runtime's lock: the core's
//! `Client`, the app's stream queues, and the waiters of `subscribe`, pushes and leaves.
//! Events leave the core only here ([`Session::drain_events`]), in the core's order.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::task::{Poll, Waker};
use core::time::Duration;

use realtime_core::client::{
    ChannelId, ChannelStatus, Client, ConnectionEnd, Event, HeartbeatStatus, LeaveOutcome, PushId,
    PushOutcome,
};
use realtime_core::phoenix::message::event_matches;
use realtime_core::phoenix::presence::PresenceEvent;
use realtime_core::phoenix::serializer::{BroadcastDataRef, Payload as WirePayload};
use realtime_core::supabase::postgres::Change;

use crate::error::ConnectionError;
use crate::item::{Broadcast, ClientEvent, Payload};
use crate::lock::Shared;
use crate::stream::{Queue, Tag};

/// A one-shot answer for a waiting future.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    pub(crate) key: u64,
    pub(crate) value: Option<T>,
    pub(crate) waker: Option<Waker>,
}

impl<T> Slot<T> {
    fn fill(&mut self, value: T, wake: &mut Vec<Waker>) {
        self.value = Some(value);
        if let Some(w) = self.waker.take() {
            wake.push(w);
        }
    }
}

/// A slot's answer, if it came; else the waker is kept for when it does.
pub(crate) fn poll_slot<T>(slots: &mut Vec<Slot<T>>, key: u64, waker: &Waker) -> Poll<Option<T>> {
    let Some(pos) = slots.iter().position(|s| s.key == key) else { return Poll::Ready(None) };
    if slots[pos].value.is_some() {
        return Poll::Ready(slots.swap_remove(pos).value);
    }
    slots[pos].waker = Some(waker.clone());
    Poll::Pending
}

/// One channel's streams and waiters.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    /// Broadcast streams with their event filter (`*`: all).
    pub(crate) broadcasts: Vec<Queue<Broadcast>>,
    pub(crate) presence: Vec<Queue<PresenceEvent>>,
    pub(crate) statuses: Vec<Queue<ChannelStatus>>,
    /// Other server messages (`system`, ...) as (event, raw JSON payload); on a plain Phoenix
    /// channel, every message.
    pub(crate) messages: Vec<Queue<(String, String)>>,
    /// A plain Phoenix channel: its `broadcast` events are the app's, not Realtime's.
    pub(crate) phoenix: bool,
    /// Postgres changes streams, each for one binding index.
    pub(crate) changes: Vec<Queue<Shared<Change>>>,
    /// `subscribe` calls waiting for the first status.
    pub(crate) first: Vec<Slot<ChannelStatus>>,
    /// `unsubscribe` and `remove` calls waiting for the leave's outcome.
    pub(crate) leaves: Vec<Slot<LeaveOutcome>>,
    /// The core deleted the channel: nothing more comes; the entry goes once its readers do.
    pub(crate) removed: bool,
    /// `Channel` values alive for this id (each holds one claim in the core).
    pub(crate) live: u32,
    /// The last `Channel` value was dropped without `remove`: its claim is kept (dropping
    /// does not leave) and given back when the app takes a handle again.
    pub(crate) orphan: bool,
}

impl Listeners {
    fn is_unused(&self) -> bool {
        self.broadcasts.is_empty()
            && self.presence.is_empty()
            && self.statuses.is_empty()
            && self.messages.is_empty()
            && self.changes.is_empty()
            && self.first.is_empty()
            && self.leaves.is_empty()
    }

    /// Ends every stream and answers every waiter: the channel is gone. A leave's outcome
    /// still comes from the core (`Event::Left`), unless the whole client is ending.
    fn close(&mut self, wake: &mut Vec<Waker>, ending: bool) {
        self.removed = true;
        for q in &mut self.broadcasts {
            q.close(wake);
        }
        for q in &mut self.presence {
            q.close(wake);
        }
        for q in &mut self.statuses {
            q.close(wake);
        }
        for q in &mut self.messages {
            q.close(wake);
        }
        for q in &mut self.changes {
            q.close(wake);
        }
        for s in &mut self.first {
            s.fill(ChannelStatus::Closed, wake);
        }
        if ending {
            // Their `Leave` futures see the end and answer `Closed`.
            for s in &mut self.leaves {
                if let Some(w) = s.waker.take() {
                    wake.push(w);
                }
            }
        }
    }
}

/// The shared state.
pub(crate) struct Session {
    pub(crate) client: Client,
    /// The drive loop's waker: handles wake it after changing the core.
    pub(crate) driver: Option<Waker>,
    /// Boxed: a map node holds eleven values, and a device with one channel should not pay
    /// for eleven sets of listeners.
    pub(crate) channels: BTreeMap<ChannelId, Box<Listeners>>,
    pub(crate) client_events: Vec<Queue<ClientEvent>>,
    /// Pushes whose outcome a `send` waits for.
    pub(crate) pushes: BTreeMap<PushId, Slot<PushOutcome>>,
    /// Why the last connection attempt or connection failed (none after a manual disconnect).
    pub(crate) last_error: Option<ConnectionError>,
    /// What the drive loop saw fail (an IO or TLS error): it names the next `Disconnected`.
    pub(crate) io_error: Option<ConnectionError>,
    pub(crate) latency: Option<Duration>,
    /// `RealtimeClient` and `Channel` handles alive; the drive loop ends when none is left.
    pub(crate) handles: usize,
    /// `shutdown` was called.
    pub(crate) shutdown: bool,
    /// The drive loop ended: every call is `Error::Closed` and every stream ends.
    pub(crate) ended: bool,
    /// `shutdown` calls waiting for the end.
    pub(crate) shutdowns: Vec<Waker>,
    /// The core asked for a token (`TokenNeeded`) and the token source has not been called.
    pub(crate) token_wanted: bool,
    pub(crate) capacity: usize,
    next_key: u64,
    /// Tasks to wake once the lock is released.
    pub(crate) wake: Vec<Waker>,
}

impl Session {
    pub(crate) fn new(client: Client, capacity: usize) -> Self {
        Self {
            client,
            driver: None,
            channels: BTreeMap::new(),
            client_events: Vec::new(),
            pushes: BTreeMap::new(),
            last_error: None,
            io_error: None,
            latency: None,
            handles: 1,
            shutdown: false,
            ended: false,
            shutdowns: Vec::new(),
            token_wanted: false,
            capacity: capacity.max(1),
            next_key: 0,
            wake: Vec::new(),
        }
    }

    pub(crate) fn key(&mut self) -> u64 {
        self.next_key += 1;
        self.next_key
    }

    pub(crate) fn listeners(&mut self, id: ChannelId) -> &mut Listeners {
        self.channels.entry(id).or_default()
    }

    /// A new queue for a stream.
    pub(crate) fn queue<T>(&mut self, tag: Tag) -> Queue<T> {
        let key = self.key();
        let mut q = Queue::new(key, self.capacity);
        q.tag = tag;
        q
    }

    /// A new waiter slot.
    pub(crate) fn slot<T>(&mut self) -> Slot<T> {
        Slot { key: self.key(), value: None, waker: None }
    }

    /// Forgets a removed channel's entry once nothing reads it.
    pub(crate) fn prune(&mut self, id: ChannelId) {
        let gone = self.client.channel_state(id).is_none();
        if self.channels.get(&id).is_some_and(|l| (l.removed || gone) && l.is_unused()) {
            self.channels.remove(&id);
        }
    }

    /// The driver's waker, to wake after the lock is released (a handle changed the core).
    pub(crate) fn driver_waker(&self) -> Option<Waker> {
        self.driver.clone()
    }

    /// The end of the drive loop: every stream ends, every waiter is answered.
    pub(crate) fn end(&mut self) {
        self.ended = true;
        let mut wake = core::mem::take(&mut self.wake);
        for l in self.channels.values_mut() {
            l.close(&mut wake, true);
        }
        for q in &mut self.client_events {
            q.close(&mut wake);
        }
        for (_, s) in self.pushes.iter_mut() {
            if let Some(w) = s.waker.take() {
                wake.push(w);
            }
        }
        wake.append(&mut self.shutdowns);
        self.wake = wake;
    }

    /// Hands every queued event of the core to the app's streams and waiters.
    pub(crate) fn drain_events(&mut self) {
        while let Some(event) = self.client.poll_event() {
            self.dispatch(event);
        }
    }

    pub(crate) fn emit(&mut self, event: ClientEvent) {
        let mut wake = core::mem::take(&mut self.wake);
        if let Some((last, rest)) = self.client_events.split_last_mut() {
            for q in rest {
                q.offer(event.clone(), &mut wake);
            }
            last.offer(event, &mut wake);
        }
        self.wake = wake;
    }

    fn dispatch(&mut self, event: Event) {
        let mut wake = core::mem::take(&mut self.wake);
        match event {
            Event::Status { channel, status } => {
                let gone = self.client.channel_state(channel).is_none();
                if let Some(l) = self.channels.get_mut(&channel) {
                    for q in &mut l.statuses {
                        q.offer(status.clone(), &mut wake);
                    }
                    // The first status after `subscribe` is its outcome, whatever it is.
                    for s in &mut l.first {
                        if s.value.is_none() {
                            s.fill(status.clone(), &mut wake);
                        }
                    }
                    // A removed channel's last status: its streams end after what they hold.
                    if gone {
                        l.close(&mut wake, false);
                    }
                }
                if gone {
                    self.prune(channel);
                }
            }
            Event::Left { channel, outcome } => {
                // Some deletions report no last `Status` (a closed channel's last handle removed,
                // a quiet close, a takeover under a new id): the leave is where the streams end.
                let gone = self.client.channel_state(channel).is_none();
                if let Some(l) = self.channels.get_mut(&channel) {
                    for s in &mut l.leaves {
                        if s.value.is_none() {
                            s.fill(outcome, &mut wake);
                        }
                    }
                    if gone {
                        l.close(&mut wake, false);
                    }
                }
                if gone {
                    self.prune(channel);
                }
            }
            Event::Message { channel, message } => {
                let Some(l) = self.channels.get_mut(&channel) else { return self.wake = wake };
                let Some(b) = message.broadcast().filter(|_| !l.phoenix) else {
                    // Not a broadcast: a `system` message or another server push.
                    if let WirePayload::Json(text) = message.payload()
                        && !l.messages.is_empty()
                    {
                        let item = (message.event().to_string(), text.to_string());
                        for q in &mut l.messages {
                            q.offer(item.clone(), &mut wake);
                        }
                    }
                    return self.wake = wake;
                };
                let mut item: Option<Broadcast> = None;
                for q in &mut l.broadcasts {
                    if let Tag::Event(filter) = &q.tag
                        && !event_matches(filter, &b.event)
                    {
                        continue;
                    }
                    let it = item.get_or_insert_with(|| Broadcast {
                        event: b.event.to_string(),
                        payload: match b.payload {
                            BroadcastDataRef::Json(t) => Payload::Json(t.to_string()),
                            BroadcastDataRef::Binary(d) => Payload::Binary(d.to_vec()),
                        },
                        meta: b.meta.map(str::to_string),
                    });
                    q.offer(it.clone(), &mut wake);
                }
            }
            Event::Presence { channel, events } => {
                if let Some(l) = self.channels.get_mut(&channel) {
                    for e in events {
                        for q in &mut l.presence {
                            q.offer(e.clone(), &mut wake);
                        }
                    }
                }
            }
            Event::PostgresChange { channel, bindings, change } => {
                if let Some(l) = self.channels.get_mut(&channel) {
                    let change: Shared<Change> = Shared::from(change);
                    for q in &mut l.changes {
                        if let Tag::Binding(index) = q.tag
                            && bindings.iter().any(|i| i == index)
                        {
                            q.offer(change.clone(), &mut wake);
                        }
                    }
                }
            }
            Event::Push { push, outcome, .. } => {
                if let Some(s) = self.pushes.get_mut(&push) {
                    s.fill(outcome, &mut wake);
                }
            }
            Event::TokenNeeded { .. } => self.token_wanted = true,
            Event::Connected => {
                self.last_error = None;
                self.io_error = None;
                self.wake = wake;
                return self.emit(ClientEvent::Connected);
            }
            Event::Reconnected { gap } => {
                self.wake = wake;
                return self.emit(ClientEvent::Reconnected { gap });
            }
            Event::Disconnected { end, next } => {
                // An IO or TLS failure the drive loop saw says more than the core's
                // `TransportLost`; the core's own reasons (a refused upgrade, the server's
                // close, a missed heartbeat) say it themselves.
                let reason = match (end, self.io_error.take()) {
                    (ConnectionEnd::TransportLost, Some(io)) => io,
                    (end, _) => ConnectionError::Ended(end),
                };
                self.last_error = match &reason {
                    ConnectionError::Ended(ConnectionEnd::Manual) => None,
                    other => Some(other.clone()),
                };
                self.wake = wake;
                return self.emit(ClientEvent::Disconnected { reason, next });
            }
            Event::Heartbeat(status) => {
                if let HeartbeatStatus::Ok { latency } = status {
                    self.latency = Some(latency);
                }
                self.wake = wake;
                return self.emit(ClientEvent::Heartbeat(status));
            }
            // Pongs, undecodable frames, presence and change errors: nothing the streams
            // carry (the core counts and skips them).
            _ => {}
        }
        self.wake = wake;
    }
}
