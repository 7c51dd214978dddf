//! Dispatch of incoming messages: heartbeat replies, join, leave and push replies, presence,
//! lifecycle events, `system` messages, postgres changes and broadcasts, each checked against the
//! channel's current join.

use super::*;

impl Client {
    pub(super) fn on_message(&mut self, now: Instant, msg: ws::Message) {
        let decoded = match msg {
            ws::Message::Text(text) => serializer::decode_text(self.vsn, text),
            ws::Message::Binary(bytes) => serializer::decode_binary(bytes),
        };
        let m = match decoded {
            Ok(m) => m,
            Err(e) => {
                self.events.push_back(Event::Undecodable(e));
                return;
            }
        };
        // Dispatch reads the raw bytes (checked as UTF-8 when decoded).
        let event = m.event_bytes();
        if m.topic_bytes() == HEARTBEAT_TOPIC.as_bytes() {
            if event == b"phx_reply"
                && let Some(r) = m.msg_ref().and_then(parse_ref)
                && let Some(ok) = reply_status(&m.payload())
                && let Some(reply) = self.heartbeat.handle_reply(r, ok, now)
            {
                let status = if reply.ok {
                    HeartbeatStatus::Ok { latency: reply.latency }
                } else {
                    HeartbeatStatus::Error { latency: reply.latency }
                };
                self.events.push_back(Event::Heartbeat(status));
            }
            return;
        }
        let Some(&index) = self.topics.get(m.topic_bytes()) else { return };
        let id = self.id(index);
        let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
        match event {
            b"phx_reply" => {
                let Some(r) = m.msg_ref().and_then(parse_ref) else { return };
                let Some((ok, response)) = reply_parts(&m.payload()) else { return };
                if ch.state == ChannelState::Joining && ch.join_ref == Some(r) {
                    if ok && !ch.config.bindings().is_empty() {
                        // Binding i takes the id of the reply's entry i (spec C.3).
                        match ch.config.bindings().pair(&response) {
                            // An old server's reply without the list: unpaired, as the
                            // reference clients leave it (only `*` bindings then match).
                            Ok(ids) => ch.postgres_ids = ids,
                            Err(_) => {
                                let reason = ChannelErrorReason::BindingMismatch;
                                self.apply(index, Input::JoinMismatch, Some(reason));
                                return;
                            }
                        }
                    }
                    if ok {
                        self.apply(index, Input::JoinOk, None);
                    } else if !ch.is_realtime() {
                        // A plain Phoenix server's reasons are its app's: no table reads them,
                        // and the channel rejoins on the schedule (phoenix.js).
                        // Nor is it the context of a later close (the app's words could read as
                        // Realtime's `TenantNotFound`).
                        let reason = ServerReason::unclassified(reason_text(&response));
                        self.apply(index, Input::JoinError, Some(ChannelErrorReason::JoinRejected(reason)));
                    } else {
                        let reason = ServerReason::join_error(reason_text(&response));
                        self.last_join_error = Some(reason.text.clone());
                        if reason.class == ErrorClass::Permission
                            && wire_token(self.access_token.as_ref(), self.wall_clock, now).is_none()
                        {
                            // Refused without a token (none, or an expired one dropped): a
                            // token set later may well be allowed, so join again then.
                            ch.rejoin_on_token = true;
                        }
                        let input = match reason.class.action() {
                            ErrorAction::Rejoin => Input::JoinError,
                            ErrorAction::BackoffLongest => Input::JoinThrottled,
                            // With a token source: ask for a new token; the rejoin waits for it.
                            ErrorAction::RefreshToken if self.token_source => {
                                self.token_rejected = true;
                                self.token_waived = false;
                                self.request_token(now, TokenReason::Rejected);
                                Input::JoinError
                            }
                            // Without one, a refused token is as final as a refused permission.
                            ErrorAction::Stop | ErrorAction::RefreshToken => Input::JoinRefused,
                        };
                        self.apply(index, input, Some(ChannelErrorReason::JoinRejected(reason)));
                    }
                } else if ch.leave.is_some_and(|(leave_ref, _)| leave_ref == r) {
                    // Any status: an error (`unmatched topic`) says the server has no such
                    // channel either.
                    ch.leave = None;
                    self.apply(index, Input::LeaveReplied, None);
                } else if let Some(pos) = ch.in_flight.iter().position(|p| p.msg_ref == r) {
                    let push = ch.in_flight.remove(pos).map(|p| p.id);
                    let outcome = if ok { PushOutcome::Ok(response) } else { PushOutcome::Error(response) };
                    if let Some(push) = push {
                        end_push(&mut self.events, id, push, outcome);
                    }
                }
            }
            b"presence_state" | b"presence_diff" => {
                let stale =
                    m.join_ref().is_some_and(|r| parse_ref(r).is_none() || parse_ref(r) != ch.join_ref);
                let (Some(join), false, Payload::Json(payload)) = (ch.join_ref, stale, m.payload()) else {
                    return;
                };
                let join = Decimal::new(join);
                let result = if event == b"presence_state" {
                    ch.presence.handle_state(join.as_str(), payload)
                } else {
                    ch.presence.handle_diff(join.as_str(), payload)
                };
                match result {
                    // A diff queued until the state says nothing yet.
                    Ok(events) if events.is_empty() => {}
                    Ok(events) => self.events.push_back(Event::Presence { channel: id, events }),
                    Err(error) => self.events.push_back(Event::PresenceError { channel: id, error }),
                }
            }
            b"phx_close" | b"phx_error" => {
                // v2 frames name the join in `join_ref`; v1 frames only in `ref` (the server
                // sets it to the join ref), so the lifecycle filter reads either.
                // One that names no join at all is not this join's either.
                let named = m.join_ref().or(m.msg_ref()).and_then(parse_ref);
                if named.is_none() || named != ch.join_ref {
                    return;
                }
                if event == b"phx_close" {
                    self.apply(index, Input::ServerClose, None);
                } else {
                    let payload = json_text(&m.payload());
                    self.apply(index, Input::ServerError, Some(ChannelErrorReason::ServerError(payload)));
                }
            }
            _ => {
                let stale =
                    m.join_ref().is_some_and(|r| parse_ref(r).is_none() || parse_ref(r) != ch.join_ref);
                if stale || ch.state == ChannelState::Closed {
                    return;
                }
                // `system` messages are Realtime's; on a Phoenix channel they are the app's own.
                let realtime = ch.is_realtime();
                if realtime
                    && event == b"system"
                    && let Some(sys) = system(&m.payload())
                    && sys.postgres
                {
                    if sys.ok {
                        // "Subscribed to PostgreSQL": the changes are live.
                        if ch.state == ChannelState::Joined
                            && matches!(ch.ready, ReadyWait::Until(_) | ReadyWait::Late)
                        {
                            ch.ready = ReadyWait::No;
                            self.status(id, ChannelStatus::Subscribed);
                        }
                    } else if sys.error {
                        // The channel stays joined; the server retries the subscription.
                        let reason =
                            ChannelErrorReason::PostgresChanges(ServerReason::system_error(sys.message));
                        self.status(id, ChannelStatus::ChannelError(reason));
                    }
                } else if realtime
                    && event == b"system"
                    && let Some(sys) = system(&m.payload())
                    && sys.error
                {
                    // The channel stops after it (a `phx_close` follows): say why first.
                    let reason = ServerReason::system_error(sys.message);
                    if reason.class == ErrorClass::Token && self.token_source {
                        // The periodic token re-check failed: with a new token, join again.
                        self.token_rejected = true;
                        self.token_waived = false;
                        self.request_token(now, TokenReason::Rejected);
                        if let Some(ch) = self.slots[index as usize].channel.as_mut() {
                            ch.rejoin_on_token = true;
                        }
                    }
                    let reason = ChannelErrorReason::System(reason);
                    self.status(id, ChannelStatus::ChannelError(reason));
                }
                let Some(ch) = self.slots[index as usize].channel.as_mut() else { return };
                let legacy = is_legacy_change(event);
                if (event == b"postgres_changes" || legacy)
                    && !ch.config.bindings().is_empty()
                    && let Payload::Json(payload) = m.payload()
                {
                    let parsed = if legacy {
                        Change::parse_data(payload).map(|c| (None, c))
                    } else {
                        Change::parse(payload).map(|(ids, c)| (Some(ids), c))
                    };
                    match parsed {
                        Ok((ids, change)) => {
                            let bindings = ch.config.bindings().matching(
                                ch.postgres_ids.as_deref(),
                                ids.as_deref(),
                                change.kind.as_str(),
                            );
                            // A change for none of the bindings (another join's, or an event
                            // none listens to) is not the app's.
                            if !bindings.is_empty() {
                                let change = Box::new(change);
                                self.events.push_back(Event::PostgresChange {
                                    channel: id,
                                    bindings,
                                    change,
                                });
                            }
                        }
                        Err(error) => {
                            self.events.push_back(Event::PostgresChangeError { channel: id, error })
                        }
                    }
                    return;
                }
                if event == b"broadcast" && ch.config.replays_automatically() {
                    if let Some(wall) = wall_ms(self.wall_clock, now) {
                        ch.last_seen_ms = Some(wall);
                    }
                    if let Some(id) = m
                        .broadcast()
                        .and_then(|b| b.meta)
                        .and_then(meta_id)
                        .filter(|id| id.len() <= MAX_META_ID)
                    {
                        if ch.seen_ids.iter().any(|seen| **seen == *id) {
                            // A replay of what was delivered already.
                            return;
                        }
                        if ch.seen_ids.len() == MAX_SEEN_IDS {
                            ch.seen_ids.pop_front();
                        }
                        ch.seen_ids.push_back(id.into());
                    }
                }
                self.events.push_back(Event::Message { channel: id, message: m });
            }
        }
    }
}

