//! Scopes: what a token allows. `api:call` allows every API, `api:call:LabRunner.*` only
//! the APIs of LabRunner: the pattern's part after its last dot matches the operation, the
//! part before it the module (module names may contain dots, operation names cannot, so
//! `LabRunner.*` does not reach module `LabRunner.Admin`); a pattern without a dot matches
//! `Module.Operation` as a whole (`*`, `Lab*`). Likewise
//! `events:publish[:EventName]`, `events:subscribe[:EventPattern]`,
//! `messages:publish[:Channel]` and `messages:subscribe[:ChannelPattern]`.

use std::fmt;

use crate::error::Error;
use crate::wildcard::Pattern;

/// A guarded operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Invoking an API; the target is `Module.Operation`.
    ApiCall,
    /// Publishing an event; the target is the event name.
    EventsPublish,
    /// Subscribing to events; the target is the event name or pattern.
    EventsSubscribe,
    /// Publishing a message; the target is the channel.
    MessagesPublish,
    /// Subscribing to messages; the target is the channel name or pattern.
    MessagesSubscribe,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 5] = [
        Action::ApiCall,
        Action::EventsPublish,
        Action::EventsSubscribe,
        Action::MessagesPublish,
        Action::MessagesSubscribe,
    ];

    /// The scope that allows the action on every target (`"api:call"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ApiCall => "api:call",
            Action::EventsPublish => "events:publish",
            Action::EventsSubscribe => "events:subscribe",
            Action::MessagesPublish => "messages:publish",
            Action::MessagesSubscribe => "messages:subscribe",
        }
    }

    /// Parses an action name, ignoring case.
    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether the target is itself a pattern (subscriptions).
    fn target_is_pattern(self) -> bool {
        matches!(self, Action::EventsSubscribe | Action::MessagesSubscribe)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scope of a token.
#[derive(Debug, Clone)]
pub struct Scope {
    action: Action,
    target: Option<Pattern>,
    /// For `api:call`, a pattern with a dot split at its last one: module and operation.
    api_parts: Option<(Pattern, Pattern)>,
    text: String,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.text.eq_ignore_ascii_case(&other.text)
    }
}

const KNOWN: &str = "api:call, events:publish, events:subscribe, messages:publish and messages:subscribe, \
                     each optionally followed by ':' and a -like pattern (api:call:LabRunner.*)";

/// The longest pattern a scope may give: a `Module.Operation` of two 256-character names.
const SCOPE_PATTERN_MAX_CHARS: usize = 513;

impl Scope {
    /// Parses `action[:pattern]`. Control characters and patterns longer than 513 characters
    /// are refused, as they are in the names a pattern matches.
    pub fn parse(text: &str) -> Result<Scope, Error> {
        let trimmed = text.trim();
        let bad = |reason: String| Error::invalid("scope", text.escape_debug(), reason);
        if trimmed.is_empty() {
            return Err(bad(format!("a scope cannot be empty; use {KNOWN}")));
        }
        if text.chars().any(char::is_control) {
            return Err(bad(
                "the scope contains a control character (such as NUL, a tab or a newline); remove it".into()
            ));
        }
        let (action_text, target_text) = match trimmed.match_indices(':').nth(1) {
            Some((i, _)) => (&trimmed[..i], Some(&trimmed[i + 1..])),
            None => (trimmed, None),
        };
        let action = Action::parse(action_text).ok_or_else(|| bad(format!("unknown scope; the scopes are {KNOWN}")))?;
        let target =
            match target_text {
                None => None,
                Some("") => return Err(bad(
                    "the pattern after the last ':' is empty; drop the ':' to allow every target, or give a pattern"
                        .into(),
                )),
                Some(t) if t.chars().count() > SCOPE_PATTERN_MAX_CHARS => {
                    return Err(bad(format!(
                        "its pattern is longer than {SCOPE_PATTERN_MAX_CHARS} characters (a Module.Operation of two \
                         256-character names); shorten it"
                    )))
                }
                Some(t) => {
                    Some(Pattern::new(t).map_err(|reason| bad(format!("its pattern '{t}' is not valid: {reason}")))?)
                }
            };
        let api_parts = match (&target, action) {
            (Some(p), Action::ApiCall) => split_at_last_dot(p.as_str())
                .map(|(m, o)| -> Result<_, Error> {
                    let part = |t: &str| {
                        Pattern::new(t).map_err(|reason| bad(format!("its pattern '{t}' is not valid: {reason}")))
                    };
                    Ok((part(m)?, part(o)?))
                })
                .transpose()?,
            _ => None,
        };
        let text = match &target {
            None => action.as_str().to_owned(),
            Some(p) => format!("{}:{}", action.as_str(), p.as_str()),
        };
        Ok(Scope { action, target, api_parts, text })
    }

