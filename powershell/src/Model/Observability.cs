using System;

namespace ModuleCommunication
{
    /// <summary>Event totals (event channels only) and the history's size.</summary>
    public sealed class EventMetrics
    {
        /// <summary>Event channels that exist.</summary>
        public long EventChannels { get; init; }
        /// <summary>Event subscriptions.</summary>
        public long Subscriptions { get; init; }
        /// <summary>Events published.</summary>
        public long Published { get; init; }
        /// <summary>Event deliveries handled successfully.</summary>
        public long Delivered { get; init; }
        /// <summary>Event deliveries whose handler failed.</summary>
        public long Failed { get; init; }
        /// <summary>Event copies that expired.</summary>
        public long Expired { get; init; }
        /// <summary>Event copies lost to full queues.</summary>
        public long Dropped { get; init; }
        /// <summary>Events in the history.</summary>
        public long HistorySize { get; init; }
        /// <summary>Capacity of the history (MaxEventHistory).</summary>
        public long HistoryCapacity { get; init; }

        /// <summary>One line, for lists that show it inside another object (as the metrics' own view does).</summary>
        public override string ToString() => $"{Published} published, {HistorySize} in history";
    }

    /// <summary>One API in TopAPIs.</summary>
    public sealed class ApiUsage
    {
        /// <summary>Module.Operation.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>Calls since the last reset.</summary>
        public long CallCount { get; init; }
        /// <summary>Failed calls.</summary>
        public long Failed { get; init; }
        /// <summary>Mean duration in milliseconds.</summary>
        public double AverageExecutionTime { get; init; }

        /// <summary>One line, for lists that show it inside another object.</summary>
        public override string ToString() => $"{Name}: {CallCount} calls, {Failed} failed, {AverageExecutionTime:0.##} ms on average";
    }

    /// <summary>One API call of RecentCalls.</summary>
    public sealed class ApiCallRecord
    {
        /// <summary>Module.Operation.</summary>
        public string API { get; init; } = string.Empty;
        /// <summary>When it started (local time).</summary>
        public DateTime StartTime { get; init; }
        /// <summary>How long it took, in milliseconds.</summary>
        public double Duration { get; init; }
        /// <summary>Whether it succeeded.</summary>
        public bool Success { get; init; }
        /// <summary>The error of a failed call (secrets removed).</summary>
        public string? Error { get; init; }

        /// <summary>One line, for lists that show it inside another object.</summary>
        public override string ToString() =>
            $"{StartTime:HH:mm:ss.fff} {API} {Duration:0.##} ms " + (Success ? "succeeded" : $"failed: {Error}");
    }

    /// <summary>API call totals.</summary>
    public sealed class ApiMetrics
    {
        /// <summary>Registered APIs.</summary>
        public long TotalAPIs { get; init; }
        /// <summary>Calls since the last reset.</summary>
        public long TotalCalls { get; init; }
        /// <summary>Calls that failed.</summary>
        public long FailedCalls { get; init; }
        /// <summary>Percent of calls that succeeded (100 without calls).</summary>
        public double SuccessRate { get; init; }
        /// <summary>The most called APIs, most calls first (at most 10).</summary>
        public ApiUsage[] TopAPIs { get; init; } = Array.Empty<ApiUsage>();
        /// <summary>The latest calls, newest first (at most 100).</summary>
        public ApiCallRecord[] RecentCalls { get; init; } = Array.Empty<ApiCallRecord>();

        /// <summary>One line, for lists that show it inside another object (as the metrics' own view does).</summary>
        public override string ToString() => $"{TotalAPIs} registered, {TotalCalls} calls, {SuccessRate:0.##} % succeeded";
    }

    /// <summary>Security totals.</summary>
    public sealed class SecurityMetrics
    {
        /// <summary>Whether security is enabled.</summary>
        public bool Enabled { get; init; }
        /// <summary>Authentication and authorization failures since the last reset.</summary>
        public long AuthFailures { get; init; }
        /// <summary>Tokens valid now.</summary>
        public long ActiveTokens { get; init; }

