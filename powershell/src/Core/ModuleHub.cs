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
        private static HubHandle? s_hub;
        private static readonly object s_gate = new();

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
                    }
                    return s_hub;
                }
            }
        }
    }
}
