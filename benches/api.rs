//! Native cost of an API call through the C ABI, against a direct C function call in the
//! same run.
//!
//! Run with `build/cargo.sh bench --bench api` (release profile). Settings: `MC_BENCH_N`
//! calls per case (default 200,000), `MC_BENCH_REPS` measured rounds (default 5). Each round
//! runs every case once, interleaved, after one warm-up round; the best time of each case is
//! reported, since load from other processes only slows a run.
//!
//! Cases:
//! - direct: an `extern "C"` function `echo(x)` called through a function pointer the
//!   optimizer cannot see through (what a C program pays for a plain call).
//! - mc_api_invoke: the same work as a registered API whose C callback handler sets the
//!   result; every call parses the request JSON `{"module","operation","parameters":{"X":1}}`,
//!   looks the API up, validates `X` against the schema (`int`, required), calls the
//!   callback (which calls `mc_api_call_set_result`) and returns the result as a new string
//!   that the caller frees. Everything a C program pays is included.
//! - mc_api_invoke + 2 mw: the same with two C middleware that each call `mc_api_next`.
//! - Registry::invoke (Rust): the same API with a Rust closure handler, called from Rust
//!   without the C ABI, for reference.
//!
//! It prints a table with nanoseconds per call, the overhead per call in microseconds
//! (minus the direct call) and the ratio of calls per second to the direct call. It checks
//! every result, never how long anything took.

use std::ffi::{c_void, CStr};
use std::hint::black_box;
use std::os::raw::c_char;
use std::ptr;
use std::time::{Duration, Instant};

use module_communication::ffi::{
    mc_api_call_set_result, mc_api_invoke, mc_api_next, mc_api_register, mc_call, mc_hub, mc_hub_free, mc_hub_new,
    mc_last_error, mc_middleware_add, mc_status, mc_string_free,
};
use module_communication::registry::{ApiDefinition, Call, InvokeRequest, Json, Schema};
use module_communication::Hub;

fn env_usize(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name} must be a positive integer, not '{v}'")),
        Err(_) => default,
    }
}

fn last_error() -> String {
    let mut text: *mut c_char = ptr::null_mut();
    // SAFETY: a valid out-pointer; the returned string is freed below.
    unsafe { mc_last_error(&mut text) };
    if text.is_null() {
        return "(none)".to_owned();
    }
    // SAFETY: a NUL-terminated string from the library, freed once.
    let s = unsafe { CStr::from_ptr(text) }.to_string_lossy().into_owned();
    // SAFETY: returned by the library, freed once.
    unsafe { mc_string_free(text) };
    s
}

fn check(status: mc_status, what: &str) {
    assert_eq!(status, mc_status::Ok, "{what}: {}", last_error());
}

/// The direct call: what the handler does, as a plain C function.
extern "C" fn echo(x: i32) -> i32 {
    x
}

/// The registered handler: the same work, through the C ABI.
unsafe extern "C" fn echo_handler(_user_data: *mut c_void, call: mc_call) -> u32 {
    // SAFETY: the call id is active during this callback; the JSON is a valid static string.
    unsafe { mc_api_call_set_result(call, b"1".as_ptr().cast(), 1) as u32 }
}

/// A middleware that only continues the call and passes its result on.
unsafe extern "C" fn pass_through(_user_data: *mut c_void, call: mc_call) -> u32 {
    let mut out: *mut c_char = ptr::null_mut();
    // SAFETY: called during the middleware's callback with a valid out-pointer.
    let status = unsafe { mc_api_next(call, ptr::null(), 0, &mut out, ptr::null_mut()) };
    if status == mc_status::Ok {
        // SAFETY: returned by the library, freed once.
        unsafe { mc_string_free(out) };
    }
    status as u32
}

struct HubGuard(*mut mc_hub);

impl Drop for HubGuard {
    fn drop(&mut self) {
        // SAFETY: the hub came from mc_hub_new and is freed once.
        unsafe { mc_hub_free(self.0) };
    }
}

fn new_hub() -> HubGuard {
    let mut hub = ptr::null_mut();
    // SAFETY: NULL config, valid out-pointer.
    check(unsafe { mc_hub_new(ptr::null(), 0, &mut hub) }, "mc_hub_new");
    HubGuard(hub)
}

const SCHEMA: &str = r#"{"X":{"type":"int","required":true}}"#;