        /// <summary>One line, for lists that show it inside another object (as the metrics' own view does).</summary>
        public override string ToString() => $"{(Enabled ? "enabled" : "disabled")}, {AuthFailures} auth failures";
    }

    /// <summary>Circuit breaker totals.</summary>
    public sealed class CircuitBreakerMetrics
    {
        /// <summary>Breakers that exist.</summary>
        public long Total { get; init; }
        /// <summary>Open breakers (calls fail fast).</summary>
        public long Open { get; init; }
        /// <summary>Half-open breakers (trial calls).</summary>
        public long HalfOpen { get; init; }
        /// <summary>Closed breakers.</summary>
        public long Closed { get; init; }
        /// <summary>Names of the open breakers.</summary>
        public string[] OpenBreakers { get; init; } = Array.Empty<string>();

        /// <summary>One line, for lists that show it inside another object (as the metrics' own view does).</summary>
        public override string ToString() => $"{Open} open, {HalfOpen} half-open, {Closed} closed";
    }

    /// <summary>
    /// Percentiles of a latency histogram in milliseconds. Each is the upper bound of the
    /// histogram bucket it falls in: never below the true value, at most 25 % above it.
    /// </summary>
    public sealed class LatencyPercentiles
    {
        /// <summary>Values recorded.</summary>
        public long Count { get; init; }
        /// <summary>Mean (exact).</summary>
        public double Average { get; init; }
        /// <summary>Median.</summary>
        public double P50 { get; init; }
        /// <summary>95th percentile.</summary>
        public double P95 { get; init; }
        /// <summary>99th percentile.</summary>
        public double P99 { get; init; }

        /// <summary>"p50 0.128, p95 12.3, p99 131 ms (12 values)", so that tables and lists of metrics show values, not the type name.</summary>
        public override string ToString() => ToString("values");

        /// <summary>
        /// "p50 0.128, p95 12.3, p99 131 ms (12 deliveries)", naming what <see cref="Count"/>
        /// counts. Percentiles show three significant digits (each is a bucket bound, up to 25 %
        /// above the true value), so the line stays short enough for an 80-column list.
        /// </summary>
        public string ToString(string counted) => $"p50 {Ms(P50)}, p95 {Ms(P95)}, p99 {Ms(P99)} ms ({Count} {counted})";

        private static string Ms(double ms) =>
            ms.ToString(ms >= 100 ? "0" : ms >= 10 ? "0.#" : ms >= 1 ? "0.##" : "0.###");
    }

    /// <summary>Latencies.</summary>
    public sealed class PerformanceMetrics
    {
        /// <summary>Mean API call duration in milliseconds (0 without calls).</summary>
        public double AverageAPIExecutionTime { get; init; }
        /// <summary>Mean delivery latency in milliseconds.</summary>
        public double AverageDeliveryTime { get; init; }
        /// <summary>Publish until the handler finished (queue wait plus handler), per delivery.</summary>
        public LatencyPercentiles DeliveryLatency { get; init; } = new();
        /// <summary>Duration of API calls, the whole pipeline.</summary>
        public LatencyPercentiles APILatency { get; init; } = new();

        /// <summary>One line, for lists that show it inside another object.</summary>
        public override string ToString() => $"delivery {DeliveryLatency.ToString("deliveries")}; API {APILatency.ToString("calls")}";
    }

    /// <summary>One closed interval of the metrics history.</summary>
    public sealed class MetricsInterval
    {
        /// <summary>Start (local time).</summary>
        public DateTime Start { get; init; }
        /// <summary>End (exclusive).</summary>
        public DateTime End { get; init; }
        /// <summary>Messages and events published.</summary>
        public long Published { get; init; }
        /// <summary>Deliveries handled successfully.</summary>
        public long Delivered { get; init; }
        /// <summary>Deliveries whose handler failed.</summary>
        public long Failed { get; init; }
        /// <summary>Copies that expired.</summary>
        public long Expired { get; init; }
        /// <summary>Copies lost to full queues.</summary>
        public long Dropped { get; init; }
        /// <summary>API calls.</summary>
        public long APICalls { get; init; }
        /// <summary>API calls that failed.</summary>
        public long APIFailures { get; init; }
        /// <summary>Authentication and authorization failures.</summary>
        public long AuthFailures { get; init; }
        /// <summary>Delivery latency of the interval.</summary>
        public LatencyPercentiles DeliveryLatency { get; init; } = new();
        /// <summary>API call duration of the interval.</summary>
        public LatencyPercentiles APILatency { get; init; } = new();

