//! Trace records as the emitting thread hands them over — a small struct, no text — and
//! their JSON-line form, written by the trace writer thread (or a reader that catches up).
//!
//! Keeping the formatting off the emitting thread is what makes Verbose tracing affordable
//! on the bus's hot path: a publish or delivery record costs a copy of a few short texts and
//! a move into the pending buffer there, and the ids, timestamp, redaction and escaping are
//! done by the writer.

use std::fmt::Write;

use serde_json::Value;

use crate::bus::{Envelope, Priority};
use crate::id::{MessageId, SubscriptionId};
use crate::json::push_str_literal;
use crate::metrics::redact;
use crate::time_fmt::push_ms;

/// What a record says about its message, copied from the envelope when the record is made:
/// the id, timestamp and priority here, the four texts (channel, message type, correlation
/// id, source module) appended to the pending buffer's text arena ([`Texts`]).
///
/// The writer thread formats from these copies and never reads the envelope: emitting
/// threads write the envelope's reference count and free it, and a writer reading those
/// cache lines on the other core turned each such write into a cross-core miss. Records
/// are kept small for the same reason: the writer reads every byte of them.
pub(crate) struct MessageFacts {
    id: MessageId,
    timestamp_ms: i64,
    priority: Priority,
    has_correlation_id: bool,
    has_source_module: bool,
    /// Where the texts start in the arena, and where each of the four ends.
    start: u32,
    ends: [u32; 4],
}

/// The texts of a batch of records, back to back; records refer to them by offset.
pub(crate) type Texts = String;

impl MessageFacts {
    /// Copies what a record needs of `env`, its texts into `texts`.
    pub fn of(env: &Envelope, texts: &mut Texts) -> MessageFacts {
        let (correlation_id, source_module) = (env.correlation_id(), env.source_module());
        let start = texts.len() as u32;
        let mut ends = [0u32; 4];
        let parts = [env.channel(), env.message_type(), correlation_id.unwrap_or_default(), source_module.unwrap_or_default()];
        for (end, text) in ends.iter_mut().zip(parts) {
            texts.push_str(text);
            *end = texts.len() as u32;
        }
        MessageFacts {
            id: env.id(),
            timestamp_ms: env.timestamp_ms(),
            priority: env.priority(),
            has_correlation_id: correlation_id.is_some(),
            has_source_module: source_module.is_some(),
            start,
            ends,
        }
    }

    /// Text `i` of the four, from the arena the record was made with.
    fn text<'t>(&self, texts: &'t Texts, i: usize) -> &'t str {
        let start = if i == 0 { self.start } else { self.ends[i - 1] };
        texts.get(start as usize..self.ends[i] as usize).unwrap_or_default()
    }
}

/// One trace record, not yet formatted.
pub(crate) enum Record {
    /// A message was routed (Basic).
    Publish {
        msg: MessageFacts,
        /// The API call the publish happened in, if any.
        request_id: Option<Box<str>>,
        matched: u32,
        rejected: u32,
    },
    /// A delivery's outcome: `deliver` (Verbose), or `deliveryError` (Basic) when it failed;
    /// with `slow`, the `slow` record of the delivery (Basic) instead.
    Delivery {
        at_ms: i64,
        msg: MessageFacts,
        subscription: SubscriptionId,
        outcome: super::DeliveryOutcome,
        ns: Option<u64>,
        error: Option<Box<str>>,
        slow: bool,
    },
    /// Any other record (API calls and stages): fields as given, already redacted.
    Fields { at_ms: i64, min_level: u8, event: &'static str, fields: Vec<(&'static str, Value)> },
}

/// Text made for earlier records of a drain, reused: records come in runs made in the
/// same millisecond — two runs at a time, publishes and the deliveries that trail them —
/// a subscription's deliveries follow one another, and a channel's messages usually have
/// a handful of message types.
#[derive(Default)]
pub(crate) struct Recent {
    stamps: [(i64, String); 2],
    /// The stamp slot replaced next.
    next: usize,
    subscription: Option<(SubscriptionId, [u8; 36])>,
    channel: Memo,
    message_type: Memo,
}

/// The JSON string literal last made from a text.
#[derive(Default)]
struct Memo {
    text: String,
    json: String,
}

impl Memo {
    /// Appends the literal of `text`, made by `make` unless it is the last one's.
    fn push(&mut self, out: &mut String, text: &str, make: fn(&mut String, &str)) {
        if self.json.is_empty() || self.text != text {
            self.text.clear();
            self.text.push_str(text);
            self.json.clear();
            make(&mut self.json, text);
        }
        out.push_str(&self.json);
    }
}

