//! Subscriptions: a pattern pair, a bounded queue, counters, and either a push worker
//! thread or a pull consumer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bus::channel::ChannelKind;
use crate::bus::message::{check_name, parse_object, Envelope, Priority};
use crate::bus::queue::{Lanes, OverflowPolicy};
use crate::bus::Shared;
use crate::error::Error;
use crate::id::SubscriptionId;
use crate::metrics::Histogram;
use crate::sync::{Arc, AtomicBool, AtomicU64, CachePadded, Condvar, Mutex, MutexGuard, Ordering, RwLock};
use crate::wildcard::{fold, Pattern};

/// A push handler: called on the subscription's worker thread with each message; returns
/// `false` when handling failed.
pub type PushHandler = Box<dyn FnMut(&Envelope) -> bool + Send + 'static>;

/// A pull notifier: called on the publishing thread when a message arrives and the
/// notifier is armed (see [`Hub::subscribe_pull`](crate::Hub::subscribe_pull)).
pub type PullNotify = Box<dyn Fn() + Send + Sync + 'static>;

/// How a subscription receives its messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DeliveryMode {
    /// A library worker thread calls a handler.
    Push,
    /// The subscriber takes batches itself.
    Pull,
}

/// What to subscribe to, and how the queue behaves. Unset values come from the channel
/// and the hub's [`Config`](crate::Config) at subscribe time.
///
/// ```
/// use module_communication::{OverflowPolicy, SubscriptionOptions};
/// let opts = SubscriptionOptions::new("Config*")
///     .message_type("*Changed")
///     .capacity(1_000)
///     .overflow(OverflowPolicy::Block)
///     .block_timeout_ms(250);
/// assert_eq!(opts.capacity, Some(1_000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionOptions {
    /// Channel name or `-like` pattern (`Config*`). Required.
    pub channel: String,
    /// Message type name or pattern; `None` means `*`.
    pub message_type: Option<String>,
    /// Queue capacity; `None` means the literal channel's `max_messages`, or the
    /// configuration's `max_message_queue_size`.
    pub capacity: Option<usize>,
    /// Overflow policy; `None` means the configuration's `default_overflow`.
    pub overflow: Option<OverflowPolicy>,
    /// How long a `Block` publisher waits, in ms; `None` means the configuration's.
    pub block_timeout_ms: Option<u64>,
    /// Only messages from this source module (compared case-insensitively).
    pub source_module: Option<String>,
    /// Token presented for the security check (`messages:subscribe`); not kept.
    pub authentication_token: Option<crate::security::TokenText>,
}

/// The JSON form of [`SubscriptionOptions`]; the overflow name is checked after parsing
/// so that a bad name is an invalid argument, not invalid JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WireOptions {
    channel: String,
    #[serde(default)]
    message_type: Option<String>,
    #[serde(default)]
    capacity: Option<usize>,
    #[serde(default)]
    overflow: Option<String>,
    #[serde(default)]
    block_timeout_ms: Option<u64>,
    #[serde(default)]
    source_module: Option<String>,
    #[serde(default)]
    authentication_token: Option<crate::security::TokenText>,
}

const OPTIONS_EXPECTED: &str =
    r#"{"channel":"Config*","messageType":"*","capacity":1000,"overflow":"DropOldest","blockTimeoutMs":1000}"#;

impl SubscriptionOptions {
    /// Options for the channel name or pattern `channel`, everything else by default.
    pub fn new(channel: impl Into<String>) -> Self {
        SubscriptionOptions { channel: channel.into(), ..Default::default() }
    }

    /// Parses the C ABI's subscription options object (camelCase keys, unknown keys
    /// rejected, `overflow` names compared case-insensitively).
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let wire: WireOptions = parse_object(json, "subscription options", OPTIONS_EXPECTED)?;
        Ok(SubscriptionOptions {
            channel: wire.channel,
            message_type: wire.message_type,
            capacity: wire.capacity,
            overflow: wire.overflow.as_deref().map(str::parse).transpose()?,
            block_timeout_ms: wire.block_timeout_ms,
            source_module: wire.source_module,
            authentication_token: wire.authentication_token,
        })
    }

    /// Sets the message type name or pattern.
    pub fn message_type(mut self, pattern: impl Into<String>) -> Self {
        self.message_type = Some(pattern.into());
        self
    }

    /// Presents an authentication token for the security check; it is not kept.
    pub fn authentication_token(mut self, token: impl Into<String>) -> Self {
        self.authentication_token = Some(crate::security::TokenText::new(token));
        self
    }

    /// Sets the queue capacity (at least 1).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the overflow policy.
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = Some(policy);
        self
    }

    /// Sets the `Block` timeout in ms.
    pub fn block_timeout_ms(mut self, ms: u64) -> Self {
        self.block_timeout_ms = Some(ms);
        self
    }

    /// Accepts only messages whose source module is `module`.
    pub fn source_module(mut self, module: impl Into<String>) -> Self {
        self.source_module = Some(module.into());
        self
    }
}

