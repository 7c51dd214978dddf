//! Timers: every deadline the client keeps, read by both `poll_timeout` and `handle_timeout`.

use super::*;

/// The client's timers (each channel's own are one entry: `Channel::poll_timeout` lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Timer {
    /// The connect attempt's deadline (TCP, TLS and the upgrade).
    Connect,
    /// The WebSocket layer's own (handshake, close handshake).
    WebSocket,
    /// The next heartbeat, or the reply to the one in flight.
    Heartbeat,
    /// The next WebSocket ping, or the pong owed.
    Ping,
    /// The next reconnect attempt.
    Reconnect,
    /// Joins held for a token go ahead without one.
    TokenWait,
    /// Ask for a fresh token before the current one expires.
    TokenRefresh,
    /// REST broadcasts whose result did not come.
    Rest,
    /// Joins, rejoins, leaves, pushes, rate and presence budgets, the postgres ready wait.
    Channels,
    /// Disconnect a socket left with no channel.
    Idle,
}

/// The timers in the order a pass fires them: the connection's first (a connection that ends
/// disarms its heartbeat and ping), then the token's (which release held joins), then pushes and
/// channels, then the idle disconnect.
const TIMERS: [Timer; 10] = [
    Timer::Connect,
    Timer::WebSocket,
    Timer::Heartbeat,
    Timer::Ping,
    Timer::Reconnect,
    Timer::TokenWait,
    Timer::TokenRefresh,
    Timer::Rest,
    Timer::Channels,
    Timer::Idle,
];

