//! Metrics and health: exact counts from known traffic, percentiles in the right buckets,
//! interval history, reset, and every health rule triggered and cleared. Time is driven
//! by a ManualClock; nothing sleeps.

mod common;

use std::sync::Arc;
use std::time::Duration;

use module_communication::{
    DeliveryReport, EventRequest, HealthOptions, HealthStatus, Hub, ManualClock, MetricsOptions, MetricsReport,
    OverflowPolicy, PublishRequest, SubscriptionOptions,
};

const T0: i64 = 1_800_000_000_000;

fn hub() -> (Hub, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let hub = Hub::with_clock(clock.clone());
    hub.update_config_json(r#"{"metricsIntervalMs":1000}"#).unwrap();
    (hub, clock)
}

fn metrics(hub: &Hub) -> MetricsReport {
    hub.metrics(&MetricsOptions::default()).unwrap()
}

fn rules(hub: &Hub) -> Vec<&'static str> {
    hub.health(&HealthOptions::default()).issues.iter().map(|i| i.rule).collect()
}

fn publish_n(hub: &Hub, channel: &str, n: usize) {
    for _ in 0..n {
        hub.publish(PublishRequest::new(channel, "T")).unwrap();
    }
}

/// Takes `n` messages and reports them handled.
fn handle(hub: &Hub, sub: module_communication::SubscriptionId, n: usize) {
    let batch = hub.take(sub, n, Duration::ZERO).unwrap();
    assert_eq!(batch.len(), n);
    hub.complete(sub, DeliveryReport { handled: n, ..Default::default() }).unwrap();
}

#[test]
fn known_traffic_gives_exact_counts() {
    let (hub, _) = hub();
    hub.create_channel("A", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("A"), None).unwrap();
    publish_n(&hub, "A", 10);
    assert_eq!(hub.take(sub, 10, Duration::ZERO).unwrap().len(), 10);
    hub.complete(sub, DeliveryReport { handled: 7, failed: 2, filtered: 1, last_error: Some("boom".into()) }).unwrap();
    let m = metrics(&hub);
    let b = &m.message_bus;
    assert_eq!((b.total_channels, b.total_subscriptions), (1, 1));
    assert_eq!((b.published, b.delivered, b.failed, b.filtered, b.expired, b.dropped), (10, 7, 2, 1, 0, 0));
    assert_eq!(m.channels[0].published, 10);
    assert_eq!(m.channels[0].delivered, 7);
    assert_eq!(m.subscriptions[0].failed, 2);
    // Handled and failed deliveries have a latency; filtered ones do not.
    assert_eq!(m.performance.delivery_latency.count, 9);
    assert_eq!(m.api.total_calls, 0);
    assert_eq!(m.api.success_rate, 100.0);
}

#[test]
fn delivery_percentiles_fall_in_the_right_buckets() {
    let (hub, clock) = hub();
    hub.create_channel("A", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("A"), None).unwrap();
    publish_n(&hub, "A", 100);
    clock.advance(1);
    handle(&hub, sub, 90); // 90 × 1 ms
    clock.advance(9);
    handle(&hub, sub, 9); // 9 × 10 ms
    clock.advance(90);
    handle(&hub, sub, 1); // 1 × 100 ms
    let l = metrics(&hub).performance.delivery_latency;
    assert_eq!(l.count, 100);
    assert!((1.0..=1.25).contains(&l.p50_ms), "p50 {}", l.p50_ms);
    assert!((10.0..=12.5).contains(&l.p95_ms), "p95 {}", l.p95_ms);
    assert!((10.0..=12.5).contains(&l.p99_ms), "p99 {}", l.p99_ms);
    assert!((l.average_ms - 2.8).abs() < 1e-9, "average {}", l.average_ms);
}

