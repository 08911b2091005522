//! Helpers for the partial JSON objects that change resilience and security settings:
//! keys compare case-insensitively, every bad value is named, nothing changes on error.

use serde_json::{Map, Value};

use crate::error::Error;

/// Parses `json` as an object, or fails naming `what` with an example of the shape.
pub(crate) fn object(json: &str, what: &'static str, expected: &'static str) -> Result<Map<String, Value>, Error> {
    crate::bus::parse_object(json, what, expected)
}

/// A whole number in `lo..=hi` (floats with no fraction are accepted, as PowerShell sends them).
pub(crate) fn integer(key: &str, value: &Value, lo: u64, hi: u64) -> Result<u64, Error> {
    let n = value
        .as_u64()
        .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e15).map(|f| f as u64))
        .ok_or_else(|| Error::invalid(key, value, format!("use a whole number from {lo} to {hi}")))?;
    if n < lo || n > hi {
        return Err(Error::invalid(key, n, format!("use a whole number from {lo} to {hi}")));
    }
    Ok(n)
}

/// A finite number in `lo..=hi`.
pub(crate) fn number(key: &str, value: &Value, lo: f64, hi: f64, what: &str) -> Result<f64, Error> {
    let n = value.as_f64().filter(|f| f.is_finite()).ok_or_else(|| Error::invalid(key, value, what.to_owned()))?;
    if n < lo || n > hi {
        return Err(Error::invalid(key, n, what.to_owned()));
    }
    Ok(n)
}

/// `true` or `false`.
pub(crate) fn boolean(key: &str, value: &Value) -> Result<bool, Error> {
    value.as_bool().ok_or_else(|| Error::invalid(key, value, "use true or false"))
}

/// The error for a key the object does not know.
pub(crate) fn unknown_key(what: &str, key: &str, known: &str) -> Error {
    Error::invalid(format!("{what} key"), key, format!("unknown setting; the settings are {known}"))
}

/// The nested resilience and security parts of a configuration update, checked and ready
/// to apply.
#[derive(Debug, Default)]
pub(crate) struct Nested {
    retry: Option<super::RetryPolicy>,
    breaker: Option<super::BreakerOptions>,
    security: Option<crate::security::SecuritySettings>,
}

/// Takes the keys `retryPolicy`, `circuitBreaker` and `security` (case-insensitive) out of
/// a configuration update and checks them against the current values; `map` keeps the rest.
pub(crate) fn split_config(
    map: &mut Map<String, Value>,
    resilience: &super::Resilience,
    security: &crate::security::Security,
) -> Result<Nested, Error> {
    let mut nested = Nested::default();
    let keys: Vec<String> = map.keys().cloned().collect();
    for key in keys {
        let lower = key.to_ascii_lowercase();
        if !matches!(lower.as_str(), "retrypolicy" | "circuitbreaker" | "security") {
            continue;
        }
        let value = map.remove(&key).expect("the key was just listed");
        let Value::Object(inner) = value else {
            return Err(Error::invalid(key, value, "give an object of settings, like {\"maxRetries\":3}"));
        };
        match lower.as_str() {
            "retrypolicy" => nested.retry = Some(resilience.retry_policy().merged_with(&inner)?),
            "circuitbreaker" => nested.breaker = Some(resilience.default_breaker_options().merged_with(&inner)?),
            _ => {
                let next = security.settings().merged_with(&inner)?;
                security.check_settings(&next)?;
                nested.security = Some(next);
            }
        }
    }
    Ok(nested)
}

impl Nested {
    /// Applies what was checked by [`split_config`].
    pub(crate) fn apply(
        self,
        resilience: &super::Resilience,
        security: &crate::security::Security,
    ) -> Result<(), Error> {
        if let Some(r) = self.retry {
            resilience.set_retry_policy(r);
        }
        if let Some(b) = self.breaker {
            resilience.set_default_breaker_options(b);
        }
        if let Some(s) = self.security {
            security.set_settings(s)?;
        }
        Ok(())
    }
}

/// The configuration JSON with the nested `retryPolicy`, `circuitBreaker` and `security`
/// objects after its own keys.
pub(crate) fn config_json(
    config: &crate::config::Config,
    resilience: &super::Resilience,
    security: &crate::security::Security,
) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Full<'a> {
        #[serde(flatten)]
        config: &'a crate::config::Config,
        retry_policy: super::RetryPolicy,
        circuit_breaker: super::BreakerOptions,
        security: crate::security::SecuritySettings,
    }
    let full = Full {
        config,
        retry_policy: resilience.retry_policy(),
        circuit_breaker: resilience.default_breaker_options(),
        security: security.settings(),
    };
    serde_json::to_string(&full).expect("settings render JSON")
}
