//! A channel handle: subscribe, the channel's streams, pushes, presence, leaving. Each call
//! acts on the core under the lock and wakes the drive loop; the waits (a subscribe's first
//! status, a push's outcome, a leave's outcome) are slots the drive loop fills.

use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll};

use realtime_core::Instant;
use realtime_core::client::{
    ChannelId, ChannelStatus, LeaveOutcome, PushBody, PushError, PushId, PushOutcome, Subscription,
};
use realtime_core::phoenix::presence::{Presence, PresenceEvent};
use realtime_core::phoenix::serializer::BroadcastData;
use realtime_core::supabase::postgres::{Binding, Change};
use realtime_core::supabase::rest::RestBody;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::RealtimeClient;
use crate::error::Error;
use crate::item::Broadcast;
use crate::lock::{Lock, Shared};
use crate::rest::RestRun;
use crate::runtime::Runtime;
use crate::session::{Session, poll_slot};
use crate::stream::{Item, Place, Receiver, Tag, Typed};

/// A channel of a [`RealtimeClient`]. Cloning it takes another handle on the channel (the
/// core counts them): [`remove`](Self::remove) on a clone leaves the channel only when no
/// other handle holds it. Dropping a handle gives its claim back without leaving; dropping the
/// last one does not leave either (the channel stays joined until `unsubscribe`, `remove` on a
/// handle taken again with [`RealtimeClient::channel`], or `remove_all_channels`).
pub struct Channel<R: Runtime> {
    client: RealtimeClient<R>,
    id: ChannelId,
    name: String,
    /// `remove` gave the claim back already.
    released: bool,
}

impl<R: Runtime> core::fmt::Debug for Channel<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel").field("name", &self.name).field("id", &self.id).finish()
    }
}

impl<R: Runtime> Clone for Channel<R> {
    fn clone(&self) -> Self {
        // A stale handle (its channel removed) clones into another stale one.
        let id = self.id;
        let _ = self.client.inner.act(|s, _| {
            if s.client.retain_channel(id).is_ok() {
                s.listeners(id).live += 1;
            }
        });
        Self { client: self.client.clone(), id, name: self.name.clone(), released: false }
    }
}

impl<R: Runtime> Drop for Channel<R> {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let id = self.id;
        let _ = self.client.inner.act(|s, now| {
            // Removed, or all of its handles let go (`remove_all_channels`): nothing to give back.
            if s.client.channel_handles(id).is_none_or(|n| n == 0) {
                return s.prune(id);
            }
            let l = s.listeners(id);
            l.live = l.live.saturating_sub(1);
            if l.live > 0 {
                // Another handle holds the channel: this claim goes, nothing is left.
                let _ = s.client.remove_channel(now, id);
            } else {
                // The last one: dropping does not leave, so its claim stays until a handle
                // is taken again (which gives it back) or the channels are removed.
                l.orphan = true;
            }
        });
    }
}

impl<R: Runtime> Channel<R> {
    pub(crate) fn new(client: RealtimeClient<R>, id: ChannelId, name: String) -> Self {
        Self { client, id, name, released: false }
    }

    /// The channel's name: a Realtime channel's topic without `realtime:`, a Phoenix channel's
    /// topic as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The client this channel belongs to.
    pub fn client(&self) -> &RealtimeClient<R> {
        &self.client
    }

    /// Joins (connecting if needed) and waits for the outcome: `Ok` once subscribed, else the
    /// status that came first (timed out, refused, closed). On a channel already joined the
    /// core answers at once, or, in the postgres ready mode, once the changes are live. Later
    /// statuses (rejoins after reconnects, errors) come on [`statuses`](Self::statuses).
    ///
    /// Cancel: the join goes ahead (and rejoins as usual); only the wait is dropped.
    pub async fn subscribe(&self) -> Result<(), Error> {
        let id = self.id;
        let key = self.client.inner.act(|s, now| match s.client.subscribe(now, id) {
            Ok(Subscription::Subscribed) => Ok(None),
            Ok(Subscription::Pending) => {
                let slot = s.slot();
                let key = slot.key;
                s.listeners(id).first.push(slot);
                Ok(Some(key))
            }
            Err(e) => Err(Error::Channel(e)),
        })??;
        let Some(key) = key else { return Ok(()) };
        let status = self
            .client
            .inner
            .wait(
                |s, waker| first_slot(s, id, key, waker),
                |s| {
                    if let Some(l) = s.channels.get_mut(&id) {
                        l.first.retain(|slot| slot.key != key);
                    }
                },
            )
            .await?;
        match status {
            ChannelStatus::Subscribed => Ok(()),
            other => Err(Error::Subscribe(other)),
        }
    }

