//! Events on the wire: the publish request, the JSON record every event is rendered to
//! once (what subscribers, history queries, the history file and exports see), and
//! parsing such records back.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::bus::{check_name, parse_object, Channel, Envelope, Priority, PublishParts, RenderedParts};
use crate::error::Error;
use crate::id::MessageId;
use crate::json::{push_opt_str, push_str_literal};
use crate::sync::Arc;
use crate::time_fmt::{parse_iso_ms, push_ms};

/// The event channel used when a publisher names none.
pub const DEFAULT_EVENT_CHANNEL: &str = "Events";

const EVENT_EXPECTED: &str =
    r#"{"name":"ModuleInitialized","data":{"ModuleName":"LabRunner"},"sourceModule":"LabRunner","broadcast":false}"#;

/// What to publish as an event. Only the name is required.
///
/// ```
/// use module_communication::{EventRequest, Priority};
/// let req = EventRequest::new("ModuleInitialized")
///     .data_json(r#"{"ModuleName":"LabRunner","Version":"1.0.0"}"#).unwrap()
///     .source_module("LabRunner")
///     .priority(Priority::High)
///     .broadcast(true);
/// # let _ = req;
/// ```
#[derive(Debug, Clone)]
pub struct EventRequest {
    pub(crate) name: String,
    pub(crate) channel: Option<String>,
    pub(crate) data: Option<Box<RawValue>>,
    pub(crate) source_module: Option<String>,
    pub(crate) priority: Priority,
    pub(crate) correlation_id: Option<String>,
    pub(crate) type_hints: Option<Box<RawValue>>,
    pub(crate) broadcast: bool,
    pub(crate) authentication_token: Option<crate::security::TokenText>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireEvent<'a> {
    name: String,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    source_module: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    broadcast: bool,
    #[serde(default, borrow)]
    priority: Option<crate::bus::WirePriority<'a>>,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    type_hints: Option<Box<RawValue>>,
    #[serde(default)]
    authentication_token: Option<crate::security::TokenText>,
}

fn raw_json(what: &'static str, text: &str) -> Result<Box<RawValue>, Error> {
    serde_json::from_str::<Box<RawValue>>(text).map_err(|e| Error::InvalidJson {
        what,
        detail: crate::json::syntax_text(&e),
        expected: r#"any JSON value, e.g. {"ModuleName":"LabRunner"}"#,
    })
}

impl EventRequest {
    /// An event named `name` on the default channel (`Events`), without data, `Normal`
    /// priority, not broadcast.
    pub fn new(name: impl Into<String>) -> Self {
        EventRequest {
            name: name.into(),
            channel: None,
            data: None,
            source_module: None,
            priority: Priority::Normal,
            correlation_id: None,
            type_hints: None,
            broadcast: false,
            authentication_token: None,
        }
    }

    /// Parses the C ABI's event object: `{"name","data","sourceModule","channel",
    /// "broadcast","priority","correlationId","typeHints"}` (camelCase, unknown keys rejected).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let wire: WireEvent = parse_object(json, "event", EVENT_EXPECTED)?;
        Ok(EventRequest {
            name: wire.name,
            channel: wire.channel,
            data: wire.data,
            source_module: wire.source_module,
            priority: wire.priority.as_ref().map(crate::bus::WirePriority::get).transpose()?.unwrap_or_default(),
            correlation_id: wire.correlation_id,
            type_hints: wire.type_hints,
            broadcast: wire.broadcast,
            authentication_token: wire.authentication_token,
        })
    }

    /// Sets the data from JSON text (kept as given, without line breaks between tokens).
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

    /// Publishes on this event channel instead of `Events`.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
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

    /// Also delivers the event, as a message, to every message channel (see
    /// [`Hub::publish_event`](crate::Hub::publish_event)).
    pub fn broadcast(mut self, on: bool) -> Self {
        self.broadcast = on;
        self
    }

    /// Presents an authentication token for the security check; it is not stored with
    /// the event.
    pub fn authentication_token(mut self, token: impl Into<String>) -> Self {
        self.authentication_token = Some(crate::security::TokenText::new(token));
        self
    }

    /// The event channel's name.
    pub(crate) fn channel_name(&self) -> &str {
        self.channel.as_deref().unwrap_or(DEFAULT_EVENT_CHANNEL)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_name("event name", &self.name)?;
        if let Some(m) = &self.source_module {
            check_name("sourceModule", m)?;
        }
        Ok(())
    }

    /// The message a broadcast delivers to the message channel `channel`.
    pub(crate) fn to_message<'a>(&'a self, channel: &'a str) -> PublishParts<'a> {
        PublishParts {
            channel,
            message_type: &self.name,
            data: self.data.as_deref().map(RawValue::get),
            source_module: self.source_module.as_deref(),
            priority: self.priority,
            ttl_ms: None,
            correlation_id: self.correlation_id.as_deref(),
            type_hints: self.type_hints.as_deref().map(RawValue::get),
            authentication_token: None,
        }
    }
}

/// The content of one event, however it arrived (published, or read from a file).
pub(crate) struct EventParts<'a> {
    pub id: MessageId,
    pub name: &'a str,
    pub data: Option<&'a str>,
    pub source_module: Option<&'a str>,
    pub priority: Priority,
    pub timestamp_ms: i64,
    pub correlation_id: Option<&'a str>,
    pub type_hints: Option<&'a str>,
}

