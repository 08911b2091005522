//! One API call: the stage list built for it, the context its stages share, and the code
//! that runs the stages in order.
//!
//! The stages of a call, outermost first (ARCHITECTURE §4):
//!
//! ```text
//!   [security → circuit breaker → retry]   issue 5 inserts these native stages here
//!   timeout                                 only when the call has a deadline
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
use crate::sync::{Arc, Mutex, Ordering};
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
/// is explicit and typed: the resilience stages of issue 5 become variants placed before
/// `Timeout`.
pub(crate) enum Stage {
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
            Stage::Timeout | Stage::Validate => true,
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
    pub deadline: Option<Instant>,
    pub timeout_ms: Option<u64>,
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

struct CurrentGuard(Option<Call>);

impl CurrentGuard {
    fn enter(call: &Call) -> CurrentGuard {
        let previous = CURRENT.try_with(|c| c.replace(Some(call.clone()))).ok().flatten();
        CurrentGuard(previous)
    }
}

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        let previous = self.0.take();
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

    /// Time left before the deadline (zero once it passed); `None` without a timeout.
    pub fn remaining(&self) -> Option<Duration> {
        self.inner.deadline.map(|d| d.saturating_duration_since(Instant::now()))
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
    /// "depth","timeoutMs","tag","user","headers","metadata","parameters","typeHints"}`.
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
        out.push_str(&format!(",\"tag\":{},\"user\":", i.tag));
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
        if let Some(deadline) = self.inner.deadline {
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
            Stage::Timeout => None,
            _ if self.inner.ctx.trace.level() < 2 => None,
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
            result.as_ref().err().map(|e| e.message.as_str()),
        );
        result
    }

    /// Runs one stage (`stage` is `self.inner.stages[index]`).
    fn run_stage(&self, index: usize, stage: &Stage) -> Result<Json, ApiError> {
        match stage {
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

    fn run_with_deadline(&self, index: usize) -> Result<Json, ApiError> {
        let deadline = self.inner.deadline.expect("a Timeout stage is only added to calls with a deadline");
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
        let spawned = thread::Builder::new().name("mc-api-call".to_owned()).spawn(move || {
            let result = call.run_from(index);
            let _ = tx.send(result);
        });
        if let Err(e) = spawned {
            return Err(ApiError::new(
                ApiErrorCategory::Unavailable,
                format!("{}: could not start a worker thread for the timed call ({e}); try again", api.key),
            ));
        }
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(result) => result,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(self.timeout_error(true)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(ApiError::handler_failed(format!(
                "{}: the worker thread running the call ended without a result; this is a bug in the library",
                api.key
            ))),
        }
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
