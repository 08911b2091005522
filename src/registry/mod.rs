//! The API registry: modules register operations (`Module.Operation`) with a parameter
//! schema and a handler; callers invoke them through a pipeline of middleware, parameter
//! validation and the handler.
//!
//! ```
//! use module_communication::registry::{ApiDefinition, ApiErrorCategory, Call, InvokeRequest, Json, Schema};
//! use module_communication::Hub;
//!
//! let hub = Hub::new();
//! let schema = Schema::from_json(r#"{"StepName":{"type":"string","required":true}}"#).unwrap();
//! let def = ApiDefinition::new("LabRunner", "ExecuteStep").parameters(schema);
//! hub.registry()
//!     .register(def, |call: &Call| -> Result<Json, _> {
//!         let step = call.parameter_json("StepName").unwrap();
//!         Ok(serde_json::value::RawValue::from_string(format!(r#"{{"Success":true,"StepName":{step}}}"#)).unwrap())
//!     })
//!     .unwrap();
//!
//! let ok = hub.registry().invoke(InvokeRequest::from_json(
//!     r#"{"module":"labrunner","operation":"executestep","parameters":{"StepName":"DeployVM"}}"#).unwrap());
//! assert_eq!(ok.unwrap().get(), r#"{"Success":true,"StepName":"DeployVM"}"#);
//!
//! let missing = hub.registry().invoke(InvokeRequest::new("LabRunner", "ExecuteStep"));
//! assert_eq!(missing.unwrap_err().category, ApiErrorCategory::Validation);
//! ```
//!
//! Names compare case-insensitively. Module names may contain dots; operation names may
//! not, so `Module.Operation` splits at its last dot.

mod context;
mod error;
mod json;
mod pipeline;
mod schema;
mod timed_calls;

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use error::{ApiError, ApiErrorCategory, ParamError, RegistryError};
pub use pipeline::{null_result, ApiHandler, Call, Json, Middleware, Next};
pub use schema::{ParamSpec, ParamType, Schema};
pub(crate) use timed_calls::TimedCalls;

use self::json::{kind_of, Kind, OrderedObject};
use self::pipeline::{current_call, new_context, CallInner, Stage};
pub(crate) use self::pipeline::{enter_call, leave_call, LeaveRefused};
use crate::error::Error;
use crate::hub::Context;
use crate::sync::{Arc, AtomicI64, AtomicU32, AtomicU64, Mutex, Ordering, RwLock};
use crate::time_fmt::{format_ms, serialize_ms};
use crate::wildcard::{fold, has_wildcard_chars, Pattern};

/// How deeply API calls may nest (a handler invoking an API whose handler invokes an API…).
/// A call deeper than this fails with [`ApiErrorCategory::CallDepthExceeded`] before any
/// of its stages runs. PowerShell handlers use about 100 KB of the 10 MB pipeline stack
/// per level, so the limit stays far from a stack overflow.
pub const MAX_CALL_DEPTH: u32 = 32;

/// The longest timeout a call or an API may have: one day.
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

/// The priority of middleware that does not give one. Lower numbers run outer.
pub const DEFAULT_MIDDLEWARE_PRIORITY: i32 = 100;

/// The longest module, operation or middleware name, in characters.
pub(crate) const NAME_MAX_CHARS: usize = 256;

fn check_name(what: &str, value: &str, allow_dot: bool) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(Error::invalid(what, value, "the name is empty or only spaces; give a name"));
    }
    if value.chars().count() > NAME_MAX_CHARS {
        return Err(Error::invalid(
            what,
            value,
            format!("the name is longer than {NAME_MAX_CHARS} characters; shorten it"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(what, value.escape_debug(), "the name contains a control character; remove it"));
    }
    if has_wildcard_chars(value) {
        return Err(Error::invalid(
            what,
            value,
            "names cannot contain the wildcard characters * ? [ ] or `; choose a plain name",
        ));
    }
    if !allow_dot && value.contains('.') {
        return Err(Error::invalid(
            what,
            value,
            "operation names cannot contain '.', so that Module.Operation splits at its last dot; use another separator",
        ));
    }
    Ok(())
}

fn check_timeout(what: &str, ms: u64) -> Result<Duration, Error> {
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(Error::invalid(
            what,
            ms,
            format!("give a timeout from 1 to {MAX_TIMEOUT_MS} ms (one day), or leave it out for none"),
        ));
    }
    Ok(Duration::from_millis(ms))
}

/// The folded (case-insensitive) identity of an API.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ApiId {
    module: String,
    operation: String,
}

impl ApiId {
    fn new(module: &str, operation: &str) -> ApiId {
        ApiId { module: fold(module), operation: fold(operation) }
    }
}

#[derive(Default)]
struct ApiStats {
    calls: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    total_ns: AtomicU64,
    last_called_ms: AtomicI64,
    last_error: Mutex<Option<String>>,
    attempts: AtomicU64,
    retries: AtomicU64,
    rejected: AtomicU64,
}

