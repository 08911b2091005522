namespace ModuleCommunication
{
    /// <summary>The hub's settings (Get-/Set-CommunicationConfiguration).</summary>
    public sealed class CommunicationConfiguration
    {
        /// <summary>Default queue capacity of a subscription (channels may set their own with -MaxMessages).</summary>
        public long MaxMessageQueueSize { get; init; }
        /// <summary>Milliseconds a default-handler drain may hold the subscriber's thread before yielding.</summary>
        public long ProcessorInterval { get; init; }
        /// <summary>Overflow policy of subscriptions that do not choose one.</summary>
        public OverflowPolicy DefaultOverflowPolicy { get; init; }
        /// <summary>Milliseconds a publisher waits on a full queue under the Block policy.</summary>
        public long BlockTimeoutMs { get; init; }
        /// <summary>Events kept in history.</summary>
        public long MaxEventHistory { get; init; }
        /// <summary>Whether message tracing is on (Enable-MessageTracing; the spec's EnableTracing).</summary>
        public bool EnableTracing { get; init; }
        /// <summary>How API calls retry transient failures (the spec's RetryPolicy).</summary>
        public RetryPolicy RetryPolicy { get; init; } = new();
        /// <summary>Options of circuit breakers that have none of their own (the spec's CircuitBreaker).</summary>
        public CircuitBreakerOptions CircuitBreaker { get; init; } = new();
        /// <summary>Security settings (the spec's Security).</summary>
        public SecuritySettings Security { get; init; } = new();
        /// <summary>The file the event history is persisted to (one JSON line per event), or null.</summary>
        public string? EventHistoryPath { get; init; }
        /// <summary>Size at which the history file is rotated to &lt;path&gt;.1 (0 = never).</summary>
        public long EventHistoryMaxBytes { get; init; }
        /// <summary>Whether latencies are recorded for Get-CommunicationMetrics (counters always are).</summary>
        public bool EnableMetrics { get; init; } = true;
        /// <summary>Length of one metrics history interval, in milliseconds.</summary>
        public long MetricsIntervalMs { get; init; }
        /// <summary>How many metrics history intervals are kept.</summary>
        public long MetricsHistorySize { get; init; }

        /// <summary>The main settings on one line, for (Get-CommunicationStatus -IncludeDetails | Format-List *).</summary>
        public override string ToString() =>
            $"MaxMessageQueueSize {MaxMessageQueueSize}, ProcessorInterval {ProcessorInterval} ms, DefaultOverflowPolicy {DefaultOverflowPolicy}, MaxEventHistory {MaxEventHistory}, EnableTracing {EnableTracing}";
    }
}