/// What a pull subscriber did with the messages handed out by its earlier takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Handled successfully (counted as delivered).
    pub handled: usize,
    /// Handling failed.
    pub failed: usize,
    /// Skipped by the subscriber's own filter.
    pub filtered: usize,
    /// The last failure's message, kept as the subscription's `lastError`.
    pub last_error: Option<String>,
}

/// One subscription, as listed by [`Hub::subscriptions`](crate::Hub::subscriptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    /// The id.
    pub id: SubscriptionId,
    /// Message or event subscription.
    pub kind: ChannelKind,
    /// Channel name or pattern.
    pub channel: String,
    /// Message type name or pattern.
    pub message_type: String,
    /// Push or pull.
    pub mode: DeliveryMode,
    /// Queue capacity.
    pub capacity: usize,
    /// Overflow policy.
    pub overflow: OverflowPolicy,
    /// `Block` timeout in ms.
    pub block_timeout_ms: u64,
    /// Source module filter.
    pub source_module: Option<String>,
    /// When it was created (ms since the Unix epoch; ISO 8601 in JSON).
    #[serde(rename = "createdAt", serialize_with = "crate::time_fmt::serialize_ms")]
    pub created_at_ms: i64,
    /// Messages waiting in its queue.
    pub queue_length: usize,
    /// Messages handed to its handler and not yet reported (see [`crate::BusStats`]).
    pub in_flight: usize,
    /// Messages handled successfully.
    pub delivered: u64,
    /// Messages whose handling failed.
    pub failed: u64,
    /// Messages the subscriber filtered out.
    pub filtered: u64,
    /// Messages that expired in its queue.
    pub expired: u64,
    /// Messages lost to its full queue.
    pub dropped: u64,
    /// Messages discarded on purpose from its queue (cleared) or handed out and never
    /// reported when it was removed.
    pub cleared: u64,
    /// The last handler failure.
    pub last_error: Option<String>,
}

#[derive(Default)]
pub(crate) struct SubCounters {
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub filtered: AtomicU64,
    pub expired: AtomicU64,
    pub dropped: AtomicU64,
    pub cleared: AtomicU64,
}

impl SubCounters {
    /// Sets every counter to zero (Reset-CommunicationMetrics).
    pub fn reset(&self) {
        for c in self.fields() {
            c.store(0, Ordering::Relaxed);
        }
    }

