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

        /// <summary>The body of a middleware's $Next: runs the rest of the API pipeline, returns its output.</summary>
        public static object? ApiNext(object? context) => ApiRunner.Next(context);

        /// <summary>Runs the API call with this tag (the nested pipeline of a timed call, or an -Async job).</summary>
        public static object? RunApiCall(ulong tag) => ApiRunner.RunCallEntry(tag);

        /// <summary>The failure text of a -RunAsync handler that used break or continue outside a loop.</summary>
        public static string LoopControlMessage => HandlerInvoker.LoopControlMessage;

        /// <summary>Runs the first PowerShell stage of an API call's attempt, inside that attempt's nested pipeline.</summary>
        public static void RunApiAttempt(ulong tag, long stageKey, ulong call) => ApiRunner.RunAttemptEntry(tag, stageKey, call);

        /// <summary>Runs a stage posted by another runspace's call, inside this runspace's nested pipeline.</summary>
        public static void RunWorkItem(long id) => ApiWorkItem.RunInNestedPipeline(id);
    }
}
