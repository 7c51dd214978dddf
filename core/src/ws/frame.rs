//! Frame headers (RFC 6455 section 5.2): the incremental decoder and the encoder.
//!
//! [`FrameDecoder`] reads a header byte by byte if it must, so a header split across reads is
//! kept here and the caller only keeps bytes it was told were not consumed. It checks every
//! header rule as soon as the byte that breaks it arrives: masked server frames, RSV bits,
//! reserved opcodes, fragmented or long control frames, non-minimal and overflowing lengths.
//! Once permessage-deflate is on ([`FrameDecoder::allow_rsv1`]) RSV1 may mark the first frame
//! of a data message, never a control frame or a continuation (RFC 7692 section 6.1).
//! Payload bytes pass through as borrowed sub-slices; the decoder never copies them.

use super::error::ProtocolError;

/// Longest frame header: 2 bytes, 8 bytes of extended length, 4 bytes of mask key.
pub const MAX_HEADER_LEN: usize = 14;
/// Longest control frame payload (section 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A frame's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl Opcode {
    /// Parses the low nibble of the first header byte.
    pub const fn from_u8(op: u8) -> Result<Self, ProtocolError> {
        Ok(match op {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub const fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// A decoded frame header (server to client: never masked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The final frame of its message.
    pub fin: bool,
    /// The opcode.
    pub opcode: Opcode,
    /// The payload length.
    pub len: u64,
    /// RSV1: the message is compressed (permessage-deflate; first frames only).
    pub rsv1: bool,
}

/// Writes a client (masked) frame header into `out`, returning its length (2 to 14 bytes).
///
/// `out` must hold [`MAX_HEADER_LEN`] bytes; the encoder never reads past what it returns.
pub fn encode_header(
    out: &mut [u8; MAX_HEADER_LEN],
    fin: bool,
    opcode: Opcode,
    len: u64,
    key: [u8; 4],
) -> usize {
    out[0] = (u8::from(fin) << 7) | opcode.as_u8();
    let n = if len < 126 {
        out[1] = 0x80 | len as u8;
        2
    } else if len <= u64::from(u16::MAX) {
        out[1] = 0x80 | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 0x80 | 127;
        out[2..10].copy_from_slice(&len.to_be_bytes());
        10
    };
    out[n..n + 4].copy_from_slice(&key);
    n + 4
}

/// Length of the client frame header for a payload of `len` bytes.
pub const fn header_len(len: u64) -> usize {
    if len < 126 {
        6
    } else if len <= u16::MAX as u64 {
        8
    } else {
        14
    }
}

/// Where the decoder is inside the current frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Waiting for the first header byte.
    Start,
    /// Have byte 0, waiting for the mask/length byte.
    Length,
    /// Reading the extended length; `left` bytes to go.
    ExtLength { left: u8, width: u8 },
    /// Header done; `remaining` payload bytes to go.
    Payload,
}

/// What one call to [`FrameDecoder::decode`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// Need more bytes; all input was consumed.
    Incomplete,
    /// A complete header (its payload follows).
    Header(FrameHeader),
    /// Payload bytes of the current frame; `end` when they finish it.
    Payload {
        /// The bytes, borrowed from the input.
        data: &'a [u8],
        /// This chunk ends the frame.
        end: bool,
    },
}

/// The incremental frame decoder: 16 bytes of state.
#[derive(Clone, Debug)]
pub struct FrameDecoder {
    /// Payload bytes left, or the extended length accumulated so far.
    remaining: u64,
    step: Step,
    /// First header byte of the current frame.
    b0: u8,
    /// permessage-deflate is on: RSV1 may be set on first data frames.
    rsv1_allowed: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder at a frame boundary.
    pub const fn new() -> Self {
        Self { remaining: 0, step: Step::Start, b0: 0, rsv1_allowed: false }
    }

    /// Lets RSV1 mark the first frame of a data message (permessage-deflate was agreed).
    pub const fn allow_rsv1(&mut self, allowed: bool) {
        self.rsv1_allowed = allowed;
    }

    /// Payload bytes left in the current frame (0 between frames).
    pub const fn remaining(&self) -> u64 {
        match self.step {
            Step::Payload => self.remaining,
            _ => 0,
        }
    }

    /// True between frames.
    pub const fn at_boundary(&self) -> bool {
        matches!(self.step, Step::Start)
    }

