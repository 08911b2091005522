//! Parameter schemas: what an API accepts, and the validation every call goes through
//! before its handler runs.
//!
//! A schema is a JSON object, one member per parameter, in the shape of the spec's
//! `Register-ModuleAPI -Parameters` hashtable (keys compare case-insensitively):
//!
//! ```json
//! {"StepName": {"type":"string","required":true,"description":"Name of the step"},
//!  "Mode":     {"type":"string","validateSet":["Quick","Full"],"default":"Quick"},
//!  "Retries":  {"type":"int"}}
//! ```
//!
//! Types and what they accept (JSON as the C ABI sees it; the PowerShell layer writes .NET
//! values with its data codec, whose type hints refine `datetime` and `double`):
//!
//! | type | accepts |
//! |---|---|
//! | `string` | a JSON string (not one marked as a datetime) |
//! | `int` | a whole number from -2147483648 to 2147483647 |
//! | `long` | a whole number from -9223372036854775808 to 9223372036854775807 |
//! | `double` | any number (and NaN, Infinity marked as doubles) |
//! | `bool` | `true` or `false` |
//! | `hashtable` | a JSON object |
//! | `array` | a JSON array |
//! | `datetime` | an ISO 8601 date or date-time string (`2026-11-27`, `2026-11-27T06:00:00Z`, with optional fraction and offset) |
//! | `object` | anything |
//!
//! `null` counts as "given, no value": it passes any type unless the parameter is required.
//! A required string may not be empty. `validateSet` lists the allowed values (strings
//! compare case-insensitively, like PowerShell's ValidateSet; for an array, every element
//! must be allowed). `pattern` is a regular expression (Rust `regex` syntax, which covers
//! the common .NET patterns but has no look-around or back-references) searched
//! case-insensitively in the value's text, like PowerShell's ValidatePattern; for an array,
//! every element must match. A default applies when the parameter is not given at all.

use std::fmt::Write as _;

use regex::{Regex, RegexBuilder};
use serde_json::value::RawValue;
use serde_json::{Number, Value};

use super::error::ParamError;
use super::json::{kind_of, Kind, OrderedObject};
use crate::error::Error;
use crate::json::push_str_literal;
use crate::wildcard::fold;

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// Text.
    String,
    /// A 32-bit whole number.
    Int,
    /// A 64-bit whole number.
    Long,
    /// A floating-point number.
    Double,
    /// `true` or `false`.
    Bool,
    /// A dictionary (a JSON object).
    Hashtable,
    /// A list (a JSON array).
    Array,
    /// A point in time (ISO 8601 text).
    DateTime,
    /// Anything at all.
    Object,
}

const TYPE_NAMES: &str = "string, int, long, double, bool, hashtable, array, datetime, object";

impl ParamType {
    /// Every type, in declaration order.
    pub const ALL: [ParamType; 9] = [
        ParamType::String,
        ParamType::Int,
        ParamType::Long,
        ParamType::Double,
        ParamType::Bool,
        ParamType::Hashtable,
        ParamType::Array,
        ParamType::DateTime,
        ParamType::Object,
    ];

    /// The name used in schemas (`"string"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Long => "long",
            ParamType::Double => "double",
            ParamType::Bool => "bool",
            ParamType::Hashtable => "hashtable",
            ParamType::Array => "array",
            ParamType::DateTime => "datetime",
            ParamType::Object => "object",
        }
    }

    /// Parses a type name, ignoring case; also takes the .NET names `int32`, `int64`,
    /// `boolean`.
    pub fn parse(name: &str) -> Option<ParamType> {
        let lower = name.trim().to_ascii_lowercase();
        let alias = match lower.as_str() {
            "int32" => "int",
            "int64" => "long",
            "boolean" => "bool",
            other => other,
        };
        ParamType::ALL.into_iter().find(|t| t.as_str() == alias)
    }

    fn article(self) -> &'static str {
        match self {
            ParamType::Int | ParamType::Array | ParamType::Object => "an",
            _ => "a",
        }
    }
}

