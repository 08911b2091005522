//! One API call: the stage list built for it, the context its stages share, and the code
//! that runs the stages in order.
//!
//! The stages of a call, outermost first (ARCHITECTURE §4):
//!
//! ```text
//!   (metrics and the apiCall trace record)  around the whole run, in `Registry::invoke`
//!   security                                while security is enabled: token, scope, module
//!   circuit breaker                         unless the call turns it off: admits or fails fast
//!   retry                                   runs the rest once per attempt, with backoff
//!   timeout                                 only when the call has one; per attempt
//!   user middleware, by priority            lower number outer; ties in registration order
//!   validation                              the schema, in Rust
//!   handler
//! ```
//!
//! Every stage is `(call, next) -> Result<JSON, ApiError>`: it may change the call's
//! context, run the rest of the pipeline with [`Next::run`] (any number of times), or not
//! (short-circuit, with its own result). No lock is held while a stage runs, so a stage
//! may register, unregister and invoke APIs, including re-entrantly.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;

use super::context::{get_member, ContextData};
use super::error::{ApiError, ApiErrorCategory};
use super::json::{null, OrderedObject};
use super::{ApiEntry, MiddlewareEntry};
use crate::bus::panic_message;
use crate::error::Error;
use crate::json::push_str_literal;
use crate::resilience::{Breaker, Outcome, Permit, Verdict};
use crate::security::{Action, DenyKind, SecurityError, TokenText};
use crate::sync::{Arc, AtomicU32, AtomicU64, Mutex, Ordering};
use crate::time_fmt::format_ms;

/// The JSON value a stage produces: the API call's result.
pub type Json = Box<RawValue>;

/// An API's handler. Implemented for closures `Fn(&Call) -> Result<Json, ApiError>`.
pub trait ApiHandler: Send + Sync + 'static {
    /// Handles one call. The parameters are in [`Call::parameters_json`], validated
    /// against the API's schema, named as the schema spells them, with defaults filled in.
    fn call(&self, call: &Call) -> Result<Json, ApiError>;

    /// Whether the handler may run on a library worker thread. When a call has a timeout
    /// and every stage after the timeout may, they run on a worker so that the caller
    /// gets its answer when the deadline passes. `false` keeps every call on the thread
    /// that invoked it (PowerShell script blocks need that). Default `true`.
    fn any_thread(&self) -> bool {
        true
    }
}

impl<F> ApiHandler for F
where
    F: Fn(&Call) -> Result<Json, ApiError> + Send + Sync + 'static,
{
    fn call(&self, call: &Call) -> Result<Json, ApiError> {
        self(call)
    }
}

/// A middleware stage. Implemented for closures `Fn(&Call, &Next) -> Result<Json, ApiError>`.
pub trait Middleware: Send + Sync + 'static {
    /// Runs around the rest of the pipeline: call `next.run()` to continue (its result is
    /// the inner stages' result), or return without calling it to short-circuit.
    fn call(&self, call: &Call, next: &Next) -> Result<Json, ApiError>;

    /// As [`ApiHandler::any_thread`].
    fn any_thread(&self) -> bool {
        true
    }
}

impl<F> Middleware for F
where
    F: Fn(&Call, &Next) -> Result<Json, ApiError> + Send + Sync + 'static,
{
    fn call(&self, call: &Call, next: &Next) -> Result<Json, ApiError> {
        self(call, next)
    }
}

