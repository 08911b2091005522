//! Circuit breakers and retry, driven by a manual clock and a manual sleeper: no test
//! sleeps, every delay is checked exactly.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use module_communication::resilience::{
    Breaker, BreakerOptions, CircuitState, Jitter, ManualSleeper, Outcome, Resilience, ResilienceError, RetryPolicy,
    Verdict, JITTER,
};
use module_communication::{Hub, ManualClock};

fn options(threshold: u32, ratio: f64) -> BreakerOptions {
    BreakerOptions { failure_threshold: threshold, failure_ratio: ratio, ..BreakerOptions::default() }
}

fn breaker(threshold: u32, ratio: f64) -> Arc<Breaker> {
    Arc::new(Breaker::new("Svc.Op", options(threshold, ratio), false, 0))
}

fn succeed(b: &Arc<Breaker>, now: i64) {
    b.try_acquire(now).expect("admitted").record(now, Outcome::Success);
}

fn fail(b: &Arc<Breaker>, now: i64) {
    b.try_acquire(now).expect("admitted").record(now, Outcome::Failure("down".into()));
}

/// A resilience core on a manual clock whose sleeps move the clock.
fn manual() -> (Arc<ManualClock>, Resilience, Arc<ManualSleeper>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let r = Resilience::new(clock.clone());
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    r.set_sleeper(sleeper.clone());
    r.set_jitter_seed(42);
    (clock, r, sleeper)
}

// ----- circuit breaker ------------------------------------------------------------------

#[test]
fn breaker_opens_exactly_when_the_ratio_is_reached_with_enough_throughput() {
    // Threshold 4 calls, ratio 0.5: S F S F opens on the fourth call (2/4 = 0.5), not before.
    let b = breaker(4, 0.5);
    succeed(&b, 0);
    fail(&b, 0);
    succeed(&b, 0);
    assert_eq!(b.state(), CircuitState::Closed);
    fail(&b, 0);
    assert_eq!(b.state(), CircuitState::Open);

    // Just below the ratio never opens: 1 failure in 3 calls repeated (0.33 < 0.5).
    let b = breaker(4, 0.5);
    for _ in 0..100 {
        succeed(&b, 0);
        succeed(&b, 0);
        fail(&b, 0);
    }
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn breaker_never_opens_below_the_minimum_throughput() {
    let b = breaker(5, 0.5);
    for _ in 0..4 {
        fail(&b, 0);
    }
    assert_eq!(b.state(), CircuitState::Closed, "4 failures, ratio 1.0, but throughput 4 < 5");
    assert_eq!(b.status(0).throughput, 4);
    fail(&b, 0);
    assert_eq!(b.state(), CircuitState::Open, "the fifth failure reaches the threshold");
}

#[test]
fn sliding_window_forgets_old_failures() {
    let b = breaker(5, 0.5); // sampling 30 s
    for _ in 0..4 {
        fail(&b, 0);
    }
    // 30 s later the four failures have left the window: one more failure is 1 of 1.
    fail(&b, 30_000);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.status(30_000).throughput, 1);
    // Failures spread inside one window still add up.
    for t in [31_000, 32_000, 33_000, 34_000] {
        fail(&b, t);
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn open_breaker_lets_one_probe_through_after_the_break_and_a_success_closes_it() {
    let b = breaker(1, 0.5);
    fail(&b, 0);
    assert!(b.try_acquire(59_999).is_err(), "still within the 60 s break");
    assert_eq!(b.status(59_999).state, CircuitState::Open);
    let due = b.status(60_000);
    assert_eq!(due.state, CircuitState::HalfOpen, "the next call is a trial, so the status says HalfOpen");
    assert_eq!((due.half_open_at, due.ms_until_half_open), (None, None));
    let probe = b.try_acquire(60_000).expect("the break has passed");
    assert!(probe.is_probe());
    assert_eq!(b.state(), CircuitState::HalfOpen);
    assert!(b.try_acquire(60_001).is_err(), "others fail fast while the probe runs");
    probe.record(60_002, Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
    assert_eq!(b.status(60_002).throughput, 0, "closing starts a fresh window");
}

#[test]
fn failed_probe_reopens_for_a_full_break() {
    let b = breaker(1, 0.5);
    fail(&b, 0);
    b.try_acquire(60_000).unwrap().record(60_500, Outcome::Failure("still down".into()));
    assert_eq!(b.state(), CircuitState::Open);
    let st = b.status(60_500);
    assert_eq!(st.half_open_at, Some(120_500));
    assert_eq!(st.ms_until_half_open, Some(60_000));
    assert_eq!(st.last_error.as_deref(), Some("still down"));
    assert_eq!(st.times_opened, 2);
}

#[test]
fn rejections_never_extend_the_break() {
    let b = breaker(1, 0.5);
    fail(&b, 0);
    for t in (0..60_000).step_by(1_000) {
        assert!(b.try_acquire(t).is_err());
    }
    assert!(b.try_acquire(60_000).is_ok(), "60 rejections did not move the 60 s break");
    assert_eq!(b.status(60_000).rejected, 60);
}

#[test]
fn exactly_one_probe_under_eight_concurrent_callers() {
    let b = breaker(1, 0.5);
    fail(&b, 0);
    let barrier = Arc::new(Barrier::new(8));
    let admitted = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (b, barrier, admitted) = (b.clone(), barrier.clone(), admitted.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let p = b.try_acquire(60_000).ok();
                if p.is_some() {
                    admitted.fetch_add(1, Ordering::SeqCst);
                }
                p
            })
        })
        .collect();
    let permits: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(admitted.load(Ordering::SeqCst), 1);
    assert_eq!(b.status(60_000).rejected, 7);
    drop(permits);
}

