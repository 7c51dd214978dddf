//! This client's own presence: what the app tracks, kept across rejoins and sent within the
//! server's budget of presence calls.

use super::*;

impl Client {
    /// Tracks this client's presence on a channel with `payload` (a raw JSON object), and
    /// keeps it: it is tracked again after every rejoin, until `untrack`. Presence is turned on
    /// for the channel ([`enable_presence`](Self::enable_presence)). Sent at once when joined
    /// (else once joined, also when called before `subscribe`), within the server's budget of 5 presence calls per 30 s per
    /// channel, which closes the channel when exceeded: calls over it are coalesced, and the
    /// latest payload goes out when the budget allows.
    pub fn track(&mut self, now: Instant, id: ChannelId, payload: &str) -> Result<(), PushError> {
        self.now = now;
        if !payload.trim_start().starts_with('{') || serde_json::from_str::<&RawValue>(payload).is_err() {
            return Err(PushError::InvalidJson);
        }
        let ch = self.get_mut(id).ok_or(PushError::UnknownChannel)?;
        if !ch.is_realtime() {
            // A Phoenix server tracks presence from its own code, not on a push.
            return Err(PushError::NotRealtime);
        }
        if ch.state == ChannelState::Leaving {
            return Err(PushError::NotJoined);
        }
        ch.tracked = Some(String::from(payload));
        ch.tracked_on = None;
        ch.untrack_owed = false;
        // A track needs a join that asked for presence (spec C.2's #2196): a rejoin if not.
        self.enable_presence(now, id).map_err(|_| PushError::UnknownChannel)?;
        self.sync_presence(id.index);
        Ok(())
    }

    /// Stops tracking this client's presence on a channel (within the same budget).
    pub fn untrack(&mut self, now: Instant, id: ChannelId) -> Result<(), PushError> {
        self.now = now;
        let ch = self.get_mut(id).ok_or(PushError::UnknownChannel)?;
        if !ch.is_realtime() {
            return Err(PushError::NotRealtime);
        }
        if ch.tracked.take().is_some() || ch.tracked_on.is_some() {
            // The server may know it (sent, or about to be): say so.
            ch.untrack_owed = true;
        }
        ch.tracked_on = None;
        self.sync_presence(id.index);
        Ok(())
    }

    /// A channel's presence state.
    pub fn presence(&self, id: ChannelId) -> Option<&crate::phoenix::presence::PresenceState> {
        self.get(id).map(|c| &c.presence)
    }

    /// Brings the server's view of this client's presence to what the app wants (a track of
    /// the latest payload, or an untrack), if the channel is joined and the budget allows; else
    /// arms the budget timer. Replies are not awaited: a failure shows as the server's
    /// `system` error.
    pub(super) fn sync_presence(&mut self, index: u32) {
        let now = self.now;
        if self.conn != Conn::Open {
            return;
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.state != ChannelState::Joined {
            return;
        }
        let payload = match (&ch.tracked, ch.untrack_owed) {
            (Some(tracked), _) if ch.tracked_on != ch.join_ref => {
                let mut p = String::with_capacity(tracked.len() + 48);
                p.push_str(r#"{"type":"presence","event":"track","payload":"#);
                p.push_str(tracked);
                p.push('}');
                p
            }
            (None, true) => String::from(r#"{"type":"presence","event":"untrack"}"#),
            _ => return,
        };
        while ch.presence_calls.front().is_some_and(|&t| t + PRESENCE_WINDOW <= now) {
            ch.presence_calls.pop_front();
        }
        if ch.presence_calls.len() >= PRESENCE_CALLS {
            // Coalesced: whatever the app wants by then goes out when the oldest call leaves
            // the window.
            ch.presence_wait = ch.presence_calls.front().map(|&t| t + PRESENCE_WINDOW);
            return;
        }
        self.last_ref += 1;
        let msg = encode_json(self.vsn, ch.join_ref, self.last_ref, &ch.topic, "presence", &payload);
        if self.link.send(msg) {
            ch.presence_calls.push_back(now);
            if ch.tracked.is_some() {
                ch.tracked_on = ch.join_ref;
            } else {
                ch.untrack_owed = false;
            }
        }
    }
}
