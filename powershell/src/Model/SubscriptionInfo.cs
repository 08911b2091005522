using System;

namespace ModuleCommunication
{
    /// <summary>A subscription and its counters.</summary>
    public sealed class SubscriptionInfo
    {
        /// <summary>Pass this to Unsubscribe-ModuleMessage (or Unsubscribe-ModuleEvent).</summary>
        public Guid SubscriptionId { get; init; }
        /// <summary>Message or Event: Subscribe-ModuleMessage or Subscribe-ModuleEvent.</summary>
        public SubscriptionKind Kind { get; init; }
        /// <summary>Channel name or -like pattern.</summary>
        public string Channel { get; init; } = string.Empty;
        /// <summary>Message type name or -like pattern (for an event subscription: the event name pattern).</summary>
        public string MessageType { get; init; } = "*";
        /// <summary>Event subscriptions: the event name or -like pattern (null for message subscriptions).</summary>
        public string? EventName => Kind == SubscriptionKind.Event ? MessageType : null;
        /// <summary>Where the handler runs.</summary>
        public HandlerMode Mode { get; init; }
        /// <summary>Queue capacity.</summary>
        public long MaxQueueSize { get; init; }
        /// <summary>What a full queue does.</summary>
        public OverflowPolicy OverflowPolicy { get; init; }
        /// <summary>Only messages from this module, if set.</summary>
        public string? SourceModule { get; init; }
        /// <summary>Whether a -Filter script block decides per message.</summary>
        public bool HasFilter { get; init; }
        /// <summary>When it was created (local time).</summary>
        public DateTime CreatedAt { get; init; }
        /// <summary>Messages waiting in its queue now.</summary>
        public long QueueLength { get; init; }
        /// <summary>Messages handed to its handler that it has not finished with yet.</summary>
        public long InFlight { get; init; }
        /// <summary>Messages its handler completed.</summary>
        public long Delivered { get; init; }
        /// <summary>Messages whose handler threw.</summary>
        public long Failed { get; init; }
        /// <summary>Messages its filter turned away.</summary>
        public long Filtered { get; init; }
        /// <summary>Messages that expired in its queue.</summary>
        public long Expired { get; init; }
        /// <summary>Messages lost to its full queue.</summary>
        public long Dropped { get; init; }
        /// <summary>Messages discarded on purpose from its queue (Clear-MessageQueue, Remove-MessageChannel -Force).</summary>
        public long Cleared { get; init; }
        /// <summary>The last handler error, if any.</summary>
        public string? LastError { get; init; }

        /// <summary>Alias of <see cref="Failed"/>: how many times the handler threw.</summary>
        public long ErrorCount => Failed;

        /// <summary>"Message Orders/New", "Event */Order*": (Get-CommunicationMetrics).Subscriptions in a list shows what each one receives.</summary>
        public override string ToString() => $"{Kind} {Channel}/{MessageType}";
    }
}
