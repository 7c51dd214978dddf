//! The floor of the receive benchmark: a bare tokio TCP reader of the same byte stream from the
//! same server, which throws the bytes away.
//!
//! It is not a competitor: it costs what any receiver on tokio must pay for the bytes to
//! arrive (the wake-ups, the `read` syscalls, the copy out of the kernel) and as little else
//! as a correct WebSocket client can do. It opens the socket by hand (a plain `TcpStream` with
//! `TCP_NODELAY`, as ours sets; a minimal `GET` upgrade with a `Sec-WebSocket-Key`, accepting
//! any `101` head without checking `Sec-WebSocket-Accept`), joins `realtime:<topic>` with a
//! hand-written vsn 2.0.0 `phx_join` text frame (masked, as a client must) carrying the config
//! ours sends for `ChannelConfig::new()`, waits for the join's ok (the only JSON parse), prints
//! `ready`, then reads into one 64 KiB buffer. Of the bytes it walks only the WebSocket frame
//! headers, counting the binary data messages (the kind-4 broadcasts), so that it knows when
//! `expected` have arrived; at each it stamps wall clock and CPU time with the same [`Meter`]
//! as the other receivers, and reads the latency from the payload without a JSON parse: the
//! kind-4 header gives the offset of the data, whose first fields are always
//! `{"seq":<digits>,"sent_us":<digits>` ([`tick_json`](realtime_cli::load::tick_json)), so the
//! digits after `,"sent_us":` are read in place (a payload that does not start so counts as
//! bad). Text frames (replies) are skipped, pings get their pong, a close ends the run.
//!
//! Every 25 s it sends a `phoenix` heartbeat (the server may close a socket that sends nothing
//! for 60 s); a run of 10 s sends none.

use realtime_core::Rng;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::MissedTickBehavior;

use realtime_cli::load::{Meter, RecvReport, Waits, unix_micros};

/// The read buffer: one read takes everything the kernel holds at 20,000 messages/s.
const BUF: usize = 64 * 1024;
/// Bytes of a binary message's first frame that must be buffered before it is counted: enough
/// for the largest kind-4 header (5 bytes and three fields of at most 255) and the payload's
/// first two fields.
const PEEK: usize = 1024;
/// The heartbeat period (realtime-js's and ours).
const HEARTBEAT: Duration = Duration::from_secs(25);

const OP_CONT: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// The `phx_join` payload ours sends for `ChannelConfig::new()` and no access token (the core's
/// `ChannelConfig::join_payload`; only `version` differs).
const JOIN_PAYLOAD: &str = concat!(
    r#"{"config":{"broadcast":{"ack":false,"self":false},"presence":{"key":"","enabled":false},"#,
    r#""postgres_changes":[],"private":false},"version":"realtime-benches-floor"}"#
);

fn err(e: impl std::fmt::Display) -> String {
    format!("floor: {e}")
}

/// As [`recv_ours`](super::recv_ours), with the floor: the bytes are read and dropped, only the
/// frame headers and each broadcast's `sent_us` are looked at.
pub async fn recv_floor(
    url: &str,
    topic: &str,
    expected: u64,
    waits: Waits,
    ready: impl FnOnce(),
) -> Result<RecvReport, String> {
    let (authority, base) = split_url(url)?;
    let mut stream = TcpStream::connect(authority).await.map_err(err)?;
    stream.set_nodelay(true).map_err(err)?;
    let mut r = Frames::new(unix_micros());
    upgrade(&mut stream, &mut r, authority, &format!("{base}/websocket?apikey=bench&vsn=2.0.0")).await?;
    let join = format!(r#"["1","1","realtime:{topic}","phx_join",{JOIN_PAYLOAD}]"#);
    stream.write_all(&client_frame(OP_TEXT, join.as_bytes(), &mut r.rng)).await.map_err(err)?;
    wait_join(&mut stream, &mut r).await?;
    ready();

    let mut meter = Meter::new(expected);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut quiet = (0u64, Instant::now());
    let mut next_heartbeat = Instant::now() + HEARTBEAT;
    let mut heartbeat_ref = 1u64;
    // Until `expected` are in or the server closes.
    while let Step::More = r.walk(&mut meter)? {
        if !r.out.is_empty() {
            stream.write_all(&r.out).await.map_err(err)?;
            r.out.clear();
        }
        let end = r.end;
        tokio::select! {
            biased;
            n = stream.read(&mut r.buf[end..]) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => r.end += n,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                if r.messages != quiet.0 {
                    quiet = (r.messages, now);
                } else if now - quiet.1 >= waits.next(&meter) {
                    break;
                }
                if now >= next_heartbeat {
                    heartbeat_ref += 1;
                    let hb = format!(r#"[null,"{heartbeat_ref}","phoenix","heartbeat",{{}}]"#);
                    stream.write_all(&client_frame(OP_TEXT, hb.as_bytes(), &mut r.rng)).await.map_err(err)?;
                    next_heartbeat += HEARTBEAT;
                }
            }
        }
    }
    Ok(meter.finish("floor"))
}

/// `ws://host:port/path` as (`host:port`, `/path` without a trailing slash). `wss` is not
/// supported: the receive benchmark runs without TLS.
fn split_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.strip_prefix("ws://").ok_or_else(|| err(format!("only ws:// URLs: {url}")))?;
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    Ok((authority, path.trim_end_matches('/')))
}