/// A registered API.
pub(crate) struct ApiEntry {
    id: ApiId,
    pub(crate) module: String,
    pub(crate) operation: String,
    pub(crate) key: String,
    description: Option<String>,
    pub(crate) schema: Option<Schema>,
    timeout: Option<Duration>,
    pub(crate) handler: Arc<dyn ApiHandler>,
    registered_at_ms: i64,
    stats: ApiStats,
    /// Its circuit breaker, found once (the hub's breakers are keyed by `Module.Operation`).
    breaker: std::sync::OnceLock<Arc<crate::resilience::Breaker>>,
}

/// A registered middleware.
pub(crate) struct MiddlewareEntry {
    pub(crate) name: String,
    key: String,
    priority: i32,
    order: u64,
    scope: Option<(ApiId, String)>,
    pub(crate) handler: Arc<dyn Middleware>,
    registered_at_ms: i64,
    pub(crate) calls: AtomicU64,
}

impl MiddlewareEntry {
    fn applies_to(&self, api: &ApiId) -> bool {
        self.scope.as_ref().map_or(true, |(id, _)| id == api)
    }
}

/// What to register: names, description, schema and default timeout.
#[derive(Debug, Clone)]
pub struct ApiDefinition {
    /// The module's name (may contain dots).
    pub module: String,
    /// The operation's name (no dots).
    pub operation: String,
    /// Free text.
    pub description: Option<String>,
    /// The parameters; `None` accepts any parameters without validating them.
    pub parameters: Option<Schema>,
    /// The timeout of calls that do not give their own.
    pub timeout: Option<Duration>,
    /// Replace an API of the same name instead of failing.
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireDefinition {
    module: String,
    operation: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Box<RawValue>>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    force: bool,
}

const DEFINITION_EXPECTED: &str = r#"{"module":"LabRunner","operation":"ExecuteStep","description":"…","parameters":{"StepName":{"type":"string","required":true}},"timeoutMs":30000}"#;

fn parse_wire<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<T, Error> {
    crate::bus::parse_object(json, what, expected)
}

impl ApiDefinition {
    /// An API `module.operation` that accepts any parameters and has no timeout.
    pub fn new(module: impl Into<String>, operation: impl Into<String>) -> ApiDefinition {
        ApiDefinition {
            module: module.into(),
            operation: operation.into(),
            description: None,
            parameters: None,
            timeout: None,
            force: false,
        }
    }

    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Sets the parameter schema.
    pub fn parameters(mut self, schema: Schema) -> Self {
        self.parameters = Some(schema);
        self
    }

