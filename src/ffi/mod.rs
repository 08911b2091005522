//! The C ABI (`include/module_communication.h`, contract in `docs/c-abi.md`).
//!
//! The only place in the crate with `extern "C"`. Every function:
//! - returns an [`mc_status`] and writes its out-parameters only on `MC_STATUS_OK`;
//! - runs inside one panic-catching boundary (a panic becomes `MC_STATUS_PANIC`);
//! - on failure leaves a message for the calling thread, read with [`mc_last_error`].
//!
//! The header is generated from this module with cbindgen (see `cbindgen.toml`), so the
//! doc comments here are the C documentation.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod boundary;
mod bus;
mod events;
mod observability;
mod registry;
mod trace;
mod resilience;
mod security;

pub use self::bus::*;
pub use self::events::*;
pub use self::observability::*;
pub use self::registry::*;
pub use self::trace::*;
pub use self::resilience::*;
pub use self::security::*;

use std::ffi::CString;
use std::os::raw::{c_char, c_void};

use self::boundary::{arg_ref, arg_text, into_c_string, out_arg, run, FfiError};
use crate::hub::Hub;

/// Result of every `mc_` function. Values are explicit and never reused.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum mc_status {
    /// Success.
    Ok = 0,
    /// A required pointer was NULL.
    NullArgument = 1,
    /// A text argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// A JSON argument did not parse or had the wrong shape: not JSON, cut short, not an
    /// object, a required key missing, or a key given twice.
    InvalidJson = 3,
    /// A value is out of range (empty name, zero capacity, bad priority, unknown key…): an
    /// unknown key, or a value of a known key of the wrong type, out of range or not one of
    /// the allowed names. The message names the key.
    InvalidArgument = 4,
    /// No channel of that name; create it with `mc_channel_create`.
    ChannelNotFound = 5,
    /// A channel of that name (compared case-insensitively) exists already.
    ChannelExists = 6,
    /// No subscription with that id (never existed, or unsubscribed).
    SubscriptionNotFound = 7,
    /// A subscription with the `Reject` policy refused the message; the others got it.
    QueueFull = 8,
    /// The wait ended before the condition held.
    Timeout = 9,
    /// A bug inside the library was caught; the hub is still usable.
    Panic = 10,
    /// Reserved.
    BufferTooSmall = 11,
    /// A file (event history, export, import) could not be read or written; nothing stored changed.
    Io = 12,
    /// A file holds a record that cannot be read; the file was left unchanged.
    CorruptFile = 13,
    /// The caller cancelled the call (`mc_event_publish_cancellable`) before it did anything.
    Cancelled = 14,
    // 15-19 are left for the bus and events; the API registry uses 20-31.
    /// No API of that `Module.Operation`; register it with `mc_api_register`.
    ApiNotFound = 20,
    /// An API of that `Module.Operation` (compared case-insensitively) is registered
    /// already; pass `"force":true` to replace it.
    ApiExists = 21,
    /// The call's parameters do not match the API's schema; the handler did not run.
    ValidationFailed = 22,
    /// No valid authentication token: none was given where one is required, or it is
    /// unknown, expired or revoked (one status for all three).
    AuthenticationFailed = 23,
    /// The token is valid but does not allow this: a missing scope, a module outside the
    /// allowed modules, or another module's token.
    AuthorizationFailed = 24,
    /// The API's circuit breaker refused the call (open, half-open with its trial call
    /// running, or isolated); the call did not run.
    CircuitOpen = 25,
    /// A middleware or the handler of the call failed.
    HandlerFailed = 26,
    /// The API exists but cannot be reached now.
    Unavailable = 27,
    /// API calls nested more than 32 deep (a handler calling itself without end?).
    CallDepthExceeded = 28,
    /// No middleware of that name.
    MiddlewareNotFound = 29,
    /// A middleware of that name (compared case-insensitively) exists already.
    MiddlewareExists = 30,
    /// The `mc_call` id is not active: its callback has returned.
    CallNotActive = 31,
    // 40-49: resilience and security.
    /// No circuit breaker for that operation (a breaker is created by the API's first call).
    BreakerNotFound = 40,
    /// No token has that id (never created, revoked, or expired).
    TokenNotFound = 41,
    /// A token cannot be created for a module outside the allowed modules.
    ModuleNotAllowed = 42,
}

