using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using System.Management.Automation;
using ModuleCommunication.Core;
using ModuleCommunication.Native;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Commands
{
    /// <summary>Get-CommunicationConfiguration: the hub's current settings.</summary>
    [Cmdlet(VerbsCommon.Get, "CommunicationConfiguration")]
    [OutputType(typeof(CommunicationConfiguration))]
    public sealed class GetCommunicationConfigurationCommand : ModuleCommunicationCmdlet
    {
        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            try
            {
                WriteObject(Bus.GetConfiguration());
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, null);
            }
        }
    }

    /// <summary>Set-CommunicationConfiguration: changes settings, all or nothing.</summary>
    [Cmdlet(VerbsCommon.Set, "CommunicationConfiguration", SupportsShouldProcess = true, DefaultParameterSetName = ByName)]
    [OutputType(typeof(CommunicationConfiguration))]
    public sealed class SetCommunicationConfigurationCommand : ModuleCommunicationCmdlet
    {
        private const string ByName = "ByName";
        private const string BySettings = "BySettings";

        private static readonly Dictionary<string, string> s_keys = new(System.StringComparer.OrdinalIgnoreCase)
        {
            ["MaxMessageQueueSize"] = "maxMessageQueueSize",
            ["ProcessorInterval"] = "processorInterval",
            ["DefaultOverflowPolicy"] = "defaultOverflow",
            ["BlockTimeoutMs"] = "blockTimeoutMs",
            ["MaxEventHistory"] = "maxEventHistory",
            ["EventHistoryPath"] = "eventHistoryPath",
            ["EventHistoryMaxBytes"] = "eventHistoryMaxBytes",
            ["EnableMetrics"] = "enableMetrics",
            ["MetricsIntervalMs"] = "metricsIntervalMs",
            ["MetricsHistorySize"] = "metricsHistorySize",
            ["EnableTracing"] = "enableTracing",
        };

        /// <summary>Default queue capacity of new subscriptions.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(1L, 100_000_000L)] // long limits: int ones make PowerShell refuse any value above 2^31 with a type error
        public long MaxMessageQueueSize { get; set; }

        /// <summary>Milliseconds one default-handler drain may hold a runspace's thread.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(1L, 60_000L)]
        public long ProcessorInterval { get; set; }

        /// <summary>Overflow policy of new subscriptions that do not choose one.</summary>
        [Parameter(ParameterSetName = ByName)]
        public OverflowPolicy DefaultOverflowPolicy { get; set; }

        /// <summary>Block policy wait, in milliseconds.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(1L, 3_600_000L)]
        public long BlockTimeoutMs { get; set; }

        /// <summary>Events kept in history.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(0L, 10_000_000L)] // 0 keeps no history, as the core allows
        public long MaxEventHistory { get; set; }

        /// <summary>File the event history is persisted to ('' turns persistence off); its events are loaded now.</summary>
        [Parameter(ParameterSetName = ByName)]
        [AllowEmptyString]
        public string? EventHistoryPath { get; set; }

        /// <summary>Size in bytes at which the history file is rotated to &lt;path&gt;.1 (0 = never).</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(0L, 1_099_511_627_776L)]
        public long EventHistoryMaxBytes { get; set; }

        /// <summary>Record latencies for Get-CommunicationMetrics ($false saves one clock read per delivery).</summary>
        [Parameter(ParameterSetName = ByName)]
        public bool EnableMetrics { get; set; }

        /// <summary>Length of one metrics history interval, in milliseconds.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(100L, 86_400_000L)]
        public long MetricsIntervalMs { get; set; }

        /// <summary>How many metrics history intervals are kept.</summary>
        [Parameter(ParameterSetName = ByName)]
        [ValidateRange(1L, 10_000L)]
        public long MetricsHistorySize { get; set; }

        /// <summary>$true turns on a Basic in-memory trace if tracing is off; $false turns tracing off (Enable-/Disable-MessageTracing for more).</summary>
        [Parameter(ParameterSetName = ByName)]
        public bool EnableTracing { get; set; }

        /// <summary>How API calls retry: @{ MaxRetries; RetryDelay (ms); BackoffMultiplier; MaxDelay (ms); Jitter }.</summary>
        [Parameter(ParameterSetName = ByName)]
        public Hashtable? RetryPolicy { get; set; }

        /// <summary>Circuit breaker defaults: @{ FailureThreshold; FailureRatio; SamplingDuration (s); RecoveryTimeout (s); HalfOpenProbes }.</summary>
        [Parameter(ParameterSetName = ByName)]
        public Hashtable? CircuitBreaker { get; set; }

        /// <summary>Security: @{ RequireAuthentication; DefaultTokenExpiration (minutes); AllowedModules; Enabled }.</summary>
        [Parameter(ParameterSetName = ByName)]
        public Hashtable? Security { get; set; }

        /// <summary>Settings as a hashtable, in the spec's $script:Configuration shape (unknown keys are errors).</summary>
        [Parameter(Mandatory = true, Position = 0, ParameterSetName = BySettings)]
        public Hashtable Settings { get; set; } = new();

        /// <summary>Write the resulting configuration.</summary>
        [Parameter]
        public SwitchParameter PassThru { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            var changes = new Dictionary<string, object>();
            if (ParameterSetName == BySettings)
            {
                foreach (DictionaryEntry entry in Settings)
                {
                    string key = entry.Key?.ToString() ?? string.Empty;
                    if (NestedSettings.IsSection(key))
                    {
                        if (!AddSection(changes, key, entry.Value)) return;
                        continue;
                    }
                    if (!s_keys.TryGetValue(key, out string? native))
                    {
                        ThrowTerminatingError(NewError("UnknownConfigurationSetting", ErrorCategory.InvalidArgument, key,
                            $"'{key}' is not a setting of this version.", "Known settings: " + string.Join(", ", s_keys.Keys.Concat(NestedSettings.Sections)) + "."));
                        return;
                    }
                    if (changes.ContainsKey(native))
                    {
                        // Only a case-sensitive hashtable can hold both; one value would be dropped.
                        ThrowTerminatingError(NewError("DuplicateConfigurationSetting", ErrorCategory.InvalidArgument, key,
                            $"'{key}' is given twice in -Settings (setting names compare case-insensitively).", "Give each setting once."));
                        return;
                    }
                    object? converted = ConvertSetting(key, entry.Value is PSObject p ? p.BaseObject : entry.Value, out string? problem);
                    if (converted == null)
                    {
                        ThrowTerminatingError(NewError("InvalidConfigurationValue", ErrorCategory.InvalidArgument, entry.Value, problem!,
                            "See Get-Help Set-CommunicationConfiguration -Parameter " + key + "."));
                        return;
                    }
                    changes[native] = converted;
                }
            }
            else
            {
                foreach (KeyValuePair<string, string> kv in s_keys)
                {
                    if (!MyInvocation.BoundParameters.TryGetValue(kv.Key, out object? value)) continue;
                    changes[kv.Value] = value is System.Enum e ? e.ToString() : value;
                }
                foreach (string section in NestedSettings.Sections)
                {
                    if (MyInvocation.BoundParameters.TryGetValue(section, out object? table) && !AddSection(changes, section, table)) return;
                }
            }
            if (changes.TryGetValue("eventHistoryPath", out object? historyPath) && historyPath is string text && text.Length > 0)
            {
                if (string.IsNullOrWhiteSpace(text))
                {
                    ThrowTerminatingError(NewError("InvalidArgument", ErrorCategory.InvalidArgument, text,
                        $"EventHistoryPath '{text}' is only spaces.", "Give a file path, or '' to keep the history in memory only."));
                }
                if (ResolveFileSystemPath(text, "EventHistoryPath", out string historyFile) is ErrorRecord notFileSystem) ThrowTerminatingError(notFileSystem);
                changes["eventHistoryPath"] = historyFile;
            }
            // Named as the parameters are (the keys are the core's names; sections are keyed by their own).
            string names = string.Join(", ", changes.Keys.Select(k =>
                s_keys.FirstOrDefault(kv => kv.Value == k).Key ?? char.ToUpperInvariant(k[0]) + k.Substring(1)));
            if (changes.Count == 0 || !ShouldProcess("communication configuration", "Set " + names)) return;
            try
            {
                string? pathBefore = changes.ContainsKey("eventHistoryPath") ? Bus.GetConfiguration().EventHistoryPath : null;
                Bus.SetConfiguration(changes);
                if (changes.TryGetValue("eventHistoryPath", out object? newPath) && newPath is string p && p.Length > 0 && p != pathBefore)
                {
                    // A torn last line of the history file was skipped while loading it.
                    foreach (string warning in EventBus.Info().LoadWarnings) WriteWarning(warning);
                }
                CommunicationConfiguration now = Bus.GetConfiguration();
                RunspaceDispatcher.BudgetMs = now.ProcessorInterval;
                if (PassThru) WriteObject(now);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, SettingTarget(e, changes));
            }
        }

        /// <summary>
        /// Checks a -Settings value as binding the parameter of that name checks it (type and
        /// range), so that a bad value is reported in the user's terms, not the core's JSON
        /// ones. Returns the value to send, or null and the problem.
        /// </summary>
        private static object? ConvertSetting(string key, object? value, out string? problem)
        {
            PropertyInfo property = typeof(SetCommunicationConfigurationCommand).GetProperty(key,
                BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase)!;
            string name = property.Name;
            System.Type type = property.PropertyType;
            problem = null;
            if (type == typeof(string))
            {
                if (value is null or string) return value ?? string.Empty;
                problem = $"{name} must be a file path as a string, or '' for none; got '{value}'.";
                return null;
            }
            if (type.IsEnum)
            {
                if (value is not null && LanguagePrimitives.TryConvertTo(value, type, CultureInfo.InvariantCulture, out object? member)
                    && System.Enum.IsDefined(type, member))
                {
                    return member.ToString();
                }
                problem = $"{name} must be one of {string.Join(", ", System.Enum.GetNames(type))}; got '{value}'.";
                return null;
            }
            if (type == typeof(bool))
            {
                object? flag = NestedSettings.ConvertValue(value, NestedSettings.Kind.Boolean);
                if (flag == null) problem = $"{name} must be $true or $false; got '{value}'.";
                return flag;
            }
            ValidateRangeAttribute range = property.GetCustomAttribute<ValidateRangeAttribute>()!;
            long min = System.Convert.ToInt64(range.MinRange, CultureInfo.InvariantCulture);
            long max = System.Convert.ToInt64(range.MaxRange, CultureInfo.InvariantCulture);
            if (NestedSettings.ConvertValue(value, NestedSettings.Kind.Integer) is long number && number >= min && number <= max) return number;
            problem = $"{name} must be a whole number from {min} to {max}; got '{value}'.";
            return null;
        }

        private bool AddSection(Dictionary<string, object> changes, string section, object? value)
        {
            (string native, Dictionary<string, object>? converted, string? problem) = NestedSettings.Convert(section, value);
            if (converted != null && changes.ContainsKey(native))
            {
                (converted, problem) = (null, $"{section} is given twice (setting names compare case-insensitively); give it once.");
            }
            if (converted == null)
            {
                ThrowTerminatingError(NewError("InvalidConfigurationValue", ErrorCategory.InvalidArgument, value, problem!,
                    "See Get-Help Set-CommunicationConfiguration -Parameter " + section + "."));
                return false;
            }
            changes[native] = converted;
            return true;
        }
    }

    /// <summary>Get-CommunicationMetrics: counters and latencies of the bus, events, API calls, security and breakers.</summary>
    [Cmdlet(VerbsCommon.Get, "CommunicationMetrics")]
    [OutputType(typeof(CommunicationMetrics))]
    public sealed class GetCommunicationMetricsCommand : ModuleCommunicationCmdlet
    {
        /// <summary>Only this channel (name or -like pattern).</summary>
        [Parameter(Position = 0)]
        [SupportsWildcards]
        [ArgumentCompleter(typeof(ChannelNameCompleter))]
        public string? Channel { get; set; }

        /// <summary>Add the per-interval history.</summary>
        [Parameter]
        public SwitchParameter IncludeHistory { get; set; }

        /// <inheritdoc/>
        protected override void EndProcessing()
        {
            try
            {
                CommunicationMetrics metrics = Observability.GetMetrics(Channel, IncludeHistory);
                // A plain name asks for one channel: a typo must not read as "no traffic".
                if (Channel != null && metrics.Channels.Length == 0 && !WildcardPattern.ContainsWildcardCharacters(Channel))
                {
                    WriteError(NewError("ChannelNotFound", ErrorCategory.ObjectNotFound, Channel,
                        $"Channel '{Channel}' does not exist, so it has no metrics; the totals are written all the same.",
                        "List channels with Get-MessageChannels."));
                }
                WriteObject(metrics);
            }
            catch (ModuleCommunicationException e)
            {
                ThrowNativeError(e, Channel);
            }
        }
    }
}
