using System;
using System.Management.Automation;
using System.Reflection;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// ForEach-Object -Parallel runs each item in a runspace named "PSTask:N" and, to reuse it
    /// for the next item, resets it: the old engine-event manager is disposed and a new one made.
    /// Disposing runs every action still pending for a subscriber on a pool thread, and a
    /// script-block action (our drain) is then marshalled back to the runspace being reset: the
    /// reset waits for ever. So when such a runspace's item ends, the drain's subscriber is
    /// removed without running its pending actions (PowerShell's own UnsubscribeEvent with
    /// skipDraining, which is private: found by reflection, and skipped if a later PowerShell
    /// lacks it), and bound again when the runspace's next item starts.
    /// </summary>
    internal static class TaskRunspaceReset
    {
        private static readonly MethodInfo? s_unsubscribeWithoutDraining =
            typeof(PSEventManager).Assembly.GetType("System.Management.Automation.PSLocalEventManager")?
                .GetMethod("UnsubscribeEvent", BindingFlags.Instance | BindingFlags.NonPublic, null,
                    new[] { typeof(PSEventSubscriber), typeof(bool) }, null);

        /// <summary>Whether a runspace belongs to ForEach-Object -Parallel's reusable pool.</summary>
        public static bool IsTaskRunspace(string? runspaceName)
            => s_unsubscribeWithoutDraining != null && runspaceName != null && runspaceName.StartsWith("PSTask:", StringComparison.Ordinal);

        /// <summary>Removes <paramref name="subscriber"/> leaving its pending actions unrun; false if that is not possible.</summary>
        public static bool UnsubscribeWithoutDraining(PSEventManager events, PSEventSubscriber subscriber)
        {
            if (s_unsubscribeWithoutDraining == null || events.GetType() != s_unsubscribeWithoutDraining.DeclaringType) return false;
            try
            {
                s_unsubscribeWithoutDraining.Invoke(events, new object[] { subscriber, true });
                return true;
            }
            catch
            {
                return false;
            }
        }
    }
}
