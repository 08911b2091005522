//! The hub: one value that owns the configuration, the clock and the bus. Many hubs may
//! live in one process; nothing is global.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use crate::bus::{
    is_private_name, Bus, BusStats, ChannelInfo, DeliveryReport, Envelope, Priority, PublishRequest,
    SubscriptionInfo, SubscriptionOptions,
};
use crate::events::{
    Delivery, EventQuery, EventRequest, EventSubscriptionOptions, Events, HistoryFormat, HistoryInfo, ImportReport,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::id::{MessageId, SubscriptionId};
use crate::metrics::{HealthOptions, HealthReport, Metrics, MetricsOptions, MetricsReport};
use crate::registry::Registry;
use crate::trace::{DisableOptions, TraceOptions, TraceSummary};
use crate::resilience::Resilience;
use crate::security::Security;
use crate::sync::{Arc, Mutex, RwLock};

/// What every part of a hub shares: its clock and configuration, and the security and
/// resilience state that guarded operations and API calls consult.
pub(crate) struct Context {
    pub clock: Arc<dyn Clock>,
    pub config: RwLock<Config>,
    pub metrics: Metrics,
    /// Message tracing (src/trace/).
    pub trace: crate::trace::Tracer,
    pub resilience: Resilience,
    pub security: Security,
    /// Threads of timed API calls, which may outlive a call that timed out.
    pub timed_calls: crate::registry::TimedCalls,
    /// Which thread waits for which: unsubscribes for push workers, timed API calls for
    /// their worker threads.
    pub waits: crate::waits::Waits,
}

impl Context {
    /// The security check of a guarded operation (nothing while security is off): the one
    /// place every caller goes through, so that a refusal is counted in the metrics exactly
    /// when security counts it.
    pub(crate) fn authorize(
        &self,
        token: Option<&str>,
        action: crate::security::Action,
        target: &str,
        source: Option<&str>,
    ) -> Result<Option<crate::security::Principal>, crate::security::SecurityError> {
        let result = self.security.authorize(token, action, target, source);
        if matches!(result, Err(crate::security::SecurityError::Denied { .. })) {
            self.metrics.count_auth_failure();
        }
        result
    }
}

/// A message hub: channels, publishing, push and pull subscriptions, delivery tracking.
///
/// All methods take `&self` and may be called from any thread. Dropping the hub closes
/// every subscription, waits for push workers to finish their current handler call, and
/// discards queued messages.
///
/// ```
/// use std::time::Duration;
/// use module_communication::{Hub, PublishRequest, SubscriptionOptions};
///
/// let hub = Hub::new();
/// hub.create_channel("Configuration", Some("Configuration updates"), 1000).unwrap();
/// let sub = hub.subscribe_pull(SubscriptionOptions::new("Config*"), None).unwrap();
/// let id = hub.publish(PublishRequest::new("configuration", "ConfigChanged")).unwrap();
/// let batch = hub.take(sub, 10, Duration::from_secs(1)).unwrap();
/// assert_eq!(batch[0].id(), id);
/// assert_eq!(batch[0].channel(), "Configuration");
/// ```
pub struct Hub {
    ctx: Arc<Context>,
    bus: Bus,
    events: Events,
    /// Serializes configuration changes (a change may load a history file).
    config_update: Mutex<()>,
    registry: Registry,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new()
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub").field("config", &*self.ctx.config.read()).finish_non_exhaustive()
    }
}

impl Hub {
    /// A hub with the default configuration and the system clock.
    pub fn new() -> Hub {
        Hub::with_clock(Arc::new(SystemClock))
    }

    /// A hub whose timestamps and expiry come from `clock` (a
    /// [`ManualClock`](crate::ManualClock) in tests).
    pub fn with_clock(clock: Arc<dyn Clock>) -> Hub {
        let config = Config::default();
        let events = Events::new(config.max_event_history);
        let metrics = Metrics::new(clock.now_ms());
        let ctx = Arc::new(Context {
            resilience: Resilience::new(Arc::clone(&clock)),
            security: Security::new(Arc::clone(&clock)),
            clock,
            config: RwLock::new(config),
            metrics,
            trace: Default::default(),
            timed_calls: Default::default(),
            waits: Default::default(),
        });
        Hub {
            bus: Bus::new(Arc::clone(&ctx)),
            registry: Registry::new(Arc::clone(&ctx)),
            ctx,
            events,
            config_update: Mutex::new(()),
        }
    }