/// A message or subscription id: a UUID as 16 bytes in RFC 4122 (big-endian) order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct mc_id {
    /// The UUID's bytes, most significant first.
    pub bytes: [u8; 16],
}

/// What a pull subscriber did with the messages handed out by its earlier takes
/// (see `mc_subscription_complete`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct mc_delivery_report {
    /// Messages handled successfully (counted as delivered).
    pub handled: usize,
    /// Messages whose handling failed.
    pub failed: usize,
    /// Messages the subscriber's own filter skipped.
    pub filtered: usize,
    /// The last failure's message, NUL-terminated UTF-8, or NULL. Borrowed for the
    /// duration of the call; the library copies it.
    pub last_error: *const c_char,
}

/// Push handler. Called on the subscription's own library worker thread with one
/// message's JSON (`len` bytes, also NUL-terminated), valid only during the call.
/// `user_data` is the pointer given to `mc_subscribe`, passed through untouched.
/// Return `true` when the message was handled, `false` to count it as failed.
/// Never called concurrently with itself; it may call any `mc_` function (including
/// publish, and unsubscribe of its own id). It must not unwind (throw) into the library.
pub type mc_message_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, message_json: *const c_char, len: usize) -> bool>;

/// Pull notifier. Called on the publishing thread (inside `mc_publish`) when a message
/// arrives for a pull subscription that has been taken from since the last notification.
/// `user_data` is the pointer given to `mc_subscribe_pull`. It must only signal (set an
/// event, post to a queue) and return; it must not call `mc_` functions of the same hub.
pub type mc_notify_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// An opaque hub: channels, subscriptions and delivery tracking. Created by
/// `mc_hub_new`, freed by `mc_hub_free`. Every function may be called on it from any
/// thread concurrently.
pub struct mc_hub {
    hub: Hub,
}

/// A caller's `user_data` pointer, carried to library threads.
#[derive(Clone, Copy)]
pub(crate) struct UserData(*mut c_void);

impl UserData {
    pub(crate) fn get(self) -> *mut c_void {
        self.0
    }
}

// SAFETY: the library never dereferences `user_data`; it only hands it back to the
// caller's own callback. The registration functions document that the callback runs on
// library threads, so passing the pointer there is what the caller asked for.
unsafe impl Send for UserData {}
// SAFETY: as above; the pointer is only copied, never dereferenced by the library.
unsafe impl Sync for UserData {}

/// Adapts a C message callback to the core's push handler: each call gets the message's
/// NUL-terminated JSON, valid for the duration of the call.
pub(crate) fn push_handler(
    callback: mc_message_callback,
    user_data: *mut c_void,
) -> Result<impl FnMut(&crate::bus::Envelope) -> bool + Send + 'static, FfiError> {
    let callback = callback.ok_or_else(|| FfiError::null("callback"))?;
    let user_data = UserData(user_data);
    Ok(move |env: &crate::bus::Envelope| {
        let (bytes, len) = env.json_nul_terminated();
        // SAFETY: `callback` is the caller's function with the documented signature;
        // the text pointer is valid (and NUL-terminated) for the duration of the call.
        unsafe { callback(user_data.get(), bytes.as_ptr().cast::<c_char>(), len) }
    })
}

/// Adapts a nullable C notify callback to the core's pull notifier.
pub(crate) fn pull_notifier(notify: mc_notify_callback, user_data: *mut c_void) -> Option<Box<dyn Fn() + Send + Sync>> {
    let user_data = UserData(user_data);
    notify.map(|f| -> Box<dyn Fn() + Send + Sync> {
        // SAFETY: `f` is the caller's function with the documented signature.
        Box::new(move || unsafe { f(user_data.get()) })
    })
}

