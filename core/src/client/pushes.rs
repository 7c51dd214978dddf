//! Pushes: a push goes out at once on a joined channel, or waits in the channel's bounded buffer
//! (its timeout running) and is written once, in order, with the join ref of the join that
//! succeeded.

use super::*;

impl Client {
    /// Pushes `body` on a channel with the default timeout.
    pub fn push(&mut self, now: Instant, id: ChannelId, body: PushBody) -> Result<PushId, PushError> {
        self.push_with_timeout(now, id, body, self.timeout)
    }

    /// Broadcasts `event` with `data` on a channel: JSON as a text frame (or a binary kind-3
    /// frame with `binary_frames`, as realtime-js sends), bytes as a kind-3 frame (2.0.0
    /// only). With the channel's `broadcast.ack` on, the outcome is the server's reply (an
    /// error such as `payload_size_exceeded`, or a timeout); without it, `Ok` once the
    /// broadcast is written, since the server does not answer.
    pub fn broadcast(
        &mut self,
        now: Instant,
        id: ChannelId,
        event: &str,
        data: BroadcastData,
        binary_frames: bool,
    ) -> Result<PushId, PushError> {
        if !self.get(id).ok_or(PushError::UnknownChannel)?.is_realtime() {
            return Err(PushError::NotRealtime);
        }
        let body = match data {
            BroadcastData::Json(payload) if !binary_frames => {
                let mut p = String::with_capacity(payload.len() + event.len() + 48);
                p.push_str("{\"type\":\"broadcast\",\"event\":");
                serializer::push_str(&mut p, event);
                p.push_str(",\"payload\":");
                p.push_str(&payload);
                p.push('}');
                // The payload is checked as JSON with the whole body, when it is pushed.
                PushBody::Json { event: String::from("broadcast"), payload: p }
            }
            data => PushBody::UserBroadcast { event: String::from(event), meta: None, data },
        };
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        let reply = ch.config.acks_broadcasts();
        let can_push = ch.state == ChannelState::Joined && self.conn == Conn::Open;
        if self.rest_fallback
            && !can_push
            && !matches!(ch.state, ChannelState::Closed | ChannelState::Leaving)
        {
            return self.broadcast_over_rest(now, id, body);
        }
        self.push_inner(now, id, body, self.timeout, reply)
    }

    /// Pushes `body` on a channel; its outcome is reported as [`Event::Push`]. It goes out at
    /// once when the channel is joined, or waits in the channel's buffer (its timeout already
    /// running) while the channel joins, errored or the socket is offline.
    pub fn push_with_timeout(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
        timeout: Duration,
    ) -> Result<PushId, PushError> {
        self.push_inner(now, id, body, timeout, true)
    }

    pub(super) fn push_inner(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
        timeout: Duration,
        reply: bool,
    ) -> Result<PushId, PushError> {
        self.now = now;
        let vsn = self.vsn;
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        // Kind-3 user broadcast frames are Realtime's; a Phoenix server reads none.
        if matches!(body, PushBody::UserBroadcast { .. }) && !ch.is_realtime() {
            return Err(PushError::NotRealtime);
        }
        check_body(vsn, &ch.topic, &body)?;
        if matches!(ch.state, ChannelState::Closed | ChannelState::Leaving) {
            return Err(PushError::NotJoined);
        }
        let mut direct = ch.state == ChannelState::Joined && self.conn == Conn::Open && ch.waiting.is_empty();
        if direct && self.link.is_full(self.max_outgoing) {
            return Err(PushError::Busy);
        }
        if direct && let Some(limit) = self.rate_limit {
            let at = ch.limiter.allowed_at(&limit, now);
            if at > now {
                if limit.policy == RateLimitPolicy::Refuse {
                    return Err(PushError::RateLimited);
                }
                // It waits its turn in the buffer.
                direct = false;
            }
        }
        let ch = self.slots[id.index as usize].channel.as_mut().ok_or(PushError::UnknownChannel)?;
        if !direct && ch.waiting.len() >= self.push_buffer {
            if self.overflow == Overflow::Error {
                return Err(PushError::BufferFull);
            }
            if let Some(old) = ch.waiting.pop_front() {
                end_push(&mut self.events, id, old.id, PushOutcome::NotSent(NotSentReason::Dropped));
            }
        }
        self.last_push += 1;
        let push = PushId(self.last_push);
        let deadline = now + timeout;
        if direct {
            if let Some(limit) = self.rate_limit {
                ch.limiter.take(&limit, now);
            }
            self.last_ref += 1;
            let msg_ref = self.last_ref;
            let msg = encode(vsn, ch.join_ref, msg_ref, &ch.topic, &body).map_err(PushError::Encode)?;
            if !self.link.send(msg) {
                return Err(PushError::Busy);
            }
            if reply {
                ch.in_flight.push_back(InFlight { id: push, msg_ref, deadline });
            } else {
                end_push(&mut self.events, id, push, PushOutcome::Ok(String::from("{}")));
            }
            return Ok(push);
        }
        ch.waiting.push_back(Waiting { id: push, body, reply, deadline });
        if let Some(limit) = self.rate_limit
            && ch.state == ChannelState::Joined
            && ch.rate_wait.is_none()
        {
            ch.rate_wait = Some(ch.limiter.allowed_at(&limit, now));
        }
        Ok(push)
    }

    /// Writes a joined channel's waiting pushes, in order, with its join ref.
    pub(super) fn flush(&mut self, index: u32) {
        let vsn = self.vsn;
        if self.conn != Conn::Open {
            return;
        }
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.state != ChannelState::Joined {
            return;
        }
        while let Some(w) = ch.waiting.front() {
            if w.deadline <= self.now {
                // Its timeout passed before `handle_timeout` saw it: it is not written.
                let push = w.id;
                ch.waiting.pop_front();
                end_push(&mut self.events, id, push, PushOutcome::TimedOut);
                continue;
            }
            if self.link.is_full(self.max_outgoing) {
                self.needs_flush = true;
                return;
            }
            if let Some(limit) = self.rate_limit {
                let at = ch.limiter.allowed_at(&limit, self.now);
                if at > self.now {
                    ch.rate_wait = Some(at);
                    return;
                }
                ch.limiter.take(&limit, self.now);
            }
            self.last_ref += 1;
            let msg_ref = self.last_ref;
            // Checked when pushed: the body encodes.
            let sent =
                encode(vsn, ch.join_ref, msg_ref, &ch.topic, &w.body).is_ok_and(|msg| self.link.send(msg));
            if !sent {
                return;
            }
            if w.reply {
                ch.in_flight.push_back(InFlight { id: w.id, msg_ref, deadline: w.deadline });
            } else {
                end_push(&mut self.events, id, w.id, PushOutcome::Ok(String::from("{}")));
            }
            ch.waiting.pop_front();
        }
    }

    pub(super) fn flush_all(&mut self) {
        self.needs_flush = false;
        for index in 0..self.slots.len() as u32 {
            self.flush(index);
        }
    }
}
