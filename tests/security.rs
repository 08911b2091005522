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
        assert_eq!((&*p.module, &*p.token_id), ("LabRunner", valid.info.token_id.as_str()));
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
    assert_eq!(
        denied(sec.authorize(tok, Action::ApiCall, "ConfigManager.UpdateSetting", None)).0,
        DenyKind::Authorization
    );
    assert!(sec.authorize(tok, Action::EventsPublish, "Anything", None).is_ok());
}

/// Module names may contain dots, operation names cannot: an API pattern's module part and
/// operation part match apart, so `Lab.*` does not reach module `Lab.Admin`.
#[test]
fn api_scope_patterns_match_the_module_and_the_operation_apart() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = Security::new(clock);
    sec.set_settings(SecuritySettings { enabled: true, require_authentication: true, ..SecuritySettings::default() })
        .unwrap();
    let allows = |scope: &str, key: &str| {
        let t = sec.create_token(TokenRequest::new("Caller", [scope])).unwrap();
        sec.authorize(Some(t.token.expose()), Action::ApiCall, key, None).is_ok()
    };
    assert!(allows("api:call:Lab.*", "lab.Run"));
    assert!(!allows("api:call:Lab.*", "Lab.Admin.DeleteAll"), "module Lab.Admin is not module Lab");
    assert!(allows("api:call:Lab.Admin.*", "Lab.Admin.DeleteAll"));
    assert!(!allows("api:call:Lab.Admin.*", "Lab.Run"));
    assert!(allows("api:call:*.Get*", "Lab.Admin.GetStatus"));
    assert!(!allows("api:call:*.Get*", "Lab.Admin.Delete"));
    assert!(!allows("api:call:*.Get*", "Getter.Run"), "Get* names the operation, not the module");
    assert!(allows("api:call:*", "Lab.Admin.DeleteAll"));
    assert!(allows("api:call:Lab*", "Lab.Admin.DeleteAll"), "without a dot the pattern matches the whole key");
    assert!(allows("api:call:Lab[.]Admin*", "Lab.Admin.X"), "a dot inside a set does not split");
    assert!(allows("api:call:Lab`.Admin*", "Lab.Admin.X"), "nor does an escaped dot");
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
    sec.update_settings_json(
        r#"{"RequireAuthentication":true,"AllowedModules":["LabRunner"],"DefaultTokenExpirationMinutes":120}"#,
    )
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
    assert!(matches!(sec.revoke_id("00000000-0000-0000-0000-000000000001"), Err(SecurityError::TokenNotFound { .. })));
    // An id that is not a GUID is a bad argument, named, not an unknown token.
    let err = sec.revoke_id("nope").unwrap_err();
    assert!(matches!(err, SecurityError::Invalid(_)) && err.to_string().contains("'nope'"), "{err}");
    let c = sec.create_token(TokenRequest::new("ConfigCore", ["api:call"])).unwrap();
    sec.revoke_id(&b.info.token_id.to_uppercase()).unwrap();
    assert!(sec.verify(b.token.expose()).is_err());
    assert_eq!(sec.revoke_all(), 1);
    assert!(sec.verify(c.token.expose()).is_err());
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

