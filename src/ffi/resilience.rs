//! The circuit breaker functions of the C ABI. The retry policy and the breaker defaults
//! are part of the configuration (`mc_config_get` / `mc_config_set`, keys `retryPolicy`
//! and `circuitBreaker`).

use std::os::raw::c_char;

use super::boundary::{arg_str, arg_text, json_out, opt_str, out_arg, run, write_opt};
use super::{hub_ref, mc_hub, mc_status};

/// Lists the circuit breakers whose `Module.Operation` matches `pattern` (a `-like`
/// pattern; NULL lists all), sorted by operation, as a JSON array of
/// `{"operation","state":"Closed|Open|HalfOpen|Isolated","successRate","failureRatio",
/// "throughput","failuresInWindow","totalCalls","totalFailures","rejected","timesOpened",
/// "openedAt","halfOpenAt","msUntilHalfOpen","lastFailure","lastError","lastStateChange",
/// "customOptions","options":{…}}`. A breaker exists once its API has been called (or
/// isolated, or given options of its own).
///
/// `hub` is borrowed for the duration of the call. `pattern` (nullable) is borrowed for
/// the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_breaker_status(
    hub: *const mc_hub,
    pattern: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_breaker_status", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { opt_str(pattern, "pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_out(&hub.resilience().statuses(pattern)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Resets the circuit breakers matching `pattern` (NULL resets all): each closes and
/// forgets its counts and last error; calls admitted before are not counted when they
/// finish. A plain name without a breaker is `MC_STATUS_BREAKER_NOT_FOUND`; a wildcard
/// that matches none resets none. `*out_count` (if not NULL) receives how many were reset.
///
/// `hub` is borrowed for the duration of the call. `pattern` (nullable) is borrowed for
/// the duration of the call. `out_count` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_breaker_reset(
    hub: *const mc_hub,
    pattern: *const c_char,
    out_count: *mut usize,
) -> mc_status {
    run("mc_breaker_reset", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let pattern = unsafe { opt_str(pattern, "pattern") }?;
        let n = hub.resilience().reset(pattern)?;
        // SAFETY: the caller passes NULL or a writable pointer.
        unsafe { write_opt(out_count, n) };
        Ok(())
    })
}

/// Isolates the circuit breaker of `operation` (`Module.Operation`, no wildcards),
/// creating it if needed: every call fails fast with `MC_STATUS_CIRCUIT_OPEN` until
/// `mc_breaker_reset`.
///
/// `hub` is borrowed for the duration of the call. `operation` is borrowed for the
/// duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_breaker_isolate(hub: *const mc_hub, operation: *const c_char) -> mc_status {
    run("mc_breaker_isolate", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let operation = unsafe { arg_str(operation, "operation") }?;
        hub.resilience().isolate(operation)?;
        Ok(())
    })
}

/// Gives the circuit breaker of `operation` (`Module.Operation`, no wildcards) options of
/// its own, or with `options_json` NULL returns it to the defaults. `options_json` is `len`
/// bytes of UTF-8 JSON, a partial object over the current defaults:
/// `{"failureThreshold":5,"failureRatio":0.5,"samplingDurationMs":30000,
/// "recoveryTimeoutMs":60000,"halfOpenProbes":1}`. A bad value fails naming it and
/// nothing changes.
///
/// `hub` is borrowed for the duration of the call. `operation` is borrowed for the
/// duration of the call. `options_json` (nullable) is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_breaker_configure(
    hub: *const mc_hub,
    operation: *const c_char,
    options_json: *const c_char,
    len: usize,
) -> mc_status {
    run("mc_breaker_configure", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes a valid C string or NULL.
        let operation = unsafe { arg_str(operation, "operation") }?;
        let options = if options_json.is_null() {
            None
        } else {
            // SAFETY: the caller passes `len` readable bytes at `options_json`.
            let json = unsafe { arg_text(options_json, len, "options_json") }?;
            Some(hub.resilience().default_breaker_options().merged_with_json(json)?)
        };
        hub.resilience().set_breaker_options(operation, options)?;
        Ok(())
    })
}
