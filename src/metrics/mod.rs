//! Metrics of a hub: latency histograms, API call records, per-interval history, and the
//! report that `Get-CommunicationMetrics` and `mc_metrics` show.
//!
//! Cheap on the hot path: the bus's counters are plain relaxed atomics that already exist;
//! metrics add one clock read and two relaxed increments per delivery (into the
//! subscription's own histogram, written only by its consumer, so no cache line bounces
//! between threads), and one atomic load per publish to see whether an interval ended.
//! Everything else — totals, percentiles, history — is computed when someone asks.
//!
//! **Intervals.** Time is cut into intervals of `metricsIntervalMs` (default 60 s). An
//! interval closes at the first publish or metrics read after its end: the counts since the
//! previous close are stored as one history entry (the newest `metricsHistorySize`, default
//! 60, are kept), and intervals without any activity are stored as empty entries. Counts
//! that arrive between an interval's end and its close belong to the closing interval. The
//! health rules look at the *recent window*: the last closed interval plus the current one.

mod health;
mod histogram;
mod report;

pub use health::{HealthCheck, HealthIssue, HealthOptions, HealthReport, HealthStatus};
pub(crate) use health::{evaluate, HealthInputs};
pub(crate) use histogram::{Histogram, HistogramSnapshot};
pub(crate) use report::{health_report, report};
pub use health::ComponentHealth;

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::bus::{BusStats, ChannelInfo, SubscriptionInfo};
use crate::id::SubscriptionId;
use crate::sync::{AtomicBool, AtomicI64, AtomicU64, Mutex, Ordering};

/// Default length of a metrics interval: one minute.
pub(crate) const DEFAULT_INTERVAL_MS: u64 = 60_000;
/// Default number of intervals kept.
pub(crate) const DEFAULT_HISTORY_SIZE: usize = 60;
/// API calls kept for `RecentCalls`.
pub(crate) const RECENT_CALLS: usize = 100;

/// Counts at one moment, from which interval and window deltas are computed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub published: u64,
    pub delivered: u64,
    pub failed: u64,
    pub filtered: u64,
    pub expired: u64,
    pub dropped: u64,
    pub api_calls: u64,
    pub api_failures: u64,
    pub auth_failures: u64,
    pub delivery: HistogramSnapshot,
    pub api: HistogramSnapshot,
    /// Failed deliveries per live subscription.
    pub sub_failed: HashMap<SubscriptionId, u64>,
    /// Dropped copies per channel (display name; message and event channels, not private ones).
    pub channel_dropped: HashMap<String, u64>,
    /// Expired copies per channel (as `channel_dropped`).
    pub channel_expired: HashMap<String, u64>,
}

impl Totals {
    /// Dropped copies of user (non-private) channels: what the health rules look at, so
    /// the deliberate losses of the self-tests do not raise issues.
    pub fn user_dropped(&self) -> u64 {
        self.channel_dropped.values().sum()
    }

    /// Expired copies of user (non-private) channels.
    pub fn user_expired(&self) -> u64 {
        self.channel_expired.values().sum()
    }
}

impl Totals {
    /// The counts since `earlier` (each saturating at 0, so a reset in between is harmless).
    pub fn since(&self, earlier: &Totals) -> Totals {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Totals {
            published: d(self.published, earlier.published),
            delivered: d(self.delivered, earlier.delivered),
            failed: d(self.failed, earlier.failed),
            filtered: d(self.filtered, earlier.filtered),
            expired: d(self.expired, earlier.expired),
            dropped: d(self.dropped, earlier.dropped),
            api_calls: d(self.api_calls, earlier.api_calls),
            api_failures: d(self.api_failures, earlier.api_failures),
            auth_failures: d(self.auth_failures, earlier.auth_failures),
            delivery: self.delivery.since(&earlier.delivery),
            api: self.api.since(&earlier.api),
            sub_failed: self
                .sub_failed
                .iter()
                .map(|(id, n)| (*id, d(*n, earlier.sub_failed.get(id).copied().unwrap_or(0))))
                .collect(),
            channel_dropped: self
                .channel_dropped
                .iter()
                .map(|(c, n)| (c.clone(), d(*n, earlier.channel_dropped.get(c).copied().unwrap_or(0))))
                .collect(),
            channel_expired: self
                .channel_expired
                .iter()
                .map(|(c, n)| (c.clone(), d(*n, earlier.channel_expired.get(c).copied().unwrap_or(0))))
                .collect(),
        }
    }
}

