//! Masking (RFC 6455 section 5.3), word at a time.
//!
//! A client masks every frame it sends. The send path copies and masks in one pass
//! ([`copy_masked`]) straight into the caller's buffer, so the application's payload is never
//! mutated and nothing is allocated. The key is expanded into a `u64`; LLVM vectorizes the
//! 8-byte chunk loop on the baseline target. `phase` is the payload offset modulo 4 at which the
//! slice starts, so a frame may be masked in pieces across calls.

/// The 4-byte key rotated so that byte 0 of the result applies at `phase`. Done on a `u32` in
/// a register: indexing the key array by a variable makes the compiler spill it to the stack
/// and reload single bytes, a store-forwarding stall that cost more than masking 16 bytes.
#[inline]
fn rotated(key: [u8; 4], phase: usize) -> [u8; 4] {
    let shift = 8 * (phase as u32 & 3);
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// Bytes per step of the wide loops: two SSE2 registers, or one AVX2 register where the build
/// enables it. LLVM vectorizes a loop over fixed 32-byte arrays on the baseline target.
const LANE: usize = 32;

/// The key repeated over a lane, rotated by `phase`.
#[inline]
fn lane_key(key: [u8; 4], phase: usize) -> [u8; LANE] {
    let k = rotated(key, phase);
    core::array::from_fn(|i| k[i & 3])
}

/// Writes `src ^ key` into `dst`, where `src[0]` sits at payload offset `phase`.
///
/// `dst` and `src` must have the same length; extra bytes of the longer one are left alone.
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let n = dst.len().min(src.len());
    if n >= LANE {
        copy_masked_wide(&mut dst[..n], &src[..n], key, phase);
    } else {
        copy_masked_words(&mut dst[..n], &src[..n], key, phase);
    }
}

#[inline(never)]
fn copy_masked_wide(mut dst: &mut [u8], mut src: &[u8], key: [u8; 4], phase: usize) {
    {
        let k = lane_key(key, phase);
        let mut d = dst.chunks_exact_mut(LANE);
        let mut s = src.chunks_exact(LANE);
        for (d, s) in (&mut d).zip(&mut s) {
            for i in 0..LANE {
                d[i] = s[i] ^ k[i];
            }
        }
        // The rest starts at a multiple of LANE, so the key phase is unchanged.
        (dst, src) = (d.into_remainder(), s.remainder());
    }
    copy_masked_words(dst, src, key, phase);
}

/// Short payloads and the tail of long ones: words, then bytes.
#[inline]
fn copy_masked_words(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let k = rotated(key, phase);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut d8 = dst.chunks_exact_mut(8);
    let mut s8 = src.chunks_exact(8);
    for (d, s) in (&mut d8).zip(&mut s8) {
        if let (Some(d), Some(s)) = (d.first_chunk_mut::<8>(), s.first_chunk::<8>()) {
            *d = (u64::from_ne_bytes(*s) ^ wide).to_ne_bytes();
        }
    }
    for (i, (db, sb)) in d8.into_remainder().iter_mut().zip(s8.remainder()).enumerate() {
        *db = sb ^ k[i & 3];
    }
}

/// Masks (or unmasks) `buf` in place, where `buf[0]` sits at payload offset `phase`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let k = lane_key(key, phase);
    let mut chunks = buf.chunks_exact_mut(LANE);
    for c in &mut chunks {
        for i in 0..LANE {
            c[i] ^= k[i];
        }
    }
    for (b, kb) in chunks.into_remainder().iter_mut().zip(k) {
        *b ^= kb;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bytewise(src: &[u8], key: [u8; 4], phase: usize) -> [u8; 64] {
        let mut out = [0u8; 64];
        for (i, b) in src.iter().enumerate() {
            out[i] = b ^ key[(phase + i) % 4];
        }
        out
    }

    proptest! {
        #[test]
        fn word_masking_equals_bytewise(src in proptest::collection::vec(any::<u8>(), 0..64),
                                        key in any::<[u8; 4]>(), phase in 0usize..8) {
            let want = bytewise(&src, key, phase);
            let mut dst = [0u8; 64];
            copy_masked(&mut dst[..src.len()], &src, key, phase);
            prop_assert_eq!(&dst[..src.len()], &want[..src.len()]);
            let mut inplace = [0u8; 64];
            inplace[..src.len()].copy_from_slice(&src);
            apply_mask(&mut inplace[..src.len()], key, phase);
            prop_assert_eq!(&inplace[..src.len()], &want[..src.len()]);
        }

        #[test]
        fn masking_in_pieces_equals_masking_whole(src in proptest::collection::vec(any::<u8>(), 0..64),
                                                  key in any::<[u8; 4]>(), cut in 0usize..64) {
            let cut = cut.min(src.len());
            let mut whole = [0u8; 64];
            copy_masked(&mut whole[..src.len()], &src, key, 0);
            let mut pieces = [0u8; 64];
            copy_masked(&mut pieces[..cut], &src[..cut], key, 0);
            copy_masked(&mut pieces[cut..src.len()], &src[cut..], key, cut);
            prop_assert_eq!(&whole[..], &pieces[..]);
        }
    }
}
