//! A fake Realtime server for the simulation: the server side of the WebSocket handshake and
//! framing, and enough of the Phoenix protocol for the cases the tests drive. It parses client
//! frames with serde_json, not with the core's serializer, and checks protocol invariants as it
//! goes (every ref unique, nothing pushed to a topic that is not joined).

use std::collections::HashMap;

use realtime_core::fuzzing::sim::{ClientWire, Written};
use realtime_core::ws::handshake::accept_for_key;
use serde_json::{Value, json};

/// How the server answers joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinMode {
    Ok,
    /// A transient refusal (the client retries on its schedule).
    Error,
    /// A refusal with this reason.
    ErrorWith(&'static str),
    Silent,
}

/// Knobs of the fake server.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Behaviour {
    pub(crate) join: JoinMode,
    pub(crate) heartbeat_replies: bool,
    pub(crate) push_replies: bool,
    /// Reply to pushes with this error reason instead of `ok`.
    pub(crate) push_error: Option<&'static str>,
    /// Answer the upgrade with this status instead of 101.
    pub(crate) reject_upgrade: Option<u16>,
    pub(crate) v1: bool,
    /// Echo the join's postgres changes bindings with another filter (a server that paired
    /// them differently).
    pub(crate) pg_mismatch: bool,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            join: JoinMode::Ok,
            heartbeat_replies: true,
            push_replies: true,
            push_error: None,
            reject_upgrade: None,
            v1: false,
            pg_mismatch: false,
        }
    }
}

/// A message the client sent, parsed as the shared invariant checks parse it.
pub(crate) use realtime_core::fuzzing::sim::Sent as Frame;

/// One connection's server side.
pub(crate) struct Server {
    pub(crate) behaviour: Behaviour,
    /// The client's bytes, read by the shared wire reader (which also checks the masking and
    /// fragmentation rules).
    wire: ClientWire,
    /// Bytes to the client.
    pub(crate) out: Vec<u8>,
    /// The current join ref of each joined topic.
    pub(crate) joined: HashMap<String, String>,
    /// Join refs the server closed on its own (`phx_close`/`phx_error`): pushes the client sent
    /// before it heard of that are a race, not a client bug, and Phoenix answers them as
    /// unmatched.
    pub(crate) closed: Vec<String>,
    /// Every frame received, in order.
    pub(crate) frames: Vec<Frame>,
    /// Invariant violations seen.
    pub(crate) violations: Vec<String>,
    /// The client sent a close frame: its code and reason.
    pub(crate) got_close: Option<(u16, String)>,
    sent_close: bool,
    /// The ids the server gave each topic's postgres changes bindings at its last join.
    pub(crate) pg_ids: HashMap<String, Vec<u64>>,
    /// The close handshake is done: the server ends TCP after its last bytes.
    pub(crate) tcp_done: bool,
}

impl Server {
    pub(crate) fn new(behaviour: Behaviour) -> Self {
        Self {
            behaviour,
            wire: ClientWire::new(),
            out: Vec::new(),
            joined: HashMap::new(),
            closed: Vec::new(),
            frames: Vec::new(),
            violations: Vec::new(),
            got_close: None,
            sent_close: false,
            pg_ids: HashMap::new(),
            tcp_done: false,
        }
    }

