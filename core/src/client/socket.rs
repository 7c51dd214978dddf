//! The socket and its link: connect, disconnect, the transport's reports, bytes and messages in
//! and out, the WebSocket layer's events, and how a connection ends (`finish`, with the endings
//! table deciding what comes next).

use super::*;

/// The current transport, as the client sees it.
#[derive(Debug)]
pub(super) enum Link {
    None,
    /// Boxed: the connection state is large next to a queue, and one box per connection is
    /// cheap.
    Bytes(Box<WebSocket>),
    Messages(VecDeque<ws::Message>),
}

impl Link {
    pub(super) fn is_full(&self, max: usize) -> bool {
        match self {
            Self::None => true,
            Self::Bytes(ws) => ws.pending_messages() >= max,
            Self::Messages(q) => q.len() >= max,
        }
    }

    /// Hands a message to the transport; false when it cannot take it (no connection, or a
    /// closing one). The outgoing bound is checked by the callers that push.
    pub(super) fn send(&mut self, msg: ws::Message) -> bool {
        match self {
            Self::None => false,
            Self::Bytes(ws) => {
                let (kind, bytes) = match msg {
                    ws::Message::Text(s) => (MessageKind::Text, s.into_bytes()),
                    ws::Message::Binary(b) => (MessageKind::Binary, b),
                };
                ws.send(kind, bytes).is_ok()
            }
            Self::Messages(q) => {
                q.push_back(msg);
                true
            }
        }
    }
}

/// How `finish` ends the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Finish {
    /// Ask the runtime to close it (after flushing a byte link's close frame).
    Close,
    /// Ask the runtime to drop it at once.
    Abort,
    /// It is already gone.
    Gone,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Ping {
    pub(super) interval: Duration,
    pub(super) next: Instant,
    /// When the unanswered ping was sent.
    pub(super) outstanding: Option<Instant>,
}

impl Client {
    /// Connects, unless connected or connecting. A pending reconnect starts at once.
    pub fn connect(&mut self, now: Instant) {
        self.now = now;
        self.idle_at = None;
        if let Some(reason) = self.token_needed(now) {
            self.request_token(now, reason);
        }
        match self.conn {
            Conn::Idle => {
                self.reconnect_attempt = 0;
                self.open_transport();
            }
            Conn::Waiting { .. } => self.open_transport(),
            Conn::Closing => self.connect_after_close = true,
            Conn::Opening | Conn::Handshaking | Conn::Open => {}
        }
    }

    /// Disconnects and cancels any reconnect. Channels stay subscribed in intent: they rejoin
    /// (without an error status) on the next `connect`. The close frame says 1000 (normal).
    pub fn disconnect(&mut self, now: Instant) {
        self.disconnect_inner(now, CloseCode::NORMAL, "");
    }

    /// [`disconnect`](Self::disconnect) with this close code and reason in the close frame (a
    /// byte transport's, or the one a self-framing transport sends for
    /// [`TransportCommand::Close`]). A disconnect already under way keeps its own.
    ///
    /// # Errors
    ///
    /// [`DisconnectError::InvalidCode`] unless `code` is 1000 or 3000-4999, and
    /// [`DisconnectError::ReasonTooLong`] for a reason over 123 bytes; nothing changes then.
    pub fn disconnect_with(&mut self, now: Instant, code: u16, reason: &str) -> Result<(), DisconnectError> {
        if !matches!(code, 1000 | 3000..=4999) {
            return Err(DisconnectError::InvalidCode(code));
        }
        if reason.len() > ws::MAX_CLOSE_REASON {
            return Err(DisconnectError::ReasonTooLong { len: reason.len() });
        }
        self.disconnect_inner(now, CloseCode(code), reason);
        Ok(())
    }

