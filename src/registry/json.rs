//! JSON helpers of the registry: objects read in document order with their values kept as
//! raw text (so nested data, such as PowerShell's `[ordered]` dictionaries, reaches the
//! handler byte for byte), and small writers.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::Error;

/// A JSON object's members in document order, each value as raw JSON text.
#[derive(Debug, Default, Clone)]
pub(crate) struct OrderedObject(pub Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push((k, v));
                }
                Ok(OrderedObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl OrderedObject {
    /// Parses `text` as one JSON object; anything else is `InvalidJson` about `what`.
    pub fn parse(text: &str, what: &'static str, expected: &'static str) -> Result<OrderedObject, Error> {
        serde_json::from_str(text).map_err(|e| crate::json::parse_error(text, &e, what, expected))
    }

    /// Parses a raw member value as an object.
    pub fn from_raw(raw: &RawValue, what: &'static str, expected: &'static str) -> Result<OrderedObject, Error> {
        OrderedObject::parse(raw.get(), what, expected)
    }

    /// Writes the object as compact JSON (values as given).
    pub fn write_to(&self, out: &mut String) {
        out.push('{');
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::json::push_str_literal(out, k);
            out.push(':');
            out.push_str(v.get());
        }
        out.push('}');
    }

    /// The object as compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(2 + self.0.iter().map(|(k, v)| k.len() + v.get().len() + 4).sum::<usize>());
        self.write_to(&mut out);
        out
    }
}

/// The kind of a JSON value, read from the first character of its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Number,
    String,
    Object,
    Array,
}

pub(crate) fn kind_of(raw: &RawValue) -> Kind {
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b't') | Some(b'f') => Kind::Bool,
        Some(b'n') | None => Kind::Null,
        _ => Kind::Number,
    }
}

/// JSON `null` as a raw value.
pub(crate) fn null() -> Box<RawValue> {
    RawValue::from_string("null".to_owned()).expect("null is JSON")
}

/// `text` as a raw value, or `InvalidJson` about `what`.
pub(crate) fn raw(text: &str, what: &'static str) -> Result<Box<RawValue>, Error> {
    serde_json::from_str::<Box<RawValue>>(text).map_err(|e| Error::InvalidJson {
        what,
        detail: crate::json::syntax_text(&e),
        expected: r#"any JSON value, e.g. {"Success":true}"#,
    })
}

/// A serializable value as a raw value.
pub(crate) fn to_raw<T: serde::Serialize + ?Sized>(value: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(value).expect("registry values always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_document_order_and_raw_values() {
        let o = OrderedObject::parse(r#"{"b":{"z":1,"a":2},"a":[1, 2],"c":"x"}"#, "test", "{}").unwrap();
        let keys: Vec<_> = o.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(o.0[0].1.get(), r#"{"z":1,"a":2}"#);
        assert_eq!(o.to_json(), r#"{"b":{"z":1,"a":2},"a":[1, 2],"c":"x"}"#);
    }

    #[test]
    fn non_objects_are_invalid_json() {
        for text in ["[1]", "1", "\"x\"", "", "{"] {
            assert!(matches!(OrderedObject::parse(text, "test", "{}"), Err(Error::InvalidJson { .. })), "{text}");
        }
    }

    #[test]
    fn kinds_come_from_the_first_character() {
        let cases = [
            ("null", Kind::Null),
            ("true", Kind::Bool),
            ("-1.5", Kind::Number),
            ("\"\"", Kind::String),
            ("{}", Kind::Object),
            ("[]", Kind::Array),
        ];
        for (text, kind) in cases {
            assert_eq!(kind_of(&raw(text, "t").unwrap()), kind, "{text}");
        }
    }
}