/// One parameter of a schema.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    name: String,
    key: String,
    ty: ParamType,
    required: bool,
    description: Option<String>,
    default: Option<Box<RawValue>>,
    validate_set: Option<Vec<Value>>,
    pattern: Option<(String, Regex)>,
}

impl ParamSpec {
    /// The name as declared.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The type.
    pub fn param_type(&self) -> ParamType {
        self.ty
    }
    /// Whether a call must give it.
    pub fn required(&self) -> bool {
        self.required
    }
    /// Free text.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The default value's JSON, if it has one.
    pub fn default_json(&self) -> Option<&str> {
        self.default.as_deref().map(RawValue::get)
    }
}

/// An API's parameters. See the module documentation for the JSON shape and the rules.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    params: Vec<ParamSpec>,
}

const SCHEMA_EXPECTED: &str = r#"{"StepName":{"type":"string","required":true,"description":"Name of the step"}}"#;
const SPEC_KEYS: &str = "Type, Required, Description, Default, ValidateSet and Pattern, in any case";

/// A type hint the PowerShell data codec attached to a top-level parameter value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    None,
    DateTime,
    Double,
    Other,
}

fn hint_of(name: &str) -> Hint {
    match name {
        "datetime" | "datetimeoffset" => Hint::DateTime,
        "double" | "single" => Hint::Double,
        _ => Hint::Other,
    }
}

/// Parameters that passed validation: canonical names (as the schema spells them), in
/// schema order, defaults filled in; type hints with their paths renamed to match.
#[derive(Debug)]
pub(crate) struct Validated {
    pub params: OrderedObject,
    pub hints: Option<Box<RawValue>>,
}

impl Schema {
    /// Parses a schema object (see the module documentation). Every problem names the
    /// parameter and the key.
    pub fn from_json(json: &str) -> Result<Schema, Error> {
        let members = OrderedObject::parse(json, "parameter schema", SCHEMA_EXPECTED)?;
        let mut params: Vec<ParamSpec> = Vec::with_capacity(members.0.len());
        for (name, raw) in members.0 {
            check_param_name(&name)?;
            let key = fold(&name);
            if let Some(other) = params.iter().find(|p| p.key == key) {
                return Err(Error::invalid(
                    "parameter name",
                    &name,
                    format!(
                        "the schema declares it twice (also as '{}'); names compare case-insensitively",
                        other.name
                    ),
                ));
            }
            params.push(parse_spec(name, key, &raw)?);
        }
        Ok(Schema { params })
    }

    /// The parameters, in declaration order.
    pub fn params(&self) -> &[ParamSpec] {
        &self.params
    }