    pub(super) fn disconnect_inner(&mut self, now: Instant, code: CloseCode, reason: &str) {
        self.now = now;
        self.lost_at = None;
        self.reconnect_attempt = 0;
        self.connect_after_close = false;
        match self.conn {
            Conn::Idle | Conn::Closing => {}
            Conn::Waiting { .. } => {
                // No connection ends now, but the plan announced by the last `Disconnected`
                // (a reconnect) changes: say so.
                self.move_socket(SocketInput::Cancel, Conn::Idle);
                let reason = if self.stop_idle { StopReason::Idle } else { StopReason::Manual };
                self.stop_idle = false;
                self.events
                    .push_back(Event::Disconnected { end: ConnectionEnd::Manual, next: Next::Stop(reason) });
            }
            Conn::Opening | Conn::Handshaking => {
                self.ending = Some(ConnectionEnd::Manual);
                self.close_frame = Some((code.0, String::from(reason)));
                self.finish(Finish::Close);
            }
            Conn::Open => {
                self.ending = Some(ConnectionEnd::Manual);
                // For the `Close` command when the connection ends (now, or once a byte
                // link's close handshake is done).
                self.close_frame = Some((code.0, String::from(reason)));
                let closing = match &mut self.link {
                    Link::Bytes(ws) => ws.close(now, code, reason).is_ok(),
                    _ => false,
                };
                if closing {
                    self.move_socket(SocketInput::CloseStarted, Conn::Closing);
                    self.heartbeat.stop();
                    self.ping = None;
                } else {
                    self.finish(Finish::Close);
                }
            }
        }
        self.idle_at = None;
    }

    /// The app came to the foreground or the network changed: probe liveness at once (a
    /// heartbeat now, or the one in flight, with its reply due within the probe timeout), or
    /// reconnect now if waiting to.
    pub fn resume(&mut self, now: Instant) {
        self.now = now;
        match self.conn {
            Conn::Open => self.heartbeat.probe(now, self.probe_timeout),
            Conn::Waiting { .. } => self.open_transport(),
            _ => {}
        }
    }

    /// The transport the client asked for is up: a byte transport's TCP (and TLS) connection,
    /// or a self-framing transport's open WebSocket.
    pub fn handle_transport_open(&mut self, now: Instant, id: TransportId) {
        self.now = now;
        if self.conn != Conn::Opening || id.0 != self.transport_id {
            return;
        }
        match self.transport {
            TransportKind::Messages => {
                self.link = Link::Messages(VecDeque::new());
                self.on_open(now);
            }
            TransportKind::Bytes => {
                let mut seed = [0u8; 32];
                self.rng.fill_bytes(&mut seed);
                // Invariant: the config was validated in `new`.
                let Ok(mut ws) = WebSocket::new(self.ws_config, seed) else { return };
                // The outgoing bound is the client's (pushes only): control frames always fit.
                ws.set_queue_limits(WS_EVENT_BATCH, usize::MAX);
                let headers: Vec<(&str, &str)> =
                    self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let started = ws::Url::parse(&self.url).ok().is_some_and(|url| {
                    ws.connect(now, &ws::Request { url, protocols: &[], headers: &headers }).is_ok()
                });
                self.link = Link::Bytes(Box::new(ws));
                if started {
                    self.move_socket(SocketInput::TransportUp, Conn::Handshaking);
                } else {
                    // Unreachable with a validated config; ends like a failed transport.
                    self.finish(Finish::Close);
                }
            }
        }
    }

