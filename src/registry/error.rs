//! Errors of the API registry: a call's failure ([`ApiError`], with the category that later
//! pipeline stages such as retry and the circuit breaker decide on) and the failures of
//! registering, listing and removing ([`RegistryError`]).

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

use crate::error::Error;

/// What kind of failure ended an API call. The category decides how the failure is
/// reported (each has its own `mc_status` and PowerShell ErrorId) and, once the
/// resilience stages exist, whether a retry may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ApiErrorCategory {
    /// The parameters do not match the API's schema: a required one is missing, one has
    /// the wrong type, is not in its ValidateSet or does not match its Pattern, or the
    /// API has no parameter of that name. The handler did not run.
    Validation,
    /// No API of that `Module.Operation` is registered.
    NotFound,
    /// The caller did not prove who it is (reserved for the security stage).
    Authentication,
    /// The caller may not call this API (reserved for the security stage).
    Authorization,
    /// The call did not complete within its timeout.
    Timeout,
    /// The API's circuit breaker is open (reserved for the circuit breaker stage).
    CircuitOpen,
    /// A middleware or the handler failed (threw, returned an error, or panicked).
    HandlerFailed,
    /// The API exists but cannot be reached now: the runspace that registered it is gone,
    /// or a worker thread could not be started.
    Unavailable,
    /// API calls nested inside handlers went deeper than
    /// [`MAX_CALL_DEPTH`](crate::registry::MAX_CALL_DEPTH): almost always a handler that
    /// calls itself without end. Not one of ARCHITECTURE's eight categories: it is neither
    /// a validation error nor a handler failure, and retrying it can never help.
    CallDepthExceeded,
    /// The caller stopped the call (Ctrl+C, Stop-Job) before it finished. Like the caller's
    /// mistakes, it counts neither for nor against the API's circuit breaker, and is not retried.
    Cancelled,
}

impl ApiErrorCategory {
    /// Every category, in declaration order.
    pub const ALL: [ApiErrorCategory; 10] = [
        ApiErrorCategory::Validation,
        ApiErrorCategory::NotFound,
        ApiErrorCategory::Authentication,
        ApiErrorCategory::Authorization,
        ApiErrorCategory::Timeout,
        ApiErrorCategory::CircuitOpen,
        ApiErrorCategory::HandlerFailed,
        ApiErrorCategory::Unavailable,
        ApiErrorCategory::CallDepthExceeded,
        ApiErrorCategory::Cancelled,
    ];

    /// The name used in JSON and PowerShell (`"Validation"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApiErrorCategory::Validation => "Validation",
            ApiErrorCategory::NotFound => "NotFound",
            ApiErrorCategory::Authentication => "Authentication",
            ApiErrorCategory::Authorization => "Authorization",
            ApiErrorCategory::Timeout => "Timeout",
            ApiErrorCategory::CircuitOpen => "CircuitOpen",
            ApiErrorCategory::HandlerFailed => "HandlerFailed",
            ApiErrorCategory::Unavailable => "Unavailable",
            ApiErrorCategory::CallDepthExceeded => "CallDepthExceeded",
            ApiErrorCategory::Cancelled => "Cancelled",
        }
    }

    /// Parses a category name, ignoring case.
    pub fn parse(name: &str) -> Option<ApiErrorCategory> {
        ApiErrorCategory::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ApiErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One parameter that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParamError {
    /// The parameter's name: as the schema spells it, or as the caller gave it for an
    /// unknown parameter.
    pub parameter: String,
    /// What is wrong and what to pass instead.
    pub message: String,
}

/// Why an API call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The kind of failure.
    pub category: ApiErrorCategory,
    /// The explanation: names the API and the offending value, says what to do next.
    pub message: String,
    /// For [`ApiErrorCategory::Validation`]: every parameter that failed, in schema order
    /// (unknown parameters last). Empty for other categories.
    pub parameters: Vec<ParamError>,
}

impl ApiError {
    /// An error of `category` with `message` and no parameter details.
    pub fn new(category: ApiErrorCategory, message: impl Into<String>) -> ApiError {
        ApiError { category, message: message.into(), parameters: Vec::new() }
    }

    /// A [`ApiErrorCategory::HandlerFailed`] error.
    pub fn handler_failed(message: impl Into<String>) -> ApiError {
        ApiError::new(ApiErrorCategory::HandlerFailed, message)
    }

    /// The error with secrets removed from its texts (see `metrics::redact`): a token passed
    /// as a parameter value, or thrown by a handler, must not come back in an error, the
    /// metrics or a trace.
    pub(crate) fn redacted(mut self) -> ApiError {
        crate::metrics::redact_in_place(&mut self.message);
        for p in &mut self.parameters {
            crate::metrics::redact_in_place(&mut p.message);
        }
        self
    }