/// Sends the upgrade request and reads the response head; bytes after it stay in `r`.
async fn upgrade(stream: &mut TcpStream, r: &mut Frames, host: &str, path: &str) -> Result<(), String> {
    let mut key = [0u8; 16];
    r.rng.fill_bytes(&mut key);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
        base64(&key)
    );
    stream.write_all(request.as_bytes()).await.map_err(err)?;
    let head_end = loop {
        if let Some(i) = r.buf[..r.end].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if r.end == r.buf.len() {
            return Err(err("upgrade response head over 64 KiB"));
        }
        let n = stream.read(&mut r.buf[r.end..]).await.map_err(err)?;
        if n == 0 {
            return Err(err("connection closed during the upgrade"));
        }
        r.end += n;
    };
    let head = &r.buf[..head_end];
    if !head.starts_with(b"HTTP/1.1 101") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err(err(format!("upgrade refused: {}", String::from_utf8_lossy(line))));
    }
    r.start = head_end;
    r.compact();
    Ok(())
}

/// Reads whole frames until the reply to the join (`ref` "1"): ok, or an error with its text.
async fn wait_join(stream: &mut TcpStream, r: &mut Frames) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        while let Some(h) = head(&r.buf[r.start..r.end])? {
            let body = r.start + h.hdr;
            if r.end - body < h.len {
                break;
            }
            if h.op == OP_CLOSE {
                return Err(err("closed before the join reply"));
            }
            if h.op == OP_TEXT {
                let v: serde_json::Value = serde_json::from_slice(&r.buf[body..body + h.len]).map_err(err)?;
                if v[1] == "1" && v[3] == "phx_reply" {
                    if v[4]["status"] != "ok" {
                        return Err(err(format!("join refused: {v}")));
                    }
                    r.start = body + h.len;
                    r.compact();
                    return Ok(());
                }
            }
            r.start = body + h.len;
        }
        r.compact();
        if r.end == r.buf.len() {
            return Err(err("a frame over 64 KiB before the join reply"));
        }
        let end = r.end;
        let n = tokio::time::timeout_at(deadline, stream.read(&mut r.buf[end..]))
            .await
            .map_err(|_| err("no join reply in 10 s"))?
            .map_err(err)?;
        if n == 0 {
            return Err(err("connection closed before the join reply"));
        }
        r.end += n;
    }
}

/// A frame header.
#[derive(Clone, Copy, Debug)]
struct Head {
    fin: bool,
    op: u8,
    /// Payload length.
    len: usize,
    /// Header length.
    hdr: usize,
}

/// The header at the start of `b`, `None` until it is all there. Server frames are unmasked.
fn head(b: &[u8]) -> Result<Option<Head>, String> {
    let [b0, b1, ..] = *b else { return Ok(None) };
    if b1 & 0x80 != 0 {
        return Err(err("masked frame from the server"));
    }
    let (len, hdr) = match b1 & 0x7f {
        126 => match b.get(2..4) {
            Some(&[x, y]) => (usize::from(u16::from_be_bytes([x, y])), 4),
            _ => return Ok(None),
        },
        127 => match b.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            Some(l) => (usize::try_from(u64::from_be_bytes(l)).map_err(err)?, 10),
            None => return Ok(None),
        },
        l => (usize::from(l), 2),
    };
    Ok(Some(Head { fin: b0 & 0x80 != 0, op: b0 & 0x0f, len, hdr }))
}

