using System;
using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>Get-CircuitBreakerStatus: every circuit breaker, keyed by Module.Operation, with the defaults and the retry policy.</summary>
    [Cmdlet(VerbsCommon.Get, "CircuitBreakerStatus")]
    [OutputType(typeof(CircuitBreakerStatus))]
    public sealed class GetCircuitBreakerStatusCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only these operations (Module.Operation, wildcards allowed).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(BreakerNameCompleter))]
        public string OperationName { get; set; } = "*";

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            try
            {
                List<CircuitBreakerInfo> list = Breakers.List(OperationName);
                CommunicationConfiguration config = Bus.GetConfiguration();
                var status = new CircuitBreakerStatus
                {
                    OpenBreakers = list.Count(b => b.State != CircuitState.Closed),
                    DefaultOptions = config.CircuitBreaker,
                    RetryPolicy = config.RetryPolicy,
                };
                foreach (CircuitBreakerInfo b in list) status.CircuitBreakers[b.OperationName] = b;
                // A plain name asks for one breaker: a typo must not read as "no breaker open".
                if (list.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(OperationName))
                {
                    WriteError(NewError("BreakerNotFound", ErrorCategory.ObjectNotFound, OperationName,
                        $"There is no circuit breaker for '{OperationName}': a breaker is made by an API's first call, or by Set-CircuitBreaker.",
                        "List the breakers with Get-CircuitBreakerStatus."));
                }
                WriteObject(status);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, OperationName);
            }
        }
    }

    /// <summary>Reset-CircuitBreaker: closes breakers and forgets their failures.</summary>
    [Cmdlet(VerbsCommon.Reset, "CircuitBreaker", SupportsShouldProcess = true, DefaultParameterSetName = ByName)]
    [OutputType(typeof(CircuitBreakerInfo))]
    public sealed class ResetCircuitBreakerCommand : ModuleCommunicationCmdlet
    {
        private const string ByName = "ByName";
        private const string AllSet = "All";

        /// <summary>Module.Operation of the breakers to reset (wildcards allowed).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = ByName, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
        [SupportsWildcards]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(BreakerNameCompleter))]
        public string[] OperationName { get; set; } = Array.Empty<string>();

        /// <summary>Reset every breaker.</summary>
        [Parameter(Mandatory = true, ParameterSetName = AllSet)]
        public SwitchParameter All { get; set; }

        /// <summary>Reset without asking for confirmation.</summary>
        [Parameter]
        public SwitchParameter Force { get; set; }

        /// <summary>Write the breakers after the reset.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            IEnumerable<string?> targets = ParameterSetName == AllSet ? new string?[] { null } : OperationName;
            foreach (string? name in targets)
            {
                if (!ShouldProceed(Force, name ?? "every circuit breaker", "Reset")) continue;
                try
                {
                    long n = Breakers.Reset(name);
                    WriteVerbose($"Reset {n} circuit breaker(s).");
                    if (PassThru) WriteObject(Breakers.List(name ?? "*"), enumerateCollection: true);
                }
                catch (ModuleCommunicationException e)
                {
                    WriteNativeError(e, name);
                }
            }
        }
    }

    /// <summary>
    /// Set-CircuitBreaker: gives one operation's breaker options of its own (or back to the
    /// defaults), and isolates it by hand: held open until Reset-CircuitBreaker.
    /// </summary>
    [Cmdlet(VerbsCommon.Set, "CircuitBreaker", SupportsShouldProcess = true)]
    [OutputType(typeof(CircuitBreakerInfo))]
    public sealed class SetCircuitBreakerCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Module.Operation (no wildcards).</summary>
        [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
        [ValidateNotNullOrEmpty]
        [ArgumentCompleter(typeof(BreakerNameCompleter))]
        public string OperationName { get; set; } = string.Empty;

        /// <summary>Hold the breaker open: every call fails fast until Reset-CircuitBreaker.</summary>
        [Parameter]
        public SwitchParameter Isolate { get; set; }

        /// <summary>Calls the sampling window must hold before it may trip.</summary>
        [Parameter]
        [ValidateRange(1, 1000000)]
        public int FailureThreshold { get; set; }

        /// <summary>Fraction of failed calls that trips it (above 0, at most 1).</summary>
        [Parameter]
        [ValidateRange(0.0001, 1.0)]
        public double FailureRatio { get; set; }

        /// <summary>Length of the sliding window (seconds or a TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MinSeconds = 0.1, MaxSeconds = 86400)] // the core's limits
        public TimeSpan SamplingDuration { get; set; }

        /// <summary>How long it stays open before a trial call (seconds or a TimeSpan).</summary>
        [Parameter]
        [SecondsTransformation(MinSeconds = 0.001, MaxSeconds = 86400)] // the core's limits
        public TimeSpan RecoveryTimeout { get; set; }

        /// <summary>Trial calls let through while half-open.</summary>
        [Parameter]
        [ValidateRange(1, 1000)]
        public int HalfOpenProbes { get; set; }

        /// <summary>Drop this breaker's own options: it follows the defaults again.</summary>
        [Parameter]
        public SwitchParameter UseDefaults { get; set; }

        /// <summary>Write the breaker afterwards.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void ProcessRecord()
        {
            var options = new Dictionary<string, object>();
            var bound = MyInvocation.BoundParameters;
            if (bound.ContainsKey(nameof(FailureThreshold))) options["failureThreshold"] = (long)FailureThreshold;
            if (bound.ContainsKey(nameof(FailureRatio))) options["failureRatio"] = FailureRatio;
            if (bound.ContainsKey(nameof(SamplingDuration))) options["samplingDurationMs"] = (long)SamplingDuration.TotalMilliseconds;
            if (bound.ContainsKey(nameof(RecoveryTimeout))) options["recoveryTimeoutMs"] = (long)RecoveryTimeout.TotalMilliseconds;
            if (bound.ContainsKey(nameof(HalfOpenProbes))) options["halfOpenProbes"] = (long)HalfOpenProbes;
            if (UseDefaults && options.Count > 0)
            {
                WriteError(NewError("ConflictingBreakerOptions", ErrorCategory.InvalidArgument, OperationName,
                    "-UseDefaults drops this breaker's own options, so it cannot be combined with options.",
                    "Run Set-CircuitBreaker -UseDefaults alone, or give only the options."));
                return;
            }
            string action = Isolate ? "Isolate" : "Set options";
            if (!ShouldProcess(OperationName, action)) return;
            try
            {
                if (UseDefaults) Breakers.Configure(OperationName, null);
                else if (options.Count > 0) Breakers.Configure(OperationName, options);
                if (Isolate) Breakers.Isolate(OperationName);
                int dot = OperationName.LastIndexOf('.');
                if (dot > 0 && Registry.DescribeApi(OperationName[..dot], OperationName[(dot + 1)..]) == null)
                {
                    // Allowed (an API may be registered later), but a typo would otherwise go unnoticed.
                    WriteWarning($"No API '{OperationName}' is registered: this breaker applies once an API of that name is. " +
                        "Check the name with Get-ModuleAPIs.");
                }
                if (PassThru) WriteObject(Breakers.List(WildcardPattern.Escape(OperationName)), enumerateCollection: true);
            }
            catch (ModuleCommunicationException e)
            {
                WriteNativeError(e, OperationName);
            }
        }
    }
}
