//! The API registry functions of the C ABI: register APIs and middleware with C callbacks,
//! invoke with JSON, continue a pipeline from middleware, list and remove.
//!
//! A callback receives an [`mc_call`]: an id, not a pointer, valid until the callback
//! returns. Every `mc_api_call_*` function and `mc_api_next` looks the id up, so an id
//! used after its callback returned (kept by mistake, or used by another thread after the
//! call timed out) gets `MC_STATUS_CALL_NOT_ACTIVE`, never undefined behaviour.

use std::os::raw::{c_char, c_void};
use std::sync::OnceLock;

use super::boundary::{arg_str, arg_text, into_c_string, json_text, opt_str, out_arg, run, FfiError, FfiResult};
use super::{hub_ref, mc_hub, mc_status, UserData};
use crate::registry::{
    null_result, ApiDefinition, ApiError, ApiErrorCategory, ApiHandler, Call, InvokeRequest, Json, Middleware,
    MiddlewareDefinition, Next, RegistryError,
};
use crate::sync::{Arc, AtomicBool, AtomicU32, AtomicU64, Mutex, Ordering};

/// An API call in progress, as a callback sees it: an id that is valid until that
/// callback returns. Pass it to `mc_api_call_context`, `mc_api_call_set_result`,
/// `mc_api_next` and the other `mc_api_call_*` functions.
pub type mc_call = u64;

/// An API handler or middleware, implemented in C.
///
/// `user_data` is the pointer given at registration, passed through untouched. `call`
/// identifies the call; it is valid until this callback returns. Read the context (with
/// the parameters) with `mc_api_call_context`; produce the result with
/// `mc_api_call_set_result`. Middleware continues the pipeline with `mc_api_next`, on the
/// thread this callback runs on, before returning; not calling it short-circuits.
///
/// Return an `mc_status` value. `MC_STATUS_OK`: success; the result is what
/// `mc_api_call_set_result` set, else (middleware) the result of the last `mc_api_next`,
/// else JSON `null`. An error status fails the call: with the category and message
/// `mc_api_call_set_error` set; else, when it is the status that `mc_api_next` or a nested
/// `mc_api_invoke` made inside this callback returned, with that error unchanged; else
/// with category HandlerFailed (or the status's own category) and a generic message.
///
/// Thread: the thread that called `mc_api_invoke` (or `mc_api_next`); or, when the call
/// has a timeout and neither this callback nor any later stage was registered with
/// `MC_CALLBACK_CALLER_THREAD`, a library worker thread. Calls of one API may run
/// concurrently on several threads. The callback may call any `mc_` function, including
/// invoking APIs (re-entrantly, up to 32 levels) and registering or unregistering them.
/// It must not unwind (throw) into the library.
pub type mc_api_callback = Option<unsafe extern "C" fn(user_data: *mut c_void, call: mc_call) -> u32>;

/// Called once with the registration's `user_data` when the library no longer uses it:
/// after the API or middleware was removed (or replaced, or its hub freed) and no callback
/// of it is running or will run. On whichever thread dropped the last use. It may free
/// `user_data`; it must not call `mc_` functions of the same hub.
pub type mc_release_callback = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// Registration flag: always call this callback on the thread that invoked the call,
/// never on a library worker thread (calls with a timeout then run inline, and a late
/// finish becomes `MC_STATUS_TIMEOUT`). For code bound to its thread, such as PowerShell
/// script blocks.
pub const MC_CALLBACK_CALLER_THREAD: u32 = 1;

// ----- live callback frames -----------------------------------------------------------------

struct Frame {
    call: Call,
    next: Option<Next>,
    state: Mutex<FrameState>,
}

#[derive(Default)]
struct FrameState {
    result: Option<Json>,
    error: Option<(ApiErrorCategory, String)>,
    last_next: Option<Result<Json, ApiError>>,
}

/// The frames whose callbacks are running, process-wide (call ids are unique across
/// hubs). A short list: one entry per callback in progress, so a linear search is cheap.
type FrameTable = Mutex<Vec<(u64, Arc<Frame>)>>;

fn frames() -> &'static FrameTable {
    static FRAMES: OnceLock<FrameTable> = OnceLock::new();
    FRAMES.get_or_init(|| Mutex::new(Vec::new()))
}

static NEXT_CALL_ID: AtomicU64 = AtomicU64::new(1);

fn frame(call: mc_call) -> FfiResult<Arc<Frame>> {
    frames().lock().iter().find(|(id, _)| *id == call).map(|(_, f)| Arc::clone(f)).ok_or_else(|| {
        FfiError::new(
            mc_status::CallNotActive,
            format!(
                "call {call} is not active: its callback has returned (the call finished, failed or timed out); use a \
                 call id only inside the callback that received it"
            ),
        )
    })
}

/// Removes a frame when its callback returns, even if the callback unwinds.
struct FrameGuard(u64);

impl Drop for FrameGuard {
    fn drop(&mut self) {
        let mut frames = frames().lock();
        if let Some(i) = frames.iter().position(|(id, _)| *id == self.0) {
            frames.swap_remove(i);
        }
    }
}

