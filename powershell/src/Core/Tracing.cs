using System;
using System.Linq;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>Message tracing of the native core (src/trace/). No PowerShell here.</summary>
    internal static unsafe class Tracing
    {
        private static HubHandle Hub => ModuleHub.Handle;

        public static void Enable(TraceLevel level, string? filePath, long? maxFileBytes, long? slowThresholdMs, int? ringSize)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("level", level.ToString());
                if (filePath != null)
                {
                    w.WriteBoolean("logToFile", true);
                    w.WriteString("filePath", filePath);
                }
                if (maxFileBytes is long m) w.WriteNumber("maxFileBytes", m);
                if (slowThresholdMs is long s) w.WriteNumber("slowThresholdMs", s);
                if (ringSize is int r) w.WriteNumber("ringSize", r);
                w.WriteEndObject();
            });
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_trace_enable(Hub, p, (nuint)options.Length));
            }
        }

        public static TraceSummary Disable(bool archiveLogs, string? archivePath)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                if (archiveLogs) w.WriteBoolean("archiveLogs", true);
                if (archivePath != null) w.WriteString("archivePath", archivePath);
                w.WriteEndObject();
            });
            byte* json;
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_trace_disable(Hub, p, (nuint)options.Length, out json));
            }
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            JsonElement e = doc.RootElement;
            return new TraceSummary
            {
                WasEnabled = e.GetProperty("wasEnabled").GetBoolean(),
                Records = e.GetProperty("records").GetInt64(),
                DroppedRecords = e.GetProperty("droppedRecords").GetInt64(),
                Files = e.GetProperty("files").EnumerateArray().Select(f => f.GetString() ?? "").ToArray(),
                Archive = Bus.OptionalString(e, "archive"),
                WriteError = Bus.OptionalString(e, "writeError"),
            };
        }

        public static TraceRecord[] Read(int last)
        {
            byte* json;
            Status.Check(NativeMethods.mc_trace_read(Hub, (nuint)last, out json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            return doc.RootElement.EnumerateArray().Select(r => new TraceRecord
            {
                Timestamp = r.TryGetProperty("timestamp", out JsonElement t) ? Bus.Time(t) : null,
                Level = Bus.OptionalString(r, "level") ?? "",
                Event = Bus.OptionalString(r, "event") ?? "",
                MessageId = Bus.OptionalString(r, "messageId"),
                CorrelationId = Bus.OptionalString(r, "correlationId"),
                RequestId = Bus.OptionalString(r, "requestId"),
                Channel = Bus.OptionalString(r, "channel"),
                Api = Bus.OptionalString(r, "api"),
                Outcome = Bus.OptionalString(r, "outcome"),
                Stage = Bus.OptionalString(r, "stage"),
                DurationMs = r.TryGetProperty("durationMs", out JsonElement d) && d.ValueKind == JsonValueKind.Number ? d.GetDouble() : null,
                Error = Bus.OptionalString(r, "error"),
                Json = r.GetRawText(),
            }).ToArray();
        }
    }
}
