//! The client handle: cheap to clone, every clone (and every [`Channel`]) counted, so the drive
//! loop closes the socket and ends once the last one is gone.

use alloc::string::String;
use alloc::vec::Vec;
use core::future::poll_fn;
use core::marker::PhantomData;
use core::task::{Poll, Waker};
use core::time::Duration;

use realtime_core::Instant;
use realtime_core::client::{Client, ConnectionState, TransportKind};
use realtime_core::supabase::channel_config::ChannelConfig;
use serde::Serialize;

use crate::channel::Channel;
use crate::config::{Config, Proxy, TokenSource};
use crate::drive::Drive;
use crate::error::{ConnectionError, Error};
use crate::item::ClientEvent;
use crate::lock::{Lock, Shared};
use crate::runtime::{FromContext, Runtime};
use crate::session::Session;
use crate::stream::{Place, Receiver, Tag};

/// What the handles and the drive loop share.
pub(crate) struct Inner<R: Runtime> {
    pub(crate) rt: R,
    pub(crate) session: R::Lock<Session>,
    pub(crate) proxy: Proxy,
    pub(crate) read_buffer: usize,
    pub(crate) token_source: Option<TokenSource>,
    /// The transport frames by itself (`TransportKind::Messages`).
    pub(crate) messages: bool,
}

impl<R: Runtime> Inner<R> {
    /// Runs `f` on the session with the current time; fails once the client ended. Wakes the
    /// drive loop afterwards (outside the lock), since `f` may have given the core work.
    pub(crate) fn act<T>(&self, f: impl FnOnce(&mut Session, Instant) -> T) -> Result<T, Error> {
        let (out, driver, wake) = self.session.with(|s| {
            if s.ended {
                return (Err(Error::Closed), None, Vec::new());
            }
            // Events already raised belong to what came before this call: hand them out
            // first, so that a waiter this call registers never takes one as its answer.
            s.drain_events();
            let now = self.rt.now();
            let out = f(s, now);
            (Ok(out), s.driver_waker(), core::mem::take(&mut s.wake))
        });
        for w in wake {
            w.wake();
        }
        if let Some(w) = driver {
            w.wake();
        }
        out
    }

    /// Waits until `poll` answers, polling it under the lock; `cancel` runs if the wait is
    /// dropped first (it unregisters the waiter).
    pub(crate) async fn wait<T>(
        &self,
        mut poll: impl FnMut(&mut Session, &Waker) -> Poll<T>,
        cancel: impl FnOnce(&mut Session),
    ) -> T {
        struct Guard<'a, R: Runtime, C: FnOnce(&mut Session)> {
            inner: &'a Inner<R>,
            cancel: Option<C>,
        }
        impl<R: Runtime, C: FnOnce(&mut Session)> Drop for Guard<'_, R, C> {
            fn drop(&mut self) {
                if let Some(c) = self.cancel.take() {
                    self.inner.session.with(c);
                }
            }
        }
        let mut guard = Guard { inner: self, cancel: Some(cancel) };
        let out = poll_fn(|cx| self.session.with(|s| poll(s, cx.waker()))).await;
        guard.cancel = None;
        out
    }
}

/// The client: a cloneable handle to the drive loop.
pub struct RealtimeClient<R: Runtime> {
    pub(crate) inner: Shared<Inner<R>>,
}

impl<R: Runtime> Clone for RealtimeClient<R> {
    fn clone(&self) -> Self {
        self.inner.session.with(|s| s.handles += 1);
        Self { inner: self.inner.clone() }
    }
}

impl<R: Runtime> Drop for RealtimeClient<R> {
    fn drop(&mut self) {
        let driver = self.inner.session.with(|s| {
            s.handles = s.handles.saturating_sub(1);
            if s.handles == 0 { s.driver_waker() } else { None }
        });
        if let Some(w) = driver {
            w.wake();
        }
    }
}

impl<R: Runtime> core::fmt::Debug for RealtimeClient<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let state = self.inner.session.with(|s| s.client.state());
        f.debug_struct("RealtimeClient").field("state", &state).finish_non_exhaustive()
    }
}

impl<R: FromContext> RealtimeClient<R> {
    /// Starts the client on the runtime around the caller. It connects on the first
    /// `subscribe` (or [`connect`](Self::connect)). Outside a runtime this is
    /// [`Error::NoRuntime`], not a panic.
    pub fn new(config: Config) -> Result<Self, Error> {
        let rt = R::from_context(&config)?;
        Self::with_runtime(rt, config)
    }
}

impl<R: Runtime> RealtimeClient<R> {
    /// Starts the client on `rt`.
    pub fn with_runtime(rt: R, config: Config) -> Result<Self, Error> {
        let seed = rt.entropy().map_err(Error::Entropy)?;
        let mut client_config = config.client;
        client_config.token_source = config.token_source.is_some();
        if R::MESSAGES_ONLY {
            client_config.transport = TransportKind::Messages;
        }
        let messages = client_config.transport == TransportKind::Messages;
        let client = Client::new(client_config, seed).map_err(Error::Config)?;
        let inner = Shared::new(Inner {
            session: R::Lock::new(Session::new(client, config.stream_capacity)),
            rt: rt.clone(),
            proxy: config.proxy,
            read_buffer: config.read_buffer.max(READ_MIN),
            token_source: config.token_source,
            messages,
        });
        rt.spawn(Drive::new(inner.clone()))?;
        Ok(Self { inner })
    }

