using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// A -RunAsync subscription: a dedicated .NET thread takes batches from the native queue
    /// and runs the handler, re-created from its text, in a pooled runspace. Messages of one
    /// subscription are handled one after another, in delivery order; the subscriber's own
    /// thread is never involved, so handlers run even while it is blocked.
    /// </summary>
    internal sealed class AsyncSubscription : HandlerSubscription
    {
        private const int MaxBatch = 64;
        private const uint TakeTimeoutMs = 250;

        // Runs one batch in the pool runspace. Filter and handler are re-created from text,
        // because a script block must never run outside the runspace that made it; C# then runs
        // them for each message as it runs default handlers (HandlerInvoker).
        private const string BatchScript = @"
param($__mcBatch, [string]$__mcHandler, [string]$__mcFilter)
[ModuleCommunication.Threading.EntryPoints]::RunBatch($__mcBatch, [scriptblock]::Create($__mcHandler),
    $(if ($__mcFilter) { [scriptblock]::Create($__mcFilter) } else { $null }))";

        // The batch this pool thread is running, if any (see Stop and ReportBeforeRemoval).
        [ThreadStatic] private static AsyncBatch? t_batch;

        private readonly string _handlerText;
        private readonly string? _filterText;
        private readonly object[] _arguments;
        private readonly Thread _worker;
        private readonly BatchSizer _batchSizer = new(MaxBatch);

        private readonly RunspaceDispatcher? _owner;

        public AsyncSubscription(Guid id, long key, ScriptBlock handler, ScriptBlock? filter, SubscriptionSource source,
            object[] arguments, RunspaceDispatcher? owner)
            : base(id, key, handler, filter, source)
        {
            _owner = owner;
            _handlerText = handler.ToString();
            _filterText = filter?.ToString();
            _arguments = arguments;
            _worker = new Thread(Run) { IsBackground = true, Name = "ModuleCommunication async " + id };
        }

        public override HandlerMode Mode => HandlerMode.RunAsync;

        public void Start() => _worker.Start();

        public override void OnNotify()
        {
            // The worker blocks in the native take, which wakes on its own.
        }

        public override void Stop() => Stop(CancellationToken.None, stopRunningHandler: false);

        /// <summary>
        /// Waits for the worker to finish its batch, except where that wait would never end:
        /// from inside this subscription's own batch, or from a batch of a subscription that this
        /// one's batch is itself waiting to stop (two handlers removing each other's
        /// subscriptions: the second to ask does not wait). The worker stops after its current
        /// batch either way. A handler that never returns must not hold its caller for good:
        /// <paramref name="cancel"/> (Ctrl+C on Unsubscribe) stops the running handler and the
        /// wait; <paramref name="stopRunningHandler"/> (the subscribing runspace is closing, as
        /// when a script or job ends) stops it at once and waits at most <see cref="CloseWait"/>
        /// (a handler blocked in a .NET call stops only when that call returns).
        /// </summary>
        public void Stop(CancellationToken cancel, bool stopRunningHandler)
        {
            Removed = true;
            // Pairs with the worker's fence between publishing its pipeline and reading Removed:
            // either it sees Removed and does not start, or this sees the pipeline to stop.
            Interlocked.MemoryBarrier();
            _owner?.Remove(this);
            string id = Id.ToString("N");
            string? caller = t_batch?.SubscriptionId;
            if (Thread.CurrentThread == _worker || !BeginWait(caller, id))
            {
                ReportRunningBatch();
                return;
            }
            try
            {
                long giveUpAt = stopRunningHandler ? Stopwatch.GetTimestamp() + (long)(CloseWait.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
                while (true)
                {
                    if (stopRunningHandler) StopRunningBatch();
                    if (_worker.Join(50)) return;
                    if (cancel.IsCancellationRequested)
                    {
                        StopRunningBatch();
                        ReportRunningBatch();
                        return;
                    }
                    if (Stopwatch.GetTimestamp() > giveUpAt)
                    {
                        ReportRunningBatch();
                        return;
                    }
                }
            }
            finally
            {
                if (caller != null) lock (s_waits) s_waits.Remove(caller);
            }
        }

        private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

        // The pipeline running the current batch in the pool, while it runs.
        private volatile PowerShell? _batchPipeline;

        private void StopRunningBatch()
        {
            try
            {
                _batchPipeline?.BeginStop(null, null);
            }
            catch (Exception)
            {
                // Finished (or disposed) meanwhile: nothing left to stop.
            }
        }

        // Which subscription's batch waits in Stop for which subscription's worker.
        private static readonly Dictionary<string, string> s_waits = new();

        /// <summary>
        /// Records that the batch of <paramref name="caller"/> (null: not a -RunAsync batch, which
        /// nothing waits for) waits for <paramref name="target"/>, unless that closes a cycle.
        /// </summary>
        private static bool BeginWait(string? caller, string target)
        {
            if (caller == null) return true;
            lock (s_waits)
            {
                for (string? next = target; next != null; next = s_waits.TryGetValue(next, out string? n) ? n : null)
                {
                    if (next == caller) return false;
                }
                s_waits[caller] = target;
                return true;
            }
        }

        /// <summary>
        /// The batch script's call, on a pool runspace's thread: runs filter and handler for each
        /// message until the batch ends or the subscription is removed, counting into the batch
        /// as it goes (an interrupted batch still reports what it did).
        /// </summary>
        public static void HandleBatch(AsyncBatch batch, ScriptBlock handler, ScriptBlock? filter)
        {
            t_batch = batch;
            AsyncHandlerPool.NoteMember();
            try
            {
                List<object> messages = batch.Messages;
                long lastUrgentCheck = Stopwatch.GetTimestamp();
                for (int i = 0; i < messages.Count; i++)
                {
                    if (batch.Subscription.Removed) break;
                    long now = Stopwatch.GetTimestamp();
                    if (i > 0 && now - lastUrgentCheck >= UrgentMessages.CheckTicks)
                    {
                        // Taken into the batch (its report counts them), before the rest.
                        lastUrgentCheck = now;
                        messages.InsertRange(i, UrgentMessages.TakeAbove(batch.Subscription, messages[i]));
                    }
                    object message = messages[i];
                    if (!batch.TryStartHandler()) break;
                    HandlerInvoker.Outcome outcome;
                    string? error;
                    PoolInterrupts.Enter();
                    try
                    {
                        outcome = HandlerInvoker.Invoke(handler, filter, message, out error, batch.Arguments);
                    }
                    finally
                    {
                        PoolInterrupts.Leave();
                    }
                    // Reported meanwhile (the subscription was removed): this call was counted then.
                    if (!batch.EndHandler(outcome, error)) break;
                }
            }
            finally
            {
                t_batch = null;
            }
        }

        /// <summary>
        /// Called before this subscription is removed. From inside its own batch (its handler
        /// ending its subscription, or closing the runspace that made it), the removal cannot
        /// wait for the batch to end, so the batch's counts are reported now, the running
        /// handler counted as handled; the batch then stops and reports nothing more.
        /// </summary>
        public void ReportBeforeRemoval()
        {
            AsyncBatch? batch = t_batch;
            if (batch != null && batch.Subscription == this) Report(batch);
        }

        /// <summary>Reports the batch's counts unless they were reported already.</summary>
        private void Report(AsyncBatch batch) => batch.ReportOnce(Complete);

        private void Complete(int handled, int failed, int filtered, string? lastError)
        {
            try
            {
                Bus.Complete(Id, handled, failed, filtered, lastError);
            }
            catch (ModuleCommunicationException)
            {
                // Unsubscribed meanwhile: nothing left to report to.
            }
        }

        // The batch the worker runs in the pool now, if any.
        private volatile AsyncBatch? _runningBatch;

        /// <summary>
        /// Stop did not see the batch end (it gave up waiting, was cancelled, or could not wait):
        /// the core is about to forget the subscription, so what the batch did so far is reported
        /// now, a handler running then counted as a delivery, or all of it would count as Cleared.
        /// </summary>
        private void ReportRunningBatch()
        {
            if (_runningBatch is AsyncBatch batch) Report(batch);
        }

        private void Run()
        {
            while (!Removed)
            {
                List<object> batch;
                try
                {
                    batch = Bus.Take(Id, _batchSizer.Next, TakeTimeoutMs, Read);
                }
                catch (ModuleCommunicationException)
                {
                    return; // unsubscribed
                }
                catch (Exception e)
                {
                    // An exception escaping this thread would end the process: report it as the
                    // subscription's last error and go on with the next batch.
                    try { Bus.Complete(Id, 0, 0, 0, "A batch could not be read: " + e.Message); } catch (ModuleCommunicationException) { return; }
                    continue;
                }
                if (batch.Count == 0) continue;
                long started = Stopwatch.GetTimestamp();
                RunTakenBatch(batch);
                _batchSizer.Observe(batch.Count, Stopwatch.GetTimestamp() - started);
            }
        }

        /// <summary>True while the worker runs a batch (whose counts it reports when it ends).</summary>
        public bool InBatch => Volatile.Read(ref _inBatch) != 0;
        private int _inBatch;

        private void RunTakenBatch(List<object> batch)
        {
            Volatile.Write(ref _inBatch, 1);
            try
            {
                RunBatchCounted(batch);
            }
            finally
            {
                Volatile.Write(ref _inBatch, 0);
            }
        }

        private void RunBatchCounted(List<object> messages)
        {
            var batch = new AsyncBatch(this, messages, _arguments);
            _runningBatch = batch; // until reported: a Stop that gives up meanwhile reports it instead
            try
            {
                RunAndReport(batch, messages);
            }
            finally
            {
                _runningBatch = null;
            }
        }

        private void RunAndReport(AsyncBatch batch, List<object> messages)
        {
            try
            {
                using PowerShell ps = PowerShell.Create();
                ps.RunspacePool = AsyncHandlerPool.Pool;
                ps.AddScript(BatchScript, useLocalScope: true)
                  .AddArgument(batch)
                  .AddArgument(_handlerText)
                  .AddArgument(_filterText);
                Interlocked.Exchange(ref _batchPipeline, ps); // a full fence before reading Removed (see Stop)
                try
                {
                    if (!Removed) ps.Invoke(); // removed meanwhile: a stop request may have come before Invoke
                }
                finally
                {
                    _batchPipeline = null;
                }
            }
            catch (Exception e)
            {
                batch.NoteError(HandlerInvoker.Describe(e));
            }
            batch.ReportOnce((handled, failed, filtered, lastError) =>
            {
                int missing = messages.Count - handled - filtered - failed;
                if (missing > 0 && !Removed)
                {
                    failed += missing;
                    lastError ??= "The -RunAsync handler batch stopped early.";
                }
                Complete(handled, failed, filtered, lastError);
            });
        }
    }
}