    /// The scope as text, with the action in its canonical spelling.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this scope allows `action` on `target`.
    ///
    /// For subscriptions the target may be a pattern itself: a scope with a pattern allows
    /// it when the scope's pattern matches the subscription's pattern as text (so
    /// `events:subscribe:LabStep*` allows `LabStep*` and `LabStepStarted`, not `Lab*`).
    /// A subscription pattern with `?`, `[…]` or a backtick escape is allowed by a prefix
    /// scope (`Config*`) when its literal start lies inside it (`Config?`, `Config[AB]`);
    /// under other scope patterns it needs the same pattern (compared case-insensitively) or
    /// an unrestricted scope.
    pub fn allows(&self, action: Action, target: &str) -> bool {
        if self.action != action {
            return false;
        }
        let Some(p) = &self.target else { return true };
        if action.target_is_pattern() && target.contains(['?', '[', ']', '`']) {
            use crate::wildcard::fold;
            let scope = p.as_str();
            if let Some(prefix) = scope.strip_suffix('*').filter(|pre| !pre.contains(['*', '?', '[', ']', '`'])) {
                let literal = &target[..target.find(['*', '?', '[', '`']).unwrap_or(target.len())];
                return fold(literal).starts_with(&fold(prefix));
            }
            return fold(scope) == fold(target);
        }
        if let Some((module, operation)) = &self.api_parts {
            // An API key splits at its last dot, as the registry builds it.
            return target.rsplit_once('.').is_some_and(|(m, o)| module.is_match(m) && operation.is_match(o));
        }
        p.is_match(target)
    }
}

/// A pattern split at its last dot that is neither escaped (`` `. ``) nor inside a `[…]` set.
fn split_at_last_dot(pattern: &str) -> Option<(&str, &str)> {
    let mut last = None;
    let mut in_set = false;
    let mut chars = pattern.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '`' => {
                chars.next();
            }
            '[' if !in_set => in_set = true,
            ']' if in_set => in_set = false,
            '.' if !in_set => last = Some(i),
            _ => {}
        }
    }
    last.map(|i| (&pattern[..i], &pattern[i + 1..]))
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scope_allows_every_target_of_its_action_only() {
        let s = Scope::parse("API:Call").unwrap();
        assert_eq!(s.as_str(), "api:call");
        assert!(s.allows(Action::ApiCall, "Any.Thing"));
        assert!(!s.allows(Action::EventsPublish, "Any"));
    }

    #[test]
    fn pattern_scope_allows_matching_operations_case_insensitively() {
        let s = Scope::parse("api:call:LabRunner.*").unwrap();
        assert!(s.allows(Action::ApiCall, "labrunner.ExecuteStep"));
        assert!(!s.allows(Action::ApiCall, "ConfigManager.UpdateSetting"));
    }

    #[test]
    fn subscription_patterns_must_be_covered_by_the_scope() {
        let s = Scope::parse("events:subscribe:LabStep*").unwrap();
        assert!(s.allows(Action::EventsSubscribe, "LabStepStarted"));
        assert!(s.allows(Action::EventsSubscribe, "LabStep*"));
        assert!(!s.allows(Action::EventsSubscribe, "Lab*"));
        assert!(s.allows(Action::EventsSubscribe, "LabStep[ab]"), "its literal start lies inside the prefix scope");
        assert!(s.allows(Action::EventsSubscribe, "LabStep?*"));
        assert!(!s.allows(Action::EventsSubscribe, "Lab?Step"));
        assert!(!s.allows(Action::EventsSubscribe, "[L]abStep"));
        assert!(Scope::parse("events:subscribe").unwrap().allows(Action::EventsSubscribe, "*"));
    }

    #[test]
    fn bad_scopes_are_named() {
        for bad in ["", "api", "api:invoke", "api:call:", "api:call:[a"] {
            let e = Scope::parse(bad).unwrap_err();
            assert!(e.to_string().contains("scope"), "{bad}: {e}");
        }
    }
}
