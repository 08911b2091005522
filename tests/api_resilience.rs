//! The security, circuit breaker and retry stages inside the API registry's pipeline, on a
//! manual clock with a manual sleeper: stage order, per-attempt accounting, exact delays,
//! per-attempt timeouts, the seeded fault injector through real API calls, and the security
//! matrix for `api:call`.

mod common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use module_communication::registry::{
    ApiDefinition, ApiError, ApiErrorCategory, Call, InvokeRequest, Json, MiddlewareDefinition, Next, Schema,
};
use module_communication::resilience::{BreakerOptions, CircuitState, Jitter, ManualSleeper};
use module_communication::security::TokenRequest;
use module_communication::{Hub, ManualClock};

fn json(text: &str) -> Json {
    module_communication::registry::json_value(text).unwrap()
}

/// A hub on a manual clock whose retry sleeps advance the clock; jitter off unless asked.
fn hub() -> (Arc<ManualClock>, Hub, Arc<ManualSleeper>) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let hub = Hub::with_clock(clock.clone());
    let sleeper = Arc::new(ManualSleeper::new(clock.clone()));
    hub.resilience().set_sleeper(sleeper.clone());
    hub.resilience().set_jitter_seed(7);
    hub.update_config_json(r#"{"retryPolicy":{"jitter":false}}"#).unwrap();
    (clock, hub, sleeper)
}

/// Registers `Svc.Op` with a handler that fails with `category` for its first `failures`
/// calls, then succeeds; returns the call counter.
fn flaky(hub: &Hub, failures: usize, category: ApiErrorCategory) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    hub.registry()
        .register(ApiDefinition::new("Svc", "Op"), move |_: &Call| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                Err(ApiError::new(category, format!("failure {}", n + 1)))
            } else {
                Ok(json("\"ok\""))
            }
        })
        .unwrap();
    calls
}

fn op() -> InvokeRequest {
    InvokeRequest::new("Svc", "Op")
}

// ----- retry ------------------------------------------------------------------------------

#[test]
fn unavailable_twice_then_success_retries_with_exact_backoff() {
    let (_clock, hub, sleeper) = hub();
    let calls = flaky(&hub, 2, ApiErrorCategory::Unavailable);
    assert_eq!(hub.registry().invoke(op()).unwrap().get(), "\"ok\"");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(sleeper.take_delays(), [Duration::from_millis(1_000), Duration::from_millis(2_000)]);
    let info = hub.registry().api("Svc", "Op").unwrap();
    assert_eq!((info.calls, info.attempts, info.retries, info.succeeded), (1, 3, 2, 1));
}

#[test]
fn reset_metrics_zeroes_the_attempt_retry_and_rejection_counts_too() {
    let (_clock, hub, _) = hub();
    flaky(&hub, 2, ApiErrorCategory::Unavailable);
    hub.registry().invoke(op()).unwrap();
    let info = hub.registry().api("Svc", "Op").unwrap();
    assert_eq!((info.attempts, info.retries), (3, 2));
    hub.reset_metrics();
    let info = hub.registry().api("Svc", "Op").unwrap();
    assert_eq!((info.calls, info.attempts, info.retries, info.rejected_by_breaker), (0, 0, 0, 0));
}

#[test]
fn a_call_without_retries_or_breaker_still_counts_its_one_attempt() {
    let (_clock, hub, _) = hub();
    flaky(&hub, 0, ApiErrorCategory::Unavailable);
    hub.registry().invoke(op().retry_attempts(0).circuit_breaker(false)).unwrap();
    let info = hub.registry().api("Svc", "Op").unwrap();
    assert_eq!((info.calls, info.attempts, info.retries), (1, 1, 0));
}

