//! Time source of a hub. Message timestamps, expiry and `createdAt` values all come from
//! the hub's clock, so tests can drive time by hand instead of sleeping.

use std::fmt;
#[cfg(not(unix))]
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sync::{AtomicI64, Ordering};

/// A source of wall-clock time in milliseconds since the Unix epoch (UTC).
pub trait Clock: Send + Sync {
    /// The current time, in milliseconds since 1970-01-01T00:00:00Z.
    fn now_ms(&self) -> i64;

    /// The current time in nanoseconds since the Unix epoch, for latencies. The default
    /// is [`Clock::now_ms`] in nanoseconds (a [`ManualClock`] moves in whole ms).
    fn now_ns(&self) -> i64 {
        self.now_ms().saturating_mul(1_000_000)
    }
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        self.now_ns().div_euclid(1_000_000)
    }

    fn now_ns(&self) -> i64 {
        realtime_ns()
    }
}

/// The system clock in ns since the Unix epoch. On Unix straight from `clock_gettime`:
/// `SystemTime::now()` plus `duration_since` and the `u128` conversion cost about 40 ns,
/// half of it around the vDSO call, and this is read once per publish and once per
/// delivery (latency).
#[cfg(unix)]
fn realtime_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_REALTIME always exists, so the
    // call cannot fail (and on failure `ts` stays at the epoch).
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    (ts.tv_sec as i64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as i64)
}

#[cfg(not(unix))]
fn realtime_ns() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
    }
}

/// A clock that only moves when told to; for tests that must never sleep.
///
/// ```
/// use module_communication::{Clock, ManualClock};
/// let clock = ManualClock::new(1_000);
/// clock.advance(500);
/// assert_eq!(clock.now_ms(), 1_500);
/// ```
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock that reads `start_ms` until advanced or set.
    pub fn new(start_ms: i64) -> Self {
        ManualClock { now: AtomicI64::new(start_ms) }
    }

    /// Moves the clock forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }

    /// Sets the clock to `ms` milliseconds since the Unix epoch.
    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("now_ms", &self.now_ms()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_after_2020_and_agrees_with_system_time() {
        assert!(SystemClock.now_ms() > 1_577_836_800_000);
        let std_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
        assert!((SystemClock.now_ns() - std_ns).abs() < 1_000_000_000);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(10);
        assert_eq!(c.now_ms(), 10);
        c.advance(5);
        assert_eq!(c.now_ms(), 15);
        c.set(-3);
        assert_eq!(c.now_ms(), -3);
    }
}
