using System;
using System.Collections.Generic;
using System.Linq;
using System.Text.Json;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;
using ModuleCommunication.Serialization;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// Metrics and health of the native core (src/metrics/), as model objects. No PowerShell here.
    /// </summary>
    internal static unsafe class Observability
    {
        private static HubHandle Hub => ModuleHub.Handle;

        public static CommunicationMetrics GetMetrics(string? channel, bool includeHistory)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                if (channel != null) w.WriteString("channel", channel);
                if (includeHistory) w.WriteBoolean("includeHistory", true);
                w.WriteEndObject();
            });
            byte* json;
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_metrics(Hub, p, (nuint)options.Length, out json));
            }
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            return ToMetrics(doc.RootElement, channel);
        }

        public static void Reset() => Status.Check(NativeMethods.mc_metrics_reset(Hub));

        public static CommunicationStatus GetStatus(bool checkHealth, uint timeoutMs)
        {
            byte[] options = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteBoolean("checkHealth", checkHealth);
                w.WriteNumber("timeoutMs", timeoutMs);
                w.WriteEndObject();
            });
            byte* json;
            fixed (byte* p = options)
            {
                Status.Check(NativeMethods.mc_health(Hub, p, (nuint)options.Length, out json));
            }
            using JsonDocument doc = CoreJson.Parse(NativeString.TakeBytes(json, Bus.StrLen(json)));
            return ToStatus(doc.RootElement);
        }

        private static CommunicationMetrics ToMetrics(JsonElement m, string? channel)
        {
            JsonElement bus = m.GetProperty("messageBus");
            JsonElement ev = m.GetProperty("events");
            JsonElement api = m.GetProperty("api");
            JsonElement sec = m.GetProperty("security");
            JsonElement cb = m.GetProperty("circuitBreakers");
            JsonElement perf = m.GetProperty("performance");
            return new CommunicationMetrics
            {
                Channel = channel,
                MessageBus = new BusMetrics
                {
                    TotalChannels = L(bus, "totalChannels"),
                    TotalSubscriptions = L(bus, "totalSubscriptions"),
                    Published = L(bus, "published"),
                    Delivered = L(bus, "delivered"),
                    Failed = L(bus, "failed"),
                    Filtered = L(bus, "filtered"),
                    Expired = L(bus, "expired"),
                    Dropped = L(bus, "dropped"),
                    Cleared = L(bus, "cleared"),
                    QueueLength = L(bus, "queueLength"),
                    InFlight = L(bus, "inFlight"),
                    MaxQueueUsagePercent = D(bus, "maxQueueUsagePercent"),
                    ProcessorRunning = bus.GetProperty("running").GetBoolean(),
                },
                Channels = m.GetProperty("channels").EnumerateArray().Select(Bus.ToChannelInfo).ToArray(),
                Subscriptions = m.GetProperty("subscriptions").EnumerateArray().Select(s =>
                {
                    bool known = SubscriptionRegistry.TryGet(s.GetProperty("id").GetGuid(), out HandlerSubscription? h);
                    return Bus.ToSubscription(s, known ? h!.Mode : HandlerMode.Native, known && h!.Filter != null);
                }).ToArray(),
                Events = new EventMetrics
                {
                    EventChannels = L(ev, "eventChannels"),
                    Subscriptions = L(ev, "subscriptions"),
                    Published = L(ev, "published"),
                    Delivered = L(ev, "delivered"),
                    Failed = L(ev, "failed"),
                    Expired = L(ev, "expired"),
                    Dropped = L(ev, "dropped"),
                    HistorySize = L(ev, "historySize"),
                    HistoryCapacity = L(ev, "historyCapacity"),
                },
                API = new ApiMetrics
                {
                    TotalAPIs = L(api, "totalAPIs"),
                    TotalCalls = L(api, "totalCalls"),
                    FailedCalls = L(api, "failedCalls"),
                    SuccessRate = D(api, "successRate"),
                    TopAPIs = api.GetProperty("topAPIs").EnumerateArray().Select(a => new ApiUsage
                    {
                        Name = a.GetProperty("name").GetString()!,
                        CallCount = L(a, "callCount"),
                        Failed = L(a, "failed"),
                        AverageExecutionTime = D(a, "averageExecutionTime"),
                    }).ToArray(),
                    RecentCalls = api.GetProperty("recentCalls").EnumerateArray().Select(c => new ApiCallRecord
                    {
                        API = c.GetProperty("api").GetString()!,
                        StartTime = Bus.Time(c.GetProperty("startTime")) ?? DateTime.MinValue,
                        Duration = D(c, "durationMs"),
                        Success = c.GetProperty("success").GetBoolean(),
                        Error = Bus.OptionalString(c, "error"),
                    }).ToArray(),
                },
                Security = new SecurityMetrics
                {
                    Enabled = sec.GetProperty("enabled").GetBoolean(),
                    AuthFailures = L(sec, "authFailures"),
                    ActiveTokens = L(sec, "activeTokens"),
                },
                CircuitBreakers = new CircuitBreakerMetrics
                {
                    Total = L(cb, "total"),
                    Open = L(cb, "open"),
                    HalfOpen = L(cb, "halfOpen"),
                    Closed = L(cb, "closed"),
                    OpenBreakers = cb.GetProperty("openNames").EnumerateArray().Select(n => n.GetString()!).ToArray(),
                },
                Performance = new PerformanceMetrics
                {
                    AverageAPIExecutionTime = D(perf, "averageAPIExecutionTime"),
                    AverageDeliveryTime = D(perf, "averageDeliveryTime"),
                    DeliveryLatency = Latency(perf.GetProperty("deliveryLatency")),
                    APILatency = Latency(perf.GetProperty("apiLatency")),
                },
                History = m.TryGetProperty("history", out JsonElement h)
                    ? h.EnumerateArray().Select(ToInterval).ToArray()
                    : Array.Empty<MetricsInterval>(),
                Since = Bus.Time(m.GetProperty("since")) ?? DateTime.MinValue,
                Timestamp = Bus.Time(m.GetProperty("timestamp")) ?? DateTime.MinValue,
                Interval = TimeSpan.FromMilliseconds(L(m, "intervalMs")),
            };
        }

        private static MetricsInterval ToInterval(JsonElement e) => new()
        {
            Start = Bus.Time(e.GetProperty("start")) ?? DateTime.MinValue,
            End = Bus.Time(e.GetProperty("end")) ?? DateTime.MinValue,
            Published = L(e, "published"),
            Delivered = L(e, "delivered"),
            Failed = L(e, "failed"),
            Expired = L(e, "expired"),
            Dropped = L(e, "dropped"),
            APICalls = L(e, "apiCalls"),
            APIFailures = L(e, "apiFailures"),
            AuthFailures = L(e, "authFailures"),
            DeliveryLatency = Latency(e.GetProperty("deliveryLatency")),
            APILatency = Latency(e.GetProperty("apiLatency")),
        };

        private static LatencyPercentiles Latency(JsonElement e) => new()
        {
            Count = L(e, "count"),
            Average = D(e, "averageMs"),
            P50 = D(e, "p50Ms"),
            P95 = D(e, "p95Ms"),
            P99 = D(e, "p99Ms"),
        };

        private static CommunicationStatus ToStatus(JsonElement r)
        {
            var components = r.GetProperty("components").EnumerateArray().Select(c => new ComponentHealth
            {
                Name = c.GetProperty("name").GetString()!,
                Status = State(c.GetProperty("status")),
                Summary = c.GetProperty("summary").GetString()!,
                Issues = L(c, "issues"),
            }).ToDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
            TestResult[] checks = r.GetProperty("healthChecks").EnumerateArray().Select(c => new TestResult
            {
                Name = c.GetProperty("name").GetString()!,
                Success = c.GetProperty("success").GetBoolean(),
                Duration = TimeSpan.FromMilliseconds(D(c, "durationMs")),
                Details = c.GetProperty("details").GetString()!,
            }).ToArray();
            ComponentHealth Component(string name) => components.TryGetValue(name, out ComponentHealth? c) ? c : new ComponentHealth { Name = name };
            return new CommunicationStatus
            {
                OverallHealth = State(r.GetProperty("overallHealth")),
                Timestamp = Bus.Time(r.GetProperty("timestamp")) ?? DateTime.MinValue,
                WindowStart = Bus.Time(r.GetProperty("windowStart")) ?? DateTime.MinValue,
                Issues = r.GetProperty("issues").EnumerateArray().Select(i => new HealthIssue
                {
                    Rule = i.GetProperty("rule").GetString()!,
                    Severity = State(i.GetProperty("severity")),
                    Component = i.GetProperty("component").GetString()!,
                    Message = i.GetProperty("message").GetString()!,
                    Recommendation = i.GetProperty("recommendation").GetString()!,
                }).ToArray(),
                Recommendations = r.GetProperty("recommendations").EnumerateArray().Select(x => x.GetString()!).ToArray(),
                Components = new ComponentHealthSet
                {
                    MessageBus = Component("MessageBus"),
                    APIRegistry = Component("APIRegistry"),
                    Configuration = Component("Configuration"),
                    Security = Component("Security"),
                    CircuitBreakers = Component("CircuitBreakers"),
                },
                HealthChecks = new HealthCheckSet
                {
                    MessagingTest = checks.FirstOrDefault(c => c.Name == "MessagingTest"),
                    MetricsTest = checks.FirstOrDefault(c => c.Name == "MetricsTest"),
                    ConfigurationTest = checks.FirstOrDefault(c => c.Name == "ConfigurationTest"),
                    All = checks,
                },
            };
        }

        private static HealthState State(JsonElement e) => Enum.Parse<HealthState>(e.GetString()!, ignoreCase: true);

        private static long L(JsonElement e, string name) => e.GetProperty(name).GetInt64();

        private static double D(JsonElement e, string name) => e.GetProperty(name).GetDouble();
    }
}