/// One step of a call's pipeline. Built per call from the registry's state, so the list
/// is explicit and typed.
pub(crate) enum Stage {
    /// The security check: the call's token must allow `api:call` on this API.
    Security,
    /// The API's circuit breaker: admits the call (the first attempt) or fails it fast
    /// with `CircuitOpen`, without running anything inside.
    CircuitBreaker(Arc<Breaker>),
    /// Runs the rest of the pipeline once per attempt: up to `1 + retries` attempts while
    /// they fail with a retryable category, waiting the retry policy's backoff between
    /// them; with a breaker, counts every attempt in it and asks it before each retry.
    Retry {
        /// Retries after the first attempt.
        retries: u32,
        /// The breaker of the stage before, if the call has one.
        breaker: Option<Arc<Breaker>>,
    },
    /// In place of `Retry` when the call makes one attempt and has no breaker: counts it.
    SingleAttempt,
    /// The call's deadline. When every later stage may run on any thread, they run on a
    /// worker and the caller gets `Timeout` as soon as the deadline passes; otherwise they
    /// run inline and a late finish becomes `Timeout`. Every stage also checks the
    /// deadline before it starts.
    Timeout,
    /// User middleware.
    Middleware(Arc<MiddlewareEntry>),
    /// Parameter validation against the API's schema.
    Validate,
    /// The API's handler.
    Handler,
}

impl Stage {
    fn any_thread(&self, api: &ApiEntry) -> bool {
        match self {
            Stage::Timeout | Stage::Validate | Stage::Security => true,
            Stage::CircuitBreaker(_) | Stage::Retry { .. } | Stage::SingleAttempt => true,
            Stage::Middleware(m) => m.handler.any_thread(),
            Stage::Handler => api.handler.any_thread(),
        }
    }
}

pub(crate) struct CallInner {
    pub api: Arc<ApiEntry>,
    /// The hub's shared parts (tracing of the stages).
    pub ctx: Arc<crate::hub::Context>,
    pub stages: Vec<Stage>,
    pub context: Mutex<ContextData>,
    pub request_id: String,
    pub start_time_ms: i64,
    /// When the call started (the base of `deadline_ns`).
    pub started: Instant,
    /// The current attempt's deadline in nanoseconds after `started`, plus one; 0 before
    /// the Timeout stage has started (or without a timeout).
    pub deadline_ns: AtomicU64,
    pub timeout: Option<Duration>,
    pub timeout_ms: Option<u64>,
    /// The 0-based attempt of the retry stage now running the inner stages.
    pub attempt: AtomicU32,
    /// The permit the circuit breaker stage got for the first attempt, for the retry stage.
    pub permit: Mutex<Option<Permit>>,
    /// The token presented for the security stage.
    pub token: Option<TokenText>,
    /// `Module.Operation` as the caller spelled it: what the security stage authorizes and
    /// names, as for an API that does not exist, so a refusal does not tell by its spelling
    /// that the API is registered (scopes compare names case-insensitively: same outcome).
    pub requested_key: String,
    pub depth: u32,
    pub tag: u64,
    pub parent: Option<Call>,
}

/// One API call in progress, as its stages see it. Cheap to clone (shared).
#[derive(Clone)]
pub struct Call {
    pub(crate) inner: Arc<CallInner>,
}

/// The rest of the pipeline after a middleware. [`Next::run`] may be called any number
/// of times (each runs the inner stages again), on any thread, while the call lasts.
#[derive(Clone)]
pub struct Next {
    pub(crate) call: Call,
    pub(crate) index: usize,
}

impl Next {
    /// Runs the inner stages with the call's current context; returns their result.
    pub fn run(&self) -> Result<Json, ApiError> {
        self.call.run_from(self.index)
    }

    /// The call this continues.
    pub fn call(&self) -> &Call {
        &self.call
    }
}

thread_local! {
    /// The call whose stages this thread is running, innermost first: the parent of any
    /// call invoked from here.
    static CURRENT: RefCell<Option<Call>> = const { RefCell::new(None) };
}

/// The call this thread is running stages of, if any.
pub(crate) fn current_call() -> Option<Call> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

thread_local! {
    /// The calls made current on this thread by [`enter_call`], innermost last, each with the
    /// call it replaced; `base` is where the entries of the callback running now begin (those
    /// below belong to a callback further out, or to no callback).
    static ENTERED: RefCell<Entered> = const { RefCell::new(Entered { calls: Vec::new(), base: 0 }) };
}