    pub fn add(&self, other: &SubCounters) {
        for (mine, theirs) in self.fields().into_iter().zip(other.fields()) {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    fn fields(&self) -> [&AtomicU64; 6] {
        [&self.delivered, &self.failed, &self.filtered, &self.expired, &self.dropped, &self.cleared]
    }
}

pub(crate) struct State {
    pub queue: Lanes<Arc<Envelope>>,
    /// Push: messages taken by the worker and not yet completed (0 or 1).
    pub in_hand: usize,
    /// Pull: messages handed out by takes and not yet completed.
    pub handed_out: Vec<Arc<Envelope>>,
    /// `Block`: publishers waiting for room. Their messages are on the way into the queue,
    /// so the subscription is not idle while they wait (room made for one wakes it, and
    /// the queue is empty until it has queued its message).
    pub blocked: usize,
    pub closed: bool,
}

impl State {
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.in_hand == 0 && self.handed_out.is_empty() && self.blocked == 0
    }

    /// Messages handed to the handler and not yet reported.
    pub fn in_flight(&self) -> usize {
        self.in_hand + self.handed_out.len()
    }
}

/// The result of offering a message to a subscription.
pub(crate) enum Offer {
    Queued,
    Dropped,
    Rejected,
    Closed,
}

pub(crate) struct Subscription {
    pub id: SubscriptionId,
    /// Message subscriptions match only message channels, event subscriptions only event channels.
    pub kind: ChannelKind,
    pub channel: Pattern,
    pub message_type: Pattern,
    pub source_module: Option<String>,
    /// `-like` pattern over the publisher's sourceModule, like channel and message type.
    source_module_pattern: Option<Pattern>,
    pub capacity: usize,
    pub overflow: OverflowPolicy,
    pub block_timeout_ms: u64,
    pub mode: DeliveryMode,
    pub created_at_ms: i64,
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    /// Bumped by every push (under the state lock). The push worker watches it, without
    /// the lock, for a moment before it sleeps.
    pushes: CachePadded<AtomicU64>,
    /// Bumped by the push worker (or a pull consumer's reports), apart from what
    /// publishers write.
    pub counters: CachePadded<SubCounters>,
    /// Delivery latencies (publish to handled), written only by this subscription's
    /// consumer.
    pub latency: Histogram,
    last_error: Mutex<Option<String>>,
    notify: Option<PullNotify>,
    notify_armed: AtomicBool,
    /// `true` once closed; read-locked around each notifier call.
    notify_gate: RwLock<bool>,
    pub worker: Mutex<Option<JoinHandle<()>>>,
    /// Set when the worker unsubscribed itself: it then adds its counters to the bus
    /// totals when it exits, after counting its last call.
    pub retire_on_exit: AtomicBool,
}

pub(crate) const MAX_CAPACITY: usize = 100_000_000;
pub(crate) const MAX_BLOCK_TIMEOUT_MS: u64 = 3_600_000;

impl Subscription {
    /// Validates `opts` and builds the subscription (not yet routed, no worker yet).
    pub fn build(
        shared: &Shared,
        opts: SubscriptionOptions,
        kind: ChannelKind,
        mode: DeliveryMode,
        notify: Option<PullNotify>,
    ) -> Result<Subscription, Error> {
        if opts.channel.is_empty() {
            return Err(Error::invalid("channel", "", "give a channel name or a pattern such as 'Config*'"));
        }
        // A pattern no name could match (blank, too long, with a control character) is a mistake.
        check_name("channel", &opts.channel)?;
        let channel = Pattern::new(&opts.channel).map_err(|r| Error::invalid("channel", &opts.channel, r))?;
        let mt_text = opts.message_type.as_deref().unwrap_or("*");
        if mt_text.is_empty() {
            return Err(Error::invalid("messageType", "", "give a message type, a pattern, or '*' for all"));
        }
        check_name("messageType", mt_text)?;
        let message_type = Pattern::new(mt_text).map_err(|r| Error::invalid("messageType", mt_text, r))?;
        let source_module_pattern = match &opts.source_module {
            Some(m) => {
                check_name("sourceModule", m)?;
                Some(Pattern::new(m).map_err(|r| Error::invalid("sourceModule", m, r))?)
            }
            None => None,
        };
        let config = shared.ctx.config.read().clone();
        let capacity = match opts.capacity {
            Some(0) => return Err(Error::invalid("capacity", 0, "a queue needs room for at least 1 message")),
            Some(c) if c > MAX_CAPACITY => {
                return Err(Error::invalid("capacity", c, format!("use at most {MAX_CAPACITY}")))
            }
            Some(c) => c,
            None => channel
                .literal()
                .and_then(|name| shared.channel_map(kind).read().get(&fold(name)).map(|c| c.max_messages))
                .filter(|&m| m > 0)
                .unwrap_or(config.max_message_queue_size),
        };
        let overflow = opts.overflow.unwrap_or(config.default_overflow);
        let block_timeout_ms = opts.block_timeout_ms.unwrap_or(config.block_timeout_ms);
        if block_timeout_ms > MAX_BLOCK_TIMEOUT_MS {
            return Err(Error::invalid(
                "blockTimeoutMs",
                block_timeout_ms,
                format!("use at most {MAX_BLOCK_TIMEOUT_MS} ms"),
            ));
        }
        Ok(Subscription {
            id: SubscriptionId::new_v4(),
            kind,
            channel,
            message_type,
            source_module_pattern,
            source_module: opts.source_module,
            capacity,
            overflow,
            block_timeout_ms,
            mode,
            created_at_ms: shared.ctx.clock.now_ms(),
            state: Mutex::new(State { queue: Lanes::new(), in_hand: 0, handed_out: Vec::new(), blocked: 0, closed: false }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            counters: CachePadded::default(),
            latency: Histogram::default(),
            last_error: Mutex::new(None),
            notify,
            notify_armed: AtomicBool::new(true),
            pushes: CachePadded(AtomicU64::new(0)),
            notify_gate: RwLock::new(false),
            worker: Mutex::new(None),
            retire_on_exit: AtomicBool::new(false),
        })
    }

    /// Whether a message should be routed to this subscription.
    pub fn accepts(&self, env: &Envelope) -> bool {
        self.kind == env.channel.kind
            && self.channel.is_match_folded(&env.channel.key)
            && (!env.channel.private || self.channel.literal().is_some())
            && self.message_type.is_match_folded(env.message_type_key())
            && match &self.source_module_pattern {
                None => true,
                Some(want) => env.source_module_key().map_or(false, |m| want.is_match_folded(m)),
            }
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Counts messages discarded on purpose and completes them for delivery tracking.
    fn complete_cleared(&self, shared: &Shared, removed: &[Arc<Envelope>]) {
        self.counters.cleared.fetch_add(removed.len() as u64, Ordering::Relaxed);
        for e in removed {
            e.channel.counters.cleared.fetch_add(1, Ordering::Relaxed);
            shared.inflight.complete(e);
        }
    }

    fn count_dropped(&self, env: &Envelope) {
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        env.channel.counters.dropped.fetch_add(1, Ordering::Relaxed);
    }

    fn count_expired(&self, env: &Envelope) {
        self.counters.expired.fetch_add(1, Ordering::Relaxed);
        env.channel.counters.expired.fetch_add(1, Ordering::Relaxed);
    }

    /// Listed by `Get-MessageSubscriptions` and in health issues: no secrets.
    fn set_last_error(&self, mut message: String) {
        crate::metrics::redact_in_place(&mut message);
        *self.last_error.lock() = Some(message);
    }

    /// Offers `env` to the queue, applying the overflow policy. Counts losses; the caller
    /// completes `env` for delivery tracking unless it was queued.
    pub fn offer(&self, shared: &Shared, env: &Arc<Envelope>) -> Offer {
        let mut st = self.state.lock();
        if st.closed {
            return Offer::Closed;
        }
        let mut evicted = None;
        if st.queue.len() >= self.capacity {
            match self.overflow {
                OverflowPolicy::DropOldest => match st.queue.evict_for(env.priority()) {
                    Some(old) => evicted = Some(old),
                    None => {
                        drop(st);
                        self.count_dropped(env);
                        return Offer::Dropped;
                    }
                },
                OverflowPolicy::DropNewest => {
                    drop(st);
                    self.count_dropped(env);
                    return Offer::Dropped;
                }
                OverflowPolicy::Reject => {
                    drop(st);
                    self.count_dropped(env);
                    return Offer::Rejected;
                }
                OverflowPolicy::Block => {
                    let deadline = Instant::now() + Duration::from_millis(self.block_timeout_ms);
                    st.blocked += 1;
                    // The flag is read under the lock that wake_blocked takes to notify, so a
                    // cancel between the check and the wait is not missed.
                    while st.queue.len() >= self.capacity && !st.closed && !super::cancel::cancelled() {
                        if self.not_full.wait_until(&mut st, deadline).timed_out() {
                            break;
                        }
                    }
                    // Leaving with the queue still full (timeout) or closed: the queue is
                    // not idle, or the subscription is gone, so no idle change to announce.
                    st.blocked -= 1;
                    if st.closed {
                        // Discarded on purpose, as the queued copies were. `close` counted it on
                        // this subscription (it was among the `blocked`); its channel is
                        // counted here, as only this publisher knows it.
                        drop(st);
                        env.channel.counters.cleared.fetch_add(1, Ordering::Relaxed);
                        return Offer::Closed;
                    }
                    if st.queue.len() >= self.capacity {
                        drop(st);
                        self.count_dropped(env);
                        return Offer::Dropped;
                    }
                }
            }
        }
        let was_empty = st.queue.is_empty();
        st.queue.push(env.priority(), Arc::clone(env));
        self.pushes.fetch_add(1, Ordering::Release);
        debug_assert!(st.queue.len() <= self.capacity);
        drop(st);
        // Only a queue that was empty can have a worker or taker asleep on it: they wait
        // only after finding it empty (or while paused, and `resume` wakes them all). A
        // non-empty queue has been announced already, and a taker that leaves messages
        // behind passes the signal on (see `take`).
        if was_empty {
            self.not_empty.notify_one();
        }
        if let Some(old) = evicted {
            self.count_dropped(&old);
            shared.inflight.complete(&old);
        }
        self.fire_notify();
        Offer::Queued
    }

    /// Pull: calls the notifier if it is armed, and disarms it.
    fn fire_notify(&self) {
        if let Some(notify) = &self.notify {
            if self.notify_armed.load(Ordering::Acquire) && self.notify_armed.swap(false, Ordering::AcqRel) {
                // Shared with other notifying threads; `close` takes it exclusively, so
                // once the subscription is closed no notifier call is running or will run.
                let closed = self.notify_gate.read();
                if !*closed {
                    // A notifier that panics must not take the caller down with it.
                    let _ = catch_unwind(AssertUnwindSafe(notify));
                }
            }
        }
    }

    /// Pull: hands out up to `max` unexpired messages, waiting until `deadline` for one.
    pub fn take(&self, shared: &Shared, max: usize, deadline: Instant) -> Result<Vec<Arc<Envelope>>, Error> {
        let mut batch = Vec::new();
        let mut expired = Vec::new();
        let mut st = self.state.lock();
        loop {
            if st.closed {
                break;
            }
            if shared.running.load(Ordering::Acquire) && !st.queue.is_empty() {
                Self::pop_batch(&mut st, shared, max, None, &mut batch, &mut expired);
                if !batch.is_empty() {
                    break;
                }
            }
            if self.not_empty.wait_until(&mut st, deadline).timed_out() {
                // One last look, in case the wake-up and the timeout coincided.
                if !st.closed && shared.running.load(Ordering::Acquire) && !st.queue.is_empty() {
                    continue;
                }
                break;
            }
        }
        // Armed again: the next message published notifies (this take may have emptied the queue).
        self.notify_armed.store(true, Ordering::Release);
        self.finish_take(shared, st, batch, expired)
    }

    /// Pull: hands out, without waiting, up to `max` unexpired messages of a priority above
    /// `above`: what arrived that is more urgent than the rest of a batch being handled.
    /// The notifier stays as it is: the queue keeps its other messages, which the handler's
    /// next ordinary take collects.
    pub fn take_above(&self, shared: &Shared, max: usize, above: Priority) -> Result<Vec<Arc<Envelope>>, Error> {
        let mut batch = Vec::new();
        let mut expired = Vec::new();
        let mut st = self.state.lock();
        if !st.closed && shared.running.load(Ordering::Acquire) {
            Self::pop_batch(&mut st, shared, max, Some(above), &mut batch, &mut expired);
        }
        self.finish_take(shared, st, batch, expired)
    }

    /// Moves up to `max` messages (only those above `above`, if given) from the queue into
    /// `batch`, the expired ones met on the way into `expired`.
    fn pop_batch(
        st: &mut State,
        shared: &Shared,
        max: usize,
        above: Option<Priority>,
        batch: &mut Vec<Arc<Envelope>>,
        expired: &mut Vec<Arc<Envelope>>,
    ) {
        let now = shared.ctx.clock.now_ms();
        while batch.len() < max {
            let Some(head) = st.queue.peek() else { break };
            if above.is_some_and(|p| head.priority() <= p) {
                break;
            }
            // A message with a time to live goes only at the head of a batch: further in,
            // it would wait for the handlers before it and could expire there unseen.
            if !batch.is_empty() && head.expires_at_ms().is_some() {
                break;
            }
            match st.queue.pop() {
                Some(e) if e.is_expired_at(now) => expired.push(e),
                Some(e) => batch.push(e),
                None => break,
            }
        }
    }

    /// Records a take's messages as handed out, counts the expired ones and wakes whoever
    /// waits for room or for the rest of the queue.
    fn finish_take(
        &self,
        shared: &Shared,
        mut st: MutexGuard<'_, State>,
        batch: Vec<Arc<Envelope>>,
        expired: Vec<Arc<Envelope>>,
    ) -> Result<Vec<Arc<Envelope>>, Error> {
        let closed = st.closed;
        st.handed_out.extend(batch.iter().cloned());
        let idle = st.is_idle();
        let left_some = !closed && !st.queue.is_empty() && shared.running.load(Ordering::Acquire);
        drop(st);
        if left_some {
            // Publishers signal only an empty queue becoming non-empty; another taker
            // waiting on this subscription learns of the rest from us.
            self.not_empty.notify_one();
        }
        self.wake_publishers(batch.len() + expired.len());
        for e in &expired {
            self.count_expired(e);
            shared.inflight.complete(e);
        }
        if idle && !expired.is_empty() {
            shared.notify_idle();
        }
        if closed {
            for e in &batch {
                shared.inflight.complete(e);
            }
            return Err(Error::SubscriptionNotFound { id: self.id });
        }
        Ok(batch)
    }

    /// Pull: completes every message handed out by earlier takes.
    pub fn complete(&self, shared: &Shared, report: DeliveryReport) -> Result<(), Error> {
        let mut st = self.state.lock();
        let total = report.handled.saturating_add(report.failed).saturating_add(report.filtered);
        if total > st.handed_out.len() {
            return Err(Error::invalid(
                "delivery report",
                format!("handled {} + failed {} + filtered {}", report.handled, report.failed, report.filtered),
                format!(
                    "only {} message(s) were handed out since the last report; report at most that many",
                    st.handed_out.len()
                ),
            ));
        }
        let handed = std::mem::take(&mut st.handed_out);
        let idle = st.is_idle();
        drop(st);
        let c = &self.counters;
        c.delivered.fetch_add(report.handled as u64, Ordering::Relaxed);
        c.failed.fetch_add(report.failed as u64, Ordering::Relaxed);
        c.filtered.fetch_add(report.filtered as u64, Ordering::Relaxed);
        // Latencies of the handled and failed ones, with one clock read for the batch.
        let done = report.handled + report.failed;
        if done > 0 && shared.ctx.metrics.enabled() {
            let now = shared.ctx.clock.now_ns();
            for e in handed.iter().take(done).filter(|e| e.tracked) {
                self.latency.record_ns(now - e.published_ns);
            }
        }
        // Handed out but not reported (the subscriber let them go: it ended mid-batch, say):
        // discarded on purpose, so cleared, never uncounted.
        let released = handed.len() - total;
        c.cleared.fetch_add(released as u64, Ordering::Relaxed);
        // The report has totals only; attribute them to channels in hand-out order.
        for (i, e) in handed.iter().enumerate() {
            if i < report.handled {
                e.channel.counters.delivered.fetch_add(1, Ordering::Relaxed);
            } else if i < report.handled + report.failed {
                e.channel.counters.failed.fetch_add(1, Ordering::Relaxed);
            } else if i >= total {
                e.channel.counters.cleared.fetch_add(1, Ordering::Relaxed);
            }
        }
        let trace = &shared.ctx.trace;
        // At Basic too: a failure is an error record (the other outcomes are Verbose).
        if trace.level() != 0 {
            use crate::trace::DeliveryOutcome;
            let now = shared.ctx.clock.now_ms();
            for (i, e) in handed.iter().enumerate() {
                let outcome = if i < report.handled {
                    DeliveryOutcome::Handled
                } else if i < report.handled + report.failed {
                    DeliveryOutcome::Failed
                } else if i < total {
                    DeliveryOutcome::Filtered
                } else {
                    DeliveryOutcome::Released
                };
                crate::trace::delivery(trace, now, e, self.id, outcome, None, None);
            }
        }
        if let Some(msg) = report.last_error {
            self.set_last_error(msg);
        }
        for e in &handed {
            shared.inflight.complete(e);
        }
        if idle {
            shared.notify_idle();
        }
        Ok(())
    }

    /// Wakes every publisher waiting for room, so each checks whether it was cancelled.
    pub fn wake_blocked(&self) {
        if self.overflow == OverflowPolicy::Block {
            let _st = self.state.lock();
            self.not_full.notify_all();
        }
    }

    fn wake_publishers(&self, freed: usize) {
        if self.overflow != OverflowPolicy::Block {
            return;
        }
        match freed {
            0 => {}
            1 => {
                self.not_full.notify_one();
            }
            _ => {
                self.not_full.notify_all();
            }
        }
    }

    /// Removes queued messages for which `remove` is true; completes them (not a loss).
    pub fn clear_where(&self, shared: &Shared, remove: impl FnMut(&Arc<Envelope>) -> bool) -> usize {
        let mut removed = Vec::new();
        let mut st = self.state.lock();
        st.queue.extract(remove, &mut removed);
        let idle = st.is_idle();
        drop(st);
        self.wake_publishers(removed.len());
        self.complete_cleared(shared, &removed);
        if idle && !removed.is_empty() {
            shared.notify_idle();
        }
        removed.len()
    }

    /// Stops the subscription: no more queuing, hand-outs or handler calls after the
    /// current one. Queued and handed-out messages are completed (cleared, not lost), and so
    /// are the copies of publishers waiting for room (`Block`), which give up when woken.
    /// `false` if it was closed already.
    pub fn close(&self, shared: &Shared) -> bool {
        let mut removed = Vec::new();
        let mut st = self.state.lock();
        if st.closed {
            return false;
        }
        st.closed = true;
        st.queue.drain_all(&mut removed);
        removed.append(&mut st.handed_out);
        // Every publisher still waiting for room will find the subscription closed and give
        // its copy up: counted here rather than by each publisher once it wakes, because the
        // caller folds these counters into the bus totals right after (see `Bus::unsubscribe`),
        // possibly before a woken publisher gets the lock back; its count would then be lost.
        // No waiting for them either: the number is known now, under the lock they wait with.
        let waiting = st.blocked;
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
        // Wait for notifier calls in progress on publishing threads; none starts after.
        *self.notify_gate.write() = true;
        self.counters.cleared.fetch_add(waiting as u64, Ordering::Relaxed);
        self.complete_cleared(shared, &removed);
        true
    }

    /// Queues replayed history before the subscription is routed any live message: the
    /// copies go to the front lane, in the order given, so they are handed out before any
    /// live message. Only the newest `capacity` fit; the older ones are counted as dropped.
    pub fn preload(&self, history: Vec<Arc<Envelope>>) {
        let skip = history.len().saturating_sub(self.capacity);
        let mut st = self.state.lock();
        for (i, env) in history.into_iter().enumerate() {
            if i < skip {
                self.count_dropped(&env);
            } else {
                st.queue.push(Priority::Critical, env);
            }
        }
    }

    /// After a resume: wakes a waiting worker or taker, and calls an armed pull notifier
    /// if messages are queued (they may have been published, and the notifier spent on a
    /// take that found the processor paused, while nothing could be handed out).
    pub fn wake(&self) {
        let queued = {
            let st = self.state.lock();
            self.not_empty.notify_all();
            !st.closed && !st.queue.is_empty()
        };
        if queued {
            self.fire_notify();
        }
    }

    pub fn info(&self) -> SubscriptionInfo {
        let (queue_length, in_flight) = {
            let st = self.state.lock();
            (st.queue.len(), st.in_flight())
        };
        let c = &self.counters;
        SubscriptionInfo {
            id: self.id,
            kind: self.kind,
            channel: self.channel.as_str().to_owned(),
            message_type: self.message_type.as_str().to_owned(),
            mode: self.mode,
            capacity: self.capacity,
            overflow: self.overflow,
            block_timeout_ms: self.block_timeout_ms,
            source_module: self.source_module.clone(),
            created_at_ms: self.created_at_ms,
            queue_length,
            in_flight,
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            filtered: c.filtered.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            cleared: c.cleared.load(Ordering::Relaxed),
            last_error: self.last_error.lock().clone(),
        }
    }

    /// The push worker's loop: waits on the queue's condvar (no polling), calls the
    /// handler one message at a time, and exits when the subscription is closed.
    pub fn run_push_worker(self: Arc<Self>, shared: Arc<Shared>, mut handler: PushHandler) {
        // The message handled last: its `in_hand` count is given back in the same lock
        // section that takes the next one (one lock round per message, not two), and it is
        // completed for delivery tracking outside the lock.
        let mut finished: Option<Arc<Envelope>> = None;
        loop {
            let env = {
                let mut st = self.state.lock();
                if finished.is_some() {
                    st.in_hand -= 1;
                }
                let mut spins = 0;
                loop {
                    if st.closed {
                        drop(st);
                        if let Some(done) = finished.take() {
                            shared.inflight.complete(&done);
                        }
                        if self.retire_on_exit.load(Ordering::SeqCst) {
                            shared.retire(&self);
                            shared.closed(&self);
                        }
                        return;
                    }
                    if shared.running.load(Ordering::Acquire) {
                        if let Some(env) = st.queue.pop() {
                            st.in_hand += 1;
                            break env;
                        }
                    }
                    // Nothing to take: finish the last message before waiting, so that
                    // delivery and idle waiters hear of it now.
                    if let Some(done) = finished.take() {
                        let idle = st.is_idle();
                        MutexGuard::unlocked(&mut st, || {
                            shared.inflight.complete(&done);
                            if idle {
                                shared.notify_idle();
                            }
                        });
                        continue;
                    }
                    // Before sleeping on the condvar, back off for a few microseconds (as
                    // crossbeam-channel's receivers do): spin on the push counter, then
                    // give the CPU away a few times. A publisher that is about to queue
                    // the next message usually does so meanwhile, which saves it a futex
                    // wake and us two context switches per message. Bounded: after
                    // BACKOFF_ROUNDS the worker sleeps until it is signalled.
                    if spins < BACKOFF_ROUNDS && shared.running.load(Ordering::Acquire) {
                        spins += 1;
                        let seen = self.pushes.load(Ordering::Acquire);
                        MutexGuard::unlocked(&mut st, || {
                            backoff(spins, || self.pushes.load(Ordering::Acquire) != seen)
                        });
                        continue;
                    }
                    self.not_empty.wait(&mut st);
                }
            };
            // The next message is in hand, so the queue is not idle: no idle notification.
            if let Some(done) = finished.take() {
                shared.inflight.complete(&done);
            }
            self.wake_publishers(1);
            // Only a message with a TTL needs the clock.
            if env.expires_at_ms().is_some() && env.is_expired_at(shared.ctx.clock.now_ms()) {
                self.count_expired(&env);
            } else {
                // One clock for the handler's traced duration and the delivery latency —
                // the hub's, which the latency histogram uses anyway: read before the
                // handler only when tracing, and once after it for both.
                let clock = &shared.ctx.clock;
                let tracing = shared.ctx.trace.level() != 0;
                let timed = env.tracked && shared.ctx.metrics.enabled();
                let start_ns = if tracing { clock.now_ns() } else { 0 };
                let result = catch_unwind(AssertUnwindSafe(|| handler(&env)));
                let end_ns = if tracing || timed { clock.now_ns() } else { 0 };
                if tracing {
                    let (outcome, error) = match &result {
                        Ok(true) => (crate::trace::DeliveryOutcome::Handled, None),
                        Ok(false) => (crate::trace::DeliveryOutcome::Failed, Some("handler reported a failure".to_owned())),
                        Err(p) => (
                            crate::trace::DeliveryOutcome::Failed,
                            Some(format!("handler panicked: {}", panic_message(p.as_ref()))),
                        ),
                    };
                    crate::trace::delivery(
                        &shared.ctx.trace,
                        end_ns.div_euclid(1_000_000),
                        &env,
                        self.id,
                        outcome,
                        Some(end_ns.saturating_sub(start_ns).max(0) as u64),
                        error.as_deref(),
                    );
                }
                match result {
                    Ok(true) => {
                        self.counters.delivered.fetch_add(1, Ordering::Relaxed);
                        env.channel.counters.delivered.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(false) => {
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        env.channel.counters.failed.fetch_add(1, Ordering::Relaxed);
                        self.set_last_error(format!("handler reported a failure for message {}", env.id()));
                    }
                    Err(payload) => {
                        self.counters.failed.fetch_add(1, Ordering::Relaxed);
                        env.channel.counters.failed.fetch_add(1, Ordering::Relaxed);
                        self.set_last_error(format!(
                            "handler panicked: {} (message {})",
                            panic_message(payload.as_ref()),
                            env.id()
                        ));
                    }
                }
                if timed {
                    // Only this worker writes this subscription's histogram.
                    self.latency.record_ns_single_writer(end_ns - env.published_ns);
                }
            }
            finished = Some(env);
        }
    }
}

/// Rounds of [`backoff`] before a push worker sleeps: 7 spinning (1 to 64 spin-loop
/// hints, about 127 in all) and 4 yielding, crossbeam-channel's `Backoff` limits.
const BACKOFF_ROUNDS: u32 = 11;
const SPIN_ROUNDS: u32 = 7;

/// One round of waiting for `ready`: spins `2^(round-1)` hints in the early rounds,
/// yields the CPU in the later ones.
fn backoff(round: u32, ready: impl Fn() -> bool) {
    if round <= SPIN_ROUNDS {
        for _ in 0..1u32 << (round - 1) {
            if ready() {
                return;
            }
            std::hint::spin_loop();
        }
    } else if !ready() {
        std::thread::yield_now();
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-text panic payload".to_owned()
    }
}