fn register(hub: &HubGuard, operation: &str) {
    let def = format!(r#"{{"module":"Bench","operation":"{operation}","parameters":{SCHEMA}}}"#);
    // SAFETY: a live hub, `def.len()` readable bytes, a valid callback.
    let status =
        unsafe { mc_api_register(hub.0, def.as_ptr().cast(), def.len(), Some(echo_handler), None, ptr::null_mut(), 0) };
    check(status, "mc_api_register");
}

fn direct(n: usize) -> Duration {
    let f: extern "C" fn(i32) -> i32 = black_box(echo);
    let start = Instant::now();
    let mut sum = 0i64;
    for _ in 0..n {
        sum += i64::from(f(black_box(1)));
    }
    let took = start.elapsed();
    assert_eq!(sum, n as i64);
    took
}

fn invoke(hub: &HubGuard, n: usize, operation: &str) -> Duration {
    let request = format!(r#"{{"module":"Bench","operation":"{operation}","parameters":{{"X":1}}}}"#);
    let start = Instant::now();
    for _ in 0..n {
        let mut out: *mut c_char = ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: a live hub, `request.len()` readable bytes, valid out-pointers.
        let status = unsafe { mc_api_invoke(hub.0, request.as_ptr().cast(), request.len(), &mut out, &mut len) };
        if status != mc_status::Ok || len != 1 {
            panic!("mc_api_invoke: {status:?} {}", last_error());
        }
        // SAFETY: returned by the library, freed once.
        unsafe { mc_string_free(black_box(out)) };
    }
    start.elapsed()
}

fn rust_invoke(hub: &Hub, n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let req = InvokeRequest::new("Bench", "Echo").parameters_json(r#"{"X":1}"#).expect("valid parameters");
        let result = hub.registry().invoke(req).expect("the call succeeds");
        assert_eq!(black_box(result).get(), "1");
    }
    start.elapsed()
}

fn main() {
    let n = env_usize("MC_BENCH_N", 200_000);
    let reps = env_usize("MC_BENCH_REPS", 5).max(1);

    let hub = new_hub();
    register(&hub, "Echo");
    register(&hub, "EchoMw");
    for name in ["mw1", "mw2"] {
        let def = format!(r#"{{"name":"{name}","module":"Bench","operation":"EchoMw"}}"#);
        // SAFETY: a live hub, `def.len()` readable bytes, a valid callback.
        let status = unsafe {
            mc_middleware_add(hub.0, def.as_ptr().cast(), def.len(), Some(pass_through), None, ptr::null_mut(), 0)
        };
        check(status, "mc_middleware_add");
    }
    let rust_hub = Hub::new();
    rust_hub
        .registry()
        .register(
            ApiDefinition::new("Bench", "Echo").parameters(Schema::from_json(SCHEMA).expect("schema")),
            |_: &Call| {
                module_communication::registry::json_value("1")
                    .map_err(|e| module_communication::registry::ApiError::handler_failed(e.to_string()))
                    .map(|j: Json| j)
            },
        )
        .expect("register");

    let names = ["direct C call", "mc_api_invoke", "mc_api_invoke + 2 mw", "Registry::invoke (Rust)"];
    let mut best = [Duration::MAX; 4];
    for round in 0..=reps {
        let times = [direct(n), invoke(&hub, n, "Echo"), invoke(&hub, n, "EchoMw"), rust_invoke(&rust_hub, n)];
        if round == 0 {
            continue; // warm-up
        }
        for (b, t) in best.iter_mut().zip(times) {
            *b = (*b).min(t);
        }
    }

    println!("API call cost, {n} calls per case, best of {reps} rounds (release build)");
    println!();
    println!("{:<26} {:>14} {:>12} {:>16}", "case", "calls/s", "ns/call", "overhead us/call");
    let direct_ns = best[0].as_nanos() as f64 / n as f64;
    for (name, d) in names.iter().zip(best) {
        let ns = d.as_nanos() as f64 / n as f64;
        println!("{name:<26} {:>14.0} {ns:>12.1} {:>16.3}", n as f64 / d.as_secs_f64(), (ns - direct_ns) / 1000.0);
    }
    println!();
    for (name, d) in names.iter().zip(best).skip(1) {
        println!("{name:<26} ratio (calls/s vs direct C call): {:.5}", best[0].as_secs_f64() / d.as_secs_f64());
    }
}
