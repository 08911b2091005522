//! Building the metrics and health reports from the hub's parts.

use std::time::{Duration, Instant};

use super::{
    evaluate, message_bus_metrics, ApiMetrics, ApiUsage, BreakerMetrics, EventMetrics, HealthCheck, HealthInputs, HealthOptions,
    HealthReport, Latency, MetricsOptions, MetricsReport, PerformanceMetrics, SecurityMetrics, Totals,
};
use crate::bus::{Bus, ChannelKind, PublishRequest, SubscriptionOptions, PRIVATE_PREFIX};
use crate::error::Error;
use crate::events::Events;
use crate::hub::Hub;
use crate::id::MessageId;
use crate::wildcard::Pattern;
use crate::DeliveryReport;

/// Default time the messaging round trip of a health check may take.
const DEFAULT_CHECK_TIMEOUT_MS: u64 = 5_000;

/// How many APIs `TopAPIs` lists.
const TOP_APIS: usize = 10;

fn api_metrics(totals: &Totals, hub: &Hub) -> ApiMetrics {
    let calls = totals.api_calls;
    let failed = totals.api_failures;
    let apis = hub.registry().apis(None, None).unwrap_or_default();
    let mut top: Vec<ApiUsage> = apis
        .iter()
        .filter(|a| a.calls > 0)
        .map(|a| ApiUsage {
            name: a.api_key.clone(),
            call_count: a.calls,
            failed: a.failed,
            average_execution_time: a.total_duration_ms / a.calls as f64,
        })
        .collect();
    top.sort_by(|a, b| b.call_count.cmp(&a.call_count).then_with(|| a.name.cmp(&b.name)));
    top.truncate(TOP_APIS);
    ApiMetrics {
        total_apis: apis.len(),
        total_calls: calls,
        failed_calls: failed,
        success_rate: if calls == 0 { 100.0 } else { (calls - failed) as f64 * 100.0 / calls as f64 },
        top_apis: top,
        recent_calls: hub.ctx().metrics.recent_calls(),
    }
}

fn security_metrics(hub: &Hub, totals: &Totals) -> SecurityMetrics {
    let security = hub.security();
    SecurityMetrics {
        enabled: security.is_enabled(),
        auth_failures: totals.auth_failures,
        active_tokens: security.stats().active_tokens as usize,
    }
}

/// Isolated breakers count as open: their calls fail fast too.
fn breaker_metrics(hub: &Hub) -> BreakerMetrics {
    use crate::resilience::CircuitState;
    let mut m = BreakerMetrics::default();
    for b in hub.resilience().statuses(None).unwrap_or_default() {
        m.total += 1;
        match b.state {
            CircuitState::Closed => m.closed += 1,
            CircuitState::HalfOpen => m.half_open += 1,
            CircuitState::Open | CircuitState::Isolated => {
                m.open += 1;
                m.open_names.push(b.operation);
            }
        }
    }
    m
}

pub(crate) fn report(hub: &Hub, bus: &Bus, events: &Events, options: &MetricsOptions) -> Result<MetricsReport, Error> {
    let now = hub.roll_metrics_now();
    let pattern = options
        .channel
        .as_deref()
        .map(|p| Pattern::new(p).map_err(|r| Error::invalid("channel", p, r)))
        .transpose()?;
    let m = &hub.ctx().metrics;
    let totals = bus.totals(None, m);
    let delivery = match &pattern {
        None => totals.delivery.clone(),
        Some(p) => bus.totals(Some(p), m).delivery,
    };
    let stats = bus.stats();
    let all_subs = bus.subscriptions(None)?;
    let channels = bus.channels(options.channel.as_deref())?;
    let subscriptions = match &options.channel {
        None => all_subs.clone(),
        Some(c) => bus.subscriptions(Some(c))?,
    };
    let (event_channels, [e_published, e_delivered, e_failed, e_expired, e_dropped, _]) = bus.event_totals();
    let info = events.info();
    let api = api_metrics(&totals, hub);
    let api_latency = Latency::of(&totals.api);
    let delivery_latency = Latency::of(&delivery);
    Ok(MetricsReport {
        since_ms: m.since_ms(),
        timestamp_ms: now,
        interval_ms: m.interval_ms(),
        message_bus: message_bus_metrics(&stats, &all_subs),
        channels,
        subscriptions,
        events: EventMetrics {
            event_channels,
            subscriptions: all_subs.iter().filter(|s| s.kind == ChannelKind::Event).count(),
            published: e_published,
            delivered: e_delivered,
            failed: e_failed,
            expired: e_expired,
            dropped: e_dropped,
            history_size: info.count,
            history_capacity: info.capacity,
        },
        security: security_metrics(hub, &totals),
        circuit_breakers: breaker_metrics(hub),
        performance: PerformanceMetrics {
            average_api_execution_time: api_latency.average_ms,
            average_delivery_time: delivery_latency.average_ms,
            delivery_latency,
            api_latency,
        },
        api,
        history: options.include_history.then(|| m.history()),
    })
}

