//! Health: explicit rules over the metrics, each with a recommendation a user can act on.
//! The rules and their thresholds are listed in `docs/troubleshooting.md`; keep the two in
//! step.

use std::fmt;

use serde::Serialize;

use super::{BreakerMetrics, SecurityMetrics, Totals};
use crate::bus::{BusStats, SubscriptionInfo};

/// Queue usage (percent of capacity) above which a subscription is reported.
pub(crate) const QUEUE_WARN_PERCENT: f64 = 80.0;
/// Share of failed API calls in the recent window (percent) above which it is reported.
pub(crate) const API_FAILURE_WARN_PERCENT: f64 = 10.0;

/// Health of the hub or of one component. Ordered: `Healthy < Warning < Unhealthy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
pub enum HealthStatus {
    /// Nothing to act on.
    #[default]
    Healthy,
    /// Something degrades delivery; see the issues.
    Warning,
    /// Something is broken; see the issues.
    Unhealthy,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthStatus::Healthy => "Healthy",
            HealthStatus::Warning => "Warning",
            HealthStatus::Unhealthy => "Unhealthy",
        })
    }
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthIssue {
    /// The rule's stable name (`MessagesDropped`, `QueueNearlyFull`, …).
    pub rule: &'static str,
    /// How bad it is.
    pub severity: HealthStatus,
    /// `MessageBus`, `APIRegistry`, `Configuration`, `Security` or `CircuitBreakers`.
    pub component: &'static str,
    /// What is wrong, with the numbers and names involved.
    pub message: String,
    /// What to do about it.
    pub recommendation: String,
}

/// The result of one health check.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// The check's name (`MessagingTest`, `MetricsTest`, …).
    pub name: String,
    /// Whether it passed.
    pub success: bool,
    /// How long it took, ms.
    pub duration_ms: f64,
    /// What it did or found.
    pub details: String,
}

/// Health of one component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentHealth {
    /// The component's name.
    pub name: &'static str,
    /// The worst severity of its issues.
    pub status: HealthStatus,
    /// Its main numbers in one line.
    pub summary: String,
    /// How many issues concern it.
    pub issues: usize,
}

/// What `Get-CommunicationStatus` / `mc_health` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// The worst severity of all issues (`Healthy` when there are none).
    pub overall_health: HealthStatus,
    /// When the report was made.
    #[serde(rename = "timestamp", serialize_with = "crate::time_fmt::serialize_ms")]
    pub timestamp_ms: i64,
    /// Start of the recent window the rules looked at.
    #[serde(rename = "windowStart", serialize_with = "crate::time_fmt::serialize_ms")]
    pub window_start_ms: i64,
    /// The rules that fired, worst first.
    pub issues: Vec<HealthIssue>,
    /// The distinct recommendations of the issues, in the same order.
    pub recommendations: Vec<String>,
    /// MessageBus, APIRegistry, Configuration, Security, CircuitBreakers.
    pub components: Vec<ComponentHealth>,
    /// The checks that ran (only when asked for).
    pub health_checks: Vec<HealthCheck>,
}

/// What a health report should do.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthOptions {
    /// Run the active checks (a messaging round trip on a private channel, a metrics
    /// check) in addition to evaluating the rules.
    pub check_health: bool,
    /// How long the messaging round trip may take, ms (default 5000).
    pub timeout_ms: Option<u64>,
}

impl HealthOptions {
    /// Parses `{"checkHealth":true,"timeoutMs":5000}` (both optional).
    pub fn from_json(json: &str) -> Result<HealthOptions, crate::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Wire {
            #[serde(default)]
            check_health: bool,
            #[serde(default)]
            timeout_ms: Option<u64>,
        }
        let w: Wire = crate::bus::parse_object(json, "health options", r#"{"checkHealth":true,"timeoutMs":5000}"#)?;
        Ok(HealthOptions { check_health: w.check_health, timeout_ms: w.timeout_ms })
    }
}

/// Everything the rules look at.
pub(crate) struct HealthInputs<'a> {
    pub now_ms: i64,
    pub window_start_ms: i64,
    pub stats: &'a BusStats,
    pub subs: &'a [SubscriptionInfo],
    /// Counts over the recent window.
    pub window: &'a Totals,
    pub total_apis: usize,
    pub config_error: Option<String>,
    pub security: &'a SecurityMetrics,
    pub breakers: &'a BreakerMetrics,
    pub checks: Vec<HealthCheck>,
}