thread_local! {
    static LAST_API_ERROR: std::cell::RefCell<Option<ApiError>> = const { std::cell::RefCell::new(None) };
}

fn set_api_error(e: Option<&ApiError>) {
    let _ = LAST_API_ERROR.try_with(|slot| *slot.borrow_mut() = e.cloned());
}

fn last_api_error() -> Option<ApiError> {
    LAST_API_ERROR.try_with(|slot| slot.borrow().clone()).ok().flatten()
}

// ----- C callbacks as pipeline stages ---------------------------------------------------------

struct Foreign {
    callback: unsafe extern "C" fn(*mut c_void, mc_call) -> u32,
    release: mc_release_callback,
    user_data: UserData,
    caller_thread: bool,
    /// Cleared when registration fails, so that `release` is only called for a
    /// registration the library accepted.
    armed: AtomicBool,
    /// "the handler of X.Y" or "middleware 'Name'", for messages.
    what: String,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let (Some(release), true) = (self.release, self.armed.load(Ordering::SeqCst)) {
            // SAFETY: the caller's release function with the documented signature, called
            // once, after the last use of `user_data` by the library.
            unsafe { release(self.user_data.get()) };
        }
    }
}

/// The header's name of a status number: `MC_STATUS_HANDLER_FAILED` for 26.
fn status_name(value: u32) -> Option<String> {
    let mut name = String::from("MC_STATUS");
    for c in format!("{:?}", status_from_u32(value)?).chars() {
        if c.is_uppercase() {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    Some(name)
}

/// The status with this number, if it is one of the library's (keep in step with
/// `mc_status`; an unknown number from a callback is treated as a failure).
fn status_from_u32(value: u32) -> Option<mc_status> {
    use mc_status::*;
    [
        Ok,
        NullArgument,
        InvalidUtf8,
        InvalidJson,
        InvalidArgument,
        ChannelNotFound,
        ChannelExists,
        SubscriptionNotFound,
        QueueFull,
        Timeout,
        Panic,
        BufferTooSmall,
        Io,
        CorruptFile,
        Cancelled,
        ApiNotFound,
        ApiExists,
        ValidationFailed,
        AuthenticationFailed,
        AuthorizationFailed,
        CircuitOpen,
        HandlerFailed,
        Unavailable,
        CallDepthExceeded,
        MiddlewareNotFound,
        MiddlewareExists,
        CallNotActive,
    ]
    .into_iter()
    .find(|s| *s as u32 == value)
}

fn category_of(status: mc_status) -> ApiErrorCategory {
    match status {
        mc_status::ValidationFailed => ApiErrorCategory::Validation,
        mc_status::ApiNotFound => ApiErrorCategory::NotFound,
        mc_status::AuthenticationFailed => ApiErrorCategory::Authentication,
        mc_status::AuthorizationFailed => ApiErrorCategory::Authorization,
        mc_status::Timeout => ApiErrorCategory::Timeout,
        mc_status::CircuitOpen => ApiErrorCategory::CircuitOpen,
        mc_status::Unavailable => ApiErrorCategory::Unavailable,
        mc_status::CallDepthExceeded => ApiErrorCategory::CallDepthExceeded,
        mc_status::Cancelled => ApiErrorCategory::Cancelled,
        _ => ApiErrorCategory::HandlerFailed,
    }
}

pub(crate) fn status_of(category: ApiErrorCategory) -> mc_status {
    match category {
        ApiErrorCategory::Validation => mc_status::ValidationFailed,
        ApiErrorCategory::NotFound => mc_status::ApiNotFound,
        ApiErrorCategory::Authentication => mc_status::AuthenticationFailed,
        ApiErrorCategory::Authorization => mc_status::AuthorizationFailed,
        ApiErrorCategory::Timeout => mc_status::Timeout,
        ApiErrorCategory::CircuitOpen => mc_status::CircuitOpen,
        ApiErrorCategory::HandlerFailed => mc_status::HandlerFailed,
        ApiErrorCategory::Unavailable => mc_status::Unavailable,
        ApiErrorCategory::CallDepthExceeded => mc_status::CallDepthExceeded,
        ApiErrorCategory::Cancelled => mc_status::Cancelled,
    }
}

impl Foreign {
    fn run(&self, call: &Call, next: Option<&Next>) -> Result<Json, ApiError> {
        let id = NEXT_CALL_ID.fetch_add(1, Ordering::Relaxed);
        let frame =
            Arc::new(Frame { call: call.clone(), next: next.cloned(), state: Mutex::new(FrameState::default()) });
        frames().lock().push((id, Arc::clone(&frame)));
        // A failure of a call made inside the callback (mc_api_invoke, mc_api_next) is
        // recorded here; a callback that returns its status unchanged passes it on.
        set_api_error(None);
        let code = {
            let _guard = FrameGuard(id);
            // SAFETY: the caller's callback with the documented signature; `user_data` is
            // theirs, valid until release (guaranteed by the registration's contract).
            unsafe { (self.callback)(self.user_data.get(), id) }
        };
        // An unknown number is a failure of the callback (category HandlerFailed).
        let status = status_from_u32(code).unwrap_or(mc_status::Panic);
        let mut st = frame.state.lock();
        if status == mc_status::Ok {
            return Ok(match (st.result.take(), st.last_next.take()) {
                (Some(r), _) => r,
                (None, Some(Ok(r))) => r,
                _ => null_result(),
            });
        }
        if let Some((category, message)) = st.error.take() {
            return Err(ApiError::new(category, message));
        }
        if let Some(Err(e)) = st.last_next.take() {
            if status_of(e.category) == status {
                return Err(e);
            }
        }
        if let Some(e) = last_api_error() {
            if status_of(e.category) == status {
                return Err(e);
            }
        }
        // A handler's `what` names its API already; a middleware's names the call it ran in.
        let who = match next {
            Some(_) => format!("{} (in the call of {})", self.what, call.api_key()),
            None => self.what.clone(),
        };
        let name = status_name(code).unwrap_or_else(|| "not a status of the header".to_owned());
        Err(ApiError::new(
            category_of(status),
            format!("{who} failed with status {code} ({name}) and set no message (mc_api_call_set_error)"),
        ))
    }
}

struct ForeignHandler(Arc<Foreign>);

impl ApiHandler for ForeignHandler {
    fn call(&self, call: &Call) -> Result<Json, ApiError> {
        self.0.run(call, None)
    }
    fn any_thread(&self) -> bool {
        !self.0.caller_thread
    }
}

struct ForeignMiddleware(Arc<Foreign>);

impl Middleware for ForeignMiddleware {
    fn call(&self, call: &Call, next: &Next) -> Result<Json, ApiError> {
        self.0.run(call, Some(next))
    }
    fn any_thread(&self) -> bool {
        !self.0.caller_thread
    }
}

impl From<RegistryError> for FfiError {
    fn from(e: RegistryError) -> Self {
        let status = match &e {
            RegistryError::Invalid(inner) => return FfiError::from(inner.clone()),
            RegistryError::ApiExists { .. } => mc_status::ApiExists,
            RegistryError::ApiNotFound { .. } => mc_status::ApiNotFound,
            RegistryError::MiddlewareExists { .. } => mc_status::MiddlewareExists,
            RegistryError::MiddlewareNotFound { .. } => mc_status::MiddlewareNotFound,
        };
        FfiError::new(status, e.to_string())
    }
}

impl From<ApiError> for FfiError {
    fn from(e: ApiError) -> Self {
        FfiError::new(status_of(e.category), e.message)
    }
}

fn foreign(
    callback: mc_api_callback,
    release: mc_release_callback,
    user_data: *mut c_void,
    flags: u32,
    what: String,
) -> FfiResult<Arc<Foreign>> {
    let callback = callback.ok_or_else(|| FfiError::null("callback"))?;
    if flags & !MC_CALLBACK_CALLER_THREAD != 0 {
        return Err(FfiError::new(
            mc_status::InvalidArgument,
            format!("`flags` has unknown bits ({flags:#x}); use 0 or MC_CALLBACK_CALLER_THREAD"),
        ));
    }
    Ok(Arc::new(Foreign {
        callback,
        release,
        user_data: UserData(user_data),
        caller_thread: flags & MC_CALLBACK_CALLER_THREAD != 0,
        armed: AtomicBool::new(true),
        what,
    }))
}

fn write_json(out_json: *mut *mut c_char, out_len: *mut usize, text: String) -> FfiResult {
    let len = text.len();
    let ptr = into_c_string(text)?;
    // SAFETY: `out_json` was checked non-NULL by the caller of this helper; `out_len` may
    // be NULL. Both are writable by the caller's contract.
    unsafe {
        out_json.write(ptr);
        if !out_len.is_null() {
            out_len.write(len);
        }
    }
    Ok(())
}

// ----- registration ---------------------------------------------------------------------------

/// Registers an API whose handler is `callback`. `definition_json` is `len` bytes of UTF-8
/// JSON: `{"module":"LabRunner","operation":"ExecuteStep","description":"…",
/// "parameters":{"StepName":{"type":"string","required":true}},"timeoutMs":30000,
/// "force":false}`; only `module` and `operation` are required. `parameters` is the schema
/// (docs/c-abi.md); leave it out (or `null`) to accept any parameters unvalidated.
/// Registering a `Module.Operation` that exists (case-insensitively) fails with
/// `MC_STATUS_API_EXISTS` unless `force` is true, which replaces it (and removes the
/// middleware added for it alone). `flags` is 0 or `MC_CALLBACK_CALLER_THREAD`.
///
/// `hub` is borrowed for the duration of the call. `definition_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `callback` and `release`, and must stay valid until `release` is called (or, without a
/// `release`, until the API is unregistered or replaced, no call of it is running, and
/// the hub is freed). When this function fails, `release` is not called.
#[no_mangle]
pub unsafe extern "C" fn mc_api_register(
    hub: *const mc_hub,
    definition_json: *const c_char,
    len: usize,
    callback: mc_api_callback,
    release: mc_release_callback,
    user_data: *mut c_void,
    flags: u32,
) -> mc_status {
    run("mc_api_register", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `definition_json`.
        let json = unsafe { arg_text(definition_json, len, "definition_json") }?;
        let def = ApiDefinition::from_json(json)?;
        let f =
            foreign(callback, release, user_data, flags, format!("the handler of {}.{}", def.module, def.operation))?;
        let result = hub.registry().register_arc(def, Arc::new(ForeignHandler(Arc::clone(&f))));
        if result.is_err() {
            f.armed.store(false, Ordering::SeqCst);
        }
        result?;
        Ok(())
    })
}

/// Unregisters the API `module`.`operation` (case-insensitive) and the middleware added
/// for it alone; `*out_middleware_removed` (if not NULL) receives how many middleware
/// were removed with it. Calls already running finish. `MC_STATUS_API_NOT_FOUND` when no
/// such API is registered.
///
/// `hub` is borrowed for the duration of the call. `module` and `operation` are borrowed
/// for the duration of the call. `out_middleware_removed` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_api_unregister(
    hub: *const mc_hub,
    module: *const c_char,
    operation: *const c_char,
    out_middleware_removed: *mut usize,
) -> mc_status {
    run("mc_api_unregister", || {
        // SAFETY (three): the caller passes a live hub and C strings or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: see above.
        let module = unsafe { arg_str(module, "module") }?;
        // SAFETY: see above.
        let operation = unsafe { arg_str(operation, "operation") }?;
        let removed = hub.registry().unregister(module, operation)?;
        if !out_middleware_removed.is_null() {
            // SAFETY: not NULL, and the caller guarantees it is writable.
            unsafe { out_middleware_removed.write(removed) };
        }
        Ok(())
    })
}

