using System;
using System.Collections.Generic;
using System.Management.Automation;
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
        internal int Handled;
        internal int Failed;
        internal int Filtered;
        internal string? LastError;
        /// <summary>True while the owner's thread runs this subscription's filter or handler.</summary>
        internal bool InHandler;
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

        public override void Stop() => Dispatcher.Remove(this);
    }
}
