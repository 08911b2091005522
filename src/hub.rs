//! The hub: one value that owns the configuration, the clock and the bus. Many hubs may
//! live in one process; nothing is global.

use std::fmt;
use std::time::Duration;

use crate::bus::{
    Bus, BusStats, ChannelInfo, DeliveryReport, Envelope, PublishRequest, SubscriptionInfo, SubscriptionOptions,
};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::id::{MessageId, SubscriptionId};
use crate::sync::{Arc, RwLock};

/// What every part of a hub shares: its clock and configuration.
pub(crate) struct Context {
    pub clock: Arc<dyn Clock>,
    pub config: RwLock<Config>,
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
        let ctx = Arc::new(Context { clock, config: RwLock::new(Config::default()) });
        Hub { bus: Bus::new(Arc::clone(&ctx)), ctx }
    }

    /// The hub's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.ctx.clock
    }

    // ----- configuration -------------------------------------------------------------

    /// A copy of the current configuration.
    pub fn config(&self) -> Config {
        self.ctx.config.read().clone()
    }

    /// Replaces the configuration after validating it. Applies to subscriptions created
    /// afterwards; existing ones keep their capacity, policy and timeout.
    pub fn set_config(&self, config: Config) -> Result<(), Error> {
        config.validate()?;
        *self.ctx.config.write() = config;
        Ok(())
    }

    /// Applies a partial JSON object (`{"maxMessageQueueSize":20000}`). An unknown key or
    /// a bad value fails naming it, and nothing changes.
    pub fn update_config_json(&self, json: &str) -> Result<(), Error> {
        let mut config = self.ctx.config.write();
        let next = config.merged_with_json(json)?;
        *config = next;
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
    pub fn publish(&self, request: PublishRequest) -> Result<MessageId, Error> {
        self.bus.publish(&request.parts())
    }

    /// Publishes the C ABI's message JSON (see [`PublishRequest::from_json`]).
    pub fn publish_json(&self, json: &str) -> Result<MessageId, Error> {
        crate::bus::with_json_parts(json, |parts| self.bus.publish(parts))
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
        self.bus.subscribe_pull(options, notify)
    }

    /// Pull: hands out up to `max` unexpired messages in priority order, waiting up to
    /// `timeout` when none is queued (or while paused). Expired messages met on the way
    /// are counted and completed, never handed out. Handed-out messages stay in flight
    /// until [`Hub::complete`].
    pub fn take(&self, id: SubscriptionId, max: usize, timeout: Duration) -> Result<Vec<Arc<Envelope>>, Error> {
        self.bus.take(id, max, timeout)
    }

    /// Pull: completes every message handed out by earlier takes, adding the report's
    /// counts to the subscription's counters.
    pub fn complete(&self, id: SubscriptionId, report: DeliveryReport) -> Result<(), Error> {
        self.bus.complete(id, report)
    }

    /// Removes a subscription. Its queued and handed-out messages are completed (cleared,
    /// not counted as lost). For a push subscription this returns only after its handler
    /// can no longer be called — unless called from that handler, which then finishes
    /// its current call and is never called again.
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
}