/// One closed interval of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntervalMetrics {
    /// Start of the interval (ms since the Unix epoch; ISO 8601 in JSON).
    #[serde(rename = "start", serialize_with = "crate::time_fmt::serialize_ms")]
    pub start_ms: i64,
    /// End of the interval (exclusive).
    #[serde(rename = "end", serialize_with = "crate::time_fmt::serialize_ms")]
    pub end_ms: i64,
    /// Messages and events published.
    pub published: u64,
    /// Deliveries handled successfully.
    pub delivered: u64,
    /// Deliveries whose handler failed.
    pub failed: u64,
    /// Copies that expired.
    pub expired: u64,
    /// Copies lost to full queues.
    pub dropped: u64,
    /// API calls.
    pub api_calls: u64,
    /// API calls that failed.
    pub api_failures: u64,
    /// Authentication and authorization failures.
    pub auth_failures: u64,
    /// Delivery latency percentiles of the interval.
    pub delivery_latency: Latency,
    /// API call duration percentiles of the interval.
    pub api_latency: Latency,
}

/// Percentiles of a latency histogram, in milliseconds. Each is the upper bound of the
/// histogram bucket the percentile falls in (never below the true value, at most 25 %
/// above it).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Latency {
    /// Values recorded.
    pub count: u64,
    /// Mean (exact, from the sum).
    pub average_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

impl Latency {
    pub(crate) fn of(h: &HistogramSnapshot) -> Latency {
        Latency {
            count: h.count(),
            average_ms: h.mean_ms(),
            p50_ms: h.quantile_ms(0.50),
            p95_ms: h.quantile_ms(0.95),
            p99_ms: h.quantile_ms(0.99),
        }
    }
}

/// One API call, as kept for `RecentCalls`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiCallRecord {
    /// `Module.Operation`.
    pub api: String,
    /// When the call started.
    #[serde(rename = "startTime", serialize_with = "crate::time_fmt::serialize_ms")]
    pub start_ms: i64,
    /// How long it took, in ms.
    pub duration_ms: f64,
    /// Whether it succeeded.
    pub success: bool,
    /// The error, for a failed call (never parameters, tokens or other secrets).
    pub error: Option<String>,
}

#[derive(Default)]
struct History {
    entries: VecDeque<IntervalMetrics>,
    current_start_ms: i64,
    /// Counts when the current interval started.
    base: Totals,
    /// Counts when the previous (last closed) interval started: the recent window's base.
    prev_base: Totals,
    /// When `prev_base` was taken.
    window_start_ms: i64,
}

/// The metrics state of a hub (in its shared context, so every part can record).
pub(crate) struct Metrics {
    enabled: AtomicBool,
    interval_ms: AtomicI64,
    history_size: AtomicU64,
    next_roll_ms: AtomicI64,
    /// When the metrics were last reset (or the hub made).
    since_ms: AtomicI64,
    /// API call durations.
    pub api: Histogram,
    api_calls: AtomicU64,
    api_failures: AtomicU64,
    auth_failures: AtomicU64,
    recent_calls: Mutex<VecDeque<ApiCallRecord>>,
    history: Mutex<History>,
}

impl Metrics {
    pub fn new(now_ms: i64) -> Metrics {
        let interval = DEFAULT_INTERVAL_MS as i64;
        Metrics {
            enabled: AtomicBool::new(true),
            interval_ms: AtomicI64::new(interval),
            history_size: AtomicU64::new(DEFAULT_HISTORY_SIZE as u64),
            next_roll_ms: AtomicI64::new(now_ms.saturating_add(interval)),
            since_ms: AtomicI64::new(now_ms),
            api: Histogram::default(),
            api_calls: AtomicU64::new(0),
            api_failures: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
            recent_calls: Mutex::new(VecDeque::new()),
            history: Mutex::new(History { current_start_ms: now_ms, window_start_ms: now_ms, ..Default::default() }),
        }
    }

