//! One circuit breaker, modelled on Polly v8's: a failure ratio over a sliding sampling
//! window, a minimum throughput below which it never trips, a break duration, then a
//! half-open state that lets a fixed number of trial calls (probes) through while every
//! other caller fails fast.
//!
//! ```text
//!            failures/throughput ≥ ratio            break duration passed
//!   Closed ───── and throughput ≥ minimum ─────► Open ──── (next caller) ────► HalfOpen
//!     ▲                                            ▲                              │
//!     │                                            └──── a probe fails ───────────┤
//!     └──────────────── the probes succeed ───────────────────────────────────────┘
//!   Isolated: held open by hand until reset.
//! ```
//!
//! Rejections (fast fails) change nothing but a counter: they never extend the break.
//! Time is the hub's clock in milliseconds, passed in by the caller, so tests drive it by hand.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::window::{Health, Window};
use crate::error::Error;
use crate::setting_values::{integer, number, unknown_key};
use crate::sync::{Arc, Mutex};
use crate::time_fmt::format_ms;

/// The state of a circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CircuitState {
    /// Calls flow; outcomes are counted in the sampling window.
    Closed,
    /// Calls fail fast until the break duration has passed.
    Open,
    /// Trial calls (probes) are let through; everyone else fails fast.
    HalfOpen,
    /// Held open by hand ([`Breaker::isolate`]) until reset.
    Isolated,
}

impl CircuitState {
    /// The name used in JSON and PowerShell.
    pub fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "Closed",
            CircuitState::Open => "Open",
            CircuitState::HalfOpen => "HalfOpen",
            CircuitState::Isolated => "Isolated",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a circuit breaker decides. JSON (camelCase, keys compare case-insensitively):
/// `{"failureThreshold":5,"failureRatio":0.5,"samplingDurationMs":30000,
/// "recoveryTimeoutMs":60000,"halfOpenProbes":1}`.
///
/// The spec's two settings map onto Polly's model like this: `FailureThreshold` is the
/// minimum throughput (calls in the sampling window before the breaker may trip), so a
/// dependency that is down trips it after exactly `FailureThreshold` failed calls, as in
/// version 1; with mixed results it trips once at least `FailureThreshold` calls were
/// counted and at least `FailureRatio` of them failed. `RecoveryTimeout` is the break
/// duration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerOptions {
    /// Calls the sampling window must hold before the breaker may trip (Polly's
    /// `MinimumThroughput`). 1 ..= 1,000,000; default 5.
    pub failure_threshold: u32,
    /// Fraction of failed calls in the window that trips the breaker (Polly's
    /// `FailureRatio`), more than 0 and at most 1; default 0.5.
    pub failure_ratio: f64,
    /// Length of the sliding window in milliseconds (Polly's `SamplingDuration`).
    /// 100 ..= 86,400,000; default 30,000.
    pub sampling_duration_ms: u64,
    /// How long the breaker stays open before it lets a probe through (Polly's
    /// `BreakDuration`; the spec's `RecoveryTimeout`). 1 ..= 86,400,000; default 60,000.
    pub recovery_timeout_ms: u64,
    /// Probes let through at once while half-open; that many must succeed to close it.
    /// 1 ..= 1,000; default 1.
    pub half_open_probes: u32,
}

impl Default for BreakerOptions {
    fn default() -> Self {
        BreakerOptions {
            failure_threshold: 5,
            failure_ratio: 0.5,
            sampling_duration_ms: 30_000,
            recovery_timeout_ms: 60_000,
            half_open_probes: 1,
        }
    }
}

const BREAKER_KEYS: &str = "failureThreshold, failureRatio, samplingDurationMs, recoveryTimeoutMs, halfOpenProbes";