    /// Sets the default timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Replaces an existing API of the same name.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Parses the C ABI's definition object: `{"module","operation","description",
    /// "parameters","timeoutMs","force"}` (unknown keys rejected).
    pub fn from_json(json: &str) -> Result<ApiDefinition, Error> {
        let w: WireDefinition = parse_wire(json, "API definition", DEFINITION_EXPECTED)?;
        let parameters = match w.parameters {
            Some(raw) if kind_of(&raw) != Kind::Null => Some(Schema::from_json(raw.get())?),
            _ => None,
        };
        let timeout = w.timeout_ms.map(|ms| check_timeout("timeoutMs", ms)).transpose()?;
        Ok(ApiDefinition {
            module: w.module,
            operation: w.operation,
            description: w.description,
            parameters,
            timeout,
            force: w.force,
        })
    }
}

/// What middleware to add: its name, priority, and optionally the one API it is for.
#[derive(Debug, Clone)]
pub struct MiddlewareDefinition {
    /// Unique name (compared case-insensitively).
    pub name: String,
    /// Lower runs outer; ties keep registration order. Default 100.
    pub priority: i32,
    /// `Some((module, operation))`: only calls of that API run it. `None`: every call.
    pub api: Option<(String, String)>,
    /// Replace a middleware of the same name (keeping its place among equal priorities).
    pub force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireMiddleware {
    name: String,
    #[serde(default)]
    priority: Option<i64>,
    #[serde(default)]
    module: Option<String>,
    #[serde(default)]
    operation: Option<String>,
    #[serde(default)]
    force: bool,
}

const MIDDLEWARE_EXPECTED: &str = r#"{"name":"Logging","priority":10,"module":null,"operation":null}"#;

impl MiddlewareDefinition {
    /// Global middleware `name` with the default priority.
    pub fn new(name: impl Into<String>) -> MiddlewareDefinition {
        MiddlewareDefinition { name: name.into(), priority: DEFAULT_MIDDLEWARE_PRIORITY, api: None, force: false }
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Limits it to one API.
    pub fn for_api(mut self, module: impl Into<String>, operation: impl Into<String>) -> Self {
        self.api = Some((module.into(), operation.into()));
        self
    }

    /// Replaces middleware of the same name.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Parses the C ABI's middleware object: `{"name","priority","module","operation",
    /// "force"}`; `module` and `operation` go together (both or neither).
    pub fn from_json(json: &str) -> Result<MiddlewareDefinition, Error> {
        let w: WireMiddleware = parse_wire(json, "middleware definition", MIDDLEWARE_EXPECTED)?;
        let priority = match w.priority {
            None => DEFAULT_MIDDLEWARE_PRIORITY,
            Some(p) => i32::try_from(p)
                .map_err(|_| Error::invalid("priority", p, "give a whole number from -2147483648 to 2147483647"))?,
        };
        let api = match (w.module, w.operation) {
            (None, None) => None,
            (Some(m), Some(o)) => Some((m, o)),
            (m, o) => {
                let given = match (m, o) {
                    (Some(m), _) => format!("module {m} without an operation"),
                    (_, o) => format!("operation {} without a module", o.unwrap_or_default()),
                };
                return Err(Error::invalid(
                    "middleware scope",
                    given,
                    "give both module and operation for middleware of one API, or neither for global middleware",
                ));
            }
        };
        Ok(MiddlewareDefinition { name: w.name, priority, api, force: w.force })
    }
}

/// One call: which API, with what, for how long.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    /// The module's name (case-insensitive).
    pub module: String,
    /// The operation's name (case-insensitive).
    pub operation: String,
    pub(crate) parameters: OrderedObject,
    pub(crate) type_hints: Option<Json>,
    pub(crate) user: Option<Json>,
    pub(crate) headers: OrderedObject,
    pub(crate) metadata: OrderedObject,
    /// Overrides the API's default timeout.
    pub timeout: Option<Duration>,
    /// Opaque to the library; stages read it with [`Call::tag`].
    pub tag: u64,
    /// The caller's own call depth, for a caller that invokes from inside a stage running
    /// on another thread than the call's (the library tracks depth per thread otherwise).
    pub depth: u32,
    /// The call's id; a fresh UUID when `None`.
    pub request_id: Option<String>,
    /// The token presented to the security stage; never stored or shown.
    pub authentication_token: Option<crate::security::TokenText>,
    /// Retries after the first attempt; `None` takes the retry policy's `max_retries`.
    pub retry_attempts: Option<u32>,
    /// Whether the API's circuit breaker guards this call; `None` means yes.
    pub circuit_breaker: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireRequest {
    module: String,
    operation: String,
    #[serde(default)]
    parameters: Option<Box<RawValue>>,
    #[serde(default)]
    type_hints: Option<Box<RawValue>>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    user: Option<Box<RawValue>>,
    #[serde(default)]
    headers: Option<Box<RawValue>>,
    #[serde(default)]
    metadata: Option<Box<RawValue>>,
    #[serde(default)]
    tag: u64,
    #[serde(default)]
    depth: u32,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    authentication_token: Option<crate::security::TokenText>,
    #[serde(default)]
    retry_attempts: Option<u64>,
    #[serde(default)]
    circuit_breaker: Option<bool>,
}

const REQUEST_EXPECTED: &str =
    r#"{"module":"LabRunner","operation":"ExecuteStep","parameters":{"StepName":"DeployVM"},"timeoutMs":5000}"#;

fn optional_object(raw: Option<Box<RawValue>>, what: &'static str) -> Result<OrderedObject, Error> {
    match raw {
        None => Ok(OrderedObject::default()),
        Some(r) if kind_of(&r) == Kind::Null => Ok(OrderedObject::default()),
        Some(r) if kind_of(&r) == Kind::Object => OrderedObject::from_raw(&r, "invoke request", REQUEST_EXPECTED),
        Some(r) => Err(Error::invalid(what, r.get(), "give an object (or leave it out)")),
    }
}

impl InvokeRequest {
    /// A call of `module.operation` without parameters.
    pub fn new(module: impl Into<String>, operation: impl Into<String>) -> InvokeRequest {
        InvokeRequest { module: module.into(), operation: operation.into(), ..InvokeRequest::default() }
    }

