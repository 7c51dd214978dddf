//! Masking (RFC 6455 section 5.3), word at a time.
//!
//! A client masks every frame it sends. The send path copies and masks in one pass
//! ([`copy_masked`]) straight into the caller's buffer, so the application's payload is never
//! mutated and nothing is allocated. The key is expanded into a `u64`; LLVM vectorizes the
//! 8-byte chunk loop on the baseline target. `phase` is the payload offset modulo 4 at which the
//! slice starts, so a frame may be masked in pieces across calls.

/// The 4-byte key rotated so that byte 0 of the result applies at `phase`.
#[inline]
fn rotated(key: [u8; 4], phase: usize) -> [u8; 4] {
    let p = phase & 3;
    [key[p], key[(p + 1) & 3], key[(p + 2) & 3], key[(p + 3) & 3]]
}

/// Writes `src ^ key` into `dst`, where `src[0]` sits at payload offset `phase`.
///
/// `dst` and `src` must have the same length; extra bytes of the longer one are left alone.
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let k = rotated(key, phase);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d8, s8) in (&mut d).zip(&mut s) {
        let mut w = [0u8; 8];
        w.copy_from_slice(s8);
        d8.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, (db, sb)) in d.into_remainder().iter_mut().zip(s.remainder()).enumerate() {
        *db = sb ^ k[i & 3];
    }
}

/// Masks (or unmasks) `buf` in place, where `buf[0]` sits at payload offset `phase`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let k = rotated(key, phase);
    let wide = u64::from_ne_bytes([k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]]);
    let mut chunks = buf.chunks_exact_mut(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        c.copy_from_slice(&(u64::from_ne_bytes(w) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= k[i & 3];
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
