//! permessage-deflate (RFC 7692) for the server, as a pump between the client's stream and
//! tungstenite (which has no extensions): compressed messages from the client are inflated and
//! handed on uncompressed; every data message tungstenite writes of 32 bytes or more is
//! compressed (RSV1 set) on its way out, in two frames when it compresses to over 1 KiB. Written here, on zlib-rs through flate2, to stay independent of the client's
//! miniz_oxide code (design.md: the test server shares no code with the client).

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

/// The four bytes a sync flush ends with, left off on the wire.
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// The pipe between the pump and tungstenite.
const PIPE: usize = 256 << 10;
/// Largest frame or inflated message the pump takes (the hub's own limits apply after).
const MAX_MESSAGE: usize = 64 << 20;
/// Messages to the client shorter than this go uncompressed (a heartbeat reply is about 60).
const UNCOMPRESSED_BELOW: usize = 32;
/// Compressed messages to the client longer than this go in two frames.
const FRAGMENT_OVER: usize = 1024;

/// What was agreed with the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server resets its compressor per message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor per message.
    pub client_no_context_takeover: bool,
    /// The server's window (the client's ask, else 15).
    pub server_max_window_bits: u8,
}

impl Agreed {
    /// Takes the client's first permessage-deflate offer it can serve, from the value of its
    /// `Sec-WebSocket-Extensions`.
    pub(crate) fn from_offer(header: &str) -> Option<Self> {
        'offers: for offer in header.split(',') {
            let mut parts = offer.split(';').map(str::trim);
            if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
                continue;
            }
            let mut agreed = Self {
                server_no_context_takeover: false,
                client_no_context_takeover: false,
                server_max_window_bits: 15,
            };
            for p in parts {
                let (name, value) = match p.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (p, None),
                };
                match (name, value) {
                    ("server_no_context_takeover", None) => agreed.server_no_context_takeover = true,
                    ("client_no_context_takeover", None) => agreed.client_no_context_takeover = true,
                    // zlib cannot deflate raw data with an 8-bit window, and the answer may not
                    // name more than the offer: an ask for 8 is declined.
                    ("server_max_window_bits", Some(v)) => match v.parse::<u8>() {
                        Ok(b @ 9..=15) => agreed.server_max_window_bits = b,
                        _ => continue 'offers,
                    },
                    // The client may be limited; this server leaves it at its own choice.
                    ("client_max_window_bits", _) => {}
                    _ => continue 'offers,
                }
            }
            return Some(agreed);
        }
        None
    }

    /// The response header's value.
    pub(crate) fn header(&self) -> String {
        let mut h = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            h.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            h.push_str("; client_no_context_takeover");
        }
        if self.server_max_window_bits < 15 {
            h.push_str(&format!("; server_max_window_bits={}", self.server_max_window_bits));
        }
        h
    }
}

/// Starts the pump over `client`; returns tungstenite's end of it.
pub(crate) fn pump<S>(client: S, agreed: Agreed) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (near, far) = tokio::io::duplex(PIPE);
    let (client_rx, client_tx) = tokio::io::split(client);
    let (far_rx, far_tx) = tokio::io::split(far);
    tokio::spawn(async move {
        let inbound = inflate_from_client(client_rx, far_tx, agreed);
        let outbound = deflate_to_client(far_rx, client_tx, agreed);
        // Either direction ending ends the connection.
        tokio::select! {
            _ = inbound => {}
            _ = outbound => {}
        }
    });
    near
}

struct Frame {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    payload: Vec<u8>,
}

/// Reads one frame; `masked` frames (from the client) are unmasked.
async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Frame> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await?;
    let len = match head[1] & 0x7F {
        126 => u64::from(r.read_u16().await?),
        127 => r.read_u64().await?,
        n => u64::from(n),
    };
    let len = usize::try_from(len).ok().filter(|&l| l <= MAX_MESSAGE).ok_or(io::ErrorKind::InvalidData)?;
    let mut key = [0u8; 4];
    let masked = head[1] & 0x80 != 0;
    if masked {
        r.read_exact(&mut key).await?;
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await?;
    if masked {
        payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= key[i % 4]);
    }
    Ok(Frame { fin: head[0] & 0x80 != 0, rsv1: head[0] & 0x40 != 0, opcode: head[0] & 0x0F, payload })
}

