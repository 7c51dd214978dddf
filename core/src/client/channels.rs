//! The channel registry and each channel's machine: channels by topic in generation-checked
//! slots, the app's channel commands, and the transition table's inputs (`apply`) and actions
//! (`act`).

use super::*;

impl Client {
    /// The channel for topic `realtime:<name>`: a new one, or another handle to the existing
    /// one when `config` is equal. Remove each handle with [`remove_channel`](Self::remove_channel).
    pub fn channel(
        &mut self,
        now: Instant,
        name: &str,
        config: ChannelConfig,
    ) -> Result<ChannelId, ChannelError> {
        if config.bindings().len() > MAX_BINDINGS {
            return Err(ChannelError::TooManyBindings);
        }
        let mut topic = String::with_capacity(TOPIC_PREFIX.len() + name.len());
        topic.push_str(TOPIC_PREFIX);
        topic.push_str(name);
        self.open_channel(now, topic, config, None)
    }

    /// A plain Phoenix channel: `topic` as it is (`room:lobby`), joined with `params` (a JSON
    /// object, sent verbatim as the `phx_join` payload with every join and rejoin). No API key,
    /// token or Realtime config goes with it, and the server's replies are the app's own: a
    /// refused join is retried on the rejoin schedule, as phoenix.js does. Heartbeats,
    /// reconnects, rejoins, pushes ([`push`](Self::push) with any event) and presence
    /// (`presence_state` / `presence_diff`) work as on any channel; broadcast, presence
    /// tracking, postgres changes and REST are Supabase Realtime's and are refused with
    /// `NotRealtime`. Another call for the topic with equal params gives another handle.
    ///
    /// # Errors
    ///
    /// [`ChannelError::InvalidParams`] when `params` is not a JSON object,
    /// [`ChannelError::ReservedTopic`] for `phoenix` (the heartbeat topic), and
    /// [`ChannelError::ConfigMismatch`] when the topic has a channel with other params (or a
    /// Realtime one).
    pub fn phoenix_channel(
        &mut self,
        now: Instant,
        topic: &str,
        params: &str,
    ) -> Result<ChannelId, ChannelError> {
        if topic == HEARTBEAT_TOPIC {
            return Err(ChannelError::ReservedTopic);
        }
        let object = params.trim_start().starts_with('{');
        if !object || serde_json::from_str::<&RawValue>(params).is_err() {
            return Err(ChannelError::InvalidParams);
        }
        self.open_channel(now, topic.into(), ChannelConfig::default(), Some(params.into()))
    }

    /// A new channel for `topic`, or another handle to the existing one when it joins the same
    /// way (`config` and `params` equal).
    fn open_channel(
        &mut self,
        now: Instant,
        topic: String,
        config: ChannelConfig,
        params: Option<Box<str>>,
    ) -> Result<ChannelId, ChannelError> {
        self.now = now;
        if let Some(&index) = self.topics.get(topic.as_bytes()) {
            let slot = &mut self.slots[index as usize];
            let ch = slot.channel.as_mut().ok_or(ChannelError::UnknownChannel)?;
            if ch.handles == 0 {
                // Its last handle was removed and it is leaving: nobody holds it, so the new
                // handle takes it over (with this config for its next join), and the ids handed
                // out before become stale.
                ch.config = config;
                ch.params = params;
                ch.handles = 1;
                // What the previous owner asked of the channel goes with it: its tracked
                // presence, its presence wish, a rejoin on the next token, its replay position.
                // (Carried over, a Phoenix owner sent the Realtime owner's track on its join.)
                ch.tracked = None;
                ch.tracked_on = None;
                ch.untrack_owed = false;
                ch.presence_wanted = false;
                ch.rejoin_on_token = false;
                ch.last_seen_ms = None;
                ch.seen_ids.clear();
                ch.presence = crate::phoenix::presence::PresenceState::with_limit(self.max_presence_entries);
                // The leave's `Closed` belonged to the previous owner, who let go: the new one
                // does not hear it (it hears `Subscribed` once it subscribes and the leave is done).
                ch.quiet_close = ch.state != ChannelState::Closed;
                slot.generation = slot.generation.wrapping_add(1);
                self.idle_at = None;
                return Ok(ChannelId { index, generation: slot.generation });
            }
            if ch.config != config || ch.params != params {
                return Err(ChannelError::ConfigMismatch);
            }
            ch.handles += 1;
            return Ok(ChannelId { index, generation: slot.generation });
        }
        let index = match self.slots.iter().position(|s| s.channel.is_none()) {
            Some(i) => i,
            None => {
                // A slot holds a whole channel (hundreds of bytes): grow by half, from one, so
                // that a device with one channel does not pay for the four a `Vec` starts with.
                if self.slots.len() == self.slots.capacity() {
                    self.slots.reserve_exact(self.slots.len().div_ceil(2).max(1));
                }
                self.slots.push(Slot { generation: 0, channel: None });
                self.slots.len() - 1
            }
        };
        let index32 = u32::try_from(index).map_err(|_| ChannelError::UnknownChannel)?;
        self.topics.insert(topic.as_bytes().into(), index32);
        let slot = &mut self.slots[index];
        slot.channel = Some(Channel::new(topic, config, params, self.max_presence_entries));
        self.idle_at = None;
        Ok(ChannelId { index: index32, generation: slot.generation })
    }

