//! Channels: named, case-insensitive destinations with counters.

use std::fmt;

use serde::Serialize;

use crate::sync::{AtomicU64, CachePadded, Ordering};

/// Counters of one channel. Each counts per subscription that received (or lost) a
/// message of the channel, except `published`, which counts publishes.
#[derive(Default)]
pub(crate) struct ChannelCounters {
    /// Bumped by publishers, so kept apart from the counters push workers bump.
    pub published: CachePadded<AtomicU64>,
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub expired: AtomicU64,
    pub dropped: AtomicU64,
    /// Copies discarded on purpose: queues cleared, subscriptions removed with messages queued.
    pub cleared: AtomicU64,
}

impl ChannelCounters {
    fn all(&self) -> [&AtomicU64; 6] {
        [&*self.published, &self.delivered, &self.failed, &self.expired, &self.dropped, &self.cleared]
    }

    /// Sets every counter to zero (Reset-CommunicationMetrics).
    pub fn reset(&self) {
        for c in self.all() {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// Adds `other`'s counts to these (a forgotten channel's, so totals never go down).
    pub fn add(&self, other: &ChannelCounters) {
        for (mine, theirs) in self.all().into_iter().zip(other.all()) {
            mine.fetch_add(theirs.load(Ordering::Relaxed), Ordering::Relaxed);
        }
    }

    /// (published, delivered, failed, expired, dropped, cleared).
    pub fn values(&self) -> [u64; 6] {
        self.all().map(|c| c.load(Ordering::Relaxed))
    }
}

/// Whether a channel carries messages or events. Message subscriptions only ever match
/// message channels and event subscriptions only event channels, so a message channel and
/// an event channel may share a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum ChannelKind {
    /// A channel made with `create_channel` (`New-MessageChannel`).
    #[default]
    Message,
    /// An event channel, made by the first event published to it (`Publish-ModuleEvent`).
    Event,
}

impl ChannelKind {
    /// `"Message"` or `"Event"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Message => "Message",
            ChannelKind::Event => "Event",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

pub(crate) struct Channel {
    /// Message or event channel.
    pub kind: ChannelKind,
    /// The name as created (display form).
    pub name: String,
    /// The folded name, the map key.
    pub key: String,
    pub description: Option<String>,
    /// 0 = follow the configuration's `maxMessageQueueSize`.
    pub max_messages: usize,
    pub created_at_ms: i64,
    pub counters: ChannelCounters,
    /// A self-test channel (name starting with [`PRIVATE_PREFIX`]): not listed, not
    /// counted as a channel, reached only by subscriptions that name it exactly.
    pub private: bool,
}

/// Channels whose (folded) name starts with this are private: the self-tests and health
/// checks use them so that no user subscription sees their traffic.
pub const PRIVATE_PREFIX: &str = "__modulecommunication.";

/// Whether a channel name or pattern (any case) is private. It allocates nothing: every
/// publish asks it.
pub fn is_private_name(name: &str) -> bool {
    name.len() >= PRIVATE_PREFIX.len() && name.as_bytes()[..PRIVATE_PREFIX.len()].eq_ignore_ascii_case(PRIVATE_PREFIX.as_bytes())
}

/// One channel, as listed by [`Hub::channels`](crate::Hub::channels).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelInfo {
    /// The name as created.
    pub name: String,
    /// The description, if any.
    pub description: Option<String>,
    /// Capacity that subscriptions to exactly this channel get by default (the
    /// configuration's `maxMessageQueueSize` when the channel was created with 0).
    pub max_messages: usize,
    /// When the channel was created (ms since the Unix epoch; ISO 8601 in JSON).
    #[serde(rename = "createdAt", serialize_with = "crate::time_fmt::serialize_ms")]
    pub created_at_ms: i64,
    /// Subscriptions whose channel pattern matches this channel.
    pub subscriptions: usize,
    /// Messages published to the channel.
    pub published: u64,
    /// Deliveries of its messages that handlers completed successfully.
    pub delivered: u64,
    /// Deliveries whose handler failed.
    pub failed: u64,
    /// Copies that expired before they could be delivered.
    pub expired: u64,
    /// Copies lost to full queues.
    pub dropped: u64,
    /// Copies discarded on purpose (Clear-MessageQueue, a removal with messages queued).
    pub cleared: u64,
    /// Copies of its messages waiting in subscription queues.
    pub queue_length: usize,
}

impl Channel {
    pub(crate) fn info(&self, default_max: usize, subscriptions: usize, queue_length: usize) -> ChannelInfo {
        let c = &self.counters;
        ChannelInfo {
            name: self.name.clone(),
            description: self.description.clone(),
            max_messages: if self.max_messages == 0 { default_max } else { self.max_messages },
            created_at_ms: self.created_at_ms,
            subscriptions,
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            cleared: c.cleared.load(Ordering::Relaxed),
            queue_length,
        }
    }
}