    /// Sets the parameters from a JSON object.
    pub fn parameters_json(mut self, json: &str) -> Result<Self, Error> {
        self.parameters = OrderedObject::parse(json, "parameters", r#"{"StepName":"DeployVM"}"#)?;
        Ok(self)
    }

    /// Sets the timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Presents an authentication token to the security stage.
    pub fn authentication_token(mut self, token: impl Into<String>) -> Self {
        self.authentication_token = Some(crate::security::TokenText::new(token));
        self
    }

    /// Sets the retries after the first attempt (0 ..= 100).
    pub fn retry_attempts(mut self, retries: u32) -> Self {
        self.retry_attempts = Some(retries);
        self
    }

    /// Turns the circuit breaker on or off for this call (on by default).
    pub fn circuit_breaker(mut self, on: bool) -> Self {
        self.circuit_breaker = Some(on);
        self
    }

    /// Sets a metadata entry from JSON text.
    pub fn metadata_json(mut self, key: &str, value: &str) -> Result<Self, Error> {
        self.metadata.0.push((key.to_owned(), json::raw(value, "metadata value")?));
        Ok(self)
    }

    /// Parses the C ABI's request object: `{"module","operation","parameters","typeHints",
    /// "timeoutMs","user","headers","metadata","tag","depth","requestId",
    /// "authenticationToken","retryAttempts","circuitBreaker"}` (unknown keys rejected).
    /// `timeoutMs` applies to each attempt.
    pub fn from_json(text: &str) -> Result<InvokeRequest, Error> {
        let w: WireRequest = parse_wire(text, "invoke request", REQUEST_EXPECTED)?;
        let type_hints = match w.type_hints {
            None => None,
            Some(h) => match kind_of(&h) {
                Kind::Null => None,
                Kind::Array => Some(h),
                _ => return Err(Error::invalid("typeHints", h.get(), "give an array of [path, type] pairs, or null")),
            },
        };
        let timeout = w.timeout_ms.map(|ms| check_timeout("timeoutMs", ms)).transpose()?;
        let request_id = w
            .request_id
            .map(|id| {
                uuid::Uuid::parse_str(&id)
                    .map(|u| u.hyphenated().to_string())
                    .map_err(|_| Error::invalid("requestId", &id, "give a UUID such as 0b5c6a3e-…, or leave it out"))
            })
            .transpose()?;
        Ok(InvokeRequest {
            request_id,
            module: w.module,
            operation: w.operation,
            parameters: optional_object(w.parameters, "parameters")?,
            type_hints,
            user: w.user.filter(|u| kind_of(u) != Kind::Null),
            headers: optional_object(w.headers, "headers")?,
            metadata: optional_object(w.metadata, "metadata")?,
            timeout,
            tag: w.tag,
            depth: w.depth,
            authentication_token: w.authentication_token,
            retry_attempts: w
                .retry_attempts
                .map(|n| {
                    u32::try_from(n).ok().filter(|n| *n <= crate::resilience::MAX_RETRIES).ok_or_else(|| {
                        Error::invalid(
                            "retryAttempts",
                            n,
                            format!("give 0 to {} retries, or leave it out for the retry policy's", crate::resilience::MAX_RETRIES),
                        )
                    })
                })
                .transpose()?,
            circuit_breaker: w.circuit_breaker,
        })
    }
}

/// A registered API and its counters, as listed by [`Registry::apis`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiInfo {
    /// The module's name as registered.
    pub module: String,
    /// The operation's name as registered.
    pub operation: String,
    /// `Module.Operation`.
    pub api_key: String,
    /// Free text.
    pub description: Option<String>,
    /// The schema (see [`Schema::to_json`]), or `null` when the API takes any parameters.
    pub parameters: Option<Box<RawValue>>,
    /// The default timeout in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Names of the middleware its calls run, outermost first.
    pub middleware: Vec<String>,
    /// Whether its handler must run on the invoking thread.
    pub caller_thread: bool,
    /// When it was registered.
    #[serde(serialize_with = "serialize_ms")]
    pub registered_at: i64,
    /// Calls started (including those that failed validation).
    pub calls: u64,
    /// Calls that returned a result.
    pub succeeded: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Total time of all calls, in milliseconds.
    pub total_duration_ms: f64,
    /// When it was last called (`null` if never).
    pub last_called: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// Attempts made: the first attempt of each call its circuit breaker let through, and
    /// every retry.
    pub attempts: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Calls its circuit breaker failed fast.
    pub rejected_by_breaker: u64,
}

/// A middleware, as listed by [`Registry::middleware`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MiddlewareInfo {
    /// Its name.
    pub name: String,
    /// Its priority (lower runs outer).
    pub priority: i32,
    /// Registration order among all middleware (breaks ties of priority).
    pub order: u64,
    /// The module of the one API it is for, or `null` for global middleware.
    pub module: Option<String>,
    /// The operation of the one API it is for, or `null`.
    pub operation: Option<String>,
    /// `Module.Operation` of the one API it is for, or `null`.
    pub api_key: Option<String>,
    /// Whether it must run on the invoking thread.
    pub caller_thread: bool,
    /// When it was registered.
    #[serde(serialize_with = "serialize_ms")]
    pub registered_at: i64,
    /// How many times it ran.
    pub calls: u64,
}

/// The result of [`Registry::validate`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    /// `Module.Operation` as registered.
    pub api_key: String,
    /// True when the parameters would pass validation.
    pub valid: bool,
    /// Every problem, in schema order (unknown parameters last).
    pub errors: Vec<ParamError>,
}

#[derive(Default)]
struct State {
    apis: std::collections::HashMap<ApiId, Arc<ApiEntry>>,
    /// Sorted by (priority, order): the order they run in, outermost first.
    middleware: Vec<Arc<MiddlewareEntry>>,
}

/// The API registry of one hub. All methods take `&self` and may be called from any
/// thread, including from inside handlers and middleware.
pub struct Registry {
    ctx: Arc<Context>,
    state: RwLock<State>,
    order: AtomicU64,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.read();
        f.debug_struct("Registry").field("apis", &s.apis.len()).field("middleware", &s.middleware.len()).finish()
    }
}