/// Lists the APIs whose module and operation match the `-like` patterns (NULL = all),
/// sorted by module then operation, as a JSON array of `{"module","operation","apiKey",
/// "description","parameters","timeoutMs","middleware","callerThread","registeredAt",
/// "calls","succeeded","failed","totalDurationMs","lastCalled","lastError","attempts",
/// "retries","rejectedByBreaker"}`.
///
/// `hub` is borrowed for the duration of the call. `module_pattern` and
/// `operation_pattern` (nullable) are borrowed for the duration of the call. The caller
/// owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_list(
    hub: *const mc_hub,
    module_pattern: *const c_char,
    operation_pattern: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_api_list", || {
        // SAFETY (three): the caller passes a live hub and C strings or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: see above.
        let mp = unsafe { opt_str(module_pattern, "module_pattern") }?;
        // SAFETY: see above.
        let op = unsafe { opt_str(operation_pattern, "operation_pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_text(&hub.registry().apis(mp, op)?)?;
        write_json(out_json, std::ptr::null_mut(), text)
    })
}

/// Adds middleware that runs `callback` around calls. `definition_json` is `len` bytes of
/// UTF-8 JSON: `{"name":"Logging","priority":10,"module":null,"operation":null,
/// "force":false}`; only `name` is required. Lower `priority` (default 100) runs outer;
/// equal priorities run in registration order. With `module` and `operation` it runs only
/// for that API (which must be registered) and is removed with it. A name that exists
/// (case-insensitively) fails with `MC_STATUS_MIDDLEWARE_EXISTS` unless `force` replaces
/// it (keeping its place among equal priorities). `flags` is 0 or
/// `MC_CALLBACK_CALLER_THREAD`.
///
/// `hub` is borrowed for the duration of the call. `definition_json` is borrowed for the
/// duration of the call. `user_data` is not dereferenced by the library; it is passed to
/// `callback` and `release`, and must stay valid until `release` is called (or, without a
/// `release`, until the middleware is removed, no call runs it, and the hub is freed).
/// When this function fails, `release` is not called.
#[no_mangle]
pub unsafe extern "C" fn mc_middleware_add(
    hub: *const mc_hub,
    definition_json: *const c_char,
    len: usize,
    callback: mc_api_callback,
    release: mc_release_callback,
    user_data: *mut c_void,
    flags: u32,
) -> mc_status {
    run("mc_middleware_add", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `definition_json`.
        let json = unsafe { arg_text(definition_json, len, "definition_json") }?;
        let def = MiddlewareDefinition::from_json(json)?;
        let f = foreign(callback, release, user_data, flags, format!("middleware '{}'", def.name))?;
        let result = hub.registry().add_middleware_arc(def, Arc::new(ForeignMiddleware(Arc::clone(&f))));
        if result.is_err() {
            f.armed.store(false, Ordering::SeqCst);
        }
        result?;
        Ok(())
    })
}