    /// The schema as normalized JSON (declaration order; every key present except
    /// `default`, which appears only when there is one).
    pub fn to_json(&self) -> String {
        let mut out = String::from("{");
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str_literal(&mut out, &p.name);
            out.push_str(":{\"type\":");
            push_str_literal(&mut out, p.ty.as_str());
            let _ = write!(out, ",\"required\":{}", p.required);
            out.push_str(",\"description\":");
            crate::json::push_opt_str(&mut out, p.description.as_deref());
            if let Some(d) = &p.default {
                out.push_str(",\"default\":");
                out.push_str(d.get());
            }
            out.push_str(",\"validateSet\":");
            match &p.validate_set {
                Some(set) => out.push_str(&serde_json::to_string(set).expect("values serialize")),
                None => out.push_str("null"),
            }
            out.push_str(",\"pattern\":");
            crate::json::push_opt_str(&mut out, p.pattern.as_ref().map(|(text, _)| text.as_str()));
            out.push('}');
        }
        out.push('}');
        out
    }

    /// Checks `given` against the schema. On success returns the parameters with canonical
    /// names, in schema order, with defaults; on failure every problem found.
    pub(crate) fn validate(
        &self,
        api_key: &str,
        given: &OrderedObject,
        hints: Option<&RawValue>,
    ) -> Result<Validated, Vec<ParamError>> {
        let root_hints = RootHints::parse(hints);
        let mut errors = Vec::new();
        let mut unknown = Vec::new();
        // For each schema parameter, the index of its value in `given`.
        let mut slot: Vec<Option<usize>> = vec![None; self.params.len()];
        let mut renamed = false;
        for (i, (name, raw)) in given.0.iter().enumerate() {
            let key = fold(name);
            let Some(p) = self.params.iter().position(|p| p.key == key) else {
                unknown.push(name.as_str());
                continue;
            };
            if let Some(first) = slot[p] {
                errors.push(ParamError {
                    parameter: self.params[p].name.clone(),
                    message: format!(
                        "{}: given twice (as '{}' and '{}'); parameter names compare case-insensitively, give it once",
                        self.params[p].name, given.0[first].0, name
                    ),
                });
                continue;
            }
            slot[p] = Some(i);
            renamed |= *name != self.params[p].name;
            if let Err(message) = self.params[p].check(raw, root_hints.get(name), true) {
                errors.push(ParamError { parameter: self.params[p].name.clone(), message });
            }
        }
        for (p, spec) in self.params.iter().enumerate() {
            if slot[p].is_none() && spec.required {
                let mut message = format!("{}: required, but not given ({}", spec.name, spec.ty.as_str());
                if let Some(d) = &spec.description {
                    let _ = write!(message, ": {d}");
                }
                message.push(')');
                errors.push(ParamError { parameter: spec.name.clone(), message });
            }
        }
        // Errors in schema order, unknown parameters last.
        errors.sort_by_key(|e| self.params.iter().position(|p| p.name == e.parameter).unwrap_or(usize::MAX));
        if !unknown.is_empty() {
            let known = if self.params.is_empty() {
                "it takes no parameters".to_owned()
            } else {
                format!(
                    "its parameters are {}",
                    self.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>().join(", ")
                )
            };
            for name in unknown {
                errors.push(ParamError {
                    parameter: name.to_owned(),
                    message: format!("{name}: not a parameter of {api_key} ({known})"),
                });
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }

        let mut params = Vec::with_capacity(self.params.len());
        for (p, spec) in self.params.iter().enumerate() {
            match slot[p] {
                Some(i) => params.push((spec.name.clone(), given.0[i].1.clone())),
                None => {
                    if let Some(d) = &spec.default {
                        params.push((spec.name.clone(), d.clone()));
                    }
                }
            }
        }
        let hints = match hints {
            Some(h) if renamed => Some(rename_hint_roots(h, |k| {
                let key = fold(k);
                self.params.iter().find(|p| p.key == key).map(|p| p.name.clone())
            })),
            Some(h) => Some(h.to_owned()),
            None => None,
        };
        Ok(Validated { params: OrderedObject(params), hints })
    }
}

/// The hints whose path is exactly one object key: the types of top-level parameters.
struct RootHints(Vec<(String, Hint)>);

impl RootHints {
    fn parse(hints: Option<&RawValue>) -> RootHints {
        let mut out = Vec::new();
        let Some(Ok(Value::Array(pairs))) = hints.map(|h| serde_json::from_str::<Value>(h.get())) else {
            return RootHints(out);
        };
        for pair in pairs {
            if let Value::Array(pair) = pair {
                if let [Value::Array(path), Value::String(kind)] = pair.as_slice() {
                    if let [Value::String(key)] = path.as_slice() {
                        out.push((key.clone(), hint_of(kind)));
                    }
                }
            }
        }
        RootHints(out)
    }

    fn get(&self, key: &str) -> Hint {
        self.0.iter().find(|(k, _)| k == key).map_or(Hint::None, |(_, h)| *h)
    }
}

