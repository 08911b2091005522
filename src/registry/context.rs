//! The mutable part of a call's context: parameters (with their type hints), user,
//! headers and metadata. One per call, shared by every stage; a stage that changes it
//! changes it for the stages inside it and for the outer ones after it returns.

use serde_json::value::RawValue;

use super::json::{kind_of, Kind, OrderedObject};
use crate::error::Error;
use crate::wildcard::fold;

#[derive(Debug, Default)]
pub(crate) struct ContextData {
    pub parameters: OrderedObject,
    pub type_hints: Option<Box<RawValue>>,
    pub user: Option<Box<RawValue>>,
    pub headers: OrderedObject,
    pub metadata: OrderedObject,
}

const UPDATE_EXPECTED: &str = r#"{"metadata":{"RequiresAuth":true},"user":"alice","parameters":{"StepName":"Deploy"}}"#;

/// Keys of the context that name the call; a context passed back may carry them, and they
/// are ignored.
const IDENTITY_KEYS: [&str; 9] =
    ["apikey", "module", "operation", "requestid", "starttime", "depth", "timeoutms", "tag", "attempt"];

impl ContextData {
    /// Applies a (partial) context object: `parameters`, `typeHints`, `user`, `headers`,
    /// `metadata` replace the current values; the call's identity keys are ignored; any
    /// other key is an error. Giving `parameters` without `typeHints` clears the hints.
    /// Nothing changes when the update is rejected.
    pub fn apply_update(&mut self, json: &str) -> Result<(), Error> {
        let update = OrderedObject::parse(json, "context", UPDATE_EXPECTED)?;
        let mut next_params = None;
        let mut next_hints: Option<Option<Box<RawValue>>> = None;
        let mut next_user = None;
        let mut next_headers = None;
        let mut next_metadata = None;
        for (key, value) in update.0 {
            match key.to_ascii_lowercase().as_str() {
                "parameters" => next_params = Some(object_or_null(&value, "parameters")?),
                "typehints" => {
                    next_hints = Some(match kind_of(&value) {
                        Kind::Null => None,
                        Kind::Array => Some(value),
                        _ => {
                            return Err(Error::invalid(
                                "context typeHints",
                                value.get(),
                                "give an array of [path, type] pairs, or null",
                            ))
                        }
                    })
                }
                "user" => next_user = Some(if kind_of(&value) == Kind::Null { None } else { Some(value) }),
                "headers" => next_headers = Some(object_or_null(&value, "headers")?),
                "metadata" => next_metadata = Some(object_or_null(&value, "metadata")?),
                k if IDENTITY_KEYS.contains(&k) => {}
                _ => {
                    return Err(Error::invalid(
                        "context key",
                        key,
                        "unknown key; a context may change parameters, typeHints, user, headers and metadata",
                    ))
                }
            }
        }
        if let Some(p) = next_params {
            self.parameters = p;
            self.type_hints = None;
        }
        if let Some(h) = next_hints {
            self.type_hints = h;
        }
        if let Some(u) = next_user {
            self.user = u;
        }
        if let Some(h) = next_headers {
            self.headers = h;
        }
        if let Some(m) = next_metadata {
            self.metadata = m;
        }
        Ok(())
    }

    /// Sets one metadata entry (replacing a key that compares case-insensitively equal).
    pub fn set_metadata(&mut self, key: &str, value: Box<RawValue>) {
        set_member(&mut self.metadata, key, value);
    }

    /// Sets one header (replacing a key that compares case-insensitively equal).
    pub fn set_header(&mut self, key: &str, value: Box<RawValue>) {
        set_member(&mut self.headers, key, value);
    }

    pub fn user_json(&self) -> &str {
        self.user.as_deref().map_or("null", RawValue::get)
    }
}

/// The value of `key` (compared case-insensitively) in `object`.
pub(crate) fn get_member<'a>(object: &'a OrderedObject, key: &str) -> Option<&'a RawValue> {
    let folded = fold(key);
    object.0.iter().find(|(k, _)| fold(k) == folded).map(|(_, v)| &**v)
}

fn set_member(object: &mut OrderedObject, key: &str, value: Box<RawValue>) {
    let folded = fold(key);
    match object.0.iter_mut().find(|(k, _)| fold(k) == folded) {
        Some(slot) => slot.1 = value,
        None => object.0.push((key.to_owned(), value)),
    }
}

fn object_or_null(value: &RawValue, what: &'static str) -> Result<OrderedObject, Error> {
    match kind_of(value) {
        Kind::Null => Ok(OrderedObject::default()),
        Kind::Object => OrderedObject::from_raw(value, "context", UPDATE_EXPECTED),
        _ => Err(Error::invalid(format!("context {what}"), value.get(), "give an object (or null for none)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::json::raw;

    #[test]
    fn update_replaces_given_keys_ignores_identity_and_rejects_unknown() {
        let mut c = ContextData::default();
        c.apply_update(
            r#"{"apiKey":"X.Y","attempt":1,"metadata":{"A":1},"user":"bob","parameters":{"P":1},"typeHints":[[["P"],"long"]]}"#,
        )
        .unwrap();
        assert_eq!(c.metadata.to_json(), r#"{"A":1}"#);
        assert_eq!(c.user_json(), r#""bob""#);
        assert_eq!(c.type_hints.as_deref().map(RawValue::get), Some(r#"[[["P"],"long"]]"#));
        c.apply_update(r#"{"parameters":{"P":2}}"#).unwrap();
        assert!(c.type_hints.is_none(), "new parameters without hints clear the old hints");
        let err = c.apply_update(r#"{"metadata":{"B":2},"bogus":1}"#).unwrap_err();
        assert!(err.to_string().contains("'bogus'"), "{err}");
        assert_eq!(c.metadata.to_json(), r#"{"A":1}"#, "a rejected update changes nothing");
        assert!(c.apply_update(r#"{"headers":[1]}"#).is_err());
    }

    #[test]
    fn metadata_keys_compare_case_insensitively() {
        let mut c = ContextData::default();
        c.set_metadata("RequiresAuth", raw("true", "t").unwrap());
        c.set_metadata("requiresauth", raw("false", "t").unwrap());
        assert_eq!(c.metadata.to_json(), r#"{"RequiresAuth":false}"#);
        assert_eq!(get_member(&c.metadata, "REQUIRESAUTH").map(RawValue::get), Some("false"));
    }
}