struct Entered {
    calls: Vec<(u64, Option<Call>)>,
    base: usize,
}

/// Why [`leave_call`] refused.
pub(crate) enum LeaveRefused {
    /// Another call (this id) was entered after it at this level and not left yet.
    NotInnermost(u64),
    /// It was entered outside the callback running now (this thread runs a call nested in it).
    EnteredOutside,
    /// It is not entered on this thread (never, left already, or entered inside a callback
    /// that has returned since).
    NotEntered,
}

/// Makes `call` (known to the caller as `id`) the call this thread runs stages of, until
/// [`leave_call`]: for a caller that runs a stage's work on another thread than the
/// pipeline's (see `mc_api_call_enter`), so that calls and publishes made there nest in it.
///
/// An enter belongs to the callback running on this thread when it was made (or to none):
/// that callback's return ends it if it was not left, restoring the thread's current call
/// as it was before the callback ran; and it can be left only at that level, when the
/// thread's current call is the one this enter made current. So a callback can neither end
/// an enter made outside it nor leave one of its own behind.
pub(crate) fn enter_call(id: u64, call: Call) {
    let previous = CURRENT.try_with(|c| c.replace(Some(call))).ok().flatten();
    let _ = ENTERED.try_with(|e| e.borrow_mut().calls.push((id, previous)));
}

/// Ends [`enter_call`]`(id)`: the thread runs stages of the call it ran before. Refused, with
/// nothing changed, unless `id` is the innermost call entered at this level.
pub(crate) fn leave_call(id: u64) -> Result<(), LeaveRefused> {
    let previous = ENTERED
        .try_with(|e| {
            let mut e = e.borrow_mut();
            let base = e.base;
            match e.calls.iter().rposition(|(entered, _)| *entered == id) {
                Some(i) if i + 1 == e.calls.len() && i >= base => Ok(e.calls.pop().expect("checked").1),
                Some(i) if i < base => Err(LeaveRefused::EnteredOutside),
                Some(_) => Err(LeaveRefused::NotInnermost(e.calls.last().expect("checked").0)),
                None => Err(LeaveRefused::NotEntered),
            }
        })
        .unwrap_or(Err(LeaveRefused::NotEntered))?;
    let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    Ok(())
}

/// The current call while a call's stage runs on this thread: restores the one before when
/// the stage returns, and ends the enters ([`enter_call`]) made during it that were not left.
struct CurrentGuard {
    previous: Option<Call>,
    outer_base: usize,
}

impl CurrentGuard {
    fn enter(call: &Call) -> CurrentGuard {
        let previous = CURRENT.try_with(|c| c.replace(Some(call.clone()))).ok().flatten();
        let outer_base = ENTERED
            .try_with(|e| {
                let mut e = e.borrow_mut();
                let len = e.calls.len();
                std::mem::replace(&mut e.base, len)
            })
            .unwrap_or(0);
        CurrentGuard { previous, outer_base }
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        // Dropped once the borrow ends: a call dropped here may run code of its own.
        let _left_behind = ENTERED.try_with(|e| {
            let mut e = e.borrow_mut();
            let base = std::mem::replace(&mut e.base, self.outer_base);
            let len = e.calls.len();
            e.calls.split_off(base.min(len))
        });
        let previous = self.previous.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = previous);
    }
}

impl Call {
    /// `Module.Operation`, spelled as the API was registered.
    pub fn api_key(&self) -> &str {
        &self.inner.api.key
    }

    /// The API's module name.
    pub fn module(&self) -> &str {
        &self.inner.api.module
    }

    /// The API's operation name.
    pub fn operation(&self) -> &str {
        &self.inner.api.operation
    }

    /// This call's id (a UUID).
    pub fn request_id(&self) -> &str {
        &self.inner.request_id
    }