    /// Whether latencies are recorded (counters always are).
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Applies the configuration's metrics settings.
    pub fn configure(&self, enabled: bool, interval_ms: u64, history_size: usize) {
        self.enabled.store(enabled, Ordering::Relaxed);
        self.history_size.store(history_size as u64, Ordering::Relaxed);
        let interval = interval_ms.max(1) as i64;
        let h = self.history.lock();
        self.interval_ms.store(interval, Ordering::Relaxed);
        self.next_roll_ms.store(h.current_start_ms.saturating_add(interval), Ordering::Relaxed);
        drop(h);
        self.trim();
    }

    fn trim(&self) {
        let cap = self.history_size.load(Ordering::Relaxed) as usize;
        let mut h = self.history.lock();
        while h.entries.len() > cap {
            h.entries.pop_front();
        }
    }

    pub fn interval_ms(&self) -> i64 {
        self.interval_ms.load(Ordering::Relaxed)
    }

    pub fn since_ms(&self) -> i64 {
        self.since_ms.load(Ordering::Relaxed)
    }

    /// Whether the current interval has ended by `now_ms` (one relaxed load).
    #[inline]
    pub fn roll_due(&self, now_ms: i64) -> bool {
        now_ms >= self.next_roll_ms.load(Ordering::Relaxed)
    }

    /// Closes every interval that ended by `now_ms`, with the counts `collect` gives.
    pub fn roll(&self, now_ms: i64, collect: impl FnOnce(&Metrics) -> Totals) {
        let mut h = self.history.lock();
        let interval = self.interval_ms();
        let end = h.current_start_ms.saturating_add(interval);
        if now_ms < end {
            return;
        }
        let cur = collect(self);
        let cap = self.history_size.load(Ordering::Relaxed) as usize;
        let d = cur.since(&h.base);
        let start_ms = h.current_start_ms;
        h.entries.push_back(IntervalMetrics {
            start_ms,
            end_ms: end,
            published: d.published,
            delivered: d.delivered,
            failed: d.failed,
            expired: d.expired,
            dropped: d.dropped,
            api_calls: d.api_calls,
            api_failures: d.api_failures,
            auth_failures: d.auth_failures,
            delivery_latency: Latency::of(&d.delivery),
            api_latency: Latency::of(&d.api),
        });
        // Whole intervals that passed without a roll had no activity seen: empty entries
        // (only the newest `cap` of them matter).
        let elapsed = (now_ms - h.current_start_ms) / interval; // >= 1
        let empty = (elapsed - 1).min(cap as i64);
        for k in 0..empty {
            let start = start_ms + (elapsed - empty + k) * interval;
            h.entries.push_back(IntervalMetrics {
                start_ms: start,
                end_ms: start + interval,
                published: 0,
                delivered: 0,
                failed: 0,
                expired: 0,
                dropped: 0,
                api_calls: 0,
                api_failures: 0,
                auth_failures: 0,
                delivery_latency: Latency::default(),
                api_latency: Latency::default(),
            });
        }
        while h.entries.len() > cap {
            h.entries.pop_front();
        }
        if elapsed == 1 {
            h.prev_base = std::mem::take(&mut h.base);
            h.window_start_ms = h.current_start_ms;
        } else {
            h.prev_base = cur.clone();
            h.window_start_ms = now_ms;
        }
        h.base = cur;
        h.current_start_ms += elapsed * interval;
        self.next_roll_ms.store(h.current_start_ms + interval, Ordering::Relaxed);
    }

    /// The counts at the start of the recent window (see the module documentation).
    pub fn window_base(&self) -> Totals {
        self.history.lock().prev_base.clone()
    }

    /// When the recent window starts.
    pub fn window_start_ms(&self) -> i64 {
        self.history.lock().window_start_ms
    }

    /// The closed intervals, oldest first.
    pub fn history(&self) -> Vec<IntervalMetrics> {
        self.history.lock().entries.iter().cloned().collect()
    }