    /// The text kept for later (recent calls, last errors, traces), before `metrics::for_record`.
    /// A validation failure leaves its message out, as it may quote the values given: records
    /// hold no parameter values (a PIN that failed its pattern would otherwise be in every trace
    /// file). It names the parameters when they are known; a validation error without that list
    /// (one a stage raised with a message only, such as PowerShell's conversion of a
    /// parameter's type) is kept without names. The caller's own error still says what was wrong.
    pub(crate) fn record_text(&self) -> Cow<'_, str> {
        if self.category != ApiErrorCategory::Validation {
            return Cow::Borrowed(&self.message);
        }
        if self.parameters.is_empty() {
            return Cow::Borrowed(
                "invalid parameters (the caller's error said what was wrong; values are not recorded); see the \
                 API's parameters with Get-ModuleAPIs (mc_api_list)",
            );
        }
        let names = self.parameters.iter().map(|p| p.parameter.as_str()).collect::<Vec<_>>().join(", ");
        Cow::Owned(format!(
            "invalid parameters: {names} (the caller's error said what was wrong; values are not recorded). \
             The handler did not run; see the API's parameters with Get-ModuleAPIs (mc_api_list)"
        ))
    }

    /// The error as the JSON object `mc_api_error_details` returns:
    /// `{"category","message","parameters":[{"parameter","message"}]}`.
    pub fn to_json(&self) -> String {
        #[derive(Serialize)]
        struct Wire<'a> {
            category: &'static str,
            message: &'a str,
            parameters: &'a [ParamError],
        }
        serde_json::to_string(&Wire {
            category: self.category.as_str(),
            message: &self.message,
            parameters: &self.parameters,
        })
        .expect("strings always serialize")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// Why registering, listing or removing an API or a middleware failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// A bad argument: malformed JSON, an empty or too long name, a bad schema entry…
    Invalid(Error),
    /// An API with that `Module.Operation` (compared case-insensitively) is registered
    /// already, and the registration did not ask to replace it.
    ApiExists {
        /// The key as the existing API spells it.
        key: String,
    },
    /// No API with that `Module.Operation` is registered.
    ApiNotFound {
        /// The key as the caller gave it.
        key: String,
    },
    /// A middleware of that name (compared case-insensitively) exists already.
    MiddlewareExists {
        /// The name as the existing middleware spells it.
        name: String,
    },
    /// No middleware of that name exists.
    MiddlewareNotFound {
        /// The name as the caller gave it.
        name: String,
    },
}

impl From<Error> for RegistryError {
    fn from(e: Error) -> Self {
        RegistryError::Invalid(e)
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Invalid(e) => fmt::Display::fmt(e, f),
            RegistryError::ApiExists { key } => write!(
                f,
                "API '{key}' is registered already; replace it with Register-ModuleAPI -Force (\"force\":true), \
                 or remove it first with Unregister-ModuleAPI (mc_api_unregister)"
            ),
            RegistryError::ApiNotFound { key } => {
                write!(f, "API '{key}' is not registered; list the registered APIs with Get-ModuleAPIs (mc_api_list)")
            }
            RegistryError::MiddlewareExists { name } => write!(
                f,
                "middleware '{name}' exists already; choose another name, replace it with Add-APIMiddleware -Force \
                 (\"force\":true), or remove it first with Remove-APIMiddleware (mc_middleware_remove)"
            ),
            RegistryError::MiddlewareNotFound { name } => write!(
                f,
                "middleware '{name}' does not exist; list middleware with Get-APIMiddleware (mc_middleware_list)"
            ),
        }
    }
}

impl std::error::Error for RegistryError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_round_trip_through_their_names() {
        for c in ApiErrorCategory::ALL {
            assert_eq!(ApiErrorCategory::parse(c.as_str()), Some(c));
            assert_eq!(ApiErrorCategory::parse(&c.as_str().to_uppercase()), Some(c));
        }
        assert_eq!(ApiErrorCategory::parse("Nope"), None);
    }

    #[test]
    fn error_details_json_lists_each_parameter() {
        let mut e = ApiError::new(ApiErrorCategory::Validation, "bad");
        e.parameters.push(ParamError { parameter: "A".into(), message: "missing".into() });
        assert_eq!(
            e.to_json(),
            r#"{"category":"Validation","message":"bad","parameters":[{"parameter":"A","message":"missing"}]}"#
        );
    }
}
