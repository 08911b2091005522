using System.ComponentModel;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// The few calls that script inside the module's own machinery makes back into C#: the
    /// engine-event action of a runspace's dispatcher and the -RunAsync batch script. Script
    /// can only reach public types, so these are public; they are not meant for users.
    /// </summary>
    [EditorBrowsable(EditorBrowsableState.Never)]
    public static class EntryPoints
    {
        /// <summary>Runs waiting default handlers of the runspace with this id (engine event action).</summary>
        public static void Drain(string runspaceId) => RunspaceDispatcher.Drain(runspaceId);

        /// <summary>Marks the current pool thread as running a batch of this -RunAsync subscription.</summary>
        public static void EnterBatch(string subscriptionId) => AsyncSubscription.EnterBatch(subscriptionId);

        /// <summary>Clears the mark set by <see cref="EnterBatch"/>.</summary>
        public static void ExitBatch() => AsyncSubscription.ExitBatch();

        /// <summary>True once the -RunAsync subscription was removed: its batch stops early.</summary>
        public static bool IsRemoved(string subscriptionId) => AsyncSubscription.IsRemoved(subscriptionId);
    }
}
