using System;
using System.Collections.Generic;

namespace ModuleCommunication
{
    /// <summary>States of a circuit breaker.</summary>
    public enum CircuitState
    {
        /// <summary>Calls flow; outcomes are counted.</summary>
        Closed,
        /// <summary>Calls fail fast until the break (RecoveryTimeout) has passed.</summary>
        Open,
        /// <summary>Trial calls are let through; everyone else fails fast.</summary>
        HalfOpen,
        /// <summary>Held open by hand (Set-CircuitBreaker -Isolate) until reset.</summary>
        Isolated,
    }

    /// <summary>How a circuit breaker decides (the spec's CircuitBreaker settings, in Polly v8's model).</summary>
    public sealed class CircuitBreakerOptions
    {
        /// <summary>Calls the sampling window must hold before the breaker may trip (minimum throughput).</summary>
        public int FailureThreshold { get; init; }
        /// <summary>Fraction of failed calls in the window that trips it (0 to 1).</summary>
        public double FailureRatio { get; init; }
        /// <summary>Length of the sliding sampling window.</summary>
        public TimeSpan SamplingDuration { get; init; }
        /// <summary>How long it stays open before a trial call (the break duration).</summary>
        public TimeSpan RecoveryTimeout { get; init; }
        /// <summary>Trial calls let through while half-open; that many must succeed to close it.</summary>
        public int HalfOpenProbes { get; init; }

        /// <summary>One line for list views of the objects that hold these options.</summary>
        public override string ToString() =>
            $"FailureThreshold {FailureThreshold}, FailureRatio {FailureRatio}, SamplingDuration {SamplingDuration}, RecoveryTimeout {RecoveryTimeout}, HalfOpenProbes {HalfOpenProbes}";
    }

    /// <summary>One operation's circuit breaker (Get-CircuitBreakerStatus).</summary>
    public sealed class CircuitBreakerInfo
    {
        /// <summary>Module.Operation.</summary>
        public string OperationName { get; init; } = string.Empty;
        /// <summary>Closed, Open, HalfOpen or Isolated.</summary>
        public CircuitState State { get; init; }
        /// <summary>Percentage of counted calls that succeeded since the breaker was created or reset.</summary>
        public double SuccessRate { get; init; }
        /// <summary>Failures / calls in the sampling window now.</summary>
        public double FailureRatio { get; init; }
        /// <summary>Calls counted in the sampling window now.</summary>
        public long Throughput { get; init; }
        /// <summary>Failures in the sampling window now.</summary>
        public long FailuresInWindow { get; init; }
        /// <summary>Calls let through since creation or reset.</summary>
        public long TotalCalls { get; init; }
        /// <summary>Of those, failed.</summary>
        public long TotalFailures { get; init; }
        /// <summary>Calls that failed fast without running.</summary>
        public long Rejected { get; init; }
        /// <summary>How often it opened.</summary>
        public long TimesOpened { get; init; }
        /// <summary>When it last opened (while not closed).</summary>
        public DateTime? OpenedAt { get; init; }
        /// <summary>When it lets a trial call through (while open).</summary>
        public DateTime? HalfOpenAt { get; init; }
        /// <summary>Time until then (while open).</summary>
        public TimeSpan? TimeUntilHalfOpen { get; init; }
        /// <summary>When the last counted failure happened.</summary>
        public DateTime? LastFailure { get; init; }
        /// <summary>Its message.</summary>
        public string? LastError { get; init; }
        /// <summary>When the state last changed.</summary>
        public DateTime LastStateChange { get; init; }
        /// <summary>Whether the options were set for this operation alone (Set-CircuitBreaker).</summary>
        public bool CustomOptions { get; init; }
        /// <summary>The options in force.</summary>
        public CircuitBreakerOptions Options { get; init; } = new();

        /// <summary>"Closed, 12 calls, 100 %", so that the CircuitBreakers dictionary prints values, not the type name.</summary>
        public override string ToString() => $"{State}, {TotalCalls} calls, {SuccessRate:0.#} %";
    }

    /// <summary>Every circuit breaker, keyed by operation (Get-CircuitBreakerStatus).</summary>
    public sealed class CircuitBreakerStatus
    {
        /// <summary>Breakers keyed by Module.Operation (keys compare case-insensitively).</summary>
        public Dictionary<string, CircuitBreakerInfo> CircuitBreakers { get; init; } = new(StringComparer.OrdinalIgnoreCase);
        /// <summary>How many breakers there are.</summary>
        public int TotalBreakers => CircuitBreakers.Count;
        /// <summary>How many are not closed (open, half-open or isolated).</summary>
        public int OpenBreakers { get; init; }
        /// <summary>The options of breakers that have none of their own.</summary>
        public CircuitBreakerOptions DefaultOptions { get; init; } = new();
        /// <summary>The retry policy calls use.</summary>
        public RetryPolicy RetryPolicy { get; init; } = new();
    }

