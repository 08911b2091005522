//! C ABI for metrics and health (`src/metrics/`). Contract: `docs/c-abi.md`, "Metrics and
//! health".

use std::os::raw::c_char;

use super::boundary::{into_c_string, opt_text, out_arg, run};
use super::{hub_ref, mc_hub, mc_status};

/// Writes the hub's metrics as JSON to `*out_json`: `{"since","timestamp","intervalMs",
/// "messageBus":{…},"channels":[…],"subscriptions":[…],"events":{…},"api":{…},
/// "security":{…},"circuitBreakers":{…},"performance":{…},"history":[…]}` (the keys are
/// listed in `docs/c-abi.md`; `history` only when asked for).
///
/// `options_json` (nullable = defaults) is `len` bytes of UTF-8 JSON, every key optional:
/// `{"channel":"Config*","includeHistory":true}`. `channel` (a name or `-like` pattern)
/// narrows `channels`, `subscriptions` and the delivery latencies to that channel.
///
/// `hub` is borrowed for the duration of the call. `options_json` (nullable) is borrowed
/// for the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_metrics(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_metrics", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `options_json`.
        let options = unsafe { opt_text(options_json, len, "options_json") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = into_c_string(hub.metrics_json(options)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Sets every counter, latency histogram, recent API call and history interval of the hub
/// to zero; counting starts again now. Channels, subscriptions and queued messages are
/// not touched.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_metrics_reset(hub: *const mc_hub) -> mc_status {
    run("mc_metrics_reset", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.reset_metrics();
        Ok(())
    })
}

/// Evaluates the health rules and writes the report as JSON to `*out_json`:
/// `{"overallHealth":"Healthy|Warning|Unhealthy","timestamp","windowStart","issues":[{"rule",
/// "severity","component","message","recommendation"}],"recommendations":[…],
/// "components":[{"name","status","summary","issues"}],"healthChecks":[{"name","success",
/// "durationMs","details"}]}`.
///
/// `options_json` (nullable = defaults) is `len` bytes of UTF-8 JSON, every key optional:
/// `{"checkHealth":true,"timeoutMs":5000}`. With `checkHealth`, the active checks run first
/// on the calling thread: a messaging round trip on a private channel (it waits up to
/// `timeoutMs` for the message), a check that the metrics counted it, and a configuration
/// check. The round trip counts as one published and one delivered message.
///
/// `hub` is borrowed for the duration of the call. `options_json` (nullable) is borrowed
/// for the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_health(
    hub: *const mc_hub,
    options_json: *const c_char,
    len: usize,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_health", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes NULL or `len` readable bytes at `options_json`.
        let options = unsafe { opt_text(options_json, len, "options_json") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = into_c_string(hub.health_json(options)?)?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}
