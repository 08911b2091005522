//! Retry with exponential backoff: the policy, the delays it gives, the jitter that spreads
//! them, and the sleeper that waits them out (injectable, so tests never sleep; the real one
//! stops waiting when the caller cancels the call).

use std::fmt;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::clock::ManualClock;
use crate::error::Error;
use crate::setting_values::{boolean, integer, number, unknown_key};
use crate::sync::{Arc, AtomicU64, Condvar, Mutex, Ordering};

/// The configured retry policy (the spec's `RetryPolicy`). JSON (camelCase, keys compare
/// case-insensitively): `{"maxRetries":3,"retryDelayMs":1000,"backoffMultiplier":2,
/// "maxDelayMs":30000,"jitter":true}`.
///
/// Retry `k` (1 for the first retry) waits `retryDelayMs × backoffMultiplier^(k-1)`,
/// capped at `maxDelayMs`; with jitter that delay is multiplied by a random factor in
/// `[1 − JITTER, 1 + JITTER]` and capped again, so callers that failed together do not
/// retry together. Only failures of a retryable category are retried.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    /// Retries after the first attempt when the caller does not say (`-RetryAttempts`).
    /// 0 ..= 100; default 3.
    pub max_retries: u32,
    /// Delay before the first retry, in milliseconds. 0 ..= 3,600,000; default 1,000.
    pub retry_delay_ms: u64,
    /// Each retry waits this many times longer than the one before. 1 ..= 100; default 2.
    pub backoff_multiplier: f64,
    /// No delay is longer than this, in milliseconds. 0 ..= 3,600,000; default 30,000.
    pub max_delay_ms: u64,
    /// Spread delays randomly by ±[`JITTER`]. Default on.
    pub jitter: bool,
}

/// The jitter's spread: a delay `d` becomes a uniform value in `[d × 0.75, d × 1.25]`.
pub const JITTER: f64 = 0.25;

/// The most retries one call may ask for.
pub const MAX_RETRIES: u32 = 100;

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            retry_delay_ms: 1_000,
            backoff_multiplier: 2.0,
            max_delay_ms: 30_000,
            jitter: true,
        }
    }
}

const RETRY_KEYS: &str = "maxRetries, retryDelayMs, backoffMultiplier, maxDelayMs, jitter";

impl RetryPolicy {
    /// A copy with the keys of a JSON object applied; an unknown key or a bad value fails
    /// naming it, and nothing changes.
    pub fn merged_with(&self, map: &serde_json::Map<String, Value>) -> Result<RetryPolicy, Error> {
        let mut next = *self;
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "maxretries" => next.max_retries = integer(key, value, 0, u64::from(MAX_RETRIES))? as u32,
                "retrydelayms" => next.retry_delay_ms = integer(key, value, 0, 3_600_000)?,
                "backoffmultiplier" => {
                    next.backoff_multiplier = number(key, value, 1.0, 100.0, "use a number from 1 to 100, like 2")?
                }
                "maxdelayms" => next.max_delay_ms = integer(key, value, 0, 3_600_000)?,
                "jitter" => next.jitter = boolean(key, value)?,
                _ => return Err(unknown_key("retry policy", key, RETRY_KEYS)),
            }
        }
        Ok(next)
    }

    /// As [`RetryPolicy::merged_with`], from JSON text.
    pub fn merged_with_json(&self, json: &str) -> Result<RetryPolicy, Error> {
        let map = crate::setting_values::object(
            json,
            "retry policy",
            r#"{"maxRetries":3,"retryDelayMs":1000,"backoffMultiplier":2}"#,
        )?;
        self.merged_with(&map)
    }

    /// The delay before retry `k` (1-based) without jitter, in milliseconds.
    pub fn base_delay_ms(&self, k: u32) -> u64 {
        let exp = self.backoff_multiplier.powi(k.saturating_sub(1).min(i32::MAX as u32) as i32);
        let d = self.retry_delay_ms as f64 * exp;
        let cap = self.max_delay_ms as f64;
        if d.is_finite() && d < cap {
            d.round() as u64
        } else {
            self.max_delay_ms
        }
    }

    /// The delay before retry `k` (1-based): the base delay, spread by `unit` (a uniform
    /// value in `[0, 1)`) when jitter is on, never above `max_delay_ms`.
    pub fn delay(&self, k: u32, unit: f64) -> Duration {
        let base = self.base_delay_ms(k);
        if !self.jitter {
            return Duration::from_millis(base);
        }
        let factor = 1.0 - JITTER + 2.0 * JITTER * unit.clamp(0.0, 1.0);
        let ms = (base as f64 * factor).min(self.max_delay_ms as f64).max(0.0);
        Duration::from_micros((ms * 1000.0).round() as u64)
    }
}

/// A seedable source of uniform numbers for jitter and tests (SplitMix64: one atomic add
/// per number, no lock). Not for secrets: tokens use the OS generator.
pub struct Jitter {
    state: AtomicU64,
}

