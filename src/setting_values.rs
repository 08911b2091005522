//! Reading values out of the partial JSON objects that change settings (configuration,
//! retry, circuit breakers, security): every bad value is named with what to give instead.

use serde_json::{Map, Value};

use crate::error::Error;

/// Parses `json` as an object, or fails naming `what` with an example of the shape.
pub(crate) fn object(json: &str, what: &'static str, expected: &'static str) -> Result<Map<String, Value>, Error> {
    crate::bus::parse_object(json, what, expected)
}

/// A whole number that is zero or more; floats with no fraction count, as PowerShell sends them.
pub(crate) fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 1e15).map(|f| f as u64))
}

/// A whole number in `lo..=hi`.
pub(crate) fn integer(key: &str, value: &Value, lo: u64, hi: u64) -> Result<u64, Error> {
    let n = whole_number(value)
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