#[test]
fn retry_attempts_bounds_the_attempts_and_the_error_says_how_many() {
    let (_clock, hub, sleeper) = hub();
    let calls = flaky(&hub, usize::MAX, ApiErrorCategory::Timeout);
    let e = hub.registry().invoke(op().retry_attempts(5).circuit_breaker(false)).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::Timeout);
    assert_eq!(calls.load(Ordering::SeqCst), 6, "1 + RetryAttempts");
    // The total over all attempts and waits (on the manual clock: the waits alone), and how
    // to stop a timeout from being retried.
    assert!(
        e.message.ends_with(
            "(failed 6 attempts in 31.0 s: the first and 5 retries) A timeout is retried by the retry policy; \
             -RetryAttempts 0 (\"retryAttempts\":0) stops after the first attempt."
        ),
        "{}",
        e.message
    );
    let ms: Vec<u128> = sleeper.take_delays().iter().map(Duration::as_millis).collect();
    assert_eq!(ms, [1_000, 2_000, 4_000, 8_000, 16_000]);
}

#[test]
fn the_policy_gives_the_default_retries_and_zero_turns_retry_off() {
    let (_clock, hub, _) = hub();
    let calls = flaky(&hub, usize::MAX, ApiErrorCategory::Unavailable);
    hub.registry().invoke(op().circuit_breaker(false)).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 4, "MaxRetries 3");
    hub.update_config_json(r#"{"retryPolicy":{"maxRetries":1}}"#).unwrap();
    hub.registry().invoke(op().circuit_breaker(false)).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    hub.registry().invoke(op().circuit_breaker(false).retry_attempts(0)).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[test]
fn non_retryable_failures_are_attempted_once() {
    for category in [ApiErrorCategory::HandlerFailed, ApiErrorCategory::Authorization, ApiErrorCategory::NotFound] {
        let (_clock, hub, sleeper) = hub();
        let calls = flaky(&hub, usize::MAX, category);
        let e = hub.registry().invoke(op().retry_attempts(5)).unwrap_err();
        assert_eq!((e.category, calls.load(Ordering::SeqCst)), (category, 1), "{category}");
        assert!(sleeper.take_delays().is_empty());
    }
}

#[test]
fn validation_failures_are_not_retried_and_do_not_count_against_the_breaker() {
    let (_clock, hub, _) = hub();
    let def = ApiDefinition::new("Svc", "Op")
        .parameters(Schema::from_json(r#"{"N":{"type":"int","required":true}}"#).unwrap());
    hub.registry().register(def, |_: &Call| Ok(json("1"))).unwrap();
    for _ in 0..20 {
        let e = hub.registry().invoke(op().retry_attempts(3)).unwrap_err();
        assert_eq!(e.category, ApiErrorCategory::Validation);
    }
    let st = &hub.resilience().statuses(Some("Svc.Op")).unwrap()[0];
    assert_eq!((st.state, st.total_failures, st.throughput), (CircuitState::Closed, 0, 0));
    assert_eq!(st.total_calls, 0, "calls that did not count are not among the breaker's calls");
    assert_eq!(hub.registry().api("Svc", "Op").unwrap().attempts, 20);
}

#[test]
fn calls_the_caller_cancelled_are_not_retried_and_do_not_count_against_the_breaker() {
    let (_clock, hub, sleeper) = hub();
    let calls = flaky(&hub, usize::MAX, ApiErrorCategory::Cancelled);
    for _ in 0..20 {
        let e = hub.registry().invoke(op().retry_attempts(3)).unwrap_err();
        assert_eq!(e.category, ApiErrorCategory::Cancelled);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 20, "one attempt each");
    assert!(sleeper.take_delays().is_empty());
    let st = &hub.resilience().statuses(Some("Svc.Op")).unwrap()[0];
    assert_eq!((st.state, st.total_failures), (CircuitState::Closed, 0));
}

#[test]
fn each_attempt_gets_its_own_timeout_and_a_timed_out_attempt_is_retried() {
    let (_clock, hub, _) = hub();
    // The first attempt blocks until released; the second returns at once.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (g, c) = (Arc::clone(&gate), Arc::clone(&calls));
    hub.registry()
        .register(ApiDefinition::new("Svc", "Op"), move |call: &Call| {
            if c.fetch_add(1, Ordering::SeqCst) == 0 {
                let (m, cv) = &*g;
                let mut open = m.lock().unwrap();
                while !*open {
                    open = cv.wait(open).unwrap();
                }
            }
            Ok(json(&call.attempt().to_string()))
        })
        .unwrap();
    let r = hub.registry().invoke(op().timeout(Duration::from_millis(100)).retry_attempts(2));
    assert_eq!(r.unwrap().get(), "1", "the second attempt (attempt 1) answered within its own 100 ms");
    let (m, cv) = &*gate;
    *m.lock().unwrap() = true;
    cv.notify_all();
    assert!(common::eventually(common::LONG, || calls.load(Ordering::SeqCst) == 2));
}

#[test]
fn middleware_runs_once_per_attempt_inside_the_retry_stage() {
    let (_clock, hub, _) = hub();
    flaky(&hub, 1, ApiErrorCategory::Unavailable);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = Arc::clone(&seen);
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("Log"), move |call: &Call, next: &Next| {
            s.lock().unwrap().push(call.attempt());
            next.run()
        })
        .unwrap();
    hub.registry().invoke(op()).unwrap();
    assert_eq!(*seen.lock().unwrap(), [0, 1]);
}

// ----- circuit breaker ---------------------------------------------------------------------

#[test]
fn breaker_opens_after_the_threshold_and_then_fails_fast_without_the_handler() {
    let (clock, hub, _) = hub();
    let calls = flaky(&hub, usize::MAX, ApiErrorCategory::HandlerFailed);
    for _ in 0..5 {
        assert_eq!(hub.registry().invoke(op()).unwrap_err().category, ApiErrorCategory::HandlerFailed);
    }
    let e = hub.registry().invoke(op()).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::CircuitOpen);
    assert!(e.message.contains("in 60.0 s") && e.message.contains("last failure: failure 5"), "{}", e.message);
    assert_eq!(calls.load(Ordering::SeqCst), 5, "the rejected call never reached the handler");
    assert_eq!(hub.registry().api("Svc", "Op").unwrap().rejected_by_breaker, 1);
    // Without the breaker for this call, the handler runs.
    hub.registry().invoke(op().circuit_breaker(false)).unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // After the break, one trial call; it fails and the breaker reopens.
    clock.advance(60_000);
    assert_eq!(hub.registry().invoke(op()).unwrap_err().category, ApiErrorCategory::HandlerFailed);
    assert_eq!(hub.registry().invoke(op()).unwrap_err().category, ApiErrorCategory::CircuitOpen);
    assert_eq!(calls.load(Ordering::SeqCst), 7);
}

#[test]
fn the_breaker_keeps_and_shows_its_last_error_without_secrets() {
    let (_clock, hub, _) = hub();
    let token = format!("mct_{}", "A".repeat(43));
    let message = format!("cannot connect: Server=db;password=hunter2 with Bearer {token}");
    hub.registry()
        .register(ApiDefinition::new("Svc", "Op"), move |_: &Call| Err(ApiError::handler_failed(message.clone())))
        .unwrap();
    for _ in 0..5 {
        hub.registry().invoke(op()).unwrap_err();
    }
    let st = &hub.resilience().statuses(Some("Svc.Op")).unwrap()[0];
    assert_eq!(st.state, CircuitState::Open);
    let shown = st.last_error.clone().unwrap();
    assert!(shown.contains("password=***") && shown.contains("Bearer ***"), "{shown}");
    assert!(!shown.contains("hunter2") && !shown.contains(&"A".repeat(20)), "{shown}");
    // Other callers read it in their fail-fast error.
    let e = hub.registry().invoke(op()).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::CircuitOpen);
    assert!(e.message.contains("password=***") && !e.message.contains("hunter2"), "{}", e.message);
    assert_eq!((st.total_calls, st.total_failures, st.success_rate), (5, 5, 0.0));
}

