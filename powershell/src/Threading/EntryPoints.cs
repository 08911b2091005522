using System.ComponentModel;
using System.Management.Automation;

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
        /// <summary>Runs the waiting default handlers of the calling thread's runspace (engine event action).</summary>
        public static void Drain() => RunspaceDispatcher.Drain();

        /// <summary>Runs one -RunAsync batch (an AsyncBatch) in the pool runspace the batch script runs in.</summary>
        public static void RunBatch(object batch, ScriptBlock handler, ScriptBlock? filter)
            => AsyncSubscription.HandleBatch((AsyncBatch)(batch is PSObject p ? p.BaseObject : batch), handler, filter);

        /// <summary>The body of a middleware's $Next: runs the rest of the API pipeline, returns its output.</summary>
        public static object? ApiNext(object? context) => ApiRunner.Next(context);

        /// <summary>Runs the API call with this tag (the nested pipeline of a timed call, or an -Async job).</summary>
        public static object? RunApiCall(ulong tag) => ApiRunner.RunCallEntry(tag);

        /// <summary>Runs the first PowerShell stage of an API call's attempt, inside that attempt's nested pipeline.</summary>
        public static void RunApiAttempt(ulong tag, long stageKey, ulong call) => ApiRunner.RunAttemptEntry(tag, stageKey, call);

        /// <summary>Runs a stage posted by another runspace's call, inside this runspace's nested pipeline.</summary>
        public static void RunWorkItem(long id) => ApiWorkItem.RunInNestedPipeline(id);
    }
}
