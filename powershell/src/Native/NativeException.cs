using System;

namespace ModuleCommunication.Native
{
    /// <summary>A failed C ABI call: the status and the library's own explanation of it.</summary>
    public sealed class ModuleCommunicationException : Exception
    {
        internal ModuleCommunicationException(uint status, string statusName, string message, string? badValue = null) : base(message)
        {
            Status = status;
            StatusName = statusName;
            BadValue = badValue;
        }

        /// <summary>The refused value as the core quoted it ("invalid name 'value': ..."), or null.</summary>
        public string? BadValue { get; }

        /// <summary>The numeric mc_status.</summary>
        public uint Status { get; }

        /// <summary>The status name, e.g. ChannelNotFound; used as the ErrorId of error records.</summary>
        public string StatusName { get; }
    }

    internal static unsafe class Status
    {
        /// <summary>Throws a <see cref="ModuleCommunicationException"/> carrying mc_last_error's text unless OK.</summary>
        public static void Check(McStatus status)
        {
            if (status == McStatus.Ok) return;
            throw ToException(status);
        }

        /// <summary>
        /// A publish's outcome: its id, and the QueueFull error when a Reject-policy queue
        /// refused it (the others got it, so the id is real); any other failure throws.
        /// </summary>
        public static (Guid Id, ModuleCommunicationException? Rejected) Published(McStatus status, McId id)
        {
            if (status == McStatus.QueueFull) return (id.ToGuid(), ToException(status));
            Check(status);
            return (id.ToGuid(), null);
        }

        public static ModuleCommunicationException ToException(McStatus status)
        {
            string message = string.Empty;
            if (NativeMethods.mc_last_error(out byte* text) == McStatus.Ok && text != null)
            {
                message = NativeString.Take(text);
            }
            // The core names the C function first ("mc_publish: ..."), useful to C callers but
            // noise in a PowerShell error record, which names the cmdlet already.
            int colon = message.IndexOf(": ", StringComparison.Ordinal);
            if (message.StartsWith("mc_", StringComparison.Ordinal) && colon > 0) message = message.Substring(colon + 2);
            message = ForPowerShell(message);
            if (message.Length == 0) message = $"The native library reported {status}.";
            string? badValue = null;
            System.Text.RegularExpressions.Match invalid = s_invalid.Match(message);
            if (invalid.Success)
            {
                // "invalid messageType 'x['": the core names the JSON key; a PowerShell user reads
                // words ("message type"), whichever parameter or setting carried it.
                string words = s_camelHump.Replace(invalid.Groups[1].Value, m => " " + char.ToLowerInvariant(m.Value[0]));
                message = "invalid " + words + message.Substring(invalid.Groups[1].Index + invalid.Groups[1].Length);
                badValue = invalid.Groups[2].Value;
            }
            return new ModuleCommunicationException((uint)status, status.ToString(), message, badValue);
        }

        // The core's InvalidArgument text: "invalid {name} '{value}': {reason}".
        private static readonly System.Text.RegularExpressions.Regex s_invalid = new(
            @"^invalid ([a-z][A-Za-z]*) '(.*?)': ", System.Text.RegularExpressions.RegexOptions.CultureInvariant | System.Text.RegularExpressions.RegexOptions.Singleline);

        private static readonly System.Text.RegularExpressions.Regex s_camelHump = new(
            "[A-Z]", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        // The core's messages serve both audiences: "Get-ModuleAPIs (mc_api_list)",
        // "Register-ModuleAPI -Force ("force":true)". PowerShell users get the cmdlet half.
        private static readonly System.Text.RegularExpressions.Regex s_cHints = new(
            @" \((?:mc_[a-z_]+(?:, mc_[a-z_]+)*|""[A-Za-z]+"":[^)]*)\)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        /// <summary>A core message without the C function names and JSON spellings meant for C callers.</summary>
        public static string ForPowerShell(string message) => message.Contains(" (") ? s_cHints.Replace(message, string.Empty) : message;
    }
}
