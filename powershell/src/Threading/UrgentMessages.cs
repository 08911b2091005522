using System.Collections.Generic;
using System.Diagnostics;
using ModuleCommunication.Core;
using ModuleCommunication.Native;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Lets a handler loop in the middle of a batch run what arrived more urgent than the
    /// batch's next message first. Batches are taken highest priority first, but a Critical
    /// message published while one runs waits in the queue; batch sizing keeps a batch to
    /// about one ProcessorInterval, which fails when the handler turns slow mid-batch. Loops
    /// ask at most once per <see cref="CheckTicks"/>, so a fast handler asks once per many messages (bench/messages.ps1 measures the path).
    /// </summary>
    internal static class UrgentMessages
    {
        /// <summary>How often (Stopwatch ticks of handler time) a loop asks: 1 ms.</summary>
        public static readonly long CheckTicks = Stopwatch.Frequency / 1000;

        private const int MaxTaken = 16;

        /// <summary>
        /// The messages waiting in the subscription's queue with a priority above that of
        /// <paramref name="next"/>, highest first (empty when none, or when the subscription is
        /// gone). They join the batch being handled, and its one report counts them.
        /// </summary>
        public static List<object> TakeAbove(HandlerSubscription subscription, object next)
        {
            MessagePriority above = PriorityOf(next);
            if (above == MessagePriority.Critical) return new List<object>();
            try
            {
                return Bus.TakeAbove(subscription.Id, MaxTaken, above, subscription.Read);
            }
            catch (ModuleCommunicationException)
            {
                return new List<object>(); // unsubscribed meanwhile: the loop sees Removed
            }
        }

        private static MessagePriority PriorityOf(object message) => message switch
        {
            ModuleMessage m => m.Priority,
            ModuleEvent e => e.Priority,
            _ => MessagePriority.Critical,
        };
    }
}
