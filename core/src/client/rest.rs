//! The REST broadcast endpoint: the opt-in fallback for channels that cannot push, and single
//! REST broadcasts, as sans-IO requests the runtime carries out.

use super::*;

impl Client {
    /// The REST fallback: the broadcast as a request for the runtime.
    pub(super) fn broadcast_over_rest(
        &mut self,
        now: Instant,
        id: ChannelId,
        body: PushBody,
    ) -> Result<PushId, PushError> {
        let ch = self.get(id).ok_or(PushError::UnknownChannel)?;
        check_body(self.vsn, &ch.topic, &body)?;
        let name = ch.topic.strip_prefix(TOPIC_PREFIX).unwrap_or(&ch.topic);
        let private = ch.config.is_private();
        let request = match &body {
            PushBody::Json { payload, .. } => {
                // The socket form `{type, event, payload}`: the REST endpoint takes the event in
                // the path and the user payload as the body.
                #[derive(Deserialize)]
                struct Socket<'a> {
                    #[serde(borrow)]
                    event: Cow<'a, str>,
                    #[serde(borrow)]
                    payload: &'a RawValue,
                }
                let s: Socket<'_> = serde_json::from_str(payload).map_err(|_| PushError::InvalidJson)?;
                self.rest_broadcast(now, name, &s.event, private, RestBody::Json(s.payload.get()))
            }
            PushBody::UserBroadcast { event, data, .. } => {
                let body = match data {
                    BroadcastData::Json(j) => RestBody::Json(j),
                    BroadcastData::Binary(b) => RestBody::Binary(b),
                };
                self.rest_broadcast(now, name, event, private, body)
            }
        }
        .map_err(|e| match e {
            RestError::InvalidHeader => PushError::InvalidHeader,
            _ => PushError::InvalidJson,
        })?;
        if self.rest_out.len() + self.rest_pending.len() >= self.push_buffer {
            return Err(PushError::BufferFull);
        }
        self.last_push += 1;
        let push = PushId(self.last_push);
        // The request's own timeout, and as long again for a runtime that never reports.
        let deadline = now + self.timeout + self.timeout;
        self.rest_out.push_back((id, push, request, deadline));
        Ok(push)
    }

    /// One REST broadcast of `event` to channel `name` (without `realtime:`), for the runtime
    /// to carry out: `POST /api/broadcast/{name}/events/{event}` on this client's host, with
    /// its API key and its push timeout. The access token goes as `Authorization: Bearer` only
    /// where a join would carry it: never an `sb_` API key, never a JWT expired by the wall
    /// clock at `now`.
    ///
    /// # Errors
    ///
    /// [`RestError::InvalidJson`] for a JSON body that is not JSON, [`RestError::InvalidHeader`]
    /// for credentials with control characters, [`RestError::NotRealtime`] on a client of a
    /// plain Phoenix server.
    pub fn rest_broadcast(
        &self,
        now: Instant,
        name: &str,
        event: &str,
        private: bool,
        body: RestBody<'_>,
    ) -> Result<RestRequest, RestError> {
        if self.server == ServerKind::Phoenix {
            return Err(RestError::NotRealtime);
        }
        let token = wire_token(self.access_token.as_ref(), self.wall_clock, now);
        let auth = Auth { api_key: self.api_key.expose(), access_token: token };
        RestRequest::single(&self.url, auth, name, event, private, body, now, self.timeout)
    }

    /// The next broadcast to send over REST (the opt-in fallback): connect to its host and
    /// port (TLS when it says so), drive it, and report its result with `handle_rest_result`.
    ///
    /// A push whose result does not come within twice the push timeout ends `TimedOut`, and a
    /// late result is ignored.
    pub fn poll_rest(&mut self) -> Option<(PushId, RestRequest)> {
        let (channel, push, request, deadline) = self.rest_out.pop_front()?;
        self.rest_pending.push((channel, push, deadline));
        Some((push, request))
    }

    /// The result of a REST broadcast from `poll_rest`; it ends the push.
    pub fn handle_rest_result(&mut self, push: PushId, result: &Result<(), RestError>) {
        let Some(pos) = self.rest_pending.iter().position(|(_, p, _)| *p == push) else { return };
        let (channel, push, _) = self.rest_pending.swap_remove(pos);
        let outcome = match result {
            Ok(()) => PushOutcome::Ok(String::from("{}")),
            Err(RestError::Timeout) => PushOutcome::TimedOut,
            Err(e) => PushOutcome::Error(serde_json::to_string(&alloc::format!("{e}")).unwrap_or_default()),
        };
        end_push(&mut self.events, channel, push, outcome);
    }
}
