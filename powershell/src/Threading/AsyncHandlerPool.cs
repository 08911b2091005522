using System;
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

        public static RunspacePool Pool
        {
            get
            {
                lock (s_gate)
                {
                    if (s_pool == null)
                    {
                        InitialSessionState iss = InitialSessionState.CreateDefault2();
                        string moduleFolder = Path.GetDirectoryName(typeof(AsyncHandlerPool).Assembly.Location)!;
                        string manifest = Path.Combine(moduleFolder, "ModuleCommunication.psd1");
                        iss.ImportPSModule(new[] { File.Exists(manifest) ? manifest : typeof(AsyncHandlerPool).Assembly.Location });
                        RunspacePool pool = RunspaceFactory.CreateRunspacePool(iss);
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