/// Writes one frame; `mask` for frames to tungstenite (it reads as a server), with a zero key.
async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, b0: u8, payload: &[u8], mask: bool) -> io::Result<()> {
    let mut head = vec![b0];
    let bit = if mask { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => head.push(bit | n as u8),
        n @ 126..=0xFFFF => {
            head.push(bit | 126);
            head.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            head.push(bit | 127);
            head.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    if mask {
        head.extend_from_slice(&[0; 4]);
    }
    w.write_all(&head).await?;
    w.write_all(payload).await?;
    w.flush().await
}

async fn inflate_from_client<R, W>(mut client: R, mut ws: W, agreed: Agreed) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut inflater = Decompress::new(false);
    // The compressed message being gathered: its opcode and payload so far.
    let mut gathering: Option<(u8, Vec<u8>)> = None;
    loop {
        let f = read_frame(&mut client).await?;
        // A compressed message starts with RSV1 on its first text or binary frame; its
        // continuations follow, without RSV1 (RFC 7692 section 6.1: a client that sets it there
        // is broken, and the connection ends). RSV1 on a control frame passes to tungstenite,
        // which refuses it.
        if f.opcode == 0 && f.rsv1 {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "RSV1 on a continuation"));
        }
        let compressed = (gathering.is_none() && f.rsv1 && matches!(f.opcode, 1 | 2))
            || (gathering.is_some() && f.opcode == 0);
        if !compressed {
            // Control frames and uncompressed data frames pass as they came (masked again).
            let b0 = (u8::from(f.fin) << 7) | (if f.rsv1 { 0x40 } else { 0 }) | f.opcode;
            write_frame(&mut ws, b0, &f.payload, true).await?;
            continue;
        }
        let (opcode, mut data) = gathering.take().unwrap_or((f.opcode, Vec::new()));
        data.extend_from_slice(&f.payload);
        if data.len() > MAX_MESSAGE {
            return Err(io::ErrorKind::InvalidData.into());
        }
        if !f.fin {
            gathering = Some((opcode, data));
            continue;
        }
        data.extend_from_slice(&TAIL);
        let message = inflate(&mut inflater, &data)?;
        if agreed.client_no_context_takeover {
            inflater.reset(false);
        }
        write_frame(&mut ws, 0x80 | opcode, &message, true).await?;
    }
}

fn inflate(d: &mut Decompress, input: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 4 + 64);
    let start = d.total_in();
    loop {
        let used = (d.total_in() - start) as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity());
        }
        let status =
            d.decompress_vec(&input[used..], &mut out, FlushDecompress::Sync).map_err(io::Error::other)?;
        let done = (d.total_in() - start) as usize == input.len() && out.len() < out.capacity();
        if done || status == Status::StreamEnd {
            return Ok(out);
        }
        if out.len() > MAX_MESSAGE {
            return Err(io::ErrorKind::InvalidData.into());
        }
    }
}

async fn deflate_to_client<R, W>(mut ws: R, mut client: W, agreed: Agreed) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let new = || Compress::new_with_window_bits(Compression::fast(), false, agreed.server_max_window_bits);
    let mut deflater = new();
    let mut gathering: Option<(u8, Vec<u8>)> = None;
    loop {
        let Ok(f) = read_frame(&mut ws).await else { return client.shutdown().await };
        if f.opcode >= 8 {
            write_frame(&mut client, 0x80 | f.opcode, &f.payload, false).await?;
            continue;
        }
        let (opcode, mut data) = gathering.take().unwrap_or((f.opcode, Vec::new()));
        data.extend_from_slice(&f.payload);
        if !f.fin {
            gathering = Some((opcode, data));
            continue;
        }
        if data.len() < UNCOMPRESSED_BELOW {
            // Short messages go as they are, so clients see both kinds on one connection.
            write_frame(&mut client, 0x80 | opcode, &data, false).await?;
            continue;
        }
        let compressed = deflate(&mut deflater, &data)?;
        if agreed.server_no_context_takeover {
            deflater = new();
        }
        if compressed.len() > FRAGMENT_OVER {
            // Long ones in two frames, RSV1 on the first only.
            let (a, b) = compressed.split_at(compressed.len() / 2);
            write_frame(&mut client, 0x40 | opcode, a, false).await?;
            write_frame(&mut client, 0x80, b, false).await?;
        } else {
            write_frame(&mut client, 0xC0 | opcode, &compressed, false).await?;
        }
    }
}

fn deflate(c: &mut Compress, msg: &[u8]) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(msg.len() / 2 + 64);
    let start = c.total_in();
    loop {
        let used = (c.total_in() - start) as usize;
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        c.compress_vec(&msg[used..], &mut out, FlushCompress::Sync).map_err(io::Error::other)?;
        if (c.total_in() - start) as usize == msg.len() && out.len() < out.capacity() {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offers_are_read_as_a_server_would() {
        let plain = Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
        };
        assert_eq!(Agreed::from_offer("permessage-deflate; client_max_window_bits"), Some(plain));
        assert_eq!(
            Agreed::from_offer(
                "x-foo, permessage-deflate; server_no_context_takeover; server_max_window_bits=10"
            ),
            Some(Agreed { server_no_context_takeover: true, server_max_window_bits: 10, ..plain })
        );
        assert_eq!(Agreed::from_offer("permessage-deflate; mystery"), None);
        assert_eq!(Agreed::from_offer("permessage-deflate; server_max_window_bits=8"), None);
        assert_eq!(Agreed::from_offer("permessage-deflate; mystery, permessage-deflate"), Some(plain));
        assert_eq!(plain.header(), "permessage-deflate");
        let all = Agreed {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 9,
        };
        assert_eq!(
            all.header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9"
        );
    }
}
