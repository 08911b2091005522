//! Resilience: a circuit breaker per `Module.Operation`, and retry with exponential backoff
//! and jitter for failures that a retry can help.
//!
//! The breaker and the retry loop work together on each attempt, not each call: the
//! breaker admits the call (or fails it fast), every attempt's outcome is counted in the
//! breaker's window, and before each retry the breaker is asked again, so retries stop as
//! soon as it opens. A dependency that is down therefore costs at most `failureThreshold`
//! handler calls, then one trial call per break, however many retries callers ask for.
//!
//! ```
//! use std::sync::Arc;
//! use module_communication::{ManualClock, resilience::{ManualSleeper, Resilience, Verdict}};
//!
//! let clock = Arc::new(ManualClock::new(0));
//! let r = Resilience::new(clock.clone());
//! let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
//! r.set_sleeper(sleeper.clone());
//! r.set_jitter_seed(1);
//! let mut calls = 0;
//! let (result, attempts) = r.execute(None, 3, |_| {
//!     calls += 1;
//!     if calls < 3 { Err("busy") } else { Ok(calls) }
//! }, |e: &&str| Verdict::Retry(e.to_string()), |_, e| e.unwrap_or("open"));
//! assert_eq!((result, attempts), (Ok(3), 3));
//! assert_eq!(sleeper.take_delays().len(), 2);
//! ```

mod breaker;
mod retry;
pub(crate) mod settings;
mod window;

use std::collections::HashMap;
use std::fmt;

pub use breaker::{Breaker, BreakerOptions, BreakerStatus, CircuitState, Outcome, Permit, Rejection};
pub use retry::{Jitter, ManualSleeper, RetryPolicy, Sleeper, ThreadSleeper, JITTER, MAX_RETRIES};

use crate::clock::Clock;
use crate::error::Error;
use crate::sync::{Arc, AtomicU64, Ordering, RwLock};
use crate::wildcard::{fold, has_wildcard_chars, Pattern};

/// How the retry loop treats a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A transient failure (timeout, connection, network, unavailable, busy): counted by
    /// the breaker, and retried while retries are left.
    Retry(String),
    /// A failure of the dependency that a retry will not fix (the handler threw): counted
    /// by the breaker, not retried.
    Fail(String),
    /// The caller's own mistake (validation, authentication, authorization, not found):
    /// neither counted nor retried.
    Neutral,
}

/// Why a breaker operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResilienceError {
    /// A bad argument (a malformed pattern, bad options JSON…).
    Invalid(Error),
    /// No circuit breaker exists for that operation (it has not been called yet).
    BreakerNotFound {
        /// The name as the caller gave it.
        operation: String,
    },
}

impl From<Error> for ResilienceError {
    fn from(e: Error) -> Self {
        ResilienceError::Invalid(e)
    }
}

impl fmt::Display for ResilienceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResilienceError::Invalid(e) => fmt::Display::fmt(e, f),
            ResilienceError::BreakerNotFound { operation } => write!(
                f,
                "there is no circuit breaker for '{operation}': a breaker is created by the first call of an API; \
                 list the existing ones with Get-CircuitBreakerStatus (mc_breaker_status)"
            ),
        }
    }
}

impl std::error::Error for ResilienceError {}

/// Counters of the retry loop, over every call of the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryStats {
    /// Attempts made (first attempts and retries).
    pub attempts: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Calls that failed after using every retry they had.
    pub exhausted: u64,
    /// Retries not made because the circuit breaker had opened.
    pub stopped_by_breaker: u64,
}

#[derive(Default)]
struct Counters {
    attempts: AtomicU64,
    retries: AtomicU64,
    exhausted: AtomicU64,
    stopped_by_breaker: AtomicU64,
}

/// The hub's breakers, breaker defaults, retry policy, jitter and sleeper.
pub struct Resilience {
    clock: Arc<dyn Clock>,
    breakers: RwLock<HashMap<String, Arc<Breaker>>>,
    defaults: RwLock<BreakerOptions>,
    retry: RwLock<RetryPolicy>,
    jitter: Jitter,
    sleeper: RwLock<Arc<dyn Sleeper>>,
    counters: Counters,
}

impl fmt::Debug for Resilience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resilience")
            .field("breakers", &self.breakers.read().len())
            .field("defaults", &*self.defaults.read())
            .field("retry", &*self.retry.read())
            .finish_non_exhaustive()
    }
}

fn pattern(p: &str) -> Result<Pattern, ResilienceError> {
    Pattern::new(p).map_err(|reason| ResilienceError::Invalid(Error::invalid("operation pattern", p, reason)))
}

impl Resilience {
    /// Default breakers and retry policy, times from `clock`, real sleeps, OS-seeded jitter.
    pub fn new(clock: Arc<dyn Clock>) -> Resilience {
        Resilience {
            clock,
            breakers: RwLock::new(HashMap::new()),
            defaults: RwLock::new(BreakerOptions::default()),
            retry: RwLock::new(RetryPolicy::default()),
            jitter: Jitter::from_os(),
            sleeper: RwLock::new(Arc::new(ThreadSleeper::default())),
            counters: Counters::default(),
        }
    }