/// A real round trip on a private channel: create, subscribe, publish, take, complete,
/// unsubscribe, remove.
fn messaging_test(hub: &Hub, timeout: Duration) -> HealthCheck {
    let started = Instant::now();
    let name = format!("{}HealthCheck.{}", private_prefix(), MessageId::new_v4());
    let result = (|| -> Result<String, String> {
        hub.create_channel(&name, Some("health check"), 1).map_err(|e| e.to_string())?;
        let outcome = (|| {
            let sub = hub.subscribe_pull(SubscriptionOptions::new(name.as_str()).capacity(1), None).map_err(|e| e.to_string())?;
            let inner = (|| {
                let id = hub.publish(PublishRequest::new(name.as_str(), "HealthCheck")).map_err(|e| e.to_string())?;
                let batch = hub.take(sub, 1, timeout).map_err(|e| e.to_string())?;
                let got = batch.first().map(|e| e.id());
                let handled = batch.len();
                hub.complete(sub, DeliveryReport { handled, ..Default::default() }).map_err(|e| e.to_string())?;
                match got {
                    Some(g) if g == id => Ok(format!("message {id} went round trip through a private channel")),
                    Some(g) => Err(format!("received message {g}, expected {id}")),
                    None if !hub.is_running() => {
                        Err("no message arrived: the message processor is stopped (Start-MessageProcessor)".to_owned())
                    }
                    None => Err(format!("no message arrived within {} ms", timeout.as_millis())),
                }
            })();
            let _ = hub.unsubscribe(sub);
            inner
        })();
        let _ = hub.remove_channel(&name);
        outcome
    })();
    let duration_ms = started.elapsed().as_secs_f64() * 1e3;
    match result {
        Ok(details) => HealthCheck { name: "MessagingTest".into(), success: true, duration_ms, details },
        Err(details) => HealthCheck { name: "MessagingTest".into(), success: false, duration_ms, details },
    }
}

/// The display form of the private prefix (`__ModuleCommunication.`).
pub(crate) fn private_prefix() -> &'static str {
    debug_assert_eq!(PRIVATE_PREFIX, "__modulecommunication.");
    "__ModuleCommunication."
}

pub(crate) fn health_report(hub: &Hub, bus: &Bus, options: &HealthOptions) -> HealthReport {
    let m = &hub.ctx().metrics;
    let mut checks = Vec::new();
    if options.check_health {
        let timeout = Duration::from_millis(options.timeout_ms.unwrap_or(DEFAULT_CHECK_TIMEOUT_MS));
        let before = bus.totals(None, m);
        let messaging = messaging_test(hub, timeout);
        let started = Instant::now();
        let after = bus.totals(None, m);
        let d = after.since(&before);
        let metrics_ok = !messaging.success
            || (d.published >= 1 && d.delivered >= 1 && (!m.enabled() || d.delivery.count() >= 1));
        let details = if !messaging.success {
            "skipped the counter check: the messaging round trip failed".to_owned()
        } else if metrics_ok {
            format!(
                "the round trip was counted: published +{}, delivered +{}, latencies +{}",
                d.published,
                d.delivered,
                d.delivery.count()
            )
        } else {
            format!(
                "the round trip was not counted as expected: published +{}, delivered +{}, latencies +{}",
                d.published,
                d.delivered,
                d.delivery.count()
            )
        };
        checks.push(messaging);
        checks.push(HealthCheck {
            name: "MetricsTest".into(),
            success: metrics_ok,
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            details,
        });
        let started = Instant::now();
        let config = hub.config();
        let valid = config.validate();
        checks.push(HealthCheck {
            name: "ConfigurationTest".into(),
            success: valid.is_ok(),
            duration_ms: started.elapsed().as_secs_f64() * 1e3,
            details: match &valid {
                Ok(()) => "every setting is in range".to_owned(),
                Err(e) => e.to_string(),
            },
        });
    }
    let now = hub.roll_metrics_now();
    let totals = bus.totals(None, m);
    let window = totals.since(&m.window_base());
    let stats = bus.stats();
    let subs = bus.subscriptions(None).unwrap_or_default();
    let config_error = hub.config().validate().err().map(|e| e.to_string());
    evaluate(HealthInputs {
        now_ms: now,
        window_start_ms: m.window_start_ms(),
        stats: &stats,
        subs: &subs,
        window: &window,
        total_apis: hub.registry().apis(None, None).map_or(0, |a| a.len()),
        config_error,
        security: &security_metrics(hub, &totals),
        breakers: &breaker_metrics(hub),
        checks,
    })
}