/// Rewrites the first path segment of every hint through `rename` (unknown keys stay).
fn rename_hint_roots(hints: &RawValue, rename: impl Fn(&str) -> Option<String>) -> Box<RawValue> {
    let Ok(Value::Array(mut pairs)) = serde_json::from_str::<Value>(hints.get()) else {
        return hints.to_owned();
    };
    for pair in &mut pairs {
        if let Some(Value::String(first)) = pair.get_mut(0).and_then(|p| p.get_mut(0)) {
            if let Some(name) = rename(first) {
                *first = name;
            }
        }
    }
    super::json::to_raw(&pairs)
}

fn check_param_name(name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let ok = match chars.next() {
        Some(c) if c.is_alphabetic() || c == '_' => chars.all(|c| c.is_alphanumeric() || c == '_'),
        _ => false,
    } && name.chars().count() <= 128;
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "parameter name",
            name.escape_debug(),
            "use 1 to 128 letters, digits and underscores, starting with a letter or underscore (a name a PowerShell \
             handler can declare in param())",
        ))
    }
}

fn parse_spec(name: String, key: String, raw: &RawValue) -> Result<ParamSpec, Error> {
    // Key names as PowerShell users write them (JSON keys compare case-insensitively too),
    // and text values without JSON quotes (`shown`): these errors reach both.
    let bad = |what: &str, value: &dyn std::fmt::Display, reason: &str| {
        Error::invalid(format!("{what} of parameter '{name}'"), value, reason.to_owned())
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(raw.get()) else {
        return Err(Error::invalid(
            format!("schema entry of parameter '{name}'"),
            raw.get(),
            r#"describe each parameter with an object such as {"type":"string","required":true}"#,
        ));
    };
    let mut spec = ParamSpec {
        name: name.clone(),
        key,
        ty: ParamType::Object,
        required: false,
        description: None,
        default: None,
        validate_set: None,
        pattern: None,
    };
    let mut default = None;
    let mut pattern_text = None;
    for (k, v) in &map {
        match k.to_ascii_lowercase().as_str() {
            "type" => {
                let text = v
                    .as_str()
                    .ok_or_else(|| bad("Type", &shown(v), &format!("give the type as text: one of {TYPE_NAMES}")))?;
                spec.ty = ParamType::parse(text)
                    .ok_or_else(|| bad("Type", &shown(v), &format!("unknown type; use one of {TYPE_NAMES}")))?;
            }
            "required" => {
                spec.required = v.as_bool().ok_or_else(|| {
                    bad("Required", &shown(v), "use a boolean: true or false ($true or $false in PowerShell)")
                })?;
            }
            "description" => match v {
                Value::Null => {}
                Value::String(s) => spec.description = Some(s.clone()),
                other => return Err(bad("Description", &shown(other), "give the description as text")),
            },
            "default" => default = Some((super::json::to_raw(v), shown(v))),
            "validateset" => match v {
                Value::Array(items) if !items.is_empty() => {
                    if let Some(bad_item) = items.iter().find(|i| i.is_object() || i.is_array() || i.is_null()) {
                        return Err(bad(
                            "ValidateSet",
                            &shown(bad_item),
                            "list plain values (text, numbers, true/false)",
                        ));
                    }
                    spec.validate_set = Some(items.clone());
                }
                Value::Null => {}
                other => return Err(bad("ValidateSet", &shown(other), "give a non-empty list of allowed values")),
            },
            "pattern" => match v {
                Value::Null => {}
                Value::String(s) => pattern_text = Some(s.clone()),
                other => return Err(bad("Pattern", &shown(other), "give the regular expression as text")),
            },
            _ => {
                return Err(Error::invalid(
                    format!("schema key of parameter '{name}'"),
                    k,
                    format!("unknown key; the keys are {SPEC_KEYS}"),
                ))
            }
        }
    }
    // For an array parameter the allowed values are its elements' values.
    if let (Some(items), false) = (&spec.validate_set, spec.ty == ParamType::Array) {
        for item in items {
            let raw = super::json::to_raw(item);
            if let Err(message) = spec.check_type(&raw, Hint::None) {
                return Err(bad(
                    "ValidateSet",
                    &shown(item),
                    &format!("every allowed value must itself be valid: {message}"),
                ));
            }
        }
    }
    if let Some(text) = pattern_text {
        if matches!(spec.ty, ParamType::Bool | ParamType::Hashtable) {
            return Err(bad(
                "Pattern",
                &text,
                &format!("a pattern checks text; a {} parameter cannot have one", spec.ty.as_str()),
            ));
        }
        let regex = RegexBuilder::new(&text).case_insensitive(true).build().map_err(|e| {
            let detail = e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
            bad("Pattern", &text, &format!("not a valid regular expression ({detail}); note that look-around and back-references are not supported"))
        })?;
        spec.pattern = Some((text, regex));
    }
    if let Some((d, shown_default)) = default {
        if spec.required {
            return Err(bad(
                "Default",
                &shown_default,
                "a required parameter must always be given, so its default would never apply; remove one of the two",
            ));
        }
        if let Err(message) = spec.check(&d, Hint::None, false) {
            return Err(bad("Default", &shown_default, &format!("the default must itself be valid: {message}")));
        }
        spec.default = Some(d);
    }
    Ok(spec)
}

/// A schema value as a message shows it: text as written (only control characters
/// escaped), anything else as JSON.
fn shown(value: &Value) -> String {
    match value {
        Value::String(text) => {
            text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
        }
        other => other.to_string(),
    }
}

/// How a value looks in a message: `the string 'abc'`, `the number 3.5`, `an array`.
fn describe(raw: &RawValue, hint: Hint) -> String {
    let text = raw.get().trim();
    match kind_of(raw) {
        Kind::Null => "null".to_owned(),
        Kind::Bool => format!("{text} (a bool)"),
        Kind::Number => format!("the number {}", shorten(text)),
        Kind::String => {
            let s: String = serde_json::from_str(text).unwrap_or_default();
            match hint {
                Hint::DateTime => format!("the datetime '{}'", shorten(&s)),
                _ => format!("the string '{}'", shorten(&s)),
            }
        }
        Kind::Object => "a hashtable (object)".to_owned(),
        Kind::Array => "an array".to_owned(),
    }
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(60).collect::<String>())
    }
}