impl Recent {
    fn push_stamp(&mut self, out: &mut String, ms: i64) {
        let slot = match self.stamps.iter().position(|(m, text)| *m == ms && !text.is_empty()) {
            Some(i) => i,
            None => {
                let i = self.next;
                self.next = 1 - i;
                let (m, text) = &mut self.stamps[i];
                *m = ms;
                text.clear();
                push_ms(text, ms);
                i
            }
        };
        out.push_str(&self.stamps[slot].1);
    }

    fn channel_field(&mut self, out: &mut String, channel: &str) {
        out.push_str(",\"channel\":");
        self.channel.push(out, channel, push_str_literal);
    }

    /// The message type, redacted like any free text.
    fn message_type_field(&mut self, out: &mut String, message_type: &str) {
        out.push_str(",\"messageType\":");
        self.message_type.push(out, message_type, |json, text| push_str_literal(json, &redact(text)));
    }

    fn subscription_text(&mut self, id: SubscriptionId) -> [u8; 36] {
        match self.subscription {
            Some((last, text)) if last == id => text,
            _ => {
                let text = hyphenated(id.as_uuid());
                self.subscription = Some((id, text));
                text
            }
        }
    }
}

impl Record {
    /// Appends the record as one JSON object (no newline): `{"timestamp","level","event",…}`,
    /// fields in a fixed order, absent ones left out. `texts` is the arena it was made with.
    pub fn write_json(&self, texts: &Texts, out: &mut String, recent: &mut Recent) {
        match self {
            Record::Publish { msg, request_id, matched, rejected } => {
                head(out, recent, msg.timestamp_ms, 1, "publish");
                message_fields(out, recent, texts, msg, request_id.as_deref());
                opt_text_field(out, "sourceModule", msg.has_source_module.then(|| msg.text(texts, 3)));
                name_field(out, "priority", msg.priority.as_str());
                out.push_str(",\"subscribers\":");
                push_u64(out, u64::from(*matched));
                out.push_str(",\"rejected\":");
                push_u64(out, u64::from(*rejected));
            }
            Record::Delivery { at_ms, msg, subscription, outcome, ns, error, slow } => {
                let (min_level, event) = if *slow { (1, "slow") } else { outcome.record() };
                head(out, recent, *at_ms, min_level, event);
                message_fields(out, recent, texts, msg, None);
                id_field(out, "subscriptionId", &recent.subscription_text(*subscription));
                name_field(out, "outcome", outcome.as_str());
                if let Some(n) = ns {
                    out.push_str(",\"durationMs\":");
                    push_duration_ms(out, *n);
                }
                opt_text_field(out, "error", error.as_deref());
                if *slow {
                    name_field(out, "operation", "delivery");
                }
            }
            Record::Fields { at_ms, min_level, event, fields } => {
                head(out, recent, *at_ms, *min_level, event);
                for (k, v) in fields {
                    match v {
                        Value::Null => {}
                        Value::String(s) => str_field(out, k, s),
                        other => {
                            let _ = write!(out, ",\"{k}\":{other}");
                        }
                    }
                }
            }
        }
        out.push('}');
    }
}

/// The message's id, correlation id, the API call's request id if any, channel and type.
fn message_fields(out: &mut String, recent: &mut Recent, texts: &Texts, msg: &MessageFacts, request_id: Option<&str>) {
    id_field(out, "messageId", &hyphenated(msg.id.as_uuid()));
    opt_text_field(out, "correlationId", msg.has_correlation_id.then(|| msg.text(texts, 2)));
    if let Some(r) = request_id {
        str_field(out, "requestId", r);
    }
    recent.channel_field(out, msg.text(texts, 0));
    recent.message_type_field(out, msg.text(texts, 1));
}

fn head(out: &mut String, recent: &mut Recent, at_ms: i64, min_level: u8, event: &'static str) {
    out.push_str("{\"timestamp\":\"");
    recent.push_stamp(out, at_ms);
    out.push_str(if min_level >= 2 { "\",\"level\":\"Verbose\",\"event\":\"" } else { "\",\"level\":\"Basic\",\"event\":\"" });
    out.push_str(event);
    out.push('"');
}

/// A field whose value is a name from this crate (event, outcome, priority): plain ASCII
/// that needs no escaping.
fn name_field(out: &mut String, key: &str, value: &'static str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":\"");
    out.push_str(value);
    out.push('"');
}

fn str_field(out: &mut String, key: &str, value: &str) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":");
    push_str_literal(out, value);
}

/// A free text that could hold a secret: redacted.
fn text_field(out: &mut String, key: &str, value: &str) {
    str_field(out, key, &redact(value));
}

fn opt_text_field(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        text_field(out, key, v);
    }
}

/// An id in its lowercase hyphenated form, 8-4-4-4-12.
fn hyphenated(id: &uuid::Uuid) -> [u8; 36] {
    let mut text = [0u8; 36];
    id.hyphenated().encode_lower(&mut text);
    text
}