#[test]
fn a_nested_calls_open_breaker_counts_against_the_outer_apis_breaker_without_retries() {
    let (_clock, hub, sleeper) = hub();
    let hub = Arc::new(hub);
    let weak = Arc::downgrade(&hub);
    let inner_runs = Arc::new(AtomicUsize::new(0));
    let (outer_runs, i) = (Arc::new(AtomicUsize::new(0)), Arc::clone(&inner_runs));
    hub.registry()
        .register(ApiDefinition::new("Dep", "Inner"), move |_: &Call| {
            i.fetch_add(1, Ordering::SeqCst);
            Ok(json("1"))
        })
        .unwrap();
    let o = Arc::clone(&outer_runs);
    hub.registry()
        .register(ApiDefinition::new("Svc", "Outer"), move |_: &Call| {
            o.fetch_add(1, Ordering::SeqCst);
            weak.upgrade().unwrap().registry().invoke(InvokeRequest::new("Dep", "Inner"))
        })
        .unwrap();
    hub.resilience().isolate("Dep.Inner").unwrap();
    for _ in 0..5 {
        let e = hub.registry().invoke(InvokeRequest::new("Svc", "Outer").retry_attempts(3)).unwrap_err();
        assert_eq!(e.category, ApiErrorCategory::CircuitOpen);
    }
    assert_eq!((outer_runs.load(Ordering::SeqCst), inner_runs.load(Ordering::SeqCst)), (5, 0), "not retried");
    assert!(sleeper.take_delays().is_empty());
    let st = &hub.resilience().statuses(Some("Svc.Outer")).unwrap()[0];
    assert_eq!(
        (st.state, st.total_failures),
        (CircuitState::Open, 5),
        "the dependency's open breaker is the outer API's failure"
    );
    hub.registry().invoke(InvokeRequest::new("Svc", "Outer")).unwrap_err();
    assert_eq!(outer_runs.load(Ordering::SeqCst), 5, "the outer breaker now fails fast");
}

