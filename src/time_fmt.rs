//! ISO 8601 UTC formatting with milliseconds (`2026-11-27T06:00:00.000Z`).

use serde::Serializer;

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian calendar.
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The last millisecond of the year 9999 (9999-12-31T23:59:59.999Z): the latest time these
/// four-digit ISO 8601 texts, and .NET's `DateTime`, can hold.
pub(crate) const MAX_MS: i64 = 253_402_300_799_999;

/// Length of the formatted text for years 0 to 9999.
const LEN: usize = 24;

/// Writes `value` as exactly `digits` decimal digits (zero-padded) at `buf[at..]`.
fn put_digits(buf: &mut [u8; LEN], at: usize, digits: usize, mut value: u32) {
    for i in (at..at + digits).rev() {
        buf[i] = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// Appends milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` to `out`.
/// Writes the digits directly (no `format!`): this runs twice per published message.
pub(crate) fn push_ms(out: &mut String, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000) as u32;
    let (y, mo, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        // Outside four-digit years (no clock reads that); keep the general formatting.
        use std::fmt::Write;
        let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1_000 % 60, rem % 1_000);
        let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
        return;
    }
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    put_digits(&mut buf, 0, 4, y as u32);
    put_digits(&mut buf, 5, 2, mo);
    put_digits(&mut buf, 8, 2, d);
    put_digits(&mut buf, 11, 2, rem / 3_600_000);
    put_digits(&mut buf, 14, 2, rem / 60_000 % 60);
    put_digits(&mut buf, 17, 2, rem / 1_000 % 60);
    put_digits(&mut buf, 20, 3, rem % 1_000);
    // Only ASCII digits and punctuation, so this cannot fail.
    out.push_str(std::str::from_utf8(&buf).expect("ASCII"));
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub(crate) fn format_ms(ms: i64) -> String {
    let mut out = String::with_capacity(LEN);
    push_ms(&mut out, ms);
    out
}

/// (year, month, day) to days since 1970-01-01. Howard Hinnant's `days_from_civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp as i64 + 2) / 5 + d as i64 - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Parses an ISO 8601 date and time with an explicit zone — `2026-11-27T06:00:00Z`,
/// `2026-11-27T06:00:00.1234567+01:00` — into milliseconds since the Unix epoch (UTC).
/// Fractions beyond milliseconds are truncated. `None` when the text is not of that form.
pub(crate) fn parse_iso_ms(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, c: u8| b.get(at) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && (sep(10, b'T') || sep(10, b't') || sep(10, b' ')) && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d < 1 || d > days_in_month || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0i64;
    if sep(at, b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match b.get(at) {
        Some(b'Z' | b'z') if at + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() && sep(at + 3, b':') => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let minutes = oh * 60 + om;
            if sign == b'+' {
                minutes
            } else {
                -minutes
            }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 24 + h) * 60 + mi - offset_min) * 60_000 + s * 1000 + millis)
}

/// `serialize_with` helper: milliseconds as an ISO 8601 string.
pub(crate) fn serialize_ms<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_ms(*ms))
}

/// `serialize_with` helper: as [`serialize_ms`], `null` for none.
pub(crate) fn serialize_opt_ms<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(ms) => serialize_ms(ms, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::{format_ms, parse_iso_ms};

    #[test]
    fn parses_what_it_formats_and_common_iso_forms() {
        for ms in [0, 1, -1, 951_782_400_000, 1_798_351_200_123, 4_102_444_799_999] {
            assert_eq!(parse_iso_ms(&format_ms(ms)), Some(ms), "ms = {ms}");
        }
        assert_eq!(parse_iso_ms("2026-11-27T06:00:00Z"), Some(1_795_759_200_000));
        assert_eq!(parse_iso_ms("2026-11-27T06:00:00.1239999Z"), Some(1_795_759_200_123));
        assert_eq!(parse_iso_ms("2026-11-27T07:00:00.5+01:00"), Some(1_795_759_200_500));
        assert_eq!(parse_iso_ms("2026-11-27T05:30:00-00:30"), Some(1_795_759_200_000));
        for bad in ["", "2026-11-27", "2026-11-27T06:00:00", "2026-02-30T00:00:00Z", "2026-11-27T24:00:00Z",
            "2026-11-27T06:00:00.Z", "2026-11-27T06:00:00Zx", "2026-11-27T06:00:00+1:00", "x026-11-27T06:00:00Z"]
        {
            assert_eq!(parse_iso_ms(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_known_instants() {
        let table = [
            (0, "1970-01-01T00:00:00.000Z"),
            (1, "1970-01-01T00:00:00.001Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (1_709_164_800_000, "2024-02-29T00:00:00.000Z"),
            (1_798_351_200_123, "2026-12-27T06:00:00.123Z"),
            (1_795_759_200_000, "2026-11-27T06:00:00.000Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
            (253_402_300_799_000, "9999-12-31T23:59:59.000Z"),
            (-62_167_219_200_000, "0000-01-01T00:00:00.000Z"),
            (253_402_300_800_000, "10000-01-01T00:00:00.000Z"),
            (-62_167_219_200_001, "-001-12-31T23:59:59.999Z"),
        ];
        for (ms, want) in table {
            assert_eq!(format_ms(ms), want, "ms = {ms}");
        }
    }

    #[test]
    fn agrees_with_format_over_a_range_of_instants() {
        // Every millisecond field, hour and day boundary over about 400 years.
        let mut ms: i64 = -1_000_000_000_000;
        while ms < 12_000_000_000_000 {
            let days = ms.div_euclid(86_400_000);
            let rem = ms.rem_euclid(86_400_000);
            let (y, mo, d) = super::civil_from_days(days);
            let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1_000 % 60, rem % 1_000);
            let want = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z");
            assert_eq!(format_ms(ms), want, "ms = {ms}");
            ms += 999_999_937; // prime-ish step: varies every field
        }
    }
}
