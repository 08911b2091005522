using System;

namespace ModuleCommunication
{
    /// <summary>A message channel and its counters.</summary>
    public sealed class ChannelInfo
    {
        /// <summary>Channel name (case-insensitive).</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>Free text.</summary>
        public string Description { get; init; } = string.Empty;
        /// <summary>Queue capacity given to each subscription of this channel.</summary>
        public long MaxMessages { get; init; }
        /// <summary>When the channel was created (local time).</summary>
        public DateTime CreatedAt { get; init; }
        /// <summary>Subscriptions whose channel pattern matches this channel.</summary>
        public long Subscriptions { get; init; }
        /// <summary>Messages published to the channel.</summary>
        public long Published { get; init; }
        /// <summary>Deliveries to handlers (one per subscription that received a message).</summary>
        public long Delivered { get; init; }
        /// <summary>Messages that expired before delivery (per subscription).</summary>
        public long Expired { get; init; }
        /// <summary>Messages lost to full queues (per subscription).</summary>
        public long Dropped { get; init; }
        /// <summary>Messages discarded on purpose (per subscription): Clear-MessageQueue, or a subscription removed with them queued.</summary>
        public long Cleared { get; init; }
        /// <summary>Deliveries whose handler failed.</summary>
        public long Failed { get; init; }
        /// <summary>Messages of this channel waiting in subscription queues now.</summary>
        public long QueueLength { get; init; }

        /// <summary>The name, so that "$(Get-MessageChannels)" and lists of channels inside other objects read.</summary>
        public override string ToString() => Name;
    }
}
