using System;
using ModuleCommunication.Serialization;

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
        public object? Data { get => _encodedData is null ? _data : _encodedData.Value; init => _data = value; }
        private object? _data;
        // Data as delivered, decoded on the first read of Data: a handler that never reads it does not pay for it.
        private EncodedData? _encodedData;
        internal EncodedData? EncodedData { init => _encodedData = value; }

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