    /// One more handle to an existing channel, as [`channel`](Self::channel) gives for an
    /// equal config. A runtime calls it when it clones a channel handle, so every clone counts:
    /// the channel leaves only once [`remove_channel`](Self::remove_channel) was called for
    /// each.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel, or one whose last handle was
    /// removed (it is leaving for good; `channel` makes a new handle to its topic).
    pub fn retain_channel(&mut self, id: ChannelId) -> Result<(), ChannelError> {
        let ch = self.get_mut(id).filter(|c| c.handles > 0).ok_or(ChannelError::UnknownChannel)?;
        ch.handles = ch.handles.saturating_add(1);
        Ok(())
    }

    /// Adds a postgres changes binding to a channel that is not subscribed (closed: new, or
    /// left); the next join carries it. Its index in each change's
    /// [`BindingSet`](crate::supabase::postgres::BindingSet) is returned. Every handle of the
    /// channel shares it.
    pub fn add_postgres_changes(
        &mut self,
        now: Instant,
        id: ChannelId,
        binding: Binding,
    ) -> Result<usize, ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        if !ch.is_realtime() {
            return Err(ChannelError::NotRealtime);
        }
        if ch.state != ChannelState::Closed || ch.resubscribe {
            return Err(ChannelError::AlreadySubscribed);
        }
        ch.config.bindings_mut().push(binding).map_err(|_| ChannelError::TooManyBindings)
    }

    /// The app listens to a channel's presence (or tracks on it): its joins ask for presence
    /// even if the config does not. Before `subscribe` this only marks the join; on a channel
    /// already joining or joined without presence, it joins again with it, because the server
    /// never sends the presence state to a join that did not ask (spec C.2).
    pub fn enable_presence(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        // A Phoenix server sends presence as its app decides; no join asks for it.
        if ch.presence_wanted || ch.config.presence_requested() || !ch.is_realtime() {
            return Ok(());
        }
        ch.presence_wanted = true;
        self.apply(id.index, Input::PresenceOn, None);
        Ok(())
    }

    /// Joins the channel (connecting the socket if it is disconnected), and says whether that
    /// is already so: [`Subscription::Subscribed`] for a joined channel (in the postgres ready
    /// mode, once its changes are live), else [`Subscription::Pending`], and the channel's
    /// next [`Event::Status`] is the outcome.
    ///
    /// A channel that is leaving joins again once the leave is done (the leave's `Closed` is
    /// not reported then: the next status is the new join's). In the ready mode, a joined
    /// channel whose wait for the changes ran out waits again, so a `ChannelError` or
    /// `Subscribed` follows this call too.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn subscribe(&mut self, now: Instant, id: ChannelId) -> Result<Subscription, ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.rejoin_on_token = false;
        let answer = match (ch.state, ch.ready) {
            // Joined outside the ready mode, or live in it: `Subscribed` was reported already.
            (ChannelState::Joined, ReadyWait::No) => Subscription::Subscribed,
            (ChannelState::Joined, ReadyWait::Until(_)) => Subscription::Pending,
            (ChannelState::Joined, ReadyWait::Late) => {
                // The wait ran out and was reported: nothing would answer this call but a late
                // ok, which may never come. A new wait ends in a status either way.
                if let Some(wait) = ch.config.postgres_ready_timeout() {
                    ch.ready = ReadyWait::Until(now + wait);
                }
                Subscription::Pending
            }
            (ChannelState::Leaving, _) => {
                ch.resubscribe = true;
                // The leave's `Closed` would come first and read as this call's outcome.
                ch.quiet_close = true;
                Subscription::Pending
            }
            _ => {
                self.apply(id.index, Input::Subscribe, None);
                Subscription::Pending
            }
        };
        if matches!(self.conn, Conn::Idle | Conn::Closing) {
            self.connect(now);
        }
        Ok(answer)
    }

    /// Leaves the channel. [`Event::Left`] says how the leave ended, right before the
    /// `Closed` status: when the server answers, when the leave times out, or at once when
    /// there is nothing to leave (offline, or not joined).
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn unsubscribe(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.resubscribe = false;
        ch.quiet_close = false;
        ch.rejoin_on_token = false;
        self.leave(id);
        Ok(())
    }

    /// The app asks channel `id` to leave: the handle waits for the outcome.
    pub(super) fn leave(&mut self, id: ChannelId) {
        if let Some(ch) = self.slots[id.index as usize].channel.as_mut()
            && !ch.leave_waiters.contains(&id.generation)
        {
            ch.leave_waiters.push(id.generation);
        }
        self.apply(id.index, Input::Unsubscribe, None);
    }

    /// Drops one handle; the last one leaves the channel ([`Event::Left`] says how) and deletes
    /// it once closed.
    ///
    /// # Errors
    ///
    /// [`ChannelError::UnknownChannel`] for a removed channel.
    pub fn remove_channel(&mut self, now: Instant, id: ChannelId) -> Result<(), ChannelError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(ChannelError::UnknownChannel)?;
        ch.handles = ch.handles.saturating_sub(1);
        if ch.handles == 0 {
            ch.resubscribe = false;
            ch.rejoin_on_token = false;
            self.release(id.index);
        }
        Ok(())
    }

    /// Drops every handle of every channel: all leave (an [`Event::Left`] for each channel not
    /// leaving already) and are deleted once closed.
    pub fn remove_all_channels(&mut self, now: Instant) {
        self.now = now;
        for index in 0..self.slots.len() as u32 {
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                ch.handles = 0;
                ch.resubscribe = false;
                ch.rejoin_on_token = false;
                self.release(index);
            }
        }
    }

    /// Runs one input through the transition table and its actions.
    pub(super) fn apply(&mut self, index: u32, input: Input, reason: Option<ChannelErrorReason>) {
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        // A join held for a token never went out: to a leave, the server does not know the
        // channel, so it closes here (`Offline`) instead of sending a leave with no join ref.
        let held = ch.state == ChannelState::Joining && ch.join_ref.is_none();
        let open = self.conn == Conn::Open && !(input == Input::Unsubscribe && held);
        let Some(t) = transition(ch.state, input, open) else { return };
        ch.state = t.to;
        for &action in t.actions {
            self.act(index, id, action, reason.as_ref());
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if t.to != ChannelState::Joined {
            // The ready wait belongs to a joined channel's current join.
            ch.ready = ReadyWait::No;
        }
        if matches!(t.to, ChannelState::Errored | ChannelState::Closed) {
            ch.join_ref = None;
            ch.join_deadline = None;
            ch.join_held = false;
            ch.postgres_ids = None;
        }
        if t.to == ChannelState::Closed {
            ch.leave = None;
            ch.rejoin_at = None;
            if ch.handles == 0 {
                self.delete(index);
            } else if core::mem::take(&mut ch.resubscribe) {
                self.apply(index, Input::Subscribe, None);
            }
        }
    }

    pub(super) fn act(
        &mut self,
        index: u32,
        id: ChannelId,
        action: Action,
        reason: Option<&ChannelErrorReason>,
    ) {
        let now = self.now;
        let vsn = self.vsn;
        let realtime = self.slots[index as usize].channel.as_ref().is_some_and(Channel::is_realtime);
        if action == Action::SendJoin
            && realtime
            && let Some(why) = self.token_needed(now)
        {
            // The join waits for the app's token (or for the wait to run out).
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                ch.join_held = true;
                ch.join_ref = None;
                ch.join_deadline = None;
            }
            self.request_token(now, why);
            return;
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        match action {
            Action::SendJoin => {
                ch.join_held = false;
                ch.join_token_gen = self.token_gen;
                self.last_ref += 1;
                let r = self.last_ref;
                // A fresh ref and a fresh timeout: the previous attempt's are forgotten.
                ch.join_ref = Some(r);
                ch.join_deadline = Some(now + self.timeout);
                let since = ch
                    .last_seen_ms
                    .filter(|_| ch.config.replays_automatically())
                    .map(|ms| ms.saturating_sub(REPLAY_MARGIN_MS));
                let payload = match &ch.params {
                    Some(params) => String::from(&**params),
                    None => {
                        let token = wire_token(self.access_token.as_ref(), self.wall_clock, now);
                        ch.config.join_payload_with(token, since, ch.presence_wanted)
                    }
                };
                ch.postgres_ids = None;
                ch.ready = ReadyWait::No;
                let msg = encode_json(vsn, Some(r), r, &ch.topic, "phx_join", &payload);
                // A join the link refuses (it is closing) times out and is retried.
                self.link.send(msg);
            }
            // No join on the wire (held for a token): nothing to clean up.
            Action::SendCleanupLeave if ch.join_ref.is_none() => {}
            Action::SendLeave | Action::SendCleanupLeave => {
                self.last_ref += 1;
                let r = self.last_ref;
                if action == Action::SendLeave {
                    ch.leave = Some((r, now + self.timeout));
                }
                let msg = encode_json(vsn, ch.join_ref, r, &ch.topic, "phx_leave", "{}");
                self.link.send(msg);
            }
            Action::CancelJoin => ch.join_deadline = None,
            Action::ResetRejoin => {
                ch.rejoin_attempts = 0;
                ch.rejoin_at = None;
            }
            Action::ScheduleRejoin => {
                ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
                ch.rejoin_at = self.rejoin.delay(ch.rejoin_attempts, &mut self.rng).map(|d| now + d);
            }
            Action::ScheduleRejoinLongest => {
                ch.rejoin_attempts = ch.rejoin_attempts.saturating_add(1);
                let longest = self.rejoin.longest();
                // The attempt limit holds here too.
                ch.rejoin_at = self.rejoin.delay(ch.rejoin_attempts, &mut self.rng).map(|_| now + longest);
            }
            Action::Flush => {
                // A new join is a new channel process on the server: no presence there, and a
                // fresh call budget. What the app tracks is tracked again (spec C.2).
                ch.presence_calls.clear();
                ch.presence_wait = None;
                ch.untrack_owed = false;
                if !ch.config.retracks_presence() && ch.tracked_on.is_some_and(|on| Some(on) != ch.join_ref) {
                    // Opted out: what was tracked on an older join is forgotten with it (a
                    // track made while this join was under way still goes).
                    ch.tracked = None;
                    ch.tracked_on = None;
                }
                let retrack = ch.tracked.is_some() && ch.tracked_on != ch.join_ref;
                // A token set while the join was in flight goes to the server now.
                if ch.join_token_gen != self.token_gen {
                    self.push_token_to(now, index);
                }
                if retrack {
                    self.sync_presence(index);
                }
                self.flush(index);
            }
            Action::EndPushes => {
                for w in ch.waiting.drain(..) {
                    end_push(&mut self.events, id, w.id, PushOutcome::NotSent(NotSentReason::ChannelClosed));
                }
                for p in ch.in_flight.drain(..) {
                    end_push(&mut self.events, id, p.id, PushOutcome::TimedOut);
                }
            }
            Action::ReportSubscribed => match ch.config.postgres_ready_timeout() {
                // The ready mode: `Subscribed` waits for "Subscribed to PostgreSQL".
                Some(wait) => ch.ready = ReadyWait::Until(now + wait),
                None => self.status(id, ChannelStatus::Subscribed),
            },
            Action::ReportTimedOut => self.status(id, ChannelStatus::TimedOut),
            Action::ReportClosed => {
                if !core::mem::take(&mut ch.quiet_close) {
                    self.status(id, ChannelStatus::Closed);
                }
            }
            Action::ReportLeft(outcome) => {
                // Only the app's `unsubscribe` and `remove_channel` enter the transitions that
                // report a leave, and both name a waiter first.
                debug_assert!(!ch.leave_waiters.is_empty(), "a leave nobody asked for");
                for generation in ch.leave_waiters.drain(..) {
                    let channel = ChannelId { index, generation };
                    self.events.push_back(Event::Left { channel, outcome });
                }
            }
            Action::ReportError => {
                let reason = reason.cloned().unwrap_or(ChannelErrorReason::Disconnected);
                self.status(id, ChannelStatus::ChannelError(reason));
            }
        }
    }

    /// The last handle is gone: leave, and delete once closed (at once, when it is).
    pub(super) fn release(&mut self, index: u32) {
        let id = self.id(index);
        self.leave(id);
    }

    pub(super) fn delete(&mut self, index: u32) {
        let id = self.id(index);
        let slot = &mut self.slots[index as usize];
        if let Some(ch) = slot.channel.take() {
            self.topics.remove(ch.topic.as_bytes());
            // Every path to deletion ends the pushes first (`EndPushes`); this keeps "every
            // push ends exactly once" true even if a new path forgets.
            debug_assert!(
                ch.waiting.is_empty() && ch.in_flight.is_empty(),
                "pushes left in a deleted channel"
            );
            for w in ch.waiting {
                end_push(&mut self.events, id, w.id, PushOutcome::NotSent(NotSentReason::ChannelClosed));
            }
            for p in ch.in_flight {
                end_push(&mut self.events, id, p.id, PushOutcome::TimedOut);
            }
        }
        slot.generation = slot.generation.wrapping_add(1);
        if self.topics.is_empty()
            && let Some(after) = self.disconnect_when_empty
            && self.conn != Conn::Idle
        {
            self.idle_at = Some(self.now + after);
        }
    }
}
