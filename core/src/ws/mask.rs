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

/// The key repeated over a lane of `L` bytes, rotated by `phase`.
#[inline]
fn lane_key<const L: usize>(key: [u8; 4], phase: usize) -> [u8; L] {
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
fn copy_masked_wide(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    #[cfg(all(feature = "simd", target_arch = "x86_64"))]
    if avx2::copy_masked(dst, src, key, phase) {
        return;
    }
    let done = xor_lanes::<LANE>(dst, src, key_word(key, phase));
    // `done` is a multiple of LANE, so the key phase is unchanged.
    copy_masked_words(&mut dst[done..], &src[done..], key, phase);
}

/// [`copy_masked`] without the AVX2 path: what a CPU without AVX2 (or a build without `simd`)
/// runs, for comparing the two (the property tests and the `ws_mask` fuzz target).
pub fn copy_masked_portable(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let done = xor_lanes::<LANE>(dst, src, key_word(key, phase));
    copy_masked_words(&mut dst[done..], &src[done..], key, phase);
}

/// The key rotated to `phase`, splatted into a `u64` (a splat, not a key array built byte by
/// byte: that costs more than the masking of 128 bytes).
#[inline(always)]
fn key_word(key: [u8; 4], phase: usize) -> u64 {
    let w = u64::from(u32::from_ne_bytes(rotated(key, phase)));
    w | (w << 32)
}

/// Masks the whole `L`-byte steps of `src` into `dst` (`L` a multiple of 8), as 8-byte words
/// xored with `k`; returns the bytes done. Inlined into its callers, so the AVX2 copy (feature
/// `simd`) compiles the same code with 32-byte registers.
#[inline(always)]
fn xor_lanes<const L: usize>(dst: &mut [u8], src: &[u8], k: u64) -> usize {
    let mut done = 0;
    for (d, s) in dst.chunks_exact_mut(L).zip(src.chunks_exact(L)) {
        for (d, s) in d.chunks_exact_mut(8).zip(s.chunks_exact(8)) {
            if let (Some(d), Some(s)) = (d.first_chunk_mut::<8>(), s.first_chunk::<8>()) {
                *d = (u64::from_ne_bytes(*s) ^ k).to_ne_bytes();
            }
        }
        done += L;
    }
    done
}

/// AVX2 (feature `simd`, x86_64): the same safe loops compiled with AVX2 enabled, called only
/// where the CPU has it.
#[cfg(all(feature = "simd", target_arch = "x86_64"))]
mod avx2 {
    use super::{LANE, key_word, xor_lanes};

    /// Bytes a step of the main loop: four `ymm` registers, so the loop's own instructions
    /// are a fraction of the loads, xors and stores.
    const WIDE: usize = 128;

    /// 128-byte steps, then 32-byte ones, then one 32-byte step over the last 32 bytes (it
    /// rewrites some with the same values: `dst` is computed from `src`, which it does not
    /// alias), so no byte loop. `n >= LANE`.
    #[target_feature(enable = "avx2")]
    fn lanes(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) {
        let n = dst.len().min(src.len());
        let (dst, src) = (&mut dst[..n], &src[..n]);
        let k = key_word(key, phase);
        let wide = xor_lanes::<WIDE>(dst, src, k);
        // Multiples of 4: the phase is unchanged.
        let done = wide + xor_lanes::<LANE>(&mut dst[wide..], &src[wide..], k);
        if done < n {
            let from = n - LANE;
            xor_lanes::<LANE>(&mut dst[from..], &src[from..], key_word(key, phase + from));
        }
    }

    /// Masks with AVX2 when the message has a 32-byte step or more and the CPU has it; false
    /// (nothing written) otherwise. `is_x86_feature_detected!` reads a cached answer after the
    /// first call.
    #[inline]
    pub(super) fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4], phase: usize) -> bool {
        if dst.len().min(src.len()) < LANE || !std::is_x86_feature_detected!("avx2") {
            return false;
        }
        // SAFETY: `lanes` is safe code whose only requirement is the `avx2` target feature,
        // which the CPU was just found to have; it reads and writes only through the slices.
        #[allow(unsafe_code)]
        unsafe {
            lanes(dst, src, key, phase);
        }
        true
    }
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
    let (dst, src) = (d8.into_remainder(), s8.remainder());
    // At most 7 bytes left: one 4-byte step (the phase is unchanged after it), then bytes.
    let mut at = 0;
    if let (Some(d4), Some(s4)) = (dst.first_chunk_mut::<4>(), src.first_chunk::<4>()) {
        *d4 = (u32::from_ne_bytes(*s4) ^ u32::from_ne_bytes(k)).to_ne_bytes();
        at = 4;
    }
    let (dst, src) = (dst.get_mut(at..).unwrap_or_default(), src.get(at..).unwrap_or_default());
    for (i, (db, sb)) in dst.iter_mut().zip(src).enumerate() {
        *db = sb ^ k[i & 3];
    }
}

/// Masks (or unmasks) `buf` in place, where `buf[0]` sits at payload offset `phase`.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], phase: usize) {
    let k = lane_key::<LANE>(key, phase);
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
    extern crate alloc;
    use alloc::vec;
    use alloc::vec::Vec;

    use super::*;
    use proptest::prelude::*;

    fn bytewise(src: &[u8], key: [u8; 4], phase: usize) -> Vec<u8> {
        src.iter().enumerate().map(|(i, b)| b ^ key[(phase + i) % 4]).collect()
    }

    proptest! {
        /// Every length class of every path (bytes, words, 32-byte steps, and with `simd` the
        /// AVX2 steps of 128 and 32 bytes and the overlapping last step) against the bytewise
        /// definition.
        #[test]
        fn word_masking_equals_bytewise(src in proptest::collection::vec(any::<u8>(), 0..700),
                                        key in any::<[u8; 4]>(), phase in 0usize..8) {
            let want = bytewise(&src, key, phase);
            let mut dst = vec![0u8; src.len()];
            copy_masked(&mut dst, &src, key, phase);
            prop_assert_eq!(&dst, &want);
            let mut inplace = src.clone();
            apply_mask(&mut inplace, key, phase);
            prop_assert_eq!(&inplace, &want);
        }

        #[test]
        fn masking_in_pieces_equals_masking_whole(src in proptest::collection::vec(any::<u8>(), 0..700),
                                                  key in any::<[u8; 4]>(), cut in 0usize..700) {
            let cut = cut.min(src.len());
            let mut whole = vec![0u8; src.len()];
            copy_masked(&mut whole, &src, key, 0);
            let mut pieces = vec![0u8; src.len()];
            copy_masked(&mut pieces[..cut], &src[..cut], key, 0);
            copy_masked(&mut pieces[cut..], &src[cut..], key, cut);
            prop_assert_eq!(&whole, &pieces);
        }

        /// The safe path alone (what a CPU without AVX2 runs) against the bytewise definition,
        /// in builds with `simd` too.
        #[test]
        fn the_safe_wide_path_equals_bytewise(src in proptest::collection::vec(any::<u8>(), 0..700),
                                              key in any::<[u8; 4]>(), phase in 0usize..8) {
            let mut dst = vec![0u8; src.len()];
            copy_masked_portable(&mut dst, &src, key, phase);
            prop_assert_eq!(dst, bytewise(&src, key, phase));
        }
    }
}