/// Removes middleware by name (case-insensitive). Calls already running finish with it.
/// `MC_STATUS_MIDDLEWARE_NOT_FOUND` when there is none of that name.
///
/// `hub` is borrowed for the duration of the call. `name` is borrowed for the duration of
/// the call.
#[no_mangle]
pub unsafe extern "C" fn mc_middleware_remove(hub: *const mc_hub, name: *const c_char) -> mc_status {
    run("mc_middleware_remove", || {
        // SAFETY: the caller passes a live hub and a C string or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: see above.
        let name = unsafe { arg_str(name, "name") }?;
        hub.registry().remove_middleware(name)?;
        Ok(())
    })
}

/// Lists middleware whose name matches the `-like` pattern (NULL = all), in the order
/// they run, as a JSON array of `{"name","priority","order","module","operation",
/// "apiKey","callerThread","registeredAt","calls"}` (`module`, `operation`, `apiKey` are
/// `null` for global middleware).
///
/// `hub` is borrowed for the duration of the call. `name_pattern` (nullable) is borrowed
/// for the duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_middleware_list(
    hub: *const mc_hub,
    name_pattern: *const c_char,
    out_json: *mut *mut c_char,
) -> mc_status {
    run("mc_middleware_list", || {
        // SAFETY: the caller passes a live hub and a C string or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: see above.
        let pattern = unsafe { opt_str(name_pattern, "name_pattern") }?;
        let out_json = out_arg(out_json, "out_json")?;
        let text = json_text(&hub.registry().middleware(pattern)?)?;
        write_json(out_json, std::ptr::null_mut(), text)
    })
}