#[test]
fn configurable_probe_count_needs_that_many_successes() {
    let b = Arc::new(Breaker::new("Svc.Op", BreakerOptions { half_open_probes: 3, ..options(1, 0.5) }, false, 0));
    fail(&b, 0);
    let p: Vec<_> = (0..3).map(|_| b.try_acquire(60_000).unwrap()).collect();
    assert!(b.try_acquire(60_000).is_err(), "a fourth caller fails fast");
    let mut p = p.into_iter();
    p.next().unwrap().record(60_001, Outcome::Success);
    p.next().unwrap().record(60_001, Outcome::Success);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    p.next().unwrap().record(60_001, Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn neutral_probe_frees_its_slot_and_a_hung_probe_is_given_up_after_one_break() {
    let b = breaker(1, 0.5);
    fail(&b, 0);
    b.try_acquire(60_000).unwrap().record(60_000, Outcome::Neutral);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let hung = b.try_acquire(60_001).expect("the slot was freed");
    assert!(b.try_acquire(119_000).is_err());
    let fresh = b.try_acquire(120_001).expect("a probe out for a whole break is given up on");
    hung.record(120_002, Outcome::Success);
    assert_eq!(b.state(), CircuitState::HalfOpen, "the hung probe's late result does not count");
    fresh.record(120_003, Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn isolated_breaker_fails_every_call_until_reset() {
    let b = breaker(5, 0.5);
    b.isolate(10);
    let r = b.try_acquire(10_000_000).unwrap_err();
    assert_eq!(r.state, CircuitState::Isolated);
    assert_eq!(r.retry_at_ms, None);
    assert!(r.to_string().contains("isolated"), "{r}");
    b.reset(20);
    assert_eq!(b.state(), CircuitState::Closed);
    assert!(b.try_acquire(21).is_ok());
}

#[test]
fn reset_closes_and_forgets_and_ignores_calls_admitted_before() {
    let b = breaker(2, 0.5);
    let before = b.try_acquire(0).unwrap();
    fail(&b, 0);
    fail(&b, 0);
    assert_eq!(b.state(), CircuitState::Open);
    b.reset(1);
    let st = b.status(1);
    assert_eq!((st.state, st.total_calls, st.throughput, st.last_error.clone()), (CircuitState::Closed, 0, 0, None));
    before.record(2, Outcome::Failure("late".into()));
    assert_eq!(b.status(2).throughput, 0);
    fail(&b, 3);
    assert_eq!(b.state(), CircuitState::Closed, "one new failure is below the threshold of 2");
}

#[test]
fn registry_finds_breakers_case_insensitively_and_resets_by_pattern() {
    let (_clock, r, _) = manual();
    let a = r.breaker("ExternalService.ProcessData");
    assert!(Arc::ptr_eq(&a, &r.breaker("externalservice.processdata")));
    r.breaker("ExternalService.Other");
    r.breaker("LabRunner.ExecuteStep");
    r.isolate("LabRunner.ExecuteStep").unwrap();
    r.isolate("ExternalService.ProcessData").unwrap();
    let names: Vec<_> = r.statuses(Some("External*")).unwrap().into_iter().map(|s| s.operation).collect();
    assert_eq!(names, ["ExternalService.Other", "ExternalService.ProcessData"]);
    assert_eq!(r.reset(Some("external*")).unwrap(), 2);
    assert_eq!(r.breaker("ExternalService.ProcessData").state(), CircuitState::Closed);
    assert_eq!(r.breaker("LabRunner.ExecuteStep").state(), CircuitState::Isolated);
    assert_eq!(r.reset(None).unwrap(), 3);
    assert_eq!(r.reset(Some("Nothing*")).unwrap(), 0);
    assert!(matches!(r.reset(Some("No.Such")), Err(ResilienceError::BreakerNotFound { .. })));
    assert!(matches!(r.reset(Some("[a")), Err(ResilienceError::Invalid(_))));
    assert!(r.isolate("Bad*").is_err());
    // A breaker names one API, Module.Operation: a name without both parts could never match one.
    for bad in ["NoDotHere", "Module.", ".Op", " . ", &format!("{}.Op", "m".repeat(600))] {
        assert!(matches!(r.isolate(bad), Err(ResilienceError::Invalid(_))), "{bad}");
    }
}

#[test]
fn new_default_options_reach_breakers_without_options_of_their_own() {
    let (_clock, r, _) = manual();
    let plain = r.breaker("A.B");
    r.set_breaker_options("C.D", Some(options(50, 0.9))).unwrap();
    r.set_default_breaker_options(options(10, 0.5));
    assert_eq!(plain.status(0).options.failure_threshold, 10);
    let custom = r.find("c.d").unwrap().status(0);
    assert!(custom.custom_options);
    assert_eq!(custom.options.failure_threshold, 50);
    r.set_breaker_options("C.D", None).unwrap();
    assert_eq!(r.find("C.D").unwrap().status(0).options.failure_threshold, 10);
}

#[test]
fn status_reports_rates_and_time_until_half_open() {
    let (clock, r, _) = manual();
    let b = r.breaker("Svc.Op");
    let now = clock_now(&clock);
    succeed(&b, now);
    for _ in 0..4 {
        fail(&b, now);
    }
    clock.advance(15_000);
    let st = &r.statuses(None).unwrap()[0];
    assert_eq!(st.state, CircuitState::Open);
    assert!((st.success_rate - 20.0).abs() < 1e-9, "{}", st.success_rate);
    assert_eq!(st.throughput, 5);
    assert!((st.failure_ratio - 0.8).abs() < 1e-9);
    assert_eq!(st.ms_until_half_open, Some(45_000));
    let json = serde_json::to_value(st).unwrap();
    for key in [
        "operation",
        "state",
        "successRate",
        "failureRatio",
        "throughput",
        "msUntilHalfOpen",
        "lastFailure",
        "lastError",
    ] {
        assert!(json.get(key).is_some(), "status JSON lacks {key}: {json}");
    }
    assert_eq!(json["state"], "Open");
}

fn clock_now(clock: &ManualClock) -> i64 {
    use module_communication::Clock;
    clock.now_ms()
}

// ----- retry ------------------------------------------------------------------------------

#[test]
fn v1_policy_without_jitter_waits_exactly_1000_2000_4000_ms() {
    let (_clock, r, sleeper) = manual();
    r.set_retry_policy(RetryPolicy { jitter: false, ..RetryPolicy::default() });
    let (result, attempts) =
        r.execute(None, 3, |_| Err::<(), _>("timeout"), |_| Verdict::Retry("t".into()), |_, e| e.unwrap());
    assert_eq!(result, Err("timeout"));
    assert_eq!(attempts, 4);
    assert_eq!(
        sleeper.take_delays(),
        [Duration::from_millis(1_000), Duration::from_millis(2_000), Duration::from_millis(4_000)]
    );
    let stats = r.retry_stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (4, 3, 1), "the retries ran out once");
}

#[test]
fn total_attempts_are_one_plus_retry_attempts() {
    let (_clock, r, _) = manual();
    for retries in [0, 1, 2, 5, 10] {
        let mut calls = 0;
        let (_, attempts) = r.execute(
            None,
            retries,
            |_| {
                calls += 1;
                Err::<(), _>(())
            },
            |_| Verdict::Retry("x".into()),
            |_, e| e.unwrap(),
        );
        assert_eq!((calls, attempts), (retries + 1, retries + 1));
    }
}

#[test]
fn non_retryable_errors_are_attempted_once() {
    let (_clock, r, sleeper) = manual();
    for verdict in [Verdict::Fail("handler threw".into()), Verdict::Neutral] {
        let mut calls = 0;
        let (_, attempts) = r.execute(
            None,
            5,
            |_| {
                calls += 1;
                Err::<(), _>(())
            },
            |_| verdict.clone(),
            |_, e| e.unwrap(),
        );
        assert_eq!((calls, attempts), (1, 1), "{verdict:?}");
    }
    assert!(sleeper.take_delays().is_empty());
}

#[test]
fn success_after_transient_failures_returns_the_value() {
    let (_clock, r, sleeper) = manual();
    let (result, attempts) = r.execute(
        None,
        3,
        |k| if k < 2 { Err("busy") } else { Ok(k) },
        |_| Verdict::Retry("busy".into()),
        |_, e| e.unwrap(),
    );
    assert_eq!((result, attempts), (Ok(2), 3));
    assert_eq!(sleeper.take_delays().len(), 2);
    let stats = r.retry_stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (3, 2, 0));
}

/// A stopped call runs no further attempt, and counts none: the first attempt's failure
/// comes back through `stopped`.
#[test]
fn a_call_stopped_before_its_retry_delay_makes_no_further_attempt() {
    let (_clock, r, sleeper) = manual();
    let stop = AtomicU32::new(0);
    let mut calls = 0;
    let (result, attempts) = r.execute_until(
        None,
        3,
        |_| {
            calls += 1;
            // The caller stops the call while its first attempt runs.
            stop.store(1, Ordering::SeqCst);
            Err::<(), _>("busy".to_owned())
        },
        |_| Verdict::Retry("busy".into()),
        |_, e| e.unwrap(),
        &|| stop.load(Ordering::SeqCst) != 0,
        |last| format!("stopped after: {last}"),
    );
    assert_eq!((result, attempts, calls), (Err("stopped after: busy".to_owned()), 1, 1));
    assert!(sleeper.take_delays().is_empty(), "no delay was waited out");
    let stats = r.retry_stats();
    assert_eq!((stats.attempts, stats.retries, stats.exhausted), (1, 0, 0));
}

/// The real sleeper gives up a long delay as soon as it is woken with its stop flag set, and
/// only then: a wake without the flag leaves it waiting.
#[test]
fn the_thread_sleeper_stops_a_long_delay_when_woken_with_its_flag_set() {
    use module_communication::resilience::{Sleeper, ThreadSleeper};
    let sleeper = Arc::new(ThreadSleeper::default());
    let stop = Arc::new(AtomicU32::new(0));
    // How often the sleep asked its flag: once before it waits, then once per wake it sees. It
    // asks holding the lock that `wake` takes, so a wake after the first ask finds it waiting.
    let asks = Arc::new(AtomicU32::new(0));
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = {
        let (sleeper, stop, asks) = (Arc::clone(&sleeper), Arc::clone(&stop), Arc::clone(&asks));
        std::thread::spawn(move || {
            let started = std::time::Instant::now();
            let slept = sleeper.sleep(Duration::from_secs(600), &|| {
                asks.fetch_add(1, Ordering::SeqCst);
                stop.load(Ordering::SeqCst) != 0
            });
            tx.send((slept, started.elapsed())).unwrap();
        })
    };
    let asked = |n: u32| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while asks.load(Ordering::SeqCst) < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        asks.load(Ordering::SeqCst) >= n
    };
    assert!(asked(1), "the sleep started");
    sleeper.wake();
    let saw_the_wake = asked(2);
    assert!(rx.try_recv().is_err(), "a wake without the flag does not stop it");
    assert!(saw_the_wake, "the sleep asked its flag again at the wake");
    stop.store(1, Ordering::SeqCst);
    sleeper.wake();
    let (slept, took) = rx.recv_timeout(Duration::from_secs(30)).expect("the sleep ends at the wake");
    assert!(!slept);
    assert!(took < Duration::from_secs(30), "{took:?}");
    waiting.join().unwrap();
    assert!(sleeper.sleep(Duration::from_millis(1), &|| false), "a delay that passes is slept out");
}

/// A flag set during a delay with no wake (or one that came before the flag) is still seen
/// when the delay ends: the sleep says it was stopped, so no further attempt runs.
#[test]
fn the_thread_sleeper_reports_a_flag_set_during_its_delay_without_a_wake() {
    use module_communication::resilience::{Sleeper, ThreadSleeper};
    let sleeper = ThreadSleeper::default();
    let asks = AtomicU32::new(0);
    // Clear when the sleep starts, set by the time the delay has passed.
    let slept = sleeper.sleep(Duration::from_millis(20), &|| asks.fetch_add(1, Ordering::SeqCst) > 0);
    assert!(!slept, "the flag set during the delay stops the call at its end");
    assert_eq!(asks.load(Ordering::SeqCst), 2, "asked before the wait and at its end");
}

#[test]
fn jitter_stays_within_its_bounds_over_ten_thousand_cases() {
    let policy = RetryPolicy::default();
    let jitter = Jitter::seeded(2024);
    let (mut below, mut above) = (0, 0);
    for case in 0..10_000u32 {
        let k = case % 5 + 1;
        let base = policy.base_delay_ms(k) as f64;
        let d = policy.delay(k, jitter.next_unit()).as_secs_f64() * 1000.0;
        let (lo, hi) = (base * (1.0 - JITTER), (base * (1.0 + JITTER)).min(policy.max_delay_ms as f64));
        assert!(d >= lo - 1e-6 && d <= hi + 1e-6, "retry {k}: {d} ms not in [{lo}, {hi}]");
        if d < base {
            below += 1;
        } else {
            above += 1;
        }
    }
    // Spread on both sides, roughly evenly.
    assert!(below > 4_000 && above > 4_000, "below {below}, above {above}");
}

#[test]
fn max_delay_caps_backoff() {
    let (_clock, r, sleeper) = manual();
    r.set_retry_policy(RetryPolicy { max_delay_ms: 2_500, ..RetryPolicy::default() });
    r.execute(None, 10, |_| Err::<(), _>(()), |_| Verdict::Retry("x".into()), |_, e| e.unwrap()).0.unwrap_err();
    let delays = sleeper.take_delays();
    assert_eq!(delays.len(), 10);
    assert!(delays.iter().all(|d| *d <= Duration::from_millis(2_500)), "{delays:?}");
    assert!(delays[5..].iter().all(|d| *d >= Duration::from_millis(1_875)), "late delays sit near the cap: {delays:?}");
}

#[test]
fn rejected_call_never_invokes_the_handler_and_says_when() {
    let (clock, r, _) = manual();
    let b = r.breaker("Svc.Op");
    b.isolate(clock_now(&clock));
    let mut calls = 0;
    let (result, attempts) = r.execute(
        Some((&b, None)),
        3,
        |_| {
            calls += 1;
            Ok::<_, String>(())
        },
        |_| Verdict::Neutral,
        |rej, last| {
            assert!(last.is_none());
            rej.to_string()
        },
    );
    assert_eq!((calls, attempts), (0, 0));
    assert!(result.unwrap_err().contains("isolated"));
}

#[test]
fn retries_stop_as_soon_as_the_breaker_opens() {
    let (_clock, r, _) = manual();
    r.set_default_breaker_options(options(2, 0.5));
    let b = r.breaker("Svc.Op");
    let mut calls = 0;
    let (result, attempts) = r.execute(
        Some((&b, None)),
        5,
        |_| {
            calls += 1;
            Err::<(), String>("unavailable".into())
        },
        |e| Verdict::Retry(e.clone()),
        |rej, last| format!("{rej} / {}", last.unwrap()),
    );
    assert_eq!((calls, attempts), (2, 2), "the second failure opened it; no third attempt");
    let e = result.unwrap_err();
    assert!(e.contains("open") && e.ends_with("/ unavailable"), "{e}");
    assert_eq!(r.retry_stats().stopped_by_breaker, 1);
}

// ----- seeded fault injection ---------------------------------------------------------------

/// A dependency that fails each attempt with probability `p`, from a seeded generator.
struct Flaky {
    rng: Jitter,
    p: f64,
}

impl Flaky {
    fn attempt(&self) -> Result<(), &'static str> {
        if self.rng.next_unit() < self.p {
            Err("connection reset")
        } else {
            Ok(())
        }
    }
}

