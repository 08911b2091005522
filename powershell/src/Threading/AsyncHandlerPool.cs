using System;
using System.Collections.Concurrent;
using System.IO;
using System.Management.Automation.Runspaces;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// The bounded pool of private runspaces that runs -RunAsync handlers. Each runspace
    /// imports this module, so handlers can publish and subscribe; none shares the
    /// subscriber's variables (pass values with -ArgumentList).
    /// </summary>
    internal static class AsyncHandlerPool
    {
        /// <summary>How many -RunAsync handlers may run at the same time.</summary>
        public const int MaxRunspaces = 4;

        private static readonly object s_gate = new();
        private static RunspacePool? s_pool;

        // Runspaces of the pool that have run our work (the pool does not list its runspaces).
        private static readonly ConcurrentDictionary<Guid, byte> s_members = new();

        /// <summary>Called by work running in the pool: records the current runspace as the pool's.</summary>
        public static void NoteMember()
        {
            if (Runspace.DefaultRunspace is Runspace r) s_members.TryAdd(r.InstanceId, 0);
        }

        /// <summary>Forgets a private runspace that is being closed.</summary>
        public static void Forget(Runspace runspace) => s_members.TryRemove(runspace.InstanceId, out _);

        /// <summary>True when the calling thread runs in one of the pool's runspaces.</summary>
        public static bool CallerIsMember => Runspace.DefaultRunspace is Runspace r && s_members.ContainsKey(r.InstanceId);

        /// <summary>
        /// A runspace of its own, set up like the pool's, for an -Async call made from inside the
        /// pool: queued on the pool, a call that the caller waits for could wait for a runspace
        /// that every caller holds. The caller closes it once the call has ended.
        /// </summary>
        public static Runspace OpenPrivateRunspace()
        {
            Runspace runspace = RunspaceFactory.CreateRunspace(SessionState());
            runspace.ThreadOptions = PSThreadOptions.ReuseThread;
            runspace.Open();
            return runspace;
        }

        private static InitialSessionState SessionState()
        {
            InitialSessionState iss = InitialSessionState.CreateDefault2();
            string moduleFolder = Path.GetDirectoryName(typeof(AsyncHandlerPool).Assembly.Location)!;
            string manifest = Path.Combine(moduleFolder, "ModuleCommunication.psd1");
            iss.ImportPSModule(new[] { File.Exists(manifest) ? manifest : typeof(AsyncHandlerPool).Assembly.Location });
            return iss;
        }

        public static RunspacePool Pool
        {
            get
            {
                lock (s_gate)
                {
                    if (s_pool == null)
                    {
                        RunspacePool pool = RunspaceFactory.CreateRunspacePool(SessionState());
                        pool.SetMinRunspaces(1);
                        pool.SetMaxRunspaces(MaxRunspaces);
                        pool.ThreadOptions = PSThreadOptions.ReuseThread;
                        pool.Open();
                        s_pool = pool;
                    }
                    return s_pool;
                }
            }
        }
    }
}
