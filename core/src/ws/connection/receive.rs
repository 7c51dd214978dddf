//! The receive path: the handshake response, frames, the message rules of RFC 6455 section 5.4
//! and control frames.

use super::*;

impl Connection {
    pub(super) fn read_handshake<'a>(&mut self, now: Instant, input: &'a [u8]) -> Read<'a> {
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&self.ctrl_buf[..16]);
        let mut limit = [0u8; 4];
        limit.copy_from_slice(&self.ctrl_buf[RESPONSE_LIMIT_AT..RESPONSE_LIMIT_AT + 4]);
        let max = usize::try_from(u32::from_le_bytes(limit)).unwrap_or(usize::MAX);
        let offer = self.deflate_offer();
        match handshake::parse_response(input, &nonce, self.protocols, offer.as_ref(), max) {
            Ok(Response::Partial) => Read { consumed: 0, event: None },
            Ok(Response::Accepted { consumed, protocol, deflate }) => {
                self.state = State::Open;
                if deflate.is_some() {
                    self.deflate_on();
                }
                Read { consumed, event: Some(Event::Open { protocol, deflate }) }
            }
            Ok(Response::Rejected { consumed, status, body }) => {
                self.state = State::Closed;
                Read { consumed, event: Some(Event::Rejected(Rejection { status, body })) }
            }
            Err(e) => {
                let event = self.fail(now, Error::Handshake(e));
                Read { consumed: input.len(), event: Some(event) }
            }
        }
    }

    /// A whole unfragmented text or binary frame with a 2- or 4-byte header at the start of
    /// `input`, within the limits and (text) valid: what most Realtime messages are. Anything
    /// else, including every error, takes the general path.
    #[inline]
    pub(super) fn whole_frame<'a>(&self, input: &'a [u8]) -> Option<Read<'a>> {
        if !self.decoder.at_boundary() || self.rx_msg.is_some() {
            return None;
        }
        let (&[b0, b1], rest) = input.split_first_chunk::<2>()?;
        let kind = match b0 {
            0x81 => MessageKind::Text,
            0x82 => MessageKind::Binary,
            _ => return None,
        };
        let (len, header) = match b1 {
            0..=125 => (usize::from(b1), 2),
            126 => {
                let len = usize::from(u16::from_be_bytes(*rest.first_chunk::<2>()?));
                if len < 126 {
                    return None;
                }
                (len, 4)
            }
            _ => return None,
        };
        let limit = self.max_frame_len.min(self.max_message_len);
        if len as u64 > u64::from(limit) {
            return None;
        }
        let payload = input.get(header..header + len)?;
        if kind == MessageKind::Text && Utf8Validator::validate_whole(payload).is_err() {
            return None;
        }
        let data =
            Data { kind, payload, fin: true, frame_remaining: 0, final_frame: true, compressed: false };
        Some(Read { consumed: header + len, event: Some(Event::Data(data)) })
    }

    pub(super) fn read_frames<'a>(&mut self, now: Instant, input: &'a [u8]) -> Read<'a> {
        if let Some(read) = self.whole_frame(input) {
            return read;
        }
        let mut used = 0;
        loop {
            if let RxFrame::Control(op) = self.rx_frame
                && !self.decoder.at_boundary()
            {
                // Control payloads are handled whole (at most 125 bytes): the caller keeps
                // a split one until the rest arrives.
                let need = self.decoder.remaining() as usize;
                if input.len() - used < need {
                    return Read { consumed: used, event: None };
                }
                // Every ping gets its pong (conformance suites send ten in one write), and the
                // control buffer holds one: a ping waits while a pong is pending, a close while
                // one is half written. Reading stops until `poll_transmit` has sent it
                // (backpressure, as when the transport is backed up).
                let half_written = self.writing == Writing::Buffered && self.written > 0;
                let wait = match op {
                    Opcode::Ping => self.ctrl == Ctrl::Pong,
                    Opcode::Close => half_written,
                    _ => false,
                };
                if wait {
                    return Read { consumed: used, event: None };
                }
            }
            let (n, decoded) = match self.decoder.decode(&input[used..]) {
                Ok(d) => d,
                Err(e) => {
                    return Read { consumed: input.len(), event: Some(self.fail(now, Error::Protocol(e))) };
                }
            };
            used += n;
            match decoded {
                Decoded::Incomplete => return Read { consumed: used, event: None },
                Decoded::Header(h) => {
                    if let Err(e) = self.on_header(h.fin, h.opcode, h.len, h.rsv1) {
                        return Read { consumed: input.len(), event: Some(self.fail(now, e)) };
                    }
                }
                Decoded::Payload { data, end } => {
                    let event = match self.rx_frame {
                        RxFrame::Data => self.on_data(data, end),
                        RxFrame::Control(op) => self.on_control(now, op, data),
                    };
                    match event {
                        Ok(None) => {}
                        Ok(Some(event)) => return Read { consumed: used, event: Some(event) },
                        Err(e) => return Read { consumed: input.len(), event: Some(self.fail(now, e)) },
                    }
                }
            }
        }
    }

    /// Applies the message rules of section 5.4 and the limits to a new frame header.
    pub(super) fn on_header(&mut self, fin: bool, opcode: Opcode, len: u64, rsv1: bool) -> Result<(), Error> {
        if opcode.is_control() {
            self.rx_frame = RxFrame::Control(opcode);
            return Ok(());
        }
        self.rx_frame = RxFrame::Data;
        self.rx_fin = fin;
        // A compressed message is held to the limits as it inflates; its compressed bytes may
        // be a little longer than what they inflate to (incompressible data in stored
        // blocks), so they get that slack here.
        let compressed = rsv1 || (opcode == Opcode::Continuation && self.has(RX_COMPRESSED));
        let max_frame =
            if compressed { compressed_bound(self.max_frame_len) } else { u64::from(self.max_frame_len) };
        if len > max_frame {
            return Err(Error::FrameTooLong { len, max: max_frame });
        }
        match (opcode, self.rx_msg) {
            (Opcode::Continuation, None) => {
                return Err(Error::Protocol(ProtocolError::UnexpectedContinuation));
            }
            (Opcode::Continuation, Some(_)) => {}
            (_, Some(_)) => return Err(Error::Protocol(ProtocolError::ExpectedContinuation)),
            (op, None) => {
                self.rx_msg = Some(if op == Opcode::Text { MessageKind::Text } else { MessageKind::Binary });
                self.rx_msg_len = 0;
                // The decoder let RSV1 through only on a first frame, with deflate agreed.
                self.set(RX_COMPRESSED, rsv1);
            }
        }
        let total = u64::from(self.rx_msg_len) + len;
        let max_message =
            if compressed { compressed_bound(self.max_message_len) } else { u64::from(self.max_message_len) };
        if total > max_message {
            return Err(Error::MessageTooLong { len: total, max: max_message });
        }
        // Invariant: total <= the bound, which fits a u32 (`compressed_bound` saturates).
        self.rx_msg_len = total as u32;
        Ok(())
    }

    pub(super) fn on_data<'a>(&mut self, data: &'a [u8], end: bool) -> Result<Option<Event<'a>>, Error> {
        // Invariant: on_header opened a message before any data payload.
        let kind = self.rx_msg.unwrap_or(MessageKind::Binary);
        let fin = end && self.rx_fin;
        // Compressed text is checked once inflated, by the layer that inflates it.
        if kind == MessageKind::Text && !self.has(RX_COMPRESSED) {
            self.utf8.feed(data).map_err(|_| Error::InvalidUtf8)?;
            if fin {
                self.utf8.finish().map_err(|_| Error::InvalidUtf8)?;
            }
        }
        if fin {
            self.rx_msg = None;
        } else if data.is_empty() {
            return Ok(None);
        }
        let frame_remaining = self.decoder.remaining();
        let compressed = self.has(RX_COMPRESSED);
        Ok(Some(Event::Data(Data {
            kind,
            payload: data,
            fin,
            frame_remaining,
            final_frame: self.rx_fin,
            compressed,
        })))
    }

    pub(super) fn on_control<'a>(
        &mut self,
        now: Instant,
        op: Opcode,
        payload: &'a [u8],
    ) -> Result<Option<Event<'a>>, Error> {
        self.rx_frame = RxFrame::Data;
        match op {
            Opcode::Ping => {
                if !self.has(CLOSE_SENT) && self.ctrl != Ctrl::Close && self.close_after == 0 {
                    // read_frames made sure no pong is pending.
                    self.ctrl_buf[..payload.len()].copy_from_slice(payload);
                    self.ctrl_len = payload.len() as u8;
                    self.ctrl = Ctrl::Pong;
                }
                Ok(Some(Event::Ping(payload)))
            }
            Opcode::Pong => {
                let matches = self.has(PING_OUTSTANDING) && payload == self.ping_seq.to_be_bytes();
                let rtt = matches.then(|| now - self.timer);
                if matches {
                    self.set(PING_OUTSTANDING, false);
                }
                Ok(Some(Event::Pong { rtt }))
            }
            _ => {
                let frame = parse_close(payload)?;
                self.set(CLOSE_RECEIVED, true);
                if !self.has(CLOSE_SENT) && self.ctrl != Ctrl::Close {
                    // Echo the code (section 5.5.1); an empty close gets an empty reply.
                    self.queue_close(frame.code.map_or(EMPTY_CLOSE, |c| c.0), "");
                }
                self.enter_closing(now);
                self.rx_msg = None;
                Ok(Some(Event::Close(frame)))
            }
        }
    }
}

/// The most compressed bytes a message of `n` bytes takes: DEFLATE's stored blocks add 5 bytes
/// per 64 KiB, a sync flush 5 more; 1/1024 and 64 bytes cover both. Saturates at `u32::MAX`.
fn compressed_bound(n: u32) -> u64 {
    (u64::from(n) + u64::from(n) / 1024 + 64).min(u64::from(u32::MAX))
}

/// Validates a close frame's payload (section 5.5.1 and 7.4).
fn parse_close(payload: &[u8]) -> Result<CloseFrame<'_>, Error> {
    match payload {
        [] => Ok(CloseFrame { code: None, reason: "" }),
        [_] => Err(Error::Protocol(ProtocolError::CloseFrameTooShort)),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(Error::Protocol(ProtocolError::InvalidCloseCode(code.0)));
            }
            let reason = simdutf8::basic::from_utf8(reason).map_err(|_| Error::InvalidUtf8)?;
            Ok(CloseFrame { code: Some(code), reason })
        }
    }
}