    /// When the call started, in milliseconds since the Unix epoch (the hub's clock).
    pub fn start_time_ms(&self) -> i64 {
        self.inner.start_time_ms
    }

    /// 1 for a call made from outside any handler, 2 for a call made by a handler of a
    /// depth-1 call, and so on.
    pub fn depth(&self) -> u32 {
        self.inner.depth
    }

    /// The caller's opaque tag from the request (0 when none was given).
    pub fn tag(&self) -> u64 {
        self.inner.tag
    }

    /// The call's timeout in milliseconds, if it has one.
    pub fn timeout_ms(&self) -> Option<u64> {
        self.inner.timeout_ms
    }

    /// Time left before the current attempt's deadline (zero once it passed); `None`
    /// without a timeout, or before the Timeout stage started.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline().map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// The call's user as JSON (`null` when none): the caller's, a middleware's, or the
    /// authentication token's user set by the security stage.
    pub fn user_json(&self) -> String {
        self.inner.context.lock().user_json().to_owned()
    }

    /// The 0-based attempt now running (0 unless the retry stage has retried).
    pub fn attempt(&self) -> u32 {
        self.inner.attempt.load(Ordering::Acquire)
    }

    fn deadline(&self) -> Option<Instant> {
        match self.inner.deadline_ns.load(Ordering::Acquire) {
            0 => None,
            ns => Some(self.inner.started + Duration::from_nanos(ns - 1)),
        }
    }

    fn start_deadline(&self) -> Instant {
        let timeout = self.inner.timeout.expect("a Timeout stage is only added to calls with a timeout");
        let deadline = Instant::now() + timeout;
        let ns = u64::try_from(deadline.saturating_duration_since(self.inner.started).as_nanos()).unwrap_or(u64::MAX - 1);
        self.inner.deadline_ns.store(ns + 1, Ordering::Release);
        deadline
    }

    /// The call that invoked this one from inside its own stages, if any.
    pub fn parent(&self) -> Option<&Call> {
        self.inner.parent.as_ref()
    }

    /// The current parameters as a JSON object.
    pub fn parameters_json(&self) -> String {
        self.inner.context.lock().parameters.to_json()
    }

    /// The parameter `name` (compared case-insensitively) as JSON, if given.
    pub fn parameter_json(&self, name: &str) -> Option<String> {
        get_member(&self.inner.context.lock().parameters, name).map(|v| v.get().to_owned())
    }

    /// The metadata entry `key` (compared case-insensitively) as JSON, if set.
    pub fn metadata_json(&self, key: &str) -> Option<String> {
        get_member(&self.inner.context.lock().metadata, key).map(|v| v.get().to_owned())
    }

    /// Sets a metadata entry from JSON text; later stages and the handler see it.
    pub fn set_metadata_json(&self, key: &str, value: &str) -> Result<(), Error> {
        let raw = super::json::raw(value, "metadata value")?;
        self.inner.context.lock().set_metadata(key, raw);
        Ok(())
    }

    /// Sets a header from JSON text.
    pub fn set_header_json(&self, key: &str, value: &str) -> Result<(), Error> {
        let raw = super::json::raw(value, "header value")?;
        self.inner.context.lock().set_header(key, raw);
        Ok(())
    }

    /// Applies a (partial) context object; see `mc_api_next` in docs/c-abi.md.
    pub fn update_context_json(&self, json: &str) -> Result<(), Error> {
        self.inner.context.lock().apply_update(json)
    }