    /// Adds the metrics' own counters to `t`.
    pub fn add_own(&self, t: &mut Totals) {
        t.api_calls = self.api_calls.load(Ordering::Relaxed);
        t.api_failures = self.api_failures.load(Ordering::Relaxed);
        t.auth_failures = self.auth_failures.load(Ordering::Relaxed);
        t.api = self.api.snapshot();
    }

    /// Records one finished API call.
    pub fn record_api_call(&self, api: &str, start_ms: i64, duration_ns: i64, success: bool, error: Option<&str>) {
        self.api_calls.fetch_add(1, Ordering::Relaxed);
        if !success {
            self.api_failures.fetch_add(1, Ordering::Relaxed);
        }
        if self.enabled() {
            self.api.record_ns(duration_ns);
        }
        let mut recent = self.recent_calls.lock();
        if recent.len() >= RECENT_CALLS {
            recent.pop_front();
        }
        recent.push_back(ApiCallRecord {
            api: api.to_owned(),
            start_ms,
            duration_ms: duration_ns.max(0) as f64 / 1e6,
            success,
            error: error.map(|e| for_record(e).into_owned()),
        });
    }

    /// Counts an authentication or authorization failure.
    pub fn count_auth_failure(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The recent API calls, newest first.
    pub fn recent_calls(&self) -> Vec<ApiCallRecord> {
        self.recent_calls.lock().iter().rev().cloned().collect()
    }

    /// Zeroes the metrics' own counters and history; the new interval starts at `now_ms`.
    pub fn reset(&self, now_ms: i64) {
        self.api.reset();
        self.api_calls.store(0, Ordering::Relaxed);
        self.api_failures.store(0, Ordering::Relaxed);
        self.auth_failures.store(0, Ordering::Relaxed);
        self.recent_calls.lock().clear();
        let mut h = self.history.lock();
        *h = History { current_start_ms: now_ms, window_start_ms: now_ms, ..Default::default() };
        self.next_roll_ms.store(now_ms.saturating_add(self.interval_ms()), Ordering::Relaxed);
        self.since_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// Removes what could be a secret from a text that goes into errors, metrics or traces: the
/// value after `Bearer `, `token=`, `password=`, `secret=`, `apikey=` (any case) is
/// replaced by `***`, and so is the body of anything shaped like this library's tokens
/// (`mct_` and 43 more characters), wherever it stands: an API parameter's value quoted in a
/// validation error, say. A text without any marker is returned as it is, without a copy:
/// every marker ends in `=`, `:` or a space, so a text with none of those is kept.
pub(crate) fn redact(text: &str) -> Cow<'_, str> {
    let text = match redact_tokens(text) {
        Cow::Borrowed(t) => t,
        Cow::Owned(t) => return Cow::Owned(redact_markers(&t).into_owned()),
    };
    redact_markers(text)
}

/// A text kept for later (recent calls, traces, last errors): redacted, and without the C
/// function names that the core's messages give C callers next to the cmdlet
/// ("Get-ModuleAPIs (mc_api_list)"). The caller got the whole message when its call failed;
/// a record is read later by PowerShell users and C callers alike, and the trace file by
/// anyone, where an internal function name is noise.
pub(crate) fn for_record(text: &str) -> Cow<'_, str> {
    match without_c_names(text) {
        Cow::Borrowed(t) => redact(t),
        Cow::Owned(t) => Cow::Owned(redact(&t).into_owned()),
    }
}

/// `text` without its ` (mc_name)` and ` (mc_name, mc_other)` groups.
fn without_c_names(text: &str) -> Cow<'_, str> {
    const OPEN: &str = " (mc_";
    if !text.contains(OPEN) {
        return Cow::Borrowed(text);
    }
    // The length of `mc_a, mc_b` up to the closing parenthesis, if `s` starts such a group.
    let names_len = |s: &str| {
        let mut i = 0;
        loop {
            s[i..].starts_with("mc_").then_some(())?;
            i += 3;
            let n = s[i..].bytes().take_while(|b| b.is_ascii_lowercase() || *b == b'_').count();
            (n > 0).then_some(())?;
            i += n;
            match s[i..].strip_prefix(", ") {
                Some(_) => i += 2,
                None => return s[i..].starts_with(')').then_some(i),
            }
        }
    };
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let group = &rest[at + 2..];
        match names_len(group) {
            Some(n) => {
                out.push_str(&rest[..at]);
                rest = &group[n + 1..];
            }
            None => {
                out.push_str(&rest[..at + 2]);
                rest = group;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Replaces `text` by its redacted form when that differs (no copy when it does not).
pub(crate) fn redact_in_place(text: &mut String) {
    if let Cow::Owned(clean) = redact(text) {
        *text = clean;
    }
}

/// Replaces the body of every token-shaped word (`mct_` then at least 20 token characters).
fn redact_tokens(text: &str) -> Cow<'_, str> {
    use crate::security::TOKEN_PREFIX;
    if !text.contains(TOKEN_PREFIX) {
        return Cow::Borrowed(text);
    }
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find(TOKEN_PREFIX) {
        let start = from + found + TOKEN_PREFIX.len();
        let end = start + bytes[start..].iter().take_while(|&&b| is_token_char(b)).count();
        if end - start >= 20 {
            out.push_str(&text[last..start]);
            out.push_str("***");
            last = end;
        }
        from = end.max(start);
    }
    if last == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[last..]);
    Cow::Owned(out)
}

fn redact_markers(text: &str) -> Cow<'_, str> {
    const MARKERS: [&str; 7] = ["bearer ", "token=", "token:", "password=", "password:", "secret=", "apikey="];
    if !text.bytes().any(|b| matches!(b, b'=' | b':' | b' ')) {
        return Cow::Borrowed(text);
    }
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hit = MARKERS.iter().find(|m| lower[i..].starts_with(**m));
        match hit {
            Some(m) => {
                out.push_str(&text[i..i + m.len()]);
                i += m.len();
                let rest = &text[i..];
                let value_len = rest
                    .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '&' | ')' | '}'))
                    .unwrap_or(rest.len());
                if value_len > 0 {
                    out.push_str("***");
                }
                i += value_len;
            }
            None => {
                let c = text[i..].chars().next().expect("i is on a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    Cow::Owned(out)
}

/// Totals of the message bus part of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageBusMetrics {
    /// Message channels.
    pub total_channels: usize,
    /// Subscriptions (message and event).
    pub total_subscriptions: usize,
    /// Messages and events published.
    pub published: u64,
    /// Deliveries handled successfully.
    pub delivered: u64,
    /// Deliveries whose handler failed.
    pub failed: u64,
    /// Deliveries that subscribers' filters skipped.
    pub filtered: u64,
    /// Copies that expired before delivery.
    pub expired: u64,
    /// Copies lost to full queues.
    pub dropped: u64,
    /// Copies discarded on purpose (queues cleared, subscriptions removed with messages queued).
    pub cleared: u64,
    /// Messages waiting in subscription queues now.
    pub queue_length: usize,
    /// Messages handed to handlers and not yet reported.
    pub in_flight: usize,
    /// The fullest subscription queue, in percent of its capacity.
    pub max_queue_usage_percent: f64,
    /// Whether the processor hands messages out.
    pub running: bool,
}