/// A scope's pattern is held to what the names it matches may be: no control characters, and
/// no longer than a Module.Operation of two 256-character names. The error names the scope.
#[test]
fn scopes_with_control_characters_or_overlong_patterns_are_refused_naming_them() {
    let clock = Arc::new(ManualClock::new(0));
    let sec = Security::new(clock);
    let long = format!("api:call:{}", "x".repeat(100_000));
    for (scope, shown) in [
        ("api:call:a\0b", "api:call:a\\0b"),
        ("api:call:a\nb", "api:call:a\\nb"),
        ("events:publish:x\ty", "events:publish:x\\ty"),
        (long.as_str(), "api:call:xxx"),
    ] {
        let e = match sec.create_token(TokenRequest::new("M", [scope])) {
            Err(SecurityError::Invalid(e)) => e.to_string(),
            other => panic!("{shown}: expected InvalidArgument, got {other:?}"),
        };
        assert!(e.starts_with(&format!("invalid scope '{shown}")), "{e}");
        assert!(e.len() < 1_000, "the error shows the start of a long scope only: {} bytes", e.len());
    }
    assert!(sec.tokens(None).unwrap().is_empty());
    let longest = format!("api:call:{}.{}", "m".repeat(256), "o".repeat(256));
    assert!(sec.create_token(TokenRequest::new("M", [longest.as_str()])).is_ok(), "513 characters are allowed");
    let too_long = format!("api:call:{}.{}", "m".repeat(257), "o".repeat(256));
    assert!(sec.create_token(TokenRequest::new("M", [too_long.as_str()])).is_err(), "514 characters are not");
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

/// The security check comes before the API is looked up: without a valid token a missing API
/// reads like a refused one, so a caller cannot probe which APIs exist.
#[test]
fn a_call_of_an_unregistered_api_is_checked_before_it_is_not_found() {
    use module_communication::registry::{ApiErrorCategory, InvokeRequest};
    let hub = Hub::new();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let call = |token: Option<&str>| {
        let req = InvokeRequest::new("Lab", "Nope");
        let req = match token {
            Some(t) => req.authentication_token(t),
            None => req,
        };
        hub.registry().invoke(req).unwrap_err().category
    };
    assert_eq!(call(None), ApiErrorCategory::Authentication);
    assert_eq!(call(Some("mct_forged")), ApiErrorCategory::Authentication);
    let other = hub.security().create_token(TokenRequest::new("Caller", ["api:call:Other.*"])).unwrap();
    assert_eq!(call(Some(other.token.expose())), ApiErrorCategory::Authorization);
    let lab = hub.security().create_token(TokenRequest::new("Caller", ["api:call:Lab.*"])).unwrap();
    assert_eq!(call(Some(lab.token.expose())), ApiErrorCategory::NotFound);
    assert_eq!(hub.security().stats().authentication_failures, 2);
}

/// A refusal reads the same for a registered API as for a missing one: security comes before
/// the depth check (whose error names the API as registered), and names the API as the caller
/// spelled it.
#[test]
fn a_refusal_does_not_tell_a_registered_api_from_a_missing_one() {
    use module_communication::registry::{ApiDefinition, ApiError, Call, InvokeRequest};
    let hub = Hub::new();
    hub.registry()
        .register(ApiDefinition::new("LabRunner", "ExecuteStep"), |_: &Call| {
            Ok(module_communication::registry::null_result())
        })
        .unwrap();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let other = hub.security().create_token(TokenRequest::new("Caller", ["api:call:Other.*"])).unwrap();
    let call = |operation: &str, depth: u32, token: Option<&str>| -> Result<(), ApiError> {
        let mut req = serde_json::json!({ "module": "labrunner", "operation": operation, "depth": depth });
        if let Some(t) = token {
            req["authenticationToken"] = t.into();
        }
        hub.registry().invoke(InvokeRequest::from_json(&req.to_string()).unwrap()).map(drop)
    };
    for token in [None, Some(other.token.expose())] {
        for depth in [0, 40] {
            let registered = call("executestep", depth, token).unwrap_err();
            let missing = call("nosuchop", depth, token).unwrap_err();
            assert_eq!(registered.category, missing.category, "depth {depth}: {registered:?} / {missing:?}");
            assert!(registered.message.contains("'labrunner.executestep'"), "{}", registered.message);
            let same = |e: &ApiError, op: &str| e.message.replace(op, "OP");
            assert_eq!(same(&registered, "executestep"), same(&missing, "nosuchop"), "depth {depth}");
        }
    }
    // Scopes compare names case-insensitively: a caller allowed the API still reaches it.
    let lab = hub.security().create_token(TokenRequest::new("Caller", ["api:call:LabRunner.*"])).unwrap();
    call("executestep", 0, Some(lab.token.expose())).unwrap();
    let too_deep = call("executestep", 40, Some(lab.token.expose())).unwrap_err();
    assert_eq!(too_deep.category, module_communication::registry::ApiErrorCategory::CallDepthExceeded);
}

#[test]
fn checking_parameters_without_a_call_needs_the_token_a_call_would() {
    use module_communication::registry::{ApiDefinition, ApiErrorCategory, Call, InvokeRequest, Schema};
    let hub = Hub::new();
    let schema = Schema::from_json(r#"{"X":{"type":"int","required":true}}"#).unwrap();
    hub.registry()
        .register(ApiDefinition::new("Lab", "Run").parameters(schema), |_: &Call| Ok(module_communication::registry::null_result()))
        .unwrap();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let validate = |token: Option<&str>| {
        let req = InvokeRequest::new("Lab", "Run").parameters_json(r#"{"X":"abc"}"#).unwrap();
        let req = match token {
            Some(t) => req.authentication_token(t),
            None => req,
        };
        hub.registry().validate(&req)
    };
    // Without the token nothing about the parameters is told.
    let e = validate(None).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::Authentication);
    assert!(!e.message.contains('X'), "{}", e.message);
    let other = hub.security().create_token(TokenRequest::new("Caller", ["api:call:Other.*"])).unwrap();
    assert_eq!(validate(Some(other.token.expose())).unwrap_err().category, ApiErrorCategory::Authorization);
    let lab = hub.security().create_token(TokenRequest::new("Caller", ["api:call:Lab.*"])).unwrap();
    let report = validate(Some(lab.token.expose())).unwrap();
    assert!(!report.valid);
    assert_eq!(report.errors[0].parameter, "X");
}

// ----- guarded hub operations -------------------------------------------------------------

mod hub_guards {
    use std::time::Duration;

    use module_communication::security::TokenRequest;
    use module_communication::{Error, Hub, PublishRequest, SubscriptionOptions};
    use module_communication::{EventRequest, EventSubscriptionOptions};

    fn secured_hub() -> (Hub, String, String) {
        let hub = Hub::new();
        hub.update_config_json(
            r#"{"security":{"requireAuthentication":true,"allowedModules":["LabRunner","Backup"]}}"#,
        )
        .unwrap();
        hub.create_channel("Configuration", None, 0).unwrap();
        let sec = hub.security();
        let all = sec
            .create_token(TokenRequest::new(
                "LabRunner",
                ["messages:publish", "messages:subscribe", "events:publish", "events:subscribe"],
            ))
            .unwrap();
        let narrow = sec.create_token(TokenRequest::new("Backup", ["messages:subscribe:Config*"])).unwrap();
        (hub, all.token.expose().to_owned(), narrow.token.expose().to_owned())
    }

    fn is_authn<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::AuthenticationFailed { .. }))
    }

    fn is_authz<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
        matches!(r, Err(Error::AuthorizationFailed { .. }))
    }

    #[test]
    fn the_metrics_count_each_refusal_once_as_security_does_and_a_token_check_is_no_refusal() {
        let (hub, all, _) = secured_hub();
        hub.registry()
            .register(module_communication::registry::ApiDefinition::new("LabRunner", "Op"), |_: &module_communication::registry::Call| {
                Ok(module_communication::registry::json_value("1").unwrap())
            })
            .unwrap();
        assert!(is_authn(hub.publish(PublishRequest::new("Configuration", "Changed"))));
        let call = module_communication::registry::InvokeRequest::new("LabRunner", "Op").authentication_token(all.clone());
        hub.registry().invoke(call).unwrap_err(); // the token has no api:call scope
        assert!(hub.security().verify("mct_nope").is_err());
        let stats = hub.security().stats();
        assert_eq!((stats.authentication_failures, stats.authorization_failures), (1, 1));
        let m = hub.metrics(&module_communication::MetricsOptions::default()).unwrap();
        assert_eq!(m.security.auth_failures, 2);
    }

    #[test]
    fn a_broadcast_needs_messages_publish_on_every_channel_it_reaches_even_from_a_private_channel() {
        let (hub, all, _) = secured_hub();
        let private = "__ModuleCommunication.x";
        // Without a token: refused, although the event names a private channel.
        let req = EventRequest::new("ModuleShutdown").channel(private).broadcast(true);
        assert!(is_authn(hub.publish_event(req)));
        // Staying on the private channel: allowed, as the self-tests need.
        hub.publish_event(EventRequest::new("SelfTest.E").channel(private)).unwrap();
        // A token that may publish events but not messages cannot reach message channels.
        let events_only = hub
            .security()
            .create_token(TokenRequest::new("LabRunner", ["events:publish"]))
            .unwrap();
        let req = EventRequest::new("Ping").broadcast(true).authentication_token(events_only.token.expose());
        assert!(is_authz(hub.publish_event(req)));
        let req = EventRequest::new("Ping").broadcast(true).authentication_token(all.as_str());
        hub.publish_event(req).unwrap();
    }

    #[test]
    fn events_of_a_private_channel_reach_only_a_query_or_replay_naming_it_exactly() {
        let (hub, _, _) = secured_hub();
        let private = "__ModuleCommunication.SelfTest.Events";
        hub.publish_event(EventRequest::new("SelfTest.E").channel(private)).unwrap();
        let all = module_communication::EventQuery::default();
        assert!(hub.events(&all).unwrap().is_empty(), "not listed to a query without its channel");
        let exact = module_communication::EventQuery { channel: Some(private.into()), ..Default::default() };
        assert_eq!(hub.events(&exact).unwrap().len(), 1);
        hub.update_config_json(r#"{"security":{"enabled":false,"requireAuthentication":false}}"#).unwrap();
        let wildcard = hub.subscribe_events_pull(EventSubscriptionOptions::new("*").replay_last(10), None).unwrap();
        assert!(hub.take(wildcard, 10, Duration::ZERO).unwrap().is_empty(), "no replay to a pattern");
        let named = hub.subscribe_events_pull(EventSubscriptionOptions::new("*").channel(private).replay_last(10), None).unwrap();
        assert_eq!(hub.take(named, 10, Duration::ZERO).unwrap().len(), 1);
    }

    #[test]
    fn publishing_messages_needs_a_token_with_the_scope_and_the_right_module() {
        let (hub, all, narrow) = secured_hub();
        let msg = || PublishRequest::new("Configuration", "Changed");
        assert!(is_authn(hub.publish(msg())));
        assert!(is_authn(hub.publish(msg().authentication_token("mct_nope"))));
        assert!(is_authz(hub.publish(msg().authentication_token(narrow.clone()))));
        assert!(is_authz(hub.publish(msg().authentication_token(all.clone()).source_module("Backup"))));
        hub.publish(msg().authentication_token(all.clone()).source_module("LabRunner")).unwrap();
        let json = format!(r#"{{"channel":"Configuration","messageType":"Changed","authenticationToken":"{all}"}}"#);
        hub.publish_json(&json).unwrap();
        assert!(is_authn(hub.publish_json(r#"{"channel":"Configuration","messageType":"Changed"}"#)));
        assert_eq!(hub.channels(None).unwrap()[0].published, 2, "refused messages were not published");
    }

    #[test]
    fn subscribing_checks_the_channel_pattern_against_the_scope() {
        let (hub, all, narrow) = secured_hub();
        assert!(is_authn(hub.subscribe_pull(SubscriptionOptions::new("Configuration"), None)));
        hub.subscribe_pull(SubscriptionOptions::new("Configuration").authentication_token(narrow.clone()), None)
            .unwrap();
        hub.subscribe_pull(SubscriptionOptions::new("Config*").authentication_token(narrow.clone()), None).unwrap();
        assert!(is_authz(hub.subscribe_pull(SubscriptionOptions::new("*").authentication_token(narrow.clone()), None)));
        hub.subscribe_push(SubscriptionOptions::new("*").authentication_token(all), |_| true).unwrap();
        assert_eq!(hub.subscriptions(None).unwrap().len(), 3);
    }

    #[test]
    fn events_are_guarded_on_publish_and_subscribe() {
        let (hub, all, narrow) = secured_hub();
        assert!(is_authn(hub.publish_event(EventRequest::new("ModuleInitialized"))));
        assert!(is_authz(
            hub.publish_event(EventRequest::new("ModuleInitialized").authentication_token(narrow.clone()))
        ));
        let id = hub.publish_event(EventRequest::new("ModuleInitialized").authentication_token(all.clone())).unwrap();
        hub.wait_delivered(id, Duration::from_secs(5)).unwrap();
        assert!(is_authn(hub.subscribe_events_pull(EventSubscriptionOptions::new("Module*"), None)));
        assert!(is_authz(
            hub.subscribe_events_pull(EventSubscriptionOptions::new("Module*").authentication_token(narrow), None)
        ));
        hub.subscribe_events_pull(EventSubscriptionOptions::new("Module*").authentication_token(all.clone()), None)
            .unwrap();
        let json = format!(r#"{{"name":"ModuleInitialized","authenticationToken":"{all}"}}"#);
        hub.publish_event_json(&json).unwrap();
        let history = format!("{:?}", hub.events(&Default::default()).unwrap());
        assert!(!history.contains(&all[4..]), "the token is never stored with the event");
    }

    #[test]
    fn security_off_ignores_tokens_entirely() {
        let hub = Hub::new();
        hub.create_channel("C", None, 0).unwrap();
        hub.publish(PublishRequest::new("C", "T").authentication_token("anything")).unwrap();
        hub.subscribe_pull(SubscriptionOptions::new("C").authentication_token("anything"), None).unwrap();
    }
}

#[test]
fn nested_configuration_changes_retry_breaker_and_security_all_or_nothing() {
    let hub = Hub::new();
    hub.update_config_json(
        r#"{"MaxEventHistory":2000,"RetryPolicy":{"MaxRetries":5,"RetryDelayMs":500,"BackoffMultiplier":1.5},
            "CircuitBreaker":{"FailureThreshold":10,"RecoveryTimeoutMs":30000},
            "Security":{"DefaultTokenExpirationMinutes":120,"RequireAuthentication":false,"AllowedModules":[]}}"#,
    )
    .unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&hub.config_json()).unwrap();
    assert_eq!(cfg["maxEventHistory"], 2000);
    assert_eq!(cfg["retryPolicy"]["maxRetries"], 5);
    assert_eq!(cfg["retryPolicy"]["backoffMultiplier"], 1.5);
    assert_eq!(cfg["circuitBreaker"]["failureThreshold"], 10);
    assert_eq!(cfg["circuitBreaker"]["recoveryTimeoutMs"], 30_000);
    assert_eq!(cfg["security"]["defaultTokenExpirationMinutes"], 120);
    assert_eq!(cfg["security"]["enabled"], false);

    for bad in [
        r#"{"maxEventHistory":5,"retryPolicy":{"maxRetries":-1}}"#,
        r#"{"maxEventHistory":5,"circuitBreaker":{"failureRatio":2}}"#,
        r#"{"maxEventHistory":5,"security":{"allowedModules":"[x"}}"#,
        r#"{"retryPolicy":{"maxRetries":1},"bogus":1}"#,
        r#"{"retryPolicy":3}"#,
    ] {
        assert!(hub.update_config_json(bad).is_err(), "{bad}");
    }
    let after: serde_json::Value = serde_json::from_str(&hub.config_json()).unwrap();
    assert_eq!(after, cfg, "rejected updates changed nothing");
}

#[test]
fn the_health_check_passes_while_security_requires_tokens_and_counts_no_failure() {
    let hub = Hub::new();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let report = hub.health(&module_communication::HealthOptions { check_health: true, timeout_ms: Some(5_000) });
    let messaging = report.health_checks.iter().find(|c| c.name == "MessagingTest").unwrap();
    assert!(messaging.success, "{}", messaging.details);
    assert!(report.issues.is_empty(), "{:?}", report.issues);
    assert_eq!(hub.security().stats().authentication_failures, 0);
}

#[test]
fn private_channels_are_outside_the_security_check_and_public_ones_are_not() {
    use module_communication::{EventRequest, EventSubscriptionOptions, PublishRequest, SubscriptionOptions};
    let hub = Hub::new();
    hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
    let private = "__ModuleCommunication.SelfTest.X";
    hub.create_channel(private, None, 0).unwrap();
    hub.subscribe_pull(SubscriptionOptions::new(private), None).unwrap();
    hub.publish(PublishRequest::new(private, "T")).unwrap();
    hub.subscribe_events_pull(EventSubscriptionOptions::new("SelfTest.E").channel(private), None).unwrap();
    hub.publish_event(EventRequest::new("SelfTest.E").channel(private)).unwrap();
    assert_eq!(hub.security().stats().authentication_failures, 0);

    hub.create_channel("Public", None, 0).unwrap();
    assert!(hub.publish(PublishRequest::new("Public", "T")).is_err());
    assert!(hub.subscribe_pull(SubscriptionOptions::new("Public"), None).is_err());
    assert!(hub.publish_event(EventRequest::new("E")).is_err());
    assert_eq!(hub.security().stats().authentication_failures, 3);
}

#[test]
fn settings_objects_refuse_a_key_given_twice_in_any_case() {
    use module_communication::resilience::{BreakerOptions, RetryPolicy};
    let twice = |r: Result<(), module_communication::Error>| {
        let err = r.unwrap_err();
        assert!(err.to_string().contains("given twice"), "{err}");
    };
    let security = r#"{"defaultTokenExpirationMinutes":5,"DefaultTokenExpirationMinutes":7}"#;
    twice(SecuritySettings::default().merged_with_json(security).map(drop));
    twice(RetryPolicy::default().merged_with_json(r#"{"maxRetries":1,"maxRetries":2}"#).map(drop));
    twice(BreakerOptions::default().merged_with_json(r#"{"failureThreshold":1,"FailureThreshold":2}"#).map(drop));
}

#[test]
fn the_allowed_counter_counts_each_passed_check_once_and_no_refusal() {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let sec = secured(&clock);
    let token = sec.create_token(TokenRequest::new("LabRunner", ["api:call"])).unwrap().token.expose().to_owned();
    sec.authorize(Some(&token), Action::ApiCall, "LabRunner.Op", None).unwrap();
    sec.authorize(None, Action::ApiCall, "LabRunner.Op", None).unwrap_err();
    sec.authorize(Some(&token), Action::EventsPublish, "X", None).unwrap_err();
    assert_eq!(sec.stats().allowed, 1);
    // Without RequireAuthentication a call without a token passes the check, and counts.
    let mut s = sec.settings();
    s.require_authentication = false;
    sec.set_settings(s).unwrap();
    sec.authorize(None, Action::ApiCall, "LabRunner.Op", None).unwrap();
    let stats = sec.stats();
    assert_eq!((stats.allowed, stats.authentication_failures, stats.authorization_failures), (2, 1, 1));
}
