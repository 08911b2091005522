//! The message bus: channels, publishing, subscriptions and delivery tracking.

pub(crate) mod cancel;
mod channel;
mod inflight;
mod message;
mod queue;
mod subscription;

use std::collections::HashMap;
use std::thread;
use std::time::{Duration, Instant};

use serde::Serialize;

pub use channel::{is_private_name, ChannelInfo, ChannelKind, PRIVATE_PREFIX};
pub(crate) use message::{check_name, parse_object, RenderedParts};
pub(crate) use message::{with_json_parts, PublishParts, WirePriority};
pub use message::{Envelope, Priority, PublishRequest};
pub use queue::OverflowPolicy;
pub use subscription::{
    DeliveryMode, DeliveryReport, PullNotify, PushHandler, SubscriptionInfo, SubscriptionOptions,
};

use crate::error::Error;
use crate::hub::Context;
use crate::id::{MessageId, SubscriptionId};
use crate::metrics::{Histogram, HistogramSnapshot, Totals};
use crate::sync::{Arc, AtomicBool, AtomicU64, AtomicUsize, CachePadded, Condvar, Mutex, Ordering, RwLock};
use crate::wildcard::{fold, has_wildcard_chars, with_folded, Pattern};
pub(crate) use channel::Channel;
use channel::ChannelCounters;
use inflight::Inflight;
pub(crate) use subscription::panic_message;
use subscription::{Offer, SubCounters, Subscription};

/// How many event channels the map holds before a new one first prunes those no longer used.
const EVENT_CHANNELS_KEPT: usize = 1024;

/// Totals of the bus, as returned by [`Hub::bus_stats`](crate::Hub::bus_stats).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BusStats {
    /// Number of channels.
    pub channels: usize,
    /// Number of subscriptions.
    pub subscriptions: usize,
    /// Messages published.
    pub published: u64,
    /// Deliveries handled successfully (over all subscriptions, including removed ones).
    pub delivered: u64,
    /// Deliveries whose handler failed.
    pub failed: u64,
    /// Deliveries filtered out by subscribers.
    pub filtered: u64,
    /// Copies that expired before delivery.
    pub expired: u64,
    /// Copies lost to full queues.
    pub dropped: u64,
    /// Copies discarded on purpose: queues cleared, subscriptions removed with messages queued
    /// (or with publishers waiting for room in their `Block` queue).
    pub cleared: u64,
    /// Messages waiting in subscription queues.
    pub queue_length: usize,
    /// Messages handed to handlers (a push worker's current one, or taken by a pull
    /// subscriber) and not yet reported: not in the queues, not yet delivered.
    pub in_flight: usize,
    /// Whether the processor hands messages out (false while paused).
    pub running: bool,
}

#[derive(Default)]
struct SubTable {
    /// In subscription order; replaced (copy-on-write) on every change so publishers can
    /// route from a snapshot without holding the lock.
    list: Arc<Vec<Arc<Subscription>>>,
    by_id: HashMap<SubscriptionId, Arc<Subscription>>,
    /// Set when the bus is dropped: no subscription may be added after that.
    closed: bool,
}

/// What `unsubscribe` does about a subscription's push worker.
enum Worker {
    /// A pull subscription: there is none.
    None,
    /// Wait for it to finish its current call.
    Join(thread::JoinHandle<()>),
    /// Waiting would never end: it finishes and retires on its own; dropping the bus waits.
    FinishesAlone,
}