#[test]
fn a_successful_trial_call_closes_the_breaker() {
    let (clock, hub, _) = hub();
    let calls = flaky(&hub, 5, ApiErrorCategory::HandlerFailed);
    for _ in 0..5 {
        hub.registry().invoke(op()).unwrap_err();
    }
    assert_eq!(hub.resilience().find("svc.op").unwrap().state(), CircuitState::Open);
    clock.advance(60_000);
    assert_eq!(hub.registry().invoke(op()).unwrap().get(), "\"ok\"");
    assert_eq!(hub.resilience().find("Svc.Op").unwrap().state(), CircuitState::Closed);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
}

#[test]
fn an_isolated_breaker_refuses_every_call_until_reset_and_unregistering_forgets_it() {
    let (_clock, hub, _) = hub();
    let calls = flaky(&hub, 0, ApiErrorCategory::HandlerFailed);
    hub.resilience().isolate("Svc.Op").unwrap();
    let e = hub.registry().invoke(op()).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::CircuitOpen);
    assert!(e.message.contains("isolated"), "{}", e.message);
    hub.resilience().reset(Some("Svc.Op")).unwrap();
    hub.registry().invoke(op()).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    hub.registry().unregister("Svc", "Op").unwrap();
    assert!(hub.resilience().find("Svc.Op").is_none());
}

#[test]
fn a_breaker_set_by_hand_outlives_its_api_being_unregistered_and_registered_again() {
    let (_clock, hub, _) = hub();
    let calls = flaky(&hub, 0, ApiErrorCategory::HandlerFailed);
    hub.resilience().isolate("Svc.Op").unwrap();
    hub.registry().unregister("Svc", "Op").unwrap();
    let calls_again = flaky(&hub, 0, ApiErrorCategory::HandlerFailed);
    let e = hub.registry().invoke(op()).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::CircuitOpen, "a module reload must not lift an isolation");
    assert_eq!(calls.load(Ordering::SeqCst) + calls_again.load(Ordering::SeqCst), 0);

    // Options of its own are kept too; a breaker with the defaults only goes with its API.
    hub.resilience().reset(Some("Svc.Op")).unwrap();
    hub.resilience().set_breaker_options("Svc.Op", Some(BreakerOptions { failure_threshold: 50, ..Default::default() })).unwrap();
    hub.registry().unregister("Svc", "Op").unwrap();
    assert_eq!(hub.resilience().find("Svc.Op").unwrap().status(0).options.failure_threshold, 50);
}

// ----- the seeded fault injector, through API calls ---------------------------------------------

