//! Small JSON writing helpers for text rendered on hot paths (the delivered message), and
//! the plain-words explanation of JSON a caller gave that could not be read.

use crate::error::Error;

/// Appends `s` as a JSON string literal (quoted and escaped) to `out`.
pub(crate) fn push_str_literal(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match escape {
            Some(e) => out.push_str(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends `Some(s)` as a string literal, `None` as `null`.
pub(crate) fn push_opt_str(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => push_str_literal(out, s),
        None => out.push_str("null"),
    }
}

/// The error for the JSON text `json` (about `what`, shaped like `expected`) that serde_json
/// refused with `e`, in plain words: no Rust type names (`u64`, `usize`, `struct X`), no
/// backticks. Text that is not JSON, is cut short, lacks a required key or names one twice is
/// `InvalidJson`; a bad value of one key (the wrong type, out of range, an unknown name) or an
/// unknown key is `InvalidArgument` naming the key.
pub(crate) fn parse_error(json: &str, e: &serde_json::Error, what: &'static str, expected: &'static str) -> Error {
    let invalid_json = |detail: String| Error::InvalidJson { what, detail, expected };
    if !e.is_data() {
        return invalid_json(syntax_text(e));
    }
    let text = serde_message(e);
    let frames = frames_at(json, e.line(), e.column());
    // The key whose value is wrong; and the object around (the innermost one: an unknown or
    // duplicate key is the one being read, a missing key's object has just closed).
    let key = key_path(&frames);
    let outer = key_path(&frames[..frames.len().saturating_sub(1)]);
    let key_name = || key.clone().unwrap_or_else(|| what.to_owned());
    let in_outer = |detail: String| match &outer {
        Some(k) => format!("{detail} (in {k})"),
        None => detail,
    };
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let (field, known) = split_expected(rest);
        // serde lists two keys as "`a` or `b`": all of them are keys.
        let known = if known.is_empty() { "none".to_owned() } else { known.replace(" or ", " and ") };
        let name = match &outer {
            Some(outer) => format!("{what} key (in {outer})"),
            None => format!("{what} key"),
        };
        return Error::invalid(name, field, format!("unknown key; the keys are {known}"));
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        let (value, known) = split_expected(rest);
        return Error::invalid(key_name(), value, format!("use {known}"));
    }
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (found, wanted) = rest.split_once(", expected ").unwrap_or((rest, "another value"));
            if key.is_none() {
                // The whole text is of the wrong kind: the wrong shape.
                return invalid_json(format!("found {}; expected {}", found_kind(found), plain_expected(wanted)));
            }
            return Error::invalid(key_name(), found_value(found), format!("use {}", plain_expected(wanted)));
        }
    }
    if let Some(rest) = text.strip_prefix("missing field ") {
        return invalid_json(in_outer(format!("the key '{}' is missing", unquote(rest))));
    }
    if let Some(rest) = text.strip_prefix("duplicate field ") {
        return invalid_json(in_outer(format!("the key '{}' is given twice", unquote(rest))));
    }
    invalid_json(text.replace('`', "'"))
}

/// Why JSON text did not parse, in plain words, with where: "the text is not valid JSON at
/// column 2".
pub(crate) fn syntax_text(e: &serde_json::Error) -> String {
    let at = if e.line() <= 1 {
        format!("at column {}", e.column())
    } else {
        format!("at line {}, column {}", e.line(), e.column())
    };
    let text = serde_message(e);
    if e.is_eof() {
        format!("the text ends too early, {at}")
    } else if text == "trailing characters" {
        format!("more text follows the JSON value, {at}")
    } else if text.starts_with("control character") {
        format!("a string holds a control character (escape it), {at}")
    } else if text == "recursion limit exceeded" {
        format!("the JSON is nested too deeply, {at}")
    } else {
        format!("the text is not valid JSON {at}")
    }
}

/// serde_json's message without its " at line L column C" (said in our own words instead).
fn serde_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let cut = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&cut).unwrap_or(&text).to_owned()
}

