//! Hub configuration: defaults, validation and the partial JSON update used by
//! `Set-CommunicationConfiguration` / `mc_config_set`.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::bus::OverflowPolicy;
use crate::error::Error;
use crate::setting_values::{boolean, whole_number};

/// Settings of one hub. Changes apply to what is created afterwards: a new
/// `max_message_queue_size`, `default_overflow` or `block_timeout_ms` is used by
/// subscriptions created later, and existing subscriptions keep what they were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// Capacity of a subscription's queue when neither the subscription nor its (literal)
    /// channel says otherwise. JSON `maxMessageQueueSize`, 1 ..= 100,000,000; default 10,000.
    pub max_message_queue_size: usize,
    /// The spec's `ProcessorInterval`. The core delivers event-driven and does not use it;
    /// the PowerShell module reads it as the milliseconds one batch of default handlers may
    /// hold a runspace's thread. JSON `processorInterval`, 1 ..= 60,000 ms; default 100.
    #[serde(rename = "processorInterval")]
    pub processor_interval_ms: u64,
    /// Overflow policy of subscriptions that do not choose one. JSON `defaultOverflow`;
    /// default `DropOldest`.
    pub default_overflow: OverflowPolicy,
    /// How long a publisher waits on a full `Block` queue when the subscription does not
    /// say. JSON `blockTimeoutMs`, 0 ..= 3,600,000; default 1,000.
    pub block_timeout_ms: u64,
    /// How many events the event history keeps. JSON `maxEventHistory`,
    /// 0 ..= 10,000,000; default 1,000.
    pub max_event_history: usize,
    /// The file the event history is persisted to, one JSON line per event; `None` keeps
    /// it in memory only. Setting it loads the file's events into the history. JSON
    /// `eventHistoryPath`, a path or `null` (`""` also means none); default `null`.
    pub event_history_path: Option<String>,
    /// Size in bytes at which the history file is rotated (renamed to `<path>.1`, replacing
    /// an older one); 0 never rotates. JSON `eventHistoryMaxBytes`, 0 ..= 2^40; default
    /// 10 MiB.
    pub event_history_max_bytes: u64,
    /// Whether latencies are recorded (counters always are). JSON `enableMetrics`;
    /// default `true`.
    pub enable_metrics: bool,
    /// Length of one metrics history interval. JSON `metricsIntervalMs`,
    /// 100 ..= 86,400,000; default 60,000.
    pub metrics_interval_ms: u64,
    /// How many intervals the metrics history keeps. JSON `metricsHistorySize`,
    /// 1 ..= 10,000; default 60.
    pub metrics_history_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_queue_size: 10_000,
            processor_interval_ms: 100,
            default_overflow: OverflowPolicy::DropOldest,
            block_timeout_ms: 1_000,
            max_event_history: 1_000,
            event_history_path: None,
            event_history_max_bytes: DEFAULT_EVENT_HISTORY_MAX_BYTES,
            enable_metrics: true,
            metrics_interval_ms: crate::metrics::DEFAULT_INTERVAL_MS,
            metrics_history_size: crate::metrics::DEFAULT_HISTORY_SIZE,
        }
    }
}

/// Default of [`Config::event_history_max_bytes`]: 10 MiB.
pub(crate) const DEFAULT_EVENT_HISTORY_MAX_BYTES: u64 = 10 * 1024 * 1024;
const MAX_EVENT_HISTORY_BYTES: u64 = 1 << 40;

const KEYS: &str = "maxMessageQueueSize, processorInterval, defaultOverflow, blockTimeoutMs, maxEventHistory, \
                    eventHistoryPath, eventHistoryMaxBytes, enableMetrics, metricsIntervalMs, metricsHistorySize, \
                    enableTracing, retryPolicy, circuitBreaker, security";
const EXPECTED: &str = r#"{"maxMessageQueueSize":10000,"blockTimeoutMs":1000}"#;