    fn receiver<T: Item>(
        &self,
        tag: Tag,
        add: impl FnOnce(&mut Session, crate::stream::Queue<T>, Instant),
    ) -> Result<Receiver<T, R>, Error> {
        let key = self.client.inner.act(|s, now| {
            // A removed channel's streams end at once (key 0 names no queue).
            if s.client.channel_state(self.id).is_none() {
                return 0;
            }
            let q = s.queue(tag);
            let key = q.key;
            add(s, q, now);
            key
        })?;
        Ok(Receiver {
            inner: self.client.inner.clone(),
            place: Place::Channel(self.id),
            key,
            _t: PhantomData,
        })
    }

    /// A receiver that ends at once (the client is gone).
    fn ended<T: Item>(&self) -> Receiver<T, R> {
        Receiver { inner: self.client.inner.clone(), place: Place::Channel(self.id), key: 0, _t: PhantomData }
    }

    /// Every status from now on.
    ///
    /// Cancel-safe: it registers at once; dropping the receiver unregisters it.
    pub async fn statuses(&self) -> Receiver<ChannelStatus, R> {
        let id = self.id;
        self.receiver(Tag::All, |s, q, _| s.listeners(id).statuses.push(q)).unwrap_or_else(|_| self.ended())
    }

    /// The channel's other server messages from now on, as (event, payload as raw JSON): the
    /// `system` messages (postgres changes ready or failing, a token re-check failing, ...)
    /// and anything else that is not a broadcast, presence or postgres change. On a plain
    /// Phoenix channel ([`phoenix_channel`](RealtimeClient::phoenix_channel)), every message
    /// with a JSON payload the server pushes but presence: the app's own events, `broadcast`
    /// included (binary payloads are not delivered yet).
    ///
    /// Cancel-safe: dropping the receiver unregisters it.
    pub async fn on_messages(&self) -> Receiver<(String, String), R> {
        let id = self.id;
        self.receiver(Tag::All, |s, q, _| s.listeners(id).messages.push(q)).unwrap_or_else(|_| self.ended())
    }

    /// Broadcasts with this event (`*`: all), from now on.
    ///
    /// Cancel-safe: dropping the receiver unregisters it.
    pub async fn on_broadcast(&self, event: &str) -> Receiver<Broadcast, R> {
        let id = self.id;
        self.receiver(Tag::Event(event.into()), |s, q, _| s.listeners(id).broadcasts.push(q))
            .unwrap_or_else(|_| self.ended())
    }

    /// Broadcasts with this event as the app's own type: an item is `Err` when a payload does
    /// not deserialize (or is binary), and the stream goes on.
    ///
    /// Cancel-safe: dropping the stream unregisters it.
    pub async fn on_broadcast_as<T: DeserializeOwned>(&self, event: &str) -> Typed<T, R> {
        Typed { inner: self.on_broadcast(event).await, _t: PhantomData }
    }

    /// Presence joins, leaves and syncs. Listening turns presence on for the channel (a rejoin
    /// if it is joined without it). When the app falls behind, the stream gives
    /// [`Lagged`](crate::Lagged) and then a `Sync`: read the whole state then with
    /// [`presence_state`](Self::presence_state).
    ///
    /// Cancel: presence is turned on for the channel at once.
    pub async fn on_presence(&self) -> Receiver<PresenceEvent, R> {
        let id = self.id;
        self.receiver(Tag::All, |s, q, now| {
            s.listeners(id).presence.push(q);
            // Listening to presence is asking for it (spec C.2): the join must say so.
            let _ = s.client.enable_presence(now, id);
        })
        .unwrap_or_else(|_| self.ended())
    }

    /// The presence state now: key -> presences, a snapshot at any time (after a
    /// [`Lagged`](crate::Lagged), this is the state to rebuild from).
    ///
    /// Cancel-safe: it only reads.
    pub async fn presence_state(&self) -> Result<Vec<(String, Vec<Presence>)>, Error> {
        let id = self.id;
        self.client.inner.act(|s, _| {
            s.client
                .presence(id)
                .map(|p| p.list().iter().map(|(k, v)| (String::from(k), v.clone())).collect())
                .unwrap_or_default()
        })
    }

