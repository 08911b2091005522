using System;

namespace ModuleCommunication
{
    /// <summary>A message as a handler receives it.</summary>
    public sealed class ModuleMessage
    {
        /// <summary>Unique id, as returned by Publish-ModuleMessage.</summary>
        public Guid Id { get; init; }
        /// <summary>The channel it was published to.</summary>
        public string Channel { get; init; } = string.Empty;
        /// <summary>The message type given by the publisher.</summary>
        public string MessageType { get; init; } = string.Empty;
        /// <summary>The data, with the types the publisher gave it.</summary>
        public object? Data { get; init; }
        /// <summary>The publishing module, if it said.</summary>
        public string? SourceModule { get; init; }
        /// <summary>Delivery priority.</summary>
        public MessagePriority Priority { get; init; }
        /// <summary>When it was published (local time).</summary>
        public DateTime Timestamp { get; init; }
        /// <summary>When it expires undelivered (local time), or null for never.</summary>
        public DateTime? ExpiresAt { get; init; }
        /// <summary>Caller-chosen id tying related messages together.</summary>
        public string? CorrelationId { get; init; }

        /// <inheritdoc/>
        public override string ToString() => $"{Channel}/{MessageType} {Id}";
    }
}