impl Config {
    /// Checks every value against its allowed range.
    pub fn validate(&self) -> Result<(), Error> {
        check_range("maxMessageQueueSize", self.max_message_queue_size as u64, 1, 100_000_000)?;
        check_range("processorInterval", self.processor_interval_ms, 1, 60_000)?;
        check_range("blockTimeoutMs", self.block_timeout_ms, 0, 3_600_000)?;
        check_range("maxEventHistory", self.max_event_history as u64, 0, 10_000_000)?;
        check_range("eventHistoryMaxBytes", self.event_history_max_bytes, 0, MAX_EVENT_HISTORY_BYTES)?;
        check_range("metricsIntervalMs", self.metrics_interval_ms, 100, 86_400_000)?;
        check_range("metricsHistorySize", self.metrics_history_size as u64, 1, 10_000)?;
        if let Some(path) = &self.event_history_path {
            if path.is_empty() {
                return Err(Error::invalid("eventHistoryPath", "", "give a file path, or null for no persistence"));
            }
            if path.contains('\0') {
                return Err(Error::invalid("eventHistoryPath", path.escape_debug(), "a path cannot contain a NUL character"));
            }
        }
        Ok(())
    }

    /// The configuration's own keys as a JSON object (`mc_config_get` adds the nested
    /// `retryPolicy`, `circuitBreaker` and `security` objects; see `Hub::config_json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a Config always serializes")
    }

    /// A copy of `self` with the keys of the JSON object `json` applied. Keys compare
    /// case-insensitively (`MaxMessageQueueSize` works too). An unknown key or a bad value
    /// is an error naming it, and `self` is not changed.
    pub fn merged_with_json(&self, json: &str) -> Result<Config, Error> {
        self.merged_with(&parse_update(json)?)
    }

    /// [`Config::merged_with_json`] for an object already parsed.
    pub(crate) fn merged_with(&self, map: &Map<String, Value>) -> Result<Config, Error> {
        let mut next = self.clone();
        for (key, value) in map {
            match key.to_ascii_lowercase().as_str() {
                "maxmessagequeuesize" => next.max_message_queue_size = integer(key, value)? as usize,
                "processorinterval" => next.processor_interval_ms = integer(key, value)?,
                "blocktimeoutms" => next.block_timeout_ms = integer(key, value)?,
                "maxeventhistory" => next.max_event_history = integer(key, value)? as usize,
                "eventhistorymaxbytes" => next.event_history_max_bytes = integer(key, value)?,
                "enablemetrics" => next.enable_metrics = boolean(key, value)?,
                "metricsintervalms" => next.metrics_interval_ms = integer(key, value)?,
                "metricshistorysize" => next.metrics_history_size = integer(key, value)? as usize,
                "eventhistorypath" => {
                    next.event_history_path = match value {
                        Value::Null => None,
                        Value::String(s) if s.is_empty() => None,
                        Value::String(s) => Some(s.clone()),
                        _ => return Err(Error::invalid(key, value, "use a file path as a string, or null for no persistence")),
                    }
                }
                "defaultoverflow" => {
                    let text = value.as_str().ok_or_else(|| {
                        Error::invalid(key, value, "use one of \"DropOldest\", \"DropNewest\", \"Reject\", \"Block\"")
                    })?;
                    next.default_overflow = OverflowPolicy::parse(text).map_err(|_| {
                        Error::invalid(key, text, "use one of DropOldest, DropNewest, Reject, Block")
                    })?;
                }
                _ => {
                    return Err(Error::invalid(
                        "configuration key",
                        key,
                        format!("unknown setting; the settings are {KEYS}"),
                    ))
                }
            }
        }
        next.validate()?;
        Ok(next)
    }
}

/// A configuration update's JSON object (keys given twice, in any case, are refused: see
/// [`crate::setting_values::object`]).
pub(crate) fn parse_update(json: &str) -> Result<Map<String, Value>, Error> {
    crate::setting_values::object(json, "configuration", EXPECTED)
}

/// Takes the key `enableTracing` (any case) out of a configuration update: `Some(on)` when it
/// was there. It is not a stored setting but a switch of the tracer (see
/// [`crate::Hub::update_config_json`]); `map` keeps the rest.
pub(crate) fn take_enable_tracing(map: &mut Map<String, Value>) -> Result<Option<bool>, Error> {
    let Some(key) = map.keys().find(|k| k.eq_ignore_ascii_case("enableTracing")).cloned() else {
        return Ok(None);
    };
    let value = map.remove(&key).expect("the key was just found");
    boolean(&key, &value).map(Some)
}

/// Any whole number that is zero or more; [`Config::validate`] checks each key's range.
fn integer(key: &str, value: &Value) -> Result<u64, Error> {
    whole_number(value).ok_or_else(|| Error::invalid(key, value, "use a whole number that is zero or more"))
}

