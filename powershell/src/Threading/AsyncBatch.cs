using System.Collections.Generic;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// One batch of a -RunAsync subscription on its way through a pool runspace: the messages
    /// and -ArgumentList going in, the counts coming out. The pool thread fills the counts in
    /// as it goes; the subscription's worker reads them once the pool's Invoke returned.
    /// </summary>
    internal sealed class AsyncBatch
    {
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
        public int Handled;
        public int Failed;
        public int Filtered;
        public string? LastError;
        /// <summary>Set once the batch's counts were reported from inside it (its subscription was removed there).</summary>
        public bool Reported;
    }
}
