using System;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Threading;
using ModuleCommunication.Native;

namespace ModuleCommunication.Threading
{
    /// <summary>Work another thread posts to a runspace's dispatcher, run on that runspace's own thread.</summary>
    internal abstract class DispatcherWorkItem
    {
        /// <summary>Runs on the owner's pipeline thread. Never throws.</summary>
        public abstract void Run();

        /// <summary>The runspace closed before the item ran. Never throws.</summary>
        public abstract void Abandon();
    }

    /// <summary>
    /// One API pipeline stage posted by a call running on another thread to the runspace that
    /// registered the stage. The poster waits on <see cref="Done"/> until the call's deadline; if
    /// it gives up first, <see cref="Cancel"/> keeps a pending item from ever running.
    /// </summary>
    internal sealed class ApiWorkItem : DispatcherWorkItem
    {
        private const int Pending = 0, Running = 1, Finished = 2, Cancelled = 3;
        private static readonly ConcurrentDictionary<long, ApiWorkItem> s_items = new();
        private static long s_nextId;

        private int _state;
        private readonly object _gate = new();

        public ApiWorkItem(ApiStage stage, ApiCallState state, ulong call)
        {
            Id = Interlocked.Increment(ref s_nextId);
            Stage = stage;
            State = state;
            Call = call;
        }

        public long Id { get; }
        public ApiStage Stage { get; }
        public ApiCallState State { get; }
        public ulong Call { get; }
        public ManualResetEventSlim Done { get; } = new(false);

        /// <summary>The stage's status (an mc_status); uint.MaxValue until it ran.</summary>
        public uint Status = uint.MaxValue;

        /// <summary>The nested pipeline the stage runs in, stopped at the deadline.</summary>
        private PowerShell? Stoppable;

        public void SetStoppable(PowerShell ps)
        {
            lock (_gate) Stoppable = ps;
        }

        public override void Run()
        {
            if (Interlocked.CompareExchange(ref _state, Running, Pending) != Pending) return;
            s_items[Id] = this;
            // This thread now works for the call: APIs the stage invokes nest in it, and what it
            // publishes is traced with the call's request id, as on the caller's own thread.
            bool entered = NativeMethods.mc_api_call_enter(Call) == McStatus.Ok;
            try
            {
                Status = ApiRunner.RunPosted(this);
            }
            catch (Exception e)
            {
                try
                {
                    Status = ApiRunner.Fail(Call, ApiErrorCategory.HandlerFailed, "Internal error running the stage in its runspace: " + e.Message);
                }
                catch
                {
                    Status = (uint)McStatus.HandlerFailed;
                }
            }
            finally
            {
                if (entered) NativeMethods.mc_api_call_leave(Call);
                s_items.TryRemove(Id, out _);
                lock (_gate) Stoppable = null;
                Volatile.Write(ref _state, Finished);
                Done.Set();
            }
        }

        /// <summary>The entry point the nested pipeline calls (EntryPoints.RunWorkItem).</summary>
        public static void RunInNestedPipeline(long id)
        {
            if (!s_items.TryGetValue(id, out ApiWorkItem? item)) return;
            item.Status = item.State.TimedOut || item.State.DeadlinePassed
                ? ApiRunner.Fail(item.Call, ApiErrorCategory.Timeout, item.State.TimeoutMessage(item.Stage.Name))
                : ApiRunner.RunHere(item.Stage, item.State, item.Call, recreate: false);
        }

        public override void Abandon()
        {
            if (Interlocked.CompareExchange(ref _state, Cancelled, Pending) == Pending)
            {
                try
                {
                    Status = ApiRunner.Fail(Call, ApiErrorCategory.Unavailable,
                        $"The runspace that registered {Stage.Name} ({Stage.Owner.InstanceId}) closed before it could run. Register it again.");
                }
                catch
                {
                    Status = (uint)McStatus.Unavailable;
                }
                Done.Set();
            }
        }

        /// <summary>The poster gave up: true when the item had not started (and now never will).</summary>
        public bool Cancel()
        {
            if (TryCancelPending()) return true;
            StopAtDeadline();
            return false;
        }

        /// <summary>True when the stage had not started, and now never will.</summary>
        public bool TryCancelPending() => Interlocked.CompareExchange(ref _state, Cancelled, Pending) == Pending;

        /// <summary>Stops the running stage (timer callback, or the poster giving up).</summary>
        public void StopAtDeadline()
        {
            State.TimedOut = true;
            Stop();
        }

        /// <summary>Stops the running stage's nested pipeline, if it runs (the call was stopped, or timed out).</summary>
        public void Stop()
        {
            PowerShell? ps;
            lock (_gate) ps = Stoppable;
            try
            {
                ps?.BeginStop(null, null);
            }
            catch
            {
                // Finished meanwhile.
            }
        }
    }
}