#[test]
fn transient_faults_at_thirty_percent_with_three_retries_succeed_at_one_minus_p_to_the_fourth() {
    let (clock, hub, _) = hub();
    // Polly's default minimum throughput: a 30% failure rate must not trip the breaker.
    hub.update_config_json(r#"{"circuitBreaker":{"failureThreshold":100},"retryPolicy":{"jitter":true}}"#).unwrap();
    let rng = Arc::new(Jitter::seeded(0xFA17));
    let r = Arc::clone(&rng);
    hub.registry()
        .register(ApiDefinition::new("Flaky", "Op"), move |_: &Call| {
            if r.next_unit() < 0.3 {
                Err(ApiError::new(ApiErrorCategory::Unavailable, "connection reset"))
            } else {
                Ok(json("1"))
            }
        })
        .unwrap();
    let n = 100_000u32;
    let mut ok = 0u32;
    for _ in 0..n {
        clock.advance(1);
        ok += u32::from(hub.registry().invoke(InvokeRequest::new("Flaky", "Op").retry_attempts(3)).is_ok());
    }
    let rate = f64::from(ok) / f64::from(n);
    let expected = 1.0 - 0.3f64.powi(4);
    assert!((rate - expected).abs() <= 0.002, "success rate {rate:.5}, expected {expected:.5} ± 0.002");
    assert_eq!(hub.resilience().find("Flaky.Op").unwrap().status(0).times_opened, 0);
}

#[test]
fn a_dependency_that_is_down_costs_threshold_calls_then_one_trial_per_break() {
    let (clock, hub, _) = hub();
    let invocations = Arc::new(AtomicU32::new(0));
    let i = Arc::clone(&invocations);
    hub.registry()
        .register(ApiDefinition::new("Down", "Op"), move |_: &Call| {
            i.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::new(ApiErrorCategory::Unavailable, "connection refused"))
        })
        .unwrap();
    for _ in 0..5_000 {
        clock.advance(97);
        let e = hub.registry().invoke(InvokeRequest::new("Down", "Op").retry_attempts(3)).unwrap_err();
        assert!(matches!(e.category, ApiErrorCategory::Unavailable | ApiErrorCategory::CircuitOpen));
    }
    let st = hub.resilience().find("Down.Op").unwrap().status(0);
    assert!(st.times_opened > 1);
    let threshold = hub.resilience().default_breaker_options().failure_threshold;
    assert_eq!(u64::from(invocations.load(Ordering::Relaxed)), u64::from(threshold) + st.times_opened - 1);
}

// ----- security -------------------------------------------------------------------------------

#[test]
fn api_calls_pass_the_security_check_first() {
    let (_clock, hub, _) = hub();
    let calls = flaky(&hub, 0, ApiErrorCategory::HandlerFailed);
    hub.registry().register(ApiDefinition::new("Other", "Op"), |_: &Call| Ok(json("1"))).unwrap();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true,"allowedModules":["LabRunner","Config*"]}}"#)
        .unwrap();
    let sec = hub.security();
    let mk = |module: &str, scope: &str| {
        let mut r = TokenRequest::new(module, [scope]);
        r.user = Some("SystemAccount".into());
        let t = sec.create_token(r).unwrap();
        (t.token.expose().to_owned(), t.info.token_id)
    };
    let (valid, _) = mk("LabRunner", "api:call:Svc.*");
    let (revoked, revoked_id) = mk("LabRunner", "api:call");
    let (scopeless, _) = mk("LabRunner", "events:publish");
    let (outsider, _) = mk("ConfigTool", "api:call");
    sec.revoke_id(&revoked_id).unwrap();
    // ConfigTool leaves the allowed modules after its token was made.
    hub.update_config_json(r#"{"security":{"allowedModules":["LabRunner"]}}"#).unwrap();
    let cases: [(Option<&str>, ApiErrorCategory); 5] = [
        (None, ApiErrorCategory::Authentication),
        (Some(&revoked), ApiErrorCategory::Authentication),
        (Some("mct_unknown"), ApiErrorCategory::Authentication),
        (Some(&scopeless), ApiErrorCategory::Authorization),
        (Some(&outsider), ApiErrorCategory::Authorization),
    ];
    let mut messages = Vec::new();
    for (token, want) in cases {
        let mut req = op();
        if let Some(t) = token {
            req = req.authentication_token(t);
        }
        let e = hub.registry().invoke(req).unwrap_err();
        assert_eq!(e.category, want, "{token:?}");
        messages.push(e.message);
    }
    assert_eq!(messages[1], messages[2], "revoked and unknown read the same");
    let e = hub.registry().invoke(InvokeRequest::new("Other", "Op").authentication_token(valid.clone())).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::Authorization, "api:call:Svc.* does not cover Other.Op");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no refused call reached the handler");
    // Refusals are not breaker failures.
    assert_eq!(hub.resilience().find("Svc.Op").map_or(0, |b| b.status(0).total_calls), 0);
    // The valid token passes, and its user becomes the call's user.
    let user = Arc::new(Mutex::new(String::new()));
    let u = Arc::clone(&user);
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("Who"), move |call: &Call, next: &Next| {
            let ctx: serde_json::Value = serde_json::from_str(&call.context_json()).unwrap();
            *u.lock().unwrap() = ctx["user"].as_str().unwrap_or_default().to_owned();
            next.run()
        })
        .unwrap();
    hub.registry().invoke(op().authentication_token(valid.clone())).unwrap();
    assert_eq!(*user.lock().unwrap(), "SystemAccount");
    for m in &messages {
        for t in [&valid, &revoked, &scopeless, &outsider] {
            assert!(!m.contains(&t[4..]), "token text in an error: {m}");
        }
    }
}

