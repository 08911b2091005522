using System;
using System.Collections.Concurrent;
using System.Management.Automation.Runspaces;
using System.Threading;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Lets PowerShell close a runspace whose -RunAsync handler or -Async API call is blocked in a
    /// .NET call. Closing a runspace stops its pipeline and waits for it, and pwsh, exiting, closes
    /// every open runspace, the pool's too (and the module then closes the pool, see
    /// <see cref="AsyncHandlerPool"/>); a handler blocked in
    /// [Threading.Thread]::Sleep or a WaitHandle never notices a stop, so pwsh could not exit until
    /// the call returned. User code of those runspaces runs between <see cref="Enter"/> and
    /// <see cref="Leave"/>; when the runspace starts closing while that thread is blocked in a
    /// managed wait, the thread is interrupted: the wait ends with ThreadInterruptedException, the
    /// handler fails (and is counted), and the close goes on. An interrupt that lands as the user
    /// code returns is consumed in Leave, so code after it never sees it. The regions are the
    /// handler calls only (an -Async call's handler, a -RunAsync handler and its filter); an
    /// interrupt there can still end a wait of PowerShell's own that the handler's script
    /// makes, which fails the handler the same way.
    /// </summary>
    internal static class PoolInterrupts
    {
        private sealed class Slot
        {
            public readonly object Gate = new();
            public Thread? Running;
            public bool Interrupted;
        }

        private static readonly ConcurrentDictionary<Guid, Slot> s_slots = new();
        private static readonly object s_watchGate = new();

        /// <summary>
        /// The calling thread starts running user code in its runspace. False when it runs some
        /// already (a call nested in an -Async call's handler): then the outer region goes on, and
        /// the caller must not <see cref="Leave"/>.
        /// </summary>
        public static bool Enter()
        {
            if (Runspace.DefaultRunspace is not Runspace runspace) return false;
            Slot slot = Watch(runspace);
            lock (slot.Gate)
            {
                if (slot.Running == Thread.CurrentThread) return false;
                slot.Running = Thread.CurrentThread;
            }
            return true;
        }

        /// <summary>The calling thread's user code has returned (or thrown).</summary>
        public static void Leave()
        {
            if (Runspace.DefaultRunspace is not Runspace runspace || !s_slots.TryGetValue(runspace.InstanceId, out Slot? slot)) return;
            bool interrupted;
            while (true)
            {
                try
                {
                    lock (slot.Gate)
                    {
                        slot.Running = null;
                        interrupted = slot.Interrupted;
                        slot.Interrupted = false;
                    }
                    break;
                }
                catch (ThreadInterruptedException)
                {
                    // The interrupt came as the user code returned, and landed on this lock while
                    // TryInterrupt held it: consumed; take the lock again.
                }
            }
            if (!interrupted) return;
            try
            {
                Thread.Sleep(0); // throws here if the interrupt is still pending, and so consumes it
            }
            catch (ThreadInterruptedException)
            {
            }
        }

        private static Slot Watch(Runspace runspace)
        {
            if (s_slots.TryGetValue(runspace.InstanceId, out Slot? slot)) return slot;
            lock (s_watchGate)
            {
                if (s_slots.TryGetValue(runspace.InstanceId, out slot)) return slot;
                slot = new Slot();
                s_slots[runspace.InstanceId] = slot;
                runspace.StateChanged += OnStateChanged;
                return slot;
            }
        }

        /// <summary>
        /// Interrupts the slot's thread if it is waiting right now (one running PowerShell code is
        /// not: an interrupt left pending could end a wait of PowerShell's own later). True when
        /// there is nothing left to do: interrupted, or no user code running.
        /// </summary>
        private static bool TryInterrupt(Slot slot)
        {
            lock (slot.Gate)
            {
                if (slot.Running is not Thread thread || slot.Interrupted) return true;
                if ((thread.ThreadState & ThreadState.WaitSleepJoin) == 0) return false;
                slot.Interrupted = true;
                thread.Interrupt();
                return true;
            }
        }

        private static void OnStateChanged(object? sender, RunspaceStateEventArgs e)
        {
            if (sender is not Runspace runspace || !s_slots.TryGetValue(runspace.InstanceId, out Slot? slot)) return;
            switch (e.RunspaceStateInfo.State)
            {
                case RunspaceState.Closing:
                    if (!TryInterrupt(slot))
                    {
                        // Running PowerShell code now, which the close stops at its next statement,
                        // unless that statement is the blocking call: look again for a while.
                        ThreadPool.QueueUserWorkItem(_ =>
                        {
                            for (int i = 0; i < 100 && !TryInterrupt(slot); i++) Thread.Sleep(50);
                        });
                    }
                    break;
                case RunspaceState.Closed:
                case RunspaceState.Broken:
                    s_slots.TryRemove(runspace.InstanceId, out _);
                    runspace.StateChanged -= OnStateChanged;
                    break;
            }
        }
    }
}
