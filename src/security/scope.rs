//! Scopes: what a token allows. `api:call` allows every API, `api:call:LabRunner.*` only
//! the APIs whose `Module.Operation` matches the `-like` pattern; likewise
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
    text: String,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Self) -> bool {
        self.text.eq_ignore_ascii_case(&other.text)
    }
}

const KNOWN: &str = "api:call, events:publish, events:subscribe, messages:publish and messages:subscribe, \
                     each optionally followed by ':' and a -like pattern (api:call:LabRunner.*)";

impl Scope {
    /// Parses `action[:pattern]`.
    pub fn parse(text: &str) -> Result<Scope, Error> {
        let trimmed = text.trim();
        let bad = |reason: String| Error::invalid("scope", text.escape_debug(), reason);
        if trimmed.is_empty() {
            return Err(bad(format!("a scope cannot be empty; use {KNOWN}")));
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
                Some(t) => {
                    Some(Pattern::new(t).map_err(|reason| bad(format!("its pattern '{t}' is not valid: {reason}")))?)
                }
            };
        let text = match &target {
            None => action.as_str().to_owned(),
            Some(p) => format!("{}:{}", action.as_str(), p.as_str()),
        };
        Ok(Scope { action, target, text })
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
        p.is_match(target)
    }
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