    /// The hub's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.ctx.clock
    }

    /// The hub's API registry: register, list, invoke (see [`crate::registry`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The hub's circuit breakers and retry policy (see [`crate::resilience`]).
    pub fn resilience(&self) -> &Resilience {
        &self.ctx.resilience
    }

    /// The hub's tokens and security settings (see [`crate::security`]).
    pub fn security(&self) -> &Security {
        &self.ctx.security
    }

    // ----- configuration -------------------------------------------------------------

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.ctx.config.read().clone()
    }

    /// Replaces the configuration after validating it. Applies to subscriptions created
    /// afterwards; existing ones keep their capacity, policy and timeout.
    ///
    /// A new `event_history_path` turns persistence on and loads that file's events into
    /// the history (see [`Hub::publish_event`]); a file that cannot be read or is corrupt
    /// fails the call and nothing changes. A smaller `max_event_history` drops the oldest
    /// events of the history at once.
    pub fn set_config(&self, config: Config) -> Result<(), Error> {
        config.validate()?;
        let _serial = self.config_update.lock();
        self.apply_config(config)
    }

    /// Applies a partial JSON object (`{"maxMessageQueueSize":20000}`). An unknown key or
    /// a bad value fails naming it, and nothing changes. See [`Hub::set_config`].
    ///
    /// The nested objects `retryPolicy`, `circuitBreaker` and `security` (the spec's
    /// `RetryPolicy`, `CircuitBreaker` and `Security`) change the resilience and security
    /// settings; they are checked with the rest before anything changes.
    ///
    /// `enableTracing` (the spec's `EnableTracing`) switches tracing: `true` turns on a Basic
    /// trace kept in memory when tracing is off (a trace already on keeps its options),
    /// `false` turns tracing off as [`Hub::disable_tracing`] does without an archive.
    pub fn update_config_json(&self, json: &str) -> Result<(), Error> {
        let _serial = self.config_update.lock();
        let mut update = crate::config::parse_update(json)?;
        let tracing = crate::config::take_enable_tracing(&mut update)?;
        let nested = crate::resilience::settings::split_config(&mut update, &self.ctx.resilience, &self.ctx.security)?;
        let next = self.config().merged_with(&update)?;
        self.apply_config(next)?;
        nested.apply(&self.ctx.resilience, &self.ctx.security)?;
        match tracing {
            Some(true) if self.ctx.trace.level() == 0 => self.enable_tracing(TraceOptions::default()),
            Some(false) => self.disable_tracing(&DisableOptions::default()).map(drop),
            _ => Ok(()),
        }
    }

    /// The configuration as the C ABI's JSON, with `enableTracing` (whether tracing is on) and
    /// the nested `retryPolicy`, `circuitBreaker` and `security` objects.
    pub fn config_json(&self) -> String {
        let tracing = self.ctx.trace.level() > 0;
        crate::resilience::settings::config_json(&self.config(), tracing, &self.ctx.resilience, &self.ctx.security)
    }

    /// With `config_update` held: applies the event-history settings, then stores `next`.
    fn apply_config(&self, next: Config) -> Result<(), Error> {
        let current = self.config();
        if next.event_history_path != current.event_history_path
            || next.event_history_max_bytes != current.event_history_max_bytes
        {
            // Each file rotates and rewrites its own records: sharing one destroys the other's.
            if let (Some(history), Some(trace)) = (next.event_history_path.as_deref(), self.ctx.trace.file_path()) {
                if crate::events::is_history_file(Path::new(history), &trace) {
                    let detail = "it (or its rotated part) is the trace file (Enable-MessageTracing -FilePath); give the event history a file of its own";
                    return Err(Error::invalid("eventHistoryPath", history, detail));
                }
            }
            self.events.configure_file(
                &self.bus,
                next.event_history_path.as_deref(),
                next.event_history_max_bytes,
                next.max_event_history,
            )?;
        }
        self.events.set_capacity(next.max_event_history);
        self.ctx.metrics.configure(next.enable_metrics, next.metrics_interval_ms, next.metrics_history_size);
        *self.ctx.config.write() = next;
        Ok(())
    }

    // ----- channels ------------------------------------------------------------------

    /// Creates a channel. `max_messages` is the default capacity of subscriptions to
    /// exactly this channel; 0 means the configuration's `max_message_queue_size`.
    /// Names compare case-insensitively, and may not contain `* ? [ ]` or a backtick.
    pub fn create_channel(&self, name: &str, description: Option<&str>, max_messages: usize) -> Result<(), Error> {
        self.bus.create_channel(name, description, max_messages)
    }

    /// Channels whose name matches `pattern` (all when `None`), sorted by name.
    pub fn channels(&self, pattern: Option<&str>) -> Result<Vec<ChannelInfo>, Error> {
        self.bus.channels(pattern)
    }

    /// Removes a channel and clears its queued messages from every subscription; returns
    /// how many queued copies were cleared. Subscriptions stay.
    pub fn remove_channel(&self, name: &str) -> Result<usize, Error> {
        self.bus.remove_channel(name)
    }

    // ----- publishing ----------------------------------------------------------------

    /// Publishes a message to an existing channel and queues it for every matching
    /// subscription. Never sleeps, except that a full `Block` subscription makes it wait
    /// up to that subscription's block timeout.
    ///
    /// When a `Reject` subscription refuses the message the others still get it, and the
    /// result is [`Error::QueueFull`] carrying the message id.
    ///
    /// While security is on, the request's authentication token must allow
    /// `messages:publish` on the channel (and belong to its `SourceModule`, when given).
    pub fn publish(&self, request: PublishRequest) -> Result<MessageId, Error> {
        let parts = request.parts();
        self.check_publish(&parts)?;
        self.bus.publish(&parts)
    }

    fn check_publish(&self, parts: &crate::bus::PublishParts<'_>) -> Result<(), Error> {
        if is_private_name(parts.channel) {
            return Ok(());
        }
        let action = crate::security::Action::MessagesPublish;
        self.ctx.authorize(parts.authentication_token, action, parts.channel, parts.source_module)?;
        Ok(())
    }

    /// The security check of an operation on `channel` (a name or pattern; `None` = any).
    ///
    /// Private channels (`__ModuleCommunication.*`) are exempt: the health checks and
    /// self-tests run there, and they must work, and count no authentication failures, while
    /// security requires tokens. They carry no user traffic: they are not listed, and only a
    /// subscription naming one exactly receives its messages.
    fn check(
        &self,
        token: Option<&crate::security::TokenText>,
        action: crate::security::Action,
        target: &str,
        channel: Option<&str>,
        source: Option<&str>,
    ) -> Result<(), Error> {
        if channel.is_some_and(is_private_name) {
            return Ok(());
        }
        self.ctx.authorize(token.map(crate::security::TokenText::expose), action, target, source)?;
        Ok(())
    }

    /// Publishes the C ABI's message JSON (see [`PublishRequest::from_json`]).
    pub fn publish_json(&self, json: &str) -> Result<MessageId, Error> {
        crate::bus::with_json_parts(json, |parts| {
            self.check_publish(parts)?;
            self.bus.publish(parts)
        })
    }

    /// Wakes every publisher waiting for room in a `Block` queue, so that one whose cancel
    /// flag is set gives up (the C ABI's `mc_publish_cancellable`).
    pub(crate) fn wake_blocked_publishers(&self) {
        self.bus.wake_blocked_publishers();
    }

    // ----- subscriptions -------------------------------------------------------------

    /// Subscribes with a handler that a dedicated worker thread calls for each message, in
    /// priority order, never concurrently with itself. `false` from the handler, or a
    /// panic, counts as a failure (the panic is contained). The handler may call the hub,
    /// including publishing and unsubscribing its own subscription.
    ///
    /// A handler that needs the hub should hold a `Weak<Hub>`: the worker owns the
    /// handler until the subscription ends, so an `Arc<Hub>` inside it would keep the hub
    /// (and the worker) alive forever.
    pub fn subscribe_push<F>(&self, options: SubscriptionOptions, handler: F) -> Result<SubscriptionId, Error>
    where
        F: FnMut(&Envelope) -> bool + Send + 'static,
    {
        let action = crate::security::Action::MessagesSubscribe;
        self.check(options.authentication_token.as_ref(), action, &options.channel, Some(&options.channel), None)?;
        self.bus.subscribe_push(options, Box::new(handler))
    }

    /// Subscribes without a worker: the caller takes batches with [`Hub::take`] and
    /// reports with [`Hub::complete`].
    ///
    /// `notify`, if given, is called on the publishing thread when a message is queued
    /// while the notifier is armed, and by [`Hub::resume`] when it is armed and messages
    /// are queued. It starts armed, is disarmed by the call, and is
    /// re-armed by every take: at most one call between two takes. It must only signal
    /// and return (calling [`Hub::unsubscribe`] from it deadlocks). After a notification,
    /// take until a take returns fewer messages than asked for. Once `unsubscribe` (or
    /// dropping the hub) has returned, the notifier is not running and is never called
    /// again.
    pub fn subscribe_pull(
        &self,
        options: SubscriptionOptions,
        notify: Option<Box<dyn Fn() + Send + Sync + 'static>>,
    ) -> Result<SubscriptionId, Error> {
        let action = crate::security::Action::MessagesSubscribe;
        self.check(options.authentication_token.as_ref(), action, &options.channel, Some(&options.channel), None)?;
        self.bus.subscribe_pull(options, notify)
    }

    /// Pull: hands out up to `max` unexpired messages in priority order, waiting up to
    /// `timeout` when none is queued (or while paused). Expired messages met on the way
    /// are counted and completed, never handed out. Handed-out messages stay in flight
    /// until [`Hub::complete`].
    pub fn take(&self, id: SubscriptionId, max: usize, timeout: Duration) -> Result<Vec<Arc<Envelope>>, Error> {
        self.bus.take(id, max, timeout)
    }

    /// Pull: takes, without waiting, up to `max` messages of a priority above `above`: what
    /// arrived that is more urgent than the rest of a batch being handled. They join the
    /// messages handed out by earlier takes; one `complete` reports them all.
    pub fn take_above(&self, id: SubscriptionId, max: usize, above: Priority) -> Result<Vec<Arc<Envelope>>, Error> {
        self.bus.take_above(id, max, above)
    }

    /// Waits until every API handler still running on a thread of a timed call has returned,
    /// those abandoned by their call's timeout included (`mc_hub_free` waits for them: a C
    /// handler may use the hub until it returns).
    pub fn wait_for_api_handlers(&self) {
        self.ctx.timed_calls.wait_all();
    }

    /// Pull: completes every message handed out by earlier takes, adding the report's
    /// counts to the subscription's counters.
    pub fn complete(&self, id: SubscriptionId, report: DeliveryReport) -> Result<(), Error> {
        self.bus.complete(id, report)
    }

    /// Removes a subscription. Its queued and handed-out messages are completed (cleared,
    /// not counted as lost). For a push subscription this returns only after its handler
    /// can no longer be called — except where that wait would never end: called from that
    /// handler itself, from a handler whose subscription the other handler is itself
    /// waiting to end, or from an API stage that the handler invoked with a timeout (on a
    /// worker thread, while the handler waits for it). Then it returns at once; the handler
    /// finishes the call it may be making, is never called again, and dropping the hub waits
    /// for it.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Result<(), Error> {
        self.bus.unsubscribe(id)
    }

    /// Subscriptions in creation order; with a pattern, those whose channel pattern
    /// matches it as text, or (for a plain name) would receive that channel's messages.
    pub fn subscriptions(&self, channel_pattern: Option<&str>) -> Result<Vec<SubscriptionInfo>, Error> {
        self.bus.subscriptions(channel_pattern)
    }

    // ----- processor and queues ------------------------------------------------------

    /// Removes queued messages of channels matching `channel_pattern` from every
    /// subscription; returns how many copies were removed (not counted as dropped).
    pub fn clear_queue(&self, channel_pattern: &str) -> Result<usize, Error> {
        self.bus.clear_queue(channel_pattern)
    }

    /// Stops hand-outs: takes return nothing, push workers wait. Publishing still queues.
    pub fn pause(&self) {
        self.bus.pause()
    }

    /// Restarts hand-outs after [`Hub::pause`]: wakes push workers and waiting takes, and
    /// calls, on this thread, the armed notifier of every pull subscription that has
    /// queued messages (each call disarms it, as for a publish).
    pub fn resume(&self) {
        self.bus.resume()
    }

    /// Whether hand-outs run (not paused).
    pub fn is_running(&self) -> bool {
        self.bus.is_running()
    }

    /// Waits until every subscription that received message `id` has completed it.
    /// Returns at once for an id that is not in flight (unknown, or already delivered).
    pub fn wait_delivered(&self, id: MessageId, timeout: Duration) -> Result<(), Error> {
        self.bus.wait_delivered(id, timeout)
    }

    /// Waits until every subscription queue is empty, nothing is handed out, and no
    /// publisher waits for room in a `Block` queue.
    pub fn wait_idle(&self, timeout: Duration) -> Result<(), Error> {
        self.bus.wait_idle(timeout)
    }

    /// Totals of the bus.
    pub fn bus_stats(&self) -> BusStats {
        self.bus.stats()
    }

    /// Messages still in flight: queued or being handled by at least one subscription.
    pub fn in_flight(&self) -> usize {
        self.bus.in_flight()
    }

    /// Publishers waiting for room in a full `Block` queue. Only for tests, which need to know
    /// that a publisher really waits before they go on (nothing else shows it, and sleeping
    /// only makes it likely); not part of the API.
    #[doc(hidden)]
    pub fn blocked_publishers(&self) -> usize {
        self.bus.blocked_publishers()
    }

    // ----- events --------------------------------------------------------------------

    /// Publishes an event and returns its id.
    ///
    /// The event goes to its event channel (`Events` unless the request names another;
    /// created on first use, never listed by [`Hub::channels`]), is appended to the
    /// history — and, when a history file is configured, written to it as one JSON line
    /// before this returns — and is queued for every event subscription whose name,
    /// channel and source-module patterns match. If the file cannot be written, the call
    /// fails and the event is not published at all.
    ///
    /// With `broadcast`, the event is also published to every message channel that exists
    /// at that moment, as one message per channel: message type = the event name; id,
    /// timestamp, data, type hints, source module, priority and correlation id = the
    /// event's. Those copies reach message subscriptions only; they are not in the event
    /// history. Because they share the event's id, [`Hub::wait_delivered`] on the id
    /// waits for them too.
    ///
    /// A `Reject` subscription that refuses the event (or a broadcast copy) makes the
    /// result [`Error::QueueFull`] carrying the id; everyone else still got it.
    ///
    /// While security is on, the token must allow `events:publish` on the event name, and with
    /// `broadcast` also `messages:publish` on every message channel the copies go to. A
    /// private event channel exempts only an event that stays there (no broadcast).
    pub fn publish_event(&self, request: EventRequest) -> Result<MessageId, Error> {
        let (token, source) = (request.authentication_token.as_ref(), request.source_module.as_deref());
        let channel = request.channel.as_deref().filter(|_| !request.broadcast);
        self.check(token, crate::security::Action::EventsPublish, &request.name, channel, source)?;
        if request.broadcast && self.ctx.security.is_enabled() {
            for c in self.bus.message_channels() {
                self.check(token, crate::security::Action::MessagesPublish, &c.name, None, source)?;
            }
        }
        self.events.publish(&self.bus, self.ctx.clock.as_ref(), request)
    }

    /// Publishes the C ABI's event JSON (see [`EventRequest::from_json`]).
    pub fn publish_event_json(&self, json: &str) -> Result<MessageId, Error> {
        self.publish_event(EventRequest::from_json(json)?)
    }

    /// Subscribes to events with a handler called on a dedicated worker thread, as
    /// [`Hub::subscribe_push`] does for messages. With a replay (`replay_last`,
    /// `replay_since_ms`), the matching events of the history are handed to it first, in
    /// history order and before any live event; every later event arrives live. No event
    /// is missed or repeated at the seam, even while others publish.
    pub fn subscribe_events_push<F>(&self, options: EventSubscriptionOptions, handler: F) -> Result<SubscriptionId, Error>
    where
        F: FnMut(&Envelope) -> bool + Send + 'static,
    {
        self.check_event_subscribe(&options)?;
        self.events.subscribe(&self.bus, options, Delivery::Push(Box::new(handler)))
    }

    /// Subscribes to events without a worker: take and complete them with [`Hub::take`]
    /// and [`Hub::complete`], as for [`Hub::subscribe_pull`]. Replayed events are queued
    /// at once and do not call `notify`: take after subscribing.
    pub fn subscribe_events_pull(
        &self,
        options: EventSubscriptionOptions,
        notify: Option<Box<dyn Fn() + Send + Sync + 'static>>,
    ) -> Result<SubscriptionId, Error> {
        self.check_event_subscribe(&options)?;
        self.events.subscribe(&self.bus, options, Delivery::Pull(notify))
    }

    /// `events:subscribe` on the name pattern (`*` when none).
    fn check_event_subscribe(&self, options: &EventSubscriptionOptions) -> Result<(), Error> {
        let action = crate::security::Action::EventsSubscribe;
        let name = options.name.as_deref().unwrap_or("*");
        self.check(options.authentication_token.as_ref(), action, name, options.channel.as_deref(), None)
    }

    /// The events of the history that match `query`, oldest first.
    pub fn events(&self, query: &EventQuery) -> Result<Vec<Arc<Envelope>>, Error> {
        self.events.query(query)
    }

    /// Removes the events that match `query` from the history and from the history file
    /// (rewritten to the events it held that do not match, which may be more than memory
    /// keeps); returns how many distinct events were removed. A query with `last` is
    /// refused: the newest events of memory and of the file need not be the same.
    pub fn clear_events(&self, query: &EventQuery) -> Result<usize, Error> {
        self.events.clear(&self.bus, query)
    }

    /// Writes the events that match `query` to `path` (replacing it) in `format`; returns
    /// how many were written. The file appears complete or not at all.
    pub fn export_events(&self, path: &std::path::Path, format: HistoryFormat, query: &EventQuery) -> Result<usize, Error> {
        self.events.export(path, format, query)
    }

    /// Adds the events of an exported file to the history, in timestamp order, skipping
    /// ids it (or the history file) holds already; the history file is rewritten to what it
    /// held plus the new events, in time order. They are not delivered to subscribers. A torn last record is skipped with a
    /// warning; any other bad record fails the import and adds nothing.
    pub fn import_events(&self, path: &std::path::Path, format: HistoryFormat) -> Result<ImportReport, Error> {
        self.events.import(&self.bus, path, format)
    }

    /// Size, capacity and file of the event history.
    pub fn event_history_info(&self) -> HistoryInfo {
        self.events.info()
    }

    // ----- metrics and health (src/metrics/) -----------------------------------------

    /// Closes metrics intervals that have ended (see [`crate::metrics`]).
    fn roll_metrics(&self, now_ms: i64) {
        self.ctx.metrics.roll(now_ms, |m| self.bus.totals(None, m));
    }

    /// The metrics report: bus totals, channels, subscriptions, events, API calls,
    /// security, circuit breakers and latency percentiles; with `include_history`, the
    /// closed intervals. A channel name or pattern narrows channels, subscriptions and the
    /// delivery latencies to that channel.
    pub fn metrics(&self, options: &MetricsOptions) -> Result<MetricsReport, Error> {
        crate::metrics::report(self, &self.bus, &self.events, options)
    }

    /// [`Hub::metrics`] with the C ABI's options JSON (`None` for the defaults), as JSON.
    pub fn metrics_json(&self, options_json: Option<&str>) -> Result<String, Error> {
        let options = options_json.map(MetricsOptions::from_json).transpose()?.unwrap_or_default();
        Ok(serde_json::to_string(&self.metrics(&options)?).expect("a metrics report always serializes"))
    }

    // ----- tracing (src/trace/) ------------------------------------------------------

    /// Turns message tracing on, or changes its options (a running trace file is closed
    /// first). See the [`crate::trace`] module documentation for what is recorded.
    pub fn enable_tracing(&self, options: TraceOptions) -> Result<(), Error> {
        // The configured path: the file in use is the one it names.
        let history = self.config().event_history_path.map(std::path::PathBuf::from);
        if let (Some(trace), Some(history)) = (options.file_path.as_deref().filter(|_| options.log_to_file), history) {
            if crate::events::is_history_file(&history, trace) {
                let detail = "it is the event history file (EventHistoryPath) or its rotated part; give the trace a file of its own";
                return Err(Error::invalid("filePath", trace.display(), detail));
            }
        }
        self.ctx.trace.enable(options)
    }

    /// [`Hub::enable_tracing`] with the C ABI's options JSON (`None` for the defaults).
    pub fn enable_tracing_json(&self, options_json: Option<&str>) -> Result<(), Error> {
        self.enable_tracing(options_json.map(TraceOptions::from_json).transpose()?.unwrap_or_default())
    }

    /// Turns tracing off: the writer writes what it has, the file is closed, and with
    /// `archive_logs` the trace is compressed into one `.log.gz`.
    pub fn disable_tracing(&self, options: &DisableOptions) -> Result<TraceSummary, Error> {
        self.ctx.trace.disable(options, self.ctx.clock.now_ms())
    }

    /// [`Hub::disable_tracing`] with the C ABI's options JSON, reporting JSON.
    pub fn disable_tracing_json(&self, options_json: Option<&str>) -> Result<String, Error> {
        let options = options_json.map(DisableOptions::from_json).transpose()?.unwrap_or_default();
        let summary = self.disable_tracing(&options)?;
        Ok(serde_json::to_string(&summary).expect("a trace summary always serializes"))
    }

    /// The newest `last` trace records kept in memory (all with `None`), oldest first, as a
    /// JSON array of record objects.
    pub fn trace_records_json(&self, last: Option<usize>) -> String {
        self.ctx.trace.read(last)
    }

    /// Whether tracing is on, its level and file, and its record counts, as JSON.
    pub fn trace_status_json(&self) -> String {
        self.ctx.trace.status_json()
    }

    /// Sets every counter, latency histogram, recent call and history interval to zero;
    /// counting starts again now. Queued messages and subscriptions are not touched.
    pub fn reset_metrics(&self) {
        self.bus.reset_counters();
        self.registry.reset_stats();
        self.ctx.metrics.reset(self.ctx.clock.now_ms());
    }

    /// Evaluates the health rules; with `check_health`, first runs the active checks (a
    /// messaging round trip on a private channel and a metrics check).
    pub fn health(&self, options: &HealthOptions) -> HealthReport {
        crate::metrics::health_report(self, &self.bus, options)
    }

    /// [`Hub::health`] with the C ABI's options JSON (`None` for the defaults), as JSON.
    pub fn health_json(&self, options_json: Option<&str>) -> Result<String, Error> {
        let options = options_json.map(HealthOptions::from_json).transpose()?.unwrap_or_default();
        Ok(serde_json::to_string(&self.health(&options)).expect("a health report always serializes"))
    }

    /// Records an API call in the metrics (`api` is `Module.Operation`).
    pub fn record_api_call(&self, api: &str, start_ms: i64, duration_ns: i64, success: bool, error: Option<&str>) {
        self.ctx.metrics.record_api_call(api, start_ms, duration_ns, success, error);
    }

    /// Counts an authentication or authorization failure in the metrics.
    pub fn record_auth_failure(&self) {
        self.ctx.metrics.count_auth_failure();
    }

    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    pub(crate) fn roll_metrics_now(&self) -> i64 {
        let now = self.ctx.clock.now_ms();
        if self.ctx.metrics.roll_due(now) {
            self.roll_metrics(now);
        }
        now
    }
}
