//! The API registry: schema validation, the pipeline (ordering, short-circuit, context
//! flow), timeouts, re-entrant calls and the depth limit, registration rules.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use module_communication::registry::{
    ApiDefinition, ApiError, ApiErrorCategory, ApiHandler, Call, InvokeRequest, Json, MiddlewareDefinition, Next,
    RegistryError, Schema, MAX_CALL_DEPTH,
};
use module_communication::Hub;

fn json(text: &str) -> Json {
    module_communication::registry::json_value(text).unwrap()
}

/// A handler that returns its parameters object.
fn echo(call: &Call) -> Result<Json, ApiError> {
    Ok(json(&call.parameters_json()))
}

fn request(module: &str, operation: &str, params: &str) -> InvokeRequest {
    InvokeRequest::new(module, operation).parameters_json(params).unwrap()
}

fn hub_with_schema(schema: &str) -> Hub {
    let hub = Hub::new();
    let def = ApiDefinition::new("Lab", "Run").parameters(Schema::from_json(schema).unwrap());
    hub.registry().register(def, echo).unwrap();
    hub
}

// ----- schema validation -----------------------------------------------------------------------

#[test]
fn a_token_given_as_a_parameter_value_never_comes_back_in_an_error_metrics_or_trace() {
    let hub = hub_with_schema(r#"{"Code":{"type":"string","pattern":"^\\d+$"}}"#);
    hub.enable_tracing(module_communication::TraceOptions::default()).unwrap();
    let token = hub
        .security()
        .create_token(module_communication::security::TokenRequest::new("Lab", ["api:call"]))
        .unwrap();
    let secret = token.token.expose().to_owned();
    let params = serde_json::json!({ "Code": secret }).to_string();
    let e = hub.registry().invoke(request("Lab", "Run", &params)).unwrap_err();
    assert!(!e.message.contains(&secret) && e.message.contains("mct_***"), "{}", e.message);
    assert!(e.parameters.iter().all(|p| !p.message.contains(&secret)));
    let report = hub.registry().validate(&request("Lab", "Run", &params)).unwrap();
    assert!(report.errors.iter().all(|p| !p.message.contains(&secret)));
    let metrics = serde_json::to_string(&hub.metrics(&module_communication::MetricsOptions::default()).unwrap()).unwrap();
    assert!(!metrics.contains(&secret));
    assert!(!hub.trace_records_json(None).contains(&secret));
}

#[test]
fn each_type_accepts_its_values_and_rejects_others_naming_the_parameter() {
    // (type, accepted JSON values, rejected JSON values)
    let table: &[(&str, &[&str], &[&str])] = &[
        ("string", &[r#""x""#, r#""""#], &["1", "true", "{}", "[]"]),
        ("int", &["0", "-2147483648", "2147483647"], &["2147483648", "1.5", "1.0", r#""5""#, "true", "[]"]),
        ("long", &["0", "9223372036854775807", "-9223372036854775808"], &["9223372036854775808", "2.5", r#""5""#]),
        ("double", &["1", "1.5", "-1e300", "9223372036854775808"], &[r#""1.5""#, "true", "{}"]),
        ("bool", &["true", "false"], &["0", r#""true""#, "[]"]),
        ("hashtable", &["{}", r#"{"a":{"b":1}}"#], &["[]", r#""{}""#, "1"]),
        ("array", &["[]", r#"[1,"a",{}]"#], &["{}", r#""a""#, "1"]),
        (
            "datetime",
            &[r#""2026-11-27""#, r#""2026-11-27T06:00:00Z""#, r#""2026-11-27T06:00:00.123+01:00""#],
            &[r#""tomorrow""#, r#""2026-02-30""#, "1", "{}"],
        ),
        ("object", &["1", r#""x""#, "{}", "[]", "true"], &[]),
    ];
    for (ty, good, bad) in table {
        let hub = hub_with_schema(&format!(r#"{{"Value":{{"type":"{ty}"}}}}"#));
        for v in *good {
            let r = hub.registry().invoke(request("Lab", "Run", &format!(r#"{{"Value":{v}}}"#)));
            assert!(r.is_ok(), "{ty} should accept {v}: {r:?}");
        }
        for v in *bad {
            let e = hub.registry().invoke(request("Lab", "Run", &format!(r#"{{"Value":{v}}}"#))).unwrap_err();
            assert_eq!(e.category, ApiErrorCategory::Validation, "{ty} with {v}");
            assert_eq!(e.parameters.len(), 1, "{ty} with {v}: {e:?}");
            assert_eq!(e.parameters[0].parameter, "Value");
            assert!(e.message.contains("Value: expected a"), "{ty} with {v}: {}", e.message);
        }
    }
}

#[test]
fn null_passes_an_optional_parameter_but_not_a_required_one() {
    let hub = hub_with_schema(r#"{"A":{"type":"int"},"B":{"type":"string","required":true}}"#);
    assert!(hub.registry().invoke(request("Lab", "Run", r#"{"A":null,"B":"x"}"#)).is_ok());
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"B":null}"#)).unwrap_err();
    assert!(e.message.contains("B: required, but null was given"), "{}", e.message);
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"B":""}"#)).unwrap_err();
    assert!(e.message.contains("B: required, but an empty string was given"), "{}", e.message);
}

#[test]
fn a_missing_required_parameter_is_named_with_its_type_and_description_and_the_handler_never_runs() {
    let hub = Hub::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    let schema = Schema::from_json(
        r#"{"StepName":{"Type":"string","Required":true,"Description":"Name of the step to execute"},
            "Parameters":{"Type":"hashtable","Required":false}}"#,
    )
    .unwrap();
    hub.registry()
        .register(ApiDefinition::new("LabRunner", "ExecuteStep").parameters(schema), move |_: &Call| {
            seen.fetch_add(1, Ordering::SeqCst);
            Ok(json("null"))
        })
        .unwrap();
    let e = hub.registry().invoke(request("LabRunner", "ExecuteStep", r#"{"Parameters":{}}"#)).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::Validation);
    assert!(
        e.message.contains("StepName: required, but not given (string: Name of the step to execute)"),
        "{}",
        e.message
    );
    assert!(e.message.contains("LabRunner.ExecuteStep"), "{}", e.message);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn an_unknown_parameter_is_named_and_the_known_ones_listed() {
    let hub = hub_with_schema(r#"{"StepName":{"type":"string"},"Parameters":{"type":"hashtable"}}"#);
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"StepNam":"x"}"#)).unwrap_err();
    assert_eq!(e.parameters[0].parameter, "StepNam");
    assert!(
        e.message.contains("StepNam: not a parameter of Lab.Run (its parameters are StepName, Parameters)"),
        "{}",
        e.message
    );
    let hub = hub_with_schema("{}");
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"X":1}"#)).unwrap_err();
    assert!(e.message.contains("it takes no parameters"), "{}", e.message);
}

#[test]
fn every_problem_is_reported_at_once_in_schema_order_unknown_last() {
    let hub = hub_with_schema(
        r#"{"A":{"type":"int","required":true},"B":{"type":"bool"},"C":{"type":"string","required":true}}"#,
    );
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"Zed":1,"B":"no"}"#)).unwrap_err();
    let names: Vec<_> = e.parameters.iter().map(|p| p.parameter.as_str()).collect();
    assert_eq!(names, ["A", "B", "C", "Zed"]);
}

#[test]
fn names_compare_case_insensitively_and_reach_the_handler_as_the_schema_spells_them() {
    let hub = hub_with_schema(r#"{"StepName":{"type":"string"},"When":{"type":"datetime"}}"#);
    let r = hub.registry().invoke(
        InvokeRequest::from_json(
            r#"{"module":"lab","operation":"RUN","parameters":{"when":"2026-01-01T00:00:00Z","stepname":"x"},
                "typeHints":[[["when"],"datetime"]]}"#,
        )
        .unwrap(),
    );
    assert_eq!(r.unwrap().get(), r#"{"StepName":"x","When":"2026-01-01T00:00:00Z"}"#);
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"stepname":"x","STEPNAME":"y"}"#)).unwrap_err();
    assert!(e.message.contains("given twice"), "{}", e.message);
}

#[test]
fn a_value_marked_as_a_datetime_is_not_a_string() {
    let hub = hub_with_schema(r#"{"Name":{"type":"string"}}"#);
    let req = InvokeRequest::from_json(
        r#"{"module":"Lab","operation":"Run","parameters":{"Name":"2026-01-01T00:00:00Z"},"typeHints":[[["Name"],"datetime"]]}"#,
    )
    .unwrap();
    let e = hub.registry().invoke(req).unwrap_err();
    assert!(e.message.contains("expected a string, got the datetime"), "{}", e.message);
}

#[test]
fn a_default_fills_in_a_missing_parameter_but_not_an_explicit_null() {
    let hub = hub_with_schema(r#"{"Mode":{"type":"string","default":"Quick"},"N":{"type":"int","default":3}}"#);
    assert_eq!(hub.registry().invoke(request("Lab", "Run", "{}")).unwrap().get(), r#"{"Mode":"Quick","N":3}"#);
    assert_eq!(
        hub.registry().invoke(request("Lab", "Run", r#"{"N":null}"#)).unwrap().get(),
        r#"{"Mode":"Quick","N":null}"#
    );
}

#[test]
fn validate_set_compares_text_case_insensitively_and_checks_every_array_element() {
    let hub = hub_with_schema(
        r#"{"Mode":{"type":"string","validateSet":["Quick","Full"]},"Ids":{"type":"array","validateSet":[1,2,3]}}"#,
    );
    assert!(hub.registry().invoke(request("Lab", "Run", r#"{"Mode":"quick","Ids":[1,3]}"#)).is_ok());
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"Mode":"Fast"}"#)).unwrap_err();
    assert!(
        e.message.contains("Mode: the string 'Fast' is not one of the allowed values ('Quick', 'Full')"),
        "{}",
        e.message
    );
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"Ids":[1,4]}"#)).unwrap_err();
    assert_eq!(e.parameters[0].parameter, "Ids");
}

#[test]
fn pattern_is_searched_case_insensitively_like_validate_pattern() {
    let hub = hub_with_schema(
        r#"{"Name":{"type":"string","pattern":"^vm-[0-9]+$"},"Tags":{"type":"array","pattern":"^[a-z]+$"}}"#,
    );
    assert!(hub.registry().invoke(request("Lab", "Run", r#"{"Name":"VM-12","Tags":["a","B"]}"#)).is_ok());
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"Name":"host-1"}"#)).unwrap_err();
    assert!(e.message.contains("Name: 'host-1' does not match the pattern '^vm-[0-9]+$'"), "{}", e.message);
    let e = hub.registry().invoke(request("Lab", "Run", r#"{"Tags":["ok","no 1"]}"#)).unwrap_err();
    assert!(e.message.contains("'no 1' does not match"), "{}", e.message);
}

#[test]
fn a_bad_schema_is_refused_naming_the_parameter_and_key() {
    let cases = [
        (r#"{"A":{"type":"float"}}"#, "unknown type"),
        (r#"{"A":{"type":"string","colour":"red"}}"#, "'colour'"),
        (r#"{"A":{"type":"string","required":"yes"}}"#, "Required of parameter 'A' 'yes': use a boolean"),
        (r#"{"A":{"type":"string","colour":"red"}}"#, "the keys are Type, Required,"),
        (r#"{"A":{"type":"string","required":true,"default":"x"}}"#, "default would never apply"),
        (r#"{"A":{"type":"int","default":"x"}}"#, "invalid Default of parameter 'A' 'x': the default must itself be valid"),
        (r#"{"A":{"type":"int","validateSet":["C:\\Temp"]}}"#, "invalid ValidateSet of parameter 'A' 'C:\\Temp'"),
        (r#"{"A":{"type":"int","validateSet":["x"]}}"#, "every allowed value must itself be valid"),
        (r#"{"A":{"type":"string","validateSet":[]}}"#, "non-empty list"),
        (r#"{"A":{"type":"string","pattern":"(?<=x)y"}}"#, "not a valid regular expression"),
        (r#"{"A":{"type":"bool","pattern":"x"}}"#, "a bool parameter cannot have one"),
        (r#"{"A":{"type":"string"},"a":{"type":"int"}}"#, "declares it twice"),
        (r#"{"1A":{"type":"string"}}"#, "starting with a letter"),
        (r#"{"A":"string"}"#, "describe each parameter with an object"),
        (r#"[1]"#, "expected a JSON object"),
    ];
    for (schema, fragment) in cases {
        let e = Schema::from_json(schema).unwrap_err();
        assert!(e.to_string().contains(fragment), "{schema}: {e}");
    }
}

#[test]
fn an_api_without_a_schema_takes_any_parameters_unvalidated() {
    let hub = Hub::new();
    hub.registry().register(ApiDefinition::new("ConfigurationCore", "NotifyChange"), echo).unwrap();
    let r = hub.registry().invoke(request("ConfigurationCore", "NotifyChange", r#"{"ModuleName":"X","NewValue":10}"#));
    assert_eq!(r.unwrap().get(), r#"{"ModuleName":"X","NewValue":10}"#);
}

#[test]
fn validate_reports_without_calling_the_handler() {
    let hub = hub_with_schema(r#"{"A":{"type":"int","required":true}}"#);
    let report = hub.registry().validate(&request("Lab", "Run", r#"{"A":"x"}"#)).unwrap();
    assert!(!report.valid);
    assert_eq!(report.errors[0].parameter, "A");
    assert_eq!(hub.registry().api("Lab", "Run").unwrap().calls, 0);
    assert!(hub.registry().validate(&request("Lab", "Run", r#"{"A":1}"#)).unwrap().valid);
    assert_eq!(hub.registry().validate(&request("No", "Such", "{}")).unwrap_err().category, ApiErrorCategory::NotFound);
}

// ----- the pipeline ------------------------------------------------------------------------------

type Log = Arc<Mutex<Vec<String>>>;

fn logging(log: &Log, name: &'static str) -> impl Fn(&Call, &Next) -> Result<Json, ApiError> + Send + Sync + 'static {
    let log = Arc::clone(log);
    move |_: &Call, next: &Next| {
        log.lock().unwrap().push(format!("{name}>"));
        let r = next.run();
        log.lock().unwrap().push(format!("<{name}"));
        r
    }
}

#[test]
fn lower_priority_runs_outer_and_ties_keep_registration_order() {
    let hub = Hub::new();
    let log: Log = Arc::default();
    let l = Arc::clone(&log);
    hub.registry()
        .register(ApiDefinition::new("M", "Op"), move |_: &Call| {
            l.lock().unwrap().push("handler".into());
            Ok(json("1"))
        })
        .unwrap();
    let reg = hub.registry();
    reg.add_middleware(MiddlewareDefinition::new("b20").priority(20), logging(&log, "b20")).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("a10").priority(10), logging(&log, "a10")).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("c20").priority(20), logging(&log, "c20")).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("api5").priority(5).for_api("m", "op"), logging(&log, "api5"))
        .unwrap();
    assert_eq!(reg.invoke(InvokeRequest::new("M", "Op")).unwrap().get(), "1");
    assert_eq!(*log.lock().unwrap(), ["api5>", "a10>", "b20>", "c20>", "handler", "<c20", "<b20", "<a10", "<api5"]);
    let names: Vec<_> = reg.middleware(None).unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["api5", "a10", "b20", "c20"]);
    assert_eq!(reg.api("M", "Op").unwrap().middleware, ["api5", "a10", "b20", "c20"]);
}

#[test]
fn middleware_that_does_not_call_next_short_circuits_with_its_own_result() {
    let hub = Hub::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&ran);
    hub.registry()
        .register(
            ApiDefinition::new("M", "Op")
                .parameters(Schema::from_json(r#"{"A":{"type":"int","required":true}}"#).unwrap()),
            move |_: &Call| {
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(json("\"handler\""))
            },
        )
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("cache"), |_: &Call, _: &Next| Ok(json("\"cached\"")))
        .unwrap();
    // Validation runs inside the middleware, so a short-circuit skips it too.
    assert_eq!(hub.registry().invoke(InvokeRequest::new("M", "Op")).unwrap().get(), "\"cached\"");
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn a_failing_middleware_fails_the_call_with_its_error() {
    let hub = Hub::new();
    hub.registry().register(ApiDefinition::new("M", "Op"), echo).unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("auth"), |_: &Call, _: &Next| {
            Err(ApiError::new(ApiErrorCategory::Authentication, "Authentication required"))
        })
        .unwrap();
    let e = hub.registry().invoke(InvokeRequest::new("M", "Op")).unwrap_err();
    assert_eq!(e, ApiError::new(ApiErrorCategory::Authentication, "Authentication required"));
    assert_eq!(hub.registry().api("M", "Op").unwrap().last_error.as_deref(), Some("Authentication required"));
}

#[test]
fn metadata_set_by_middleware_reaches_later_stages_and_the_handler_and_flows_back_out() {
    let hub = Hub::new();
    hub.registry()
        .register(ApiDefinition::new("M", "Op"), |call: &Call| {
            let seen = call.metadata_json("trace").unwrap_or_default();
            call.set_metadata_json("handled", "true").unwrap();
            Ok(json(&format!(r#"{{"trace":{seen}}}"#)))
        })
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("outer").priority(1), |call: &Call, next: &Next| {
            call.set_metadata_json("Trace", r#"["outer"]"#).unwrap();
            let r = next.run()?;
            assert_eq!(
                call.metadata_json("HANDLED").as_deref(),
                Some("true"),
                "the handler's change is visible outside"
            );
            Ok(r)
        })
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("inner").priority(2), |call: &Call, next: &Next| {
            let t = call.metadata_json("trace").unwrap();
            call.set_metadata_json("trace", &t.replace(']', r#","inner"]"#)).unwrap();
            next.run()
        })
        .unwrap();
    assert_eq!(hub.registry().invoke(InvokeRequest::new("M", "Op")).unwrap().get(), r#"{"trace":["outer","inner"]}"#);
}

#[test]
fn middleware_may_change_the_parameters_before_validation() {
    let hub = hub_with_schema(r#"{"A":{"type":"int","required":true}}"#);
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("fill"), |call: &Call, next: &Next| {
            call.update_context_json(r#"{"parameters":{"a":7}}"#).unwrap();
            next.run()
        })
        .unwrap();
    assert_eq!(hub.registry().invoke(InvokeRequest::new("Lab", "Run")).unwrap().get(), r#"{"A":7}"#);
}

#[test]
fn next_may_run_the_rest_again() {
    let hub = Hub::new();
    let attempts = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&attempts);
    hub.registry()
        .register(ApiDefinition::new("M", "Flaky"), move |_: &Call| {
            if a.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ApiError::new(ApiErrorCategory::Unavailable, "busy"))
            } else {
                Ok(json("\"ok\""))
            }
        })
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("retry"), |_: &Call, next: &Next| next.run().or_else(|_| next.run()))
        .unwrap();
    assert_eq!(hub.registry().invoke(InvokeRequest::new("M", "Flaky")).unwrap().get(), "\"ok\"");
    assert_eq!(attempts.load(Ordering::SeqCst), 2);
}

#[test]
fn a_panicking_handler_fails_the_call_and_the_registry_still_works() {
    let hub = Hub::new();
    hub.registry()
        .register(ApiDefinition::new("M", "Boom"), |_: &Call| -> Result<Json, ApiError> { panic!("kaboom") })
        .unwrap();
    let e = hub.registry().invoke(InvokeRequest::new("M", "Boom")).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::HandlerFailed);
    assert!(e.message.contains("kaboom"), "{}", e.message);
    let info = hub.registry().api("M", "Boom").unwrap();
    assert_eq!((info.calls, info.failed, info.succeeded), (1, 1, 0));
}

#[test]
fn the_context_names_the_call() {
    let hub = Hub::new();
    hub.registry()
        .register(ApiDefinition::new("LabRunner", "ExecuteStep"), |call: &Call| Ok(json(&call.context_json())))
        .unwrap();
    let req = InvokeRequest::from_json(
        r#"{"module":"labrunner","operation":"executestep","parameters":{"X":1},"user":"alice","headers":{"H":"v"},"tag":42}"#,
    )
    .unwrap();
    let ctx: serde_json::Value = serde_json::from_str(hub.registry().invoke(req).unwrap().get()).unwrap();
    assert_eq!(ctx["apiKey"], "LabRunner.ExecuteStep");
    assert_eq!(ctx["module"], "LabRunner");
    assert_eq!(ctx["operation"], "ExecuteStep");
    assert_eq!(ctx["user"], "alice");
    assert_eq!(ctx["headers"]["H"], "v");
    assert_eq!(ctx["parameters"]["X"], 1);
    assert_eq!(ctx["tag"], 42);
    assert_eq!(ctx["depth"], 1);
    assert_eq!(ctx["requestId"].as_str().unwrap().len(), 36);
    assert!(ctx["startTime"].as_str().unwrap().ends_with('Z'));
}

// ----- not found, registration rules -------------------------------------------------------------

#[test]
fn an_unknown_api_is_not_found_with_a_remedy() {
    let hub = Hub::new();
    let e = hub.registry().invoke(InvokeRequest::new("No", "Such")).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::NotFound);
    assert!(e.message.contains("'No.Such' is not registered") && e.message.contains("Get-ModuleAPIs"), "{}", e.message);
}

#[test]
fn registering_an_existing_api_fails_unless_forced_which_replaces_it_and_its_own_middleware() {
    let hub = Hub::new();
    let reg = hub.registry();
    reg.register(ApiDefinition::new("M", "Op"), |_: &Call| Ok(json("1"))).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("mine").for_api("M", "Op"), |_: &Call, n: &Next| n.run()).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("global"), |_: &Call, n: &Next| n.run()).unwrap();
    let e = reg.register(ApiDefinition::new("m", "op"), |_: &Call| Ok(json("2"))).unwrap_err();
    assert_eq!(e, RegistryError::ApiExists { key: "M.Op".into() });
    assert!(e.to_string().contains("-Force"), "{e}");
    assert_eq!(reg.invoke(InvokeRequest::new("M", "Op")).unwrap().get(), "1", "the old API is untouched");
    reg.register(ApiDefinition::new("m", "op").force(true), |_: &Call| Ok(json("2"))).unwrap();
    assert_eq!(reg.invoke(InvokeRequest::new("M", "Op")).unwrap().get(), "2");
    let names: Vec<_> = reg.middleware(None).unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["global"]);
}

#[test]
fn unregistering_removes_the_api_and_its_own_middleware() {
    let hub = Hub::new();
    let reg = hub.registry();
    reg.register(ApiDefinition::new("M", "Op"), echo).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("mine").for_api("m", "op"), |_: &Call, n: &Next| n.run()).unwrap();
    assert_eq!(reg.unregister("m", "OP").unwrap(), 1);
    assert!(reg.apis(None, None).unwrap().is_empty());
    assert!(reg.middleware(None).unwrap().is_empty());
    assert_eq!(reg.unregister("M", "Op").unwrap_err(), RegistryError::ApiNotFound { key: "M.Op".into() });
    let e = reg
        .add_middleware(MiddlewareDefinition::new("x").for_api("M", "Op"), |_: &Call, n: &Next| n.run())
        .unwrap_err();
    assert!(matches!(e, RegistryError::ApiNotFound { .. }), "{e:?}");
}

#[test]
fn middleware_names_are_unique_and_force_replaces_keeping_the_place() {
    let hub = Hub::new();
    let reg = hub.registry();
    reg.add_middleware(MiddlewareDefinition::new("A").priority(1), |_: &Call, n: &Next| n.run()).unwrap();
    reg.add_middleware(MiddlewareDefinition::new("B").priority(1), |_: &Call, n: &Next| n.run()).unwrap();
    let e = reg.add_middleware(MiddlewareDefinition::new("a"), |_: &Call, n: &Next| n.run()).unwrap_err();
    assert_eq!(e, RegistryError::MiddlewareExists { name: "A".into() });
    reg.add_middleware(MiddlewareDefinition::new("a").priority(1).force(true), |_: &Call, n: &Next| n.run()).unwrap();
    let names: Vec<_> = reg.middleware(None).unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["a", "B"]);
    reg.remove_middleware("A").unwrap();
    assert!(matches!(reg.remove_middleware("A"), Err(RegistryError::MiddlewareNotFound { .. })));
}

#[test]
fn listing_filters_with_like_patterns_and_sorts() {
    let hub = Hub::new();
    let reg = hub.registry();
    for (m, o) in [("LabRunner", "Stop"), ("Backup", "Run"), ("LabRunner", "ExecuteStep"), ("Lab.Core", "Run")] {
        reg.register(ApiDefinition::new(m, o), echo).unwrap();
    }
    let keys =
        |m: Option<&str>, o: Option<&str>| reg.apis(m, o).unwrap().into_iter().map(|a| a.api_key).collect::<Vec<_>>();
    assert_eq!(keys(None, None), ["Backup.Run", "Lab.Core.Run", "LabRunner.ExecuteStep", "LabRunner.Stop"]);
    assert_eq!(keys(Some("lab*"), Some("*e*")), ["LabRunner.ExecuteStep"]);
    assert_eq!(keys(None, Some("run")), ["Backup.Run", "Lab.Core.Run"]);
    assert!(reg.apis(Some("[a"), None).is_err());
}

#[test]
fn names_are_checked() {
    let hub = Hub::new();
    for (m, o, fragment) in
        [("", "Op", "empty"), (" ", " ", "only spaces"), ("M", "a.b", "cannot contain '.'"), ("M*", "Op", "wildcard"), ("M", "O\n", "control")]
    {
        let e = hub.registry().register(ApiDefinition::new(m, o), echo).unwrap_err();
        assert!(e.to_string().contains(fragment), "{m:?}.{o:?}: {e}");
    }
}

// ----- timeouts ----------------------------------------------------------------------------------

/// A gate a handler waits on until the test opens it.
#[derive(Clone, Default)]
struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>);

impl Gate {
    fn wait(&self) {
        let (m, c) = &*self.0;
        let mut open = m.lock().unwrap();
        while !*open {
            open = c.wait(open).unwrap();
        }
    }
    fn open(&self) {
        let (m, c) = &*self.0;
        *m.lock().unwrap() = true;
        c.notify_all();
    }
}

#[test]
fn a_call_that_outlives_its_timeout_returns_timeout_in_time_while_the_handler_finishes_on_a_worker() {
    let hub = Hub::new();
    let gate = Gate::default();
    let finished = Arc::new(AtomicUsize::new(0));
    let (g, f) = (gate.clone(), Arc::clone(&finished));
    hub.registry()
        .register(ApiDefinition::new("M", "Slow"), move |_: &Call| {
            g.wait();
            f.fetch_add(1, Ordering::SeqCst);
            Ok(json("1"))
        })
        .unwrap();
    let started = Instant::now();
    // One attempt: a timeout is retryable, and this test is about the timeout alone.
    let req = InvokeRequest::new("M", "Slow").timeout(Duration::from_millis(100)).retry_attempts(0);
    let e = hub.registry().invoke(req).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.category, ApiErrorCategory::Timeout);
    assert!(e.message.contains("within its timeout of 100 ms"), "{}", e.message);
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(10), "{took:?}");
    assert_eq!(finished.load(Ordering::SeqCst), 0);
    gate.open();
    assert!(common::eventually(common::LONG, || finished.load(Ordering::SeqCst) == 1));
}

#[test]
fn the_api_default_timeout_applies_and_a_call_may_override_it() {
    let hub = Hub::new();
    let gate = Gate::default();
    let g = gate.clone();
    hub.registry()
        .register(ApiDefinition::new("M", "Slow").timeout(Duration::from_millis(50)), move |_: &Call| {
            g.wait();
            Ok(json("1"))
        })
        .unwrap();
    // One attempt: a timeout is retryable, and this test is about the timeout alone.
    let one_attempt = InvokeRequest::new("M", "Slow").retry_attempts(0);
    assert_eq!(hub.registry().invoke(one_attempt).unwrap_err().category, ApiErrorCategory::Timeout);
    gate.open();
    let ok = hub.registry().invoke(InvokeRequest::new("M", "Slow").timeout(Duration::from_secs(30)));
    assert_eq!(ok.unwrap().get(), "1");
}

struct CallerThreadHandler(Gate);

impl ApiHandler for CallerThreadHandler {
    fn call(&self, _: &Call) -> Result<Json, ApiError> {
        self.0.wait();
        Ok(json("1"))
    }
    fn any_thread(&self) -> bool {
        false
    }
}

#[test]
fn a_caller_thread_handler_runs_on_the_calling_thread_and_a_late_finish_is_a_timeout() {
    let hub = Hub::new();
    let gate = Gate::default();
    hub.registry().register(ApiDefinition::new("M", "Bound"), CallerThreadHandler(gate.clone())).unwrap();
    let opener = std::thread::spawn({
        let gate = gate.clone();
        move || {
            std::thread::sleep(Duration::from_millis(150));
            gate.open();
        }
    });
    let req = InvokeRequest::new("M", "Bound").timeout(Duration::from_millis(50)).retry_attempts(0);
    let e = hub.registry().invoke(req).unwrap_err();
    opener.join().unwrap();
    assert_eq!(e.category, ApiErrorCategory::Timeout);
    assert!(hub.registry().api("M", "Bound").unwrap().caller_thread);
}

#[test]
fn a_stage_that_starts_after_the_deadline_does_not_run() {
    let hub = Hub::new();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    hub.registry()
        .register(ApiDefinition::new("M", "Op"), move |_: &Call| {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(json("1"))
        })
        .unwrap();
    hub.registry()
        .add_middleware(MiddlewareDefinition::new("slow"), |call: &Call, next: &Next| {
            let left = call.remaining().unwrap();
            std::thread::sleep(left + Duration::from_millis(5));
            next.run()
        })
        .unwrap();
    let req = InvokeRequest::new("M", "Op").timeout(Duration::from_millis(20)).retry_attempts(0);
    let e = hub.registry().invoke(req).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::Timeout);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

// ----- re-entrant calls --------------------------------------------------------------------------

#[test]
fn a_handler_may_invoke_another_api_and_the_inner_call_knows_its_depth_and_parent() {
    let hub = Arc::new(Hub::new());
    let weak = Arc::downgrade(&hub);
    hub.registry()
        .register(ApiDefinition::new("M", "Inner"), |call: &Call| {
            Ok(json(&format!(r#"{{"depth":{},"parent":"{}"}}"#, call.depth(), call.parent().unwrap().api_key())))
        })
        .unwrap();
    hub.registry()
        .register(ApiDefinition::new("M", "Outer"), move |_: &Call| {
            let hub = weak.upgrade().unwrap();
            hub.registry().invoke(InvokeRequest::new("M", "Inner"))
        })
        .unwrap();
    assert_eq!(
        hub.registry().invoke(InvokeRequest::new("M", "Outer")).unwrap().get(),
        r#"{"depth":2,"parent":"M.Outer"}"#
    );
}

#[test]
fn unbounded_recursion_stops_at_the_depth_limit_with_a_clear_error() {
    let hub = Arc::new(Hub::new());
    let weak = Arc::downgrade(&hub);
    let deepest = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&deepest);
    hub.registry()
        .register(ApiDefinition::new("M", "Recurse"), move |call: &Call| {
            d.fetch_max(call.depth() as usize, Ordering::SeqCst);
            weak.upgrade().unwrap().registry().invoke(InvokeRequest::new("M", "Recurse"))
        })
        .unwrap();
    let e = hub.registry().invoke(InvokeRequest::new("M", "Recurse")).unwrap_err();
    assert_eq!(e.category, ApiErrorCategory::CallDepthExceeded);
    assert!(e.message.contains(&format!("more than the limit of {MAX_CALL_DEPTH}")), "{}", e.message);
    assert!(e.message.contains("called from M.Recurse ← M.Recurse"), "{}", e.message);
    assert_eq!(deepest.load(Ordering::SeqCst), MAX_CALL_DEPTH as usize);
    // The registry is fine afterwards.
    hub.registry().register(ApiDefinition::new("M", "Ok"), echo).unwrap();
    assert!(hub.registry().invoke(InvokeRequest::new("M", "Ok")).is_ok());
}

#[test]
fn a_handler_may_register_and_unregister_apis_without_deadlock() {
    let hub = Arc::new(Hub::new());
    let weak = Arc::downgrade(&hub);
    hub.registry()
        .register(ApiDefinition::new("M", "Admin"), move |_: &Call| {
            let hub = weak.upgrade().unwrap();
            hub.registry().register(ApiDefinition::new("M", "Temp").force(true), echo).unwrap();
            hub.registry().invoke(InvokeRequest::new("M", "Temp"))?;
            hub.registry().unregister("M", "Temp").unwrap();
            hub.registry().unregister("M", "Admin").unwrap();
            Ok(json("\"done\""))
        })
        .unwrap();
    assert_eq!(hub.registry().invoke(InvokeRequest::new("M", "Admin")).unwrap().get(), "\"done\"");
    assert!(hub.registry().apis(None, None).unwrap().is_empty());
}

#[test]
fn concurrent_calls_from_many_threads_all_succeed_and_are_counted() {
    let hub = Arc::new(hub_with_schema(r#"{"N":{"type":"int","required":true}}"#));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let hub = Arc::clone(&hub);
            std::thread::spawn(move || {
                for i in 0..500 {
                    let r =
                        hub.registry().invoke(request("Lab", "Run", &format!(r#"{{"N":{}}}"#, t * 1000 + i))).unwrap();
                    assert_eq!(r.get(), format!(r#"{{"N":{}}}"#, t * 1000 + i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let info = hub.registry().api("Lab", "Run").unwrap();
    assert_eq!((info.calls, info.succeeded, info.failed), (2000, 2000, 0));
}

#[test]
fn a_middleware_scope_with_only_a_module_or_only_an_operation_is_refused_in_plain_words() {
    for (json, given) in [
        (r#"{"name":"x","module":"M"}"#, "module M without an operation"),
        (r#"{"name":"x","operation":"Op"}"#, "operation Op without a module"),
    ] {
        let err = MiddlewareDefinition::from_json(json).unwrap_err().to_string();
        assert!(err.contains(&format!("'{given}'")) && !err.contains("Some("), "{err}");
    }
}
