//! The send path: control frames at frame boundaries, data frames copied and masked into the
//! caller's buffer in one pass, a frame continuing across calls.

use super::*;

impl Connection {
    /// Writes pending bytes into `out`: control frames at frame boundaries, and the current
    /// message, whose whole `payload` the caller passes on every call. Returns `len` 0 when
    /// nothing is pending (or `out` is empty).
    #[inline]
    pub fn poll_transmit(&mut self, out: &mut [u8], payload: &[u8]) -> Transmit {
        // Inlined into the caller: the common case costs no call into the general path below.
        match self.transmit_whole(out, payload) {
            Some(t) => t,
            None => self.transmit_general(out, payload),
        }
    }

    #[inline(never)]
    pub(super) fn transmit_general(&mut self, out: &mut [u8], payload: &[u8]) -> Transmit {
        if self.state == State::Closed && self.writing == Writing::Data {
            // Timed out or the transport ended: the rest of the frame has nowhere to go.
            self.writing = Writing::Nothing;
        }
        let mut t = Transmit::default();
        loop {
            if self.writing == Writing::Nothing && !self.next_frame(&mut t.message_done) {
                break;
            }
            if t.len == out.len() {
                break;
            }
            let room = &mut out[t.len..];
            t.len += match self.writing {
                Writing::Data => self.write_data(room, payload, &mut t.message_done),
                Writing::Ping | Writing::Buffered => self.write_control(room),
                Writing::Nothing => 0,
            };
        }
        t
    }

    /// The common case in one step: nothing else pending, a message that fits one frame and
    /// the output. Returns `None` to take the general path.
    #[inline]
    pub(super) fn transmit_whole(&mut self, out: &mut [u8], payload: &[u8]) -> Option<Transmit> {
        let kind = self.tx_msg?;
        let quiet = self.writing == Writing::Nothing
            && self.ctrl == Ctrl::None
            && self.flags & (PING_PENDING | CLOSE_SENT | FAILED) == 0
            && self.close_after == 0
            && self.state == State::Open
            && self.tx_offset == 0;
        let len = self.tx_len;
        if !quiet || len > self.send_frame_len || payload.len() != len as usize {
            return None;
        }
        let header = header_len(u64::from(len));
        if out.len() < header + payload.len() {
            return None;
        }
        let head = out.first_chunk_mut::<MAX_HEADER_LEN>()?;
        let key = self.rng.next_u32().to_ne_bytes();
        encode_header(head, true, opcode_of(kind), u64::from(len), key);
        head[0] |= u8::from(self.has(TX_COMPRESSED)) << 6;
        copy_masked(&mut out[header..header + payload.len()], payload, key, 0);
        self.tx_msg = None;
        Some(Transmit { len: header + payload.len(), message_done: true })
    }

    /// Picks the next frame to write at a frame boundary; false when there is none.
    pub(super) fn next_frame(&mut self, message_done: &mut bool) -> bool {
        if self.close_after != 0 && self.ctrl == Ctrl::None {
            // The pong it waited for is out: the close takes the buffer.
            let code = core::mem::take(&mut self.close_after);
            let r = self.close_after_reason;
            if r & STORED_REASON != 0 {
                let (at, len) = (usize::from(self.ctrl_len), usize::from(r & !STORED_REASON));
                self.ctrl_buf.copy_within(at..at + len, 2);
                self.ctrl_buf[..2].copy_from_slice(&code.to_be_bytes());
                self.ctrl_len = (2 + len) as u8;
                self.ctrl = Ctrl::Close;
            } else {
                self.fill_close(code, STATIC_REASONS.get(usize::from(r)).copied().unwrap_or(""));
            }
        }
        let sending_allowed = matches!(self.state, State::Open | State::Closing) && !self.has(CLOSE_SENT);
        if !sending_allowed {
            if self.tx_msg.take().is_some() {
                *message_done = true;
            }
            return false;
        }
        if self.ctrl != Ctrl::None {
            return self.begin(Writing::Buffered);
        }
        if self.has(PING_PENDING) {
            return self.begin(Writing::Ping);
        }
        if self.has(FAILED) || self.state == State::Closing {
            // No data goes out once a close is on its way.
            if self.tx_msg.take().is_some() {
                *message_done = true;
            }
            return false;
        }
        if self.tx_msg.is_none() {
            return false;
        }
        self.tx_frame_done = 0;
        self.begin(Writing::Data)
    }

    /// Starts writing a frame with a fresh masking key. Keys are drawn only for frames that
    /// go out, so the byte stream does not depend on how often the caller polls.
    pub(super) fn begin(&mut self, frame: Writing) -> bool {
        self.written = 0;
        self.tx_key = self.rng.next_u32().to_ne_bytes();
        self.writing = frame;
        true
    }