        /// <summary>One line, for (Get-CommunicationMetrics -IncludeHistory).History in a list.</summary>
        public override string ToString() =>
            $"{Start:HH:mm:ss} {Published} published, {Delivered} delivered, {Failed} failed, {Dropped} dropped, {APICalls} API calls";
    }

    /// <summary>Result of Reset-CommunicationMetrics.</summary>
    public sealed class MetricsResetResult
    {
        /// <summary>True when the metrics were reset.</summary>
        public bool Success { get; init; }
        /// <summary>When counting started again.</summary>
        public DateTime ResetAt { get; init; }
    }

    /// <summary>Overall or component health.</summary>
    public enum HealthState
    {
        /// <summary>Nothing to act on.</summary>
        Healthy,
        /// <summary>Something degrades delivery; see Issues.</summary>
        Warning,
        /// <summary>Something is broken; see Issues.</summary>
        Unhealthy,
    }

    /// <summary>A health rule that fired.</summary>
    public sealed class HealthIssue
    {
        /// <summary>The rule's stable name (MessagesDropped, QueueNearlyFull, …).</summary>
        public string Rule { get; init; } = string.Empty;
        /// <summary>Warning or Unhealthy.</summary>
        public HealthState Severity { get; init; }
        /// <summary>MessageBus, APIRegistry, Configuration, Security or CircuitBreakers.</summary>
        public string Component { get; init; } = string.Empty;
        /// <summary>What is wrong.</summary>
        public string Message { get; init; } = string.Empty;
        /// <summary>What to do about it.</summary>
        public string Recommendation { get; init; } = string.Empty;

        /// <summary>"Rule: Message", so that "$($status.Issues -join '; ')" (the spec's health check) reads.</summary>
        public override string ToString() => $"{Rule}: {Message}";
    }

    /// <summary>Health of one component.</summary>
    public sealed class ComponentHealth
    {
        /// <summary>The component.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>The worst severity of its issues.</summary>
        public HealthState Status { get; init; }
        /// <summary>Its main numbers.</summary>
        public string Summary { get; init; } = string.Empty;
        /// <summary>Issues that concern it.</summary>
        public long Issues { get; init; }

        /// <summary>"Healthy: 2 channels, …", for (Get-CommunicationStatus).Components.</summary>
        public override string ToString() => $"{Status}: {Summary}";
    }

    /// <summary>The five components, by name.</summary>
    public sealed class ComponentHealthSet
    {
        /// <summary>Channels, subscriptions, queues, the processor.</summary>
        public ComponentHealth MessageBus { get; init; } = new();
        /// <summary>APIs and calls.</summary>
        public ComponentHealth APIRegistry { get; init; } = new();
        /// <summary>The settings.</summary>
        public ComponentHealth Configuration { get; init; } = new();
        /// <summary>Tokens and authentication failures.</summary>
        public ComponentHealth Security { get; init; } = new();
        /// <summary>Circuit breakers.</summary>
        public ComponentHealth CircuitBreakers { get; init; } = new();
        /// <summary>The five, in this order.</summary>
        public ComponentHealth[] All => new[] { MessageBus, APIRegistry, Configuration, Security, CircuitBreakers };

        /// <summary>"MessageBus Healthy, APIRegistry Warning, …", for (Get-CommunicationStatus | Format-List *).</summary>
        public override string ToString() => string.Join(", ", Array.ConvertAll(All, c => $"{c.Name} {c.Status}"));
    }

    /// <summary>One health check, self-test or channel test.</summary>
    public sealed class TestResult
    {
        /// <summary>The check.</summary>
        public string Name { get; init; } = string.Empty;
        /// <summary>Whether it passed.</summary>
        public bool Success { get; init; }
        /// <summary>How long it took.</summary>
        public TimeSpan Duration { get; init; }
        /// <summary>What it did or found.</summary>
        public string Details { get; init; } = string.Empty;

