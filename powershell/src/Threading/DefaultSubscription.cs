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
        // Outcomes of the batch being handled. The owner's thread adds to them; whoever reports
        // takes them (read and zeroed at once): the owner when the batch ends, or a thread that
        // removes the subscription meanwhile. So each outcome is reported once.
        private int _handled;
        private int _failed;
        private int _filtered;
        private string? _lastError;
        /// <summary>True while the owner's thread runs this subscription's filter or handler.</summary>
        internal volatile bool InHandler;
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

        /// <summary>Counts one message's outcome (owner's thread).</summary>
        public void Count(HandlerInvoker.Outcome outcome, string? error)
        {
            switch (outcome)
            {
                case HandlerInvoker.Outcome.Handled: Interlocked.Increment(ref _handled); break;
                case HandlerInvoker.Outcome.Filtered: Interlocked.Increment(ref _filtered); break;
                default:
                    _lastError = error;
                    Interlocked.Increment(ref _failed);
                    break;
            }
        }

        /// <summary>Takes the outcomes counted since the last take.</summary>
        public (int Handled, int Failed, int Filtered, string? LastError) TakeCounts()
            => (Interlocked.Exchange(ref _handled, 0), Interlocked.Exchange(ref _failed, 0),
                Interlocked.Exchange(ref _filtered, 0), Interlocked.Exchange(ref _lastError, null));

        public override void Stop() => Dispatcher.Remove(this);
    }
}