    /// The whole context as JSON: `{"apiKey","module","operation","requestId","startTime",
    /// "depth","timeoutMs","tag","attempt","user","headers","metadata","parameters",
    /// "typeHints"}`.
    pub fn context_json(&self) -> String {
        let c = self.inner.context.lock();
        let i = &self.inner;
        let mut out =
            String::with_capacity(256 + c.parameters.0.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>());
        out.push_str("{\"apiKey\":");
        push_str_literal(&mut out, &i.api.key);
        out.push_str(",\"module\":");
        push_str_literal(&mut out, &i.api.module);
        out.push_str(",\"operation\":");
        push_str_literal(&mut out, &i.api.operation);
        out.push_str(",\"requestId\":");
        push_str_literal(&mut out, &i.request_id);
        out.push_str(",\"startTime\":");
        push_str_literal(&mut out, &format_ms(i.start_time_ms));
        out.push_str(&format!(",\"depth\":{},\"timeoutMs\":", i.depth));
        match i.timeout_ms {
            Some(t) => out.push_str(&t.to_string()),
            None => out.push_str("null"),
        }
        out.push_str(&format!(",\"tag\":{},\"attempt\":{},\"user\":", i.tag, self.attempt()));
        out.push_str(c.user_json());
        out.push_str(",\"headers\":");
        c.headers.write_to(&mut out);
        out.push_str(",\"metadata\":");
        c.metadata.write_to(&mut out);
        out.push_str(",\"parameters\":");
        c.parameters.write_to(&mut out);
        out.push_str(",\"typeHints\":");
        out.push_str(c.type_hints.as_deref().map_or("null", RawValue::get));
        out.push('}');
        out
    }

    fn timeout_error(&self, abandoned: bool) -> ApiError {
        let ms = self.inner.timeout_ms.unwrap_or(0);
        let key = &self.inner.api.key;
        let tail = if abandoned {
            " It was abandoned; its handler may still finish on a library worker thread, and its result is discarded."
        } else {
            ""
        };
        ApiError::new(
            ApiErrorCategory::Timeout,
            format!(
                "{key} did not complete within its timeout of {ms} ms.{tail} Allow more time (Invoke-ModuleAPI -Timeout, \
                 \"timeoutMs\"), or make the handler faster."
            ),
        )
    }

    /// Runs stages `index..` of this call on the current thread.
    pub(crate) fn run_from(&self, index: usize) -> Result<Json, ApiError> {
        let _current = CurrentGuard::enter(self);
        if let Some(deadline) = self.deadline() {
            if Instant::now() >= deadline {
                return Err(self.timeout_error(false));
            }
        }
        let Some(stage) = self.inner.stages.get(index) else {
            return Err(ApiError::handler_failed(format!(
                "{}: the pipeline ran past its handler (stage {index}); this is a bug in the library, please report it",
                self.inner.api.key
            )));
        };
        let traced = match stage {
            // The retry stage traces each attempt itself (see `run_retry`).
            Stage::Timeout | Stage::Retry { .. } | Stage::SingleAttempt => None,
            _ if self.inner.ctx.trace.level() < 2 => None,
            Stage::Security => Some(("security", None)),
            Stage::CircuitBreaker(_) => Some(("circuitBreaker", None)),
            Stage::Middleware(m) => Some(("middleware", Some(m.name.as_str()))),
            Stage::Validate => Some(("validate", None)),
            Stage::Handler => Some(("handler", None)),
        };
        let Some((kind, name)) = traced else {
            return self.run_stage(index, stage);
        };
        let started = Instant::now();
        let result = self.run_stage(index, stage);
        crate::trace::stage(
            &self.inner.ctx.trace,
            self.inner.ctx.clock.now_ms(),
            &self.inner.api.key,
            &self.inner.request_id,
            kind,
            name,
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            result.as_ref().err().map(|e| e.record_text()).as_deref(),
        );
        result
    }