impl ParamSpec {
    /// Checks one given value; `Err` is the message (starting with the parameter's name).
    fn check(&self, raw: &RawValue, hint: Hint, given: bool) -> Result<(), String> {
        let kind = kind_of(raw);
        if kind == Kind::Null {
            return if self.required && given {
                Err(format!("{}: required, but null was given; pass a {}", self.name, self.ty.as_str()))
            } else {
                Ok(())
            };
        }
        self.check_type(raw, hint).map_err(|m| format!("{}: {m}", self.name))?;
        if self.required && kind == Kind::String && raw.get().trim() == "\"\"" {
            return Err(format!("{}: required, but an empty string was given; pass a non-empty string", self.name));
        }
        if let Some(set) = &self.validate_set {
            let ok = match (kind, self.ty) {
                (Kind::Array, _) => array_items(raw).iter().all(|v| set.iter().any(|s| same_value(s, v))),
                _ => serde_json::from_str::<Value>(raw.get()).is_ok_and(|v| set.iter().any(|s| same_value(s, &v))),
            };
            if !ok {
                let allowed = set.iter().map(show_value).collect::<Vec<_>>().join(", ");
                return Err(format!(
                    "{}: {} is not one of the allowed values ({allowed})",
                    self.name,
                    describe(raw, hint)
                ));
            }
        }
        if let Some((text, regex)) = &self.pattern {
            let values: Vec<Value> = match kind {
                Kind::Array => array_items(raw),
                _ => serde_json::from_str::<Value>(raw.get()).into_iter().collect(),
            };
            for v in &values {
                let subject = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(format!(
                            "{}: the pattern '{text}' checks text, and {} holds {}",
                            self.name,
                            describe(raw, hint),
                            if v.is_object() { "a hashtable" } else { "a value that is not text" }
                        ))
                    }
                };
                if !regex.is_match(&subject) {
                    return Err(format!("{}: '{}' does not match the pattern '{text}'", self.name, shorten(&subject)));
                }
            }
        }
        Ok(())
    }

    /// The type check alone; `Err` is the message without the parameter's name.
    fn check_type(&self, raw: &RawValue, hint: Hint) -> Result<(), String> {
        let kind = kind_of(raw);
        let number = || serde_json::from_str::<Number>(raw.get().trim()).ok();
        let ok = match self.ty {
            ParamType::Object => true,
            ParamType::String => kind == Kind::String && hint != Hint::DateTime,
            ParamType::Int => {
                kind == Kind::Number && number().and_then(|n| n.as_i64()).is_some_and(|i| i32::try_from(i).is_ok())
            }
            ParamType::Long => kind == Kind::Number && number().is_some_and(|n| n.is_i64()),
            ParamType::Double => kind == Kind::Number || (kind == Kind::String && hint == Hint::Double),
            ParamType::Bool => kind == Kind::Bool,
            ParamType::Hashtable => kind == Kind::Object,
            ParamType::Array => kind == Kind::Array,
            ParamType::DateTime => {
                kind == Kind::String
                    && (hint == Hint::DateTime
                        || serde_json::from_str::<String>(raw.get()).is_ok_and(|s| parse_iso8601(&s).is_some()))
            }
        };
        if ok {
            return Ok(());
        }
        let expected = match self.ty {
            ParamType::Int => "an int (a whole number from -2147483648 to 2147483647)".to_owned(),
            ParamType::Long => "a long (a whole number from -9223372036854775808 to 9223372036854775807)".to_owned(),
            ParamType::DateTime => "a datetime (ISO 8601 text such as 2026-11-27T06:00:00Z)".to_owned(),
            ParamType::Array => "an array (wrap a single value: @(value))".to_owned(),
            t => format!("{} {}", t.article(), t.as_str()),
        };
        Err(format!("expected {expected}, got {}", describe(raw, hint)))
    }
}