// ----- calls ----------------------------------------------------------------------------------

/// Invokes an API and waits for its result. `request_json` is `len` bytes of UTF-8 JSON:
/// `{"module":"LabRunner","operation":"ExecuteStep","parameters":{"StepName":"DeployVM"},
/// "timeoutMs":5000,"user":null,"headers":{},"metadata":{},"typeHints":null,"tag":0,
/// "depth":0,"requestId":null}`; only `module` and `operation` are required. `tag` is
/// opaque (callbacks read it with `mc_api_call_tag`); `depth` is the caller's own call
/// depth when it invokes from a stage that runs on another thread than its call;
/// `requestId` (a UUID) names the call, a fresh one when left out. `*out_result_json` receives
/// the handler's result as JSON (`null` when it gave none) and `*out_len` (if not NULL)
/// its length in bytes.
///
/// The pipeline (middleware by priority, parameter validation, the handler) runs on this
/// thread; with a timeout (`timeoutMs`, else the API's), when no stage was registered
/// with `MC_CALLBACK_CALLER_THREAD`, it runs on a library worker thread and this call
/// returns `MC_STATUS_TIMEOUT` once the deadline passes, while the abandoned stages may
/// still finish there. Failures: `MC_STATUS_API_NOT_FOUND`,
/// `MC_STATUS_VALIDATION_FAILED` (the handler did not run), `MC_STATUS_TIMEOUT`,
/// `MC_STATUS_HANDLER_FAILED`, `MC_STATUS_CALL_DEPTH_EXCEEDED` (more than 32 nested
/// calls), or whatever category a stage failed with; `mc_last_error` explains, and
/// `mc_api_error_details` gives the category and each invalid parameter as JSON.
/// May be called from inside a callback (a nested call). A push callback waiting here for a
/// stage on a worker thread does not hold that stage up should it `mc_unsubscribe` the
/// callback's own subscription: that returns at once (see `mc_unsubscribe`).
///
/// `hub` is borrowed for the duration of the call. `request_json` is borrowed for the
/// duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`. `out_len` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_api_invoke(
    hub: *const mc_hub,
    request_json: *const c_char,
    len: usize,
    out_result_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    // SAFETY: forwarded caller guarantees; no cancel flag (one the thread has stays in force).
    unsafe { invoke_json("mc_api_invoke", hub, request_json, len, None, out_result_json, out_len) }
}

/// As `mc_api_invoke`, for a call its caller may have to stop while it waits out a retry
/// delay (PowerShell's Ctrl+C): `cancel` (nullable) points to a 4-byte aligned `uint32_t`
/// that the caller keeps valid for the duration of the call. Once it is non-zero and
/// `mc_api_wake_cancelled` has been called, a call waiting before a retry stops at once,
/// runs no further attempt, and returns `MC_STATUS_CANCELLED`; a non-zero flag is also seen
/// before each retry delay. It does not interrupt a stage that is running (a callback stops
/// its own work and returns `MC_STATUS_CANCELLED` itself). APIs invoked with `mc_api_invoke`
/// on this thread inside the call (from its handler) stop their retry delays on the same flag.
/// A NULL `cancel` means no flag of its own, as with `mc_api_invoke`: such a call inside an
/// outer cancellable call on this thread stops on the outer call's flag.
///
/// `hub`, `request_json` and `cancel` are borrowed for the duration of the call. The caller
/// owns the returned string and frees it with `mc_string_free`. `out_len` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_api_invoke_cancellable(
    hub: *const mc_hub,
    request_json: *const c_char,
    len: usize,
    cancel: *const u32,
    out_result_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    // SAFETY: forwarded caller guarantees.
    unsafe { invoke_json("mc_api_invoke_cancellable", hub, request_json, len, Some(cancel), out_result_json, out_len) }
}