    /// Decodes from `input`; returns the bytes consumed and what they made.
    ///
    /// A zero-length frame gives `Header` and then, on the next call, `Payload` with empty data
    /// and `end` set, so every frame ends with exactly one `end`.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Decoded<'a>), ProtocolError> {
        let mut used = 0;
        loop {
            match self.step {
                Step::Payload => {
                    let take = usize::try_from(self.remaining)
                        .map_or(input.len() - used, |r| r.min(input.len() - used));
                    if take == 0 && self.remaining != 0 {
                        return Ok((used, Decoded::Incomplete));
                    }
                    self.remaining -= take as u64;
                    let end = self.remaining == 0;
                    if end {
                        self.step = Step::Start;
                    }
                    return Ok((used + take, Decoded::Payload { data: &input[used..used + take], end }));
                }
                _ if used == input.len() => return Ok((used, Decoded::Incomplete)),
                Step::Start => {
                    let b0 = input[used];
                    used += 1;
                    if b0 & 0x30 != 0 || (b0 & 0x40 != 0 && !self.rsv1_allowed) {
                        return Err(ProtocolError::ReservedBits);
                    }
                    let op = Opcode::from_u8(b0 & 0x0F)?;
                    if b0 & 0x40 != 0 && (op.is_control() || op == Opcode::Continuation) {
                        return Err(ProtocolError::MisplacedRsv1);
                    }
                    if op.is_control() && b0 & 0x80 == 0 {
                        return Err(ProtocolError::FragmentedControlFrame);
                    }
                    self.b0 = b0;
                    self.step = Step::Length;
                }
                Step::Length => {
                    let b1 = input[used];
                    used += 1;
                    if b1 & 0x80 != 0 {
                        return Err(ProtocolError::MaskedFrame);
                    }
                    let len7 = b1 & 0x7F;
                    if self.opcode().is_control() && len7 > 125 {
                        return Err(ProtocolError::ControlFrameTooLong);
                    }
                    match len7 {
                        126 => self.step = Step::ExtLength { left: 2, width: 2 },
                        127 => self.step = Step::ExtLength { left: 8, width: 8 },
                        n => return Ok((used, Decoded::Header(self.finish_header(u64::from(n))))),
                    }
                    self.remaining = 0;
                }
                Step::ExtLength { left, width } => {
                    let b = input[used];
                    used += 1;
                    if width == 8 && left == 8 && b & 0x80 != 0 {
                        return Err(ProtocolError::LengthOverflow);
                    }
                    self.remaining = (self.remaining << 8) | u64::from(b);
                    if left > 1 {
                        self.step = Step::ExtLength { left: left - 1, width };
                        continue;
                    }
                    let len = self.remaining;
                    let minimal = if width == 2 { len >= 126 } else { len > u64::from(u16::MAX) };
                    if !minimal {
                        return Err(ProtocolError::NonMinimalLength);
                    }
                    return Ok((used, Decoded::Header(self.finish_header(len))));
                }
            }
        }
    }

    fn opcode(&self) -> Opcode {
        // Invariant: b0 was validated by Opcode::from_u8 before the step left Start.
        Opcode::from_u8(self.b0 & 0x0F).unwrap_or(Opcode::Continuation)
    }

    fn finish_header(&mut self, len: u64) -> FrameHeader {
        self.remaining = len;
        self.step = Step::Payload;
        FrameHeader { fin: self.b0 & 0x80 != 0, opcode: self.opcode(), len, rsv1: self.b0 & 0x40 != 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(bytes: &[u8]) -> Result<FrameHeader, ProtocolError> {
        let mut d = FrameDecoder::new();
        match d.decode(bytes)? {
            (_, Decoded::Header(h)) => Ok(h),
            other => panic!("no header: {other:?}"),
        }
    }

    #[test]
    fn decoder_state_is_small() {
        assert!(size_of::<FrameDecoder>() < 48);
    }

    #[test]
    fn header_rules() {
        assert_eq!(
            header(&[0x81, 0x05]).unwrap(),
            FrameHeader { fin: true, opcode: Opcode::Text, len: 5, rsv1: false }
        );
        assert_eq!(header(&[0x82, 126, 0x01, 0x00]).unwrap().len, 256);
        assert_eq!(header(&[0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]).unwrap().len, 65536);
        assert_eq!(header(&[0xC1, 0]), Err(ProtocolError::ReservedBits));
        assert_eq!(header(&[0x83, 0]), Err(ProtocolError::ReservedOpcode(3)));
        assert_eq!(header(&[0x8B, 0]), Err(ProtocolError::ReservedOpcode(0xB)));
        assert_eq!(header(&[0x09, 0]), Err(ProtocolError::FragmentedControlFrame));
        assert_eq!(header(&[0x89, 126]), Err(ProtocolError::ControlFrameTooLong));
        assert_eq!(header(&[0x81, 0x85]), Err(ProtocolError::MaskedFrame));
        assert_eq!(header(&[0x82, 126, 0, 125]), Err(ProtocolError::NonMinimalLength));
        assert_eq!(header(&[0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF]), Err(ProtocolError::NonMinimalLength));
        assert_eq!(header(&[0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]), Err(ProtocolError::LengthOverflow));
    }

    #[test]
    fn rsv1_only_where_deflate_allows_it() {
        fn with(bytes: &[u8]) -> Result<Decoded<'_>, ProtocolError> {
            let mut d = FrameDecoder::new();
            d.allow_rsv1(true);
            d.decode(bytes).map(|(_, h)| h)
        }
        assert!(matches!(with(&[0xC1, 0x01]), Ok(Decoded::Header(FrameHeader { rsv1: true, .. }))));
        assert!(matches!(
            with(&[0x42, 0x01]),
            Ok(Decoded::Header(FrameHeader { rsv1: true, fin: false, .. }))
        ));
        assert_eq!(with(&[0xC0, 0x01]), Err(ProtocolError::MisplacedRsv1));
        assert_eq!(with(&[0xC9, 0x00]), Err(ProtocolError::MisplacedRsv1));
        assert_eq!(with(&[0xC8, 0x00]), Err(ProtocolError::MisplacedRsv1));
        assert_eq!(with(&[0xA1, 0x00]), Err(ProtocolError::ReservedBits));
        assert_eq!(with(&[0x91, 0x00]), Err(ProtocolError::ReservedBits));
        assert_eq!(header(&[0xC1, 0x01]), Err(ProtocolError::ReservedBits));
    }

    #[test]
    fn encode_all_length_classes() {
        let mut out = [0u8; MAX_HEADER_LEN];
        assert_eq!(encode_header(&mut out, true, Opcode::Text, 5, [1, 2, 3, 4]), 6);
        assert_eq!(&out[..6], &[0x81, 0x85, 1, 2, 3, 4]);
        assert_eq!(encode_header(&mut out, false, Opcode::Binary, 126, [0; 4]), 8);
        assert_eq!(&out[..4], &[0x02, 0xFE, 0, 126]);
        assert_eq!(encode_header(&mut out, true, Opcode::Continuation, 65536, [0; 4]), 14);
        assert_eq!(&out[..10], &[0x80, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0]);
    }
}