/// What a walk over the buffered bytes ended with.
enum Step {
    /// Needs more bytes.
    More,
    /// `expected` messages are in.
    Done,
    /// The server closed the socket.
    Closed,
}

/// The read buffer and the walk over its frames.
struct Frames {
    buf: Box<[u8]>,
    /// `buf[start..end]` is read and not yet walked.
    start: usize,
    end: usize,
    /// Payload bytes of the current frame still to drop (they were not read yet).
    skip: usize,
    /// A binary message whose first frame was seen and whose last was not: its `sent_us`.
    pending: Option<Option<u64>>,
    /// Binary messages so far.
    messages: u64,
    /// Frames to send (pongs).
    out: Vec<u8>,
    rng: Rng,
}

impl Frames {
    fn new(seed: u64) -> Self {
        Self {
            buf: vec![0; BUF].into_boxed_slice(),
            start: 0,
            end: 0,
            skip: 0,
            pending: None,
            messages: 0,
            out: Vec::new(),
            rng: Rng::from_seed(seed_bytes(seed)),
        }
    }

    /// Moves the unwalked bytes (less than a frame) to the front.
    fn compact(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Drops frame `h` at `start`, whole or as far as it is buffered.
    fn drop_frame(&mut self, h: Head) {
        let total = h.hdr + h.len;
        let have = self.end - self.start;
        if total <= have {
            self.start += total;
        } else {
            self.skip = total - have;
            self.start = self.end;
        }
    }

    /// Walks the buffered frames, counting binary messages into `meter`.
    fn walk(&mut self, meter: &mut Meter) -> Result<Step, String> {
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.end - self.start);
                self.start += n;
                self.skip -= n;
                if self.skip > 0 {
                    break;
                }
            }
            let Some(h) = head(&self.buf[self.start..self.end])? else { break };
            let body = self.start + h.hdr;
            let have = self.end - body;
            match h.op {
                OP_BINARY => {
                    let need = h.len.min(PEEK);
                    if have < need {
                        break;
                    }
                    self.pending = Some(sent_us(&self.buf[body..body + need]));
                }
                // A continuation of a binary message; a text message's is dropped.
                OP_CONT if self.pending.is_some() => {}
                OP_CLOSE => return Ok(Step::Closed),
                OP_PING => {
                    if have < h.len {
                        break;
                    }
                    let pong = client_frame(OP_PONG, &self.buf[body..body + h.len], &mut self.rng);
                    self.out.extend_from_slice(&pong);
                    self.drop_frame(h);
                    continue;
                }
                _ => {
                    self.drop_frame(h);
                    continue;
                }
            }
            if h.fin {
                self.messages += 1;
                let done = match self.pending.take().flatten() {
                    Some(sent) => meter.record(sent),
                    None => meter.record_bad(),
                };
                if done {
                    return Ok(Step::Done);
                }
            }
            self.drop_frame(h);
        }
        self.compact();
        Ok(Step::More)
    }
}

/// `sent_us` of a kind-4 JSON broadcast whose data is a [`Tick`](realtime_cli::load::Tick)
/// (`{"seq":<digits>,"sent_us":<digits>,...`), read in place; `None` for anything else.
fn sent_us(p: &[u8]) -> Option<u64> {
    let ([kind, topic, event, meta, encoding], rest) = p.split_first_chunk::<5>()?;
    if *kind != 4 || *encoding != 1 {
        return None;
    }
    let data = rest.get(usize::from(*topic) + usize::from(*event) + usize::from(*meta)..)?;
    let data = data.strip_prefix(b"{\"seq\":")?;
    let seq_digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    let data = data[seq_digits..].strip_prefix(b",\"sent_us\":")?;
    let digits = data.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 19 || data.len() == digits {
        return None;
    }
    Some(data[..digits].iter().fold(0u64, |v, &d| v * 10 + u64::from(d - b'0')))
}