    /// The transport `id` ended (or failed to open). Reports about an older transport are
    /// ignored.
    pub fn handle_transport_closed(&mut self, now: Instant, id: TransportId, how: TransportClosed<'_>) {
        self.now = now;
        if id.0 != self.transport_id {
            return;
        }
        self.draining = None;
        if !matches!(self.conn, Conn::Opening | Conn::Handshaking | Conn::Open | Conn::Closing) {
            return;
        }
        let end = match how {
            TransportClosed::Closed { code, reason } => ConnectionEnd::ServerClosed {
                code: code.unwrap_or(CloseCode::NO_STATUS.0),
                reason: String::from(reason),
            },
            TransportClosed::UpgradeRejected { status } => {
                ConnectionEnd::UpgradeRejected { status, body: String::new() }
            }
            TransportClosed::Eof | TransportClosed::Error => ConnectionEnd::TransportLost,
        };
        self.transport_gone = true;
        if let Link::Bytes(ws) = &mut self.link {
            ws.handle_transport_closed(now);
            self.pump(now);
        }
        // Only if the report's transport is still the current one: finishing it may already
        // have started the next attempt (a connect asked for during a manual close).
        if id.0 == self.transport_id
            && (!self.link_gone() || matches!(self.conn, Conn::Opening | Conn::Handshaking))
        {
            self.ending.get_or_insert(end);
            self.finish(Finish::Gone);
        }
        self.transport_gone = false;
    }

