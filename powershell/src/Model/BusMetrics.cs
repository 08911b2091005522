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
        /// <summary>Messages discarded on purpose: queues cleared, subscriptions removed with messages queued.</summary>
        public long Cleared { get; init; }
        /// <summary>Messages waiting now.</summary>
        public long QueueLength { get; init; }
        /// <summary>Messages handed to handlers that have not finished with them yet.</summary>
        public long InFlight { get; init; }
        /// <summary>The fullest subscription queue, in percent of its capacity.</summary>
        public double MaxQueueUsagePercent { get; init; }
        /// <summary>Whether delivery is running (Start-/Stop-MessageProcessor).</summary>
        public bool ProcessorRunning { get; init; }

        /// <summary>One line, for lists that show it inside another object.</summary>
        public override string ToString() =>
            $"{Published} published, {Delivered} delivered, {Failed} failed, {Dropped} dropped, {QueueLength} queued ({TotalChannels} channels, {TotalSubscriptions} subscriptions)";
    }

    /// <summary>What Get-CommunicationMetrics returns.</summary>
    public sealed class CommunicationMetrics
    {
        /// <summary>Bus totals.</summary>
        public BusMetrics MessageBus { get; init; } = new();
        /// <summary>The -Channel name or pattern the channels were narrowed to; null for all.</summary>
        public string? Channel { get; init; }
        /// <summary>Per-channel counters (all channels, or the one asked for with -Channel).</summary>
        public ChannelInfo[] Channels { get; init; } = System.Array.Empty<ChannelInfo>();
        /// <summary>Per-subscription counters.</summary>
        public SubscriptionInfo[] Subscriptions { get; init; } = System.Array.Empty<SubscriptionInfo>();
        /// <summary>Events (event channels only).</summary>
        public EventMetrics Events { get; init; } = new();
        /// <summary>API calls.</summary>
        public ApiMetrics API { get; init; } = new();
        /// <summary>Authentication and authorization.</summary>
        public SecurityMetrics Security { get; init; } = new();
        /// <summary>Circuit breakers.</summary>
        public CircuitBreakerMetrics CircuitBreakers { get; init; } = new();
        /// <summary>Latencies: delivery and API calls, from histograms.</summary>
        public PerformanceMetrics Performance { get; init; } = new();
        /// <summary>Closed intervals, oldest first (only with -IncludeHistory; otherwise empty).</summary>
        public MetricsInterval[] History { get; init; } = System.Array.Empty<MetricsInterval>();
        /// <summary>Start of the counting period: the last Reset-CommunicationMetrics, or the first use of the module.</summary>
        public System.DateTime Since { get; init; }
        /// <summary>When these numbers were read.</summary>
        public System.DateTime Timestamp { get; init; }
        /// <summary>Length of one history interval.</summary>
        public System.TimeSpan Interval { get; init; }

        /// <summary>One line, for (Get-CommunicationStatus -IncludeDetails | Format-List *).</summary>
        public override string ToString() => $"{MessageBus}; API {API}";
    }
}
