//! Reading values out of the partial JSON objects that change settings (configuration,
//! retry, circuit breakers, security): every bad value is named with what to give instead.

use serde_json::{Map, Value};

use crate::error::Error;

/// Parses `json` as an object, or fails naming `what` with an example of the shape.
///
/// Keys compare case-insensitively, so an object (at any depth) that names one key twice, in
/// any case, is refused: otherwise one of the two values would be dropped unchecked.
pub(crate) fn object(json: &str, what: &'static str, expected: &'static str) -> Result<Map<String, Value>, Error> {
    let map = crate::bus::parse_object(json, what, expected)?;
    let twice = |e: serde_json::Error| crate::json::parse_error(json, &e, what, expected);
    serde_json::from_str::<UniqueKeys>(json).map_err(twice)?;
    Ok(map)
}

/// Any JSON value whose objects name no key twice, ignoring ASCII case (read and dropped).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        // Folded key -> the key as given.
        let mut seen = std::collections::HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(first) = seen.get(&key.to_ascii_lowercase()) {
                return Err(serde::de::Error::custom(format!("the key '{key}' is given twice (as '{first}' too)")));
            }
            map.next_value::<UniqueKeys>()?;
            seen.insert(key.to_ascii_lowercase(), key);
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
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
