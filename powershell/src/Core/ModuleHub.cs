using System;
using System.Threading;
using ModuleCommunication.Native;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// The one hub of this process. Every runspace that imports the module shares it: that
    /// is what lets modules in different runspaces talk. It lives until the process exits.
    /// </summary>
    internal static unsafe class ModuleHub
    {
        /// <summary>
        /// A history file to persist events to from the start: set before the module is
        /// imported, it is loaded when the hub is made (the first cmdlet call).
        /// </summary>
        public const string EventHistoryVariable = "MODULECOMMUNICATION_EVENT_HISTORY";

        private static HubHandle? s_hub;
        private static readonly object s_gate = new();

        /// <summary>Why the history file named by <see cref="EventHistoryVariable"/> could not be used, if it could not.</summary>
        public static ModuleCommunicationException? HistoryStartupProblem { get; private set; }

        /// <summary>The history file named by <see cref="EventHistoryVariable"/> (full path), if any.</summary>
        public static string? HistoryStartupPath { get; private set; }

        public static HubHandle Handle
        {
            get
            {
                HubHandle? hub = Volatile.Read(ref s_hub);
                if (hub != null) return hub;
                lock (s_gate)
                {
                    if (s_hub == null)
                    {
                        Status.Check(NativeMethods.mc_hub_new(null, 0, out nint raw));
                        s_hub = new HubHandle(raw);
                        UseHistoryFileFromEnvironment(s_hub);
                    }
                    return s_hub;
                }
            }
        }
    
        /// <summary>
        /// Applies <see cref="EventHistoryVariable"/>. A file that cannot be used leaves the hub
        /// without persistence; the problem is kept for the first event cmdlet to report.
        /// </summary>
        private static void UseHistoryFileFromEnvironment(HubHandle hub)
        {
            string? path = Environment.GetEnvironmentVariable(EventHistoryVariable);
            if (string.IsNullOrWhiteSpace(path)) return;
            try
            {
                path = System.IO.Path.GetFullPath(path);
            }
            catch (Exception)
            {
                // Left as given: the core names it in its error.
            }
            HistoryStartupPath = path;
            byte[] json = JsonBuffer.Build(w =>
            {
                w.WriteStartObject();
                w.WriteString("eventHistoryPath", path);
                w.WriteEndObject();
            });
            McStatus status;
            fixed (byte* p = json)
            {
                status = NativeMethods.mc_config_set(hub, p, (nuint)json.Length);
            }
            if (status != McStatus.Ok) HistoryStartupProblem = Status.ToException(status);
        }
    }
}