/// Writes a new subscription's id to a checked, writable out-parameter.
///
/// # Safety
/// `out_id` must come from `out_arg` (non-NULL) and be writable.
pub(crate) unsafe fn write_id(out_id: *mut mc_id, id: crate::id::SubscriptionId) {
    // SAFETY: forwarded caller guarantee.
    unsafe { out_id.write(mc_id { bytes: *id.as_bytes() }) };
}

/// Borrows the hub behind a C handle.
///
/// # Safety
/// `hub` must be NULL or a live pointer from `mc_hub_new`.
pub(crate) unsafe fn hub_ref<'a>(hub: *const mc_hub) -> Result<&'a Hub, FfiError> {
    // SAFETY: forwarded caller guarantee.
    unsafe { arg_ref(hub, "hub") }.map(|h| &h.hub)
}

/// Creates a hub.
///
/// `config_json` (nullable) is a partial configuration object, `config_len` bytes of UTF-8
/// JSON, applied over the defaults (see `mc_config_set`); NULL means all defaults and
/// `config_len` is ignored. It is borrowed for the duration of the call. With an
/// `eventHistoryPath`, the history file is loaded: `MC_STATUS_IO` or
/// `MC_STATUS_CORRUPT_FILE` when it cannot be (and no hub is made).
/// On success `*out_hub` receives the hub. The caller owns the hub and frees it with
/// `mc_hub_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_hub_new(config_json: *const c_char, config_len: usize, out_hub: *mut *mut mc_hub) -> mc_status {
    run("mc_hub_new", || {
        let out_hub = out_arg(out_hub, "out_hub")?;
        let hub = Hub::new();
        if !config_json.is_null() {
            // SAFETY: the caller passes `config_len` readable bytes at `config_json`.
            let json = unsafe { arg_text(config_json, config_len, "config_json") }?;
            hub.update_config_json(json)?;
        }
        let raw = Box::into_raw(Box::new(mc_hub { hub }));
        // SAFETY: `out_hub` was checked non-NULL and the caller guarantees it is writable.
        unsafe { out_hub.write(raw) };
        Ok(())
    })
}

/// Frees a hub: waits for API handlers still running (those of calls that timed out
/// included, which may still use the hub), closes every subscription, waits for push
/// callbacks that are running to return, and discards queued messages. A callback still
/// running meanwhile can no longer subscribe (`MC_STATUS_INVALID_ARGUMENT`).
/// `mc_hub_free(NULL)` does nothing.
///
/// `hub` is consumed: it must come from `mc_hub_new`, must not be used afterwards, and no
/// other thread may be using it. Do not call it from a push callback or an API handler of
/// the same hub. An API handler still waiting on this hub (a take or a wait with a long
/// timeout, a `Block` publish) keeps `mc_hub_free` waiting until that wait ends.
#[no_mangle]
pub unsafe extern "C" fn mc_hub_free(hub: *mut mc_hub) {
    if hub.is_null() {
        return;
    }
    let _ = run("mc_hub_free", || {
        // SAFETY: `hub` came from `Box::into_raw` in `mc_hub_new` and the caller hands
        // over ownership; it is freed exactly once here.
        let hub = unsafe { Box::from_raw(hub) };
        hub.hub.wait_for_api_handlers();
        drop(hub);
        Ok(())
    });
}

/// Copies the message explaining the calling thread's last failed `mc_` call into
/// `*out_message`, or writes NULL when the last call succeeded. Each `mc_` call (except
/// this one, `mc_string_free` and `mc_api_error_details`, which keeps the message unless its
/// own argument is NULL) clears it; a successful call leaves none behind, even when a call
/// made inside it (an API handler's own) failed.
///
/// The caller owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_last_error(out_message: *mut *mut c_char) -> mc_status {
    if out_message.is_null() {
        return mc_status::NullArgument;
    }
    let text = boundary::last_error();
    let ptr = match text.map(CString::new) {
        None => std::ptr::null_mut(),
        Some(Ok(c)) => c.into_raw(),
        Some(Err(_)) => std::ptr::null_mut(),
    };
    // SAFETY: checked non-NULL above; the caller guarantees it is writable.
    unsafe { out_message.write(ptr) };
    mc_status::Ok
}

