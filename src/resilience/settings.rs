//! Helpers for the partial JSON objects that change resilience and security settings:
//! keys compare case-insensitively, every bad value is named, nothing changes on error.

use serde_json::{Map, Value};

use crate::error::Error;

/// Parses `json` as an object, or fails naming `what` with an example of the shape.
pub(crate) fn object(json: &str, what: &'static str, expected: &'static str) -> Result<Map<String, Value>, Error> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| Error::InvalidJson { what, detail: e.to_string(), expected })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(Error::InvalidJson {
            what,
            detail: format!("found {}, not an object", crate::bus::json_kind(&other)),
            expected,
        }),
    }
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