impl BreakerOptions {
    /// A copy with the keys of a JSON object applied; an unknown key or a bad value fails
    /// naming it, and nothing changes.
    pub fn merged_with(&self, map: &serde_json::Map<String, Value>) -> Result<BreakerOptions, Error> {
        let mut next = *self;
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "failurethreshold" => next.failure_threshold = integer(key, value, 1, 1_000_000)? as u32,
                "failureratio" => {
                    next.failure_ratio =
                        number(key, value, 0.0, 1.0, "use a fraction above 0 and at most 1, like 0.5")?;
                    if next.failure_ratio <= 0.0 {
                        return Err(Error::invalid(key, value, "use a fraction above 0 and at most 1, like 0.5"));
                    }
                }
                "samplingdurationms" => next.sampling_duration_ms = integer(key, value, 100, 86_400_000)?,
                "recoverytimeoutms" => next.recovery_timeout_ms = integer(key, value, 1, 86_400_000)?,
                "halfopenprobes" => next.half_open_probes = integer(key, value, 1, 1_000)? as u32,
                _ => return Err(unknown_key("circuit breaker", key, BREAKER_KEYS)),
            }
        }
        Ok(next)
    }

    /// As [`BreakerOptions::merged_with`], from JSON text.
    pub fn merged_with_json(&self, json: &str) -> Result<BreakerOptions, Error> {
        let map = crate::setting_values::object(
            json,
            "circuit breaker options",
            r#"{"failureThreshold":5,"recoveryTimeoutMs":60000}"#,
        )?;
        self.merged_with(&map)
    }
}

/// What a finished attempt tells the breaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded.
    Success,
    /// The dependency failed (a timeout, an unavailable service, a handler failure); the
    /// text is kept as the breaker's last error.
    Failure(String),
    /// Neither: the caller's own mistake (validation, authentication, not found). Not
    /// counted; a probe that ends this way frees its slot for the next caller.
    Neutral,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermitKind {
    Normal,
    Probe { round: u64 },
}

#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    successes: u64,
    failures: u64,
    rejected: u64,
    times_opened: u64,
}

#[derive(Debug)]
struct Inner {
    options: BreakerOptions,
    custom: bool,
    state: CircuitState,
    window: Window,
    /// Open: when a probe may go. HalfOpen: when probes still out are given up on.
    until_ms: i64,
    opened_at_ms: Option<i64>,
    probes_out: u32,
    probe_successes: u32,
    probe_round: u64,
    /// Bumped by reset and by new options: outcomes of calls admitted before are not counted.
    epoch: u64,
    last_failure: Option<(i64, String)>,
    last_change_ms: i64,
    totals: Totals,
}

impl Inner {
    fn open(&mut self, now_ms: i64) {
        self.state = CircuitState::Open;
        self.until_ms = now_ms.saturating_add(self.options.recovery_timeout_ms as i64);
        self.opened_at_ms = Some(now_ms);
        self.probes_out = 0;
        self.probe_successes = 0;
        self.last_change_ms = now_ms;
        self.totals.times_opened += 1;
    }

    fn close(&mut self, now_ms: i64) {
        self.state = CircuitState::Closed;
        self.window.clear();
        self.opened_at_ms = None;
        self.probes_out = 0;
        self.probe_successes = 0;
        self.last_change_ms = now_ms;
    }

    fn start_probe_round(&mut self, now_ms: i64) -> PermitKind {
        self.state = CircuitState::HalfOpen;
        self.probe_round += 1;
        self.probes_out = 1;
        self.probe_successes = 0;
        // A probe that never reports (a hung handler) is given up on after one break
        // duration, so the breaker cannot stay half-open for ever.
        self.until_ms = now_ms.saturating_add(self.options.recovery_timeout_ms as i64);
        self.last_change_ms = now_ms;
        PermitKind::Probe { round: self.probe_round }
    }
}

/// A circuit breaker for one `Module.Operation`. Thread-safe; every method takes the
/// current time from the caller.
pub struct Breaker {
    key: String,
    inner: Mutex<Inner>,
}

impl fmt::Debug for Breaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Breaker").field("key", &self.key).field("state", &self.inner.lock().state).finish()
    }
}

/// Leave to run one attempt. Report its outcome with [`Permit::record`]; dropping it
/// unreported counts as [`Outcome::Neutral`].
#[must_use = "report the attempt's outcome with Permit::record"]
pub struct Permit {
    breaker: Arc<Breaker>,
    kind: PermitKind,
    epoch: u64,
    done: bool,
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").field("key", &self.breaker.key).field("probe", &self.is_probe()).finish()
    }
}

impl Permit {
    /// Whether this attempt is a half-open probe.
    pub fn is_probe(&self) -> bool {
        matches!(self.kind, PermitKind::Probe { .. })
    }

    /// Reports the attempt's outcome at `now_ms`.
    pub fn record(mut self, now_ms: i64, outcome: Outcome) {
        self.done = true;
        self.breaker.record(self.kind, self.epoch, now_ms, outcome);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.record(self.kind, self.epoch, i64::MIN, Outcome::Neutral);
        }
    }
}

