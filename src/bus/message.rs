//! Messages: priority, the publish request, and the immutable envelope that every
//! subscription queue shares.

use std::fmt;
use std::ops::Range;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::bus::channel::Channel;
use crate::error::Error;
use crate::id::MessageId;
use crate::json::{push_opt_str, push_str_literal};
use crate::sync::{Arc, AtomicUsize};
use crate::time_fmt::push_ms;
use crate::wildcard::fold;

/// Delivery priority. Takes hand out `Critical` before `High` before `Normal` before `Low`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub enum Priority {
    /// Delivered last.
    Low = 0,
    /// The default.
    #[default]
    Normal = 1,
    /// Delivered before `Normal`.
    High = 2,
    /// Delivered first.
    Critical = 3,
}

impl Priority {
    /// All priorities, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Critical];

    /// The name as used in JSON and PowerShell (`"High"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "Low",
            Priority::Normal => "Normal",
            Priority::High => "High",
            Priority::Critical => "Critical",
        }
    }

    pub(crate) fn lane(self) -> usize {
        self as usize
    }
}

impl FromStr for Priority {
    type Err = Error;
    /// Parses a priority name, ignoring case.
    fn from_str(s: &str) -> Result<Self, Error> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::invalid("priority", s, "use Low, Normal, High or Critical"))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) const MAX_NAME_CHARS: usize = 256;

/// Checks a name (channel, message type, module): non-empty, at most 256 characters, no
/// control characters.
pub(crate) fn check_name(param: &str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::invalid(param, value, "the name is empty; give a non-empty name"));
    }
    if value.chars().count() > MAX_NAME_CHARS {
        return Err(Error::invalid(param, value, format!("the name is longer than {MAX_NAME_CHARS} characters; shorten it")));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid(param, value.escape_debug(), "the name contains a control character; remove it"));
    }
    Ok(())
}

const MESSAGE_EXPECTED: &str =
    r#"{"channel":"Configuration","messageType":"ConfigChanged","data":{},"priority":"High","ttlMs":60000}"#;

/// What to publish. Only the channel and message type are required.
///
/// ```
/// use module_communication::{Priority, PublishRequest};
/// let req = PublishRequest::new("Configuration", "ConfigChanged")
///     .data_json(r#"{"Setting":"MaxJobs"}"#).unwrap()
///     .source_module("ConfigurationCore")
///     .priority(Priority::High)
///     .ttl_ms(60_000);
/// # let _ = req;
/// ```
#[derive(Debug, Clone)]
pub struct PublishRequest {
    pub(crate) channel: String,
    pub(crate) message_type: String,
    pub(crate) data: Option<Box<RawValue>>,
    pub(crate) source_module: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) ttl_ms: Option<u64>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) type_hints: Option<Box<RawValue>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireMessage {
    channel: String,
    message_type: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    source_module: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    ttl_ms: Option<u64>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    type_hints: Option<Box<RawValue>>,
}

/// Parses a JSON object into `T`. Serde would also accept a JSON array for a struct
/// (fields by position); the C ABI promises objects, so anything else is refused.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(
    json: &str,
    what: &'static str,
    expected: &'static str,
) -> Result<T, Error> {
    let invalid = |detail: String| Error::InvalidJson { what, detail, expected };
    match json.trim_start().chars().next() {
        Some('{') => serde_json::from_str(json).map_err(|e| invalid(e.to_string())),
        Some(_) => Err(invalid(format!(
            "found {}, not an object",
            serde_json::from_str::<serde_json::Value>(json).map_or("malformed JSON", |v| json_kind(&v))
        ))),
        None => Err(invalid("the text is empty".to_owned())),
    }
}

/// "an array", "a string", … for messages.
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn raw_json(what: &'static str, text: &str) -> Result<Box<RawValue>, Error> {
    serde_json::from_str::<Box<RawValue>>(text).map_err(|e| Error::InvalidJson {
        what,
        detail: e.to_string(),
        expected: r#"any JSON value, e.g. {"Setting":"MaxJobs"}"#,
    })
}