fn not_found(module: &str, operation: &str) -> ApiError {
    ApiError::new(
        ApiErrorCategory::NotFound,
        format!(
            "API '{module}.{operation}' is not registered; list the registered APIs with Get-ModuleAPIs (mc_api_list), \
             or register it with Register-ModuleAPI (mc_api_register)"
        ),
    )
}

impl Registry {
    pub(crate) fn new(ctx: Arc<Context>) -> Registry {
        Registry { ctx, state: RwLock::new(State::default()), order: AtomicU64::new(0) }
    }

    /// Registers an API. Fails with [`RegistryError::ApiExists`] when one of the same name
    /// exists, unless the definition says `force`: then the old API is replaced, and the
    /// middleware that was added for it alone is removed with it. Calls already running
    /// finish with the old handler.
    pub fn register(&self, def: ApiDefinition, handler: impl ApiHandler) -> Result<ApiInfo, RegistryError> {
        self.register_arc(def, Arc::new(handler))
    }

    /// As [`Registry::register`], with a shared handler.
    pub fn register_arc(&self, def: ApiDefinition, handler: Arc<dyn ApiHandler>) -> Result<ApiInfo, RegistryError> {
        check_name("module name", &def.module, true)?;
        check_name("operation name", &def.operation, false)?;
        if let Some(t) = def.timeout {
            check_timeout("timeout", u64::try_from(t.as_millis()).unwrap_or(u64::MAX))?;
        }
        let id = ApiId::new(&def.module, &def.operation);
        let entry = Arc::new(ApiEntry {
            key: format!("{}.{}", def.module, def.operation),
            id: id.clone(),
            module: def.module,
            operation: def.operation,
            description: def.description,
            schema: def.parameters,
            timeout: def.timeout,
            handler,
            registered_at_ms: self.ctx.clock.now_ms(),
            stats: ApiStats::default(),
            breaker: std::sync::OnceLock::new(),
        });
        let (old, dropped) = {
            let mut s = self.state.write();
            if let Some(existing) = s.apis.get(&id) {
                if !def.force {
                    return Err(RegistryError::ApiExists { key: existing.key.clone() });
                }
            }
            let old = s.apis.insert(id.clone(), Arc::clone(&entry));
            let dropped = if old.is_some() { remove_scoped(&mut s.middleware, &id) } else { Vec::new() };
            (old, dropped)
        };
        // Dropped outside the lock: a foreign handler's release callback may call back in.
        drop(old);
        drop(dropped);
        Ok(self.describe(&entry))
    }

    /// Removes an API and the middleware added for it alone; returns how many middleware
    /// were removed with it. Calls already running finish.
    pub fn unregister(&self, module: &str, operation: &str) -> Result<usize, RegistryError> {
        let id = ApiId::new(module, operation);
        let (old, dropped) = {
            let mut s = self.state.write();
            let Some(old) = s.apis.remove(&id) else {
                return Err(RegistryError::ApiNotFound { key: format!("{module}.{operation}") });
            };
            let dropped = remove_scoped(&mut s.middleware, &id);
            (old, dropped)
        };
        let n = dropped.len();
        // Its circuit breaker goes with it, so a new API of that name starts closed, unless the
        // user set that breaker by hand (options of its own, or isolated).
        self.ctx.resilience.forget_unless_set_by_hand(&old.key);
        drop(old);
        drop(dropped);
        Ok(n)
    }

    /// The APIs whose module and operation match the `-like` patterns (`None` = `*`),
    /// sorted by module, then operation.
    pub fn apis(
        &self,
        module_pattern: Option<&str>,
        operation_pattern: Option<&str>,
    ) -> Result<Vec<ApiInfo>, RegistryError> {
        let pattern = |p: Option<&str>, what: &str| -> Result<Option<Pattern>, RegistryError> {
            p.map(|p| Pattern::new(p).map_err(|reason| RegistryError::Invalid(Error::invalid(what, p, reason))))
                .transpose()
        };
        let (mp, op) = (pattern(module_pattern, "module pattern")?, pattern(operation_pattern, "operation pattern")?);
        let mut entries: Vec<Arc<ApiEntry>> = self
            .state
            .read()
            .apis
            .values()
            .filter(|e| mp.as_ref().map_or(true, |p| p.is_match(&e.module)))
            .filter(|e| op.as_ref().map_or(true, |p| p.is_match(&e.operation)))
            .cloned()
            .collect();
        entries.sort_by(|a, b| (&a.id.module, &a.id.operation).cmp(&(&b.id.module, &b.id.operation)));
        Ok(entries.iter().map(|e| self.describe(e)).collect())
    }