/// Why a call was not let through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// `Module.Operation`.
    pub key: String,
    /// Open, HalfOpen (probes are out) or Isolated.
    pub state: CircuitState,
    /// When a call may go through again (`None` while isolated).
    pub retry_at_ms: Option<i64>,
    /// Milliseconds from the rejection to `retry_at_ms`.
    pub retry_in_ms: Option<i64>,
    /// The failure that opened it, if any.
    pub last_error: Option<String>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let cause = self.last_error.as_deref().map(|e| format!(" (last failure: {e})")).unwrap_or_default();
        match (self.state, self.retry_at_ms, self.retry_in_ms) {
            (CircuitState::Isolated, ..) => write!(
                f,
                "{key}: the circuit breaker is isolated (held open by hand), so the call was not made{cause}. \
                 Close it with Reset-CircuitBreaker -OperationName '{key}' (mc_breaker_reset)."
            ),
            (state, Some(at), Some(ms)) => {
                let what = if state == CircuitState::HalfOpen {
                    "is half-open and its trial call is still running"
                } else {
                    "is open after repeated failures"
                };
                write!(
                    f,
                    "{key}: the circuit breaker {what}, so the call failed fast without being made{cause}. \
                     It lets a trial call through at {} (in {:.1} s); to retry at once, reset it with \
                     Reset-CircuitBreaker -OperationName '{key}' (mc_breaker_reset).",
                    format_ms(at),
                    ms as f64 / 1000.0
                )
            }
            _ => write!(f, "{key}: the circuit breaker is open, so the call was not made{cause}."),
        }
    }
}

/// A snapshot of one breaker, as `Get-CircuitBreakerStatus` and `mc_breaker_status` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BreakerStatus {
    /// `Module.Operation`, as first seen.
    pub operation: String,
    /// The state at the snapshot.
    pub state: CircuitState,
    /// Percentage of counted calls that succeeded since the breaker was created or last
    /// reset (100 when none was counted).
    pub success_rate: f64,
    /// Failures / calls in the sampling window now (0 when it is empty).
    pub failure_ratio: f64,
    /// Calls counted in the sampling window now.
    pub throughput: u64,
    /// Failures in the sampling window now.
    pub failures_in_window: u64,
    /// Calls that counted (succeeded or failed) since creation or the last reset; calls
    /// still running and those ended by the caller's own mistake are not among them.
    pub total_calls: u64,
    /// Of those, how many failed.
    pub total_failures: u64,
    /// Calls that failed fast.
    pub rejected: u64,
    /// How often it opened.
    pub times_opened: u64,
    /// When it last opened (ISO 8601), while open or half-open.
    #[serde(serialize_with = "crate::time_fmt::serialize_opt_ms")]
    pub opened_at: Option<i64>,
    /// When it lets a trial call through (ISO 8601), while open.
    #[serde(serialize_with = "crate::time_fmt::serialize_opt_ms")]
    pub half_open_at: Option<i64>,
    /// Milliseconds until then (0 when a probe may go now), while open.
    pub ms_until_half_open: Option<i64>,
    /// When the last counted failure happened.
    #[serde(serialize_with = "crate::time_fmt::serialize_opt_ms")]
    pub last_failure: Option<i64>,
    /// Its message.
    pub last_error: Option<String>,
    /// When the state last changed.
    #[serde(serialize_with = "crate::time_fmt::serialize_ms")]
    pub last_state_change: i64,
    /// Whether the options were set for this operation alone.
    pub custom_options: bool,
    /// The options in force.
    pub options: BreakerOptions,
}

impl Breaker {
    /// A closed breaker for `key` created at `now_ms`.
    pub fn new(key: impl Into<String>, options: BreakerOptions, custom: bool, now_ms: i64) -> Breaker {
        Breaker {
            key: key.into(),
            inner: Mutex::new(Inner {
                options,
                custom,
                state: CircuitState::Closed,
                window: Window::new(options.sampling_duration_ms),
                until_ms: 0,
                opened_at_ms: None,
                probes_out: 0,
                probe_successes: 0,
                probe_round: 0,
                epoch: 0,
                last_failure: None,
                last_change_ms: now_ms,
                totals: Totals::default(),
            }),
        }
    }

    /// `Module.Operation`, as first seen.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The stored state (an open breaker whose break has passed reads `Open` here until the
    /// next caller turns it half-open; [`Breaker::status`] already reports it `HalfOpen`).
    pub fn state(&self) -> CircuitState {
        self.inner.lock().state
    }