    /// Runs one stage (`stage` is `self.inner.stages[index]`).
    fn run_stage(&self, index: usize, stage: &Stage) -> Result<Json, ApiError> {
        match stage {
            Stage::Security => self.run_security(index + 1),
            Stage::CircuitBreaker(breaker) => self.run_breaker(breaker, index + 1),
            Stage::Retry { retries, breaker } => self.run_retry(*retries, breaker.as_ref(), index + 1),
            Stage::SingleAttempt => {
                self.inner.api.stats.attempts.fetch_add(1, Ordering::Relaxed);
                self.run_from(index + 1)
            }
            Stage::Timeout => self.run_with_deadline(index + 1),
            Stage::Middleware(m) => {
                m.calls.fetch_add(1, Ordering::Relaxed);
                let next = Next { call: self.clone(), index: index + 1 };
                catch_unwind(AssertUnwindSafe(|| m.handler.call(self, &next))).unwrap_or_else(|p| {
                    Err(ApiError::handler_failed(format!(
                        "middleware '{}' of {} panicked: {}",
                        m.name,
                        self.inner.api.key,
                        panic_message(p.as_ref())
                    )))
                })
            }
            Stage::Validate => {
                if let Some(schema) = &self.inner.api.schema {
                    let mut c = self.inner.context.lock();
                    match schema.validate(&self.inner.api.key, &c.parameters, c.type_hints.as_deref()) {
                        Ok(v) => {
                            c.parameters = v.params;
                            c.type_hints = v.hints;
                        }
                        Err(errors) => {
                            let list = errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; ");
                            let mut e = ApiError::new(
                                ApiErrorCategory::Validation,
                                format!(
                                    "invalid parameters for {}: {list}. The handler did not run; see the API's parameters \
                                     with Get-ModuleAPIs (mc_api_list)",
                                    self.inner.api.key
                                ),
                            );
                            e.parameters = errors;
                            return Err(e);
                        }
                    }
                }
                self.run_from(index + 1)
            }
            Stage::Handler => {
                catch_unwind(AssertUnwindSafe(|| self.inner.api.handler.call(self))).unwrap_or_else(|p| {
                    Err(ApiError::handler_failed(format!(
                        "the handler of {} panicked: {}",
                        self.inner.api.key,
                        panic_message(p.as_ref())
                    )))
                })
            }
        }
    }

    /// The security stage: `api:call` on this API for the call's token.
    fn run_security(&self, index: usize) -> Result<Json, ApiError> {
        let token = self.inner.token.as_ref().map(TokenText::expose);
        match self.inner.ctx.authorize(token, Action::ApiCall, &self.inner.requested_key, None) {
            Ok(Some(principal)) => {
                let mut c = self.inner.context.lock();
                if c.user.is_none() {
                    let who = principal.user.as_deref().unwrap_or(&principal.module);
                    let mut text = String::with_capacity(who.len() + 2);
                    push_str_literal(&mut text, who);
                    c.user = RawValue::from_string(text).ok();
                }
            }
            Ok(None) => {}
            Err(e) => return Err(security_error(e)),
        }
        self.run_from(index)
    }