        /// <summary>"Passed (3 ms)", or "Failed (3 ms): why", for (Get-CommunicationStatus -CheckHealth).HealthChecks.</summary>
        public override string ToString() =>
            Success ? $"Passed ({Duration.TotalMilliseconds:0.##} ms)" : $"Failed ({Duration.TotalMilliseconds:0.##} ms): {Details}";
    }

    /// <summary>The health checks of Get-CommunicationStatus -CheckHealth, by name.</summary>
    public sealed class HealthCheckSet
    {
        /// <summary>A real round trip on a private channel.</summary>
        public TestResult? MessagingTest { get; init; }
        /// <summary>The round trip was counted by the metrics.</summary>
        public TestResult? MetricsTest { get; init; }
        /// <summary>Every setting is in range.</summary>
        public TestResult? ConfigurationTest { get; init; }
        /// <summary>Every check that ran, in order.</summary>
        public TestResult[] All { get; init; } = Array.Empty<TestResult>();

        /// <summary>"3 passed, 0 failed", or "not run", for (Get-CommunicationStatus | Format-List *).</summary>
        public override string ToString()
        {
            int passed = Array.FindAll(All, t => t.Success).Length;
            return All.Length == 0 ? "not run" : $"{passed} passed, {All.Length - passed} failed";
        }
    }

    /// <summary>What Get-CommunicationStatus returns.</summary>
    public sealed class CommunicationStatus
    {
        /// <summary>Healthy, Warning or Unhealthy: the worst severity of the issues.</summary>
        public HealthState OverallHealth { get; init; }
        /// <summary>When the status was taken.</summary>
        public DateTime Timestamp { get; init; }
        /// <summary>Start of the recent window the rules looked at.</summary>
        public DateTime WindowStart { get; init; }
        /// <summary>The rules that fired, worst first.</summary>
        public HealthIssue[] Issues { get; init; } = Array.Empty<HealthIssue>();
        /// <summary>What to do, one line per distinct recommendation.</summary>
        public string[] Recommendations { get; init; } = Array.Empty<string>();
        /// <summary>MessageBus, APIRegistry, Configuration, Security, CircuitBreakers.</summary>
        public ComponentHealthSet Components { get; init; } = new();
        /// <summary>The checks that ran (with -CheckHealth).</summary>
        public HealthCheckSet HealthChecks { get; init; } = new();
        /// <summary>The metrics (with -IncludeDetails).</summary>
        public CommunicationMetrics? Metrics { get; init; }
        /// <summary>The configuration (with -IncludeDetails).</summary>
        public CommunicationConfiguration? Configuration { get; init; }
    }

    /// <summary>What Test-ModuleCommunication returns.</summary>
    public sealed class CommunicationTestResult
    {
        /// <summary>Basic, Stress or Full.</summary>
        public string TestType { get; init; } = string.Empty;
        /// <summary>Each check.</summary>
        public TestResult[] Tests { get; init; } = Array.Empty<TestResult>();
        /// <summary>Checks that passed.</summary>
        public long Passed { get; init; }
        /// <summary>Checks that failed.</summary>
        public long Failed { get; init; }
        /// <summary>Percent of the checks that passed.</summary>
        public double PassRate { get; init; }
        /// <summary>How long the run took.</summary>
        public TimeSpan Duration { get; init; }
    }

    /// <summary>What Test-MessageChannel returns.</summary>
    public sealed class ChannelTestResult
    {
        /// <summary>Whether the round trip worked.</summary>
        public bool Success { get; init; }
        /// <summary>The channel tested.</summary>
        public string Channel { get; init; } = string.Empty;
        /// <summary>How long the round trip took.</summary>
        public TimeSpan Duration { get; init; }
        /// <summary>What went wrong (empty on success).</summary>
        public string[] Errors { get; init; } = Array.Empty<string>();
        /// <summary>The test message's id (empty when nothing was published).</summary>
        public Guid MessageId { get; init; }
    }
}
