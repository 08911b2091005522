using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Threading;
using ModuleCommunication.Core;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// A subscription whose handler runs in the subscriber's runspace, on that runspace's own
    /// thread, through its <see cref="RunspaceDispatcher"/>.
    /// </summary>
    internal sealed class DefaultSubscription : HandlerSubscription
    {
        /// <summary>Messages taken from the native queue but not yet handled (budget ran out).</summary>
        internal readonly Queue<object> Pending = new();
        // Outcomes of the batch being handled, read and written only under ReportGate. The
        // owner's thread adds to them; whoever reports takes them (read and zeroed): the owner
        // when the batch ends, or a thread that removes the subscription meanwhile. So each
        // outcome is reported once.
        private int _handled;
        private int _failed;
        private int _filtered;
        private string? _lastError;
        // Whether a filter or handler runs now, or the subscription was removed. Changed only by
        // compare-and-swap, so between the owner starting or ending a handler and a remover
        // marking the subscription removed exactly one side wins: a handler never starts after
        // the removal, and a running one is counted by exactly one of them.
        private const int Idle = 0, Running = 1, RemovedState = 2;
        private int _handlerState;
        /// <summary>Held while outcomes are taken and reported (see RunspaceDispatcher.ReportCompleted).</summary>
        internal readonly object ReportGate = new();
        /// <summary>How many messages the next take asks for; and the size and handling time of the batch being handled.</summary>
        internal readonly BatchSizer BatchSizer = new(RunspaceDispatcher.MaxBatch);
        internal int BatchCount;
        internal long BatchTicks;

        public DefaultSubscription(Guid id, long key, ScriptBlock handler, ScriptBlock? filter, SubscriptionSource source,
            RunspaceDispatcher dispatcher)
            : base(id, key, handler, filter, source)
        {
            Dispatcher = dispatcher;
        }

        public RunspaceDispatcher Dispatcher { get; }

        public override HandlerMode Mode => HandlerMode.Default;

        public override void OnNotify() => Dispatcher.Signal();

        /// <summary>Owner's thread: false when the subscription was removed (do not run the handler).</summary>
        public bool TryStartHandler() => Interlocked.CompareExchange(ref _handlerState, Running, Idle) == Idle;

        /// <summary>Owner's thread: false when the subscription was removed while the handler ran (the remover counted it).</summary>
        public bool TryEndHandler() => Interlocked.CompareExchange(ref _handlerState, Idle, Running) == Running;

        /// <summary>Remover: marks the subscription removed; true when a handler was running then.</summary>
        public bool MarkRemoved() => Interlocked.Exchange(ref _handlerState, RemovedState) == Running;

        /// <summary>Counts one message's outcome. Only under <see cref="ReportGate"/>.</summary>
        public void Count(HandlerInvoker.Outcome outcome, string? error)
        {
            switch (outcome)
            {
                case HandlerInvoker.Outcome.Handled: _handled++; break;
                case HandlerInvoker.Outcome.Filtered: _filtered++; break;
                default: _failed++; _lastError = error; break;
            }
        }

        /// <summary>Takes the outcomes counted since the last take. Only under <see cref="ReportGate"/>.</summary>
        public (int Handled, int Failed, int Filtered, string? LastError) TakeCounts()
        {
            var taken = (_handled, _failed, _filtered, _lastError);
            (_handled, _failed, _filtered, _lastError) = (0, 0, 0, null);
            return taken;
        }

        public override void Stop() => Dispatcher.Remove(this);
    }
}