/// A broadcast's `meta.id`.
pub(super) fn meta_id(meta: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow)]
        id: Cow<'a, str>,
    }
    serde_json::from_str::<Meta<'_>>(meta).ok().map(|m| m.id.into_owned())
}

#[derive(Deserialize)]
pub(super) struct Reply<'a> {
    #[serde(borrow)]
    status: Cow<'a, str>,
    #[serde(borrow, default)]
    response: Option<&'a RawValue>,
}

/// Only a reply's status: is it `ok`?
pub(super) fn reply_status(payload: &Payload<'_>) -> Option<bool> {
    #[derive(Deserialize)]
    struct Status<'a> {
        #[serde(borrow)]
        status: Cow<'a, str>,
    }
    match payload {
        // The payload is valid JSON already; the server writes `status` first, so the common
        // replies are read without a second parse.
        Payload::Json(text) if text.starts_with(r#"{"status":"ok","#) => Some(true),
        Payload::Json(text) if text.starts_with(r#"{"status":"error","#) => Some(false),
        Payload::Json(text) => serde_json::from_str::<Status<'_>>(text).ok().map(|r| r.status == "ok"),
        Payload::BinaryReply { status, .. } => Some(*status == "ok"),
        _ => None,
    }
}

/// A reply's status (`ok` or not) and its response as raw JSON text.
pub(super) fn reply_parts(payload: &Payload<'_>) -> Option<(bool, String)> {
    match payload {
        Payload::Json(text) => {
            let reply: Reply<'_> = serde_json::from_str(text).ok()?;
            let response = reply.response.map_or_else(|| String::from("{}"), |r| r.get().to_string());
            Some((reply.status == "ok", response))
        }
        Payload::BinaryReply { status, response } => {
            Some((*status == "ok", String::from_utf8_lossy(response).into_owned()))
        }
        _ => None,
    }
}

/// A join error response's `reason`, or the response itself when it has none.
pub(super) fn reason_text(response: &str) -> String {
    #[derive(Deserialize)]
    struct Response<'a> {
        #[serde(borrow)]
        reason: Cow<'a, str>,
    }
    serde_json::from_str::<Response<'_>>(response)
        .map_or_else(|_| String::from(response), |r| r.reason.into_owned())
}

