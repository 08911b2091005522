using System;

namespace ModuleCommunication
{
    /// <summary>Trace detail: Basic (publish, API calls, errors, slow operations) or Verbose (also each delivery and middleware stage).</summary>
    public enum TraceLevel
    {
        /// <summary>Publish, API calls, errors and slow operations.</summary>
        Basic,
        /// <summary>Basic plus each delivery outcome and each API pipeline stage.</summary>
        Verbose,
    }

    /// <summary>Result of Enable-MessageTracing.</summary>
    public sealed class TracingStatus
    {
        /// <summary>True while tracing is on.</summary>
        public bool Enabled { get; init; }
        /// <summary>The level, while on.</summary>
        public TraceLevel? Level { get; init; }
        /// <summary>True when records also go to a file.</summary>
        public bool LogToFile { get; init; }
        /// <summary>The trace file (full path), when logging to a file.</summary>
        public string? FilePath { get; init; }
    }

    /// <summary>Result of Disable-MessageTracing.</summary>
    public sealed class TraceSummary
    {
        /// <summary>False when tracing was already off.</summary>
        public bool WasEnabled { get; init; }
        /// <summary>Records made while tracing was on.</summary>
        public long Records { get; init; }
        /// <summary>Records the file never got because the background writer fell behind.</summary>
        public long DroppedRecords { get; init; }
        /// <summary>The trace files, oldest first (rotated parts end in .1, .2, …).</summary>
        public string[] Files { get; init; } = Array.Empty<string>();
        /// <summary>The compressed archive (.log.gz), with -ArchiveLogs.</summary>
        public string? Archive { get; init; }
        /// <summary>A write error of the background writer, if any (the file may be incomplete).</summary>
        public string? WriteError { get; init; }
    }

    /// <summary>One trace record (Get-MessageTrace). The full record is in Json.</summary>
    public sealed class TraceRecord
    {
        /// <summary>When it happened (local time; the JSON has UTC).</summary>
        public DateTime? Timestamp { get; init; }
        /// <summary>Basic or Verbose.</summary>
        public string Level { get; init; } = "";
        /// <summary>publish, deliver, deliveryError, apiCall, apiError, apiStage, slow.</summary>
        public string Event { get; init; } = "";
        /// <summary>Message id (publish and delivery records).</summary>
        public string? MessageId { get; init; }
        /// <summary>Correlation id of the message, when it has one.</summary>
        public string? CorrelationId { get; init; }
        /// <summary>Request id of the API call (API records; publish records made inside a call).</summary>
        public string? RequestId { get; init; }
        /// <summary>Channel (publish and delivery records).</summary>
        public string? Channel { get; init; }
        /// <summary>API key, Module.Operation (API records).</summary>
        public string? Api { get; init; }
        /// <summary>Handled, Failed, Filtered, Released (delivery records).</summary>
        public string? Outcome { get; init; }
        /// <summary>middleware, validate or handler (apiStage records).</summary>
        public string? Stage { get; init; }
        /// <summary>Milliseconds the operation took, when measured.</summary>
        public double? DurationMs { get; init; }
        /// <summary>The error, redacted.</summary>
        public string? Error { get; init; }
        /// <summary>The whole record as one JSON line.</summary>
        public string Json { get; init; } = "";
    }
}