/// "`ttl`, expected one of `a`, `b`" -> ("ttl", "a, b").
fn split_expected(rest: &str) -> (String, String) {
    let (value, known) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let known = known.strip_prefix("one of ").unwrap_or(known);
    let known = if known == "nothing" || known.starts_with("there are no") { "" } else { known };
    (unquote(value), known.replace('`', ""))
}

fn unquote(s: &str) -> String {
    s.trim().trim_matches('`').to_owned()
}

/// serde's "integer `2`", "string \"soon\"", "map" as the value the caller gave.
fn found_value(found: &str) -> String {
    for kind in ["integer ", "floating point ", "boolean ", "char "] {
        if let Some(v) = found.strip_prefix(kind) {
            return unquote(v);
        }
    }
    if let Some(v) = found.strip_prefix("string ") {
        return v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v).to_owned();
    }
    match found {
        "map" => "{…}".to_owned(),
        "sequence" => "[…]".to_owned(),
        "unit value" | "null" => "null".to_owned(),
        other => other.replace('`', ""),
    }
}

/// serde's "integer `2`", "map" as a kind of JSON value: "a number", "an object".
fn found_kind(found: &str) -> &'static str {
    match found.split_whitespace().next().unwrap_or_default() {
        "map" => "an object",
        "sequence" => "an array",
        "string" | "char" => "a string",
        "integer" | "floating" => "a number",
        "boolean" => "a boolean",
        _ => "null",
    }
}

/// serde's name of an expected type in plain words.
fn plain_expected(wanted: &str) -> String {
    let wanted = wanted.trim();
    let plain = match wanted {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" | "a string or bytes" => "a string",
        "a sequence" => "an array",
        "a map" | "any valid JSON value" => return "a JSON object".to_owned(),
        w if w.starts_with("struct ") || w.starts_with("a map") => "an object",
        w if w.starts_with("a sequence") || w.starts_with("a tuple") => "an array",
        w if w.starts_with("unit variant ") || w.starts_with("variant identifier") => "one of the names listed",
        w => return w.replace('`', "").replace("u64", "whole number").replace("usize", "whole number"),
    };
    plain.to_owned()
}

/// Where `line`:`column` (1-based, as serde_json reports them) of `json` is: per open
/// object the key being read (empty before its first key), per open array `[i]`, outermost
/// first. An object or array that closes just there is still open.
fn frames_at(json: &str, line: usize, column: usize) -> Vec<String> {
    let line_start: usize = json.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    let end = (line_start + column).min(json.len());
    // (key or "[i]", whether an object waits for its next key, array index)
    let mut stack: Vec<(String, bool, Option<usize>)> = Vec::new();
    let bytes = json.as_bytes();
    let mut i = 0;
    while i < end {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if let Some((key, want_key @ true, None)) = stack.last_mut() {
                    let raw = json.get(start..i.min(json.len())).unwrap_or_default();
                    *key = serde_json::from_str(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned());
                    *want_key = false;
                }
            }
            b'{' => stack.push((String::new(), true, None)),
            b'[' => stack.push(("[0]".to_owned(), false, Some(0))),
            b'}' | b']' if i + 1 < end => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some((key, want_key, None)) => {
                    key.clear();
                    *want_key = true;
                }
                Some((key, _, Some(n))) => {
                    *n += 1;
                    *key = format!("[{n}]");
                }
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    stack.into_iter().map(|(key, _, _)| key).collect()
}

/// Frames as a key path: `retryPolicy.maxRetries`, `allowedModules[1]`; `None` when empty.
fn key_path(frames: &[String]) -> Option<String> {
    let mut path = String::new();
    for f in frames.iter().filter(|f| !f.is_empty()) {
        if !path.is_empty() && !f.starts_with('[') {
            path.push('.');
        }
        path.push_str(f);
    }
    (!path.is_empty()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_strings_round_trip_through_serde_json() {
        for s in ["", "plain", "quote \" and \\ back", "line\nfeed\ttab\r", "\u{0}\u{1}\u{1f}\u{7f}", "é ü 漢字 🎉"] {
            let mut out = String::new();
            push_str_literal(&mut out, s);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, s);
            assert_eq!(out, serde_json::to_string(s).unwrap());
        }
    }
}