impl PublishRequest {
    /// A message of type `message_type` for the channel `channel`, with no data, `Normal`
    /// priority and no expiry.
    pub fn new(channel: impl Into<String>, message_type: impl Into<String>) -> Self {
        PublishRequest {
            channel: channel.into(),
            message_type: message_type.into(),
            data: None,
            source_module: None,
            priority: Priority::Normal,
            ttl_ms: None,
            correlation_id: None,
            type_hints: None,
        }
    }

    /// Parses the C ABI's message object (camelCase keys, unknown keys rejected).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let wire: WireMessage = parse_object(json, "message", MESSAGE_EXPECTED)?;
        let priority = match wire.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => p.parse()?,
        };
        Ok(PublishRequest {
            channel: wire.channel,
            message_type: wire.message_type,
            data: wire.data,
            source_module: wire.source_module,
            priority,
            ttl_ms: wire.ttl_ms,
            correlation_id: wire.correlation_id,
            type_hints: wire.type_hints,
        })
    }

    /// Sets the data from JSON text, stored and delivered exactly as given.
    pub fn data_json(mut self, json: &str) -> Result<Self, Error> {
        self.data = Some(raw_json("data", json)?);
        Ok(self)
    }

    /// Sets the data from a JSON value.
    pub fn data_value(mut self, value: &serde_json::Value) -> Self {
        let text = serde_json::to_string(value).expect("a serde_json::Value always serializes");
        self.data = Some(RawValue::from_string(text).expect("serde_json output is valid JSON"));
        self
    }

    /// Sets the publishing module's name.
    pub fn source_module(mut self, module: impl Into<String>) -> Self {
        self.source_module = Some(module.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Makes the message expire `ttl_ms` milliseconds after it is published (at least 1).
    pub fn ttl_ms(mut self, ttl_ms: u64) -> Self {
        self.ttl_ms = Some(ttl_ms);
        self
    }

    /// Sets a correlation id, any text.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the type hints (opaque JSON the PowerShell layer uses to restore .NET types).
    pub fn type_hints_json(mut self, json: &str) -> Result<Self, Error> {
        self.type_hints = Some(raw_json("typeHints", json)?);
        Ok(self)
    }

    /// The channel name as given.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_name("messageType", &self.message_type)?;
        if let Some(m) = &self.source_module {
            check_name("sourceModule", m)?;
        }
        if self.ttl_ms == Some(0) {
            return Err(Error::invalid("ttlMs", 0, "a TTL must be at least 1 ms; leave it out for no expiry"));
        }
        if let Some(ttl) = self.ttl_ms {
            if ttl > i64::MAX as u64 / 2 {
                return Err(Error::invalid("ttlMs", ttl, "the TTL is too large; leave it out for no expiry"));
            }
        }
        Ok(())
    }
}

/// A published message as subscribers see it. Immutable and shared by every queue it
/// entered; its JSON text is rendered once, at publish.
pub struct Envelope {
    id: MessageId,
    pub(crate) channel: Arc<Channel>,
    message_type: String,
    pub(crate) message_type_key: String,
    pub(crate) source_module_key: Option<String>,
    priority: Priority,
    timestamp_ms: i64,
    expires_at_ms: Option<i64>,
    /// The delivered JSON followed by one NUL byte (so C callers may treat it as a C string).
    json: String,
    data: Option<Range<usize>>,
    type_hints: Option<Range<usize>>,
    source_module: Option<String>,
    correlation_id: Option<String>,
    /// Number of subscription queues that still have to complete this message.
    pub(crate) pending: AtomicUsize,
}

