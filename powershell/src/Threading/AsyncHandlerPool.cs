using System;
using System.Collections.Concurrent;
using System.IO;
using System.Management.Automation.Runspaces;
using System.Reflection;

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
            ThrowIfExiting();
            Runspace runspace = RunspaceFactory.CreateRunspace(SessionState());
            runspace.ThreadOptions = PSThreadOptions.ReuseThread;
            runspace.Open();
            if (s_exiting)
            {
                // Opened after pwsh started exiting: maybe after it listed the runspaces to close.
                runspace.Dispose();
                ThrowIfExiting();
            }
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

        /// <summary>
        /// The pool, opened on first use. Throws InvalidOperationException once pwsh is exiting
        /// (see <see cref="WatchExit"/>).
        /// </summary>
        public static RunspacePool Pool
        {
            get
            {
                lock (s_gate)
                {
                    ThrowIfExiting();
                    if (s_pool == null)
                    {
                        WatchExit();
                        ThrowIfExiting();
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

        // Set when pwsh's own runspace starts closing: pwsh is exiting.
        private static volatile bool s_exiting;
        private static bool s_watchingExit;

        private static void ThrowIfExiting()
        {
            if (s_exiting)
            {
                throw new InvalidOperationException(
                    "PowerShell is exiting: the module's runspace pool is closed, so -RunAsync handlers and -Async calls no longer start.");
            }
        }

        /// <summary>
        /// pwsh, exiting, closes its own runspace (PowerShell's internal Runspace.PrimaryRunspace)
        /// and then disposes every other runspace open at that moment, the pool's among them, but
        /// not the pool: a request queued on the pool (more -Async calls and -RunAsync batches
        /// than it has runspaces) then got a runspace created after that list was taken, which
        /// nothing ever closed, and whose pipeline thread (ReuseThread, a foreground thread) kept
        /// the process alive for ever; or one of the disposed runspaces, whose release back to the
        /// still open pool threw a NullReferenceException on a thread-pool thread and ended the
        /// process with SIGABRT. So the pool is closed as soon as that runspace starts closing:
        /// from then on it creates no runspace and hands none out, queued requests fail (an -Async
        /// job fails, a -RunAsync batch ends), and the handlers running are stopped as any close
        /// stops them (<see cref="PoolInterrupts"/>). Only that runspace's close
        /// counts: a job's, a script's or the pool's own closes are not pwsh exiting. A host
        /// without a primary runspace closes what it opened itself, and nothing is watched.
        /// Called under s_gate.
        /// </summary>
        private static void WatchExit()
        {
            if (s_watchingExit) return;
            s_watchingExit = true;
            if (PrimaryRunspace() is not Runspace primary) return;
            primary.StateChanged += OnPrimaryStateChanged;
            if (IsEnding(primary.RunspaceStateInfo.State)) BeginExit();
        }

        private static bool IsEnding(RunspaceState state)
            => state is RunspaceState.Closing or RunspaceState.Closed or RunspaceState.Broken;

        private static Runspace? PrimaryRunspace()
        {
            try
            {
                return typeof(Runspace).GetProperty("PrimaryRunspace", BindingFlags.Static | BindingFlags.NonPublic)
                    ?.GetValue(null) as Runspace;
            }
            catch (Exception)
            {
                return null; // a PowerShell without it: as a host without a primary runspace
            }
        }

        private static void OnPrimaryStateChanged(object? sender, RunspaceStateEventArgs e)
        {
            if (IsEnding(e.RunspaceStateInfo.State)) BeginExit();
        }

        private static void BeginExit()
        {
            RunspacePool? pool;
            lock (s_gate)
            {
                if (s_exiting) return;
                s_exiting = true;
                pool = s_pool;
            }
            if (pool == null) return;
            try
            {
                // The pool is Closing once this returns; the runspaces close on a thread-pool
                // thread, so pwsh's own close does not wait here for a handler to stop.
                pool.BeginClose(null, null);
            }
            catch (Exception)
            {
                // Closed or broken already: nothing more to stop.
            }
        }
    }
}
