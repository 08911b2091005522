using System;
using ModuleCommunication.Serialization;

namespace ModuleCommunication
{
    /// <summary>An event as a handler receives it and Get-ModuleEvents returns it.</summary>
    public sealed class ModuleEvent
    {
        /// <summary>Unique id, as returned by Publish-ModuleEvent.</summary>
        public Guid Id { get; init; }
        /// <summary>The event name given by the publisher (what -EventName patterns match).</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>The EventData, with the types the publisher gave it.</summary>
        public object? Data { get => _encodedData is null ? _data : _encodedData.Value; init => _data = value; }
        private object? _data;
        // Data as delivered, decoded on the first read of Data: a handler that never reads it does not pay for it.
        private EncodedData? _encodedData;
        internal EncodedData? EncodedData { init => _encodedData = value; }

        /// <summary>When it was published (local time).</summary>
        public DateTime Timestamp { get; init; }
        /// <summary>The publishing module (-SourceModule), if it said.</summary>
        public string? Source { get; init; }
        /// <summary>The event channel it was published on ("Events" unless -Channel named another).</summary>
        public string Channel { get; init; } = string.Empty;
        /// <summary>Delivery priority.</summary>
        public MessagePriority Priority { get; init; }
        /// <summary>Caller-chosen id tying related events and messages together.</summary>
        public string? CorrelationId { get; init; }

        /// <summary>The same as <see cref="Source"/>, named as on messages.</summary>
        public string? SourceModule => Source;

        /// <inheritdoc/>
        public override string ToString() => $"{Name} {Id}";
    }

    /// <summary>The file formats of Export-EventHistory and Import-EventHistory.</summary>
    public enum EventHistoryFormat
    {
        /// <summary>One JSON object per line (the history file's own format).</summary>
        JsonLines = 0,
        /// <summary>A header row, then one row per event; Data and TypeHints hold JSON text.</summary>
        Csv = 1,
    }

    /// <summary>Whether a subscription receives messages or events.</summary>
    public enum SubscriptionKind
    {
        /// <summary>Subscribe-ModuleMessage: messages of message channels.</summary>
        Message,
        /// <summary>Subscribe-ModuleEvent: events of event channels.</summary>
        Event,
    }

    /// <summary>Result of Clear-EventHistory.</summary>
    public sealed class EventHistoryClearResult
    {
        /// <summary>True when the events were removed.</summary>
        public bool Success { get; init; }
        /// <summary>The event name or pattern cleared.</summary>
        public string EventName { get; init; } = string.Empty;
        /// <summary>Events removed from the history.</summary>
        public long ClearedCount { get; init; }
    }

    /// <summary>Result of Export-EventHistory -PassThru.</summary>
    public sealed class EventHistoryExportResult
    {
        /// <summary>The file written.</summary>
        public string Path { get; init; } = string.Empty;
        /// <summary>Its format.</summary>
        public EventHistoryFormat Format { get; init; }
        /// <summary>Events written.</summary>
        public long Count { get; init; }
    }

    /// <summary>Result of Import-EventHistory.</summary>
    public sealed class EventHistoryImportResult
    {
        /// <summary>The file read.</summary>
        public string Path { get; init; } = string.Empty;
        /// <summary>Its format.</summary>
        public EventHistoryFormat Format { get; init; }
        /// <summary>Complete records read from it.</summary>
        public long Read { get; init; }
        /// <summary>Events added to the history.</summary>
        public long Imported { get; init; }
        /// <summary>Records skipped because the history has an event with that id already.</summary>
        public long Duplicates { get; init; }
        /// <summary>New events that did not fit: older than everything the full history keeps.</summary>
        public long OverCapacity { get; init; }
    }
}