    /// One API, by name.
    pub fn api(&self, module: &str, operation: &str) -> Option<ApiInfo> {
        let entry = self.state.read().apis.get(&ApiId::new(module, operation)).cloned();
        entry.map(|e| self.describe(&e))
    }

    fn describe(&self, e: &ApiEntry) -> ApiInfo {
        let middleware =
            self.state.read().middleware.iter().filter(|m| m.applies_to(&e.id)).map(|m| m.name.clone()).collect();
        let last = e.stats.last_called_ms.load(Ordering::Relaxed);
        ApiInfo {
            module: e.module.clone(),
            operation: e.operation.clone(),
            api_key: e.key.clone(),
            description: e.description.clone(),
            parameters: e.schema.as_ref().map(|s| json::raw(&s.to_json(), "schema").expect("a schema renders JSON")),
            timeout_ms: e.timeout.map(|t| t.as_millis() as u64),
            middleware,
            caller_thread: !e.handler.any_thread(),
            registered_at: e.registered_at_ms,
            calls: e.stats.calls.load(Ordering::Relaxed),
            succeeded: e.stats.succeeded.load(Ordering::Relaxed),
            failed: e.stats.failed.load(Ordering::Relaxed),
            total_duration_ms: e.stats.total_ns.load(Ordering::Relaxed) as f64 / 1e6,
            last_called: (e.stats.calls.load(Ordering::Relaxed) > 0).then(|| format_ms(last)),
            last_error: e.stats.last_error.lock().clone(),
            attempts: e.stats.attempts.load(Ordering::Relaxed),
            retries: e.stats.retries.load(Ordering::Relaxed),
            rejected_by_breaker: e.stats.rejected.load(Ordering::Relaxed),
        }
    }

    /// Adds middleware. Global middleware runs for every call; middleware for one API
    /// (which must be registered) runs only for its calls and is removed with it.
    pub fn add_middleware(
        &self,
        def: MiddlewareDefinition,
        handler: impl Middleware,
    ) -> Result<MiddlewareInfo, RegistryError> {
        self.add_middleware_arc(def, Arc::new(handler))
    }

    /// As [`Registry::add_middleware`], with a shared handler.
    pub fn add_middleware_arc(
        &self,
        def: MiddlewareDefinition,
        handler: Arc<dyn Middleware>,
    ) -> Result<MiddlewareInfo, RegistryError> {
        check_name("middleware name", &def.name, true)?;
        let key = fold(&def.name);
        let replaced = {
            let mut s = self.state.write();
            let scope = match &def.api {
                None => None,
                Some((m, o)) => {
                    let id = ApiId::new(m, o);
                    let Some(api) = s.apis.get(&id) else {
                        return Err(RegistryError::ApiNotFound { key: format!("{m}.{o}") });
                    };
                    Some((id, api.key.clone()))
                }
            };
            let existing = s.middleware.iter().position(|m| m.key == key);
            let (order, replaced) = match existing {
                Some(i) if def.force => {
                    let old = s.middleware.remove(i);
                    (old.order, Some(old))
                }
                Some(i) => return Err(RegistryError::MiddlewareExists { name: s.middleware[i].name.clone() }),
                None => (self.order.fetch_add(1, Ordering::Relaxed), None),
            };
            let entry = Arc::new(MiddlewareEntry {
                name: def.name,
                key,
                priority: def.priority,
                order,
                scope,
                handler,
                registered_at_ms: self.ctx.clock.now_ms(),
                calls: AtomicU64::new(0),
            });
            let at = s.middleware.partition_point(|m| (m.priority, m.order) < (entry.priority, entry.order));
            s.middleware.insert(at, Arc::clone(&entry));
            (replaced, describe_middleware(&entry))
        };
        let (old, info) = replaced;
        drop(old);
        Ok(info)
    }

    /// Removes middleware by name (case-insensitive). Calls already running finish with it.
    pub fn remove_middleware(&self, name: &str) -> Result<(), RegistryError> {
        let key = fold(name);
        let old = {
            let mut s = self.state.write();
            let Some(i) = s.middleware.iter().position(|m| m.key == key) else {
                return Err(RegistryError::MiddlewareNotFound { name: name.to_owned() });
            };
            s.middleware.remove(i)
        };
        drop(old);
        Ok(())
    }

