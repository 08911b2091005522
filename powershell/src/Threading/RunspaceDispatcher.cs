using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using System.Threading;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Runs default handlers in the runspace that subscribed, on its own pipeline thread.
    ///
    /// Native notifications only set a flag and raise ONE engine event per batch; PowerShell
    /// runs the event's action (a call to <see cref="Drain"/>) at its next checkpoint (a
    /// command call, a loop iteration, the end of a pipeline), and the drain then runs every
    /// waiting handler within the ProcessorInterval budget. Wait-ModuleMessage drains directly
    /// (a pump), which is the full-throughput path. See docs/threading.md.
    /// </summary>
    internal sealed class RunspaceDispatcher
    {
        internal const int MaxBatch = 256;
        private static readonly ConcurrentDictionary<Guid, RunspaceDispatcher> s_byRunspace = new();
        private static long s_budgetMs = 100;

        [ThreadStatic] private static bool t_draining;

        private readonly Runspace _owner;
        // The runspace's event manager. Not readonly: ForEach-Object -Parallel reuses a runspace
        // for the next item after ResetRunspaceState, which gives it a new event manager
        // without our subscription (see EnsureBound).
        private volatile PSEventManager _events;
        private readonly string _sourceIdentifier;
        private readonly object _gate = new();
        private readonly List<DefaultSubscription> _subscriptions = new();
        // -RunAsync subscriptions made in this runspace: not drained here, removed when it closes.
        private readonly List<AsyncSubscription> _asyncSubscriptions = new();
        private readonly AutoResetEvent _wake = new(false);
        private volatile PSEventSubscriber? _engineSubscriber;
        // A ForEach-Object -Parallel runspace: the drain is a queued delegate (see TaskRunspaceReset).
        private readonly bool _isTaskRunspace;
        private readonly object _bindGate = new();
        private int _signalled;
        // Set when an engine event's drain came while a drain was already running on this
        // thread (a checkpoint inside a handler): it could not drain, so the outer drain asks
        // again when it ends, or the messages that signal arrived for would wait unseen.
        private int _missedDuringDrain;
        private long _lastDrainEnd;
        private readonly Timer _deferred;
        // Raises the engine event again when one raised has not led to a drain: PowerShell can
        // leave an event queued for good when it arrives as the runspace's pipeline ends (an
        // idle runspace is pulsed only for events raised while it is idle), and with the
        // signal flag set nothing else would raise one. Backs off, so a runspace that is
        // simply busy for long gets a handful of spare events, not a flood.
        private readonly Timer _watchdog;
        private long _watchdogMs = WatchdogFirstMs;
        private const string StoppedHandlerError = "the handler was stopped (Ctrl+C, Stop-Job or PowerShell.Stop) before it finished";
        private const long WatchdogFirstMs = 250;
        private const long WatchdogMaxMs = 30_000;

        /// <summary>
        /// Minimum time between the end of one drain and the next engine event. A publisher
        /// on the subscriber's own thread reaches a checkpoint at every command, so without
        /// this every message would cost a whole engine-event round trip; with it, messages
        /// arriving in a burst are handled in batches, for at most this much extra latency.
        /// </summary>
        private static readonly long s_coalesceTicks = Stopwatch.Frequency * 5 / 1000;

        // Work other threads post to run on this runspace's thread (API stages of calls made from
        // other runspaces). Run at the same checkpoints and pumps as default handlers.
        private readonly ConcurrentQueue<DispatcherWorkItem> _work = new();
        private readonly AutoResetEvent _workPosted = new(false);
        private volatile bool _closed;

        /// <summary>Raised (on any thread) when a dispatcher's runspace closes, with the runspace id.</summary>
        public static event Action<Guid>? RunspaceClosed;

        private RunspaceDispatcher(Runspace owner, PSEventManager events)
        {
            _owner = owner;
            _events = events;
            _sourceIdentifier = "ModuleCommunication.Dispatch." + owner.InstanceId.ToString("N");
            _isTaskRunspace = TaskRunspaceReset.IsTaskRunspace(owner.Name);
            _deferred = new Timer(_ => RaiseEngineEvent(onPoolThread: true), null, Timeout.Infinite, Timeout.Infinite);
            _watchdog = new Timer(_ => RaiseAgainIfNotDrained(), null, Timeout.Infinite, Timeout.Infinite);
        }

        /// <summary>The milliseconds one drain may hold the thread (ProcessorInterval).</summary>
        public static long BudgetMs
        {
            get => Interlocked.Read(ref s_budgetMs);
            set => Interlocked.Exchange(ref s_budgetMs, Math.Max(1, value));
        }

        /// <summary>The dispatcher of the calling cmdlet's runspace, created on first use.</summary>
        public static RunspaceDispatcher ForCurrentRunspace(PSCmdlet cmdlet)
        {
            Runspace owner = Runspace.DefaultRunspace
                ?? throw new InvalidOperationException("There is no runspace on this thread to deliver messages to.");
            RunspaceDispatcher dispatcher = s_byRunspace.GetOrAdd(owner.InstanceId, _ =>
            {
                var created = new RunspaceDispatcher(owner, cmdlet.Events);
                created.Attach();
                return created;
            });
            dispatcher.EnsureBound(cmdlet.Events);
            return dispatcher;
        }

        /// <summary>
        /// Owner's thread: subscribes the drain again when the runspace has a new event manager
        /// (a runspace reset, as ForEach-Object -Parallel does between items), and asks for a
        /// drain, since signals raised into the old manager were lost with it.
        /// </summary>
        private void EnsureBound(PSEventManager current)
        {
            lock (_bindGate)
            {
                if (ReferenceEquals(_events, current) && _engineSubscriber != null) return;
                _events = current;
                Subscribe();
            }
            RequestDrain();
        }

        /// <summary>The dispatcher of the current runspace, if it has one.</summary>
        public static RunspaceDispatcher? Current
            => Runspace.DefaultRunspace is Runspace r && s_byRunspace.TryGetValue(r.InstanceId, out RunspaceDispatcher? d) ? d : null;

        private void Attach()
        {
            // The action is one call into C#; it emits nothing and never throws, so the hidden
            // event job it runs in never grows (supportEvent: true keeps it out of Get-Job). Its
            // text is the same for every runspace (the drain finds its dispatcher from the thread's
            // runspace): PowerShell caches script blocks by text process-wide, and a text per
            // runspace left one cache entry behind for each runspace that ever subscribed.
            Subscribe();
            _owner.StateChanged += OnOwnerStateChanged;
            if (_isTaskRunspace) _owner.AvailabilityChanged += OnTaskRunspaceAvailabilityChanged;
        }

        /// <summary>
        /// A ForEach-Object -Parallel runspace starting its next item (see <see cref="TaskRunspaceReset"/>):
        /// the reset before it made a new event manager, so bind to that one, even if the item
        /// never calls a cmdlet of ours (handlers subscribed by an earlier item still run).
        /// </summary>
        private void OnTaskRunspaceAvailabilityChanged(object? sender, RunspaceAvailabilityEventArgs e)
        {
            if (_closed || e.RunspaceAvailability != RunspaceAvailability.Busy) return;
            PSEventManager? current = _owner.Events;
            if (current == null || ReferenceEquals(current, _events)) return;
            EnsureBound(current);
        }

        /// <summary>
        /// The drain as a queued delegate (ForEach-Object -Parallel runspaces). PowerShell runs it at
        /// the runspace's checkpoints, on the thread of its pipeline (such runspaces start a thread
        /// per pipeline, pulses included), or on the thread disposing the event manager: a
        /// thread-pool thread of ForEach-Object resetting the runspace for its next item (a pulse
        /// may make the runspace look busy meanwhile), or the thread closing it. Handlers must not
        /// run on those, and need not: the next item binds again and asks for a drain.
        /// </summary>
        private void OnQueuedDrain(object? sender, PSEventArgs e)
        {
            if (_closed || Thread.CurrentThread.IsThreadPoolThread) return;
            RunspaceAvailability availability = _owner.RunspaceAvailability;
            if (availability == RunspaceAvailability.Available || availability == RunspaceAvailability.None) return;
            Drain();
        }

        private void Subscribe()
        {
            if (_isTaskRunspace && TaskRunspaceReset.SubscribeQueuedDelegate(_events, _sourceIdentifier, OnQueuedDrain) is PSEventSubscriber queued)
            {
                _engineSubscriber = queued;
                return;
            }
            ScriptBlock action = ScriptBlock.Create("[ModuleCommunication.Threading.EntryPoints]::Drain()");
            _engineSubscriber = _events.SubscribeEvent(null, null, _sourceIdentifier, null, action, true, false);
        }

        public void Add(DefaultSubscription subscription)
        {
            lock (_gate) _subscriptions.Add(subscription);
        }

        public void Remove(DefaultSubscription subscription)
        {
            lock (_gate) _subscriptions.Remove(subscription);
        }

        public void Add(AsyncSubscription subscription)
        {
            lock (_gate) _asyncSubscriptions.Add(subscription);
        }

        public void Remove(AsyncSubscription subscription)
        {
            lock (_gate) _asyncSubscriptions.Remove(subscription);
        }

        /// <summary>True once the owner runspace closed: posted work would never run.</summary>
        public bool IsClosed => _closed;

        /// <summary>Set when work is posted; lets a waiting owner thread wake and run it.</summary>
        public WaitHandle WorkPosted => _workPosted;

        /// <summary>Any thread: queues work for the owner's thread; false when the owner has closed.</summary>
        public bool Post(DispatcherWorkItem item)
        {
            if (_closed) return false;
            _work.Enqueue(item);
            if (_closed)
            {
                AbandonPostedWork();
                return true; // the item was abandoned (its waiter sees that), not lost
            }
            _workPosted.Set();
            Signal();
            return true;
        }

        /// <summary>
        /// Owner's thread: runs the work items posted so far. Re-entrant (a work item may wait for,
        /// and run, more). Those posted meanwhile are left for the next round (each post signals
        /// one), so callers that never stop posting cannot keep the owner here: its script goes
        /// on between rounds, and a Ctrl+C there takes effect.
        /// </summary>
        public void RunPostedWork()
        {
            for (int n = _work.Count; n > 0 && _work.TryDequeue(out DispatcherWorkItem? item); n--) item.Run();
        }

        private void AbandonPostedWork()
        {
            while (_work.TryDequeue(out DispatcherWorkItem? item)) item.Abandon();
        }

        /// <summary>Any thread: asks for a drain even while a signal is still marked as raised.</summary>
        public void RequestDrain()
        {
            Interlocked.Exchange(ref _signalled, 0);
            Signal();
        }

        /// <summary>Any thread: asks the owner to drain at its next checkpoint.</summary>
        public void Signal()
        {
            _wake.Set();
            if (Interlocked.Exchange(ref _signalled, 1) != 0) return;
            long sinceDrain = Stopwatch.GetTimestamp() - Interlocked.Read(ref _lastDrainEnd);
            if (sinceDrain >= s_coalesceTicks)
            {
                RaiseEngineEvent(onPoolThread: false);
            }
            else
            {
                _deferred.Change((s_coalesceTicks - sinceDrain) * 1000 / Stopwatch.Frequency + 1, Timeout.Infinite);
            }
        }

        /// <summary>
        /// Queues the engine event whose action drains. <paramref name="onPoolThread"/>: the
        /// caller is a thread-pool thread of ours (the deferred timer), which may do the queuing
        /// itself; any other caller (a publisher) hands it to the pool as before, because
        /// queuing may pulse an idle owner runspace, and PowerShell invokes that pulse
        /// pipeline on the pulsing thread: a publisher must not run another runspace's work.
        /// Each pool work item saved matters: it leaves a pool thread spinning for more work,
        /// about a fifth of a core while a script published to its own handlers.
        /// </summary>
        private void RaiseEngineEvent(bool onPoolThread)
        {
            // An idle ForEach-Object -Parallel runspace is between items: PowerShell pulses an idle
            // runspace with a pipeline of its own, which can collide with the next item's start
            // ("a pipeline is already running"). The next item binds again and asks for a drain.
            if (_isTaskRunspace && _owner.RunspaceAvailability == RunspaceAvailability.Available) return;
            try
            {
                _watchdog.Change(Interlocked.Read(ref _watchdogMs), Timeout.Infinite);
            }
            catch (ObjectDisposedException)
            {
                return; // closed
            }
            try
            {
                _events.GenerateEvent(_sourceIdentifier, null, Array.Empty<object>(), null,
                    processInCurrentThread: onPoolThread, waitForCompletionInCurrentThread: false);
            }
            catch
            {
                // The runspace is closing; its subscriptions go with it.
            }
        }

        /// <summary>The watchdog (a pool thread): the signal is still set, so no drain has begun since the last raise.</summary>
        private void RaiseAgainIfNotDrained()
        {
            if (_closed || Volatile.Read(ref _signalled) == 0) return;
            // Only if no drain reset it meanwhile: a drain's reset must win.
            long current = Interlocked.Read(ref _watchdogMs);
            Interlocked.CompareExchange(ref _watchdogMs, Math.Min(WatchdogMaxMs, current * 2), current);
            RaiseEngineEvent(onPoolThread: true);
        }

        /// <summary>The engine event's action. Runs on the owner's pipeline thread.</summary>
        public static void Drain()
        {
            try
            {
                if (Current is not RunspaceDispatcher dispatcher) return;
                if (!dispatcher.DrainAvailable(out _))
                {
                    // Budget used up with work left: come back at the next checkpoint.
                    dispatcher.RequestDrain();
                }
            }
            catch (PipelineStoppedException)
            {
                throw;
            }
            catch
            {
                // Never let an exception into the event job; handler errors are already counted.
            }
        }

        /// <summary>
        /// Runs waiting handlers on this thread until the queues are empty or the budget is
        /// spent. Returns true when everything waiting was handled. Re-entrant calls (a handler
        /// calling a pump cmdlet) return at once.
        /// </summary>
        public bool DrainAvailable(out int handledCount)
        {
            handledCount = 0;
            if (t_draining)
            {
                RunPostedWork();
                Volatile.Write(ref _missedDuringDrain, 1);
                return true;
            }
            t_draining = true;
            try
            {
                Volatile.Write(ref _signalled, 0);
                Interlocked.Exchange(ref _watchdogMs, WatchdogFirstMs);
                RunPostedWork();
                long deadline = Stopwatch.GetTimestamp() + BudgetMs * Stopwatch.Frequency / 1000;
                DefaultSubscription[] subscriptions;
                lock (_gate) subscriptions = _subscriptions.ToArray();
                bool complete = true;
                foreach (DefaultSubscription subscription in subscriptions)
                {
                    if (!DrainOne(subscription, deadline, ref handledCount)) complete = false;
                }
                Interlocked.Exchange(ref _lastDrainEnd, Stopwatch.GetTimestamp());
                return complete;
            }
            finally
            {
                t_draining = false;
                if (Interlocked.Exchange(ref _missedDuringDrain, 0) != 0)
                {
                    // The engine event consumed inside left the signal set with no event pending.
                    RequestDrain();
                }
            }
        }

        private static bool DrainOne(DefaultSubscription s, long deadline, ref int handledCount)
        {
            long lastUrgentCheck = Stopwatch.GetTimestamp();
            while (!s.Removed)
            {
                if (s.Pending.Count == 0)
                {
                    List<object> batch;
                    try
                    {
                        batch = Bus.Take(s.Id, s.BatchSizer.Next, 0, s.Read);
                    }
                    catch (ModuleCommunicationException)
                    {
                        return true; // unsubscribed meanwhile
                    }
                    if (batch.Count == 0) return true;
                    foreach (object m in batch) s.Pending.Enqueue(m);
                    s.BatchCount = batch.Count;
                    s.BatchTicks = 0;
                }

                long started = Stopwatch.GetTimestamp();
                long now = started;
                while (s.Pending.Count > 0)
                {
                    if (!s.TryStartHandler()) return true; // removed: no handler starts
                    object message = s.Pending.Dequeue();
                    HandlerInvoker.Outcome outcome;
                    string? error;
                    try
                    {
                        outcome = HandlerInvoker.Invoke(s.Handler, s.Filter, message, out error);
                    }
                    catch
                    {
                        // The pipeline was stopped (Ctrl+C) inside the handler: leave the state
                        // Idle, or no handler of this subscription would ever start again, and
                        // count the message as failed, or it would be counted nowhere. The rest
                        // of the batch stays pending for the next drain, which reports it all, and
                        // is asked for now (this drain cleared the signal); a batch with nothing
                        // left is reported now, so no wait sees the stopped message in flight.
                        lock (s.ReportGate)
                        {
                            if (s.TryEndHandler()) s.Count(HandlerInvoker.Outcome.Failed, StoppedHandlerError);
                        }
                        if (s.Pending.Count == 0) ReportCompleted(s);
                        else s.Dispatcher.RequestDrain();
                        throw;
                    }
                    // Ending and counting in one step under the report lock, as the removal marks and
                    // counts under it: otherwise a removal between the two would report without it.
                    lock (s.ReportGate)
                    {
                        if (!s.TryEndHandler()) return true; // removed meanwhile: the removal counted it
                        s.Count(outcome, error);
                    }
                    handledCount++;
                    now = Stopwatch.GetTimestamp();
                    if (now > deadline && s.Pending.Count > 0)
                    {
                        s.BatchTicks += now - started;
                        return false;
                    }
                    // Only when the next message runs now: one taken with a time to live must not
                    // wait in Pending for a later drain.
                    if (s.Pending.Count > 0 && now - lastUrgentCheck >= UrgentMessages.CheckTicks)
                    {
                        lastUrgentCheck = now;
                        PutUrgentFirst(s);
                    }
                }

                s.BatchSizer.Observe(s.BatchCount, s.BatchTicks + now - started);
                ReportCompleted(s);
                if (now > deadline) return false;
            }
            return true;
        }

        /// <summary>Puts what arrived more urgent than the next pending message before it (see <see cref="UrgentMessages"/>).</summary>
        private static void PutUrgentFirst(DefaultSubscription s)
        {
            List<object> urgent = UrgentMessages.TakeAbove(s, s.Pending.Peek());
            if (urgent.Count == 0) return;
            object[] rest = s.Pending.ToArray();
            s.Pending.Clear();
            foreach (object m in urgent) s.Pending.Enqueue(m);
            foreach (object m in rest) s.Pending.Enqueue(m);
            s.BatchCount += urgent.Count;
        }

        /// <summary>
        /// Called when a subscription of a dispatcher is being removed, on any thread: marks
        /// it so that no handler starts, and reports what its batch handled so far, a handler
        /// running now as handled (it was called; the owner's thread then counts nothing for
        /// it). Deliveries are counted when a batch ends, and once the core forgets the
        /// subscription they could no longer be.
        /// </summary>
        public static void ReportBeforeRemoval(DefaultSubscription s)
        {
            lock (s.ReportGate)
            {
                if (s.MarkRemoved()) s.Count(HandlerInvoker.Outcome.Handled, null);
                ReportCompleted(s, onlyIfCounted: true);
            }
        }

        /// <summary>
        /// Reports the counted outcomes. Taking them and completing happen under one lock per
        /// subscription: a report (the owner's at the end of a batch, or a remover's) that
        /// completed the batch between another's take and complete would make that one's counts
        /// be refused.
        /// </summary>
        private static void ReportCompleted(DefaultSubscription s, bool onlyIfCounted = false)
        {
            lock (s.ReportGate)
            {
                (int handled, int failed, int filtered, string? lastError) = s.TakeCounts();
                if (onlyIfCounted && handled + failed + filtered == 0) return;
                try
                {
                    Bus.Complete(s.Id, handled, failed, filtered, lastError);
                }
                catch (ModuleCommunicationException)
                {
                    // Unsubscribed meanwhile: nothing left to report to.
                }
            }
        }

        /// <summary>
        /// Pumps this runspace's handlers until <paramref name="done"/> holds or the timeout
        /// passes. Only call on the owner's thread (a cmdlet of the owner runspace).
        /// </summary>
        public bool Pump(Func<bool> done, TimeSpan timeout, Func<bool> stopping)
        {
            var clock = Stopwatch.StartNew();
            while (true)
            {
                DrainAvailable(out _);
                if (done()) return true;
                if (stopping()) return false;
                TimeSpan left = timeout - clock.Elapsed;
                if (left <= TimeSpan.Zero) return false;
                // Woken by our own notifications at once; the 20 ms slice re-checks conditions
                // that other runspaces or native subscribers complete.
                _wake.WaitOne(left < TimeSpan.FromMilliseconds(20) ? left : TimeSpan.FromMilliseconds(20));
            }
        }

        private void OnOwnerStateChanged(object? sender, RunspaceStateEventArgs e)
        {
            RunspaceState state = e.RunspaceStateInfo.State;
            if (state != RunspaceState.Closing && state != RunspaceState.Closed && state != RunspaceState.Broken) return;
            if (!s_byRunspace.TryRemove(_owner.InstanceId, out _)) return;
            _owner.StateChanged -= OnOwnerStateChanged;
            if (_isTaskRunspace) _owner.AvailabilityChanged -= OnTaskRunspaceAvailabilityChanged;
            _deferred.Dispose();
            _watchdog.Dispose();
            _closed = true;
            AbandonPostedWork();
            try
            {
                RunspaceClosed?.Invoke(_owner.InstanceId);
            }
            catch
            {
                // A listener's failure must not stop the cleanup below.
            }
            DefaultSubscription[] subscriptions;
            lock (_gate) subscriptions = _subscriptions.ToArray();
            foreach (DefaultSubscription s in subscriptions)
            {
                SubscriptionRegistry.Remove(s);
                ReportBeforeRemoval(s); // a batch left pending across drains has counts to report
                try { Bus.Unsubscribe(s.Id); } catch (ModuleCommunicationException) { }
            }
            lock (_gate) _subscriptions.Clear();
            AsyncSubscription[] asyncSubscriptions;
            lock (_gate) asyncSubscriptions = _asyncSubscriptions.ToArray();
            foreach (AsyncSubscription s in asyncSubscriptions)
            {
                try { Subscriptions.Remove(s.Id, stopRunningHandler: true); } catch (ModuleCommunicationException) { }
            }
        }
    }
}