/// A masked client frame (RFC 6455 5.2), FIN set.
fn client_frame(op: u8, payload: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(0x80 | op);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask = rng.next_u32().to_le_bytes();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    out
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The core's generator's seed from a number (the key and masks need not be secret here:
/// RFC 6455 asks for unpredictable masks against caching proxies, and none is in between).
fn seed_bytes(seed: u64) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn urls_split() {
        assert_eq!(split_url("ws://127.0.0.1:4000/realtime/v1").unwrap(), ("127.0.0.1:4000", "/realtime/v1"));
        assert_eq!(split_url("ws://h:1/realtime/v1/").unwrap(), ("h:1", "/realtime/v1"));
        assert_eq!(split_url("ws://h:1").unwrap(), ("h:1", ""));
        assert!(split_url("wss://h:1/x").is_err());
    }

    fn server_frame(op: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | op];
        match payload.len() {
            n @ 0..=125 => out.push(n as u8),
            n => {
                out.push(126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        out.extend_from_slice(payload);
        out
    }

    fn kind4(json: &str) -> Vec<u8> {
        let (topic, event) = ("realtime:bench", "tick");
        let mut out = vec![4, topic.len() as u8, event.len() as u8, 0, 1];
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(event.as_bytes());
        out.extend_from_slice(json.as_bytes());
        out
    }

    #[test]
    fn sent_us_is_read_in_place() {
        let json = realtime_cli::load::tick_json(17, 1_700_000_000_123_456);
        assert_eq!(sent_us(&kind4(&json)), Some(1_700_000_000_123_456));
        assert_eq!(sent_us(&kind4(r#"{"x":1}"#)), None);
        assert_eq!(sent_us(&kind4(r#"{"seq":1,"sent_us":12"#)), None);
    }

    /// Feeds `wire` to a walk in pieces of `step` bytes; returns (messages, bad, closed).
    fn walk_in_pieces(wire: &[u8], step: usize, expected: u64) -> (u64, u64, bool) {
        let mut r = Frames::new(7);
        let mut meter = Meter::new(expected);
        for piece in wire.chunks(step) {
            r.buf[r.end..r.end + piece.len()].copy_from_slice(piece);
            r.end += piece.len();
            match r.walk(&mut meter).unwrap() {
                Step::More => {}
                Step::Done => break,
                Step::Closed => return (r.messages, meter.finish("t").bad, true),
            }
        }
        (r.messages, meter.finish("t").bad, false)
    }

    #[test]
    fn walk_counts_binary_messages_across_reads() {
        let tick = kind4(&realtime_cli::load::tick_json(1, unix_micros()));
        let mut wire = Vec::new();
        wire.extend(server_frame(OP_TEXT, true, br#"[null,"2","phoenix","phx_reply",{}]"#));
        wire.extend(server_frame(OP_BINARY, true, &tick));
        wire.extend(server_frame(OP_PING, true, b"hi"));
        // A fragmented message: counted once, at its last frame.
        wire.extend(server_frame(OP_BINARY, false, &tick[..100]));
        wire.extend(server_frame(OP_CONT, true, &tick[100..]));
        wire.extend(server_frame(OP_BINARY, true, &[9u8; 300]));
        wire.extend(server_frame(OP_BINARY, true, &tick));
        for step in [1, 2, 3, 7, 64, 1000, wire.len()] {
            assert_eq!(walk_in_pieces(&wire, step, 10), (4, 1, false), "step {step}");
            assert_eq!(walk_in_pieces(&wire, step, 2).0, 2, "step {step}");
        }
        wire.extend(server_frame(OP_CLOSE, true, &[3, 232]));
        assert_eq!(walk_in_pieces(&wire, 5, 10), (4, 1, true));
    }

    #[test]
    fn pings_get_masked_pongs() {
        let mut r = Frames::new(7);
        let ping = server_frame(OP_PING, true, b"abc");
        r.buf[..ping.len()].copy_from_slice(&ping);
        r.end = ping.len();
        let mut meter = Meter::new(1);
        assert!(matches!(r.walk(&mut meter).unwrap(), Step::More));
        assert_eq!(r.out[0], 0x80 | OP_PONG);
        assert_eq!(r.out[1], 0x80 | 3);
        let mask = &r.out[2..6];
        let unmasked: Vec<u8> = r.out[6..].iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m).collect();
        assert_eq!(unmasked, b"abc");
    }
}
