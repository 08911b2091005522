using System;
using System.Diagnostics;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Sizes the batches a handler takes from its queue so that one batch runs for about one
    /// ProcessorInterval. Pausing, clearing and priority act on the queue, not on a batch
    /// already taken: with a fixed batch of 256, a pause or a Critical message waited for 256
    /// slow handlers. Sized by time, they wait about one interval, and fast handlers still get
    /// full batches. (A handler that turns slow mid-batch is covered for priority by
    /// <see cref="UrgentMessages"/>.)
    /// </summary>
    internal sealed class BatchSizer
    {
        // A new subscription starts with one message and grows at most fourfold per batch, so
        // slow handlers are never given a large first batch and fast ones reach full size quickly.
        private const int Growth = 4;
        private readonly int _max;
        private int _next = 1;

        public BatchSizer(int max) => _max = max;

        /// <summary>How many messages to take next.</summary>
        public int Next => _next;

        /// <summary>Records that <paramref name="count"/> messages took <paramref name="elapsedTicks"/> (Stopwatch ticks).</summary>
        public void Observe(int count, long elapsedTicks)
        {
            if (count <= 0) return;
            long budgetTicks = RunspaceDispatcher.BudgetMs * Stopwatch.Frequency / 1000;
            long perMessage = Math.Max(1, elapsedTicks / count);
            long fits = budgetTicks / perMessage;
            _next = (int)Math.Clamp(Math.Min(fits, (long)_next * Growth), 1, _max);
        }
    }
}