    /// The circuit breaker stage: admits the first attempt or fails fast.
    fn run_breaker(&self, breaker: &Arc<Breaker>, index: usize) -> Result<Json, ApiError> {
        let clock = &self.inner.ctx.clock;
        match breaker.try_acquire(clock.now_ms()) {
            Err(rejection) => {
                self.inner.api.stats.rejected.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::new(ApiErrorCategory::CircuitOpen, rejection.to_string()))
            }
            Ok(permit) => {
                *self.inner.permit.lock() = Some(permit);
                let result = self.run_from(index);
                // The retry stage takes the permit; should it not have, the outcome counts here.
                let left = self.inner.permit.lock().take();
                if let Some(p) = left {
                    p.record(clock.now_ms(), outcome(&result));
                }
                result
            }
        }
    }

    /// The retry stage: the inner stages once per attempt (see [`Stage::Retry`]).
    fn run_retry(&self, retries: u32, breaker: Option<&Arc<Breaker>>, index: usize) -> Result<Json, ApiError> {
        let first = self.inner.permit.lock().take();
        let stats = &self.inner.api.stats;
        let made = std::cell::Cell::new(0u32);
        let (result, attempts) = self.inner.ctx.resilience.execute_until(
            breaker.map(|b| (b, first)),
            retries,
            |k| {
                self.inner.attempt.store(k, Ordering::Release);
                // Each attempt gets its own deadline, set when its Timeout stage starts.
                self.inner.deadline_ns.store(0, Ordering::Release);
                made.set(k + 1);
                stats.attempts.fetch_add(1, Ordering::Relaxed);
                if k > 0 {
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                }
                // The clock only for the trace, which most calls do not write.
                let started = (self.inner.ctx.trace.level() != 0).then(Instant::now);
                let result = self.run_from(index);
                if let Some(started) = started {
                    self.trace_attempt(k, retries, started, &result);
                }
                result
            },
            verdict,
            |rejection, last| {
                stats.rejected.fetch_add(1, Ordering::Relaxed);
                let tail = match (last, made.get()) {
                    (Some(_), n) => format!(" No retry was made after attempt {n} of {}.", retries + 1),
                    (None, _) => String::new(),
                };
                ApiError::new(ApiErrorCategory::CircuitOpen, format!("{rejection}{tail}"))
            },
            // The caller's cancel flag (mc_api_invoke_cancellable): this stage runs on its thread.
            &crate::bus::cancel::cancelled,
            |last| {
                ApiError::new(
                    ApiErrorCategory::Cancelled,
                    format!(
                        "{}: the call was stopped while it waited to retry; attempt {} of {} had failed: {}",
                        self.inner.api.key,
                        made.get(),
                        retries + 1,
                        last.message
                    ),
                )
            },
        );
        match result {
            Err(mut e)
                if attempts > 1
                    && !matches!(e.category, ApiErrorCategory::CircuitOpen | ApiErrorCategory::Cancelled) =>
            {
                // The time of every attempt and every wait between them: what the caller waited
                // (from the call's start, read once per call already).
                let ms = (self.inner.ctx.clock.now_ms() - self.inner.start_time_ms).max(0);
                let took = if ms < 1_000 { format!("{ms} ms") } else { format!("{:.1} s", ms as f64 / 1_000.0) };
                e.message.push_str(&format!(
                    " (failed {attempts} attempts in {took}: the first and {} retries)",
                    attempts - 1
                ));
                if e.category == ApiErrorCategory::Timeout {
                    e.message.push_str(
                        " A timeout is retried by the retry policy; -RetryAttempts 0 (\"retryAttempts\":0) stops \
                         after the first attempt.",
                    );
                }
                Err(e)
            }
            other => other,
        }
    }

    /// Traces one attempt: at the Verbose level always, at Basic when it is a retry or failed
    /// with a retryable error, so that retries show in a basic trace.
    fn trace_attempt(&self, k: u32, retries: u32, started: Instant, result: &Result<Json, ApiError>) {
        let trace = &self.inner.ctx.trace;
        let retryable = matches!(result, Err(e) if matches!(verdict(e), Verdict::Retry(_)));
        let min_level = if k > 0 || retryable { 1 } else { 2 };
        if trace.level() < min_level {
            return;
        }
        let error = result.as_ref().err();
        trace.emit(
            self.inner.ctx.clock.now_ms(),
            min_level,
            "apiAttempt",
            vec![
                ("api", crate::trace::text(&self.inner.api.key)),
                ("requestId", crate::trace::text(&self.inner.request_id)),
                ("stage", crate::trace::text("retry")),
                ("attempt", serde_json::Value::from(k)),
                ("maxAttempts", serde_json::Value::from(retries + 1)),
                ("success", serde_json::Value::Bool(error.is_none())),
                ("durationMs", serde_json::Value::from(started.elapsed().as_nanos() as f64 / 1e6)),
                ("category", crate::trace::opt_text(error.map(|e| e.category.as_str()))),
                ("error", crate::trace::error_text(error.map(|e| e.record_text()).as_deref())),
            ],
        );
    }

    fn run_with_deadline(&self, index: usize) -> Result<Json, ApiError> {
        let deadline = self.start_deadline();
        let api = &self.inner.api;
        if !self.inner.stages[index..].iter().all(|s| s.any_thread(api)) {
            let result = self.run_from(index);
            return match result {
                Ok(_) if Instant::now() > deadline => Err(self.timeout_error(false)),
                other => other,
            };
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let call = self.clone();
        let ctx = &self.inner.ctx;
        // Counted before the thread starts, so that freeing the hub right after a timeout waits for it.
        ctx.timed_calls.begin();
        // Recorded as a wait, so that a stage on the worker that unsubscribes a push callback
        // running on this thread (which invoked the API) does not wait for it: it would wait
        // until this call's timeout, and make it time out.
        let me = thread::current().id();
        let spawned = ctx.waits.spawn_waited(me, || {
            thread::Builder::new().name("mc-api-call".to_owned()).spawn(move || {
                let _ending = call.inner.ctx.timed_calls.ending();
                let result = call.run_from(index);
                let _ = tx.send(result);
            })
        });
        if let Err(e) = spawned {
            ctx.timed_calls.end();
            return Err(ApiError::new(
                ApiErrorCategory::Unavailable,
                format!("{}: could not start a worker thread for the timed call ({e}); try again", api.key),
            ));
        }
        let received = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        ctx.waits.end(me);
        match received {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.timeout_error(true)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ApiError::handler_failed(format!(
                "{}: the worker thread running the call ended without a result; this is a bug in the library",
                api.key
            ))),
        }
    }
}