    /// Asks to run one attempt at `now_ms`. Cheap either way: a rejection takes one lock
    /// and changes only the rejection counter.
    pub fn try_acquire(self: &Arc<Self>, now_ms: i64) -> Result<Permit, Rejection> {
        let mut s = self.inner.lock();
        let kind = match s.state {
            CircuitState::Closed => PermitKind::Normal,
            CircuitState::Open if now_ms >= s.until_ms => s.start_probe_round(now_ms),
            CircuitState::HalfOpen if s.probes_out + s.probe_successes < s.options.half_open_probes => {
                s.probes_out += 1;
                PermitKind::Probe { round: s.probe_round }
            }
            CircuitState::HalfOpen if now_ms >= s.until_ms => s.start_probe_round(now_ms),
            state => {
                s.totals.rejected += 1;
                let retry_at = (state != CircuitState::Isolated).then_some(s.until_ms);
                return Err(Rejection {
                    key: self.key.clone(),
                    state,
                    retry_at_ms: retry_at,
                    retry_in_ms: retry_at.map(|at| at.saturating_sub(now_ms).max(0)),
                    last_error: s.last_failure.as_ref().map(|(_, e)| e.clone()),
                });
            }
        };
        let epoch = s.epoch;
        drop(s);
        Ok(Permit { breaker: Arc::clone(self), kind, epoch, done: false })
    }

    fn record(&self, kind: PermitKind, epoch: u64, now_ms: i64, outcome: Outcome) {
        // Shown by the status and in other callers' CircuitOpen errors: no secrets.
        let outcome = match outcome {
            Outcome::Failure(mut m) => {
                crate::metrics::redact_in_place(&mut m);
                Outcome::Failure(m)
            }
            other => other,
        };
        let mut s = self.inner.lock();
        let current = epoch == s.epoch;
        match &outcome {
            Outcome::Success if current => s.totals.successes += 1,
            Outcome::Failure(_) if current => s.totals.failures += 1,
            _ => {}
        }
        if !current {
            return;
        }
        match kind {
            PermitKind::Normal => match outcome {
                Outcome::Success => s.window.record(now_ms, true),
                Outcome::Failure(message) => {
                    s.window.record(now_ms, false);
                    s.last_failure = Some((now_ms, message));
                    // Open, half-open or isolated: a late failure of a call admitted before
                    // is counted, but never extends the break (Polly does the same).
                    if s.state == CircuitState::Closed {
                        let health: Health = s.window.health(now_ms);
                        if health.throughput() >= u64::from(s.options.failure_threshold)
                            && health.failure_ratio() >= s.options.failure_ratio
                        {
                            s.open(now_ms);
                        }
                    }
                }
                Outcome::Neutral => {}
            },
            PermitKind::Probe { round } => {
                if s.state != CircuitState::HalfOpen || round != s.probe_round {
                    // A probe given up on, or one that finished after the round ended.
                    if let Outcome::Failure(message) = outcome {
                        s.last_failure = Some((now_ms, message));
                    }
                    return;
                }
                s.probes_out = s.probes_out.saturating_sub(1);
                match outcome {
                    Outcome::Success => {
                        s.probe_successes += 1;
                        if s.probe_successes >= s.options.half_open_probes {
                            s.close(now_ms);
                        }
                    }
                    Outcome::Failure(message) => {
                        s.last_failure = Some((now_ms, message));
                        s.open(now_ms);
                    }
                    Outcome::Neutral => {}
                }
            }
        }
    }

    /// Closes the breaker and forgets its counts and last error (keeps custom options).
    /// Calls admitted before the reset are not counted when they finish.
    pub fn reset(&self, now_ms: i64) {
        let mut s = self.inner.lock();
        s.epoch += 1;
        s.close(now_ms);
        s.last_failure = None;
        s.totals = Totals::default();
        s.until_ms = 0;
    }

    /// Holds the breaker open until [`Breaker::reset`]: every call fails fast.
    pub fn isolate(&self, now_ms: i64) {
        let mut s = self.inner.lock();
        if s.state != CircuitState::Isolated {
            s.state = CircuitState::Isolated;
            s.opened_at_ms = Some(now_ms);
            s.probes_out = 0;
            s.probe_successes = 0;
            s.last_change_ms = now_ms;
        }
    }

