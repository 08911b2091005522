using System;
using System.Linq;
using System.Management.Automation;
using ModuleCommunication.Native;

namespace ModuleCommunication.Commands
{
    /// <summary>
    /// Base of every cmdlet: turns native failures into ErrorRecords with a stable ErrorId
    /// (the status name, e.g. ChannelNotFound), a precise category and the offending value
    /// as target.
    /// </summary>
    public abstract class ModuleCommunicationCmdlet : PSCmdlet
    {
        /// <summary>A non-terminating error for one input.</summary>
        protected void WriteNativeError(ModuleCommunicationException e, object? target)
            => WriteError(ToErrorRecord(e, target));

        /// <summary>A terminating error.</summary>
        protected void ThrowNativeError(ModuleCommunicationException e, object? target)
            => ThrowTerminatingError(ToErrorRecord(e, target));

        /// <summary>An error of this layer (not from the native core).</summary>
        protected static ErrorRecord NewError(string errorId, ErrorCategory category, object? target, string message, string? recommendedAction = null)
        {
            var record = new ErrorRecord(new InvalidOperationException(message), errorId, category, target);
            if (recommendedAction != null) record.ErrorDetails = new ErrorDetails(message) { RecommendedAction = recommendedAction };
            return record;
        }

        /// <summary>The error record of a core failure; its target is the value the core refused, when it names one.</summary>
        internal static ErrorRecord ToErrorRecord(ModuleCommunicationException e, object? target)
            => new(e, e.StatusName, CategoryOf((McStatus)e.Status), e.BadValue ?? target);

        private static ErrorCategory CategoryOf(McStatus status) => status switch
        {
            McStatus.ChannelNotFound or McStatus.SubscriptionNotFound => ErrorCategory.ObjectNotFound,
            McStatus.ChannelExists => ErrorCategory.ResourceExists,
            McStatus.NullArgument or McStatus.InvalidUtf8 or McStatus.InvalidJson or McStatus.InvalidArgument => ErrorCategory.InvalidArgument,
            McStatus.QueueFull => ErrorCategory.LimitsExceeded,
            McStatus.Timeout => ErrorCategory.OperationTimeout,
            McStatus.AuthenticationFailed => ErrorCategory.AuthenticationError,
            McStatus.AuthorizationFailed or McStatus.ModuleNotAllowed => ErrorCategory.PermissionDenied,
            McStatus.BreakerNotFound or McStatus.TokenNotFound => ErrorCategory.ObjectNotFound,
            McStatus.Io => ErrorCategory.ResourceUnavailable,
            McStatus.CorruptFile => ErrorCategory.InvalidData,
            McStatus.Cancelled => ErrorCategory.OperationStopped,
            _ => ErrorCategory.NotSpecified,
        };

        /// <summary>
        /// Channel names with this prefix belong to the module's own health checks and
        /// self-tests, which run there while security requires tokens; the cmdlets refuse
        /// them, so no module can use them as a side channel the security check does not see.
        /// </summary>
        internal const string ReservedChannelPrefix = "__ModuleCommunication.";

        /// <summary>The error for a reserved channel name (see <see cref="ReservedChannelPrefix"/>), or null for any other.</summary>
        protected ErrorRecord? ReservedChannelError(string? name)
        {
            if (name == null) return null;
            // Unescaped as the core reads patterns (a backtick escapes any character): a pattern
            // such as '`__ModuleCommunication.X' is that literal name.
            string literal = name.Contains('`') ? System.Text.RegularExpressions.Regex.Replace(name, "`(.)", "$1") : name;
            if (!literal.StartsWith(ReservedChannelPrefix, StringComparison.OrdinalIgnoreCase)) return null;
            return NewError("ReservedChannelName", ErrorCategory.InvalidArgument, name,
                $"Channel '{name}' is reserved: names starting with '{ReservedChannelPrefix}' belong to the module's own health checks and self-tests.",
                "Choose another channel name.");
        }

        /// <summary>The error for a plain module name that has no live token (Get-/Revoke-AuthenticationToken -ModuleName).</summary>
        private protected static ErrorRecord NoTokenOf(string module)
            => NewError("TokenNotFound", ErrorCategory.ObjectNotFound, module,
                $"Module '{module}' has no live token (none was created, or they were revoked or have expired).",
                "List the live tokens with Get-AuthenticationTokens, or create one with New-AuthenticationToken.");

        /// <summary>
        /// The target of an error about a set of settings when the core names no refused value
        /// (see <see cref="ModuleCommunicationException.BadValue"/>, which wins): the setting whose
        /// value the message quotes (a path), else the only setting, else all of them.
        /// </summary>
        protected static object SettingTarget(ModuleCommunicationException e, System.Collections.Generic.IDictionary<string, object> settings)
        {
            foreach (var (_, value) in settings)
            {
                if (value is string text && text.Length > 0 && e.Message.Contains($"'{text}'", StringComparison.Ordinal)) return value;
            }
            if (settings.Count == 1) return settings.Values.First();
            return new System.Collections.Hashtable(new System.Collections.Generic.Dictionary<string, object>(settings), StringComparer.OrdinalIgnoreCase);
        }

        /// <summary>
        /// The file system path the native core gets for a PowerShell path (relative to the current
        /// location), or the error for a path of another provider (variable:, env:, function:, alias:):
        /// the core would take its item name as a file in the process's working folder.
        /// </summary>
        protected ErrorRecord? ResolveFileSystemPath(string path, string parameterName, out string resolved)
        {
            resolved = SessionState.Path.GetUnresolvedProviderPathFromPSPath(path, out ProviderInfo provider, out _);
            if (provider.ImplementingType == typeof(Microsoft.PowerShell.Commands.FileSystemProvider)) return null;
            return NewError("NotFileSystemPath", ErrorCategory.InvalidArgument, path,
                $"-{parameterName} '{path}' is not a file system path: it names an item of the {provider.Name} provider.",
                "Give a file path: an absolute one, or one relative to a file system location.");
        }

        /// <summary>
        /// -Force skips the confirmation, as in PowerShell's own cmdlets: not -WhatIf, not an explicit
        /// -Confirm, and -Verbose still says what is done. Otherwise ShouldProcess decides.
        /// </summary>
        protected bool ShouldProceed(bool force, string target, string action)
        {
            // -WhatIf given here, or inherited from a caller's -WhatIf ($WhatIfPreference).
            bool whatIf = MyInvocation.BoundParameters.TryGetValue("WhatIf", out object? w)
                ? w is SwitchParameter s && s.IsPresent
                : LanguagePrimitives.IsTrue(GetVariableValue("WhatIfPreference"));
            bool confirm = MyInvocation.BoundParameters.TryGetValue("Confirm", out object? c) && c is SwitchParameter t && t.IsPresent;
            if (!force || whatIf || confirm) return ShouldProcess(target, action);
            WriteVerbose($"Performing the operation \"{action}\" on target \"{target}\".");
            return true;
        }

        /// <summary>Milliseconds for native waits, from a TimeSpan given in seconds by users.</summary>
        protected static uint ToMilliseconds(TimeSpan span)
            => span <= TimeSpan.Zero ? 0u : span.TotalMilliseconds >= uint.MaxValue ? uint.MaxValue - 1 : (uint)span.TotalMilliseconds;
    }
}