    /// The current time of the hub's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Replaces the sleeper that waits out retry delays (tests pass a [`ManualSleeper`]).
    pub fn set_sleeper(&self, sleeper: Arc<dyn Sleeper>) {
        *self.sleeper.write() = sleeper;
    }

    /// Wakes every retry delay being waited out, so that the calls whose `stop` now says so
    /// (see [`Resilience::execute_until`]) stop waiting.
    pub fn wake_sleepers(&self) {
        let sleeper = Arc::clone(&*self.sleeper.read());
        sleeper.wake();
    }

    /// Re-seeds the jitter, for reproducible delays.
    pub fn set_jitter_seed(&self, seed: u64) {
        self.jitter.reseed(seed);
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        *self.retry.read()
    }

    /// Replaces the retry policy.
    pub fn set_retry_policy(&self, policy: RetryPolicy) {
        *self.retry.write() = policy;
    }

    /// The options of breakers that have no options of their own.
    pub fn default_breaker_options(&self) -> BreakerOptions {
        *self.defaults.read()
    }

    /// Replaces the default options, for new breakers and for every existing breaker that
    /// has no options of its own.
    pub fn set_default_breaker_options(&self, options: BreakerOptions) {
        *self.defaults.write() = options;
        for b in self.breakers.read().values() {
            if !b.is_custom() {
                b.set_options(options, false);
            }
        }
    }

    /// The breaker of `key` (`Module.Operation`, compared case-insensitively), created
    /// closed with the default options when it does not exist.
    pub fn breaker(&self, key: &str) -> Arc<Breaker> {
        let folded = fold(key);
        if let Some(b) = self.breakers.read().get(&folded) {
            return Arc::clone(b);
        }
        let mut map = self.breakers.write();
        let defaults = *self.defaults.read();
        let now = self.clock.now_ms();
        Arc::clone(map.entry(folded).or_insert_with(|| Arc::new(Breaker::new(key, defaults, false, now))))
    }

    /// The breaker of `key` if it exists.
    pub fn find(&self, key: &str) -> Option<Arc<Breaker>> {
        self.breakers.read().get(&fold(key)).cloned()
    }

    /// Sets options for one operation's breaker (creating it), or with `None` returns it
    /// to the defaults.
    pub fn set_breaker_options(&self, key: &str, options: Option<BreakerOptions>) -> Result<(), ResilienceError> {
        check_key(key)?;
        let b = self.breaker(key);
        match options {
            Some(o) => b.set_options(o, true),
            None => b.set_options(*self.defaults.read(), false),
        }
        Ok(())
    }

    /// Forgets the breaker of `key` (its API was unregistered) unless it was set by hand. One
    /// with options of its own (`set_breaker_options`) or isolated guards a dependency, not one
    /// registration, so a module that reloads its API finds it as it was left. Returns whether
    /// it was forgotten.
    pub fn forget_unless_set_by_hand(&self, key: &str) -> bool {
        let folded = fold(key);
        let mut map = self.breakers.write();
        match map.get(&folded) {
            Some(b) if b.is_custom() || b.state() == CircuitState::Isolated => false,
            Some(_) => map.remove(&folded).is_some(),
            None => false,
        }
    }

    fn matching(&self, pat: Option<&str>) -> Result<Vec<Arc<Breaker>>, ResilienceError> {
        let p = pat.map(pattern).transpose()?;
        let mut list: Vec<(String, Arc<Breaker>)> = self
            .breakers
            .read()
            .iter()
            .filter(|(_, b)| p.as_ref().map_or(true, |p| p.is_match(b.key())))
            .map(|(k, b)| (k.clone(), Arc::clone(b)))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(list.into_iter().map(|(_, b)| b).collect())
    }

    /// Snapshots of the breakers whose operation matches the `-like` pattern (all when
    /// `None`), sorted by operation.
    pub fn statuses(&self, pat: Option<&str>) -> Result<Vec<BreakerStatus>, ResilienceError> {
        let now = self.clock.now_ms();
        Ok(self.matching(pat)?.iter().map(|b| b.status(now)).collect())
    }

    /// Resets (closes, forgets counts) the breakers matching the pattern; `None` resets
    /// all. A plain name that has no breaker is [`ResilienceError::BreakerNotFound`]; a
    /// wildcard that matches none resets none. Returns how many were reset.
    pub fn reset(&self, pat: Option<&str>) -> Result<usize, ResilienceError> {
        let list = self.matching(pat)?;
        if let Some(p) = pat {
            if list.is_empty() && !has_wildcard_chars(p) {
                return Err(ResilienceError::BreakerNotFound { operation: p.to_owned() });
            }
        }
        let now = self.clock.now_ms();
        for b in &list {
            b.reset(now);
        }
        Ok(list.len())
    }

    /// Holds the breaker of `key` open (creating it) until it is reset.
    pub fn isolate(&self, key: &str) -> Result<(), ResilienceError> {
        check_key(key)?;
        self.breaker(key).isolate(self.clock.now_ms());
        Ok(())
    }