    /// The middleware whose name matches the `-like` pattern (`None` = all), in the order
    /// they run (priority, then registration).
    pub fn middleware(&self, name_pattern: Option<&str>) -> Result<Vec<MiddlewareInfo>, RegistryError> {
        let pattern = name_pattern
            .map(|p| {
                Pattern::new(p)
                    .map_err(|reason| RegistryError::Invalid(Error::invalid("middleware name pattern", p, reason)))
            })
            .transpose()?;
        Ok(self
            .state
            .read()
            .middleware
            .iter()
            .filter(|m| pattern.as_ref().map_or(true, |p| p.is_match(&m.name)))
            .map(|m| describe_middleware(m))
            .collect())
    }

    /// Checks a request's parameters against the API's schema without calling anything.
    pub fn validate(&self, req: &InvokeRequest) -> Result<ValidationReport, ApiError> {
        // As for a call, security comes first: a caller without a valid token (or without a scope
        // for the name) learns nothing about which APIs exist or what their parameters are.
        if self.ctx.security.is_enabled() {
            self.authorize_request(req, &format!("{}.{}", req.module, req.operation))?;
        }
        let api = self
            .state
            .read()
            .apis
            .get(&ApiId::new(&req.module, &req.operation))
            .cloned()
            .ok_or_else(|| not_found(&req.module, &req.operation))?;
        let errors = match &api.schema {
            None => Vec::new(),
            Some(s) => s.validate(&api.key, &req.parameters, req.type_hints.as_deref()).err().unwrap_or_default(),
        };
        let mut errors = errors;
        for e in &mut errors {
            crate::metrics::redact_in_place(&mut e.message);
        }
        Ok(ValidationReport { api_key: api.key.clone(), valid: errors.is_empty(), errors })
    }

    /// The security check of a call that runs no pipeline (a missing API, a call too deep),
    /// as the security stage makes it: `key` as the caller spelled it.
    fn authorize_request(&self, req: &InvokeRequest, key: &str) -> Result<(), ApiError> {
        let token = req.authentication_token.as_ref().map(crate::security::TokenText::expose);
        self.ctx.authorize(token, crate::security::Action::ApiCall, key, None).map_err(pipeline::security_error)?;
        Ok(())
    }

    /// Invokes an API: runs its pipeline on the calling thread (or, for a call with a
    /// timeout whose stages all allow it, on a worker) and returns the handler's result or
    /// the first stage's error. May be called from inside a handler or middleware, up to
    /// [`MAX_CALL_DEPTH`] levels deep.
    pub fn invoke(&self, req: InvokeRequest) -> Result<Json, ApiError> {
        let parent = current_call();
        let depth = parent.as_ref().map_or(0, Call::depth).max(req.depth).saturating_add(1);
        let requested_key = format!("{}.{}", req.module, req.operation);
        let (api, stages) = {
            let s = self.state.read();
            let Some(api) = s.apis.get(&ApiId::new(&req.module, &req.operation)).cloned() else {
                drop(s);
                // The security check comes first for a missing API too: a caller without a valid
                // token (or without a scope for the name) learns nothing about which APIs exist.
                self.authorize_request(&req, &requested_key)?;
                return Err(not_found(&req.module, &req.operation));
            };
            let timeout = req.timeout.or(api.timeout);
            let mut stages = Vec::with_capacity(s.middleware.len() + 6);
            // Metrics and the apiCall trace record are taken around the whole run, below.
            if self.ctx.security.is_enabled() {
                stages.push(Stage::Security);
            }
            let breaker = (req.circuit_breaker != Some(false))
                .then(|| Arc::clone(api.breaker.get_or_init(|| self.ctx.resilience.breaker(&api.key))));
            if let Some(b) = &breaker {
                stages.push(Stage::CircuitBreaker(Arc::clone(b)));
            }
            let retries = req.retry_attempts.unwrap_or_else(|| self.ctx.resilience.retry_policy().max_retries);
            if retries > 0 || breaker.is_some() {
                stages.push(Stage::Retry { retries, breaker });
            } else {
                stages.push(Stage::SingleAttempt);
            }
            if timeout.is_some() {
                stages.push(Stage::Timeout);
            }
            stages.extend(
                s.middleware.iter().filter(|m| m.applies_to(&api.id)).map(|m| Stage::Middleware(Arc::clone(m))),
            );
            stages.push(Stage::Validate);
            stages.push(Stage::Handler);
            (api, stages)
        };
        let started = Instant::now();
        let start_ms = self.ctx.clock.now_ms();
        api.stats.calls.fetch_add(1, Ordering::Relaxed);
        api.stats.last_called_ms.store(start_ms, Ordering::Relaxed);
        let request_id = req.request_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
        let traced_request_id = (self.ctx.trace.level() != 0).then(|| request_id.clone());
        let result = if depth > MAX_CALL_DEPTH {
            // Security first, as for any call: a refusal for the depth would name the API as
            // registered, telling a caller without a valid token that it exists.
            match self.authorize_request(&req, &requested_key) {
                Ok(()) => Err(depth_error(&api.key, depth, parent.as_ref())),
                Err(e) => Err(e),
            }
        } else {
            let timeout = req.timeout.or(api.timeout);
            let call = Call {
                inner: Arc::new(CallInner {
                    api: Arc::clone(&api),
                    ctx: Arc::clone(&self.ctx),
                    stages,
                    context: Mutex::new(new_context(
                        req.parameters,
                        req.type_hints,
                        req.user,
                        req.headers,
                        req.metadata,
                    )),
                    request_id,
                    start_time_ms: self.ctx.clock.now_ms(),
                    started,
                    deadline_ns: AtomicU64::new(0),
                    timeout,
                    timeout_ms: timeout.map(|t| t.as_millis() as u64),
                    attempt: AtomicU32::new(0),
                    permit: Mutex::new(None),
                    token: req.authentication_token,
                    requested_key,
                    depth,
                    tag: req.tag,
                    parent,
                }),
            };
            call.run_from(0)
        };
        let result = result.map_err(ApiError::redacted);
        let elapsed = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        if self.ctx.trace.level() != 0 {
            crate::trace::api_call(
                &self.ctx.trace,
                self.ctx.clock.now_ms(),
                &api.key,
                traced_request_id.as_deref(),
                elapsed,
                result.as_ref().err().map(|e| e.record_text()).as_deref(),
            );
        }
        api.stats.total_ns.fetch_add(elapsed, Ordering::Relaxed);
        match &result {
            Ok(_) => {
                api.stats.succeeded.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                api.stats.failed.fetch_add(1, Ordering::Relaxed);
                *api.stats.last_error.lock() = Some(crate::metrics::for_record(&e.record_text()).into_owned());
            }
        }
        self.ctx.metrics.record_api_call(
            &api.key,
            start_ms,
            i64::try_from(elapsed).unwrap_or(i64::MAX),
            result.is_ok(),
            result.as_ref().err().map(|e| e.record_text()).as_deref(),
        );
        result
    }