fn array_items(raw: &RawValue) -> Vec<Value> {
    match serde_json::from_str::<Value>(raw.get()) {
        Ok(Value::Array(items)) => items,
        _ => Vec::new(),
    }
}

/// ValidateSet equality: text case-insensitively, numbers by value, the rest exactly.
fn same_value(allowed: &Value, v: &Value) -> bool {
    match (allowed, v) {
        (Value::String(a), Value::String(b)) => a == b || fold(a) == fold(b),
        (Value::Number(a), Value::Number(b)) => match (a.as_i64(), b.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => a.as_f64() == b.as_f64(),
        },
        _ => allowed == v,
    }
}

fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

/// Parses ISO 8601 `YYYY-MM-DD[(T| )hh:mm[:ss[.fffffff]]][Z|±hh:mm|±hhmm]` into its fields;
/// `None` when the text is not such a date or has a field out of range.
pub(crate) fn parse_iso8601(s: &str) -> Option<(i32, u32, u32, u32, u32, u32)> {
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<u32> {
        let part = b.get(from..from + n)?;
        if part.iter().all(u8::is_ascii_digit) {
            Some(part.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
        } else {
            None
        }
    };
    let year = digits(0, 4)? as i32;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let (month, day) = (digits(5, 2)?, digits(8, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if day == 0 || day > days {
        return None;
    }
    if b.len() == 10 {
        return Some((year, month, day, 0, 0, 0));
    }
    if !matches!(b.get(10), Some(b'T') | Some(b't') | Some(b' ')) {
        return None;
    }
    let (hour, minute) = (digits(11, 2)?, digits(14, 2)?);
    if b.get(13) != Some(&b':') || hour > 23 || minute > 59 {
        return None;
    }
    let mut i = 16;
    let mut second = 0;
    if b.get(i) == Some(&b':') {
        second = digits(i + 1, 2)?;
        if second > 60 {
            return None;
        }
        i += 3;
        if matches!(b.get(i), Some(b'.') | Some(b',')) {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
    }
    match b.get(i) {
        None => {}
        Some(b'Z') | Some(b'z') if i + 1 == b.len() => {}
        Some(b'+') | Some(b'-') => {
            let oh = digits(i + 1, 2)?;
            let rest = &b[i + 3..];
            let om = match rest {
                [b':', ..] if rest.len() == 3 => digits(i + 4, 2)?,
                _ if rest.len() == 2 => digits(i + 3, 2)?,
                [] => 0,
                _ => return None,
            };
            if oh > 14 || om > 59 {
                return None;
            }
        }
        _ => return None,
    }
    Some((year, month, day, hour, minute, second))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_dates_and_times_parse_and_nonsense_does_not() {
        let good = [
            "2026-11-27",
            "2026-11-27T06:00",
            "2026-11-27T06:00:00",
            "2026-11-27T06:00:00Z",
            "2026-11-27T06:00:00.1234567Z",
            "2026-11-27 06:00:00",
            "2026-11-27T06:00:00+01:00",
            "2026-11-27T06:00:00.000-0530",
            "2024-02-29T23:59:60Z",
            "2000-02-29", // divisible by 400: a leap year
        ];
        for s in good {
            assert!(parse_iso8601(s).is_some(), "{s}");
        }
        let bad = [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-11-31",
            "2023-02-29",
            "2100-02-29", // divisible by 100 but not 400: not a leap year
            "1900-02-29",
            "2026-11-27T24:00",
            "2026-11-27T06:60",
            "2026-11-27T06:00:00.",
            "2026-11-27T06:00:00Zx",
            "2026-11-27T06:00:00+25:00",
            "26-11-27",
            "2026/11/27",
            "2026-11-27T",
        ];
        for s in bad {
            assert!(parse_iso8601(s).is_none(), "{s}");
        }
    }

    #[test]
    fn type_names_parse_case_insensitively_with_dotnet_aliases() {
        assert_eq!(ParamType::parse("String"), Some(ParamType::String));
        assert_eq!(ParamType::parse("INT32"), Some(ParamType::Int));
        assert_eq!(ParamType::parse("int64"), Some(ParamType::Long));
        assert_eq!(ParamType::parse("Boolean"), Some(ParamType::Bool));
        assert_eq!(ParamType::parse("DateTime"), Some(ParamType::DateTime));
        assert_eq!(ParamType::parse("float"), None);
    }

    #[test]
    fn schema_json_round_trips_in_declaration_order() {
        let s = Schema::from_json(
            r#"{"B":{"Type":"Int","Default":3},"A":{"type":"string","required":true,"description":"d","validateSet":["x","y"],"pattern":"^[a-z]$"}}"#,
        )
        .unwrap();
        assert_eq!(
            s.to_json(),
            r#"{"B":{"type":"int","required":false,"description":null,"default":3,"validateSet":null,"pattern":null},"A":{"type":"string","required":true,"description":"d","validateSet":["x","y"],"pattern":"^[a-z]$"}}"#
        );
    }

    #[test]
    fn hint_roots_are_renamed_to_the_schema_spelling() {
        let hints = super::super::json::raw(r#"[[["when"],"datetime"],[["Items",1],"long"]]"#, "t").unwrap();
        let out = rename_hint_roots(&hints, |k| if k == "when" { Some("When".to_owned()) } else { None });
        assert_eq!(out.get(), r#"[[["When"],"datetime"],[["Items",1],"long"]]"#);
    }
}
