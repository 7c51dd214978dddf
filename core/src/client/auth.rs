//! Auth and tokens: the access token (pushed to joined channels, carried by joins), the wall
//! clock that dates a JWT, the refresh margin, and joins held while the app is asked for a token.

use super::*;

impl Client {
    /// Sets (or clears) the access token. Every later join carries it; every joined channel
    /// gets it at once as an `access_token` push (channels that are not joined get it with
    /// their next join). A new-style API key (`sb_...`) or a JWT that has expired by the wall
    /// clock is never sent.
    pub fn set_access_token(&mut self, now: Instant, token: Option<String>) {
        self.now = now;
        self.access_token = token.map(Secret::new);
        self.token_gen += 1;
        self.token_rejected = false;
        // The app's answer is final: held joins go now with what `wire_token` allows (an
        // expired token is still dropped), and none waits again until the next refusal or
        // refresh. (Holding again here would ask again, and an app that answers every ask
        // with the same token would spin.)
        self.token_waived = true;
        self.token_wait_until = None;
        self.arm_token_refresh();
        self.push_token(now);
        self.release_held_joins();
        for index in 0..self.slots.len() as u32 {
            if let Some(ch) = self.slots[index as usize].channel.as_mut()
                && core::mem::take(&mut ch.rejoin_on_token)
                && ch.state == ChannelState::Closed
            {
                self.apply(index, Input::Subscribe, None);
            }
        }
    }

    /// Sends the token to every joined channel.
    pub(super) fn push_token(&mut self, now: Instant) {
        for index in 0..self.slots.len() as u32 {
            self.push_token_to(now, index);
        }
    }

    /// Sends the token to one channel, if it is joined.
    pub(super) fn push_token_to(&mut self, now: Instant, index: u32) {
        let Some(token) = wire_token(self.access_token.as_ref(), self.wall_clock, now) else { return };
        if self.conn != Conn::Open {
            return;
        }
        let mut payload = String::from("{\"access_token\":");
        serializer::push_str(&mut payload, token);
        payload.push('}');
        let Some(ch) = self.slots[index as usize]
            .channel
            .as_mut()
            .filter(|c| c.state == ChannelState::Joined && c.is_realtime())
        else {
            return;
        };
        ch.join_token_gen = self.token_gen;
        self.last_ref += 1;
        let msg = encode_json(self.vsn, ch.join_ref, self.last_ref, &ch.topic, "access_token", &payload);
        self.link.send(msg);
    }

    /// The wall clock (Unix milliseconds) at `now`, when the runtime has one. It is used only to
    /// check a JWT's `exp` (before sending it, and to ask for a new one in time) and for a
    /// replay's `since`; without it, those are skipped.
    ///
    /// Call it before every input: a reading consistent with the last one taken (the wall
    /// clock advanced as much as `now`, within [`WALL_CLOCK_TOLERANCE`]) changes nothing and
    /// costs nothing. Any other reading (the machine slept, so the monotonic clock stood still
    /// while the wall clock ran; or the clock was set) is taken, and the token refresh is
    /// planned again from it: a token that expired meanwhile is asked about at once.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.now = now;
        let tolerance = u64::try_from(WALL_CLOCK_TOLERANCE.as_millis()).unwrap_or(u64::MAX);
        if wall_ms(self.wall_clock, now).is_some_and(|expected| expected.abs_diff(unix_ms) <= tolerance) {
            return;
        }
        self.wall_clock = Some((now, unix_ms));
        self.arm_token_refresh();
    }

    /// The instant the current token enters its refresh margin, with a wall clock and a token
    /// source.
    pub(super) fn arm_token_refresh(&mut self) {
        self.token_refresh_at = None;
        if self.refresh_asked_gen == Some(self.token_gen) {
            return;
        }
        let (Some(token), Some((at, unix_ms)), true) =
            (&self.access_token, self.wall_clock, self.token_source)
        else {
            return;
        };
        let Some(exp) = token.jwt_exp() else { return };
        let margin = u64::try_from(self.token_refresh_margin.as_millis()).unwrap_or(u64::MAX);
        let due_ms = exp.saturating_mul(1000).saturating_sub(margin);
        // Never in the past: a token already inside its margin is asked about at once.
        let due = at + Duration::from_millis(due_ms.saturating_sub(unix_ms));
        self.token_refresh_at = Some(if due > self.now { due } else { self.now });
    }

    /// Why the next join must wait for a token, if it must.
    pub(super) fn token_needed(&self, now: Instant) -> Option<TokenReason> {
        if !self.token_source || self.token_waived {
            return None;
        }
        // Tokens go with Realtime joins only: a socket of Phoenix channels asks for none.
        let realtime = self.slots.iter().any(|s| s.channel.as_ref().is_some_and(Channel::is_realtime));
        if !realtime {
            return None;
        }
        if self.token_rejected {
            return Some(TokenReason::Rejected);
        }
        let Some(token) = self.access_token.as_ref().filter(|t| !t.is_api_key()) else {
            return Some(TokenReason::Missing);
        };
        let margin = u64::try_from(self.token_refresh_margin.as_millis()).unwrap_or(u64::MAX);
        match (token.jwt_exp(), self.wall_clock) {
            (Some(exp), Some((at, unix_ms))) => {
                let elapsed =
                    u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX);
                let wall = unix_ms.saturating_add(elapsed);
                (exp.saturating_mul(1000) <= wall.saturating_add(margin)).then_some(TokenReason::Expiring)
            }
            _ => None,
        }
    }

    /// Asks the app for a token (once per wait) and starts the wait.
    pub(super) fn request_token(&mut self, now: Instant, reason: TokenReason) {
        if self.token_wait_until.is_none() {
            self.token_wait_until = Some(now + self.token_wait);
            self.events.push_back(Event::TokenNeeded { reason });
        }
    }

    /// Sends the joins that waited for a token.
    pub(super) fn release_held_joins(&mut self) {
        if self.conn != Conn::Open {
            return;
        }
        for index in 0..self.slots.len() as u32 {
            let id = self.id(index);
            if let Some(ch) = self.slots[index as usize].channel.as_mut()
                && ch.join_held
                && ch.state == ChannelState::Joining
            {
                self.act(index, id, Action::SendJoin, None);
            }
        }
    }
}
