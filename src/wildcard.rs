//! PowerShell `-like` wildcard patterns: `*` (any run), `?` (one character), `[abc]` and
//! `[a-c]` (one character from a set or range), a backtick escapes the next character.
//! Matching is case-insensitive and anchored at both ends, like `-like`.

use std::fmt;

/// Case folding used for every name comparison in the crate: one character in, one out,
/// so byte positions of the folded text stay aligned with character positions.
pub(crate) fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Whether `s` is its own folded form (the common case of lowercase ASCII names).
fn is_folded_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase())
}

/// The folded form of a name: the key under which names compare case-insensitively.
pub(crate) fn fold(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    s.chars().map(fold_char).collect()
}

/// Appends the folded form of `s` to `out` and returns where it went, unless `s` is
/// folded already (then `None`, and nothing is appended).
pub(crate) fn push_folded(out: &mut String, s: &str) -> Option<std::ops::Range<usize>> {
    if is_folded_ascii(s) {
        return None;
    }
    let start = out.len();
    if s.is_ascii() {
        out.push_str(s);
        out[start..].make_ascii_lowercase();
    } else {
        out.extend(s.chars().map(fold_char));
    }
    Some(start..out.len())
}

/// Runs `f` with the folded form of `s`, without allocating for short names.
pub(crate) fn with_folded<T>(s: &str, f: impl FnOnce(&str) -> T) -> T {
    const STACK: usize = 64;
    if is_folded_ascii(s) {
        return f(s);
    }
    if s.is_ascii() && s.len() <= STACK {
        let mut buf = [0u8; STACK];
        let key = &mut buf[..s.len()];
        key.copy_from_slice(s.as_bytes());
        key.make_ascii_lowercase();
        return f(std::str::from_utf8(key).expect("lowercased ASCII is UTF-8"));
    }
    f(&fold(s))
}

/// Whether `s` contains a character with a meaning in `-like` patterns.
pub(crate) fn has_wildcard_chars(s: &str) -> bool {
    s.contains(['*', '?', '[', ']', '`'])
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Char(char),
    One,
    Star,
    Set(Vec<(char, char)>),
}

impl Token {
    fn matches_one(&self, folded: char) -> bool {
        match self {
            Token::Char(c) => *c == folded,
            Token::One => true,
            Token::Set(ranges) => ranges.iter().any(|&(lo, hi)| lo <= folded && folded <= hi),
            Token::Star => false,
        }
    }
}

#[derive(Clone, Debug)]
enum Matcher {
    /// `*`: matches everything.
    Everything,
    /// No wildcard: folded text equality.
    Literal(String),
    /// `abc*` with a literal prefix: folded prefix check.
    Prefix(String),
    /// Anything else.
    Glob(Vec<Token>),
}

/// A compiled `-like` pattern.
///
/// ```
/// use module_communication::Pattern;
/// let p = Pattern::new("Module*").unwrap();
/// assert!(p.is_match("ModuleInitialized"));
/// assert!(p.is_match("moduleX"));
/// assert!(!p.is_match("Modul"));
/// ```
#[derive(Clone)]
pub struct Pattern {
    source: String,
    literal: Option<String>,
    matcher: Matcher,
}

impl Pattern {
    /// Compiles `pattern`. Fails on an unclosed or empty `[...]` set, or a reversed range,
    /// with the reason as text.
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let tokens = parse(pattern)?;
        let literal: Option<String> = tokens
            .iter()
            .map(|t| match t {
                Token::Char(_) => Some(()),
                _ => None,
            })
            .collect::<Option<Vec<()>>>()
            .map(|_| unescape(pattern));
        let matcher = if tokens == [Token::Star] {
            Matcher::Everything
        } else if let Some(lit) = &literal {
            Matcher::Literal(fold(lit))
        } else if tokens.last() == Some(&Token::Star)
            && tokens[..tokens.len() - 1].iter().all(|t| matches!(t, Token::Char(_)))
        {
            Matcher::Prefix(
                tokens[..tokens.len() - 1]
                    .iter()
                    .map(|t| match t {
                        Token::Char(c) => *c,
                        _ => unreachable!("checked above"),
                    })
                    .collect(),
            )
        } else {
            Matcher::Glob(tokens)
        };
        Ok(Pattern { source: pattern.to_owned(), literal, matcher })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The exact name this pattern stands for, when it has no wildcard (escapes removed).
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `text` matches, ignoring case.
    pub fn is_match(&self, text: &str) -> bool {
        match &self.matcher {
            Matcher::Everything => true,
            Matcher::Literal(lit) => folded_eq(text, lit),
            Matcher::Prefix(prefix) => folded_starts_with(text, prefix),
            Matcher::Glob(tokens) => glob_match(tokens, text),
        }
    }

