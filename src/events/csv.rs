//! The CSV form of exported events (RFC 4180: comma-separated, fields quoted when they
//! hold a comma, quote or line break, quotes doubled). One header row, then one row per
//! event. `Data` and `TypeHints` hold JSON text, so an import restores the data exactly.

use serde_json::value::RawValue;

use super::record::{Loaded, StoredEvent};
use crate::error::Error;

/// The columns, in order.
pub(crate) const HEADER: [&str; 9] =
    ["Id", "Name", "Channel", "SourceModule", "Priority", "Timestamp", "CorrelationId", "Data", "TypeHints"];

/// Appends `field` to `out`, quoted when needed.
pub(crate) fn push_field(out: &mut String, field: &str) {
    if field.contains([',', '"', '\n', '\r']) || field.starts_with(' ') || field.ends_with(' ') {
        out.push('"');
        out.push_str(&field.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(field);
    }
}

/// One CSV row (with its line break) for an event record (its JSON object).
pub(crate) fn row(record_json: &str) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Record<'a> {
        id: String,
        name: String,
        channel: String,
        source_module: Option<String>,
        priority: String,
        timestamp: String,
        correlation_id: Option<String>,
        #[serde(borrow)]
        data: Option<&'a RawValue>,
        #[serde(borrow)]
        type_hints: Option<&'a RawValue>,
    }
    let r: Record<'_> = serde_json::from_str(record_json).expect("records are rendered as valid JSON");
    // Data keeps its exact spelling (numbers such as 1.10 stay as written).
    let fields = [
        r.id.as_str(),
        &r.name,
        &r.channel,
        r.source_module.as_deref().unwrap_or(""),
        &r.priority,
        &r.timestamp,
        r.correlation_id.as_deref().unwrap_or(""),
        r.data.map_or("null", RawValue::get),
        r.type_hints.map_or("", RawValue::get),
    ];
    let mut out = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_field(&mut out, f);
    }
    out.push_str("\r\n");
    out
}

/// The header row.
pub(crate) fn header() -> String {
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    out
}

/// Splits CSV text into records of fields. A record whose quoted field never closes is
/// reported as `Err(record_number)` for the last record only (a torn end).
fn records(text: &str) -> (Vec<(usize, Vec<String>)>, Option<usize>) {
    let mut out = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut record_no = 1usize;
    let mut at_record_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    field.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                at_record_start = false;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                at_record_start = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if !(at_record_start && field.is_empty()) {
                    fields.push(std::mem::take(&mut field));
                    out.push((record_no, std::mem::take(&mut fields)));
                }
                record_no += 1;
                at_record_start = true;
            }
            other => {
                field.push(other);
                at_record_start = false;
            }
        }
    }
    if in_quotes {
        return (out, Some(record_no));
    }
    if !at_record_start {
        fields.push(field);
        out.push((record_no, fields));
    }
    (out, None)
}

/// Reads exported CSV. A torn last record (an unclosed quote at the end, or a last row
/// with too few fields) is skipped with a warning; any other bad row is corruption.
pub(crate) fn parse(path: &str, text: &str) -> Result<(Vec<Loaded>, Vec<String>), Error> {
    let corrupt = |line: usize, detail: String| Error::CorruptFile { path: path.to_owned(), line, detail };
    let (rows, torn) = records(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut warnings = Vec::new();
    let mut iter = rows.into_iter().peekable();
    let Some((_, header)) = iter.next() else {
        return Err(corrupt(1, "the file is empty; expected the header row ".to_owned() + &HEADER.join(",")));
    };
    if header.len() != HEADER.len() || header.iter().zip(HEADER).any(|(h, want)| !h.trim().eq_ignore_ascii_case(want)) {
        return Err(corrupt(1, format!("the header row is '{}'; expected '{}'", header.join(","), HEADER.join(","))));
    }
    let mut out = Vec::new();
    while let Some((no, fields)) = iter.next() {
        let last = iter.peek().is_none() && torn.is_none();
        if fields.len() != HEADER.len() {
            if last && fields.len() < HEADER.len() {
                warnings.push(format!(
                    "skipped a torn last record in '{path}' (record {no}: {} of {} fields)",
                    fields.len(),
                    HEADER.len()
                ));
                break;
            }
            return Err(corrupt(no, format!("the record has {} fields; expected {}", fields.len(), HEADER.len())));
        }
        let opt = |s: &String| if s.is_empty() { None } else { Some(s.clone()) };
        let raw = |s: &String, what: &str| -> Result<Option<Box<RawValue>>, Error> {
            if s.is_empty() {
                return Ok(None);
            }
            serde_json::from_str::<Box<RawValue>>(s)
                .map(Some)
                .map_err(|e| corrupt(no, format!("{what} is not JSON: {e}")))
        };
        let stored = StoredEvent {
            id: fields[0].clone(),
            name: fields[1].clone(),
            channel: fields[2].clone(),
            source_module: opt(&fields[3]),
            priority: opt(&fields[4]),
            timestamp: fields[5].clone(),
            correlation_id: opt(&fields[6]),
            data: raw(&fields[7], "Data")?.filter(|r| r.get() != "null"),
            type_hints: raw(&fields[8], "TypeHints")?.filter(|r| r.get() != "null"),
        };
        out.push(stored.check().map_err(|d| corrupt(no, d))?);
    }
    if let Some(no) = torn {
        warnings.push(format!("skipped a torn last record in '{path}' (record {no}: a quoted field never closes)"));
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed_and_read_back() {
        let mut line = String::new();
        for (i, f) in ["plain", "a,b", "say \"hi\"", "two\nlines", ""].iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_field(&mut line, f);
        }
        assert_eq!(line, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\",");
        let (rows, torn) = records(&(line + "\r\nx,y\r\n"));
        assert_eq!(torn, None);
        assert_eq!(rows[0].1, ["plain", "a,b", "say \"hi\"", "two\nlines", ""]);
        assert_eq!(rows[1], (2, vec!["x".to_owned(), "y".to_owned()]));
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_a_torn_record() {
        let (rows, torn) = records("a,b\r\n\"c,d");
        assert_eq!(rows.len(), 1);
        assert_eq!(torn, Some(2));
    }
}