/// The event part of the report: event channels only.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct EventMetrics {
    /// Event channels that exist.
    pub event_channels: usize,
    /// Event subscriptions.
    pub subscriptions: usize,
    /// Events published.
    pub published: u64,
    /// Event deliveries handled successfully.
    pub delivered: u64,
    /// Event deliveries whose handler failed.
    pub failed: u64,
    /// Event copies that expired.
    pub expired: u64,
    /// Event copies lost to full queues.
    pub dropped: u64,
    /// Events in the history.
    pub history_size: usize,
    /// Capacity of the history.
    pub history_capacity: usize,
}

/// One API in `TopAPIs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiUsage {
    /// `Module.Operation`.
    pub name: String,
    /// Calls.
    pub call_count: u64,
    /// Failed calls.
    pub failed: u64,
    /// Mean duration, ms.
    pub average_execution_time: f64,
}

/// The API registry part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct ApiMetrics {
    /// Registered APIs.
    #[serde(rename = "totalAPIs")]
    pub total_apis: usize,
    /// Calls since the last reset.
    pub total_calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// Percentage of calls that succeeded (100 when there were none).
    pub success_rate: f64,
    /// The most called APIs, most calls first (at most 10).
    #[serde(rename = "topAPIs")]
    pub top_apis: Vec<ApiUsage>,
    /// The latest calls, newest first (at most 100).
    pub recent_calls: Vec<ApiCallRecord>,
}