    /// Like [`Pattern::is_match`], for text that is already folded (a name key).
    pub(crate) fn is_match_folded(&self, folded: &str) -> bool {
        match &self.matcher {
            Matcher::Everything => true,
            Matcher::Literal(lit) => folded == lit,
            Matcher::Prefix(prefix) => folded.starts_with(prefix.as_str()),
            Matcher::Glob(tokens) => glob_match(tokens, folded),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn folded_eq(text: &str, folded: &str) -> bool {
    let mut a = text.chars().map(fold_char);
    let mut b = folded.chars();
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            _ => return false,
        }
    }
}

fn folded_starts_with(text: &str, folded_prefix: &str) -> bool {
    let mut a = text.chars().map(fold_char);
    folded_prefix.chars().all(|p| a.next() == Some(p))
}

fn unescape(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == '`' {
            out.push(chars.next().unwrap_or('`'));
        } else {
            out.push(c);
        }
    }
    out
}

fn parse(pattern: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '`' => tokens.push(Token::Char(fold_char(chars.next().unwrap_or('`')))),
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::One),
            '[' => {
                let mut members: Vec<char> = Vec::new();
                let mut ranges = Vec::new();
                let mut closed = false;
                let mut pending_dash = false;
                while let Some(m) = chars.next() {
                    let m = match m {
                        ']' => {
                            closed = true;
                            break;
                        }
                        '`' => chars.next().unwrap_or('`'),
                        '-' if !members.is_empty() && !pending_dash => {
                            pending_dash = true;
                            continue;
                        }
                        other => other,
                    };
                    if pending_dash {
                        pending_dash = false;
                        let lo = members.pop().expect("a dash follows a member");
                        let (lo, hi) = (fold_char(lo), fold_char(m));
                        if lo > hi {
                            return Err(format!(
                                "the range '{lo}-{hi}' in a [...] set is reversed; write it low to high"
                            ));
                        }
                        ranges.push((lo, hi));
                    } else {
                        members.push(m);
                    }
                }
                if !closed {
                    return Err("a '[' set is not closed with ']'; close it, or escape the bracket as `[".into());
                }
                if pending_dash {
                    members.push('-');
                }
                ranges.extend(members.into_iter().map(|m| (fold_char(m), fold_char(m))));
                if ranges.is_empty() {
                    return Err("an empty '[]' set matches nothing; list characters inside it, or escape it as `[`]".into());
                }
                tokens.push(Token::Set(ranges));
            }
            other => tokens.push(Token::Char(fold_char(other))),
        }
    }
    Ok(tokens)
}