impl fmt::Debug for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jitter")
    }
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Jitter {
    /// A generator that gives the same numbers for the same seed.
    pub fn seeded(seed: u64) -> Jitter {
        Jitter { state: AtomicU64::new(seed) }
    }

    /// A generator seeded from the OS.
    pub fn from_os() -> Jitter {
        let mut bytes = [0u8; 8];
        // Jitter only spreads delays; if the OS generator fails, a time-based seed will do.
        let seed = match getrandom::getrandom(&mut bytes) {
            Ok(()) => u64::from_le_bytes(bytes),
            Err(_) => {
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
            }
        };
        Jitter::seeded(seed)
    }

    /// Re-seeds the generator.
    pub fn reseed(&self, seed: u64) {
        self.state.store(seed, Ordering::Relaxed);
    }

    /// The next 64 random bits.
    pub fn next_u64(&self) -> u64 {
        let mut z = self.state.fetch_add(GOLDEN_GAMMA, Ordering::Relaxed).wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform value in `[0, 1)`.
    pub fn next_unit(&self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Waits out retry delays. The hub uses [`ThreadSleeper`]; tests use [`ManualSleeper`],
/// which moves a [`ManualClock`] instead of waiting.
pub trait Sleeper: Send + Sync {
    /// Waits `delay` on the calling thread, unless `stop` says to give up: it is asked
    /// before the wait and whenever [`Sleeper::wake`] is called during it. Returns `true`
    /// when the whole delay passed, `false` when the sleep stopped early.
    fn sleep(&self, delay: Duration, stop: &dyn Fn() -> bool) -> bool;

    /// Wakes every sleep in progress to ask its `stop` again (after a caller set the flag
    /// that `stop` reads).
    fn wake(&self) {}
}

/// Sleeps on the calling thread; [`Sleeper::wake`] interrupts it.
#[derive(Debug, Default)]
pub struct ThreadSleeper {
    /// Bumped by every wake, so that a sleeper tells a wake from a spurious wake-up.
    wakes: Mutex<u64>,
    woken: Condvar,
}

impl Sleeper for ThreadSleeper {
    fn sleep(&self, delay: Duration, stop: &dyn Fn() -> bool) -> bool {
        let deadline = std::time::Instant::now() + delay;
        let mut wakes = self.wakes.lock();
        // `stop` is asked under the lock: a waker sets its flag before it takes the lock to
        // wake, so either this sees the flag or the wake finds this thread waiting.
        loop {
            if stop() {
                return false;
            }
            let seen = *wakes;
            while *wakes == seen {
                if self.woken.wait_until(&mut wakes, deadline).timed_out() {
                    return !stop();
                }
            }
        }
    }

    fn wake(&self) {
        *self.wakes.lock() += 1;
        self.woken.notify_all();
    }
}

/// Records each delay and advances a manual clock by it (rounded up to whole
/// milliseconds), returning at once.
pub struct ManualSleeper {
    clock: Arc<ManualClock>,
    delays: Mutex<Vec<Duration>>,
}

impl fmt::Debug for ManualSleeper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualSleeper").field("delays", &self.delays.lock().len()).finish()
    }
}

impl ManualSleeper {
    /// A sleeper that moves `clock`.
    pub fn new(clock: Arc<ManualClock>) -> ManualSleeper {
        ManualSleeper { clock, delays: Mutex::new(Vec::new()) }
    }

    /// The delays slept so far, and forgets them.
    pub fn take_delays(&self) -> Vec<Duration> {
        std::mem::take(&mut *self.delays.lock())
    }
}

impl Sleeper for ManualSleeper {
    /// Stops before the delay when `stop` says so already (nothing is recorded then).
    fn sleep(&self, delay: Duration, stop: &dyn Fn() -> bool) -> bool {
        if stop() {
            return false;
        }
        self.delays.lock().push(delay);
        let ms = (delay.as_micros() + 999) / 1000;
        self.clock.advance(i64::try_from(ms).unwrap_or(i64::MAX));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_policy_without_jitter_waits_1_2_4_seconds() {
        let p = RetryPolicy { jitter: false, ..RetryPolicy::default() };
        let delays: Vec<u64> = (1..=3).map(|k| p.delay(k, 0.5).as_millis() as u64).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000]);
    }

    #[test]
    fn max_delay_caps_every_delay_with_and_without_jitter() {
        let p = RetryPolicy { max_delay_ms: 3_000, ..RetryPolicy::default() };
        assert_eq!(p.base_delay_ms(3), 3_000);
        assert_eq!(p.base_delay_ms(60), 3_000);
        assert!(p.delay(3, 0.999).as_millis() <= 3_000);
        assert!(p.delay(200, 0.999).as_millis() <= 3_000);
    }

    #[test]
    fn same_seed_same_numbers_and_units_stay_in_range() {
        let (a, b) = (Jitter::seeded(7), Jitter::seeded(7));
        for _ in 0..1_000 {
            let u = a.next_unit();
            assert_eq!(u, b.next_unit());
            assert!((0.0..1.0).contains(&u));
        }
    }

    #[test]
    fn policy_merge_names_bad_values() {
        let p =
            RetryPolicy::default().merged_with_json(r#"{"MaxRetries":5,"RetryDelayMs":500,"BackoffMultiplier":1.5}"#);
        let p = p.unwrap();
        assert_eq!((p.max_retries, p.retry_delay_ms, p.backoff_multiplier), (5, 500, 1.5));
        for (json, key) in [
            (r#"{"maxRetries":101}"#, "maxRetries"),
            (r#"{"backoffMultiplier":0.5}"#, "backoffMultiplier"),
            (r#"{"jitter":"yes"}"#, "jitter"),
            (r#"{"retryDelay":5}"#, "retryDelay"),
        ] {
            let e = RetryPolicy::default().merged_with_json(json).unwrap_err();
            assert!(e.to_string().contains(key), "{json}: {e}");
        }
    }
}
