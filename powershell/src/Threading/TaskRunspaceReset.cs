using System;
using System.Management.Automation;
using System.Reflection;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// ForEach-Object -Parallel runs each item in a runspace named "PSTask:N" and, to reuse it
    /// for the next item, resets it from another thread: the old engine-event manager is
    /// disposed (holding its subscriber lock) and a new one made. Disposing runs every action
    /// still pending for a subscriber on that thread, and a script-block action (the drain's
    /// usual form) is marshalled back to the runspace being reset, which waits for ever.
    /// So in such a runspace the drain subscribes as a delegate instead, queued like an action
    /// and run at the runspace's own checkpoints (PowerShell's internal SubscribeEvent overload
    /// with shouldQueueAndProcessInExecutionThread, found by reflection; skipped if a later
    /// PowerShell lacks it): a delegate runs on the disposing thread without marshalling, and
    /// the drain does nothing there (see <see cref="RunspaceDispatcher"/>).
    /// </summary>
    internal static class TaskRunspaceReset
    {
        private static readonly MethodInfo? s_subscribeQueuedDelegate =
            typeof(PSEventManager).GetMethod("SubscribeEvent", BindingFlags.Instance | BindingFlags.NonPublic, null,
                new[]
                {
                    typeof(object), typeof(string), typeof(string), typeof(PSObject), typeof(PSEventReceivedEventHandler),
                    typeof(bool), typeof(bool), typeof(bool), typeof(int),
                }, null);

        /// <summary>Whether a runspace belongs to ForEach-Object -Parallel's reusable pool.</summary>
        public static bool IsTaskRunspace(string? runspaceName)
            => s_subscribeQueuedDelegate != null && runspaceName != null && runspaceName.StartsWith("PSTask:", StringComparison.Ordinal);

        /// <summary>
        /// Subscribes <paramref name="handler"/> to <paramref name="sourceIdentifier"/>, queued and
        /// run at the runspace's checkpoints like a script-block action, hidden like one made with
        /// supportEvent; null if that is not possible.
        /// </summary>
        public static PSEventSubscriber? SubscribeQueuedDelegate(PSEventManager events, string sourceIdentifier, PSEventReceivedEventHandler handler)
        {
            if (s_subscribeQueuedDelegate == null) return null;
            try
            {
                return s_subscribeQueuedDelegate.Invoke(events,
                    new object?[] { null, null, sourceIdentifier, null, handler, true, false, true, 0 }) as PSEventSubscriber;
            }
            catch
            {
                return null;
            }
        }
    }
}