/// Anchored glob match with single-star backtracking; linear in practice.
fn glob_match(tokens: &[Token], text: &str) -> bool {
    let (mut t, mut s) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(tok) = tokens.get(t) {
            if *tok == Token::Star {
                star = Some((t + 1, s));
                t += 1;
                continue;
            }
            if let Some(c) = text[s..].chars().next() {
                if tok.matches_one(fold_char(c)) {
                    t += 1;
                    s += c.len_utf8();
                    continue;
                }
            }
        } else if s == text.len() {
            return true;
        }
        match star {
            Some((after_star, from)) if from < text.len() => {
                let c = text[from..].chars().next().expect("from < len");
                let next = from + c.len_utf8();
                star = Some((after_star, next));
                t = after_star;
                s = next;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_folded_and_with_folded_agree_with_fold() {
        let long = "X".repeat(100);
        for s in ["", "lower", "MiXeD", "ÄÖÜ straße", "ǅ", long.as_str(), "ascii-but-UPPER-and-long-enough-to-need-the-heap-0123456789abcdef"] {
            let mut out = String::from("prefix");
            match push_folded(&mut out, s) {
                Some(r) => assert_eq!(&out[r], fold(s), "{s:?}"),
                None => {
                    assert_eq!(out, "prefix", "{s:?}");
                    assert_eq!(s, fold(s), "{s:?}");
                }
            }
            assert_eq!(with_folded(s, str::to_owned), fold(s), "{s:?}");
        }
    }

    #[test]
    fn like_table() {
        // (pattern, text, expected) — expectations follow PowerShell's `text -like pattern`.
        let table: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("", "", true),
            ("", "a", false),
            ("Configuration", "configuration", true),
            ("Configuration", "CONFIGURATION", true),
            ("Configuration", "Configurations", false),
            ("Config*", "Configuration", true),
            ("Config*", "config", true),
            ("Config*", "Conf", false),
            ("*ation", "Configuration", true),
            ("*ation", "ationx", false),
            ("C*n", "Configuration", true),
            ("C*n", "Cn", true),
            ("C*n", "Cnx", false),
            ("*a*b*", "xxaYYbzz", true),
            ("*a*b*", "xxbYYazz", false),
            ("a*b*c", "abbbc", true),
            ("a*b*c", "abcabc", true),
            ("a*b*c", "acb", false),
            ("**", "x", true),
            ("?", "a", true),
            ("?", "", false),
            ("?", "ab", false),
            ("???", "abc", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("Module?", "Module1", true),
            ("[abc]", "b", true),
            ("[abc]", "B", true),
            ("[abc]", "d", false),
            ("[a-c]x", "Bx", true),
            ("[a-c]x", "dx", false),
            ("[A-C]", "b", true),
            ("[0-9][0-9]", "42", true),
            ("[0-9][0-9]", "4a", false),
            ("[a-]", "-", true),
            ("[a-]", "a", true),
            ("[-a]", "-", true),
            ("x]", "x]", true),
            ("`*", "*", true),
            ("`*", "a", false),
            ("a`?", "a?", true),
            ("a`?", "ab", false),
            ("`[a]", "[a]", true),
            ("``", "`", true),
            ("a`", "a`", true),
            ("[`]]", "]", true),
            ("Évé*", "éVÉNEMENT", true),
            ("straße", "STRAßE", true),
            ("Module*", "ModuleInitialized", true),
            ("*Changed", "ConfigChanged", true),
            ("Config*Changed", "ConfigurationChanged", true),
            ("Config*Changed", "ConfigurationChange", false),
        ];
        for &(pattern, text, want) in table {
            let p = Pattern::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            assert_eq!(p.is_match(text), want, "{text:?} -like {pattern:?}");
            assert_eq!(p.is_match_folded(&fold(text)), want, "folded {text:?} -like {pattern:?}");
        }
    }

    #[test]
    fn invalid_patterns_are_refused_with_a_reason() {
        for bad in ["[abc", "a[", "[]", "[c-a]"] {
            let err = Pattern::new(bad).expect_err(bad);
            assert!(!err.is_empty());
        }
    }

    #[test]
    fn literal_is_reported_without_escapes() {
        assert_eq!(Pattern::new("Config").unwrap().literal(), Some("Config"));
        assert_eq!(Pattern::new("a`*b").unwrap().literal(), Some("a*b"));
        assert_eq!(Pattern::new("a*").unwrap().literal(), None);
        assert_eq!(Pattern::new("[a]").unwrap().literal(), None);
    }

    #[test]
    fn wildcard_characters_are_detected() {
        assert!(has_wildcard_chars("a*"));
        assert!(has_wildcard_chars("a[1]"));
        assert!(has_wildcard_chars("a`b"));
        assert!(!has_wildcard_chars("Config.Changed-1"));
    }
}