/// The security part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SecurityMetrics {
    /// Whether security is enabled.
    pub enabled: bool,
    /// Authentication and authorization failures since the last reset.
    pub auth_failures: u64,
    /// Tokens that are valid now.
    pub active_tokens: usize,
}

/// The circuit breaker part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct BreakerMetrics {
    /// Breakers that exist.
    pub total: usize,
    /// Open (calls fail fast).
    pub open: usize,
    /// Half-open (trial calls).
    pub half_open: usize,
    /// Closed (normal).
    pub closed: usize,
    /// The names of the open breakers.
    pub open_names: Vec<String>,
}

/// Latencies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceMetrics {
    /// Mean API call duration, ms (0 without calls).
    #[serde(rename = "averageAPIExecutionTime")]
    pub average_api_execution_time: f64,
    /// Mean delivery latency (publish to handler done), ms.
    pub average_delivery_time: f64,
    /// Delivery latency: from publish until the subscriber finished handling the message
    /// (queue wait plus handler time). With a channel filter, over the subscriptions that
    /// receive that channel.
    pub delivery_latency: Latency,
    /// API call duration, the whole pipeline.
    pub api_latency: Latency,
}

/// What `Get-CommunicationMetrics` / `mc_metrics` report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricsReport {
    /// Start of the counting period (the last reset, or the hub's creation).
    #[serde(rename = "since", serialize_with = "crate::time_fmt::serialize_ms")]
    pub since_ms: i64,
    /// When the report was made.
    #[serde(rename = "timestamp", serialize_with = "crate::time_fmt::serialize_ms")]
    pub timestamp_ms: i64,
    /// Length of one history interval, ms.
    pub interval_ms: i64,
    /// Bus totals.
    pub message_bus: MessageBusMetrics,
    /// Message channels (all, or those matching the channel filter).
    pub channels: Vec<ChannelInfo>,
    /// Subscriptions (all, or those for the channel filter).
    pub subscriptions: Vec<SubscriptionInfo>,
    /// Events.
    pub events: EventMetrics,
    /// API calls.
    #[serde(rename = "api")]
    pub api: ApiMetrics,
    /// Security.
    pub security: SecurityMetrics,
    /// Circuit breakers.
    pub circuit_breakers: BreakerMetrics,
    /// Latencies.
    pub performance: PerformanceMetrics,
    /// Closed intervals, oldest first (only when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<IntervalMetrics>>,
}

/// What to include in a metrics report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Only this channel (name or `-like` pattern).
    pub channel: Option<String>,
    /// Include the per-interval history.
    pub include_history: bool,
}

impl MetricsOptions {
    /// Parses `{"channel":"Config*","includeHistory":true}` (both optional).
    pub fn from_json(json: &str) -> Result<MetricsOptions, crate::Error> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields, rename_all = "camelCase")]
        struct Wire {
            #[serde(default)]
            channel: Option<String>,
            #[serde(default)]
            include_history: bool,
        }
        let w: Wire = crate::bus::parse_object(json, "metrics options", r#"{"channel":"Config*","includeHistory":true}"#)?;
        Ok(MetricsOptions { channel: w.channel, include_history: w.include_history })
    }
}