#[test]
fn a_channel_filter_narrows_channels_subscriptions_and_latencies() {
    let (hub, clock) = hub();
    hub.create_channel("Fast", None, 0).unwrap();
    hub.create_channel("Slow", None, 0).unwrap();
    let fast = hub.subscribe_pull(SubscriptionOptions::new("Fast"), None).unwrap();
    let slow = hub.subscribe_pull(SubscriptionOptions::new("Slow"), None).unwrap();
    publish_n(&hub, "Fast", 3);
    publish_n(&hub, "Slow", 2);
    clock.advance(2);
    handle(&hub, fast, 3);
    clock.advance(48);
    handle(&hub, slow, 2);
    let m = hub.metrics(&MetricsOptions { channel: Some("slow".into()), include_history: false }).unwrap();
    assert_eq!(m.channels.len(), 1);
    assert_eq!(m.channels[0].name, "Slow");
    assert_eq!(m.subscriptions.len(), 1);
    assert_eq!(m.subscriptions[0].id, slow);
    assert_eq!(m.performance.delivery_latency.count, 2);
    assert!((50.0..=62.5).contains(&m.performance.delivery_latency.p50_ms));
    // Bus totals stay whole.
    assert_eq!(m.message_bus.published, 5);
    assert_eq!(metrics(&hub).performance.delivery_latency.count, 5);
}

#[test]
fn history_has_one_entry_per_interval_with_that_intervals_counts() {
    let (hub, clock) = hub();
    hub.create_channel("A", None, 0).unwrap();
    publish_n(&hub, "A", 3);
    clock.advance(1_000);
    publish_n(&hub, "A", 2); // closes the first interval before counting
    clock.advance(2_500); // two more intervals end; one had 2 messages, one none
    let m = hub.metrics(&MetricsOptions { channel: None, include_history: true }).unwrap();
    let h = m.history.unwrap();
    assert_eq!(h.iter().map(|e| e.published).collect::<Vec<_>>(), vec![3, 2, 0]);
    assert_eq!(h[0].start_ms, T0);
    assert_eq!(h[2].end_ms, T0 + 3_000);
    assert!(metrics(&hub).history.is_none());
}

#[test]
fn reset_zeroes_every_number_and_keeps_channels_and_queues() {
    let (hub, clock) = hub();
    hub.create_channel("A", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("A"), None).unwrap();
    publish_n(&hub, "A", 4);
    handle(&hub, sub, 2);
    hub.record_api_call("M.Op", T0, 1_000_000, false, Some("x"));
    clock.advance(1_500);
    let _ = metrics(&hub);
    hub.reset_metrics();
    let m = hub.metrics(&MetricsOptions { channel: None, include_history: true }).unwrap();
    let b = &m.message_bus;
    assert_eq!((b.published, b.delivered, b.failed, b.dropped), (0, 0, 0, 0));
    assert_eq!(b.queue_length, 2, "queued messages stay");
    assert_eq!(m.channels[0].published, 0);
    assert_eq!(m.subscriptions[0].delivered, 0);
    assert_eq!(m.performance.delivery_latency.count, 0);
    assert_eq!((m.api.total_calls, m.api.recent_calls.len()), (0, 0));
    assert_eq!(m.history.unwrap().len(), 0);
    assert_eq!(m.since_ms, T0 + 1_500);
    handle(&hub, sub, 2);
    assert_eq!(metrics(&hub).message_bus.delivered, 2);
}

