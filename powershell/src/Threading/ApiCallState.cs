using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// One Invoke-ModuleAPI call as the PowerShell layer tracks it while the native pipeline
    /// runs. The native core carries only the call's <see cref="Tag"/>; every stage callback finds
    /// this object by it. Stages run strictly nested (one at a time, even when a stage hops to
    /// another runspace's thread), so the fields need no lock; the waits between threads order
    /// the writes.
    /// </summary>
    internal sealed class ApiCallState
    {
        private static readonly ConcurrentDictionary<ulong, ApiCallState> s_calls = new();
        private static long s_nextTag;

        private ApiCallState(ApiContext context)
        {
            Tag = (ulong)Interlocked.Increment(ref s_nextTag);
            Context = context;
            context.State = this;
        }

        /// <summary>The tag the native request carries.</summary>
        public ulong Tag { get; }

        /// <summary>$Context of the call.</summary>
        public ApiContext Context { get; }

        /// <summary>-Async, or a call a stage of one makes: every stage runs in the pool runspace of the job, re-created from its text.</summary>
        public bool RunInPool { get; set; }

        /// <summary>The depth of the call that started this one from another thread (-Async in a handler).</summary>
        public uint ParentDepth { get; set; }

        /// <summary>The effective timeout, if any.</summary>
        public TimeSpan? Timeout { get; private set; }

        /// <summary>Stopwatch timestamp of the deadline; long.MaxValue without a timeout.</summary>
        public long Deadline { get; private set; } = long.MaxValue;

        /// <summary>Output of the PowerShell stage that finished last: the result so far.</summary>
        public object? Result;

        /// <summary>True when <see cref="Result"/> holds several output objects (an array of them), not one.</summary>
        public bool ResultIsList;

        /// <summary>
        /// The result for a consumer that enumerates what it gets (a pipeline, a method's return
        /// value in script): several outputs as their array; one output that is itself a
        /// collection wrapped, so it arrives as the one object the handler wrote.
        /// </summary>
        public object? ResultForPipeline
            => ResultIsList || Result == null || LanguagePrimitives.GetEnumerable(Result) == null ? Result : new object?[] { Result };

        /// <summary>A stop, exit or break met inside a stage; rethrown once the native frames are gone.</summary>
        public ExceptionDispatchInfo? FlowControl;

        /// <summary>Non-terminating errors stages wrote in another runspace, for the calling cmdlet to write.</summary>
        public readonly ConcurrentQueue<ErrorRecord> ForeignErrors = new();

        /// <summary>The first exception a stage threw: the InnerException of the call's error.</summary>
        public Exception? FirstFailure;

        /// <summary>
        /// An error of the rest of this call that a middleware let through (rethrew from $Next):
        /// the native call keeps only its category and message, so its parameter errors come from here.
        /// </summary>
        public ApiInvocationException? PassedThrough;

        /// <summary>Set when the call's deadline stopped it.</summary>
        public volatile bool TimedOut;

        /// <summary>The native outcome: the status of mc_api_invoke and, on failure, its error.</summary>
        public Native.McStatus Status = Native.McStatus.Ok;
        public ApiInvocationException? Error;

        /// <summary>
        /// The Invoke-ModuleAPI (or Test-ModuleAPI) running the call on its own thread: stages that run
        /// directly in its pipeline write their non-terminating errors through it (-ErrorVariable works).
        /// </summary>
        public PSCmdlet? Cmdlet;
        public System.Management.Automation.Runspaces.Runspace? CmdletRunspace;

        /// <summary>True while the call runs inside its own nested (stoppable) pipeline.</summary>
        public bool InNestedPipeline;

        // ----- resilience and security (Invoke-ModuleAPI -AuthenticationToken -RetryAttempts -EnableCircuitBreaker)

        /// <summary>The token for the native security stage; never written anywhere else.</summary>
        public string? AuthenticationToken;
        /// <summary>The token's user was asked for (once per call: it stays null while security is off).</summary>
        public bool UserFetched;

        /// <summary>Retries after the first attempt; null: the retry policy's MaxRetries.</summary>
        public int? RetryAttempts;

        /// <summary>Whether the API's circuit breaker guards the call; null: yes.</summary>
        public bool? CircuitBreaker;

        /// <summary>
        /// A timed call that may retry: each attempt gets its own deadline and its own stoppable
        /// nested pipeline (started by its first PowerShell stage), so a timed-out attempt can be
        /// followed by another.
        /// </summary>
        public bool AttemptScoped => HasDeadline && RetryAttempts != 0;

        /// <summary>The native attempt (0-based) the last stage ran in.</summary>
        public uint Attempt;

        /// <summary>True while an attempt's nested pipeline runs (its inner stages run inline in it).</summary>
        public bool InAttempt;

        /// <summary>The status the first stage of an attempt returned inside its nested pipeline.</summary>
        public uint AttemptStatus;

        /// <summary>Set by Ctrl+C or Stop-Job (through <see cref="MarkCancelled"/>): no further stage (of any attempt) runs.</summary>
        public volatile bool Cancelled;

        private readonly ManualResetEventSlim _cancelledSignal = new(false);

        /// <summary>Set once the call is cancelled: wakes a caller waiting for another runspace's stage.</summary>
        public WaitHandle CancelledHandle => _cancelledSignal.WaitHandle;

        /// <summary>
        /// The native call's cancel flag (mc_api_invoke_cancellable): pinned, so that its address
        /// stays valid while the state lives; set by <see cref="MarkCancelled"/>.
        /// </summary>
        private readonly uint[] _cancelFlag = GC.AllocateArray<uint>(1, pinned: true);

        /// <summary>The address of the cancel flag, for the native call.</summary>
        public unsafe uint* CancelFlag => (uint*)Unsafe.AsPointer(ref _cancelFlag[0]);

        /// <summary>
        /// Marks the call cancelled (Ctrl+C, Stop-Job) and wakes whoever waits on it: a caller
        /// waiting for another runspace's stage, and the native call if it waits out a retry delay.
        /// </summary>
        public void MarkCancelled()
        {
            Cancelled = true;
            _cancelledSignal.Set();
            Volatile.Write(ref _cancelFlag[0], 1u);
            NativeMethods.mc_api_wake_cancelled(ModuleHub.Handle);
        }

        /// <summary>Starts attempt <paramref name="attempt"/>: a fresh deadline, not timed out.</summary>
        public void BeginAttempt(uint attempt)
        {
            Attempt = attempt;
            lock (_gate)
            {
                TimedOut = false;
                SetTimeout(Timeout);
            }
        }

        /// <summary>Makes <paramref name="ps"/> the stoppable pipeline; returns the one it replaces (null if timed out already).</summary>
        public bool SwapStoppable(PowerShell ps, out PowerShell? previous)
        {
            lock (_gate)
            {
                previous = _stoppable;
                if (TimedOut) return false;
                _stoppable = ps;
            }
            if (OnCallersThread) CancelWhenStopped(ps);
            return true;
        }

        /// <summary>
        /// Whether this thread runs the caller's pipeline (the calling cmdlet's runspace, or an
        /// -Async job's): only a stop of a nested pipeline there is the caller's Ctrl+C. Stages
        /// of another runspace's call also run in nested pipelines on their owner's thread.
        /// </summary>
        private bool OnCallersThread
            => RunInPool || ReferenceEquals(System.Management.Automation.Runspaces.Runspace.DefaultRunspace, CmdletRunspace);

        /// <summary>
        /// Ctrl+C on the caller stops its nested pipelines first, and PowerShell waits for them
        /// before it tells the cmdlet (StopProcessing): so a stop of <paramref name="ps"/> that is
        /// not the call's own deadline cancels the call, and a caller waiting for another
        /// runspace's stage wakes at once instead of when that stage ends.
        /// </summary>
        private void CancelWhenStopped(PowerShell ps)
            => ps.InvocationStateChanged += (_, e) =>
            {
                if (e.InvocationStateInfo.State != PSInvocationState.Stopping) return;
                bool ours;
                // Our deadline, or a pipeline the call no longer runs in (an attempt that ended:
                // its late event must not cancel the next attempt).
                lock (_gate) ours = TimedOut || !ReferenceEquals(_stoppable, ps);
                if (!ours) MarkCancelled();
            };

        /// <summary>Puts back the stoppable pipeline an attempt replaced.</summary>
        public void RestoreStoppable(PowerShell? previous)
        {
            lock (_gate) _stoppable = previous;
        }

        /// <summary>The nested pipeline the call runs in, when it has a deadline (stopped when it passes).</summary>
        private PowerShell? _stoppable;
        private readonly object _gate = new();

        public static ApiCallState Start(ApiContext context)
        {
            var state = new ApiCallState(context);
            s_calls[state.Tag] = state;
            return state;
        }

        public static bool TryGet(ulong tag, out ApiCallState state) => s_calls.TryGetValue(tag, out state!);

        public void End() => s_calls.TryRemove(Tag, out _);

        public void SetTimeout(TimeSpan? timeout)
        {
            Timeout = timeout;
            Deadline = timeout.HasValue
                ? Stopwatch.GetTimestamp() + (long)(timeout.Value.TotalSeconds * Stopwatch.Frequency)
                : long.MaxValue;
        }

        public bool HasDeadline => Deadline != long.MaxValue;

        /// <summary>Time left before the deadline (zero once passed); null without one.</summary>
        public TimeSpan? Remaining
        {
            get
            {
                if (!HasDeadline) return null;
                long left = Deadline - Stopwatch.GetTimestamp();
                return left <= 0 ? TimeSpan.Zero : TimeSpan.FromSeconds((double)left / Stopwatch.Frequency);
            }
        }

        public bool DeadlinePassed => HasDeadline && Stopwatch.GetTimestamp() >= Deadline;

        /// <summary>The timeout in milliseconds for the native request (at least 1).</summary>
        public ulong? TimeoutMs => Timeout.HasValue ? (ulong)Math.Max(1, Math.Ceiling(Timeout.Value.TotalMilliseconds)) : null;

        /// <summary>Registers the pipeline to stop when the deadline passes; returns false if it already passed.</summary>
        public bool AttachStoppable(PowerShell ps)
        {
            lock (_gate)
            {
                if (TimedOut) return false;
                _stoppable = ps;
            }
            if (OnCallersThread) CancelWhenStopped(ps);
            return true;
        }

        public void DetachStoppable()
        {
            lock (_gate) _stoppable = null;
        }

        /// <summary>Timer callback: marks the call as timed out and stops its pipeline.</summary>
        public void FireTimeout()
        {
            PowerShell? ps;
            lock (_gate)
            {
                TimedOut = true;
                ps = _stoppable;
            }
            try
            {
                ps?.BeginStop(null, null);
            }
            catch
            {
                // Already finished or disposed: nothing left to stop.
            }
        }

        /// <summary>Ctrl+C: stops the call's nested pipeline, if it has one (a stage stopped by it reports the stop).</summary>
        public void Cancel()
        {
            MarkCancelled();
            PowerShell? ps;
            lock (_gate) ps = _stoppable;
            try
            {
                ps?.BeginStop(null, null);
            }
            catch
            {
                // Finished meanwhile.
            }
        }

        private int _started;

        /// <summary>Whether the call began to run (an -Async call waits for a pool runspace first).</summary>
        public bool Started => Volatile.Read(ref _started) != 0;

        public void MarkStarted() => Volatile.Write(ref _started, 1);

        /// <summary>An -Async call whose timeout passed while it waited for a pool runspace.</summary>
        public string NotStartedMessage()
            => $"{Context.APIKey} did not start within its timeout of {Timeout?.TotalMilliseconds:0.###} ms: no runspace of the "
             + $"module's pool ({AsyncHandlerPool.MaxRunspaces}, shared by -Async calls and -RunAsync handlers) came free in time. "
             + "Allow more time with -Timeout, or wait for running -Async calls (Wait-Job) before starting more.";

        public string TimeoutMessage(string what)
            => $"{Context.APIKey} did not complete within its timeout of {Timeout?.TotalMilliseconds:0.###} ms; {what} was stopped. "
             + "Allow more time with -Timeout, or make the handler faster. A handler blocked inside a single .NET call "
             + "(such as [Threading.Thread]::Sleep) stops only when that call returns.";
    }
}
