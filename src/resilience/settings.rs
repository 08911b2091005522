//! The nested `retryPolicy`, `circuitBreaker` and `security` parts of the configuration:
//! split out of an update, checked, applied, and rendered with the rest.

use serde_json::{Map, Value};

use crate::error::Error;

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

/// The configuration JSON: its own keys, `enableTracing`, then the nested `retryPolicy`,
/// `circuitBreaker` and `security` objects.
pub(crate) fn config_json(
    config: &crate::config::Config,
    enable_tracing: bool,
    resilience: &super::Resilience,
    security: &crate::security::Security,
) -> String {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Full<'a> {
        #[serde(flatten)]
        config: &'a crate::config::Config,
        enable_tracing: bool,
        retry_policy: super::RetryPolicy,
        circuit_breaker: super::BreakerOptions,
        security: crate::security::SecuritySettings,
    }
    let full = Full {
        config,
        enable_tracing,
        retry_policy: resilience.retry_policy(),
        circuit_breaker: resilience.default_breaker_options(),
        security: security.settings(),
    };
    serde_json::to_string(&full).expect("settings render JSON")
}