/// Wakes every API call of the hub that waits out a retry delay, so that those whose
/// `cancel` flag (`mc_api_invoke_cancellable`) is set stop; the others wait on. Set the flag
/// first, then call this.
///
/// `hub` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_api_wake_cancelled(hub: *const mc_hub) -> mc_status {
    run("mc_api_wake_cancelled", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        hub.resilience().wake_sleepers();
        Ok(())
    })
}

/// The body of `mc_api_invoke` and `mc_api_invoke_cancellable`: with `Some(cancel)` the call
/// runs with `cancel` as the thread's cancel flag (NULL: the thread's flag stays as it is).
///
/// # Safety
/// As for `mc_api_invoke_cancellable`.
unsafe fn invoke_json(
    function: &'static str,
    hub: *const mc_hub,
    request_json: *const c_char,
    len: usize,
    cancel: Option<*const u32>,
    out_result_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    set_api_error(None);
    run(function, || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `request_json`.
        let json = unsafe { arg_text(request_json, len, "request_json") }?;
        let out_result_json = out_arg(out_result_json, "out_result_json")?;
        let req = InvokeRequest::from_json(json)?;
        let result = match cancel {
            // NULL: no flag of its own, as for mc_api_invoke: an outer cancellable call's flag
            // on this thread still stops this call's retry waits (replacing it with none would
            // leave them unstoppable).
            None => hub.registry().invoke(req),
            Some(flag) if flag.is_null() => hub.registry().invoke(req),
            Some(flag) => {
                if !flag.is_aligned() {
                    let detail = "it must point to a 4-byte aligned uint32_t";
                    return Err(crate::error::Error::invalid("cancel", format!("{flag:p}"), detail).into());
                }
                // SAFETY: aligned (checked), and the caller keeps it valid for the call;
                // AtomicU32 has the layout of u32.
                unsafe { crate::bus::cancel::with_flag(flag.cast::<AtomicU32>(), || hub.registry().invoke(req)) }
            }
        };
        match result {
            Ok(result) => {
                // A nested call's failure (on this thread, inside a handler) is not this call's.
                set_api_error(None);
                write_json(out_result_json, out_len, result.get().to_owned())
            }
            Err(e) => {
                set_api_error(Some(&e));
                Err(e.into())
            }
        }
    })
}

/// Checks a request's parameters against the API's schema without calling anything.
/// `request_json` is as for `mc_api_invoke` (only `module`, `operation`, `parameters`,
/// `typeHints` and `authenticationToken` matter). `*out_report_json` receives `{"apiKey",
/// "valid":true|false,"errors":[{"parameter","message"}]}`. `MC_STATUS_API_NOT_FOUND` when no
/// such API exists. While security is enabled the token is checked first, as for a call:
/// `MC_STATUS_AUTHENTICATION_FAILED` or `MC_STATUS_AUTHORIZATION_FAILED`, before anything
/// about the API is told.
///
/// `hub` is borrowed for the duration of the call. `request_json` is borrowed for the
/// duration of the call. The caller owns the returned string and frees it with
/// `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_validate(
    hub: *const mc_hub,
    request_json: *const c_char,
    len: usize,
    out_report_json: *mut *mut c_char,
) -> mc_status {
    run("mc_api_validate", || {
        // SAFETY: the caller passes a live hub or NULL.
        let hub = unsafe { hub_ref(hub) }?;
        // SAFETY: the caller passes `len` readable bytes at `request_json`.
        let json = unsafe { arg_text(request_json, len, "request_json") }?;
        let out = out_arg(out_report_json, "out_report_json")?;
        let req = InvokeRequest::from_json(json)?;
        let report = hub.registry().validate(&req)?;
        write_json(out, std::ptr::null_mut(), json_text(&report)?)
    })
}

/// Writes JSON describing the calling thread's last failed `mc_api_invoke` or
/// `mc_api_next` to `*out_json`: `{"category":"Validation","message":"…","parameters":
/// [{"parameter":"StepName","message":"…"}]}` (`parameters` lists each invalid parameter
/// of a validation failure; it is empty otherwise), or NULL when the last of those calls
/// succeeded or failed for a reason other than the call itself (bad arguments). Each
/// `mc_api_invoke` and `mc_api_next` resets it.
///
/// The caller owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_error_details(out_json: *mut *mut c_char) -> mc_status {
    if out_json.is_null() {
        super::boundary::set_last_error(Some("mc_api_error_details: `out_json` is NULL; pass a valid pointer".into()));
        return mc_status::NullArgument;
    }
    let text = last_api_error().map(|e| e.to_json());
    let ptr = match text.map(into_c_string) {
        Some(Ok(p)) => p,
        _ => std::ptr::null_mut(),
    };
    // SAFETY: checked non-NULL; the caller guarantees it is writable.
    unsafe { out_json.write(ptr) };
    mc_status::Ok
}