    /// Bytes from the client.
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        let written = match self.wire.feed(bytes) {
            Ok(w) => w,
            Err(e) => {
                self.violations.push(e);
                return;
            }
        };
        for w in written {
            let (opcode, payload) = match w {
                Written::Request { key } => {
                    self.upgrade(&key);
                    continue;
                }
                Written::Frame { opcode, payload } => (opcode, payload),
            };
            match opcode {
                1 => {
                    let text = String::from_utf8(payload).expect("client text is utf-8");
                    self.handle_frame(self.parse_text(&text), false);
                }
                2 => {
                    let frame = parse_kind3(&payload);
                    self.handle_frame(frame, true);
                }
                8 => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    let reason =
                        payload.get(2..).map(|r| String::from_utf8(r.to_vec()).expect("utf-8 reason"));
                    self.got_close = Some((code.unwrap_or(1005), reason.unwrap_or_default()));
                    if !self.sent_close {
                        self.out.extend(server_frame(8, &payload));
                    }
                    // Like cowboy, the server ends TCP once both close frames have passed.
                    self.tcp_done = true;
                }
                9 => self.out.extend(server_frame(10, &payload)),
                _ => {}
            }
        }
    }

    /// Answers the upgrade request with `key`.
    fn upgrade(&mut self, key: &str) {
        if let Some(status) = self.behaviour.reject_upgrade {
            let body = "{\"message\":\"refused\"}";
            self.out.extend_from_slice(
                format!("HTTP/1.1 {status} Refused\r\nContent-Length: {}\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
            return;
        }
        let accept = accept_for_key(key.as_bytes());
        let accept = std::str::from_utf8(&accept).expect("ascii");
        self.out.extend_from_slice(
            format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            )
            .as_bytes(),
        );
    }

    fn parse_text(&self, text: &str) -> Frame {
        Frame::text(text, self.behaviour.v1).expect("the client sends well-formed messages")
    }

    fn handle_frame(&mut self, f: Frame, binary: bool) {
        if self.got_close.is_some() {
            self.violations.push(format!("a frame after the client's close: {f:?}"));
        }
        let f = Frame { binary, ..f };
        self.frames.push(f.clone());
        let r = f.msg_ref.clone();
        match (f.topic.as_str(), f.event.as_str()) {
            ("phoenix", "heartbeat") => {
                if self.behaviour.heartbeat_replies {
                    self.reply(None, r.as_deref(), "phoenix", "ok", json!({}));
                }
            }
            (_, "phx_join") => {
                if f.join_ref != f.msg_ref {
                    self.violations.push(format!("join with join_ref != ref: {f:?}"));
                }
                match self.behaviour.join {
                    JoinMode::Ok => {
                        if let Some(old) = self.joined.get(&f.topic).cloned() {
                            // Phoenix's duplicate join: the old channel closes.
                            self.send(Some(&old), Some(&old), &f.topic, "phx_close", json!({}));
                        }
                        self.joined.insert(f.topic.clone(), r.clone().unwrap_or_default());
                        let echo = self.echo_bindings(&f.payload);
                        let ids = echo.iter().filter_map(|b| b["id"].as_u64()).collect();
                        self.pg_ids.insert(f.topic.clone(), ids);
                        self.reply(r.as_deref(), r.as_deref(), &f.topic, "ok", json!({"postgres_changes": echo}));
                    }
                    JoinMode::Error => self.reply(
                        r.as_deref(),
                        r.as_deref(),
                        &f.topic,
                        "error",
                        json!({"reason": "IncreaseConnectionPool: Please increase your connection pool size"}),
                    ),
                    JoinMode::ErrorWith(reason) => {
                        self.reply(r.as_deref(), r.as_deref(), &f.topic, "error", json!({"reason": reason}))
                    }
                    JoinMode::Silent => {}
                }
            }
            (_, "phx_leave") => {
                let current = self.joined.get(&f.topic).cloned();
                if current.is_some() && current == f.join_ref {
                    self.joined.remove(&f.topic);
                    self.reply(f.join_ref.as_deref(), r.as_deref(), &f.topic, "ok", json!({}));
                    self.send(f.join_ref.as_deref(), f.join_ref.as_deref(), &f.topic, "phx_close", json!({}));
                }
            }
            _ => {
                let current = self.joined.get(&f.topic);
                if current.is_none() || current != f.join_ref.as_ref() {
                    if f.join_ref.as_ref().is_some_and(|j| self.closed.contains(j)) {
                        self.reply(
                            f.join_ref.as_deref(),
                            r.as_deref(),
                            &f.topic,
                            "error",
                            json!({"reason": "unmatched topic"}),
                        );
                    } else {
                        self.violations.push(format!("push to a topic not joined with this join_ref: {f:?}"));
                    }
                    return;
                }
                if let Some(reason) = self.behaviour.push_error {
                    self.reply(
                        f.join_ref.as_deref(),
                        r.as_deref(),
                        &f.topic,
                        "error",
                        json!({"reason": reason}),
                    );
                } else if self.behaviour.push_replies {
                    self.reply(f.join_ref.as_deref(), r.as_deref(), &f.topic, "ok", json!({"echo": f.event}));
                }
            }
        }
    }

    /// The join's postgres changes bindings as the server echoes them: each with its id, a hash
    /// of its params (the real server's `phash2`: equal params, equal id).
    fn echo_bindings(&self, join: &Value) -> Vec<Value> {
        let list = join["config"]["postgres_changes"].as_array().cloned().unwrap_or_default();
        list.into_iter()
            .map(|mut b| {
                b["id"] = json!(binding_id(&b));
                if self.behaviour.pg_mismatch {
                    b["filter"] = json!("id=eq.0");
                }
                b
            })
            .collect()
    }

    /// Sends a server push whose payload is raw JSON text, as written (numbers a `Value` would
    /// round stay exact).
    pub(crate) fn send_raw(&mut self, topic: &str, event: &str, payload: &str) {
        let text = format!("[null,null,{},{},{payload}]", json!(topic), json!(event));
        self.out.extend(server_frame(1, text.as_bytes()));
    }

    /// Sends a message to the client.
    pub(crate) fn send(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        event: &str,
        payload: Value,
    ) {
        let text = if self.behaviour.v1 {
            json!({"topic": topic, "event": event, "payload": payload, "ref": msg_ref}).to_string()
        } else {
            json!([join_ref, msg_ref, topic, event, payload]).to_string()
        };
        self.out.extend(server_frame(1, text.as_bytes()));
    }

    fn reply(
        &mut self,
        join_ref: Option<&str>,
        msg_ref: Option<&str>,
        topic: &str,
        status: &str,
        response: Value,
    ) {
        self.send(join_ref, msg_ref, topic, "phx_reply", json!({"status": status, "response": response}));
    }

    /// Closes a joined topic on the server's own initiative (a crash, a shutdown).
    pub(crate) fn close_channel(&mut self, topic: &str, event: &str) {
        if let Some(jr) = self.joined.remove(topic) {
            self.send(Some(&jr), Some(&jr), topic, event, json!({}));
            self.closed.push(jr);
        }
    }

    /// The server's periodic token re-check failing on the join `join_ref` of `topic`: a
    /// `system` error, then `phx_close`, and the channel gone.
    pub(crate) fn token_recheck_fails(&mut self, topic: &str, join_ref: &str) {
        let error =
            json!({"extension": "system", "status": "error", "message": "Token has expired 1 seconds ago"});
        self.send(Some(join_ref), None, topic, "system", error);
        self.send(Some(join_ref), Some(join_ref), topic, "phx_close", json!({}));
        self.joined.remove(topic);
    }

    /// Sends a close frame.
    pub(crate) fn close(&mut self, code: u16, reason: &str) {
        let mut p = code.to_be_bytes().to_vec();
        p.extend_from_slice(reason.as_bytes());
        self.out.extend(server_frame(8, &p));
        self.sent_close = true;
    }
}

/// An unmasked server frame.
/// The id the fake server gives a binding (FNV-1a of its JSON text, 27 bits like `phash2`).
pub(crate) fn binding_id(params: &Value) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in params.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    h & ((1 << 27) - 1)
}

pub(crate) fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

/// A kind-3 frame as a `Frame` whose payload is `{"event", "meta", "data"}`.
pub(crate) fn parse_kind3(b: &[u8]) -> Frame {
    Frame::binary(b).expect("the client sends well-formed kind-3 frames")
}
