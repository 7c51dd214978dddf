//! The core's seeded random source.
//!
//! The core has no entropy of its own: the runtime seeds it once (OS RNG, chip RNG) and it runs
//! SipHash-1-3 as a keyed pseudo-random function in counter mode, under a 128-bit key. What
//! RFC 6455 section 10.3 asks of masking keys is that they be unpredictable to whoever chooses
//! the payload (so a script cannot make the client's bytes poison an intermediary); a keyed PRF
//! gives that. SipHash-1-3 has no published attack that tells its output from random, but a
//! smaller margin than SipHash-2-4 (whose PRF claim is the designers'); it is the variant Rust's
//! standard library relies on against hash flooding. It was chosen for size and speed: 24
//! bytes of state (a ChaCha generator with its block buffer would add some 100 bytes to every
//! connection) and two masking keys per evaluation, a few nanoseconds each, where 2-4 costs
//! 60% more on the small-message send path. The seed is compressed with SipHash-2-4. A fixed
//! seed is for tests only.

use core::hash::Hasher;

use siphasher::sip::{SipHasher13, SipHasher24};

/// A seeded cryptographically secure pseudo-random generator (SipHash-1-3 in counter mode).
#[derive(Clone)]
pub struct Rng {
    key: [u32; 4],
    counter: u32,
    /// The unused upper half of the last 64-bit output, valid when `counter` is odd.
    spare: u32,
}

impl Rng {
    /// A generator keyed from `seed`. Every 32-byte seed gives a distinct stream; the same seed
    /// gives the same stream (tests rely on that).
    pub fn from_seed(seed: [u8; 32]) -> Self {
        // Compress the 256-bit seed into the 128-bit key with SipHash itself: the first half
        // keys it, the second half is hashed twice (domain 0 and 1). Every seed bit counts.
        let word = |i: usize| u64::from_le_bytes(core::array::from_fn(|j| seed[i * 8 + j]));
        let half = |domain: u8| {
            let mut h = SipHasher24::new_with_keys(word(0), word(1));
            h.write_u64(word(2));
            h.write_u64(word(3));
            h.write_u8(domain);
            h.finish()
        };
        let (a, b) = (half(0), half(1));
        let key = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
        Self { key, counter: 0, spare: 0 }
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        if self.counter & 1 == 1 {
            self.counter = self.counter.wrapping_add(1);
            return self.spare;
        }
        let out = self.block();
        self.spare = (out >> 32) as u32;
        self.counter = self.counter.wrapping_add(1);
        out as u32
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32()) | (u64::from(self.next_u32()) << 32)
    }

    /// Fills `dest` with random bytes.
    pub fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let bytes = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    /// A random value in `0..bound` (`bound` > 0), without modulo bias worth caring about for
    /// jitter (bound far below 2^32).
    pub fn below(&mut self, bound: u32) -> u32 {
        if bound == 0 {
            return 0;
        }
        ((u64::from(self.next_u32()) * u64::from(bound)) >> 32) as u32
    }

    fn block(&mut self) -> u64 {
        if self.counter == u32::MAX - 1 {
            // 2^31 outputs used: rekey from the stream itself so the counter never repeats
            // under the same key.
            let a = self.raw(u64::MAX);
            let b = self.raw(u64::MAX - 1);
            self.key = [a as u32, (a >> 32) as u32, b as u32, (b >> 32) as u32];
            self.counter = 0;
        }
        self.raw(u64::from(self.counter))
    }

    fn raw(&self, input: u64) -> u64 {
        let k0 = u64::from(self.key[0]) | (u64::from(self.key[1]) << 32);
        let k1 = u64::from(self.key[2]) | (u64::from(self.key[3]) << 32);
        let mut h = SipHasher13::new_with_keys(k0, k1);
        h.write_u64(input);
        h.finish()
    }
}

impl core::fmt::Debug for Rng {
    /// Never prints the key: it would make every masking key predictable.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Rng(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let mut a = Rng::from_seed([7; 32]);
        let mut b = Rng::from_seed([7; 32]);
        let mut c = Rng::from_seed([8; 32]);
        let xs: [u32; 8] = core::array::from_fn(|_| a.next_u32());
        let ys: [u32; 8] = core::array::from_fn(|_| b.next_u32());
        let zs: [u32; 8] = core::array::from_fn(|_| c.next_u32());
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        // Consecutive outputs differ (the spare half is used, not repeated).
        assert!(xs.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn output_looks_uniform() {
        let mut r = Rng::from_seed([1; 32]);
        let mut ones = 0u32;
        for _ in 0..4096 {
            ones += r.next_u32().count_ones();
        }
        // 4096 * 32 bits, expect half set; 6 sigma is about 1086.
        let expected = 4096 * 16;
        assert!(ones.abs_diff(expected) < 1100, "{ones}");
    }

    #[test]
    fn rekeys_instead_of_repeating_the_counter() {
        let mut r = Rng::from_seed([3; 32]);
        r.counter = u32::MAX - 1;
        let before = r.key;
        let _ = r.next_u32();
        assert_ne!(r.key, before);
        let mut s = [0u8; 7];
        r.fill_bytes(&mut s);
        assert!(r.below(10) < 10);
    }
}