    /// Replaces the options. The window restarts when its length changes.
    pub(crate) fn set_options(&self, options: BreakerOptions, custom: bool) {
        let mut s = self.inner.lock();
        if options.sampling_duration_ms != s.options.sampling_duration_ms {
            s.window = Window::new(options.sampling_duration_ms);
        }
        s.options = options;
        s.custom = custom;
    }

    /// Whether the options were set for this breaker alone.
    pub(crate) fn is_custom(&self) -> bool {
        self.inner.lock().custom
    }

    /// A snapshot at `now_ms`. An open breaker whose break has passed reports `HalfOpen`:
    /// the next call is let through as a trial, which is what the state means to a reader.
    pub fn status(&self, now_ms: i64) -> BreakerStatus {
        let mut s = self.inner.lock();
        let health = s.window.health(now_ms);
        let counted = s.totals.successes + s.totals.failures;
        let state = if s.state == CircuitState::Open && now_ms >= s.until_ms { CircuitState::HalfOpen } else { s.state };
        let open = state == CircuitState::Open;
        BreakerStatus {
            operation: self.key.clone(),
            state,
            success_rate: if counted == 0 { 100.0 } else { s.totals.successes as f64 * 100.0 / counted as f64 },
            failure_ratio: health.failure_ratio(),
            throughput: health.throughput(),
            failures_in_window: health.failures,
            total_calls: counted,
            total_failures: s.totals.failures,
            rejected: s.totals.rejected,
            times_opened: s.totals.times_opened,
            opened_at: if s.state == CircuitState::Closed { None } else { s.opened_at_ms },
            half_open_at: open.then_some(s.until_ms),
            ms_until_half_open: open.then(|| s.until_ms.saturating_sub(now_ms).max(0)),
            last_failure: s.last_failure.as_ref().map(|(t, _)| *t),
            last_error: s.last_failure.as_ref().map(|(_, e)| e.clone()),
            last_state_change: s.last_change_ms,
            custom_options: s.custom,
            options: s.options,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(threshold: u32, ratio: f64) -> Arc<Breaker> {
        let options =
            BreakerOptions { failure_threshold: threshold, failure_ratio: ratio, ..BreakerOptions::default() };
        Arc::new(Breaker::new("Svc.Op", options, false, 0))
    }

    fn fail(b: &Arc<Breaker>, now: i64) {
        b.try_acquire(now).unwrap().record(now, Outcome::Failure("boom".into()));
    }

    #[test]
    fn options_merge_names_bad_values_and_unknown_keys() {
        let o =
            BreakerOptions::default().merged_with_json(r#"{"FailureThreshold":10,"recoveryTimeoutMs":30000}"#).unwrap();
        assert_eq!((o.failure_threshold, o.recovery_timeout_ms), (10, 30_000));
        for (json, key) in [
            (r#"{"failureRatio":0}"#, "failureRatio"),
            (r#"{"failureRatio":1.5}"#, "failureRatio"),
            (r#"{"failureThreshold":0}"#, "failureThreshold"),
            (r#"{"samplingDurationMs":5}"#, "samplingDurationMs"),
            (r#"{"bogus":1}"#, "bogus"),
        ] {
            let e = BreakerOptions::default().merged_with_json(json).unwrap_err();
            assert!(e.to_string().contains(key), "{json}: {e}");
        }
    }

    #[test]
    fn dropping_a_permit_counts_as_neutral() {
        let b = breaker(1, 0.5);
        b.clone().try_acquire(0).map(drop).unwrap();
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.status(0).throughput, 0);
    }

    #[test]
    fn a_late_failure_while_open_does_not_extend_the_break() {
        let b = breaker(2, 0.5);
        let early = b.try_acquire(0).unwrap();
        fail(&b, 0);
        fail(&b, 0);
        assert_eq!(b.state(), CircuitState::Open);
        early.record(30_000, Outcome::Failure("late".into()));
        assert_eq!(b.status(30_000).half_open_at, Some(60_000));
    }

    #[test]
    fn rejection_message_says_when_it_will_retry() {
        let b = breaker(1, 0.5);
        fail(&b, 1_000);
        let r = b.try_acquire(2_000).unwrap_err();
        assert_eq!(r.retry_at_ms, Some(61_000));
        assert_eq!(r.retry_in_ms, Some(59_000));
        let text = r.to_string();
        assert!(text.contains("in 59.0 s") && text.contains("last failure: boom"), "{text}");
        assert!(text.contains("Reset-CircuitBreaker -OperationName 'Svc.Op'"), "{text}");
    }
}