    /// The presence state now with each presence's tracked fields as the app's own type (what
    /// it passed to `track`), key by key in phoenix.js's order.
    ///
    /// # Errors
    ///
    /// [`Error::Json`] when a presence does not read into `T` (another client tracks another
    /// shape on this channel: read [`presence_state`](Self::presence_state) then).
    ///
    /// Cancel-safe: it only reads.
    pub async fn presence_state_as<T: DeserializeOwned>(&self) -> Result<Vec<(String, Vec<T>)>, Error> {
        self.presence_state()
            .await?
            .into_iter()
            .map(|(key, list)| {
                let list =
                    list.iter().map(|p| p.json()).collect::<Result<Vec<T>, _>>().map_err(Error::Json)?;
                Ok((key, list))
            })
            .collect()
    }

    /// Row changes for this binding with their rows as the app's own type (a struct of the
    /// table's columns): an item is `Err` when a row does not read into `T`, and the stream
    /// goes on. Bindings go in the join, so add them before [`subscribe`](Self::subscribe).
    ///
    /// Cancel-safe: it completes at once.
    pub async fn on_postgres_changes_as<T: DeserializeOwned>(
        &self,
        binding: Binding,
    ) -> Result<Typed<T, R, Shared<Change>>, Error> {
        Ok(Typed { inner: self.on_postgres_changes(binding).await?, _t: PhantomData })
    }

    /// Row changes for this binding. Bindings go in the join, so add them before
    /// [`subscribe`](Self::subscribe) (after: [`Error::Channel`] `AlreadySubscribed`).
    ///
    /// Cancel-safe: it completes at once.
    pub async fn on_postgres_changes(&self, binding: Binding) -> Result<Receiver<Shared<Change>, R>, Error> {
        let id = self.id;
        let key = self.client.inner.act(|s, now| {
            let index = s.client.add_postgres_changes(now, id, binding).map_err(Error::Channel)?;
            let q = s.queue(Tag::Binding(index));
            let key = q.key;
            s.listeners(id).changes.push(q);
            Ok::<_, Error>(key)
        })??;
        Ok(Receiver { inner: self.client.inner.clone(), place: Place::Channel(id), key, _t: PhantomData })
    }

    async fn broadcast(&self, event: &str, data: BroadcastData) -> Result<(), Error> {
        let id = self.id;
        self.outcome(|s, now| s.client.broadcast(now, id, event, data, false)).await.map(drop)
    }

    /// Pushes `payload` (any serde type) as `event`, and waits for the server's reply: its
    /// `response` as raw JSON text when the status is `ok`, [`Error::Rejected`] with it when
    /// not. This is Phoenix's `channel.push`, for the app's own events on a
    /// [`phoenix_channel`](RealtimeClient::phoenix_channel) (a Realtime server answers only its
    /// own events; broadcast there with [`send`](Self::send)).
    ///
    /// Cancel: once called the push goes out as usual; only its outcome is not awaited.
    pub async fn push<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Result<String, Error> {
        let payload = serde_json::to_string(payload).map_err(Error::Json)?;
        let id = self.id;
        let body = PushBody::Json { event: event.into(), payload };
        self.outcome(|s, now| s.client.push(now, id, body)).await
    }

    /// Starts a push under the lock and waits for its outcome: the reply's response on `ok`.
    async fn outcome(
        &self,
        start: impl FnOnce(&mut Session, Instant) -> Result<PushId, PushError>,
    ) -> Result<String, Error> {
        let push = self.client.inner.act(|s, now| {
            let push = start(s, now).map_err(Error::Push)?;
            let slot = s.slot();
            s.pushes.insert(push, slot);
            Ok::<_, Error>(push)
        })??;
        let outcome = self
            .client
            .inner
            .wait(
                |s, waker| {
                    // A delivered outcome wins; without one, the end is `Closed`.
                    let Some(slot) = s.pushes.get_mut(&push) else { return Poll::Ready(None) };
                    if slot.value.is_some() || s.ended {
                        return Poll::Ready(s.pushes.remove(&push).and_then(|s| s.value));
                    }
                    slot.waker = Some(waker.clone());
                    Poll::Pending
                },
                |s| {
                    s.pushes.remove(&push);
                },
            )
            .await;
        match outcome.ok_or(Error::Closed)? {
            PushOutcome::Ok(response) => Ok(response),
            PushOutcome::Error(r) => Err(Error::Rejected(r)),
            PushOutcome::TimedOut => Err(Error::TimedOut),
            PushOutcome::NotSent(why) => Err(Error::NotSent(why)),
        }
    }