impl Envelope {
    pub(crate) fn build(id: MessageId, channel: Arc<Channel>, req: PublishRequest, timestamp_ms: i64) -> Envelope {
        let expires_at_ms = req.ttl_ms.map(|t| timestamp_ms.saturating_add(t as i64));
        let data_len = req.data.as_ref().map_or(4, |d| d.get().len());
        let hints_len = req.type_hints.as_ref().map_or(4, |d| d.get().len());
        let mut json = String::with_capacity(
            200 + channel.name.len() + req.message_type.len() + data_len + hints_len
                + req.source_module.as_ref().map_or(0, String::len)
                + req.correlation_id.as_ref().map_or(0, String::len),
        );
        json.push_str("{\"id\":\"");
        json.push_str(id.as_uuid().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
        json.push_str("\",\"channel\":");
        push_str_literal(&mut json, &channel.name);
        json.push_str(",\"messageType\":");
        push_str_literal(&mut json, &req.message_type);
        json.push_str(",\"data\":");
        let data = match &req.data {
            Some(d) => {
                let start = json.len();
                json.push_str(d.get());
                Some(start..json.len())
            }
            None => {
                json.push_str("null");
                None
            }
        };
        json.push_str(",\"sourceModule\":");
        push_opt_str(&mut json, req.source_module.as_deref());
        json.push_str(",\"priority\":\"");
        json.push_str(req.priority.as_str());
        json.push_str("\",\"timestamp\":\"");
        push_ms(&mut json, timestamp_ms);
        json.push_str("\",\"expiresAt\":");
        match expires_at_ms {
            Some(e) => {
                json.push('"');
                push_ms(&mut json, e);
                json.push('"');
            }
            None => json.push_str("null"),
        }
        json.push_str(",\"correlationId\":");
        push_opt_str(&mut json, req.correlation_id.as_deref());
        json.push_str(",\"typeHints\":");
        let type_hints = match &req.type_hints {
            Some(h) => {
                let start = json.len();
                json.push_str(h.get());
                Some(start..json.len())
            }
            None => {
                json.push_str("null");
                None
            }
        };
        json.push('}');
        json.push('\0');
        Envelope {
            id,
            channel,
            message_type_key: fold(&req.message_type),
            source_module_key: req.source_module.as_deref().map(fold),
            priority: req.priority,
            timestamp_ms,
            expires_at_ms,
            json,
            data,
            type_hints,
            message_type: req.message_type,
            source_module: req.source_module,
            correlation_id: req.correlation_id,
            pending: AtomicUsize::new(0),
        }
    }

    /// The message id.
    pub fn id(&self) -> MessageId {
        self.id
    }

    /// The channel's name, as the channel was created.
    pub fn channel(&self) -> &str {
        &self.channel.name
    }

    /// The message type, as published.
    pub fn message_type(&self) -> &str {
        &self.message_type
    }

    /// The data as JSON text, exactly as published (`None` when there was none).
    pub fn data_json(&self) -> Option<&str> {
        self.data.clone().map(|r| &self.json[r])
    }

    /// The publishing module's name, if given.
    pub fn source_module(&self) -> Option<&str> {
        self.source_module.as_deref()
    }

    /// The priority.
    pub fn priority(&self) -> Priority {
        self.priority
    }

    /// When it was published, in ms since the Unix epoch (hub clock).
    pub fn timestamp_ms(&self) -> i64 {
        self.timestamp_ms
    }

    /// When it expires, in ms since the Unix epoch, if it has a TTL.
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.expires_at_ms
    }

    /// The correlation id, if given.
    pub fn correlation_id(&self) -> Option<&str> {
        self.correlation_id.as_deref()
    }

    /// The type hints as JSON text, if given.
    pub fn type_hints_json(&self) -> Option<&str> {
        self.type_hints.clone().map(|r| &self.json[r])
    }

    /// The delivered JSON object (see `docs/c-abi.md`, "Messages as JSON").
    pub fn to_json(&self) -> &str {
        &self.json[..self.json.len() - 1]
    }

    /// The delivered JSON followed by a NUL byte; the length excludes the NUL.
    pub(crate) fn json_nul_terminated(&self) -> (&[u8], usize) {
        (self.json.as_bytes(), self.json.len() - 1)
    }

    /// Whether the message has expired at `now_ms`.
    pub fn is_expired_at(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|e| e <= now_ms)
    }
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Envelope").field("json", &self.to_json()).finish()
    }
}