impl Client {
    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        // A timer can arm another that is already due (a zero backoff step, a zero idle
        // delay): run passes until nothing is due, so the next deadline is always ahead.
        for _ in 0..MAX_TIMER_PASSES {
            self.timeout_pass(now);
            if self.poll_timeout().is_none_or(|t| t > now) {
                return;
            }
        }
    }

    /// One pass over the table: each timer that is due fires, in the table's order. A timer's
    /// deadline is read again just before it fires, so one that an earlier one disarmed (a
    /// connection that ended takes its heartbeat with it) does not fire.
    pub(super) fn timeout_pass(&mut self, now: Instant) {
        for timer in TIMERS {
            if self.deadline(timer).is_some_and(|at| now >= at) {
                self.fire(timer, now);
            }
        }
    }

    /// When to call `handle_timeout` next: the earliest deadline of the table.
    pub fn poll_timeout(&self) -> Option<Instant> {
        TIMERS.into_iter().filter_map(|timer| self.deadline(timer)).min()
    }

    /// When `timer` is due, if it is armed: the one place each deadline is read, for both
    /// `poll_timeout` and `handle_timeout`.
    fn deadline(&self, timer: Timer) -> Option<Instant> {
        match timer {
            Timer::Connect => self.connect_deadline,
            Timer::WebSocket => match &self.link {
                Link::Bytes(ws) => ws.poll_timeout(),
                _ => None,
            },
            Timer::Heartbeat => match self.conn {
                Conn::Open => self.heartbeat.poll_timeout(),
                _ => None,
            },
            Timer::Ping => match (self.conn, &self.ping) {
                (Conn::Open, Some(p)) => Some(p.outstanding.map_or(p.next, |sent| sent + p.interval)),
                _ => None,
            },
            Timer::Reconnect => match self.conn {
                Conn::Waiting { at, .. } => Some(at),
                _ => None,
            },
            Timer::TokenWait => self.token_wait_until,
            Timer::TokenRefresh => self.token_refresh_at,
            Timer::Rest => {
                self.rest_out.iter().map(|e| e.3).chain(self.rest_pending.iter().map(|e| e.2)).min()
            }
            Timer::Channels => self.slots.iter().filter_map(|s| s.channel.as_ref()?.poll_timeout()).min(),
            Timer::Idle => self.idle_at,
        }
    }

    /// What a due timer does.
    fn fire(&mut self, timer: Timer, now: Instant) {
        match timer {
            Timer::Connect => {
                self.connect_deadline = None;
                self.ending.get_or_insert(ConnectionEnd::ConnectTimeout);
                self.finish(Finish::Close);
            }
            Timer::WebSocket => {
                if let Link::Bytes(ws) = &mut self.link {
                    ws.handle_timeout(now);
                    self.pump(now);
                }
            }
            Timer::Heartbeat => {
                let last_ref = &mut self.last_ref;
                match self.heartbeat.handle_timeout(now, || {
                    *last_ref += 1;
                    *last_ref
                }) {
                    Some(HeartbeatAction::Send { msg_ref }) => {
                        let msg =
                            encode_json(self.vsn, None, msg_ref, HEARTBEAT_TOPIC, HEARTBEAT_EVENT, "{}");
                        if self.link.send(msg) {
                            self.events.push_back(Event::Heartbeat(HeartbeatStatus::Sent));
                        }
                    }
                    Some(HeartbeatAction::TimedOut) => {
                        self.events.push_back(Event::Heartbeat(HeartbeatStatus::TimedOut));
                        self.ending.get_or_insert(ConnectionEnd::HeartbeatTimeout);
                        self.finish(Finish::Abort);
                    }
                    None => {}
                }
            }
            Timer::Ping => {
                let Some(ping) = &mut self.ping else { return };
                if ping.outstanding.is_some() {
                    // The pong did not come within an interval.
                    self.ending.get_or_insert(ConnectionEnd::PingTimeout);
                    self.finish(Finish::Abort);
                } else {
                    ping.outstanding = Some(now);
                    ping.next = now + ping.interval;
                    if let Link::Bytes(ws) = &mut self.link {
                        // A ping can only fail on a closing connection, which ends anyway.
                        let _ = ws.ping(now);
                    }
                }
            }
            Timer::Reconnect => self.open_transport(),
            Timer::TokenWait => {
                // No token came: the held joins go ahead with what there is.
                self.token_wait_until = None;
                self.token_waived = true;
                self.release_held_joins();
            }
            Timer::TokenRefresh => {
                self.token_refresh_at = None;
                self.refresh_asked_gen = Some(self.token_gen);
                self.token_waived = false;
                self.request_token(now, TokenReason::Expiring);
            }
            Timer::Rest => {
                let events = &mut self.events;
                let mut expire = |channel: ChannelId, push: PushId, deadline: Instant| {
                    let due = now >= deadline;
                    if due {
                        end_push(events, channel, push, PushOutcome::TimedOut);
                    }
                    !due
                };
                self.rest_out.retain(|(c, p, _, d)| expire(*c, *p, *d));
                self.rest_pending.retain(|(c, p, d)| expire(*c, *p, *d));
            }
            Timer::Channels => {
                for index in 0..self.slots.len() as u32 {
                    self.channel_timeouts(now, index);
                }
            }
            Timer::Idle => {
                self.idle_at = None;
                if self.conn != Conn::Idle {
                    self.stop_idle = true;
                    self.disconnect(now);
                }
            }
        }
    }

    pub(super) fn channel_timeouts(&mut self, now: Instant, index: u32) {
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.join_deadline.is_some_and(|at| now >= at) {
            ch.join_deadline = None;
            self.apply(index, Input::JoinTimeout, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.rejoin_at.is_some_and(|at| now >= at) {
            ch.rejoin_at = None;
            self.apply(index, Input::RejoinDue, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.rate_wait.is_some_and(|at| now >= at) {
            ch.rate_wait = None;
            self.flush(index);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.presence_wait.is_some_and(|at| now >= at) {
            ch.presence_wait = None;
            self.sync_presence(index);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if let ReadyWait::Until(at) = ch.ready
            && now >= at
        {
            ch.ready = ReadyWait::Late;
            self.status(id, ChannelStatus::ChannelError(ChannelErrorReason::PostgresNotReady));
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        if ch.leave.is_some_and(|(_, at)| now >= at) {
            ch.leave = None;
            self.apply(index, Input::LeaveTimeout, None);
        }
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        let events = &mut self.events;
        ch.waiting.retain(|w| {
            let due = now >= w.deadline;
            if due {
                end_push(events, id, w.id, PushOutcome::TimedOut);
            }
            !due
        });
        ch.in_flight.retain(|p| {
            let due = now >= p.deadline;
            if due {
                end_push(events, id, p.id, PushOutcome::TimedOut);
            }
            !due
        });
    }
}
