//! Native cost of the security, circuit breaker and retry stages on a successful call.
//!
//! Run with `build/cargo.sh bench --bench resilience` (release profile). `MC_BENCH_N` calls
//! per case (default 1,000,000), `MC_BENCH_REPS` measured rounds (default 5); each round runs
//! every case once, interleaved, after one warm-up round, and the best round counts.
//!
//! Cases, per call:
//! - baseline: the "handler" alone (a closure returning a small value), through `black_box`.
//! - security: `Security::authorize` of a valid token with a pattern scope (SHA-256 of the
//!   token, a read lock, a constant-time compare, the scope match), then the handler.
//! - breaker: `try_acquire` and `record` on a closed breaker, then the handler.
//! - breaker open: `try_acquire` on an open (isolated) breaker, which refuses: what a call
//!   that fails fast costs instead of running the handler.
//! - retry: `Resilience::execute` with 3 retries allowed and none needed, then the handler.
//! - all three: what the API pipeline's native stages do for one successful call.
//!
//! Then whole API calls (`Registry::invoke` of a trivial Rust handler, which is what
//! `mc_api_invoke` runs after parsing its JSON): every stage on (security with a token,
//! breaker, 3 retries allowed) against every stage off, as a ratio.
//!
//! It prints ns per call and the stages' cost above the baseline (the target for all three
//! together is under 1 µs), and those costs as ratios of a whole API call with every stage
//! off, measured in the same run. `bench/resilience.ps1` compares the same from PowerShell.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use module_communication::resilience::{Outcome, Verdict};
use module_communication::security::{Action, SecuritySettings, TokenRequest};
use module_communication::Hub;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn handler(i: usize) -> Result<usize, &'static str> {
    Ok(black_box(i) ^ 1)
}

fn main() {
    let n = env_usize("MC_BENCH_N", 1_000_000);
    let reps = env_usize("MC_BENCH_REPS", 5);
    let hub = Arc::new(Hub::new());
    let sec = hub.security();
    sec.set_settings(SecuritySettings { enabled: true, require_authentication: true, ..SecuritySettings::default() })
        .expect("settings");
    let token = sec.create_token(TokenRequest::new("LabRunner", ["api:call:LabRunner.*"])).expect("token");
    let token = token.token.expose().to_owned();
    let res = hub.resilience();
    let breaker = res.breaker("LabRunner.ExecuteStep");
    let open_breaker = res.breaker("LabRunner.Down");
    open_breaker.isolate(res.now_ms());

    let security = |i: usize| {
        let p = sec.authorize(Some(&token), Action::ApiCall, "LabRunner.ExecuteStep", None).expect("allowed");
        black_box(p);
        handler(i)
    };
    let breaker_only = |i: usize| {
        let now = res.now_ms();
        let permit = breaker.try_acquire(now).expect("closed");
        let r = handler(i);
        permit.record(now, Outcome::Success);
        r
    };
    let breaker_open = |i: usize| match open_breaker.try_acquire(res.now_ms()) {
        Err(rejection) => {
            black_box(rejection);
            Ok(i)
        }
        Ok(_) => Err("the isolated breaker let a call through"),
    };
    let retry_only = |i: usize| {
        res.execute(None, 3, |_| handler(i), |e| Verdict::Retry(e.to_string()), |_, e| e.unwrap_or("open")).0
    };
    let all = |i: usize| {
        sec.authorize(Some(&token), Action::ApiCall, "LabRunner.ExecuteStep", None).expect("allowed");
        res.execute(
            Some((&breaker, None)),
            3,
            |_| handler(i),
            |e| Verdict::Retry(e.to_string()),
            |_, e| e.unwrap_or("open"),
        )
        .0
    };

    type Case<'a> = (&'a str, &'a dyn Fn(usize) -> Result<usize, &'static str>);
    let cases: [Case<'_>; 6] = [
        ("baseline (handler only)", &handler),
        ("security", &security),
        ("circuit breaker", &breaker_only),
        ("circuit breaker open", &breaker_open),
        ("retry (none needed)", &retry_only),
        ("security + breaker + retry", &all),
    ];
    let run = |f: &dyn Fn(usize) -> Result<usize, &'static str>| {
        let start = Instant::now();
        for i in 0..n {
            black_box(f(i)).expect("every call succeeds");
        }
        start.elapsed()
    };
    let mut best = vec![Duration::MAX; cases.len()];
    for (_, f) in &cases {
        run(*f); // warm-up
    }
    for _ in 0..reps {
        for (b, (_, f)) in best.iter_mut().zip(&cases) {
            *b = (*b).min(run(*f));
        }
    }
    let per = |d: Duration| d.as_nanos() as f64 / n as f64;
    let base = per(best[0]);
    println!("native stage cost, {n} successful calls per case, best of {reps}");
    println!("{:<30} {:>10} {:>14}", "case", "ns/call", "above baseline");
    for ((name, _), d) in cases.iter().zip(&best) {
        println!("{:<30} {:>10.1} {:>14.1}", name, per(*d), per(*d) - base);
    }
    let together = per(best[5]) - base;
    println!("security + breaker + retry together: {together:.1} ns per call (target: under 1000 ns)");
    assert_eq!(breaker.status(res.now_ms()).total_failures, 0);

    // Whole API calls, every stage on against every stage off.
    use module_communication::registry::{ApiDefinition, Call, InvokeRequest};
    let one = module_communication::registry::json_value("1").expect("json");
    hub.registry()
        .register(ApiDefinition::new("LabRunner", "ExecuteStep"), move |_: &Call| Ok(one.clone()))
        .expect("register");
    let call = |on: bool| {
        let req = InvokeRequest::new("LabRunner", "ExecuteStep");
        let req = if on {
            req.authentication_token(token.clone()).retry_attempts(3)
        } else {
            req.circuit_breaker(false).retry_attempts(0)
        };
        hub.registry().invoke(req).expect("the call succeeds");
    };
    let api_run = |on: bool| {
        let settings = SecuritySettings { enabled: on, require_authentication: true, ..SecuritySettings::default() };
        sec.set_settings(settings).expect("settings");
        let start = Instant::now();
        for _ in 0..n {
            call(on);
        }
        start.elapsed()
    };
    api_run(false);
    api_run(true);
    let (mut off, mut on) = (Duration::MAX, Duration::MAX);
    for _ in 0..reps {
        off = off.min(api_run(false));
        on = on.min(api_run(true));
    }
    println!();
    println!("API call (Registry::invoke, trivial handler), {n} calls per case, best of {reps}");
    println!("{:<30} {:>10}", "case", "ns/call");
    println!("{:<30} {:>10.1}", "all stages off", per(off));
    println!("{:<30} {:>10.1}", "all stages on", per(on));
    println!("ratio (all stages on / all off, time per call): {:.3}", per(on) / per(off));
    // The stage costs above as shares of a whole call measured in this run.
    let share = |d: Duration| (per(d) - base) / per(off);
    println!("ratio (security + breaker + retry / API call with every stage off): {:.3}", share(best[5]));
    println!("ratio (open breaker's fail-fast check / API call with every stage off): {:.3}", share(best[3]));
}