    /// Sets every API's call counters to zero (Reset-CommunicationMetrics).
    pub(crate) fn reset_stats(&self) {
        for e in self.state.read().apis.values() {
            e.stats.calls.store(0, Ordering::Relaxed);
            e.stats.succeeded.store(0, Ordering::Relaxed);
            e.stats.failed.store(0, Ordering::Relaxed);
            e.stats.total_ns.store(0, Ordering::Relaxed);
            e.stats.attempts.store(0, Ordering::Relaxed);
            e.stats.retries.store(0, Ordering::Relaxed);
            e.stats.rejected.store(0, Ordering::Relaxed);
        }
    }
}

/// JSON text as a [`Json`] value (`InvalidJson` when it does not parse).
pub fn json_value(text: &str) -> Result<Json, Error> {
    json::raw(text, "result")
}

fn remove_scoped(list: &mut Vec<Arc<MiddlewareEntry>>, id: &ApiId) -> Vec<Arc<MiddlewareEntry>> {
    let mut removed = Vec::new();
    list.retain(|m| {
        let scoped = m.scope.as_ref().is_some_and(|(s, _)| s == id);
        if scoped {
            removed.push(Arc::clone(m));
        }
        !scoped
    });
    removed
}

fn describe_middleware(m: &MiddlewareEntry) -> MiddlewareInfo {
    let (module, operation, api_key) = match &m.scope {
        None => (None, None, None),
        Some((_, key)) => {
            let (module, operation) =
                key.rsplit_once('.').map_or((key.clone(), String::new()), |(a, b)| (a.to_owned(), b.to_owned()));
            (Some(module), Some(operation), Some(key.clone()))
        }
    };
    MiddlewareInfo {
        name: m.name.clone(),
        priority: m.priority,
        order: m.order,
        module,
        operation,
        api_key,
        caller_thread: !m.handler.any_thread(),
        registered_at: m.registered_at_ms,
        calls: m.calls.load(Ordering::Relaxed),
    }
}

fn depth_error(key: &str, depth: u32, parent: Option<&Call>) -> ApiError {
    let mut chain = Vec::new();
    let mut c = parent;
    while let Some(call) = c {
        if chain.len() == 5 {
            chain.push("…".to_owned());
            break;
        }
        chain.push(call.api_key().to_owned());
        c = call.parent();
    }
    let chain = if chain.is_empty() { String::new() } else { format!(" (called from {})", chain.join(" ← ")) };
    ApiError::new(
        ApiErrorCategory::CallDepthExceeded,
        format!(
            "calling {key} would nest API calls {depth} deep{chain}, more than the limit of {MAX_CALL_DEPTH}; a handler \
             probably invokes itself (directly or through other APIs) without an end condition"
        ),
    )
}

/// The request id of the API call running on this thread (for trace records).
pub(crate) fn current_request_id() -> Option<String> {
    current_call().map(|c| c.request_id().to_owned())
}