/// Middleware only: runs the rest of the pipeline (later middleware, validation, the
/// handler) and writes its result JSON to `*out_result_json` (and its length to
/// `*out_len` if not NULL). Call it on the thread the middleware callback runs on, before
/// the callback returns; it may be called more than once (each runs the rest again).
/// `context_json` (nullable; `len` bytes) changes the call's context first: any of
/// `parameters`, `typeHints`, `user`, `headers`, `metadata` replace the current values
/// (giving `parameters` without `typeHints` clears the hints); the call's identity keys
/// (`apiKey`, `module`, `operation`, `requestId`, `startTime`, `depth`, `timeoutMs`,
/// `tag`, `attempt`) are ignored, so the context from `mc_api_call_context` can be passed back as
/// modified; other keys are `MC_STATUS_INVALID_ARGUMENT`. Returns the status of the
/// rest of the pipeline (see `mc_api_invoke`); returning that status from the callback
/// passes the error on.
///
/// `context_json` (nullable) is borrowed for the duration of the call. The caller owns
/// the returned string and frees it with `mc_string_free`. `out_len` may be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_api_next(
    call: mc_call,
    context_json: *const c_char,
    len: usize,
    out_result_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    set_api_error(None);
    run("mc_api_next", || {
        let frame = frame(call)?;
        let out_result_json = out_arg(out_result_json, "out_result_json")?;
        let Some(next) = &frame.next else {
            return Err(FfiError::new(
                mc_status::InvalidArgument,
                format!(
                    "call {call} is a handler's call ({}); only middleware has a next stage to run",
                    frame.call.api_key()
                ),
            ));
        };
        if !context_json.is_null() {
            // SAFETY: the caller passes `len` readable bytes at `context_json`.
            let json = unsafe { arg_text(context_json, len, "context_json") }?;
            frame.call.update_context_json(json)?;
        }
        let result = next.run();
        let outcome = match &result {
            Ok(r) => {
                set_api_error(None);
                write_json(out_result_json, out_len, r.get().to_owned())
            }
            Err(e) => {
                set_api_error(Some(e));
                Err(e.clone().into())
            }
        };
        frame.state.lock().last_next = Some(result);
        outcome
    })
}

/// Writes the call's context as JSON to `*out_json` (and its length to `*out_len` if not
/// NULL): `{"apiKey","module","operation","requestId","startTime","depth","timeoutMs",
/// "tag","attempt","user","headers","metadata","parameters","typeHints"}` (`attempt`: 0 for
/// the first attempt, 1 for the first retry, …). In a handler,
/// `parameters` are validated, named as the schema spells them, with defaults filled in.
///
/// The caller owns the returned string and frees it with `mc_string_free`. `out_len` may
/// be NULL.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_context(
    call: mc_call,
    out_json: *mut *mut c_char,
    out_len: *mut usize,
) -> mc_status {
    run("mc_api_call_context", || {
        let frame = frame(call)?;
        let out_json = out_arg(out_json, "out_json")?;
        write_json(out_json, out_len, frame.call.context_json())
    })
}

/// Writes the `tag` of the call's request (0 when none was given) to `*out_tag`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_tag(call: mc_call, out_tag: *mut u64) -> mc_status {
    run("mc_api_call_tag", || {
        let frame = frame(call)?;
        let out_tag = out_arg(out_tag, "out_tag")?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_tag.write(frame.call.tag()) };
        Ok(())
    })
}

/// Writes the call's nesting depth (1 for a call made outside any handler) to
/// `*out_depth`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_depth(call: mc_call, out_depth: *mut u32) -> mc_status {
    run("mc_api_call_depth", || {
        let frame = frame(call)?;
        let out_depth = out_arg(out_depth, "out_depth")?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_depth.write(frame.call.depth()) };
        Ok(())
    })
}

/// Makes `call` the API call this thread works for, until `mc_api_call_leave`: for a
/// callback that hands its work to another thread (PowerShell runs a stage in the runspace
/// that registered it) and calls this on that thread. APIs invoked there then nest in `call`
/// (its depth, and the chain of calls `MC_STATUS_CALL_DEPTH_EXCEEDED` names), and trace
/// records of messages published there carry its request id, as on the callback's own thread.
/// Enter and leave nest; leave in the reverse order, on the same thread. `call` must be
/// active (its callback still running): else `MC_STATUS_CALL_NOT_ACTIVE`.
///
/// An enter made inside a callback (of any call this thread runs) belongs to that callback:
/// leave it before the callback returns; if it does not, its return ends the enter (the
/// thread works for the call it worked for before the callback ran, and a later
/// `mc_api_call_leave(call)` is refused).
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_enter(call: mc_call) -> mc_status {
    run("mc_api_call_enter", || {
        let frame = frame(call)?;
        crate::registry::enter_call(call, frame.call.clone());
        Ok(())
    })
}