/// A refusal of the security check as the call's error.
pub(crate) fn security_error(e: SecurityError) -> ApiError {
    match e {
        SecurityError::Denied { kind, message } => {
            let category = match kind {
                DenyKind::Authentication => ApiErrorCategory::Authentication,
                DenyKind::Authorization => ApiErrorCategory::Authorization,
            };
            ApiError::new(category, message)
        }
        other => ApiError::new(ApiErrorCategory::Authorization, other.to_string()),
    }
}

/// How the retry stage and the circuit breaker treat a failed attempt: timeouts and
/// unavailable services are transient (retried, counted); a handler failure, or a nested
/// call's open breaker, counts against the breaker but is not retried; the caller's own
/// mistakes (validation, not found, authentication, authorization, call depth) and its own
/// stop (cancelled) are neither.
pub(crate) fn verdict(e: &ApiError) -> Verdict {
    match e.category {
        // The message is the breaker's last failure, kept for later: as a record keeps it.
        ApiErrorCategory::Timeout | ApiErrorCategory::Unavailable => Verdict::Retry(for_record(&e.message)),
        ApiErrorCategory::HandlerFailed | ApiErrorCategory::CircuitOpen => Verdict::Fail(for_record(&e.message)),
        ApiErrorCategory::Validation
        | ApiErrorCategory::NotFound
        | ApiErrorCategory::Authentication
        | ApiErrorCategory::Authorization
        | ApiErrorCategory::CallDepthExceeded
        | ApiErrorCategory::Cancelled => Verdict::Neutral,
    }
}

fn for_record(text: &str) -> String {
    crate::metrics::for_record(text).into_owned()
}

fn outcome(result: &Result<Json, ApiError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) => match verdict(e) {
            Verdict::Retry(m) | Verdict::Fail(m) => Outcome::Failure(m),
            Verdict::Neutral => Outcome::Neutral,
        },
    }
}

/// Builds the context of a new call.
pub(crate) fn new_context(
    parameters: OrderedObject,
    type_hints: Option<Json>,
    user: Option<Json>,
    headers: OrderedObject,
    metadata: OrderedObject,
) -> ContextData {
    ContextData { parameters, type_hints, user, headers, metadata }
}

/// JSON `null`, the result of a handler that returns nothing.
pub fn null_result() -> Json {
    null()
}