/// State shared by the bus front end and its push workers.
pub(crate) struct Shared {
    pub ctx: Arc<Context>,
    pub channels: RwLock<HashMap<String, Arc<Channel>>>,
    /// Event channels, by folded name: made by the first event published to them, never
    /// listed with the message channels.
    pub event_channels: RwLock<HashMap<String, Arc<Channel>>>,
    /// Counts of event channels forgotten by `prune_event_channels`, kept in the totals.
    retired_event_counts: ChannelCounters,
    /// The map size at which the next new event channel first prunes the map.
    event_channels_prune_at: AtomicUsize,
    subs: RwLock<SubTable>,
    pub inflight: Inflight,
    pub running: AtomicBool,
    /// Bumped by every publish; apart from `running`, which workers read per message.
    published: CachePadded<AtomicU64>,
    /// Counters of subscriptions that are gone, so bus totals never go down.
    pub retired: SubCounters,
    /// Delivery latencies of subscriptions that are gone.
    pub retired_latency: Histogram,
    idle_lock: Mutex<()>,
    idle_changed: Condvar,
    idle_waiters: AtomicUsize,
    /// Push workers that `unsubscribe` did not wait for (see [`Bus::unsubscribe`]); dropping
    /// the bus waits for them.
    detached_workers: Mutex<Vec<thread::JoinHandle<()>>>,
    /// Subscriptions taken off the table whose push callback may still be running:
    /// `wait_idle` waits for them too (its promise is that every callback has returned).
    closing: Mutex<Vec<Arc<Subscription>>>,
}

impl Shared {
    /// The channel map of one kind.
    pub fn channel_map(&self, kind: ChannelKind) -> &RwLock<HashMap<String, Arc<Channel>>> {
        match kind {
            ChannelKind::Message => &self.channels,
            ChannelKind::Event => &self.event_channels,
        }
    }

    /// Tells `wait_idle` callers that some queue may have become idle.
    pub fn notify_idle(&self) {
        if self.idle_waiters.load(Ordering::SeqCst) > 0 {
            let _g = self.idle_lock.lock();
            self.idle_changed.notify_all();
        }
    }

    /// Folds a finished subscription's counters and latencies into the bus totals.
    pub(crate) fn retire(&self, sub: &Subscription) {
        self.retired.add(&sub.counters);
        self.retired_latency.absorb(&sub.latency);
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Subscription>>> {
        Arc::clone(&self.subs.read().list)
    }

    fn find(&self, id: SubscriptionId) -> Result<Arc<Subscription>, Error> {
        self.subs.read().by_id.get(&id).cloned().ok_or(Error::SubscriptionNotFound { id })
    }

    /// The snapshot is read before `closing`: `unsubscribe` moves a subscription from the
    /// table to `closing` under the table lock, so neither read can miss it.
    fn all_idle(&self) -> bool {
        self.snapshot().iter().all(|s| s.lock().is_idle()) && self.closing.lock().is_empty()
    }

    /// `sub`'s worker has ended (or it had none): `wait_idle` no longer waits for it.
    pub(crate) fn closed(&self, sub: &Subscription) {
        self.closing.lock().retain(|s| s.id != sub.id);
        self.notify_idle();
    }
}

/// The message bus of one hub.
pub(crate) struct Bus {
    shared: Arc<Shared>,
}

fn timeout_deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(86_400 * 365))
}