fn issue(
    rule: &'static str,
    severity: HealthStatus,
    component: &'static str,
    message: String,
    recommendation: &str,
) -> HealthIssue {
    HealthIssue { rule, severity, component, message, recommendation: recommendation.to_owned() }
}

fn short_id(s: &SubscriptionInfo) -> String {
    format!("{} ({})", s.id, s.channel)
}

/// Applies every rule and builds the report.
pub(crate) fn evaluate(input: HealthInputs<'_>) -> HealthReport {
    use HealthStatus::{Unhealthy, Warning};
    let mut issues = Vec::new();
    let w = input.window;

    // --- MessageBus ---
    if !input.stats.running && input.stats.queue_length > 0 {
        issues.push(issue(
            "ProcessorStopped",
            Warning,
            "MessageBus",
            format!("the message processor is stopped and {} message(s) wait in queues", input.stats.queue_length),
            "Run Start-MessageProcessor; while it is stopped, publishing queues messages but nothing is delivered.",
        ));
    }
    // Subscriptions of the self-tests' private channels are not judged.
    for s in input.subs.iter().filter(|s| !crate::bus::is_private_name(&s.channel)) {
        if s.capacity == 0 {
            continue;
        }
        let pct = s.queue_length as f64 * 100.0 / s.capacity as f64;
        if s.queue_length >= s.capacity {
            issues.push(issue(
                "QueueFull",
                Unhealthy,
                "MessageBus",
                format!("subscription {} has a full queue ({}/{}); new messages are {}", short_id(s), s.queue_length, s.capacity,
                    match s.overflow { crate::OverflowPolicy::Block => "making publishers wait", _ => "being dropped" }),
                "Its handler does not keep up: make it faster, run it with -RunAsync, call Wait-ModuleMessage in the subscribing runspace, or give it a larger -MaxQueueSize.",
            ));
        } else if pct > QUEUE_WARN_PERCENT {
            issues.push(issue(
                "QueueNearlyFull",
                Warning,
                "MessageBus",
                format!("subscription {} has its queue {:.0} % full ({}/{})", short_id(s), pct, s.queue_length, s.capacity),
                "Its handler does not keep up: make it faster, run it with -RunAsync, call Wait-ModuleMessage in the subscribing runspace, or give it a larger -MaxQueueSize.",
            ));
        }
    }
    let dropped = w.user_dropped();
    if dropped > 0 {
        let mut channels: Vec<String> =
            w.channel_dropped.iter().filter(|(_, n)| **n > 0).map(|(c, n)| format!("{c}: {n}")).collect();
        channels.sort();
        issues.push(issue(
            "MessagesDropped",
            Warning,
            "MessageBus",
            format!("{} message copies were lost to full queues recently ({})", dropped, channels.join(", ")),
            "Raise the subscription's -MaxQueueSize (or the channel's -MaxMessages), use -OverflowPolicy Block to make publishers wait, or speed up the handler.",
        ));
    }
    let expired = w.user_expired();
    if expired > 0 {
        issues.push(issue(
            "MessagesExpired",
            Warning,
            "MessageBus",
            format!("{} message copies expired before delivery recently", expired),
            "Handlers did not reach these messages within their -TimeToLive: lengthen the TTL, or handle messages faster (-RunAsync, Wait-ModuleMessage).",
        ));
    }
    for s in input.subs.iter().filter(|s| !crate::bus::is_private_name(&s.channel)) {
        let rising = w.sub_failed.get(&s.id).copied().unwrap_or(0);
        if rising > 0 {
            issues.push(issue(
                "HandlerErrorsRising",
                Warning,
                "MessageBus",
                format!(
                    "subscription {} failed {} time(s) recently (last error: {})",
                    short_id(s),
                    rising,
                    s.last_error.as_deref().unwrap_or("none recorded")
                ),
                "Fix the handler: Get-MessageSubscriptions shows its LastError; a handler that throws is counted as Failed.",
            ));
        }
    }
    // --- APIRegistry ---
    if w.api_calls > 0 {
        let rate = w.api_failures as f64 * 100.0 / w.api_calls as f64;
        if rate > API_FAILURE_WARN_PERCENT {
            issues.push(issue(
                "APIFailureRate",
                Warning,
                "APIRegistry",
                format!("{:.1} % of API calls failed recently ({} of {})", rate, w.api_failures, w.api_calls),
                "Look at Get-CommunicationMetrics | % { $_.API.RecentCalls } for the errors; check parameters, middleware and handler timeouts.",
            ));
        }
    }
    // --- Security ---
    if w.auth_failures > 0 {
        issues.push(issue(
            "AuthenticationFailures",
            Warning,
            "Security",
            format!("{} call(s) were refused for authentication or authorization recently", w.auth_failures),
            "Check that callers pass a valid, unexpired token with the scopes the API needs; revoke tokens that may have leaked.",
        ));
    }
    // --- CircuitBreakers ---
    if input.breakers.open > 0 {
        issues.push(issue(
            "CircuitBreakerOpen",
            Unhealthy,
            "CircuitBreakers",
            format!("{} circuit breaker(s) are open: {}", input.breakers.open, input.breakers.open_names.join(", ")),
            "Calls to these APIs fail fast: fix the failing handler or its dependency, then wait for the break to end or run Reset-CircuitBreaker.",
        ));
    } else if input.breakers.half_open > 0 {
        issues.push(issue(
            "CircuitBreakerHalfOpen",
            Warning,
            "CircuitBreakers",
            format!("{} circuit breaker(s) are half-open (testing whether the API recovered)", input.breakers.half_open),
            "Watch the next calls; if they fail the breaker opens again.",
        ));
    }
    // --- Configuration ---
    if let Some(e) = &input.config_error {
        issues.push(issue(
            "ConfigurationInvalid",
            Unhealthy,
            "Configuration",
            format!("the configuration is not valid: {e}"),
            "Correct it with Set-CommunicationConfiguration.",
        ));
    }
    // --- Checks ---
    for c in input.checks.iter().filter(|c| !c.success) {
        let (component, severity) = match c.name.as_str() {
            "MessagingTest" => ("MessageBus", Unhealthy),
            _ => ("MessageBus", Warning),
        };
        issues.push(HealthIssue {
            rule: if c.name == "MessagingTest" { "MessagingTestFailed" } else { "HealthCheckFailed" },
            severity,
            component,
            message: format!("{} failed: {}", c.name, c.details),
            recommendation: "Run Test-ModuleCommunication -TestType Basic for details; if the processor is stopped, run Start-MessageProcessor.".to_owned(),
        });
    }

    issues.sort_by(|a, b| b.severity.cmp(&a.severity));
    let mut recommendations: Vec<String> = Vec::new();
    for i in &issues {
        if !recommendations.contains(&i.recommendation) {
            recommendations.push(i.recommendation.clone());
        }
    }
    let status_of = |component: &str| {
        issues.iter().filter(|i| i.component == component).map(|i| i.severity).max().unwrap_or_default()
    };
    let count_of = |component: &str| issues.iter().filter(|i| i.component == component).count();
    let st = input.stats;
    let component = |name: &'static str, summary: String| ComponentHealth {
        name,
        status: status_of(name),
        summary,
        issues: count_of(name),
    };
    let components = vec![
        component(
            "MessageBus",
            format!(
                "{} channels, {} subscriptions, {} queued, processor {}",
                st.channels,
                st.subscriptions,
                st.queue_length,
                if st.running { "running" } else { "stopped" }
            ),
        ),
        component("APIRegistry", format!("{} APIs, {} calls recently", input.total_apis, w.api_calls)),
        component(
            "Configuration",
            if input.config_error.is_some() { "invalid".to_owned() } else { "valid".to_owned() },
        ),
        component(
            "Security",
            format!(
                "{}, {} active tokens, {} failures recently",
                if input.security.enabled { "enabled" } else { "disabled" },
                input.security.active_tokens,
                w.auth_failures
            ),
        ),
        component(
            "CircuitBreakers",
            format!(
                "{} breakers: {} open, {} half-open, {} closed",
                input.breakers.total, input.breakers.open, input.breakers.half_open, input.breakers.closed
            ),
        ),
    ];
    HealthReport {
        overall_health: issues.iter().map(|i| i.severity).max().unwrap_or_default(),
        timestamp_ms: input.now_ms,
        window_start_ms: input.window_start_ms,
        issues,
        recommendations,
        components,
        health_checks: input.checks,
    }
}
