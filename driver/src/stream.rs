//! The app's streams: bounded queues in the shared session, read by [`Receiver`]s.
//!
//! A queue holds at most the configured capacity. When the app does not keep up, new items
//! are dropped and counted, and the reader gets one [`Lagged`] at the place of the gap, so no
//! event is lost silently and nothing is buffered without bound. A presence stream follows
//! the gap with a `Sync`, the point to read the whole state again.

// `Item` is sealed: its supertrait's methods name crate-private types on purpose, so that no
// other crate can implement it or call them.
#![allow(private_interfaces)]

use alloc::collections::VecDeque;
use alloc::string::String;
use core::marker::PhantomData;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use realtime_core::client::{ChannelId, ChannelStatus};
use realtime_core::phoenix::presence::PresenceEvent;
use realtime_core::supabase::postgres::{Change, ChangeKind};
use serde::de::DeserializeOwned;

use crate::client::Inner;
use crate::error::{Error, Lagged};
use crate::item::{Broadcast, ClientEvent};
use crate::lock::{Lock, Shared};
use crate::runtime::Runtime;
use crate::session::Session;

/// One entry of a queue: an item, or the count of items dropped at this point.
#[derive(Debug)]
enum Entry<T> {
    Item(T),
    Gap(u64),
}

/// A bounded queue of items for one reader.
#[derive(Debug)]
pub(crate) struct Queue<T> {
    pub(crate) key: u64,
    entries: VecDeque<Entry<T>>,
    capacity: usize,
    waker: Option<Waker>,
    /// No more items will come (the channel was removed); the reader drains what is left.
    pub(crate) closed: bool,
    /// Which items this reader takes.
    pub(crate) tag: Tag,
}

/// Which items of its kind a reader takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tag {
    /// All of them.
    All,
    /// Broadcasts of this event (`*`: all).
    Event(String),
    /// Changes for this binding index.
    Binding(usize),
}

impl<T> Queue<T> {
    pub(crate) fn new(key: u64, capacity: usize) -> Self {
        Self {
            key,
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            waker: None,
            closed: false,
            tag: Tag::All,
        }
    }

    /// Queues `item`, or counts it as dropped when the queue is full. The reader's waker, if
    /// any, goes to `wake` (woken once the lock is released).
    pub(crate) fn offer(&mut self, item: T, wake: &mut alloc::vec::Vec<Waker>) {
        if self.entries.len() >= self.capacity {
            // The gap entry may take one slot past the capacity: the bound holds all the same.
            match self.entries.back_mut() {
                Some(Entry::Gap(n)) => *n += 1,
                _ => self.entries.push_back(Entry::Gap(1)),
            }
        } else {
            self.entries.push_back(Entry::Item(item));
        }
        if let Some(w) = self.waker.take() {
            wake.push(w);
        }
    }

    /// No more items: the reader gets what is queued, then the end.
    pub(crate) fn close(&mut self, wake: &mut alloc::vec::Vec<Waker>) {
        self.closed = true;
        if let Some(w) = self.waker.take() {
            wake.push(w);
        }
    }

    /// Entries held (items and gaps).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Where a stream's queue lives in the session.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place {
    Client,
    Channel(ChannelId),
}

mod sealed {
    use super::{Place, Queue, Session};

    /// Where a stream's items live in the session (private: `Item` is sealed).
    pub trait Sealed: Sized {
        fn queues(session: &mut Session, place: Place) -> Option<&mut alloc::vec::Vec<Queue<Self>>>;
        /// What follows a gap (a presence stream's `Sync`).
        fn after_gap() -> Option<Self> {
            None
        }
    }
}
use sealed::Sealed;

/// The item types of the client's streams (sealed).
pub trait Item: Sealed {}

macro_rules! item {
    ($t:ty, $field:ident) => {
        impl Item for $t {}
        impl Sealed for $t {
            fn queues(session: &mut Session, place: Place) -> Option<&mut alloc::vec::Vec<Queue<Self>>> {
                match place {
                    Place::Channel(id) => session.channels.get_mut(&id).map(|l| &mut l.$field),
                    Place::Client => None,
                }
            }
        }
    };
}

item!(Broadcast, broadcasts);
item!(ChannelStatus, statuses);
item!((String, String), messages);
item!(Shared<Change>, changes);

impl Item for PresenceEvent {}
impl Sealed for PresenceEvent {
    fn queues(session: &mut Session, place: Place) -> Option<&mut alloc::vec::Vec<Queue<Self>>> {
        match place {
            Place::Channel(id) => session.channels.get_mut(&id).map(|l| &mut l.presence),
            Place::Client => None,
        }
    }
    fn after_gap() -> Option<Self> {
        Some(PresenceEvent::Sync)
    }
}

impl Item for ClientEvent {}
impl Sealed for ClientEvent {
    fn queues(session: &mut Session, place: Place) -> Option<&mut alloc::vec::Vec<Queue<Self>>> {
        match place {
            Place::Client => Some(&mut session.client_events),
            Place::Channel(_) => None,
        }
    }
}

/// A stream of items from the client: `recv().await`, or use it as a `futures::Stream`.
/// Dropping it unregisters it.
pub struct Receiver<T: Item, R: Runtime> {
    pub(crate) inner: Shared<Inner<R>>,
    pub(crate) place: Place,
    pub(crate) key: u64,
    pub(crate) _t: PhantomData<fn() -> T>,
}

impl<T: Item, R: Runtime> core::fmt::Debug for Receiver<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver").field("place", &self.place).field("key", &self.key).finish()
    }
}