impl Bus {
    pub fn new(ctx: Arc<Context>) -> Bus {
        Bus {
            shared: Arc::new(Shared {
                ctx,
                channels: RwLock::new(HashMap::new()),
                event_channels: RwLock::new(HashMap::new()),
                retired_event_counts: ChannelCounters::default(),
                event_channels_prune_at: AtomicUsize::new(EVENT_CHANNELS_KEPT),
                subs: RwLock::new(SubTable::default()),
                inflight: Inflight::new(),
                running: AtomicBool::new(true),
                published: CachePadded(AtomicU64::new(0)),
                retired: SubCounters::default(),
                retired_latency: Histogram::default(),
                idle_lock: Mutex::new(()),
                idle_changed: Condvar::new(),
                idle_waiters: AtomicUsize::new(0),
                detached_workers: Mutex::new(Vec::new()),
                closing: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn create_channel(&self, name: &str, description: Option<&str>, max_messages: usize) -> Result<(), Error> {
        check_channel_name("channel name", name)?;
        if max_messages > subscription::MAX_CAPACITY {
            return Err(Error::invalid(
                "maxMessages",
                max_messages,
                format!("use at most {}, or 0 for the configuration default", subscription::MAX_CAPACITY),
            ));
        }
        let key = fold(name);
        let mut channels = self.shared.channels.write();
        if let Some(existing) = channels.get(&key) {
            return Err(Error::ChannelExists { name: name.to_owned(), existing: existing.name.clone() });
        }
        let private = is_private_name(&key);
        channels.insert(
            key.clone(),
            Arc::new(Channel {
                kind: ChannelKind::Message,
                name: name.to_owned(),
                key,
                description: description.map(str::to_owned),
                max_messages,
                created_at_ms: self.shared.ctx.clock.now_ms(),
                counters: Default::default(),
                private,
            }),
        );
        Ok(())
    }

    pub fn channels(&self, pattern: Option<&str>) -> Result<Vec<ChannelInfo>, Error> {
        let pattern = pattern.map(|p| Pattern::new(p).map_err(|r| Error::invalid("pattern", p, r))).transpose()?;
        let mut selected: Vec<Arc<Channel>> = self
            .shared
            .channels
            .read()
            .values()
            .filter(|c| !c.private && pattern.as_ref().map_or(true, |p| p.is_match_folded(&c.key)))
            .cloned()
            .collect();
        selected.sort_by(|a, b| a.key.cmp(&b.key).then_with(|| a.name.cmp(&b.name)));
        let subs = self.shared.snapshot();
        let mut queued: HashMap<*const Channel, usize> = HashMap::new();
        for s in subs.iter() {
            for e in s.lock().queue.iter() {
                *queued.entry(Arc::as_ptr(&e.channel)).or_default() += 1;
            }
        }
        let default_max = self.shared.ctx.config.read().max_message_queue_size;
        Ok(selected
            .iter()
            .map(|c| {
                // Event subscriptions never receive messages, whatever their channel pattern.
                let n = subs.iter().filter(|s| s.kind == c.kind && s.channel.is_match_folded(&c.key)).count();
                c.info(default_max, n, queued.get(&Arc::as_ptr(c)).copied().unwrap_or(0))
            })
            .collect())
    }

    pub fn remove_channel(&self, name: &str) -> Result<usize, Error> {
        let removed = self
            .shared
            .channels
            .write()
            .remove(&fold(name))
            .ok_or_else(|| Error::ChannelNotFound { name: name.to_owned() })?;
        Ok(self.clear_where(|e| Arc::ptr_eq(&e.channel, &removed)))
    }

    pub fn clear_queue(&self, channel_pattern: &str) -> Result<usize, Error> {
        let p = Pattern::new(channel_pattern).map_err(|r| Error::invalid("channel pattern", channel_pattern, r))?;
        Ok(self.clear_where(|e| e.channel.kind == ChannelKind::Message && p.is_match_folded(&e.channel.key)))
    }

    /// The event channel `name`, created on first use (events have no `create_channel`).
    pub fn event_channel(&self, name: &str) -> Result<Arc<Channel>, Error> {
        if let Some(c) = with_folded(name, |key| self.shared.event_channels.read().get(key).cloned()) {
            return Ok(c);
        }
        check_channel_name("event channel", name)?;
        let key = fold(name);
        let mut map = self.shared.event_channels.write();
        if !map.contains_key(&key) && map.len() >= self.shared.event_channels_prune_at.load(Ordering::Relaxed) {
            self.prune_event_channels(&mut map);
        }
        let channel = map.entry(key.clone()).or_insert_with(|| {
            Arc::new(Channel {
                kind: ChannelKind::Event,
                name: name.to_owned(),
                private: is_private_name(&key),
                key,
                description: None,
                max_messages: 0,
                created_at_ms: self.shared.ctx.clock.now_ms(),
                counters: Default::default(),
            })
        });
        Ok(Arc::clone(channel))
    }

    /// Forgets the event channels nothing refers to any more (no queued or kept event: the map
    /// holds the only reference) and that lost nothing, adding their counts to the retired
    /// ones. Events published with a new channel name each (one per job) would otherwise
    /// keep a channel each forever. Pruning again only once the map has doubled keeps it
    /// linear when most channels are still in use.
    fn prune_event_channels(&self, map: &mut HashMap<String, Arc<Channel>>) {
        let retired = &self.shared.retired_event_counts;
        map.retain(|_, c| {
            let [_, _, _, expired, dropped, _] = c.counters.values();
            let keep = Arc::strong_count(c) > 1 || c.private || expired > 0 || dropped > 0;
            if !keep {
                retired.add(&c.counters);
            }
            keep
        });
        self.shared.event_channels_prune_at.store(EVENT_CHANNELS_KEPT.max(2 * map.len()), Ordering::Relaxed);
    }

    /// The message channels, in no particular order.
    pub fn message_channels(&self) -> Vec<Arc<Channel>> {
        self.shared.channels.read().values().filter(|c| !c.private).cloned().collect()
    }

    fn clear_where(&self, mut remove: impl FnMut(&Arc<Envelope>) -> bool) -> usize {
        self.shared.snapshot().iter().map(|s| s.clear_where(&self.shared, &mut remove)).sum()
    }

    pub fn publish(&self, req: &PublishParts<'_>) -> Result<MessageId, Error> {
        self.publish_as(req, MessageId::new_v4(), None)
    }

    /// Publishes to a message channel with a given id and (optionally) timestamp: an
    /// event broadcast gives its copies the event's id and time.
    pub(crate) fn publish_as(
        &self,
        req: &PublishParts<'_>,
        id: MessageId,
        timestamp_ms: Option<i64>,
    ) -> Result<MessageId, Error> {
        req.validate()?;
        let channel = with_folded(req.channel, |key| self.shared.channels.read().get(key).cloned())
            .ok_or_else(|| Error::ChannelNotFound { name: req.channel.to_owned() })?;
        // One clock read gives the timestamp (ms) and the publish time latencies start at (ns).
        let (now, now_ns) = match timestamp_ms {
            Some(t) => (t, t.saturating_mul(1_000_000)),
            None => {
                let ns = self.shared.ctx.clock.now_ns();
                (ns.div_euclid(1_000_000), ns)
            }
        };
        if let Some(ttl) = req.ttl_ms {
            // Validated to be at most i64::MAX / 2, so the sum cannot overflow.
            if now + ttl as i64 > crate::time_fmt::MAX_MS {
                let detail = "the message would expire after the year 9999; use a shorter TTL, or leave it out for no expiry";
                return Err(Error::invalid("ttlMs", ttl, detail));
            }
        }
        let env = Arc::new(Envelope::build(id, channel, req, now).published_at_ns(now_ns));
        match self.route(&env) {
            0 => Ok(id),
            rejected => Err(Error::QueueFull { message_id: id, rejected }),
        }
    }

    /// Wakes every publisher waiting for room in a `Block` queue, so that one whose cancel
    /// flag is set gives up (see [`cancel`]).
    pub(crate) fn wake_blocked_publishers(&self) {
        for sub in self.shared.snapshot().iter() {
            sub.wake_blocked();
        }
    }

    /// Counts `env` as published on its channel and queues it for every matching
    /// subscription. Returns how many `Reject` subscriptions refused it.
    pub(crate) fn route(&self, env: &Arc<Envelope>) -> usize {
        // An interval that ended before this message closes without it.
        let metrics = &self.shared.ctx.metrics;
        if metrics.roll_due(env.timestamp_ms()) {
            metrics.roll(env.timestamp_ms(), |m| self.totals(None, m));
        }
        env.channel.counters.published.fetch_add(1, Ordering::Relaxed);
        self.shared.published.fetch_add(1, Ordering::Relaxed);

        // Delivery tracking starts at the first matching subscription, with one extra
        // count held by this call until every offer is made, so a fast consumer cannot
        // finish the message before the last queue has it. No route list is collected.
        let mut tracked = false;
        let mut rejected = 0;
        let mut matched = 0usize;
        for sub in self.shared.snapshot().iter() {
            if !sub.accepts(env) {
                continue;
            }
            matched += 1;
            if tracked {
                env.pending.fetch_add(1, Ordering::AcqRel);
            } else {
                self.shared.inflight.begin(env, 2);
                tracked = true;
            }
            match sub.offer(&self.shared, env) {
                Offer::Queued => {}
                Offer::Rejected => {
                    rejected += 1;
                    self.shared.inflight.complete(env);
                }
                Offer::Dropped | Offer::Closed => self.shared.inflight.complete(env),
            }
        }
        if tracked {
            self.shared.inflight.complete(env);
        }
        let trace = &self.shared.ctx.trace;
        if trace.level() != 0 {
            crate::trace::publish(trace, env, matched, rejected);
        }
        rejected
    }

    /// Adds `sub`, first running `start` (which starts a push worker) under the table lock, so
    /// that dropping the bus, which closes the table under it, finds every worker it must stop.
    fn insert(&self, sub: Arc<Subscription>, start: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
        let mut table = self.shared.subs.write();
        if table.closed {
            return Err(Error::invalid("subscription", sub.id, "the hub is being freed, so it takes no new subscriptions"));
        }
        start()?;
        let mut list: Vec<Arc<Subscription>> = table.list.as_ref().clone();
        list.push(Arc::clone(&sub));
        table.list = Arc::new(list);
        table.by_id.insert(sub.id, sub);
        Ok(())
    }

    pub fn subscribe_push(&self, opts: SubscriptionOptions, handler: PushHandler) -> Result<SubscriptionId, Error> {
        self.subscribe_push_as(opts, ChannelKind::Message, Vec::new(), handler)
    }

    /// A push subscription of `kind` whose queue starts with `preload` (replayed history).
    pub(crate) fn subscribe_push_as(
        &self,
        opts: SubscriptionOptions,
        kind: ChannelKind,
        preload: Vec<Arc<Envelope>>,
        handler: PushHandler,
    ) -> Result<SubscriptionId, Error> {
        let sub = Arc::new(Subscription::build(&self.shared, opts, kind, DeliveryMode::Push, None)?);
        sub.preload(preload);
        let id = sub.id;
        let (worker_sub, shared) = (Arc::clone(&sub), Arc::clone(&self.shared));
        self.insert(sub, move || {
            let mut slot = worker_sub.worker.lock();
            let name = format!("mc-push-{}", &worker_sub.id.to_string()[..8]);
            let run = Arc::clone(&worker_sub);
            let handle = thread::Builder::new()
                .name(name)
                .spawn(move || run.run_push_worker(shared, handler))
                .map_err(|e| Error::Internal { message: format!("could not start a push worker thread: {e}") })?;
            *slot = Some(handle);
            Ok(())
        })?;
        Ok(id)
    }

    pub fn subscribe_pull(&self, opts: SubscriptionOptions, notify: Option<PullNotify>) -> Result<SubscriptionId, Error> {
        self.subscribe_pull_as(opts, ChannelKind::Message, Vec::new(), notify)
    }

    /// A pull subscription of `kind` whose queue starts with `preload` (replayed history).
    /// The notifier is not called for the preloaded messages: take after subscribing.
    pub(crate) fn subscribe_pull_as(
        &self,
        opts: SubscriptionOptions,
        kind: ChannelKind,
        preload: Vec<Arc<Envelope>>,
        notify: Option<PullNotify>,
    ) -> Result<SubscriptionId, Error> {
        let sub = Arc::new(Subscription::build(&self.shared, opts, kind, DeliveryMode::Pull, notify)?);
        sub.preload(preload);
        let id = sub.id;
        self.insert(sub, || Ok(()))?;
        Ok(id)
    }

    fn find_pull(&self, id: SubscriptionId, operation: &str) -> Result<Arc<Subscription>, Error> {
        let sub = self.shared.find(id)?;
        if sub.mode != DeliveryMode::Pull {
            return Err(Error::invalid(
                "subscription",
                id,
                format!("it is a push subscription (a worker calls its handler); {operation} is only for pull subscriptions"),
            ));
        }
        Ok(sub)
    }

    pub fn take(&self, id: SubscriptionId, max: usize, timeout: Duration) -> Result<Vec<Arc<Envelope>>, Error> {
        if max == 0 {
            return Err(Error::invalid("max_messages", 0, "take at least 1 message"));
        }
        let sub = self.find_pull(id, "take")?;
        sub.take(&self.shared, max, timeout_deadline(timeout))
    }

    pub fn take_above(&self, id: SubscriptionId, max: usize, above: Priority) -> Result<Vec<Arc<Envelope>>, Error> {
        if max == 0 {
            return Err(Error::invalid("max_messages", 0, "take at least 1 message"));
        }
        self.find_pull(id, "take")?.take_above(&self.shared, max, above)
    }

    pub fn complete(&self, id: SubscriptionId, report: DeliveryReport) -> Result<(), Error> {
        self.find_pull(id, "complete")?.complete(&self.shared, report)
    }

    /// Removes a subscription, closes it, waits for its push worker to finish the call it may
    /// be making, and folds its counters into the bus totals.
    ///
    /// It does not wait when waiting would never end: called from the subscription's own
    /// callback, from a callback whose worker the other one is itself waiting for (two
    /// callbacks ending each other's subscriptions), or from a timed API call's worker thread
    /// that the callback waits for (it invoked the API with a timeout), all seen in the
    /// hub's wait-for graph ([`crate::waits`]). Then the worker finishes its current call,
    /// folds its counters in itself, and dropping the bus waits for it.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), Error> {
        let me = thread::current().id();
        let (sub, handle) = {
            let mut table = self.shared.subs.write();
            let sub = table.by_id.remove(&id).ok_or(Error::SubscriptionNotFound { id })?;
            let list: Vec<Arc<Subscription>> = table.list.iter().filter(|s| s.id != id).cloned().collect();
            table.list = Arc::new(list);
            self.shared.closing.lock().push(Arc::clone(&sub));
            // Decided under the table lock, so that dropping the bus, which empties the table
            // under it, finds every worker left to finish on its own.
            let mut slot = sub.worker.lock();
            let worker = match slot.take() {
                Some(w) if !self.shared.ctx.waits.begin(me, w.thread().id()) => {
                    sub.retire_on_exit.store(true, Ordering::SeqCst); // before closing: see the worker's exit
                    self.shared.detached_workers.lock().push(w);
                    Worker::FinishesAlone
                }
                Some(w) => Worker::Join(w),
                None => Worker::None,
            };
            drop(slot);
            (sub, worker)
        };
        sub.close(&self.shared);
        match handle {
            Worker::FinishesAlone => {}
            Worker::Join(worker) => {
                // The worker catches handler panics, so it cannot end with one.
                let _ = worker.join();
                self.shared.ctx.waits.end(me);
                self.shared.retire(&sub);
                self.shared.closed(&sub);
            }
            Worker::None => {
                self.shared.retire(&sub);
                self.shared.closed(&sub);
            }
        }
        Ok(())
    }

    pub fn subscriptions(&self, channel_pattern: Option<&str>) -> Result<Vec<SubscriptionInfo>, Error> {
        let filter = channel_pattern
            .map(|p| Pattern::new(p).map_err(|r| Error::invalid("channel pattern", p, r)))
            .transpose()?;
        Ok(self
            .shared
            .snapshot()
            .iter()
            .filter(|s| filter.as_ref().map_or(true, |f| self.listed_for(s, f)))
            .map(|s| s.info())
            .collect())
    }

    /// Whether `sub` belongs to a listing for the channel pattern `filter`: its own channel
    /// pattern matches it, or `filter` names a channel `sub` would receive from. A name
    /// that is a channel of the other kind only lists no subscription of this kind: an event
    /// subscription on `*` (or on `B` itself) never receives from message channel `B`.
    fn listed_for(&self, sub: &Subscription, filter: &Pattern) -> bool {
        let Some(name) = filter.literal() else { return filter.is_match(sub.channel.as_str()) };
        if !filter.is_match(sub.channel.as_str()) && !sub.channel.is_match(name) {
            return false;
        }
        let exists = |kind| with_folded(name, |key| self.shared.channel_map(kind).read().contains_key(key));
        let other = match sub.kind {
            ChannelKind::Message => ChannelKind::Event,
            ChannelKind::Event => ChannelKind::Message,
        };
        exists(sub.kind) || !exists(other)
    }

    pub fn pause(&self) {
        self.shared.running.store(false, Ordering::SeqCst);
    }

    pub fn resume(&self) {
        self.shared.running.store(true, Ordering::SeqCst);
        for s in self.shared.snapshot().iter() {
            s.wake();
        }
    }

    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    pub fn wait_delivered(&self, id: MessageId, timeout: Duration) -> Result<(), Error> {
        if self.shared.inflight.wait(id, timeout_deadline(timeout)) {
            Ok(())
        } else {
            Err(Error::Timeout {
                operation: format!("delivery of message {id}"),
                timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
            })
        }
    }

    pub fn wait_idle(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = timeout_deadline(timeout);
        let shared = &self.shared;
        let mut guard = shared.idle_lock.lock();
        shared.idle_waiters.fetch_add(1, Ordering::SeqCst);
        let idle = loop {
            if shared.all_idle() {
                break true;
            }
            if shared.idle_changed.wait_until(&mut guard, deadline).timed_out() {
                break shared.all_idle();
            }
        };
        shared.idle_waiters.fetch_sub(1, Ordering::SeqCst);
        if idle {
            Ok(())
        } else {
            Err(Error::Timeout {
                operation: "waiting for every subscription queue to drain".to_owned(),
                timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
            })
        }
    }

    pub fn stats(&self) -> BusStats {
        let subs = self.shared.snapshot();
        let totals = SubCounters::default();
        totals.add(&self.shared.retired);
        let (mut queue_length, mut in_flight) = (0, 0);
        for s in subs.iter() {
            totals.add(&s.counters);
            let st = s.lock();
            queue_length += st.queue.len();
            in_flight += st.in_flight();
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        BusStats {
            channels: self.shared.channels.read().values().filter(|c| !c.private).count(),
            subscriptions: subs.len(),
            published: load(&self.shared.published),
            delivered: load(&totals.delivered),
            failed: load(&totals.failed),
            filtered: load(&totals.filtered),
            expired: load(&totals.expired),
            dropped: load(&totals.dropped),
            cleared: load(&totals.cleared),
            queue_length,
            in_flight,
            running: self.is_running(),
        }
    }

    /// The counts metrics are computed from. With `channel`, the delivery latencies are
    /// those of the subscriptions that receive that channel (or match that pattern).
    pub(crate) fn totals(&self, channel: Option<&Pattern>, m: &crate::metrics::Metrics) -> Totals {
        let subs = self.shared.snapshot();
        let sum = SubCounters::default();
        sum.add(&self.shared.retired);
        let mut delivery = HistogramSnapshot::default();
        if channel.is_none() {
            self.shared.retired_latency.add_to(&mut delivery);
        }
        let mut sub_failed = std::collections::HashMap::with_capacity(subs.len());
        for s in subs.iter() {
            sum.add(&s.counters);
            sub_failed.insert(s.id, s.counters.failed.load(Ordering::Relaxed));
            let wanted = channel.map_or(true, |p| self.listed_for(s, p));
            if wanted {
                s.latency.add_to(&mut delivery);
            }
        }
        let mut channel_dropped = std::collections::HashMap::new();
        let mut channel_expired = std::collections::HashMap::new();
        for map in [&self.shared.channels, &self.shared.event_channels] {
            for c in map.read().values().filter(|c| !c.private) {
                let n = c.counters.dropped.load(Ordering::Relaxed);
                if n > 0 {
                    channel_dropped.insert(c.name.clone(), n);
                }
                let n = c.counters.expired.load(Ordering::Relaxed);
                if n > 0 {
                    channel_expired.insert(c.name.clone(), n);
                }
            }
        }
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut t = Totals {
            published: load(&self.shared.published),
            delivered: load(&sum.delivered),
            failed: load(&sum.failed),
            filtered: load(&sum.filtered),
            expired: load(&sum.expired),
            dropped: load(&sum.dropped),
            delivery,
            sub_failed,
            channel_dropped,
            channel_expired,
            ..Default::default()
        };
        m.add_own(&mut t);
        t
    }

    /// Event channel totals: (channels, published, delivered, failed, expired, dropped, cleared).
    pub(crate) fn event_totals(&self) -> (usize, [u64; 6]) {
        let map = self.shared.event_channels.read();
        let mut sums = self.shared.retired_event_counts.values();
        let mut n = 0;
        for c in map.values().filter(|c| !c.private) {
            n += 1;
            for (acc, v) in sums.iter_mut().zip(c.counters.values()) {
                *acc += v;
            }
        }
        (n, sums)
    }

    /// Sets every counter and latency histogram of the bus to zero.
    pub(crate) fn reset_counters(&self) {
        self.shared.published.store(0, Ordering::Relaxed);
        self.shared.retired.reset();
        self.shared.retired_latency.reset();
        for s in self.shared.snapshot().iter() {
            s.counters.reset();
            s.latency.reset();
        }
        for c in self.shared.channels.read().values() {
            c.counters.reset();
        }
        // Under the event channel map's lock: a prune folds a channel's counts into the
        // retired ones under it, and must not do so between the two resets below.
        let event_channels = self.shared.event_channels.read();
        self.shared.retired_event_counts.reset();
        for c in event_channels.values() {
            c.counters.reset();
        }
    }

    /// Messages still in flight (queued or being handled somewhere).
    pub fn in_flight(&self) -> usize {
        self.shared.inflight.len()
    }

    /// Publishers waiting for room in a `Block` queue (see [`crate::Hub::blocked_publishers`]).
    pub fn blocked_publishers(&self) -> usize {
        self.shared.snapshot().iter().map(|s| s.lock().blocked).sum()
    }
}

/// Checks a channel name: a valid name without wildcard characters.
pub(crate) fn check_channel_name(param: &str, name: &str) -> Result<(), Error> {
    check_name(param, name)?;
    if has_wildcard_chars(name) {
        return Err(Error::invalid(
            param,
            name,
            "channel names cannot contain the wildcard characters * ? [ ] or `; choose a plain name",
        ));
    }
    Ok(())
}

impl Drop for Bus {
    fn drop(&mut self) {
        let subs: Vec<Arc<Subscription>> = {
            let mut table = self.shared.subs.write();
            table.closed = true;
            table.by_id.clear();
            std::mem::take(&mut table.list).as_ref().clone()
        };
        // Close every subscription first, so no worker waits on a queue that a later
        // shutdown would have closed; then wait for the workers, those `unsubscribe` left to
        // finish on their own included (none is added once the table is closed).
        for sub in &subs {
            sub.close(&self.shared);
        }
        let me = thread::current().id();
        for sub in &subs {
            match sub.worker.lock().take() {
                Some(worker) if worker.thread().id() != me => {
                    let _ = worker.join();
                    self.shared.retire(sub);
                }
                Some(_) => sub.retire_on_exit.store(true, Ordering::SeqCst), // misuse: freed from its own callback
                None => self.shared.retire(sub),
            }
        }
        let detached = std::mem::take(&mut *self.shared.detached_workers.lock());
        for worker in detached.into_iter().filter(|w| w.thread().id() != me) {
            let _ = worker.join();
        }
        self.shared.notify_idle();
    }
}