#[test]
fn latencies_are_not_recorded_with_metrics_disabled_but_counters_are() {
    let (hub, clock) = hub();
    hub.update_config_json(r#"{"enableMetrics":false}"#).unwrap();
    hub.create_channel("A", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("A"), None).unwrap();
    publish_n(&hub, "A", 3);
    clock.advance(5);
    handle(&hub, sub, 3);
    let m = metrics(&hub);
    assert_eq!(m.message_bus.delivered, 3);
    assert_eq!(m.performance.delivery_latency.count, 0);
}

#[test]
fn push_deliveries_record_one_latency_each_and_unsubscribing_keeps_them() {
    let hub = Hub::new();
    hub.create_channel("A", None, 0).unwrap();
    let sub = hub.subscribe_push(SubscriptionOptions::new("A"), |_| true).unwrap();
    let mut last = None;
    for _ in 0..50 {
        last = Some(hub.publish(PublishRequest::new("A", "T")).unwrap());
    }
    hub.wait_delivered(last.unwrap(), common::LONG).unwrap();
    hub.wait_idle(common::LONG).unwrap();
    assert_eq!(metrics(&hub).performance.delivery_latency.count, 50);
    hub.unsubscribe(sub).unwrap();
    let m = metrics(&hub);
    assert_eq!(m.performance.delivery_latency.count, 50);
    assert_eq!(m.message_bus.delivered, 50);
}

#[test]
fn api_calls_give_totals_success_rate_and_recent_calls_newest_first() {
    let (hub, _) = hub();
    hub.record_api_call("Lab.Run", T0, 2_000_000, true, None);
    hub.record_api_call("Lab.Run", T0 + 1, 4_000_000, true, None);
    hub.record_api_call("Lab.Stop", T0 + 2, 6_000_000, false, Some("Authorization: Bearer s3cr3t refused"));
    hub.record_api_call("Lab.Run", T0 + 3, 8_000_000, true, None);
    let m = metrics(&hub);
    assert_eq!((m.api.total_calls, m.api.failed_calls), (4, 1));
    assert_eq!(m.api.success_rate, 75.0);
    assert_eq!(m.api.recent_calls[0].start_ms, T0 + 3);
    let failed = m.api.recent_calls.iter().find(|c| !c.success).unwrap();
    assert_eq!(failed.api, "Lab.Stop");
    assert_eq!(failed.error.as_deref(), Some("Authorization: Bearer *** refused"));
    assert!((m.performance.average_api_execution_time - 5.0).abs() < 1e-9);
    assert_eq!(m.performance.api_latency.count, 4);
    assert!((8.0..=10.0).contains(&m.performance.api_latency.p99_ms));
}

#[test]
fn events_are_counted_apart_from_message_channels() {
    let (hub, _) = hub();
    hub.create_channel("A", None, 0).unwrap();
    publish_n(&hub, "A", 1);
    hub.publish_event(EventRequest::new("ModuleInitialized")).unwrap();
    hub.publish_event(EventRequest::new("ModuleStopped")).unwrap();
    let m = metrics(&hub);
    assert_eq!(m.message_bus.published, 3);
    assert_eq!(m.events.published, 2);
    assert_eq!(m.events.event_channels, 1);
    assert_eq!(m.events.history_size, 2);
}

#[test]
fn event_channels_named_once_each_do_not_pile_up_and_their_counts_stay_in_the_totals() {
    let (hub, _) = hub();
    hub.update_config_json(r#"{"maxEventHistory":10}"#).unwrap();
    // An event still queued for a subscriber keeps its channel, however many come after it.
    let sub = hub
        .subscribe_events_pull(module_communication::EventSubscriptionOptions::default().channel("Keep"), None)
        .unwrap();
    hub.publish_event(EventRequest::new("Kept").channel("Keep")).unwrap();
    for k in 0..5000 {
        hub.publish_event(EventRequest::new("Done").channel(&format!("Job{k}"))).unwrap();
    }
    let m = metrics(&hub);
    assert_eq!(m.events.published, 5001);
    assert!(m.events.event_channels <= 2048, "{} event channels kept", m.events.event_channels);
    handle(&hub, sub, 1);
    let m = metrics(&hub);
    assert_eq!((m.events.published, m.events.delivered), (5001, 1));
    // A forgotten channel is made again on its next use, its counts adding to the same totals.
    hub.publish_event(EventRequest::new("Done").channel("Job0")).unwrap();
    assert_eq!(metrics(&hub).events.published, 5002);
}

#[test]
fn losses_on_private_channels_raise_no_health_issue() {
    let (hub, _) = hub();
    let name = "__ModuleCommunication.SelfTest.Overflow";
    hub.create_channel(name, None, 0).unwrap();
    let _sub = hub.subscribe_pull(SubscriptionOptions::new(name).capacity(1), None).unwrap();
    publish_n(&hub, name, 3);
    assert_eq!(metrics(&hub).message_bus.dropped, 2, "counted in the totals");
    assert!(rules(&hub).is_empty(), "{:?}", rules(&hub));
}

#[test]
fn private_channels_are_not_listed_and_reach_only_exact_subscriptions() {
    let (hub, _) = hub();
    let name = "__ModuleCommunication.SelfTest.1";
    hub.create_channel(name, None, 0).unwrap();
    let wildcard = hub.subscribe_pull(SubscriptionOptions::new("*"), None).unwrap();
    let exact = hub.subscribe_pull(SubscriptionOptions::new(name), None).unwrap();
    publish_n(&hub, name, 1);
    assert!(hub.take(wildcard, 1, Duration::ZERO).unwrap().is_empty());
    assert_eq!(hub.take(exact, 1, Duration::ZERO).unwrap().len(), 1);
    assert!(hub.channels(None).unwrap().is_empty());
    assert_eq!(metrics(&hub).message_bus.total_channels, 0);
}

// ----- health ----------------------------------------------------------------------------

#[test]
fn an_idle_hub_is_healthy_with_five_components() {
    let (hub, _) = hub();
    let h = hub.health(&HealthOptions::default());
    assert_eq!(h.overall_health, HealthStatus::Healthy);
    assert!(h.issues.is_empty() && h.recommendations.is_empty() && h.health_checks.is_empty());
    let names: Vec<_> = h.components.iter().map(|c| c.name).collect();
    assert_eq!(names, ["MessageBus", "APIRegistry", "Configuration", "Security", "CircuitBreakers"]);
}

#[test]
fn health_checks_do_a_real_round_trip_and_leave_nothing_behind() {
    let (hub, _) = hub();
    let h = hub.health(&HealthOptions { check_health: true, timeout_ms: None });
    assert_eq!(h.overall_health, HealthStatus::Healthy, "{:?}", h.issues);
    let names: Vec<_> = h.health_checks.iter().map(|c| (c.name.as_str(), c.success)).collect();
    assert_eq!(names, [("MessagingTest", true), ("MetricsTest", true), ("ConfigurationTest", true)]);
    assert!(hub.channels(None).unwrap().is_empty());
    assert!(hub.subscriptions(None).unwrap().is_empty());
    let m = metrics(&hub);
    assert_eq!((m.message_bus.published, m.message_bus.delivered), (1, 1));
}

#[test]
fn a_stopped_processor_fails_the_messaging_check_and_the_hub_is_unhealthy() {
    let (hub, _) = hub();
    hub.pause();
    let h = hub.health(&HealthOptions { check_health: true, timeout_ms: Some(20) });
    assert_eq!(h.overall_health, HealthStatus::Unhealthy);
    let check = &h.health_checks[0];
    assert!(!check.success);
    assert!(check.details.contains("Start-MessageProcessor"), "{}", check.details);
    assert_eq!(h.issues[0].rule, "MessagingTestFailed");
    assert!(hub.channels(None).unwrap().is_empty() && hub.subscriptions(None).unwrap().is_empty());
}

#[test]
fn dropped_messages_warn_naming_the_channel_and_clear_after_two_quiet_intervals() {
    let (hub, clock) = hub();
    hub.create_channel("Busy", None, 0).unwrap();
    let _sub = hub.subscribe_pull(SubscriptionOptions::new("Busy").capacity(5).overflow(OverflowPolicy::DropNewest), None).unwrap();
    publish_n(&hub, "Busy", 6);
    let h = hub.health(&HealthOptions::default());
    let dropped = h.issues.iter().find(|i| i.rule == "MessagesDropped").expect("MessagesDropped");
    assert_eq!(dropped.severity, HealthStatus::Warning);
    assert!(dropped.message.contains("Busy: 1"), "{}", dropped.message);
    assert!(dropped.recommendation.contains("-MaxQueueSize"));
    clock.advance(1_000);
    assert!(rules(&hub).contains(&"MessagesDropped"), "still within the recent window");
    clock.advance(1_000);
    assert!(!rules(&hub).contains(&"MessagesDropped"));
}

#[test]
fn a_queue_above_80_percent_warns_a_full_one_is_unhealthy_and_both_clear_when_drained() {
    let (hub, _) = hub();
    hub.create_channel("Q", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Q").capacity(10), None).unwrap();
    publish_n(&hub, "Q", 8);
    assert!(!rules(&hub).contains(&"QueueNearlyFull"), "80 % is not above 80 %");
    publish_n(&hub, "Q", 1);
    let h = hub.health(&HealthOptions::default());
    assert_eq!(h.overall_health, HealthStatus::Warning);
    assert_eq!(h.issues[0].rule, "QueueNearlyFull");
    assert_eq!(h.components[0].status, HealthStatus::Warning);
    publish_n(&hub, "Q", 1);
    let h = hub.health(&HealthOptions::default());
    assert_eq!(h.overall_health, HealthStatus::Unhealthy);
    assert_eq!(h.issues[0].rule, "QueueFull");
    handle(&hub, sub, 10);
    assert!(rules(&hub).is_empty());
}

#[test]
fn a_stopped_processor_with_queued_messages_warns_until_resumed() {
    let (hub, _) = hub();
    hub.create_channel("Q", None, 0).unwrap();
    let _sub = hub.subscribe_pull(SubscriptionOptions::new("Q"), None).unwrap();
    hub.pause();
    assert!(rules(&hub).is_empty(), "nothing queued yet");
    publish_n(&hub, "Q", 1);
    assert_eq!(rules(&hub), ["ProcessorStopped"]);
    hub.resume();
    assert!(rules(&hub).is_empty());
}

#[test]
fn rising_handler_errors_warn_with_the_last_error_and_clear_when_they_stop() {
    let (hub, clock) = hub();
    hub.create_channel("Q", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Q"), None).unwrap();
    publish_n(&hub, "Q", 1);
    hub.take(sub, 1, Duration::ZERO).unwrap();
    hub.complete(sub, DeliveryReport { failed: 1, last_error: Some("disk full".into()), ..Default::default() }).unwrap();
    let h = hub.health(&HealthOptions::default());
    let i = h.issues.iter().find(|i| i.rule == "HandlerErrorsRising").expect("HandlerErrorsRising");
    assert!(i.message.contains("disk full") && i.message.contains(&sub.to_string()), "{}", i.message);
    clock.advance(2_000);
    assert!(!rules(&hub).contains(&"HandlerErrorsRising"));
}

#[test]
fn expired_messages_warn_and_clear() {
    let (hub, clock) = hub();
    hub.create_channel("Q", None, 0).unwrap();
    let sub = hub.subscribe_pull(SubscriptionOptions::new("Q"), None).unwrap();
    hub.publish(PublishRequest::new("Q", "T").ttl_ms(10)).unwrap();
    clock.advance(11);
    assert!(hub.take(sub, 1, Duration::ZERO).unwrap().is_empty());
    assert_eq!(rules(&hub), ["MessagesExpired"]);
    clock.advance(2_000);
    assert!(rules(&hub).is_empty());
}

#[test]
fn a_high_api_failure_rate_and_auth_failures_warn_and_clear() {
    let (hub, clock) = hub();
    for i in 0..10 {
        hub.record_api_call("M.Op", T0, 1_000, i != 0, Some("failed"));
    }
    assert!(rules(&hub).is_empty(), "10 % is not above 10 %");
    hub.record_api_call("M.Op", T0, 1_000, false, Some("failed"));
    hub.record_auth_failure();
    let h = hub.health(&HealthOptions::default());
    let got: Vec<_> = h.issues.iter().map(|i| (i.rule, i.component)).collect();
    assert_eq!(got, [("APIFailureRate", "APIRegistry"), ("AuthenticationFailures", "Security")]);
    assert_eq!(h.recommendations.len(), 2);
    clock.advance(2_000);
    assert!(rules(&hub).is_empty());
}

#[test]
fn metrics_settings_are_validated_and_shown_in_the_configuration() {
    let (hub, _) = hub();
    for bad in [r#"{"metricsIntervalMs":10}"#, r#"{"metricsHistorySize":0}"#, r#"{"enableMetrics":1}"#] {
        let e = hub.update_config_json(bad).unwrap_err().to_string();
        assert!(e.contains("metrics") || e.contains("Metrics"), "{e}");
    }
    let json = hub.config().to_json();
    assert!(json.contains(r#""enableMetrics":true,"metricsIntervalMs":1000,"metricsHistorySize":60"#), "{json}");
}

// ----- API calls through the registry ----------------------------------------------------

mod api {
    use super::*;
    use module_communication::registry::{null_result, ApiDefinition, ApiError, ApiErrorCategory, Call, InvokeRequest, Json};

    fn ok(_: &Call) -> Result<Json, ApiError> {
        Ok(null_result())
    }

    fn fail(_: &Call) -> Result<Json, ApiError> {
        Err(ApiError::new(ApiErrorCategory::HandlerFailed, "disk full; password=hunter2"))
    }

    #[test]
    fn registry_calls_feed_totals_top_apis_recent_calls_and_percentiles() {
        let (hub, _) = hub();
        hub.registry().register(ApiDefinition::new("Lab", "Run"), ok).unwrap();
        hub.registry().register(ApiDefinition::new("Lab", "Stop"), fail).unwrap();
        hub.registry().register(ApiDefinition::new("Lab", "Idle"), ok).unwrap();
        for _ in 0..3 {
            hub.registry().invoke(InvokeRequest::new("Lab", "Run")).unwrap();
        }
        hub.registry().invoke(InvokeRequest::new("lab", "stop")).unwrap_err();
        let m = metrics(&hub);
        assert_eq!((m.api.total_apis, m.api.total_calls, m.api.failed_calls), (3, 4, 1));
        assert_eq!(m.api.success_rate, 75.0);
        let top: Vec<_> = m.api.top_apis.iter().map(|a| (a.name.as_str(), a.call_count, a.failed)).collect();
        assert_eq!(top, [("Lab.Run", 3, 0), ("Lab.Stop", 1, 1)]);
        assert_eq!(m.api.recent_calls.len(), 4);
        let failed = &m.api.recent_calls[0];
        assert_eq!((failed.api.as_str(), failed.success), ("Lab.Stop", false));
        let error = failed.error.as_deref().unwrap();
        assert!(error.contains("disk full") && !error.contains("hunter2"), "{error}");
        assert_eq!(m.performance.api_latency.count, 4);
        assert!(m.performance.api_latency.p99_ms >= m.performance.api_latency.p50_ms);
        let h = hub.health(&HealthOptions::default());
        assert_eq!(h.issues[0].rule, "APIFailureRate");
        assert!(h.components[1].summary.starts_with("3 APIs, 4 calls"), "{}", h.components[1].summary);
        hub.reset_metrics();
        let m = metrics(&hub);
        assert!(m.api.top_apis.is_empty());
        assert_eq!((m.api.total_apis, m.api.total_calls), (3, 0));
    }

    /// The caller's error names the C function for C callers ("Get-ModuleAPIs (mc_api_list)");
    /// what is kept for later (recent calls, the trace, the API's last error) does not.
    #[test]
    fn kept_error_texts_leave_out_the_c_function_names_the_callers_error_has() {
        use module_communication::registry::Schema;
        let (hub, _) = hub();
        hub.enable_tracing(module_communication::TraceOptions::default()).unwrap();
        hub.registry().register(ApiDefinition::new("M", "A"), ok).unwrap();
        hub.update_config_json(r#"{"security":{"requireAuthentication":true}}"#).unwrap();
        let e = hub.registry().invoke(InvokeRequest::new("M", "A").authentication_token("forged")).unwrap_err();
        assert!(e.message.contains("New-AuthenticationToken (mc_token_create)"), "{}", e.message);
        let kept = e.message.replace(" (mc_token_create)", "");
        assert_eq!(metrics(&hub).api.recent_calls[0].error.as_deref(), Some(kept.as_str()));
        assert_eq!(hub.registry().api("M", "A").unwrap().last_error.as_deref(), Some(kept.as_str()));
        let trace: Vec<serde_json::Value> = serde_json::from_str(&hub.trace_records_json(None)).unwrap();
        let traced = trace.iter().find(|r| r["event"] == "apiError").expect("an apiError record");
        assert_eq!(traced["error"].as_str(), Some(kept.as_str()));
    }

    #[test]
    fn kept_texts_of_a_validation_failure_name_the_parameters_but_not_the_values_given() {
        use module_communication::registry::Schema;
        let (hub, _) = hub();
        let verbose = module_communication::TraceOptions {
            level: module_communication::TraceLevel::Verbose,
            ..Default::default()
        };
        hub.enable_tracing(verbose).unwrap();
        let schema = Schema::from_json(r#"{"Pin":{"type":"string","required":true,"pattern":"^\\d{4}$"}}"#).unwrap();
        hub.registry().register(ApiDefinition::new("Vault", "Unlock").parameters(schema), ok).unwrap();
        // The newest call's error in RecentCalls and in the API's LastError, and the trace; none
        // may hold `value`.
        let records_without = |operation: &str, value: &str| {
            let recent = metrics(&hub).api.recent_calls[0].error.clone().unwrap();
            let last = hub.registry().api("Vault", operation).unwrap().last_error.unwrap();
            let trace = hub.trace_records_json(None);
            for kept in [&recent, &last, &trace] {
                assert!(!kept.contains(value), "a record holds the value: {kept}");
            }
            (recent, last, trace)
        };
        let req = InvokeRequest::new("Vault", "Unlock").parameters_json(r#"{"Pin":"S3cr3t-Passw0rd"}"#).unwrap();
        let e = hub.registry().invoke(req).unwrap_err();
        assert!(e.message.contains("S3cr3t-Passw0rd"), "the caller's error names the bad value: {}", e.message);
        let (recent, last, trace) = records_without("Unlock", "S3cr3t");
        assert!(recent.contains("invalid parameters: Pin"), "{recent}");
        assert_eq!(recent, last);
        assert!(trace.contains("invalid parameters: Pin"), "{trace}");

        // A validation error without its parameter list (a stage's own, such as PowerShell's
        // conversion of a datetime) quotes the value in its message: records leave it out too.
        let refuse = |_: &Call| -> Result<Json, ApiError> {
            Err(ApiError::new(
                ApiErrorCategory::Validation,
                "When: '2016-12-31T23:59:60Z' is not a valid datetime; give an ISO 8601 date and time",
            ))
        };
        hub.registry().register(ApiDefinition::new("Vault", "When"), refuse).unwrap();
        let e = hub.registry().invoke(InvokeRequest::new("Vault", "When").retry_attempts(0)).unwrap_err();
        assert!(e.message.contains("23:59:60"), "the caller's error names the bad value: {}", e.message);
        let (recent, last, _) = records_without("When", "23:59:60");
        assert!(recent.starts_with("invalid parameters (the caller's error said what was wrong"), "{recent}");
        assert_eq!(recent, last);
    }

    #[test]
    fn an_open_breaker_makes_the_hub_unhealthy_naming_it_and_a_half_open_one_warns() {
        let (hub, clock) = hub();
        hub.registry().register(ApiDefinition::new("Lab", "Stop"), fail).unwrap();
        hub.registry().register(ApiDefinition::new("Lab", "Run"), ok).unwrap();
        hub.registry().invoke(InvokeRequest::new("Lab", "Run")).unwrap();
        for _ in 0..5 {
            hub.registry().invoke(InvokeRequest::new("Lab", "Stop")).unwrap_err();
        }
        let h = hub.health(&HealthOptions::default());
        let open = h.issues.iter().find(|i| i.rule == "CircuitBreakerOpen").expect("CircuitBreakerOpen");
        assert_eq!((open.severity, open.component), (HealthStatus::Unhealthy, "CircuitBreakers"));
        assert_eq!(open.message, "1 circuit breaker(s) are open: Lab.Stop");
        assert_eq!(h.overall_health, HealthStatus::Unhealthy);
        clock.advance(60_000); // the default break
        let h = hub.health(&HealthOptions::default());
        let half = h.issues.iter().find(|i| i.rule == "CircuitBreakerHalfOpen").expect("CircuitBreakerHalfOpen");
        assert_eq!(half.severity, HealthStatus::Warning);
        assert!(!h.issues.iter().any(|i| i.rule == "CircuitBreakerOpen"));
    }
}