    /// Counters of the retry loop.
    pub fn retry_stats(&self) -> RetryStats {
        let c = &self.counters;
        RetryStats {
            attempts: c.attempts.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            exhausted: c.exhausted.load(Ordering::Relaxed),
            stopped_by_breaker: c.stopped_by_breaker.load(Ordering::Relaxed),
        }
    }

    /// Runs `attempt` up to `1 + retries` times (`attempt` gets the 0-based attempt
    /// number) under the retry policy, with `breaker` counting every attempt.
    ///
    /// With a breaker, the first attempt runs under `first` when given (a permit the
    /// caller already obtained), else under a permit asked for here; every later attempt
    /// asks the breaker again, and when it refuses, `rejected(rejection, last_error)`
    /// makes the call's error (`last_error` is `None` when not even the first attempt
    /// was let through) and the loop stops. `classify` decides for each error
    /// whether it is retried and how the breaker counts it. Returns the result and the
    /// number of attempts made.
    pub fn execute<T, E>(
        &self,
        breaker: Option<(&Arc<Breaker>, Option<Permit>)>,
        retries: u32,
        attempt: impl FnMut(u32) -> Result<T, E>,
        classify: impl Fn(&E) -> Verdict,
        rejected: impl FnOnce(Rejection, Option<E>) -> E,
    ) -> (Result<T, E>, u32) {
        self.execute_until(breaker, retries, attempt, classify, rejected, &|| false, |e| e)
    }

    /// As [`Resilience::execute`], for a call its caller may stop: `stop` is asked before
    /// each retry delay and whenever [`Resilience::wake_sleepers`] wakes it during one. Once
    /// it says so, no further attempt runs (nor is counted) and the call fails with
    /// `stopped(last_error)`.
    pub fn execute_until<T, E>(
        &self,
        breaker: Option<(&Arc<Breaker>, Option<Permit>)>,
        retries: u32,
        mut attempt: impl FnMut(u32) -> Result<T, E>,
        classify: impl Fn(&E) -> Verdict,
        rejected: impl FnOnce(Rejection, Option<E>) -> E,
        stop: &dyn Fn() -> bool,
        stopped: impl FnOnce(E) -> E,
    ) -> (Result<T, E>, u32) {
        let policy = *self.retry.read();
        let (breaker, mut permit) = match breaker {
            Some((b, p)) => (Some(b), p),
            None => (None, None),
        };
        if let (Some(b), None) = (breaker, &permit) {
            match b.try_acquire(self.clock.now_ms()) {
                Ok(p) => permit = Some(p),
                Err(rejection) => return (Err(rejected(rejection, None)), 0),
            }
        }
        let mut k = 0u32;
        loop {
            self.counters.attempts.fetch_add(1, Ordering::Relaxed);
            if k > 0 {
                self.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
            let result = attempt(k);
            k += 1;
            let error = match result {
                Ok(v) => {
                    if let Some(p) = permit.take() {
                        p.record(self.clock.now_ms(), Outcome::Success);
                    }
                    return (Ok(v), k);
                }
                Err(e) => e,
            };
            let verdict = classify(&error);
            let retryable = matches!(verdict, Verdict::Retry(_));
            if let Some(p) = permit.take() {
                p.record(
                    self.clock.now_ms(),
                    match verdict {
                        Verdict::Retry(m) | Verdict::Fail(m) => Outcome::Failure(m),
                        Verdict::Neutral => Outcome::Neutral,
                    },
                );
            }
            if !retryable {
                return (Err(error), k);
            }
            if k > retries {
                self.counters.exhausted.fetch_add(1, Ordering::Relaxed);
                return (Err(error), k);
            }
            let delay = policy.delay(k, if policy.jitter { self.jitter.next_unit() } else { 0.0 });
            let sleeper = Arc::clone(&*self.sleeper.read());
            if !sleeper.sleep(delay, stop) {
                return (Err(stopped(error)), k);
            }
            if let Some(b) = breaker {
                match b.try_acquire(self.clock.now_ms()) {
                    Ok(p) => permit = Some(p),
                    Err(rejection) => {
                        self.counters.stopped_by_breaker.fetch_add(1, Ordering::Relaxed);
                        return (Err(rejected(rejection, Some(error))), k);
                    }
                }
            }
        }
    }
}

/// A breaker's key names one API: `Module.Operation`, as the registry spells API keys.
fn check_key(key: &str) -> Result<(), ResilienceError> {
    let parts_named = key.rsplit_once('.').is_some_and(|(m, o)| !m.trim().is_empty() && !o.trim().is_empty());
    let too_long = key.chars().count() > 2 * crate::registry::NAME_MAX_CHARS + 1;
    if !parts_named || too_long || has_wildcard_chars(key) || key.chars().any(char::is_control) {
        return Err(ResilienceError::Invalid(Error::invalid(
            "operation name",
            key.escape_debug(),
            "give one operation as Module.Operation, without wildcards",
        )));
    }
    Ok(())
}
