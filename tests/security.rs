//! Tokens, scopes and the security check, on a manual clock.

use std::sync::Arc;

use module_communication::security::{
    Action, DenyKind, Security, SecurityError, SecuritySettings, TokenRequest, TOKEN_LEN, TOKEN_PREFIX,
};
use module_communication::{Hub, ManualClock};

const MINUTE: i64 = 60_000;

fn secured(clock: &Arc<ManualClock>) -> Security {
    let sec = Security::new(clock.clone());
    sec.set_settings(SecuritySettings {
        enabled: true,
        require_authentication: true,
        allowed_modules: vec!["LabRunner".into(), "BackupManager".into(), "Config*".into()],
        ..SecuritySettings::default()
    })
    .unwrap();
    sec
}

/// A target each action can be checked on.
fn target(action: Action) -> &'static str {
    match action {
        Action::ApiCall => "ConfigManager.UpdateSetting",
        Action::EventsPublish | Action::EventsSubscribe => "ModuleInitialized",
        Action::MessagesPublish | Action::MessagesSubscribe => "Configuration",
    }
}

fn denied(r: Result<Option<module_communication::security::Principal>, SecurityError>) -> (DenyKind, String) {
    match r {
        Err(SecurityError::Denied { kind, message }) => (kind, message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_guarded_operation_refuses_each_bad_token_and_accepts_a_valid_one() {
    for action in Action::ALL {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let sec = secured(&clock);
        let t = target(action);
        let make = |module: &str, scope: &str, minutes: u64| {
            let mut req = TokenRequest::new(module, [scope]);
            req.expiration_minutes = Some(minutes);
            sec.create_token(req).unwrap()
        };
        let valid = make("LabRunner", action.as_str(), 60);
        let expired = make("LabRunner", action.as_str(), 1);
        let revoked = make("LabRunner", action.as_str(), 60);
        let other_scope = if action == Action::ApiCall { "events:publish" } else { "api:call" };
        let missing_scope = make("LabRunner", other_scope, 60);
        let outsider = make("Config.Tool", action.as_str(), 60);
        sec.revoke_id(&revoked.info.token_id).unwrap();
        clock.advance(MINUTE);
        // "Config*" leaves the allowed list: Config.Tool's token no longer works.
        let mut s = sec.settings();
        s.allowed_modules.retain(|m| m != "Config*");
        sec.set_settings(s).unwrap();

        let (kind, none_msg) = denied(sec.authorize(None, action, t, None));
        assert_eq!(kind, DenyKind::Authentication, "{action}: no token");
        assert!(none_msg.contains("requires an authentication token"), "{none_msg}");

        let (k1, m_expired) = denied(sec.authorize(Some(expired.token.expose()), action, t, None));
        let (k2, m_revoked) = denied(sec.authorize(Some(revoked.token.expose()), action, t, None));
        let (k3, m_unknown) = denied(sec.authorize(Some("mct_not-a-real-token"), action, t, None));
        assert_eq!((k1, k2, k3), (DenyKind::Authentication, DenyKind::Authentication, DenyKind::Authentication));
        assert_eq!(m_expired, m_revoked, "{action}: expired and revoked read the same");
        assert_eq!(m_expired, m_unknown, "{action}: expired and unknown read the same");

        let (kind, msg) = denied(sec.authorize(Some(outsider.token.expose()), action, t, None));
        assert_eq!(kind, DenyKind::Authorization, "{action}: module outside the allowed list");
        assert!(msg.contains("not in the allowed modules"), "{msg}");

        let (kind, msg) = denied(sec.authorize(Some(missing_scope.token.expose()), action, t, None));
        assert_eq!(kind, DenyKind::Authorization, "{action}: missing scope");
        assert!(msg.contains(&format!("'{action}'")), "{msg}");

        if matches!(action, Action::EventsPublish | Action::MessagesPublish) {
            let (kind, msg) = denied(sec.authorize(Some(valid.token.expose()), action, t, Some("BackupManager")));
            assert_eq!(kind, DenyKind::Authorization, "{action}: another module's token");
            assert!(msg.contains("claims to come from module 'BackupManager'"), "{msg}");
        }

        let p = sec.authorize(Some(valid.token.expose()), action, t, Some("labrunner")).unwrap().unwrap();
        assert_eq!((p.module.as_str(), p.token_id.as_str()), ("LabRunner", valid.info.token_id.as_str()));
    }
}

#[test]
fn per_operation_scopes_allow_only_matching_apis() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = secured(&clock);
    let t = sec.create_token(TokenRequest::new("LabRunner", ["api:call:LabRunner.*", "events:publish"])).unwrap();
    let tok = Some(t.token.expose());
    assert!(sec.authorize(tok, Action::ApiCall, "LabRunner.ExecuteStep", None).is_ok());
    assert!(sec.authorize(tok, Action::ApiCall, "labrunner.Deploy", None).is_ok());
    assert_eq!(denied(sec.authorize(tok, Action::ApiCall, "ConfigManager.UpdateSetting", None)).0, DenyKind::Authorization);
    assert!(sec.authorize(tok, Action::EventsPublish, "Anything", None).is_ok());
}

#[test]
fn optional_authentication_lets_tokenless_calls_through_but_checks_given_tokens() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = Security::new(clock.clone());
    sec.update_settings_json(r#"{"enabled":true,"requireAuthentication":false}"#).unwrap();
    assert_eq!(sec.authorize(None, Action::ApiCall, "A.B", None).unwrap(), None);
    assert_eq!(denied(sec.authorize(Some("mct_bogus"), Action::ApiCall, "A.B", None)).0, DenyKind::Authentication);
}

#[test]
fn security_off_checks_nothing() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = Security::new(clock);
    assert!(!sec.is_enabled());
    assert_eq!(sec.authorize(Some("garbage"), Action::ApiCall, "A.B", None).unwrap(), None);
    assert_eq!(sec.authorize(None, Action::MessagesPublish, "C", Some("M")).unwrap(), None);
}

#[test]
fn require_authentication_in_settings_turns_security_on() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = Security::new(clock);
    sec.update_settings_json(r#"{"RequireAuthentication":true,"AllowedModules":["LabRunner"],"DefaultTokenExpirationMinutes":120}"#)
        .unwrap();
    assert!(sec.is_enabled());
    assert_eq!(sec.settings().default_token_expiration_minutes, 120);
    assert!(sec.update_settings_json(r#"{"allowedModules":[5]}"#).is_err());
    assert!(sec.update_settings_json(r#"{"defaultTokenExpirationMinutes":0}"#).is_err());
    assert!(sec.update_settings_json(r#"{"bogus":true}"#).unwrap_err().to_string().contains("'bogus'"));
    assert_eq!(sec.settings().allowed_modules, ["LabRunner"], "a rejected update changes nothing");
}

#[test]
fn tokens_expire_on_the_clock_and_are_purged() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = secured(&clock);
    let mut req = TokenRequest::new("LabRunner", ["api:call"]);
    req.expiration_minutes = Some(120);
    let t = sec.create_token(req).unwrap();
    assert_eq!(t.info.expires_at - t.info.created_at, 120 * MINUTE);
    let default = sec.create_token(TokenRequest::new("LabRunner", ["api:call"])).unwrap();
    assert_eq!(default.info.expires_at, 60 * MINUTE, "the settings' default of 60 minutes");
    clock.advance(120 * MINUTE - 1);
    assert!(sec.verify(t.token.expose()).is_ok());
    assert_eq!(sec.tokens(None).unwrap().len(), 1, "the 60-minute token was purged");
    clock.advance(1);
    assert!(sec.verify(t.token.expose()).is_err());
    assert!(sec.tokens(None).unwrap().is_empty());
    assert_eq!(sec.stats().active_tokens, 0);
}

#[test]
fn revoke_by_module_by_id_and_all() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = secured(&clock);
    let a1 = sec.create_token(TokenRequest::new("LabRunner", ["api:call"])).unwrap();
    let _a2 = sec.create_token(TokenRequest::new("LabRunner", ["api:call"])).unwrap();
    let b = sec.create_token(TokenRequest::new("BackupManager", ["api:call"])).unwrap();
    assert_eq!(sec.revoke_module("labrunner").unwrap(), 2);
    assert!(sec.verify(a1.token.expose()).is_err());
    assert!(sec.verify(b.token.expose()).is_ok());
    assert!(matches!(sec.revoke_id("nope"), Err(SecurityError::TokenNotFound { .. })));
    sec.revoke_id(&b.info.token_id.to_uppercase()).unwrap();
    assert_eq!(sec.revoke_all(), 0);
    assert_eq!(sec.revoke_module("Nobody").unwrap(), 0);
}

#[test]
fn token_creation_checks_module_scopes_and_lifetime() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = secured(&clock);
    assert!(matches!(
        sec.create_token(TokenRequest::new("Intruder", ["api:call"])),
        Err(SecurityError::ModuleNotAllowed { .. })
    ));
    let no_scopes: [&str; 0] = [];
    for req in [
        TokenRequest::new("", ["api:call"]),
        TokenRequest::new("Lab*", ["api:call"]),
        TokenRequest::new("LabRunner", no_scopes),
        TokenRequest::new("LabRunner", ["api:invoke"]),
        TokenRequest { expiration_minutes: Some(0), ..TokenRequest::new("LabRunner", ["api:call"]) },
        TokenRequest { expiration_minutes: Some(10_000_000), ..TokenRequest::new("LabRunner", ["api:call"]) },
    ] {
        let e = sec.create_token(req.clone()).unwrap_err();
        assert!(matches!(e, SecurityError::Invalid(_)), "{req:?}: {e:?}");
    }
    assert!(sec.tokens(None).unwrap().is_empty(), "no failed request left a token behind");
    let t = sec.create_token(TokenRequest::new("LabRunner", ["API:CALL", "api:call", "events:publish"])).unwrap();
    assert_eq!(t.info.scopes, ["api:call", "events:publish"], "canonical spelling, duplicates dropped");
    assert!(t.token.expose().starts_with(TOKEN_PREFIX) && t.token.expose().len() == TOKEN_LEN);
}

#[test]
fn no_observable_surface_shows_a_raw_token() {
    let clock = Arc::new(ManualClock::new(0));
    let hub = Hub::with_clock(clock.clone());
    let sec = hub.security();
    sec.set_settings(SecuritySettings { enabled: true, require_authentication: true, ..SecuritySettings::default() })
        .unwrap();
    let t = sec.create_token(TokenRequest::new("LabRunner", ["api:call:LabRunner.*"])).unwrap();
    let secret = t.token.expose().to_owned();
    let body = &secret[TOKEN_PREFIX.len()..];
    let mut surfaces = vec![
        format!("{t:?}"),
        format!("{:?}", t.token),
        format!("{}", t.token),
        format!("{sec:?}"),
        format!("{hub:?}"),
        serde_json::to_string(&t.info).unwrap(),
        serde_json::to_string(&sec.tokens(None).unwrap()).unwrap(),
        serde_json::to_string(&sec.stats()).unwrap(),
        serde_json::to_string(&sec.settings()).unwrap(),
        format!("{:?}", sec.verify(&secret)),
    ];
    for r in [
        sec.authorize(Some(&secret), Action::ApiCall, "Other.Op", None),
        sec.authorize(Some(&secret), Action::MessagesPublish, "X", Some("Else")),
        sec.authorize(Some(&format!("{secret}x")), Action::ApiCall, "LabRunner.Op", None),
    ] {
        let e = r.unwrap_err();
        surfaces.push(e.to_string());
        surfaces.push(format!("{e:?}"));
    }
    sec.revoke_all();
    surfaces.push(sec.authorize(Some(&secret), Action::ApiCall, "LabRunner.Op", None).unwrap_err().to_string());
    for s in &surfaces {
        assert!(!s.contains(body), "token text leaked: {s}");
    }
}