fn id_field(out: &mut String, key: &str, text: &[u8; 36]) {
    out.push_str(",\"");
    out.push_str(key);
    out.push_str("\":\"");
    out.push_str(std::str::from_utf8(text).expect("ASCII hex digits"));
    out.push('"');
}

fn push_u64(out: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&buf[i..]).expect("ASCII digits"));
}

/// `ns` in milliseconds, exactly as serde_json writes `ns as f64 / 1e6` (ryu's shortest
/// form), from the integer's digits: below 10^15 ns the quotient has at most 15
/// significant digits, so its shortest form is those digits. Half as costly as ryu.
fn push_duration_ms(out: &mut String, ns: u64) {
    if ns == 0 {
        out.push_str("0.0");
        return;
    }
    if ns >= 1_000_000_000_000_000 {
        push_f64(out, ns as f64 / 1e6);
        return;
    }
    // ns = digits × 10^zeros; the value is digits × 10^(zeros - 6).
    let (mut digits, mut zeros) = (ns, 0i32);
    while digits % 10 == 0 {
        digits /= 10;
        zeros += 1;
    }
    let mut d = [0u8; 20];
    let mut i = d.len();
    while digits > 0 {
        i -= 1;
        d[i] = b'0' + (digits % 10) as u8;
        digits /= 10;
    }
    let text = std::str::from_utf8(&d[i..]).expect("ASCII digits");
    let exponent = zeros - 6;
    // Where the decimal point goes, counted from the first digit (ryu's `kk`).
    let point = text.len() as i32 + exponent;
    if exponent >= 0 {
        // Whole milliseconds: 12000000 ns -> "12.0".
        out.push_str(text);
        out.extend(std::iter::repeat('0').take(exponent as usize));
        out.push_str(".0");
    } else if point > 0 {
        out.push_str(&text[..point as usize]);
        out.push('.');
        out.push_str(&text[point as usize..]);
    } else if point > -5 {
        out.push_str("0.");
        out.extend(std::iter::repeat('0').take((-point) as usize));
        out.push_str(text);
    } else {
        // One digit, 1 to 9 ns: "5e-6".
        out.push_str(text);
        out.push('e');
        push_u64_signed(out, i64::from(point - 1));
    }
}

fn push_u64_signed(out: &mut String, n: i64) {
    if n < 0 {
        out.push('-');
    }
    push_u64(out, n.unsigned_abs());
}

/// A finite number as serde_json writes it (shortest round-trip form), without going
/// through `fmt`.
fn push_f64(out: &mut String, x: f64) {
    let mut buf = [0u8; 32];
    let mut w = &mut buf[..];
    match serde_json::to_writer(&mut w, &x) {
        Ok(()) => {
            let n = 32 - w.len();
            out.push_str(std::str::from_utf8(&buf[..n]).expect("serde_json writes ASCII numbers"));
        }
        // Not reached (at most 24 bytes); keep the value rather than a broken line.
        Err(_) => {
            let _ = write!(out, "{}", Value::from(x));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    #[test]
    fn redaction_keeps_texts_without_markers_and_hides_values_after_them() {
        assert!(matches!(redact("OrderCreated"), Cow::Borrowed("OrderCreated")));
        assert_eq!(redact("x token=abc y"), "x token=*** y");
        assert_eq!(redact("Bearer abc"), "Bearer ***");
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for x in [0.0, 1.0, 0.001235, 1e-6, 0.000012, 123456.789, 1e17] {
            let mut out = String::new();
            push_f64(&mut out, x);
            assert_eq!(out, Value::from(x).to_string());
        }
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn ids_and_timestamps_are_written_as_their_display_forms() {
        let id = uuid::Uuid::new_v4();
        assert_eq!(std::str::from_utf8(&hyphenated(&id)).unwrap(), id.hyphenated().to_string());
        let mut recent = Recent::default();
        for ms in [0, 1_000, 0, 1_000, 2_000, 0, 2_000] {
            let mut out = String::new();
            recent.push_stamp(&mut out, ms);
            assert_eq!(out, crate::time_fmt::format_ms(ms));
        }
    }

    #[test]
    fn durations_are_written_as_serde_json_writes_the_quotient() {
        let check = |ns: u64| {
            let mut out = String::new();
            push_duration_ms(&mut out, ns);
            assert_eq!(out, Value::from(ns as f64 / 1e6).to_string(), "{ns} ns");
        };
        (0..3_000_000).for_each(check);
        // Every digit count and trailing-zero count, and a spread of large values.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..300_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = 1 + (x % 19) as u32;
            let zeros = ((x >> 8) % 12) as u32;
            check(((x >> 16) % 10u64.pow(digits)).saturating_mul(10u64.pow(zeros)));
        }
        check(u64::MAX);
    }
}