#[test]
fn transient_faults_with_three_retries_succeed_at_one_minus_p_to_the_fourth() {
    let (clock, r, _) = manual();
    // Polly's default throughput and a 0.5 ratio: a 30% failure rate must never trip it.
    r.set_default_breaker_options(BreakerOptions { failure_threshold: 100, ..BreakerOptions::default() });
    let flaky = Flaky { rng: Jitter::seeded(0x5EED), p: 0.3 };
    let b = r.breaker("Flaky.Op");
    let n = 100_000;
    let mut ok = 0u32;
    for _ in 0..n {
        clock.advance(1);
        let (res, _) = r.execute(
            Some((&b, None)),
            3,
            |_| flaky.attempt(),
            |e| Verdict::Retry(e.to_string()),
            |_, e| e.unwrap_or("open"),
        );
        ok += u32::from(res.is_ok());
    }
    let rate = f64::from(ok) / f64::from(n);
    let expected = 1.0 - 0.3f64.powi(4);
    assert!((rate - expected).abs() <= 0.002, "success rate {rate:.5}, expected {expected:.5} ± 0.002");
    assert_eq!(b.status(clock_now(&clock)).times_opened, 0);
}

#[test]
fn dependency_down_costs_threshold_calls_then_one_probe_per_break() {
    let (clock, r, _) = manual();
    let threshold = r.default_breaker_options().failure_threshold;
    let b = r.breaker("Down.Op");
    let invocations = AtomicU32::new(0);
    for _ in 0..10_000 {
        clock.advance(97);
        let _ = r.execute(
            Some((&b, None)),
            3,
            |_| {
                invocations.fetch_add(1, Ordering::Relaxed);
                Err::<(), _>("unavailable")
            },
            |e| Verdict::Retry(e.to_string()),
            |_, e| e.unwrap_or("open"),
        );
    }
    let breaks = b.status(clock_now(&clock)).times_opened;
    assert!(breaks > 1, "the run spans several breaks");
    let calls = u64::from(invocations.load(Ordering::Relaxed));
    assert_eq!(calls, u64::from(threshold) + (breaks - 1), "threshold, then one probe per re-open");
}

// ----- on a hub ---------------------------------------------------------------------------

#[test]
fn hub_owns_a_resilience_core_on_its_clock() {
    let clock = Arc::new(ManualClock::new(5_000));
    let hub = Hub::with_clock(clock.clone());
    let b = hub.resilience().breaker("A.B");
    fail(&b, 5_000);
    assert_eq!(hub.resilience().statuses(None).unwrap()[0].total_failures, 1);
    assert_eq!(hub.resilience().retry_policy(), RetryPolicy::default());
}
