using System;
using System.Collections.Generic;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// One batch of a -RunAsync subscription on its way through a pool runspace: the messages
    /// and -ArgumentList going in, the counts coming out. The pool thread counts as it goes;
    /// the counts are reported once, by whoever comes first: the subscription's worker when the
    /// pool's Invoke returned, or a removal that cannot wait for the batch to end (from inside
    /// it, or one that gave up waiting), which counts a handler running then as a delivery.
    /// </summary>
    internal sealed class AsyncBatch
    {
        private readonly object _gate = new();
        private int _handled;
        private int _failed;
        private int _filtered;
        private string? _lastError;
        private bool _inHandler;
        private bool _reported;

        public AsyncBatch(AsyncSubscription subscription, List<object> messages, object[] arguments)
        {
            Subscription = subscription;
            SubscriptionId = subscription.Id.ToString("N");
            Messages = messages;
            Arguments = arguments;
        }

        public AsyncSubscription Subscription { get; }
        public string SubscriptionId { get; }
        public List<object> Messages { get; }
        public object[] Arguments { get; }

        /// <summary>The pool thread, before a handler call: false once the batch was reported (stop).</summary>
        public bool TryStartHandler()
        {
            lock (_gate)
            {
                if (_reported) return false;
                _inHandler = true;
                return true;
            }
        }

        /// <summary>The pool thread, after a handler call: counts it; false once the batch was reported (stop).</summary>
        public bool EndHandler(HandlerInvoker.Outcome outcome, string? error)
        {
            lock (_gate)
            {
                _inHandler = false;
                if (_reported) return false; // counted by the report, as running
                switch (outcome)
                {
                    case HandlerInvoker.Outcome.Handled: _handled++; break;
                    case HandlerInvoker.Outcome.Filtered: _filtered++; break;
                    default: _failed++; _lastError = error; break;
                }
                return true;
            }
        }

        /// <summary>An error outside any handler call (the batch could not run).</summary>
        public void NoteError(string error)
        {
            lock (_gate) _lastError = error;
        }

        /// <summary>
        /// Reports the counts once (a handler running now counts as handled); false if they were
        /// reported already. The report is made under the batch's lock, so a second caller returns
        /// only once the first one's report has reached the core (a removal then goes on to
        /// unsubscribe, which must come after it).
        /// </summary>
        public bool ReportOnce(Action<int, int, int, string?> report)
        {
            lock (_gate)
            {
                if (_reported) return false;
                _reported = true;
                report(_handled + (_inHandler ? 1 : 0), _failed, _filtered, _lastError);
                return true;
            }
        }
    }
}