impl<T: Item, R: Runtime> Receiver<T, R> {
    /// The next item, [`Lagged`] where items were dropped, or `None` once the stream ended
    /// (its channel was removed, or the client shut down).
    ///
    /// Cancel-safe: a dropped `recv` loses no item.
    pub async fn recv(&mut self) -> Option<Result<T, Lagged>> {
        core::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if one is queued now, without waiting (`None` also when the stream is
    /// empty).
    pub fn try_recv(&mut self) -> Option<Result<T, Lagged>> {
        match self.take(None) {
            Poll::Ready(r) => r,
            Poll::Pending => None,
        }
    }

    /// Polls for the next item (what `recv` awaits).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Lagged>>> {
        self.take(Some(cx.waker()))
    }

    fn take(&mut self, waker: Option<&Waker>) -> Poll<Option<Result<T, Lagged>>> {
        let (place, key) = (self.place, self.key);
        self.inner.session.with(|s| {
            let ended = s.ended;
            let Some(q) = T::queues(s, place).and_then(|qs| qs.iter_mut().find(|q| q.key == key)) else {
                return Poll::Ready(None);
            };
            match q.entries.pop_front() {
                Some(Entry::Item(t)) => Poll::Ready(Some(Ok(t))),
                Some(Entry::Gap(missed)) => {
                    if let Some(next) = T::after_gap() {
                        q.entries.push_front(Entry::Item(next));
                    }
                    Poll::Ready(Some(Err(Lagged { missed })))
                }
                None if q.closed || ended => Poll::Ready(None),
                None => {
                    if let Some(w) = waker {
                        match &q.waker {
                            Some(old) if old.will_wake(w) => {}
                            _ => q.waker = Some(w.clone()),
                        }
                    }
                    Poll::Pending
                }
            }
        })
    }
}

impl<T: Item, R: Runtime> Drop for Receiver<T, R> {
    fn drop(&mut self) {
        let (place, key) = (self.place, self.key);
        self.inner.session.with(|s| {
            if let Some(qs) = T::queues(s, place) {
                qs.retain(|q| q.key != key);
            }
            if let Place::Channel(id) = place {
                s.prune(id);
            }
        });
    }
}

impl<T: Item, R: Runtime> futures_core::Stream for Receiver<T, R> {
    type Item = Result<T, Lagged>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

/// A stream item that reads into the app's own type `T` (sealed): a [`Broadcast`]'s payload
/// as `T`, a row change's rows as a [`RowChange<T>`].
pub trait Parse<T>: Item {
    /// What an item becomes.
    type Output;
    /// Reads the item.
    #[doc(hidden)]
    fn parse(self) -> Result<Self::Output, Error>;
}

impl<T: DeserializeOwned> Parse<T> for Broadcast {
    type Output = T;
    fn parse(self) -> Result<T, Error> {
        self.json()
    }
}

impl<T: DeserializeOwned> Parse<T> for Shared<Change> {
    type Output = RowChange<T>;
    fn parse(self) -> Result<RowChange<T>, Error> {
        let row = |r: Option<&realtime_core::supabase::postgres::Row>| r.map(|r| r.json()).transpose();
        let new = row(self.new.as_ref()).map_err(Error::Json)?;
        let old = row(self.old.as_ref()).map_err(Error::Json)?;
        Ok(RowChange { kind: self.kind, new, old, change: self })
    }
}

/// A row change with its rows as the app's own type.
#[derive(Clone, Debug)]
pub struct RowChange<T> {
    /// Insert, update or delete.
    pub kind: ChangeKind,
    /// The row after the change (insert, update).
    pub new: Option<T>,
    /// The row before the change (update, delete), as far as the table's replica identity
    /// gives it: often only the key, so a `T` for it has its other fields optional.
    pub old: Option<T>,
    /// The change itself: schema, table, commit timestamp, columns, the raw rows.
    pub change: Shared<Change>,
}

/// A stream of items read into `T`: broadcasts ([`Channel::on_broadcast_as`]) or row changes
/// ([`Channel::on_postgres_changes_as`]). An item that does not read is an `Err` and the
/// stream goes on.
///
/// [`Channel::on_broadcast_as`]: crate::Channel::on_broadcast_as
/// [`Channel::on_postgres_changes_as`]: crate::Channel::on_postgres_changes_as
pub struct Typed<T, R: Runtime, S: Item = Broadcast> {
    pub(crate) inner: Receiver<S, R>,
    pub(crate) _t: PhantomData<fn() -> T>,
}

impl<T, R: Runtime, S: Item> core::fmt::Debug for Typed<T, R, S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Typed").field(&self.inner).finish()
    }
}

impl<T, R: Runtime, S: Parse<T>> Typed<T, R, S> {
    /// The next item read into `T`, or why it is not one ([`Error::Json`], or
    /// [`Error::Lagged`] where items were dropped); `None` once the stream ended.
    ///
    /// Cancel-safe: a dropped `recv` loses no item.
    pub async fn recv(&mut self) -> Option<Result<S::Output, Error>> {
        self.inner.recv().await.map(|r| r.map_err(Error::Lagged).and_then(S::parse))
    }
}

impl<T, R: Runtime, S: Parse<T>> futures_core::Stream for Typed<T, R, S> {
    type Item = Result<S::Output, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().inner.poll_recv(cx).map(|o| o.map(|r| r.map_err(Error::Lagged).and_then(S::parse)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_counts_what_it_drops_in_one_gap() {
        let mut wake = alloc::vec::Vec::new();
        let mut q = Queue::new(1, 2);
        for i in 0..5 {
            q.offer(i, &mut wake);
        }
        assert_eq!(q.len(), 3, "two items and one gap: the bound holds");
        assert!(matches!(q.entries.back(), Some(Entry::Gap(3))));
    }
}