    /// Broadcasts `payload` (any serde type) as `event`. Resolves on the server's ack when the
    /// channel asks for acks, else once written.
    ///
    /// Cancel: once called the push goes out as usual; only its outcome is not awaited.
    pub async fn send<T: Serialize + ?Sized>(&self, event: &str, payload: &T) -> Result<(), Error> {
        let text = serde_json::to_string(payload).map_err(Error::Json)?;
        self.broadcast(event, BroadcastData::Json(text)).await
    }

    /// Broadcasts bytes as `event` (a binary frame; vsn 2.0.0).
    ///
    /// Cancel: as for [`send`](Self::send).
    pub async fn send_binary(&self, event: &str, bytes: Vec<u8>) -> Result<(), Error> {
        self.broadcast(event, BroadcastData::Binary(bytes)).await
    }

    /// Tracks this client's presence with `payload` (a serde type that serializes to an
    /// object); it is tracked again after every rejoin until [`untrack`](Self::untrack).
    ///
    /// Cancel-safe: it completes at once.
    pub async fn track<T: Serialize + ?Sized>(&self, payload: &T) -> Result<(), Error> {
        let payload = serde_json::to_string(payload).map_err(Error::Json)?;
        let id = self.id;
        self.client.inner.act(|s, now| s.client.track(now, id, &payload))?.map_err(Error::Push)
    }

    /// Stops tracking this client's presence.
    ///
    /// Cancel-safe: it completes at once.
    pub async fn untrack(&self) -> Result<(), Error> {
        let id = self.id;
        self.client.inner.act(|s, now| s.client.untrack(now, id))?.map_err(Error::Push)
    }

    /// Leaves the channel (it can be subscribed again). The leave starts now; the returned
    /// future says how it ended (the server confirmed, no reply in time, or nothing to leave).
    pub fn unsubscribe(&self) -> Leave<R> {
        let id = self.id;
        // An unsubscribe always reports how its leave ended, even with nothing to leave.
        self.leave(|s, now| s.client.unsubscribe(now, id).map(|()| true))
    }

    /// Drops this handle's claim on the channel; the last handle leaves it (and the channel is
    /// deleted once closed, ending its streams). The returned future says how the leave
    /// ended; [`LeaveOutcome::Offline`] when other handles still hold the channel.
    pub fn remove(mut self) -> Leave<R> {
        let id = self.id;
        self.released = true;
        // Only the last handle's removal leaves; the others report nothing.
        self.leave(|s, now| {
            let l = s.listeners(id);
            l.live = l.live.saturating_sub(1);
            s.client
                .remove_channel(now, id)
                .map(|()| s.client.channel_handles(id) == Some(0) || s.client.channel_state(id).is_none())
        })
    }

    fn leave(
        &self,
        f: impl FnOnce(&mut Session, Instant) -> Result<bool, realtime_core::client::ChannelError>,
    ) -> Leave<R> {
        let id = self.id;
        let started = self.client.inner.act(|s, now| {
            let slot = s.slot();
            let key = slot.key;
            s.listeners(id).leaves.push(slot);
            match f(s, now) {
                Ok(true) => Ok(key),
                Ok(false) => {
                    // No leave started (other handles hold the channel): nothing to wait for.
                    if let Some(slot) = s.listeners(id).leaves.iter_mut().find(|l| l.key == key) {
                        slot.value = Some(LeaveOutcome::Offline);
                    }
                    Ok(key)
                }
                Err(e) => {
                    s.listeners(id).leaves.retain(|l| l.key != key);
                    s.prune(id);
                    Err(Error::Channel(e))
                }
            }
        });
        Leave { inner: self.client.inner.clone(), id, state: Some(started.and_then(|r| r)) }
    }

