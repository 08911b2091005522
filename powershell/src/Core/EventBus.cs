using System;
using System.Collections.Generic;
using System.Linq;
using System.Globalization;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// The event system of the native core, in .NET terms: typed arguments in, model objects
    /// out, failures as <see cref="ModuleCommunicationException"/>. No PowerShell here.
    /// </summary>
    internal static unsafe class EventBus
    {
        private static HubHandle Hub => ModuleHub.Handle;

        /// <summary>Which events a query, a clear or an export selects; null parts select all.</summary>
        public sealed record Query(string? Name = null, string? Channel = null, string? SourceModule = null,
            DateTime? Since = null, int? Last = null)
        {
            public bool IsEmpty => Name == null && Channel == null && SourceModule == null && Since == null && Last == null;
        }

        /// <summary>What an event subscription selects and how its queue behaves.</summary>
        public sealed record SubscribeOptions(string Name, string Channel, string? SourceModule, long Capacity,
            OverflowPolicy? Overflow, long BlockTimeoutMs, int? Replay, DateTime? Since, string? AuthenticationToken = null);

        /// <summary>
        /// Publishes; returns the id and whether a Reject-policy queue refused it. Setting
        /// <paramref name="cancel"/> (see <see cref="PublishCancellation"/>) ends a wait for room in a Block queue.
        /// </summary>
        public static (Guid Id, ModuleCommunicationException? Rejected) Publish(string name, object? data,
            string? sourceModule, string? channel, bool broadcast, MessagePriority priority, string? correlationId,
            string? authenticationToken = null, nint cancel = 0)
        {
            JsonBuffer buffer = JsonBuffer.Rent();
            try
            {
                Utf8JsonWriter w = buffer.Writer;
                w.WriteStartObject();
                w.WriteString("name", name);
                DataCodec.WriteProperty(w, "data", data);
                if (sourceModule != null) w.WriteString("sourceModule", sourceModule);
                if (channel != null) w.WriteString("channel", channel);
                if (broadcast) w.WriteBoolean("broadcast", true);
                if (priority != MessagePriority.Normal) w.WriteString("priority", Bus.PriorityName(priority));
                if (correlationId != null) w.WriteString("correlationId", correlationId);
                if (authenticationToken != null) w.WriteString("authenticationToken", authenticationToken);
                w.WriteEndObject();

                ReadOnlySpan<byte> json = buffer.Written;
                McStatus status;
                McId id;
                fixed (byte* p = json)
                {
                    status = NativeMethods.mc_event_publish_cancellable(Hub, p, (nuint)json.Length, (uint*)cancel, out id);
                }
                return Status.Published(status, id);
            }
            finally
            {
                buffer.Release();
            }
        }

        /// <summary>A pull subscription to events (the PowerShell layer runs the handler).</summary>
        public static Guid SubscribePull(SubscribeOptions o, delegate* unmanaged[Cdecl]<nint, void> notify, nint key)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("name", o.Name);
                w.WriteString("channel", o.Channel);
                if (o.SourceModule != null) w.WriteString("sourceModule", o.SourceModule);
                if (o.Capacity > 0) w.WriteNumber("capacity", o.Capacity);
                if (o.Overflow.HasValue) w.WriteString("overflow", o.Overflow.Value.ToString());
                if (o.BlockTimeoutMs > 0) w.WriteNumber("blockTimeoutMs", o.BlockTimeoutMs);
                if (o.Replay.HasValue) w.WriteNumber("replay", o.Replay.Value);
                if (o.Since.HasValue) w.WriteString("since", IsoUtc(o.Since.Value));
                if (o.AuthenticationToken != null) w.WriteString("authenticationToken", o.AuthenticationToken);
                w.WriteEndObject();
            });
            McId id;
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_event_subscribe_pull(Hub, p, (nuint)options.Length, notify, key, out id));
            }
            return id.ToGuid();
        }

        /// <summary>The events of the history that match, oldest first.</summary>
        public static List<ModuleEvent> History(Query q)
        {
            byte[]? query = QueryJson(q);
            McStatus status;
            byte* json;
            nuint length;
            fixed (byte* p = query)
            {
                status = NativeMethods.mc_event_history(Hub, p, query == null ? 0 : (nuint)query.Length, out json, out length);
            }
            Status.Check(status);
            return ItemReaders.ReadArray(NativeString.TakeBytes(json, length), ItemReaders.Event).Cast<ModuleEvent>().ToList();
        }

        /// <summary>The distinct event names in the history (for tab completion).</summary>
        public static SortedSet<string> Names(string pattern)
        {
            var names = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (ModuleEvent e in History(new Query(Name: pattern))) names.Add(e.Name);
            return names;
        }

        /// <summary>The event channels of the history matching the pattern, sorted (for tab completion).</summary>
        public static SortedSet<string> Channels(string pattern)
        {
            var channels = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (ModuleEvent e in History(new Query(Channel: pattern))) channels.Add(e.Channel);
            return channels;
        }

        /// <summary>Removes matching events from the history; returns how many.</summary>
        public static long Clear(Query q)
        {
            byte[]? query = QueryJson(q);
            nuint cleared;
            fixed (byte* p = query)
            {
                Status.Check(NativeMethods.mc_event_history_clear(Hub, p, query == null ? 0 : (nuint)query.Length, out cleared));
            }
            return (long)cleared;
        }

        /// <summary>Writes matching events to a file; returns how many.</summary>
        public static long Export(string path, EventHistoryFormat format, Query q)
        {
            byte[]? query = QueryJson(q);
            nuint count;
            fixed (byte* p = query)
            {
                Status.Check(NativeMethods.mc_event_history_export(Hub, path, (uint)format, p,
                    query == null ? 0 : (nuint)query.Length, out count));
            }
            return (long)count;
        }

        /// <summary>Adds the events of an exported file to the history.</summary>
        public static (EventHistoryImportResult Result, List<string> Warnings) Import(string path, EventHistoryFormat format)
        {
            Status.Check(NativeMethods.mc_event_history_import(Hub, path, (uint)format, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            JsonElement r = doc.RootElement;
            var result = new EventHistoryImportResult
            {
                Path = path,
                Format = format,
                Read = Bus.Long(r, "read"),
                Imported = Bus.Long(r, "imported"),
                Duplicates = Bus.Long(r, "duplicates"),
                OverCapacity = Bus.Long(r, "overCapacity"),
            };
            return (result, Strings(r.GetProperty("warnings")));
        }

        /// <summary>The history file in use (null without one) and the warnings of its last load.</summary>
        public static (string? Path, List<string> LoadWarnings) Info()
        {
            Status.Check(NativeMethods.mc_event_history_info(Hub, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            JsonElement r = doc.RootElement;
            return (Bus.OptionalString(r, "path"), Strings(r.GetProperty("loadWarnings")));
        }

        private static List<string> Strings(JsonElement array)
        {
            var list = new List<string>();
            foreach (JsonElement s in array.EnumerateArray()) list.Add(s.GetString() ?? string.Empty);
            return list;
        }

        /// <summary>A time as the core reads it: ISO 8601 in UTC. Unspecified times are local, as Get-Date's.</summary>
        private static string IsoUtc(DateTime t)
            => (t.Kind == DateTimeKind.Utc ? t : t.ToUniversalTime()).ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);

        private static byte[]? QueryJson(Query q)
        {
            if (q.IsEmpty) return null;
            return JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                if (q.Name != null) w.WriteString("name", q.Name);
                if (q.Channel != null) w.WriteString("channel", q.Channel);
                if (q.SourceModule != null) w.WriteString("sourceModule", q.SourceModule);
                if (q.Since.HasValue) w.WriteString("since", IsoUtc(q.Since.Value));
                if (q.Last.HasValue) w.WriteNumber("last", q.Last.Value);
                w.WriteEndObject();
            });
        }
    }
}