    /// Writes as much of the current data frame as fits; returns the bytes written.
    pub(super) fn write_data(&mut self, room: &mut [u8], payload: &[u8], message_done: &mut bool) -> usize {
        let Some(kind) = self.tx_msg else {
            self.writing = Writing::Nothing;
            return 0;
        };
        let frame_len = self.tx_frame_len();
        let fin = self.tx_offset + frame_len == self.tx_len;
        let mut n = 0;
        if self.tx_frame_done == 0 {
            let header_len = header_len(u64::from(frame_len));
            let from = usize::from(self.written);
            if from < header_len {
                let opcode = if self.tx_offset == 0 { opcode_of(kind) } else { Opcode::Continuation };
                // RSV1 marks a compressed message's first frame only (RFC 7692 section 6.1).
                let rsv1 = u8::from(self.has(TX_COMPRESSED) && self.tx_offset == 0) << 6;
                let direct = if from == 0 { room.first_chunk_mut::<MAX_HEADER_LEN>() } else { None };
                if let Some(out) = direct {
                    // The common case: the whole header straight into the output (a fixed-size
                    // write; payload bytes overwrite what lies past the header).
                    encode_header(out, fin, opcode, u64::from(frame_len), self.tx_key);
                    out[0] |= rsv1;
                    n = header_len;
                } else {
                    let mut header = [0u8; MAX_HEADER_LEN];
                    encode_header(&mut header, fin, opcode, u64::from(frame_len), self.tx_key);
                    header[0] |= rsv1;
                    n = (header_len - from).min(room.len());
                    room[..n].copy_from_slice(&header[from..from + n]);
                }
                self.written += n as u8;
                if usize::from(self.written) < header_len {
                    return n;
                }
            }
        }
        let start = (self.tx_offset + self.tx_frame_done) as usize;
        let take = ((frame_len - self.tx_frame_done) as usize).min(room.len() - n);
        let dst = &mut room[n..n + take];
        match payload.get(start..start + take) {
            Some(src) => copy_masked(dst, src, self.tx_key, self.tx_frame_done as usize),
            None => {
                // A caller that passes another payload than it started with breaks the
                // contract; the frame stays well-formed (masked zeros) rather than panicking.
                dst.fill(0);
                apply_mask(dst, self.tx_key, self.tx_frame_done as usize);
            }
        }
        self.tx_frame_done += take as u32;
        n += take;
        if self.tx_frame_done == frame_len {
            self.tx_offset += frame_len;
            self.tx_frame_done = 0;
            self.writing = Writing::Nothing;
            if fin {
                self.tx_msg = None;
                *message_done = true;
            }
        }
        n
    }

    /// Writes as much of the current control frame as fits; returns the bytes written.
    pub(super) fn write_control(&mut self, room: &mut [u8]) -> usize {
        let mut frame = [0u8; 6 + MAX_CONTROL_PAYLOAD];
        let ping = self.ping_seq.to_be_bytes();
        let (opcode, payload): (Opcode, &[u8]) = match (self.writing, self.ctrl) {
            (Writing::Ping, _) => (Opcode::Ping, &ping),
            (_, Ctrl::Pong) => (Opcode::Pong, &self.ctrl_buf[..usize::from(self.ctrl_len)]),
            _ => (Opcode::Close, &self.ctrl_buf[..usize::from(self.ctrl_len)]),
        };
        frame[0] = 0x80 | opcode.as_u8();
        frame[1] = 0x80 | payload.len() as u8;
        frame[2..6].copy_from_slice(&self.tx_key);
        let total = 6 + payload.len();
        copy_masked(&mut frame[6..total], payload, self.tx_key, 0);
        let from = usize::from(self.written);
        let n = (total - from).min(room.len());
        room[..n].copy_from_slice(&frame[from..from + n]);
        self.written += n as u8;
        if usize::from(self.written) == total {
            self.writing = Writing::Nothing;
            match opcode {
                Opcode::Ping => self.set(PING_PENDING, false),
                Opcode::Pong => self.ctrl = Ctrl::None,
                _ => {
                    self.ctrl = Ctrl::None;
                    self.set(CLOSE_SENT, true);
                    if self.has(FAILED) {
                        // Failing the connection ends it once the close frame is out
                        // (RFC 6455 section 7.1.7).
                        self.state = State::Closed;
                    }
                }
            }
        }
        n
    }

    /// Puts a close frame in the control buffer. A pong still owed goes out first (RFC 6455
    /// section 5.5.2 asks for it unless a close was received): the close then waits, its
    /// reason kept after the pong's payload when it fits, else left out (the code is sent).
    pub(super) fn queue_close(&mut self, code: u16, reason: &str) {
        let half_written = self.writing == Writing::Buffered && self.written > 0;
        if self.ctrl == Ctrl::Close && half_written {
            // A close is already going out; it stands.
            return;
        }
        // Only a failure reaches here with a close already queued (`close` and the echo are
        // guarded): its code replaces the queued one, which has not started.
        if self.ctrl == Ctrl::Pong {
            self.close_after = code;
            let at = usize::from(self.ctrl_len);
            self.close_after_reason = match STATIC_REASONS.iter().position(|r| *r == reason) {
                Some(i) => i as u8,
                None if at + reason.len() <= MAX_CONTROL_PAYLOAD => {
                    self.ctrl_buf[at..at + reason.len()].copy_from_slice(reason.as_bytes());
                    STORED_REASON | reason.len() as u8
                }
                None => 0,
            };
        } else {
            self.close_after = 0;
            self.fill_close(code, reason);
        }
        // A pending ping is moot once closing.
        let keep = self.has(PING_PENDING) && self.writing == Writing::Ping;
        self.set(PING_PENDING, keep);
    }

    pub(super) fn fill_close(&mut self, code: u16, reason: &str) {
        self.ctrl = Ctrl::Close;
        if code == EMPTY_CLOSE {
            self.ctrl_len = 0;
            return;
        }
        self.ctrl_buf[..2].copy_from_slice(&code.to_be_bytes());
        let r = &reason.as_bytes()[..reason.len().min(MAX_CLOSE_REASON)];
        self.ctrl_buf[2..2 + r.len()].copy_from_slice(r);
        self.ctrl_len = (2 + r.len()) as u8;
    }
}
