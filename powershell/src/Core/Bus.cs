using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// The message bus of the native core, in .NET terms: typed arguments in, model objects
    /// out, failures as <see cref="ModuleCommunicationException"/>. No PowerShell here.
    /// </summary>
    internal static unsafe class Bus
    {
        private static HubHandle Hub => ModuleHub.Handle;

        public static void CreateChannel(string name, string? description, long maxMessages)
            => Status.Check(NativeMethods.mc_channel_create(Hub, name, description, (nuint)maxMessages));

        public static List<ChannelInfo> ListChannels(string? pattern)
        {
            Status.Check(NativeMethods.mc_channel_list(Hub, pattern, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, StrLen(json)));
            var result = new List<ChannelInfo>();
            foreach (JsonElement c in doc.RootElement.EnumerateArray()) result.Add(ToChannel(c));
            return result;
        }

        public static long RemoveChannel(string name)
        {
            Status.Check(NativeMethods.mc_channel_remove(Hub, name, out nuint cleared));
            return (long)cleared;
        }

        /// <summary>
        /// Publishes; returns the id and whether a Reject-policy queue refused it. Setting
        /// <paramref name="cancel"/> (see <see cref="PublishCancellation"/>) ends a wait for room in a Block queue.
        /// </summary>
        public static (Guid Id, ModuleCommunicationException? Rejected) Publish(
            string channel, string messageType, object? data, string? sourceModule,
            MessagePriority priority, TimeSpan? timeToLive, string? correlationId, string? authenticationToken = null,
            nint cancel = 0)
        {
            JsonBuffer buffer = JsonBuffer.Rent();
            try
            {
                Utf8JsonWriter w = buffer.Writer;
                w.WriteStartObject();
                w.WriteString("channel", channel);
                w.WriteString("messageType", messageType);
                DataCodec.WriteProperty(w, "data", data);
                if (sourceModule != null) w.WriteString("sourceModule", sourceModule);
                if (priority != MessagePriority.Normal) w.WriteString("priority", PriorityName(priority));
                if (timeToLive.HasValue) w.WriteNumber("ttlMs", (long)Math.Ceiling(timeToLive.Value.TotalMilliseconds));
                if (correlationId != null) w.WriteString("correlationId", correlationId);
                if (authenticationToken != null) w.WriteString("authenticationToken", authenticationToken);
                w.WriteEndObject();

                ReadOnlySpan<byte> json = buffer.Written;
                McStatus status;
                McId id;
                fixed (byte* p = json)
                {
                    status = NativeMethods.mc_publish_cancellable(Hub, p, (nuint)json.Length, (uint*)cancel, out id);
                }
                return Status.Published(status, id);
            }
            finally
            {
                buffer.Release();
            }
        }

        public static Guid SubscribePull(string channel, string messageType, long capacity, OverflowPolicy? overflow,
            long blockTimeoutMs, string? sourceModule, delegate* unmanaged[Cdecl]<nint, void> notify, nint key,
            string? authenticationToken = null)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("channel", channel);
                w.WriteString("messageType", messageType);
                if (capacity > 0) w.WriteNumber("capacity", capacity);
                if (overflow.HasValue) w.WriteString("overflow", overflow.Value.ToString());
                if (blockTimeoutMs > 0) w.WriteNumber("blockTimeoutMs", blockTimeoutMs);
                if (sourceModule != null) w.WriteString("sourceModule", sourceModule);
                if (authenticationToken != null) w.WriteString("authenticationToken", authenticationToken);
                w.WriteEndObject();
            });
            McId id;
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_subscribe_pull(Hub, p, (nuint)options.Length, notify, key, out id));
            }
            return id.ToGuid();
        }

        /// <summary>
        /// Takes up to <paramref name="max"/> items (messages or events, as <paramref name="read"/>
        /// makes them); empty when none arrived in time.
        /// </summary>
        public static List<object> Take(Guid subscription, int max, uint timeoutMs, ItemReader read)
        {
            Status.Check(NativeMethods.mc_subscription_take(Hub, McId.From(subscription), (nuint)max, timeoutMs,
                out byte* json, out nuint length));
            return ItemReaders.ReadArray(NativeString.TakeBytes(json, length), read);
        }

        /// <summary>Takes, without waiting, up to <paramref name="max"/> queued messages of a priority above <paramref name="above"/>.</summary>
        public static List<object> TakeAbove(Guid subscription, int max, MessagePriority above, ItemReader read)
        {
            Status.Check(NativeMethods.mc_subscription_take_above(Hub, McId.From(subscription), (nuint)max, (uint)above,
                out byte* json, out nuint length));
            return ItemReaders.ReadArray(NativeString.TakeBytes(json, length), read);
        }

        public static void Complete(Guid subscription, int handled, int failed, int filtered, string? lastError)
        {
            byte[]? error = lastError == null ? null : NulTerminated(lastError);
            fixed (byte* e = error)
            {
                var report = new McDeliveryReport
                {
                    Handled = (nuint)handled,
                    Failed = (nuint)failed,
                    Filtered = (nuint)filtered,
                    LastError = e,
                };
                Status.Check(NativeMethods.mc_subscription_complete(Hub, McId.From(subscription), &report));
            }
        }

        public static bool Unsubscribe(Guid subscription)
        {
            McStatus status = NativeMethods.mc_unsubscribe(Hub, McId.From(subscription));
            if (status == McStatus.SubscriptionNotFound) return false;
            Status.Check(status);
            return true;
        }

        public static List<(Guid Id, JsonElement Raw)> ListSubscriptionsRaw(string? channelPattern, out JsonDocument owner)
        {
            Status.Check(NativeMethods.mc_subscription_list(Hub, channelPattern, out byte* json));
            owner = CoreJson.Parse(NativeString.TakeBytes(json, StrLen(json)));
            var result = new List<(Guid, JsonElement)>();
            foreach (JsonElement s in owner.RootElement.EnumerateArray())
            {
                result.Add((Guid.Parse(s.GetProperty("id").GetString()!), s));
            }
            return result;
        }

        public static long ClearQueue(string channelPattern)
        {
            Status.Check(NativeMethods.mc_queue_clear(Hub, channelPattern, out nuint cleared));
            return (long)cleared;
        }

        public static void Pause() => Status.Check(NativeMethods.mc_processor_pause(Hub));

        public static void Resume() => Status.Check(NativeMethods.mc_processor_resume(Hub));

        public static bool IsRunning()
        {
            Status.Check(NativeMethods.mc_processor_state(Hub, out bool running));
            return running;
        }

        /// <summary>True when delivered, false on timeout.</summary>
        public static bool WaitDelivered(Guid message, uint timeoutMs)
        {
            McStatus status = NativeMethods.mc_wait_delivered(Hub, McId.From(message), timeoutMs);
            if (status == McStatus.Timeout) return false;
            Status.Check(status);
            return true;
        }

        /// <summary>True when every queue is empty and nothing is being handled, false on timeout.</summary>
        public static bool WaitIdle(uint timeoutMs)
        {
            McStatus status = NativeMethods.mc_wait_idle(Hub, timeoutMs);
            if (status == McStatus.Timeout) return false;
            Status.Check(status);
            return true;
        }

        public static BusMetrics Stats()
        {
            Status.Check(NativeMethods.mc_bus_stats(Hub, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, StrLen(json)));
            JsonElement s = doc.RootElement;
            return new BusMetrics
            {
                TotalChannels = Long(s, "channels"),
                TotalSubscriptions = Long(s, "subscriptions"),
                Published = Long(s, "published"),
                Delivered = Long(s, "delivered"),
                Failed = Long(s, "failed"),
                Filtered = Long(s, "filtered"),
                Expired = Long(s, "expired"),
                Dropped = Long(s, "dropped"),
                Cleared = Long(s, "cleared"),
                QueueLength = Long(s, "queueLength"),
                InFlight = Long(s, "inFlight"),
                ProcessorRunning = s.GetProperty("running").GetBoolean(),
            };
        }

        public static CommunicationConfiguration GetConfiguration()
        {
            Status.Check(NativeMethods.mc_config_get(Hub, out byte* json));
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, StrLen(json)));
            JsonElement c = doc.RootElement;
            return new CommunicationConfiguration
            {
                MaxMessageQueueSize = Long(c, "maxMessageQueueSize"),
                ProcessorInterval = Long(c, "processorInterval"),
                DefaultOverflowPolicy = Enum.Parse<OverflowPolicy>(c.GetProperty("defaultOverflow").GetString()!, ignoreCase: true),
                BlockTimeoutMs = Long(c, "blockTimeoutMs"),
                MaxEventHistory = Long(c, "maxEventHistory"),
                EventHistoryPath = OptionalString(c, "eventHistoryPath"),
                EventHistoryMaxBytes = Long(c, "eventHistoryMaxBytes"),
                EnableMetrics = c.GetProperty("enableMetrics").GetBoolean(),
                MetricsIntervalMs = Long(c, "metricsIntervalMs"),
                MetricsHistorySize = Long(c, "metricsHistorySize"),
                EnableTracing = c.GetProperty("enableTracing").GetBoolean(),
                RetryPolicy = Breakers.ToRetryPolicy(c.GetProperty("retryPolicy")),
                CircuitBreaker = Breakers.ToOptions(c.GetProperty("circuitBreaker")),
                Security = Tokens.ToSettings(c.GetProperty("security")),
            };
        }

        /// <summary>Applies a partial configuration (camelCase keys); all or nothing.</summary>
        public static void SetConfiguration(IReadOnlyDictionary<string, object> settings)
        {
            byte[] json = JsonBuffer.Build(w => Settings.WriteObject(w, settings));
            fixed (byte* p = json)
            {
                Status.Check(NativeMethods.mc_config_set(Hub, p, (nuint)json.Length));
            }
        }

        internal static ChannelInfo ToChannelInfo(JsonElement c) => ToChannel(c);

        private static ChannelInfo ToChannel(JsonElement c) => new()
        {
            Name = c.GetProperty("name").GetString()!,
            Description = OptionalString(c, "description") ?? string.Empty,
            MaxMessages = Long(c, "maxMessages"),
            CreatedAt = Time(c.GetProperty("createdAt")) ?? DateTime.MinValue,
            Subscriptions = Long(c, "subscriptions"),
            Published = Long(c, "published"),
            Delivered = Long(c, "delivered"),
            Expired = Long(c, "expired"),
            Dropped = Long(c, "dropped"),
            Cleared = Long(c, "cleared"),
            Failed = Long(c, "failed"),
            QueueLength = Long(c, "queueLength"),
        };

        internal static SubscriptionInfo ToSubscription(JsonElement s, HandlerMode mode, bool hasFilter) => new()
        {
            SubscriptionId = s.GetProperty("id").GetGuid(),
            Kind = OptionalString(s, "kind") == "Event" ? SubscriptionKind.Event : SubscriptionKind.Message,
            Channel = s.GetProperty("channel").GetString()!,
            MessageType = s.GetProperty("messageType").GetString()!,
            Mode = mode,
            MaxQueueSize = Long(s, "capacity"),
            OverflowPolicy = Enum.Parse<OverflowPolicy>(s.GetProperty("overflow").GetString()!, ignoreCase: true),
            SourceModule = OptionalString(s, "sourceModule"),
            HasFilter = hasFilter,
            CreatedAt = Time(s.GetProperty("createdAt")) ?? DateTime.MinValue,
            QueueLength = Long(s, "queueLength"),
            InFlight = Long(s, "inFlight"),
            Delivered = Long(s, "delivered"),
            Failed = Long(s, "failed"),
            Filtered = Long(s, "filtered"),
            Expired = Long(s, "expired"),
            Dropped = Long(s, "dropped"),
            Cleared = Long(s, "cleared"),
            LastError = OptionalString(s, "lastError"),
        };

        internal static string PriorityName(MessagePriority p) => p switch
        {
            MessagePriority.Low => "Low",
            MessagePriority.High => "High",
            MessagePriority.Critical => "Critical",
            _ => "Normal",
        };

        internal static long Long(JsonElement e, string name) => e.GetProperty(name).GetInt64();

        internal static string? OptionalString(JsonElement e, string name)
            => e.TryGetProperty(name, out JsonElement v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

        // The core writes UTC ISO 8601 ("...Z"); System.Text.Json parses that straight from
        // UTF-8 (Kind = Utc), several times faster than DateTime.Parse on a string.
        internal static DateTime? Time(JsonElement e)
            => e.ValueKind == JsonValueKind.String ? e.GetDateTime().ToLocalTime() : null;

        private static byte[] NulTerminated(string s)
        {
            int n = System.Text.Encoding.UTF8.GetByteCount(s);
            var bytes = new byte[n + 1];
            System.Text.Encoding.UTF8.GetBytes(s, 0, s.Length, bytes, 0);
            return bytes;
        }

        internal static nuint StrLen(byte* s)
        {
            if (s == null) return 0;
            nuint n = 0;
            while (s[n] != 0) n++;
            return n;
        }
    }
}