    /// Connects now (subscribing connects too).
    pub fn connect(&self) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.connect(now))
    }

    /// Closes the connection (code 1000); channels stay and rejoin on the next connect.
    pub fn disconnect(&self) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.disconnect(now))
    }

    /// Closes the connection with this close code (1000, or 3000-4999) and reason (at most
    /// 123 bytes); channels stay and rejoin on the next connect.
    pub fn disconnect_with(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.disconnect_with(now, code, reason))?.map_err(Error::CloseCode)
    }

    /// The app came back to the foreground: check the link now (a heartbeat probe), or
    /// reconnect at once if waiting to.
    pub fn resume(&self) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.resume(now))
    }

    /// Sets the access token: joined channels get it at once, later joins carry it.
    pub fn set_access_token(&self, token: Option<String>) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.set_access_token(now, token))
    }

    /// The connection's state now. [`events`](Self::events) says when it changes.
    pub fn connection_state(&self) -> ConnectionState {
        self.inner.session.with(|s| s.client.state())
    }

    /// What happens to the connection from now on: connecting, connected, disconnected (with
    /// the typed reason and what comes next), reconnected (with the gap), heartbeats.
    pub fn events(&self) -> Receiver<ClientEvent, R> {
        let key = self.inner.session.with(|s| {
            let q = s.queue(Tag::All);
            let key = q.key;
            s.client_events.push(q);
            key
        });
        Receiver { inner: self.inner.clone(), place: Place::Client, key, _t: PhantomData }
    }

    /// Why the last connection attempt or connection failed (`None` while connected, or after
    /// a manual disconnect): the typed error, with its source chain.
    pub fn last_error(&self) -> Option<ConnectionError> {
        self.inner.session.with(|s| s.last_error.clone())
    }

    /// The latest heartbeat round trip, if one was answered.
    pub fn heartbeat_latency(&self) -> Option<Duration> {
        self.inner.session.with(|s| s.latency)
    }

    /// The channel `realtime:<name>`: a new one, or another handle to it when the config is
    /// the same ([`ChannelError::ConfigMismatch`](realtime_core::client::ChannelError)
    /// when it differs).
    ///
    /// Cancel-safe: it completes at once.
    pub async fn channel(&self, name: &str, config: ChannelConfig) -> Result<Channel<R>, Error> {
        let id = self.inner.act(|s, now| {
            let id = s.client.channel(now, name, config)?;
            let l = s.listeners(id);
            l.live += 1;
            // A claim left by a dropped last handle goes back: this handle holds the channel now.
            if core::mem::take(&mut l.orphan) {
                let _ = s.client.remove_channel(now, id);
            }
            Ok(id)
        })?;
        Ok(Channel::new(self.clone(), id.map_err(Error::Channel)?, name.into()))
    }

    /// The plain Phoenix channel `topic` (as it is: `room:lobby`), joined with `params` (any serde
    /// type that serializes to a JSON object, sent verbatim with every join and rejoin): for a
    /// server of the app's own (an Elixir chat, a LiveView backend), with a client made from
    /// [`Config::phoenix`](crate::Config::phoenix). Heartbeats, reconnects, rejoins, presence
    /// ([`on_presence`](Channel::on_presence)), the app's events both ways
    /// ([`push`](Channel::push), [`on_messages`](Channel::on_messages)) work as on a Realtime
    /// channel; broadcast, tracking, postgres changes and REST are Realtime's and are refused
    /// with `NotRealtime`. Another call with equal params gives another handle. Binary payloads
    /// the server pushes (Phoenix's `{:binary, data}`) are not delivered by this API yet.
    ///
    /// Cancel-safe: it completes at once.
    pub async fn phoenix_channel<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        params: &T,
    ) -> Result<Channel<R>, Error> {
        let params = serde_json::to_string(params).map_err(Error::Json)?;
        let id = self.inner.act(|s, now| {
            let id = s.client.phoenix_channel(now, topic, &params)?;
            let l = s.listeners(id);
            l.live += 1;
            l.phoenix = true;
            if core::mem::take(&mut l.orphan) {
                let _ = s.client.remove_channel(now, id);
            }
            Ok(id)
        })?;
        Ok(Channel::new(self.clone(), id.map_err(Error::Channel)?, topic.into()))
    }

    /// Leaves and removes every channel (their handles then fail with `UnknownChannel`).
    pub fn remove_all_channels(&self) -> Result<(), Error> {
        self.inner.act(|s, now| s.client.remove_all_channels(now))
    }

    /// Closes the connection politely (a close frame, code 1000) and ends the drive loop;
    /// returns once the socket is closed. Every handle is unusable afterwards.
    ///
    /// Cancel: the shutdown goes ahead; only the wait for it is dropped.
    pub async fn shutdown(&self) -> Result<(), Error> {
        if self.inner.act(|s, _| s.shutdown = true).is_err() {
            return Ok(());
        }
        self.inner
            .wait(
                |s, waker| {
                    if s.ended {
                        return Poll::Ready(());
                    }
                    if !s.shutdowns.iter().any(|w| w.will_wake(waker)) {
                        s.shutdowns.push(waker.clone());
                    }
                    Poll::Pending
                },
                |_| {},
            )
            .await;
        Ok(())
    }

    /// Whether the drive loop ended (after `shutdown`, or its runtime stopped).
    pub fn is_closed(&self) -> bool {
        self.inner.session.with(|s| s.ended)
    }
}

/// The smallest read buffer a config may set.
const READ_MIN: usize = 1024;
