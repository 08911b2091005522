//! Messages: priority, the publish request, and the immutable envelope that every
//! subscription queue shares.

use std::borrow::Cow;
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
use crate::wildcard::push_folded;

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

/// What the C ABI's `"priority"` takes: a name (any case), or the number of one of the
/// header's `MC_PRIORITY_*` constants.
pub(crate) enum WirePriority<'a> {
    Name(Cow<'a, str>),
    Number(f64),
}

const PRIORITY_USE: &str =
    "use Low, Normal, High or Critical, or the numbers 0 to 3 (MC_PRIORITY_LOW to MC_PRIORITY_CRITICAL)";

impl WirePriority<'_> {
    pub(crate) fn get(&self) -> Result<Priority, Error> {
        match self {
            WirePriority::Name(name) => name.parse().map_err(|_| Error::invalid("priority", name, PRIORITY_USE)),
            WirePriority::Number(n) => Priority::ALL
                .into_iter()
                .find(|p| *p as u8 as f64 == *n)
                .ok_or_else(|| Error::invalid("priority", n, PRIORITY_USE)),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for WirePriority<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = WirePriority<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("Low, Normal, High or Critical, or the numbers 0 to 3")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(WirePriority::Name(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(WirePriority::Name(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(WirePriority::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(WirePriority::Number(v as f64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(WirePriority::Number(v))
            }
        }
        d.deserialize_any(Visitor)
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
    if value.trim().is_empty() {
        return Err(Error::invalid(param, value, "the name is empty or only spaces; give a name"));
    }
    // The common case, checked without decoding: printable ASCII, short enough in bytes.
    if value.len() <= MAX_NAME_CHARS && value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Ok(());
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
    pub(crate) authentication_token: Option<crate::security::TokenText>,
}

/// A JSON string, borrowed from the input unless it has escapes. (A plain
/// `Option<Cow<str>>` field would always allocate: serde borrows only a direct `Cow`.)
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The C ABI's message object, borrowing from the JSON text: publishing it copies each
/// piece once, into the envelope.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireMessage<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    source_module: Option<Text<'a>>,
    #[serde(default, borrow)]
    priority: Option<WirePriority<'a>>,
    #[serde(default)]
    ttl_ms: Option<u64>,
    #[serde(default, borrow)]
    correlation_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    type_hints: Option<&'a RawValue>,
    #[serde(default, borrow)]
    authentication_token: Option<Text<'a>>,
}

impl<'a> WireMessage<'a> {
    fn parse(json: &'a str) -> Result<Self, Error> {
        parse_object(json, "message", MESSAGE_EXPECTED)
    }

    fn priority(&self) -> Result<Priority, Error> {
        self.priority.as_ref().map_or(Ok(Priority::Normal), WirePriority::get)
    }

    fn parts(&self) -> Result<PublishParts<'_>, Error> {
        Ok(PublishParts {
            channel: &self.channel,
            message_type: &self.message_type,
            data: self.data.map(RawValue::get),
            source_module: self.source_module.as_ref().map(|t| &*t.0),
            priority: self.priority()?,
            ttl_ms: self.ttl_ms,
            correlation_id: self.correlation_id.as_ref().map(|t| &*t.0),
            type_hints: self.type_hints.map(RawValue::get),
            authentication_token: self.authentication_token.as_ref().map(|t| &*t.0),
        })
    }
}

/// A message to publish, borrowed: from a [`PublishRequest`] or straight from the JSON.
pub(crate) struct PublishParts<'a> {
    pub channel: &'a str,
    pub message_type: &'a str,
    /// Valid JSON text.
    pub data: Option<&'a str>,
    pub source_module: Option<&'a str>,
    pub priority: Priority,
    pub ttl_ms: Option<u64>,
    pub correlation_id: Option<&'a str>,
    /// Valid JSON text.
    pub type_hints: Option<&'a str>,
    /// Only for the security check; never part of the message.
    pub authentication_token: Option<&'a str>,
}

impl PublishParts<'_> {
    pub(crate) fn validate(&self) -> Result<(), Error> {
        check_name("messageType", self.message_type)?;
        if let Some(m) = self.source_module {
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

/// Parses the C ABI's message JSON and hands the borrowed parts to `publish`.
pub(crate) fn with_json_parts<T>(
    json: &str,
    publish: impl FnOnce(&PublishParts<'_>) -> Result<T, Error>,
) -> Result<T, Error> {
    let wire = WireMessage::parse(json)?;
    publish(&wire.parts()?)
}

/// Parses a JSON object into `T`. Serde would also accept a JSON array for a struct
/// (fields by position); the C ABI promises objects, so anything else is refused.
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(
    json: &'a str,
    what: &'static str,
    expected: &'static str,
) -> Result<T, Error> {
    let invalid = |detail: String| Error::InvalidJson { what, detail, expected };
    match json.trim_start().chars().next() {
        Some('{') => serde_json::from_str(json).map_err(|e| crate::json::parse_error(json, &e, what, expected)),
        Some(_) => Err(invalid(match serde_json::from_str::<serde_json::Value>(json) {
            Ok(v) => format!("found {}, not an object", json_kind(&v)),
            Err(e) => crate::json::syntax_text(&e),
        })),
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
        detail: crate::json::syntax_text(&e),
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
            authentication_token: None,
        }
    }

    /// Parses the C ABI's message object (camelCase keys, unknown keys rejected).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let wire = WireMessage::parse(json)?;
        let priority = wire.priority()?;
        let owned = |t: Option<Text<'_>>| t.map(|t| t.0.into_owned());
        Ok(PublishRequest {
            channel: wire.channel.into_owned(),
            message_type: wire.message_type.into_owned(),
            data: wire.data.map(RawValue::to_owned),
            source_module: owned(wire.source_module),
            priority,
            ttl_ms: wire.ttl_ms,
            correlation_id: owned(wire.correlation_id),
            type_hints: wire.type_hints.map(RawValue::to_owned),
            authentication_token: wire.authentication_token.map(|t| crate::security::TokenText::new(t.0.into_owned())),
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

    /// Presents an authentication token for the security check (see
    /// [`crate::security`]); it is not stored with the message.
    pub fn authentication_token(mut self, token: impl Into<String>) -> Self {
        self.authentication_token = Some(crate::security::TokenText::new(token));
        self
    }

    /// The channel name as given.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub(crate) fn parts(&self) -> PublishParts<'_> {
        PublishParts {
            channel: &self.channel,
            message_type: &self.message_type,
            data: self.data.as_deref().map(RawValue::get),
            source_module: self.source_module.as_deref(),
            priority: self.priority,
            ttl_ms: self.ttl_ms,
            correlation_id: self.correlation_id.as_deref(),
            type_hints: self.type_hints.as_deref().map(RawValue::get),
            authentication_token: self.authentication_token.as_ref().map(crate::security::TokenText::expose),
        }
    }
}

/// A published message as subscribers see it. Immutable and shared by every queue it
/// entered; its JSON text is rendered once, at publish.
pub struct Envelope {
    id: MessageId,
    pub(crate) channel: Arc<Channel>,
    priority: Priority,
    timestamp_ms: i64,
    /// When it was published, in ns since the Unix epoch (the timestamp at full
    /// precision): delivery latencies are measured from it.
    pub(crate) published_ns: i64,
    expires_at_ms: Option<i64>,
    /// The delivered JSON and one NUL byte (so C callers may treat it as a C string), then
    /// the unescaped texts the accessors return: one allocation holds the whole message.
    text: String,
    /// Length of the JSON (the NUL follows it).
    json_len: usize,
    data: Option<Range<usize>>,
    type_hints: Option<Range<usize>>,
    message_type: Range<usize>,
    /// The folded message type, what subscriptions match against.
    message_type_key: Range<usize>,
    source_module: Option<Range<usize>>,
    source_module_key: Option<Range<usize>>,
    correlation_id: Option<Range<usize>>,
    /// Number of subscription queues that still have to complete this message.
    pub(crate) pending: AtomicUsize,
    /// Whether delivery tracking counts this envelope (false for replayed history).
    pub(crate) tracked: bool,
}

/// The pieces of an envelope whose JSON was rendered by its producer (events render their
/// own shape; see [`Envelope::from_rendered`]).
pub(crate) struct RenderedParts<'a> {
    pub id: MessageId,
    pub channel: Arc<Channel>,
    pub message_type: &'a str,
    pub source_module: Option<&'a str>,
    pub priority: Priority,
    pub timestamp_ms: i64,
    pub correlation_id: Option<&'a str>,
    /// The JSON object, without a NUL.
    pub json: String,
    pub data: Option<Range<usize>>,
    pub type_hints: Option<Range<usize>>,
}

/// Appends `s` to `text`; returns where it went.
fn push_range(text: &mut String, s: &str) -> Range<usize> {
    let start = text.len();
    text.push_str(s);
    start..text.len()
}

/// What an envelope's text needs when no name needs escaping: the JSON's fixed part (at
/// most 226 bytes: keys, punctuation, id, priority, timestamps), the quoted texts, the
/// NUL, and the unescaped names and keys after it. Only escapes grow the text.
fn text_capacity(channel: &str, req: &PublishParts<'_>) -> usize {
    const FIXED: usize = 226;
    let quoted = |s: Option<&str>| s.map_or(4, |s| s.len() + 2);
    let json = FIXED
        + quoted(Some(channel))
        + quoted(Some(req.message_type))
        + req.data.map_or(4, str::len)
        + quoted(req.source_module)
        + quoted(req.correlation_id)
        + req.type_hints.map_or(4, str::len);
    let opt_len = |s: Option<&str>| s.map_or(0, str::len);
    json + 1 + 2 * (req.message_type.len() + opt_len(req.source_module)) + opt_len(req.correlation_id)
}

impl Envelope {
    pub(crate) fn build(id: MessageId, channel: Arc<Channel>, req: &PublishParts<'_>, timestamp_ms: i64) -> Envelope {
        let expires_at_ms = req.ttl_ms.map(|t| timestamp_ms.saturating_add(t as i64));
        let mut text = String::with_capacity(text_capacity(&channel.name, req));
        text.push_str("{\"id\":\"");
        text.push_str(id.as_uuid().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()));
        text.push_str("\",\"channel\":");
        push_str_literal(&mut text, &channel.name);
        text.push_str(",\"messageType\":");
        push_str_literal(&mut text, req.message_type);
        text.push_str(",\"data\":");
        let data = match req.data {
            Some(d) => Some(push_range(&mut text, d)),
            None => {
                text.push_str("null");
                None
            }
        };
        text.push_str(",\"sourceModule\":");
        push_opt_str(&mut text, req.source_module);
        text.push_str(",\"priority\":\"");
        text.push_str(req.priority.as_str());
        text.push_str("\",\"timestamp\":\"");
        push_ms(&mut text, timestamp_ms);
        text.push_str("\",\"expiresAt\":");
        match expires_at_ms {
            Some(e) => {
                text.push('"');
                push_ms(&mut text, e);
                text.push('"');
            }
            None => text.push_str("null"),
        }
        text.push_str(",\"correlationId\":");
        push_opt_str(&mut text, req.correlation_id);
        text.push_str(",\"typeHints\":");
        let type_hints = match req.type_hints {
            Some(h) => Some(push_range(&mut text, h)),
            None => {
                text.push_str("null");
                None
            }
        };
        text.push('}');
        Envelope::with_tail(
            RenderedParts {
                id,
                channel,
                message_type: req.message_type,
                source_module: req.source_module,
                priority: req.priority,
                timestamp_ms,
                correlation_id: req.correlation_id,
                json: text,
                data,
                type_hints,
            },
            expires_at_ms,
        )
    }

    /// An envelope whose JSON was rendered elsewhere (events render their own shape).
    pub(crate) fn from_rendered(parts: RenderedParts<'_>) -> Envelope {
        Envelope::with_tail(parts, None)
    }

    /// Appends the NUL and the unescaped texts the accessors return to the JSON.
    fn with_tail(p: RenderedParts<'_>, expires_at_ms: Option<i64>) -> Envelope {
        let mut text = p.json;
        let json_len = text.len();
        text.push('\0');
        let message_type = push_range(&mut text, p.message_type);
        let message_type_key = push_folded(&mut text, p.message_type).unwrap_or_else(|| message_type.clone());
        let source_module = p.source_module.map(|m| push_range(&mut text, m));
        let source_module_key = match (p.source_module, &source_module) {
            (Some(m), Some(at)) => Some(push_folded(&mut text, m).unwrap_or_else(|| at.clone())),
            _ => None,
        };
        let correlation_id = p.correlation_id.map(|c| push_range(&mut text, c));
        Envelope {
            id: p.id,
            channel: p.channel,
            priority: p.priority,
            timestamp_ms: p.timestamp_ms,
            published_ns: p.timestamp_ms.saturating_mul(1_000_000),
            expires_at_ms,
            text,
            json_len,
            data: p.data,
            type_hints: p.type_hints,
            message_type,
            message_type_key,
            source_module,
            source_module_key,
            correlation_id,
            pending: AtomicUsize::new(0),
            tracked: true,
        }
    }

    /// A copy for replaying history to a new subscription: same id and content, not
    /// counted by delivery tracking (the original may be long delivered, or still in flight).
    pub(crate) fn replay_copy(&self) -> Envelope {
        Envelope {
            id: self.id,
            channel: Arc::clone(&self.channel),
            priority: self.priority,
            timestamp_ms: self.timestamp_ms,
            published_ns: self.published_ns,
            expires_at_ms: self.expires_at_ms,
            text: self.text.clone(),
            json_len: self.json_len,
            data: self.data.clone(),
            type_hints: self.type_hints.clone(),
            message_type: self.message_type.clone(),
            message_type_key: self.message_type_key.clone(),
            source_module: self.source_module.clone(),
            source_module_key: self.source_module_key.clone(),
            correlation_id: self.correlation_id.clone(),
            pending: AtomicUsize::new(0),
            tracked: false,
        }
    }

    /// Sets the full-precision publish time (ns); `timestamp_ms` must be its ms part.
    pub(crate) fn published_at_ns(mut self, ns: i64) -> Envelope {
        self.published_ns = ns;
        self
    }

    /// The folded message type (what message type patterns match against).
    pub(crate) fn message_type_key(&self) -> &str {
        &self.text[self.message_type_key.clone()]
    }

    /// The folded source module, if any.
    pub(crate) fn source_module_key(&self) -> Option<&str> {
        self.source_module_key.clone().map(|r| &self.text[r])
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
        &self.text[self.message_type.clone()]
    }

    /// The data as JSON text, exactly as published (`None` when there was none).
    pub fn data_json(&self) -> Option<&str> {
        self.data.clone().map(|r| &self.text[r])
    }

    /// The publishing module's name, if given.
    pub fn source_module(&self) -> Option<&str> {
        self.source_module.clone().map(|r| &self.text[r])
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
        self.correlation_id.clone().map(|r| &self.text[r])
    }

    /// The type hints as JSON text, if given.
    pub fn type_hints_json(&self) -> Option<&str> {
        self.type_hints.clone().map(|r| &self.text[r])
    }

    /// The delivered JSON object (see `docs/c-abi.md`, "Messages as JSON").
    pub fn to_json(&self) -> &str {
        &self.text[..self.json_len]
    }

    /// The delivered JSON followed by a NUL byte; the length excludes the NUL.
    pub(crate) fn json_nul_terminated(&self) -> (&[u8], usize) {
        (&self.text.as_bytes()[..=self.json_len], self.json_len)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(name: &str) -> Arc<Channel> {
        Arc::new(Channel {
            kind: crate::bus::ChannelKind::Message,
            name: name.to_owned(),
            key: crate::wildcard::fold(name),
            description: None,
            max_messages: 0,
            created_at_ms: 0,
            counters: Default::default(),
            private: false,
        })
    }

    #[test]
    fn envelope_keeps_every_piece_in_one_text_and_renders_the_documented_json() {
        let json = r#"{"channel":"Cfg","messageType":"Größe\"Changed","data":{"a":[1,2]},"sourceModule":"Core\\Mod",
            "priority":"high","ttlMs":10,"correlationId":"c\u00e9","typeHints":{"a":"long"}}"#;
        let wire = WireMessage::parse(json).unwrap();
        let parts = wire.parts().unwrap();
        let id = MessageId::new_v4();
        let env = Envelope::build(id, channel("Cfg"), &parts, 1_795_759_200_000);
        assert_eq!(env.message_type(), "Größe\"Changed");
        assert_eq!(env.message_type_key(), "größe\"changed");
        assert_eq!(env.source_module(), Some("Core\\Mod"));
        assert_eq!(env.source_module_key(), Some("core\\mod"));
        assert_eq!(env.correlation_id(), Some("cé"));
        assert_eq!(env.data_json(), Some(r#"{"a":[1,2]}"#));
        assert_eq!(env.type_hints_json(), Some(r#"{"a":"long"}"#));
        assert_eq!(env.priority(), Priority::High);
        assert_eq!(env.expires_at_ms(), Some(1_795_759_200_010));
        let (bytes, len) = env.json_nul_terminated();
        assert_eq!((bytes.len(), bytes[len]), (len + 1, 0));
        assert_eq!(&bytes[..len], env.to_json().as_bytes());
        let v: serde_json::Value = serde_json::from_str(env.to_json()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": id.to_string(), "channel": "Cfg", "messageType": "Größe\"Changed",
                "data": {"a": [1, 2]}, "sourceModule": "Core\\Mod", "priority": "High",
                "timestamp": "2026-11-27T06:00:00.000Z", "expiresAt": "2026-11-27T06:00:00.010Z",
                "correlationId": "cé", "typeHints": {"a": "long"}})
        );

        // The text was allocated once, at its final size or just above.
        let longest = PublishRequest::new("Cfg", "Changed")
            .data_json("[1]")
            .unwrap()
            .source_module("Mod")
            .correlation_id("c")
            .type_hints_json("{}")
            .unwrap()
            .ttl_ms(1_000);
        for req in [longest.clone(), PublishRequest::new("x", "y"), longest.clone().priority(Priority::Critical)] {
            let env = Envelope::build(id, channel("Cfg"), &req.parts(), 253_402_300_799_000);
            let want = text_capacity("Cfg", &req.parts());
            // Slack only for a shorter priority name and a null expiresAt.
            assert!(env.text.len() <= want && want <= env.text.len() + 5 + 22, "{} vs {want}", env.text.len());
        }

        // Already-folded names are not stored twice; absent ones are null.
        let plain = PublishRequest::new("cfg", "changed");
        let env = Envelope::build(id, channel("Cfg"), &plain.parts(), 0);
        assert_eq!((env.message_type(), env.message_type_key()), ("changed", "changed"));
        assert_eq!((env.source_module(), env.source_module_key(), env.correlation_id()), (None, None, None));
        assert!(env.to_json().ends_with(r#""expiresAt":null,"correlationId":null,"typeHints":null}"#), "{env:?}");
    }
}
