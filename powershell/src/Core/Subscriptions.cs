using System;
using System.Collections.Generic;
using System.Management.Automation;
using System.Text.Json;
using ModuleCommunication.Threading;

namespace ModuleCommunication.Core
{
    /// <summary>Creating, listing and removing PowerShell-handled subscriptions.</summary>
    internal static unsafe class Subscriptions
    {
        public sealed record Options(string Channel, string MessageType, long Capacity, OverflowPolicy? Overflow,
            long BlockTimeoutMs, string? SourceModule);

        /// <summary>A subscription whose handler runs in the calling cmdlet's runspace.</summary>
        public static HandlerSubscription AddDefault(PSCmdlet cmdlet, Options o, ScriptBlock handler, ScriptBlock? filter)
        {
            RunspaceDispatcher dispatcher = RunspaceDispatcher.ForCurrentRunspace(cmdlet);
            long key = SubscriptionRegistry.NextKey();
            // Registered before the native subscription exists, so no early notification is lost.
            DefaultSubscription? subscription = null;
            Guid id = Bus.SubscribePull(o.Channel, o.MessageType, o.Capacity, o.Overflow, o.BlockTimeoutMs, o.SourceModule,
                SubscriptionRegistry.NotifyCallback, (nint)key);
            subscription = new DefaultSubscription(id, key, handler, filter, dispatcher);
            dispatcher.Add(subscription);
            SubscriptionRegistry.Add(subscription);
            // A message published between the native subscribe and the registration above
            // notified nobody: signal once so it is not left waiting.
            dispatcher.Signal();
            return subscription;
        }

        /// <summary>A subscription whose handler runs on the async runspace pool.</summary>
        public static HandlerSubscription AddAsync(Options o, ScriptBlock handler, ScriptBlock? filter, object[] arguments)
        {
            // Open the pool now (the first time costs a runspace start and a module import), so
            // that handlers run promptly once this returns, whatever the subscriber does next.
            _ = AsyncHandlerPool.Pool;
            long key = SubscriptionRegistry.NextKey();
            Guid id = Bus.SubscribePull(o.Channel, o.MessageType, o.Capacity, o.Overflow, o.BlockTimeoutMs, o.SourceModule,
                null, (nint)key);
            var subscription = new AsyncSubscription(id, key, handler, filter, arguments);
            SubscriptionRegistry.Add(subscription);
            subscription.Start();
            return subscription;
        }

        /// <summary>Removes a subscription; false when no such subscription exists.</summary>
        public static bool Remove(Guid id)
        {
            bool removed = Bus.Unsubscribe(id);
            if (SubscriptionRegistry.TryGet(id, out HandlerSubscription? subscription))
            {
                SubscriptionRegistry.Remove(subscription);
                subscription.Stop();
                removed = true;
            }
            return removed;
        }

        public static List<SubscriptionInfo> List(string? channelPattern)
        {
            var result = new List<SubscriptionInfo>();
            List<(Guid Id, JsonElement Raw)> raw = Bus.ListSubscriptionsRaw(channelPattern, out JsonDocument owner);
            using (owner)
            {
                foreach ((Guid id, JsonElement element) in raw)
                {
                    bool known = SubscriptionRegistry.TryGet(id, out HandlerSubscription? s);
                    result.Add(Bus.ToSubscription(element, known ? s!.Mode : HandlerMode.Native, known && s!.Filter != null));
                }
            }
            return result;
        }

        public static SubscriptionInfo Describe(Guid id)
        {
            foreach (SubscriptionInfo s in List(null))
            {
                if (s.SubscriptionId == id) return s;
            }
            throw new InvalidOperationException($"Subscription {id} disappeared while it was being described.");
        }
    }
}
