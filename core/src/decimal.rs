//! Decimal text of an integer without an allocator (ports in the upgrade request, refs in
//! Realtime frames).

/// The decimal digits of a `u64`, held inline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decimal {
    buf: [u8; 20],
    start: u8,
}

impl Decimal {
    pub(crate) fn new(mut n: u64) -> Self {
        let mut buf = [0u8; 20];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // Invariant: at most 20 digits, so `start` fits a byte.
        Self { buf, start: start as u8 }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[usize::from(self.start)..]
    }

    #[cfg_attr(not(feature = "alloc"), allow(dead_code))]
    pub(crate) fn as_str(&self) -> &str {
        // Invariant: ASCII digits only.
        core::str::from_utf8(self.as_bytes()).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::Decimal;

    #[test]
    fn digits() {
        for (n, s) in [(0, "0"), (7, "7"), (10, "10"), (65535, "65535"), (u64::MAX, "18446744073709551615")] {
            assert_eq!(Decimal::new(n).as_str(), s);
        }
    }
}