#[test]
fn an_expired_token_fails_like_an_unknown_one() {
    let (clock, hub, _) = hub();
    flaky(&hub, 0, ApiErrorCategory::HandlerFailed);
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let mut r = TokenRequest::new("LabRunner", ["api:call"]);
    r.expiration_minutes = Some(1);
    let t = hub.security().create_token(r).unwrap().token.expose().to_owned();
    hub.registry().invoke(op().authentication_token(t.clone())).unwrap();
    clock.advance(60_000);
    let e = hub.registry().invoke(op().authentication_token(t)).unwrap_err();
    let unknown = hub.registry().invoke(op().authentication_token("mct_x")).unwrap_err();
    assert_eq!((e.category, &e.message), (ApiErrorCategory::Authentication, &unknown.message));
}

#[test]
fn request_json_takes_token_retries_and_breaker_and_rejects_bad_values() {
    let req = InvokeRequest::from_json(
        r#"{"module":"Svc","operation":"Op","authenticationToken":"mct_x","retryAttempts":2,"circuitBreaker":false}"#,
    )
    .unwrap();
    assert_eq!((req.retry_attempts, req.circuit_breaker), (Some(2), Some(false)));
    assert!(!format!("{req:?}").contains("mct_x"), "Debug never shows the token");
    for bad in
        [r#""retryAttempts":101"#, r#""retryAttempts":-1"#, r#""circuitBreaker":"yes""#, r#""authenticationToken":5"#]
    {
        let json = format!(r#"{{"module":"Svc","operation":"Op",{bad}}}"#);
        assert!(InvokeRequest::from_json(&json).is_err(), "{bad}");
    }
}

#[test]
fn metrics_report_security_and_breakers_and_count_refusals() {
    let (_clock, hub, _) = hub();
    flaky(&hub, usize::MAX, ApiErrorCategory::HandlerFailed);
    hub.registry().register(ApiDefinition::new("Calm", "Op"), |_: &Call| Ok(json("1"))).unwrap();
    hub.registry().invoke(InvokeRequest::new("Calm", "Op")).unwrap();
    for _ in 0..5 {
        hub.registry().invoke(op()).unwrap_err();
    }
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    hub.security().create_token(TokenRequest::new("LabRunner", ["api:call"])).unwrap();
    hub.registry().invoke(op()).unwrap_err();
    let m: serde_json::Value = serde_json::from_str(&hub.metrics_json(None).unwrap()).unwrap();
    assert_eq!(m["security"]["enabled"], true);
    assert_eq!(m["security"]["activeTokens"], 1);
    assert_eq!(m["security"]["authFailures"], 1);
    assert_eq!(m["circuitBreakers"]["total"], 2);
    assert_eq!(m["circuitBreakers"]["open"], 1);
    assert_eq!(m["circuitBreakers"]["openNames"], serde_json::json!(["Svc.Op"]));
}