/// Frees a string returned by this library. `mc_string_free(NULL)` does nothing.
///
/// `s` is consumed: it must be a string this library returned and must not be used
/// afterwards.
#[no_mangle]
pub unsafe extern "C" fn mc_string_free(s: *mut c_char) {
    if s.is_null() {
        return;
    }
    // SAFETY: every string the library returns comes from `CString::into_raw`, and the
    // caller hands it back exactly once.
    drop(unsafe { CString::from_raw(s) });
}

/// Writes the hub's configuration as JSON to `*out_json`:
/// `{"maxMessageQueueSize":10000,"processorInterval":100,"defaultOverflow":"DropOldest",
/// "blockTimeoutMs":1000,"maxEventHistory":1000,"eventHistoryPath":null,
/// "eventHistoryMaxBytes":10485760,"enableMetrics":true,"metricsIntervalMs":60000,
/// "metricsHistorySize":60,"enableTracing":false,"retryPolicy":{"maxRetries":3,"retryDelayMs":1000,
/// "backoffMultiplier":2.0,"maxDelayMs":30000,"jitter":true},"circuitBreaker":
/// {"failureThreshold":5,"failureRatio":0.5,"samplingDurationMs":30000,
/// "recoveryTimeoutMs":60000,"halfOpenProbes":1},"security":{"enabled":false,
/// "requireAuthentication":false,"defaultTokenExpirationMinutes":60,"allowedModules":[]}}`.
///
/// `hub` is borrowed for the duration of the call.
/// The caller owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_config_get(hub: *const mc_hub, out_json: *mut *mut c_char) -> mc_status {
    run("mc_config_get", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = into_c_string(hub.config_json())?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_json.write(text) };
        Ok(())
    })
}

/// Merges a partial configuration object (`len` bytes of UTF-8 JSON, any subset of the
/// keys of `mc_config_get`; keys compare case-insensitively, so a key given twice in one
/// object, in any case, is `MC_STATUS_INVALID_JSON`). An unknown key or a bad value fails
/// with `MC_STATUS_INVALID_ARGUMENT` naming it, and nothing is changed.
/// New values apply to subscriptions created afterwards. A new `eventHistoryPath` loads
/// that file into the event history (`null` or `""` turns persistence off); a file that
/// cannot be read gives `MC_STATUS_IO`, a corrupt one `MC_STATUS_CORRUPT_FILE`, and then
/// nothing is changed. A torn last line is skipped: see `mc_event_history_info`.
/// The nested objects `retryPolicy`, `circuitBreaker` (the defaults of breakers without
/// options of their own, existing ones included) and `security` are partial too:
/// `{"retryPolicy":{"maxRetries":5}}` changes only that. `"requireAuthentication":true`
/// also turns security on. `enableTracing` is a switch, not a stored value: `true` turns on
/// a Basic trace in memory when tracing is off (one already on is left as it is; see
/// `mc_trace_enable` for levels and files), `false` turns tracing off as `mc_trace_disable`
/// does without an archive; `mc_config_get` reports whether tracing is on.
///
/// `hub` is borrowed for the duration of the call. `json` is borrowed for the duration of
/// the call.
#[no_mangle]
pub unsafe extern "C" fn mc_config_set(hub: *const mc_hub, json: *const c_char, len: usize) -> mc_status {
    run("mc_config_set", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `json`.
        let json = unsafe { arg_text(json, len, "json") }?;
        hub.update_config_json(json)?;
        Ok(())
    })
}
