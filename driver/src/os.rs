//! What every std runtime reads from the operating system in the same way: the clocks, the
//! entropy to seed the core, and environment variables (feature `std`).

use std::string::String;

use realtime_core::Instant;

use crate::error::IoError;

/// The monotonic clock since `epoch`, as the core's `Instant`.
pub fn since(epoch: std::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(epoch.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// The wall clock in Unix milliseconds (none before 1970).
pub fn unix_ms() -> Option<u64> {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_millis()).ok()
}

/// 32 bytes from the OS's random source.
pub fn entropy() -> Result<[u8; 32], IoError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| IoError::msg(std::format!("no OS randomness: {e}")))?;
    Ok(seed)
}

/// An environment variable, if it is set and is Unicode.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