    /// Bytes from a byte transport. Returns how many were consumed: keep the rest and offer it
    /// again with more. It stops early at a partial frame, while a pong waits for
    /// `poll_transmit`, or when the event queue is full (drain `poll_event`).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> usize {
        self.now = now;
        let mut used = 0;
        while used < bytes.len() && self.events.len() < self.max_events {
            let Link::Bytes(ws) = &mut self.link else {
                // No connection to feed: the bytes belong to a transport that is going away.
                return bytes.len();
            };
            let n = ws.handle_input(now, &bytes[used..]);
            used += n;
            let events = self.pump(now);
            if n == 0 && events == 0 {
                break;
            }
        }
        used
    }

    /// A whole message from a self-framing transport. Hand them over one at a time and drain
    /// `poll_event` in between: the event-queue bound that throttles byte input has no
    /// equivalent here (the transport holds the messages not yet taken).
    ///
    /// A message longer than `ws.max_message_len` ends the connection as a byte link's would:
    /// the transport is asked to close with 1009, and the client reconnects on its schedule.
    /// (A browser's WebSocket has no size limit of its own.)
    pub fn handle_message(&mut self, now: Instant, message: ws::Message) {
        self.now = now;
        if self.conn != Conn::Open || !matches!(self.link, Link::Messages(_)) {
            return;
        }
        let len = match &message {
            ws::Message::Text(t) => t.len(),
            ws::Message::Binary(b) => b.len(),
        } as u64;
        let max = u64::from(self.ws_config.max_message_len);
        if len > max {
            let e = ws::Error::MessageTooLong { len, max };
            self.ending.get_or_insert(ConnectionEnd::WebSocket(e));
            self.close_frame = Some((CloseCode::TOO_BIG.0, String::from("message too long")));
            self.finish(Finish::Close);
            return;
        }
        self.on_message(now, message);
    }

    /// The next transport command.
    pub fn poll_transport(&mut self) -> Option<TransportCommand> {
        let cmd = self.commands.pop_front()?;
        if matches!(cmd, TransportCommand::Open { .. }) {
            // The runtime flushed the previous link when it executed its `Close`.
            self.draining = None;
        }
        Some(cmd)
    }

    /// Fills `out` with bytes for a byte transport; 0 when there are none.
    pub fn poll_transmit(&mut self, out: &mut [u8]) -> usize {
        if let Some(old) = &mut self.draining {
            let n = old.poll_transmit(out);
            if n > 0 {
                return n;
            }
            self.draining = None;
        }
        if self.needs_flush {
            self.flush_all();
        }
        let Link::Bytes(ws) = &mut self.link else { return 0 };
        let n = ws.poll_transmit(out);
        if ws.state() == ws::State::Closed && n == 0 {
            // Everything, the close frame included, is out.
            self.finish(Finish::Close);
        }
        n
    }

    /// The next message for a self-framing transport.
    pub fn poll_message(&mut self) -> Option<ws::Message> {
        if self.needs_flush {
            self.flush_all();
        }
        match &mut self.link {
            Link::Messages(q) => q.pop_front(),
            _ => None,
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub(super) fn link_gone(&self) -> bool {
        matches!(self.link, Link::None)
    }

    pub(super) fn open_transport(&mut self) {
        self.link = Link::None;
        self.ending = None;
        self.stop_idle = false;
        self.move_socket(SocketInput::Open, Conn::Opening);
        self.transport_id += 1;
        self.connect_deadline = Some(self.now + self.connect_timeout);
        self.commands.push_back(TransportCommand::Open {
            url: self.url.clone(),
            target: self.target.clone(),
            id: TransportId(self.transport_id),
        });
    }

    /// Drains the WebSocket layer's events; returns how many there were.
    pub(super) fn pump(&mut self, now: Instant) -> usize {
        let mut count = 0;
        loop {
            let Link::Bytes(ws) = &mut self.link else { return count };
            let Some(event) = ws.poll_event() else { break };
            count += 1;
            match event {
                WsEvent::Open { .. } => self.on_open(now),
                WsEvent::Rejected { status, body } => {
                    let body = String::from_utf8_lossy(&body).into_owned();
                    self.ending.get_or_insert(ConnectionEnd::UpgradeRejected { status, body });
                }
                WsEvent::Message(m) => self.on_message(now, m),
                WsEvent::Pong { rtt } => {
                    if let (Some(rtt), Some(ping)) = (rtt, &mut self.ping) {
                        ping.outstanding = None;
                        self.events.push_back(Event::Pong { rtt });
                    }
                }
                WsEvent::Close { code, reason } => {
                    let code = code.unwrap_or(CloseCode::NO_STATUS).0;
                    self.ending.get_or_insert(ConnectionEnd::ServerClosed { code, reason });
                    // The connection is over: the close reply drains through `poll_transmit`
                    // while the channels already count as offline.
                    self.finish(Finish::Close);
                    return count;
                }
                WsEvent::Failed(e) => {
                    let end = match e {
                        ws::Error::ConnectionReset => ConnectionEnd::TransportLost,
                        e => ConnectionEnd::WebSocket(e),
                    };
                    self.ending.get_or_insert(end);
                    self.finish(Finish::Close);
                    return count;
                }
            }
        }
        if let Link::Bytes(ws) = &self.link
            && ws.state() == ws::State::Closed
        {
            // The close handshake is done (or the connection failed): what is left to send
            // drains through `poll_transmit` before the runtime closes.
            self.finish(Finish::Close);
        }
        count
    }

    pub(super) fn on_open(&mut self, now: Instant) {
        self.move_socket(SocketInput::Opened, Conn::Open);
        self.connect_deadline = None;
        self.reconnect_attempt = 0;
        self.last_join_error = None;
        self.heartbeat.start(now);
        self.ping = match (self.transport, self.ping_interval) {
            (TransportKind::Bytes, Some(interval)) => {
                Some(Ping { interval, next: now + interval, outstanding: None })
            }
            _ => None,
        };
        self.events.push_back(Event::Connected);
        if let Some(lost) = self.lost_at.take() {
            self.events.push_back(Event::Reconnected { gap: now.saturating_duration_since(lost) });
        }
        for index in 0..self.slots.len() as u32 {
            self.apply(index, Input::SocketOpen, None);
        }
    }

    /// Ends the current connection: asks the runtime to close or drop the transport, ends the
    /// pushes written on it, errors the channels and decides what comes next.
    pub(super) fn finish(&mut self, how: Finish) {
        let now = self.now;
        let how = if self.transport_gone { Finish::Gone } else { how };
        match (how, core::mem::replace(&mut self.link, Link::None)) {
            (Finish::Gone, _) => {}
            (Finish::Abort, _) => self.commands.push_back(TransportCommand::Abort),
            (Finish::Close, link) => {
                if let Link::Bytes(ws) = link {
                    self.draining = Some(ws);
                }
                let (code, reason) = self.close_frame.take().unwrap_or((CloseCode::NORMAL.0, String::new()));
                self.commands.push_back(TransportCommand::Close { code, reason });
            }
        }
        // A manual disconnect's code belongs to this connection only.
        self.close_frame = None;
        let end = self.ending.take().unwrap_or(ConnectionEnd::TransportLost);
        self.heartbeat.stop();
        self.ping = None;
        self.needs_flush = false;
        self.connect_deadline = None;
        let was = self.conn;
        let manual = end == ConnectionEnd::Manual;
        let join_error = self.last_join_error.take();
        let decide = match self.server {
            ServerKind::Realtime => crate::supabase::ending::decide,
            ServerKind::Phoenix => ending::decide,
        };
        let decision = match &end {
            ConnectionEnd::Manual => Decision::Stop(StopReason::Manual),
            ConnectionEnd::UpgradeRejected { status, .. } => {
                decide(&Ending::UpgradeRejected { status: *status })
            }
            ConnectionEnd::ServerClosed { code, reason } => {
                let context = if reason.is_empty() { join_error.as_deref().unwrap_or("") } else { reason };
                decide(&Ending::ServerClosed { code: CloseCode(*code), context })
            }
            ConnectionEnd::HeartbeatTimeout | ConnectionEnd::PingTimeout => decide(&Ending::LivenessTimeout),
            ConnectionEnd::WebSocket(_) | ConnectionEnd::TransportLost | ConnectionEnd::ConnectTimeout => {
                decide(&Ending::TransportFailed)
            }
        };
        let reopen = manual && core::mem::take(&mut self.connect_after_close);
        let next = match decision {
            // The app asked to connect again while the manual close ran: at once.
            Decision::Stop(StopReason::Manual) if reopen => {
                Next::Reconnect { after: Duration::ZERO, attempt: 1 }
            }
            Decision::Stop(StopReason::Manual) if self.stop_idle => Next::Stop(StopReason::Idle),
            Decision::Stop(reason) => Next::Stop(reason),
            Decision::Backoff { .. } | Decision::RateLimited => {
                self.reconnect_attempt = self.reconnect_attempt.saturating_add(1);
                let attempt = self.reconnect_attempt;
                // The attempt limit holds for rate-limited reconnects too.
                let delay = self.reconnect.delay(attempt, &mut self.rng);
                let delay = match decision {
                    Decision::RateLimited => delay.map(|_| self.reconnect.longest()),
                    _ => delay,
                };
                match delay {
                    Some(after) => Next::Reconnect { after, attempt },
                    None => Next::Stop(StopReason::RetriesExhausted),
                }
            }
        };
        // The socket's next state first, so the channels see it (and an emptied channel table
        // arms the idle timer when a reconnect is coming).
        if reopen {
            // Opened below, once the channels have seen the end of this connection.
            self.move_socket(SocketInput::Ended, Conn::Idle);
        } else if let Next::Reconnect { after, attempt } = next {
            self.move_socket(SocketInput::Ended, Conn::Waiting { at: now + after, attempt });
            // The gap counts from the loss of the last open connection, across failed attempts.
            if was == Conn::Open {
                self.lost_at.get_or_insert(now);
            }
        } else {
            self.move_socket(SocketInput::Ended, Conn::Idle);
            self.reconnect_attempt = 0;
            self.idle_at = None;
            if !manual {
                self.lost_at = None;
            }
        }
        for index in 0..self.slots.len() as u32 {
            let id = self.id(index);
            if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                for p in ch.in_flight.drain(..) {
                    end_push(&mut self.events, id, p.id, PushOutcome::TimedOut);
                }
            }
            let input = if manual { Input::SocketStopped } else { Input::SocketLost };
            self.apply(index, input, Some(ChannelErrorReason::Disconnected));
        }
        self.stop_idle = false;
        self.events.push_back(Event::Disconnected { end, next });
        if reopen {
            self.reconnect_attempt = 0;
            self.open_transport();
        }
    }
}