/// Renders an event as its record, the one JSON line every reader sees:
/// `{"id","name","channel","data","sourceModule","priority","timestamp","correlationId","typeHints"}`.
pub(crate) fn render(channel: Arc<Channel>, e: EventParts<'_>) -> Envelope {
    let data = e.data.map(single_line);
    let hints = e.type_hints.map(single_line);
    let mut json = String::with_capacity(
        200 + channel.name.len()
            + e.name.len()
            + data.as_deref().map_or(4, str::len)
            + hints.as_deref().map_or(4, str::len),
    );
    json.push_str("{\"id\":\"");
    json.push_str(&e.id.to_string());
    json.push_str("\",\"name\":");
    push_str_literal(&mut json, e.name);
    json.push_str(",\"channel\":");
    push_str_literal(&mut json, &channel.name);
    json.push_str(",\"data\":");
    let data_range = push_raw(&mut json, data.as_deref());
    json.push_str(",\"sourceModule\":");
    push_opt_str(&mut json, e.source_module);
    json.push_str(",\"priority\":\"");
    json.push_str(e.priority.as_str());
    json.push_str("\",\"timestamp\":\"");
    push_ms(&mut json, e.timestamp_ms);
    json.push_str("\",\"correlationId\":");
    push_opt_str(&mut json, e.correlation_id);
    json.push_str(",\"typeHints\":");
    let hints_range = push_raw(&mut json, hints.as_deref());
    json.push('}');
    Envelope::from_rendered(RenderedParts {
        id: e.id,
        channel,
        message_type: e.name,
        source_module: e.source_module,
        priority: e.priority,
        timestamp_ms: e.timestamp_ms,
        correlation_id: e.correlation_id,
        json,
        data: data_range,
        type_hints: hints_range,
    })
}

fn push_raw(json: &mut String, raw: Option<&str>) -> Option<std::ops::Range<usize>> {
    match raw {
        Some(text) => {
            let start = json.len();
            json.push_str(text);
            Some(start..json.len())
        }
        None => {
            json.push_str("null");
            None
        }
    }
}

/// The JSON text without line breaks between tokens, so that a record is one line. Text
/// inside strings cannot hold raw line breaks (JSON escapes them), so only whitespace
/// between tokens is touched, and every token — number spellings included — is kept.
pub(crate) fn single_line(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.contains(['\n', '\r']) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, '\n' | '\r') {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// An event record read from a file (the history file or an export).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoredEvent {
    pub id: String,
    pub name: String,
    pub channel: String,
    #[serde(default)]
    pub data: Option<Box<RawValue>>,
    #[serde(default)]
    pub source_module: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    pub timestamp: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub type_hints: Option<Box<RawValue>>,
}

/// A checked stored event: everything parsed, ready to render.
pub(crate) struct Loaded {
    pub id: MessageId,
    pub name: String,
    pub channel: String,
    pub data: Option<Box<RawValue>>,
    pub source_module: Option<String>,
    pub priority: Priority,
    pub timestamp_ms: i64,
    pub correlation_id: Option<String>,
    pub type_hints: Option<Box<RawValue>>,
}

impl Loaded {
    pub fn parts(&self) -> EventParts<'_> {
        EventParts {
            id: self.id,
            name: &self.name,
            data: self.data.as_deref().map(RawValue::get),
            source_module: self.source_module.as_deref(),
            priority: self.priority,
            timestamp_ms: self.timestamp_ms,
            correlation_id: self.correlation_id.as_deref(),
            type_hints: self.type_hints.as_deref().map(RawValue::get),
        }
    }
}

impl StoredEvent {
    /// Parses one JSON line.
    pub fn from_line(line: &str) -> Result<Loaded, String> {
        let stored: StoredEvent = serde_json::from_str(line).map_err(|e| {
            // The line number is the file's, given by the caller; the reason in plain words.
            let why = match crate::json::parse_error(line, &e, "event record", "") {
                Error::InvalidJson { detail, .. } => detail,
                other => other.to_string(),
            };
            format!("it is not a JSON event record ({why})")
        })?;
        stored.check()
    }

    /// Checks every field; the reason names the field.
    pub fn check(self) -> Result<Loaded, String> {
        let id = self.id.parse::<MessageId>().map_err(|_| format!("id '{}' is not a UUID", self.id))?;
        check_name("event name", &self.name).map_err(|e| e.to_string())?;
        crate::bus::check_channel_name("channel", &self.channel).map_err(|e| e.to_string())?;
        if let Some(m) = &self.source_module {
            check_name("sourceModule", m).map_err(|e| e.to_string())?;
        }
        let priority = match self.priority.as_deref() {
            None => Priority::Normal,
            Some(p) => p.parse().map_err(|e: Error| e.to_string())?,
        };
        let timestamp_ms = parse_iso_ms(&self.timestamp).ok_or_else(|| {
            format!("timestamp '{}' is not an ISO 8601 time such as 2026-11-27T06:00:00.000Z", self.timestamp)
        })?;
        Ok(Loaded {
            id,
            name: self.name,
            channel: self.channel,
            data: self.data,
            source_module: self.source_module,
            priority,
            timestamp_ms,
            correlation_id: self.correlation_id,
            type_hints: self.type_hints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_removes_line_breaks_between_tokens_only() {
        assert_eq!(single_line("{\"a\":1}"), "{\"a\":1}");
        assert_eq!(
            single_line("{\n  \"a\\n\\\"\\r\": 1.10,\r\n \"b\": [1,\n2]\n}"),
            "{  \"a\\n\\\"\\r\": 1.10, \"b\": [1,2]}"
        );
        let v: serde_json::Value = serde_json::from_str(&single_line("{\n\"x\": \"y\"\n}")).unwrap();
        assert_eq!(v["x"], "y");
    }
}