    /// <summary>The retry policy (the spec's RetryPolicy settings).</summary>
    public sealed class RetryPolicy
    {
        /// <summary>Retries after the first attempt when a call does not give -RetryAttempts.</summary>
        public int MaxRetries { get; init; }
        /// <summary>Delay before the first retry, in milliseconds.</summary>
        public long RetryDelay { get; init; }
        /// <summary>Each retry waits this many times longer than the one before.</summary>
        public double BackoffMultiplier { get; init; }
        /// <summary>No delay is longer than this, in milliseconds.</summary>
        public long MaxDelay { get; init; }
        /// <summary>Whether delays are spread randomly by ±25%.</summary>
        public bool Jitter { get; init; }

        /// <summary>One line for list views of the objects that hold this policy.</summary>
        public override string ToString() =>
            $"MaxRetries {MaxRetries}, RetryDelay {RetryDelay} ms, BackoffMultiplier {BackoffMultiplier}, MaxDelay {MaxDelay} ms, Jitter {Jitter}";
    }

    /// <summary>Security settings (the spec's Security settings, plus whether checks run).</summary>
    public sealed class SecuritySettings
    {
        /// <summary>Whether guarded operations are checked.</summary>
        public bool Enabled { get; init; }
        /// <summary>Whether guarded operations need a token.</summary>
        public bool RequireAuthentication { get; init; }
        /// <summary>Lifetime of tokens created without -ExpirationMinutes, in minutes.</summary>
        public long DefaultTokenExpiration { get; init; }
        /// <summary>Modules that may hold tokens (empty: all).</summary>
        public string[] AllowedModules { get; init; } = Array.Empty<string>();

        /// <summary>One line for list views of the objects that hold these settings.</summary>
        public override string ToString() =>
            $"Enabled {Enabled}, RequireAuthentication {RequireAuthentication}, DefaultTokenExpiration {DefaultTokenExpiration} min, AllowedModules {(AllowedModules.Length == 0 ? "(all)" : string.Join(", ", AllowedModules))}";
    }

    /// <summary>Security settings and counters (Enable-CommunicationSecurity -PassThru).</summary>
    public sealed class CommunicationSecurity
    {
        /// <summary>Whether guarded operations are checked.</summary>
        public bool Enabled { get; init; }
        /// <summary>Whether guarded operations need a token.</summary>
        public bool RequireAuthentication { get; init; }
        /// <summary>Lifetime of tokens created without -ExpirationMinutes, in minutes.</summary>
        public long DefaultTokenExpiration { get; init; }
        /// <summary>Modules that may hold tokens (empty: all).</summary>
        public string[] AllowedModules { get; init; } = Array.Empty<string>();
        /// <summary>Checks passed.</summary>
        public long Allowed { get; init; }
        /// <summary>Checks refused for authentication (no, unknown, expired or revoked token).</summary>
        public long AuthenticationFailures { get; init; }
        /// <summary>Checks refused for authorization (scope, module).</summary>
        public long AuthorizationFailures { get; init; }
        /// <summary>Tokens alive now.</summary>
        public long ActiveTokens { get; init; }
    }

    /// <summary>A token's metadata, never its secret (Get-AuthenticationTokens).</summary>
    public class AuthenticationTokenInfo
    {
        /// <summary>Names the token (for Revoke-AuthenticationToken -TokenId); not a secret.</summary>
        public Guid TokenId { get; init; }
        /// <summary>The module that presents it.</summary>
        public string ModuleName { get; init; } = string.Empty;
        /// <summary>Who it is for.</summary>
        public string? User { get; init; }
        /// <summary>What it allows.</summary>
        public string[] Scopes { get; init; } = Array.Empty<string>();
        /// <summary>When it was created.</summary>
        public DateTime CreatedAt { get; init; }
        /// <summary>When it stops working.</summary>
        public DateTime ExpiresAt { get; init; }
        /// <summary>How many checks it passed.</summary>
        public long Uses { get; init; }
        /// <summary>When it last passed a check.</summary>
        public DateTime? LastUsed { get; init; }

        /// <summary>"AuthenticationToken &lt;id&gt; (LabRunner)", as in "Revoking $token"; never a secret.</summary>
        public override string ToString() => $"AuthenticationToken {TokenId} ({ModuleName})";
    }

    /// <summary>
    /// A new token (New-AuthenticationToken): its metadata and, this once, its text in
    /// <see cref="Token"/>. The library keeps only a SHA-256 digest of it.
    /// </summary>
    public sealed class AuthenticationToken : AuthenticationTokenInfo
    {
        /// <summary>The token's text: pass it with -AuthenticationToken. It cannot be shown again.</summary>
        public string Token { get; init; } = string.Empty;

    }
}
