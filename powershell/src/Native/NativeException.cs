using System;

namespace ModuleCommunication.Native
{
    /// <summary>A failed C ABI call: the status and the library's own explanation of it.</summary>
    public sealed class ModuleCommunicationException : Exception
    {
        internal ModuleCommunicationException(uint status, string statusName, string message) : base(message)
        {
            Status = status;
            StatusName = statusName;
        }

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
            return new ModuleCommunicationException((uint)status, status.ToString(), message);
        }

        // The core's messages serve both audiences: "Get-ModuleAPIs (mc_api_list)",
        // "Register-ModuleAPI -Force ("force":true)". PowerShell users get the cmdlet half.
        private static readonly System.Text.RegularExpressions.Regex s_cHints = new(
            @" \((?:mc_[a-z_]+(?:, mc_[a-z_]+)*|""[A-Za-z]+"":[^)]*)\)", System.Text.RegularExpressions.RegexOptions.CultureInvariant);

        /// <summary>A core message without the C function names and JSON spellings meant for C callers.</summary>
        public static string ForPowerShell(string message) => message.Contains(" (") ? s_cHints.Replace(message, string.Empty) : message;
    }
}