/// Ends `mc_api_call_enter(call)` on this thread: the thread works for the call it worked for
/// before. `call` must be the call this thread works for now through that enter: the innermost
/// call entered on this thread and not left yet, entered in the callback running now (or
/// outside any callback, when none runs). Else `MC_STATUS_INVALID_ARGUMENT`, and nothing
/// changes: a callback cannot leave a call entered before it ran. `call` need not be active
/// any more.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_leave(call: mc_call) -> mc_status {
    run("mc_api_call_leave", || {
        use crate::registry::LeaveRefused;
        crate::registry::leave_call(call).map_err(|refused| {
            let message = match refused {
                LeaveRefused::NotInnermost(id) => format!(
                    "call {call} is not the innermost call entered on this thread (call {id} is); leave calls in the \
                     reverse order of mc_api_call_enter, on the thread that entered them"
                ),
                LeaveRefused::EnteredOutside => format!(
                    "call {call} was entered on this thread before the callback running now; leave it after that \
                     callback returns, where it was entered"
                ),
                LeaveRefused::NotEntered => format!(
                    "call {call} is not entered on this thread (an enter made inside a callback ends when the callback \
                     returns); call mc_api_call_leave once per mc_api_call_enter, on the same thread"
                ),
            };
            FfiError::new(mc_status::InvalidArgument, message)
        })
    })
}

/// Writes the call's user as JSON to `*out_json` (`null` when it has none): the request's
/// `user`, a middleware's, or the user of the authentication token the security stage
/// accepted.
///
/// The caller owns the returned string and frees it with `mc_string_free`.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_user(call: mc_call, out_json: *mut *mut c_char) -> mc_status {
    run("mc_api_call_user", || {
        let frame = frame(call)?;
        let out_json = out_arg(out_json, "out_json")?;
        write_json(out_json, std::ptr::null_mut(), frame.call.user_json())
    })
}

/// Writes the 0-based attempt of the call now running to `*out_attempt`: 0 for the first
/// attempt, 1 for the first retry, and so on. Each attempt runs the stages after the retry
/// stage again, with its own timeout; a stage that must stop at the timeout (a script
/// engine's) restarts its clock when this number changes.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_attempt(call: mc_call, out_attempt: *mut u32) -> mc_status {
    run("mc_api_call_attempt", || {
        let frame = frame(call)?;
        let out_attempt = out_arg(out_attempt, "out_attempt")?;
        // SAFETY: checked non-NULL; the caller guarantees it is writable.
        unsafe { out_attempt.write(frame.call.attempt()) };
        Ok(())
    })
}

/// Sets the result of this stage: `json` is `len` bytes of UTF-8 JSON (any value). The
/// library copies it. Used when the callback returns `MC_STATUS_OK`; a later call replaces
/// an earlier one.
///
/// `json` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_set_result(call: mc_call, json: *const c_char, len: usize) -> mc_status {
    run("mc_api_call_set_result", || {
        let frame = frame(call)?;
        // SAFETY: the caller passes `len` readable bytes at `json`.
        let text = unsafe { arg_text(json, len, "json") }?;
        let raw = crate::registry::json_value(text)?;
        frame.state.lock().result = Some(raw);
        Ok(())
    })
}

/// Sets the error this stage fails with when the callback returns an error status:
/// `category` is the status of the category (`MC_STATUS_VALIDATION_FAILED`,
/// `MC_STATUS_API_NOT_FOUND`, `MC_STATUS_AUTHENTICATION_FAILED`,
/// `MC_STATUS_AUTHORIZATION_FAILED`, `MC_STATUS_TIMEOUT`, `MC_STATUS_CIRCUIT_OPEN`,
/// `MC_STATUS_HANDLER_FAILED`, `MC_STATUS_UNAVAILABLE`, `MC_STATUS_CALL_DEPTH_EXCEEDED`, or
/// `MC_STATUS_CANCELLED`: the caller stopped the call, which then counts neither for nor
/// against the circuit breaker and is not retried), and `message` (NUL-terminated UTF-8)
/// explains it. The library copies it. The status
/// the callback returns does not change the category set here.
///
/// `message` is borrowed for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn mc_api_call_set_error(call: mc_call, category: u32, message: *const c_char) -> mc_status {
    run("mc_api_call_set_error", || {
        let frame = frame(call)?;
        // SAFETY: the caller passes a C string or NULL.
        let message = unsafe { arg_str(message, "message") }?;
        let category = match status_from_u32(category).unwrap_or(mc_status::Panic) {
            s @ (mc_status::ValidationFailed
            | mc_status::ApiNotFound
            | mc_status::AuthenticationFailed
            | mc_status::AuthorizationFailed
            | mc_status::Timeout
            | mc_status::CircuitOpen
            | mc_status::HandlerFailed
            | mc_status::Unavailable
            | mc_status::CallDepthExceeded
            | mc_status::Cancelled) => category_of(s),
            _ => {
                return Err(FfiError::new(
                    mc_status::InvalidArgument,
                    format!(
                        "`category` {category} is not an error category; use MC_STATUS_HANDLER_FAILED or another \
                         category status"
                    ),
                ))
            }
        };
        frame.state.lock().error = Some((category, message.to_owned()));
        Ok(())
    })
}