/// Builds the bus part of a report from the bus's stats and subscriptions.
pub(crate) fn message_bus_metrics(stats: &BusStats, subs: &[SubscriptionInfo]) -> MessageBusMetrics {
    let max_usage = subs
        .iter()
        .filter(|s| s.capacity > 0)
        .map(|s| s.queue_length as f64 * 100.0 / s.capacity as f64)
        .fold(0.0, f64::max);
    MessageBusMetrics {
        total_channels: stats.channels,
        total_subscriptions: stats.subscriptions,
        published: stats.published,
        delivered: stats.delivered,
        failed: stats.failed,
        filtered: stats.filtered,
        expired: stats.expired,
        dropped: stats.dropped,
        cleared: stats.cleared,
        queue_length: stats.queue_length,
        in_flight: stats.in_flight,
        max_queue_usage_percent: max_usage,
        running: stats.running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn totals(published: u64, dropped: u64) -> Totals {
        Totals { published, dropped, ..Default::default() }
    }

    #[test]
    fn an_interval_closes_with_the_counts_since_the_last_close() {
        let m = Metrics::new(0);
        m.configure(true, 1_000, 10);
        assert!(!m.roll_due(999));
        assert!(m.roll_due(1_000));
        m.roll(1_000, |_| totals(5, 1));
        m.roll(2_500, |_| totals(12, 1));
        let h = m.history();
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].start_ms, h[0].end_ms, h[0].published, h[0].dropped), (0, 1_000, 5, 1));
        assert_eq!((h[1].start_ms, h[1].end_ms, h[1].published, h[1].dropped), (1_000, 2_000, 7, 0));
        assert!(!m.roll_due(2_999));
        assert!(m.roll_due(3_000));
    }

    #[test]
    fn idle_intervals_become_empty_entries_and_only_the_newest_are_kept() {
        let m = Metrics::new(0);
        m.configure(true, 100, 3);
        m.roll(1_050, |_| totals(4, 0));
        let h = m.history();
        assert_eq!(h.len(), 3);
        assert_eq!(h.iter().map(|e| e.start_ms).collect::<Vec<_>>(), vec![700, 800, 900]);
        assert!(h.iter().all(|e| e.published == 0));
        // The recent window after a gap starts at the last roll.
        assert_eq!(m.window_base().published, 4);
    }

    #[test]
    fn the_recent_window_spans_the_last_closed_interval_and_the_current_one() {
        let m = Metrics::new(0);
        m.configure(true, 100, 10);
        m.roll(100, |_| totals(3, 2));
        assert_eq!(m.window_base().dropped, 0);
        m.roll(200, |_| totals(3, 2));
        assert_eq!(m.window_base().dropped, 2);
    }

    #[test]
    fn recent_calls_keep_the_newest_hundred_newest_first_and_redact_secrets() {
        let m = Metrics::new(0);
        for i in 0..105 {
            m.record_api_call("A.B", i, 1_000_000, i % 2 == 0, Some("bad token=abc123 given"));
        }
        let r = m.recent_calls();
        assert_eq!(r.len(), 100);
        assert_eq!(r[0].start_ms, 104);
        assert_eq!(r[1].error.as_deref(), Some("bad token=*** given"));
    }

    #[test]
    fn redaction_hides_token_shaped_words_wherever_they_stand() {
        let token = format!("{}{}", crate::security::TOKEN_PREFIX, "A".repeat(43));
        let text = format!("Code: '{token}' does not match the pattern; also {token}.");
        assert_eq!(redact(&text), "Code: 'mct_***' does not match the pattern; also mct_***.");
        assert_eq!(redact("mct_short stays"), "mct_short stays");
    }

    #[test]
    fn records_leave_out_c_function_names_only() {
        assert_eq!(for_record("see Get-ModuleAPIs (mc_api_list)"), "see Get-ModuleAPIs");
        assert_eq!(for_record("A (mc_a, mc_b_c); B (mc_x)."), "A; B.");
        assert_eq!(for_record("kept (mc_) (mc_X) (mc_a b) (mc_a"), "kept (mc_) (mc_X) (mc_a b) (mc_a");
        assert_eq!(
            for_record("New-AuthenticationToken (mc_token_create): token=abc"),
            "New-AuthenticationToken: token=***"
        );
    }

    #[test]
    fn redaction_hides_values_after_secret_markers_only() {
        assert_eq!(redact("Authorization: Bearer abc.def"), "Authorization: Bearer ***");
        assert_eq!(redact("password=hunter2;user=x"), "password=***;user=x");
        assert_eq!(redact("nothing secret here"), "nothing secret here");
        assert_eq!(redact("ümlaut Token=é"), "ümlaut Token=***");
    }
}