    /// Broadcasts over the REST endpoint instead of the socket (`POST
    /// /api/broadcast/{topic}/events/{event}`), e.g. from a process that does not subscribe.
    /// The token goes through the core's rule (an `sb_` key or an expired JWT is never sent
    /// as a bearer token). A plain Phoenix channel has no such endpoint:
    /// [`RestError::NotRealtime`](realtime_core::supabase::rest::RestError::NotRealtime).
    ///
    /// Cancel: dropping it may leave the request sent and unanswered; the server may still
    /// deliver it.
    pub async fn http_send<T: Serialize + ?Sized>(
        &self,
        event: &str,
        payload: &T,
        private: bool,
    ) -> Result<(), Error> {
        let text = serde_json::to_string(payload).map_err(Error::Json)?;
        let inner = &self.client.inner;
        let id = self.id;
        let req = inner
            .act(|s, now| {
                if s.client.is_realtime_channel(id) == Some(false) {
                    return Err(realtime_core::supabase::rest::RestError::NotRealtime);
                }
                s.client.rest_broadcast(now, &self.name, event, private, RestBody::Json(&text))
            })?
            .map_err(Error::Rest)?;
        let (result, failure) = RestRun::new(&inner.rt, &inner.proxy, req).await;
        match (result, failure) {
            (Ok(()), _) => Ok(()),
            (Err(_), Some(f)) => Err(Error::RestConnection(f)),
            (Err(realtime_core::supabase::rest::RestError::Timeout), None) => Err(Error::TimedOut),
            (Err(e), None) => Err(Error::Rest(e)),
        }
    }
}

fn first_slot(
    s: &mut Session,
    id: ChannelId,
    key: u64,
    waker: &core::task::Waker,
) -> Poll<Result<ChannelStatus, Error>> {
    // A delivered status wins; without one, the end is `Closed`.
    let ended = s.ended;
    let Some(l) = s.channels.get_mut(&id) else { return Poll::Ready(Err(Error::Closed)) };
    match poll_slot(&mut l.first, key, waker) {
        Poll::Ready(Some(status)) => Poll::Ready(Ok(status)),
        Poll::Ready(None) => Poll::Ready(Err(Error::Closed)),
        Poll::Pending if ended => {
            l.first.retain(|slot| slot.key != key);
            Poll::Ready(Err(Error::Closed))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// How a leave ended: from [`Channel::unsubscribe`] and [`Channel::remove`]. The leave is
/// already under way when this is returned; awaiting it only waits for the outcome, and
/// dropping it does not stop the leave.
#[must_use = "the leave goes ahead anyway; await this to learn how it ended"]
pub struct Leave<R: Runtime> {
    inner: Shared<crate::client::Inner<R>>,
    id: ChannelId,
    state: Option<Result<u64, Error>>,
}

impl<R: Runtime> core::fmt::Debug for Leave<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Leave").field("id", &self.id).finish_non_exhaustive()
    }
}

impl<R: Runtime> Unpin for Leave<R> {}

impl<R: Runtime> Future for Leave<R> {
    type Output = Result<LeaveOutcome, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let key = match this.state.take() {
            None => return Poll::Ready(Err(Error::Closed)),
            Some(Err(e)) => return Poll::Ready(Err(e)),
            Some(Ok(key)) => key,
        };
        let id = this.id;
        let out = this.inner.session.with(|s| {
            let Some(l) = s.channels.get_mut(&id) else { return Poll::Ready(Ok(LeaveOutcome::Offline)) };
            // A delivered outcome wins; without one, the end is `Closed`.
            let out = match poll_slot(&mut l.leaves, key, cx.waker()) {
                Poll::Ready(Some(o)) => Poll::Ready(Ok(o)),
                Poll::Ready(None) if s.ended => Poll::Ready(Err(Error::Closed)),
                Poll::Ready(None) => Poll::Ready(Ok(LeaveOutcome::Offline)),
                Poll::Pending if s.ended => {
                    l.leaves.retain(|slot| slot.key != key);
                    Poll::Ready(Err(Error::Closed))
                }
                Poll::Pending => Poll::Pending,
            };
            if out.is_ready() {
                s.prune(id);
            }
            out
        });
        if out.is_pending() {
            this.state = Some(Ok(key));
        }
        out
    }
}

impl<R: Runtime> Drop for Leave<R> {
    fn drop(&mut self) {
        if let Some(Ok(key)) = self.state.take() {
            let id = self.id;
            self.inner.session.with(|s| {
                if let Some(l) = s.channels.get_mut(&id) {
                    l.leaves.retain(|slot| slot.key != key);
                }
                s.prune(id);
            });
        }
    }
}
