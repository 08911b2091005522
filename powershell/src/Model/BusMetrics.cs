namespace ModuleCommunication
{
    /// <summary>Totals of the message bus.</summary>
    public sealed class BusMetrics
    {
        /// <summary>Channels that exist.</summary>
        public long TotalChannels { get; init; }
        /// <summary>Active subscriptions.</summary>
        public long TotalSubscriptions { get; init; }
        /// <summary>Messages published.</summary>
        public long Published { get; init; }
        /// <summary>Deliveries completed by handlers.</summary>
        public long Delivered { get; init; }
        /// <summary>Deliveries whose handler failed.</summary>
        public long Failed { get; init; }
        /// <summary>Deliveries a filter turned away.</summary>
        public long Filtered { get; init; }
        /// <summary>Messages that expired before delivery.</summary>
        public long Expired { get; init; }
        /// <summary>Messages lost to full queues.</summary>
        public long Dropped { get; init; }
        /// <summary>Messages waiting now.</summary>
        public long QueueLength { get; init; }
        /// <summary>Whether delivery is running (Start-/Stop-MessageProcessor).</summary>
        public bool ProcessorRunning { get; init; }
    }

    /// <summary>What Get-CommunicationMetrics returns.</summary>
    public sealed class CommunicationMetrics
    {
        /// <summary>Bus totals.</summary>
        public BusMetrics MessageBus { get; init; } = new();
        /// <summary>Per-channel counters (all channels, or the one asked for with -Channel).</summary>
        public ChannelInfo[] Channels { get; init; } = System.Array.Empty<ChannelInfo>();
        /// <summary>Per-subscription counters.</summary>
        public SubscriptionInfo[] Subscriptions { get; init; } = System.Array.Empty<SubscriptionInfo>();
    }
}