/// A `system` message: which extension, whether its status is `ok`, and its message.
pub(super) struct System {
    postgres: bool,
    ok: bool,
    error: bool,
    message: String,
}

/// A `system` payload, read.
pub(super) fn system(payload: &Payload<'_>) -> Option<System> {
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(borrow, default)]
        extension: Option<Cow<'a, str>>,
        #[serde(borrow)]
        status: Cow<'a, str>,
        #[serde(borrow, default)]
        message: Option<Cow<'a, str>>,
    }
    let Payload::Json(text) = payload else { return None };
    let s: Raw<'_> = serde_json::from_str(text).ok()?;
    Some(System {
        postgres: s.extension.as_deref() == Some("postgres_changes"),
        ok: s.status == "ok",
        error: s.status == "error",
        message: s.message.map(Cow::into_owned).unwrap_or_default(),
    })
}

/// A legacy row event (the topic named the subscription; spec C.3 "Legacy API").
pub(super) fn is_legacy_change(event: &[u8]) -> bool {
    [&b"INSERT"[..], b"UPDATE", b"DELETE"].iter().any(|e| e.eq_ignore_ascii_case(event))
}

/// A payload as JSON text for a status reason (binary payloads as a JSON string of their
/// debug form).
pub(super) fn json_text(payload: &Payload<'_>) -> String {
    match payload {
        Payload::Json(text) => String::from(*text),
        other => serde_json::to_string(&alloc::format!("{other:?}")).unwrap_or_default(),
    }
}