fn check_range(key: &str, v: u64, lo: u64, hi: u64) -> Result<(), Error> {
    if v < lo || v > hi {
        return Err(Error::invalid(key, v, format!("use a value from {lo} to {hi}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_serialize_as_the_contract_says() {
        assert_eq!(
            Config::default().to_json(),
            r#"{"maxMessageQueueSize":10000,"processorInterval":100,"defaultOverflow":"DropOldest","blockTimeoutMs":1000,"maxEventHistory":1000,"eventHistoryPath":null,"eventHistoryMaxBytes":10485760,"enableMetrics":true,"metricsIntervalMs":60000,"metricsHistorySize":60}"#
        );
    }

    #[test]
    fn partial_update_changes_only_given_keys() {
        let c = Config::default()
            .merged_with_json(r#"{"MaxMessageQueueSize":20000,"defaultOverflow":"block"}"#)
            .unwrap();
        assert_eq!(c.max_message_queue_size, 20_000);
        assert_eq!(c.default_overflow, OverflowPolicy::Block);
        assert_eq!(c.block_timeout_ms, 1_000);
    }

    #[test]
    fn unknown_key_is_named_and_nothing_changes() {
        let base = Config::default();
        let err = base.merged_with_json(r#"{"blockTimeoutMs":5,"bogus":1}"#).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        assert!(err.to_string().contains("'bogus'"), "{err}");
        assert_eq!(base, Config::default());
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (r#"{"maxMessageQueueSize":0}"#, "maxMessageQueueSize"),
            (r#"{"maxMessageQueueSize":-5}"#, "maxMessageQueueSize"),
            (r#"{"maxMessageQueueSize":"ten"}"#, "maxMessageQueueSize"),
            (r#"{"processorInterval":0}"#, "processorInterval"),
            (r#"{"defaultOverflow":"Sometimes"}"#, "defaultOverflow"),
            (r#"{"blockTimeoutMs":1.5}"#, "blockTimeoutMs"),
            (r#"{"eventHistoryPath":5}"#, "eventHistoryPath"),
            (r#"{"eventHistoryMaxBytes":-1}"#, "eventHistoryMaxBytes"),
            (r#"{"eventHistoryMaxBytes":2e12}"#, "eventHistoryMaxBytes"),
            // One above each upper bound.
            (r#"{"maxMessageQueueSize":100000001}"#, "maxMessageQueueSize"),
            (r#"{"processorInterval":60001}"#, "processorInterval"),
            (r#"{"blockTimeoutMs":3600001}"#, "blockTimeoutMs"),
            (r#"{"maxEventHistory":10000001}"#, "maxEventHistory"),
            (r#"{"eventHistoryMaxBytes":1099511627777}"#, "eventHistoryMaxBytes"),
            (r#"{"metricsIntervalMs":86400001}"#, "metricsIntervalMs"),
            (r#"{"metricsHistorySize":10001}"#, "metricsHistorySize"),
        ];
        for (json, key) in cases {
            let err = Config::default().merged_with_json(json).unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{json}: {err:?}");
            assert!(err.to_string().contains(key), "{json}: {err}");
        }
        // The bounds themselves are taken.
        let highest = r#"{"maxMessageQueueSize":100000000,"processorInterval":60000,"blockTimeoutMs":3600000,
            "maxEventHistory":10000000,"eventHistoryMaxBytes":1099511627776,"metricsIntervalMs":86400000,
            "metricsHistorySize":10000}"#;
        Config::default().merged_with_json(highest).unwrap();
    }

    #[test]
    fn event_history_path_takes_a_string_and_null_or_empty_turns_it_off() {
        let c = Config::default().merged_with_json(r#"{"EventHistoryPath":"/tmp/h.jsonl"}"#).unwrap();
        assert_eq!(c.event_history_path.as_deref(), Some("/tmp/h.jsonl"));
        assert_eq!(c.merged_with_json(r#"{"eventHistoryPath":null}"#).unwrap().event_history_path, None);
        assert_eq!(c.merged_with_json(r#"{"eventHistoryPath":""}"#).unwrap().event_history_path, None);
    }

    #[test]
    fn non_object_json_is_invalid_json() {
        for json in ["[1]", "nope", "", "{"] {
            let err = Config::default().merged_with_json(json).unwrap_err();
            assert!(matches!(err, Error::InvalidJson { .. }), "{json}: {err:?}");
        }
    }
}
