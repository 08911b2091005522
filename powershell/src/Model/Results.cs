using System;

namespace ModuleCommunication
{
    /// <summary>Result of Remove-MessageChannel.</summary>
    public sealed class ChannelRemovalResult
    {
        /// <summary>True when the channel was removed.</summary>
        public bool Success { get; init; }
        /// <summary>The channel.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>Queued messages discarded with it.</summary>
        public long ClearedCount { get; init; }
    }

    /// <summary>Result of Clear-MessageQueue.</summary>
    public sealed class QueueClearResult
    {
        /// <summary>True when the queues were cleared.</summary>
        public bool Success { get; init; }
        /// <summary>The channel name or pattern cleared.</summary>
        public string Channel { get; init; } = string.Empty;
        /// <summary>Messages discarded.</summary>
        public long ClearedCount { get; init; }
    }

    /// <summary>Result of Unsubscribe-ModuleMessage.</summary>
    public sealed class UnsubscribeResult
    {
        /// <summary>True when the subscription was removed.</summary>
        public bool Success { get; init; }
        /// <summary>The subscription.</summary>
        public Guid SubscriptionId { get; init; }
    }

    /// <summary>Result of Start-/Stop-MessageProcessor.</summary>
    public sealed class ProcessorStatus
    {
        /// <summary>True when delivery is running.</summary>
        public bool Running { get; init; }
        /// <summary>Messages waiting in all queues.</summary>
        public long QueueLength { get; init; }
        /// <summary>Messages handed to handlers that have not finished with them yet (pausing does not stop those).</summary>
        public long InFlight { get; init; }
        /// <summary>Stop-MessageProcessor -Timeout: true when every queue was drained before pausing.</summary>
        public bool Drained { get; init; }
    }

    /// <summary>Result of Wait-ModuleMessage for one message.</summary>
    public sealed class DeliveryStatus
    {
        /// <summary>The message id (empty when waiting for all queues).</summary>
        public Guid MessageId { get; init; }
        /// <summary>True when every subscription has finished with it.</summary>
        public bool Delivered { get; init; }
    }
}
