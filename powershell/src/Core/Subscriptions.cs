using System;
using System.Threading;
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
            long BlockTimeoutMs, string? SourceModule, string? AuthenticationToken = null);

        /// <summary>A message subscription whose handler runs in the calling cmdlet's runspace.</summary>
        public static HandlerSubscription AddDefault(PSCmdlet cmdlet, Options o, ScriptBlock handler, ScriptBlock? filter)
            => AddDefault(cmdlet, SubscriptionSource.ForMessages(o), handler, filter);

        /// <summary>A message subscription whose handler runs on the async runspace pool, removed when the caller's runspace closes.</summary>
        public static HandlerSubscription AddAsync(PSCmdlet? cmdlet, Options o, ScriptBlock handler, ScriptBlock? filter, object[] arguments)
            => AddAsync(cmdlet, SubscriptionSource.ForMessages(o), handler, filter, arguments);

        /// <summary>A subscription (message or event) whose handler runs in the calling cmdlet's runspace.</summary>
        public static HandlerSubscription AddDefault(PSCmdlet cmdlet, SubscriptionSource source, ScriptBlock handler, ScriptBlock? filter)
        {
            RunspaceDispatcher dispatcher = RunspaceDispatcher.ForCurrentRunspace(cmdlet);
            long key = SubscriptionRegistry.NextKey();
            // Registered before the native subscription exists, so no early notification is lost.
            DefaultSubscription? subscription = null;
            Guid id = source.Subscribe(notify: true, key);
            subscription = new DefaultSubscription(id, key, handler, filter, source, dispatcher);
            dispatcher.Add(subscription);
            SubscriptionRegistry.Add(subscription);
            // A message published between the native subscribe and the registration above
            // notified nobody: signal once so it is not left waiting.
            dispatcher.Signal();
            return subscription;
        }

        /// <summary>
        /// A subscription (message or event) whose handler runs on the async runspace pool. Like
        /// a default subscription it belongs to the calling cmdlet's runspace (when there is a
        /// cmdlet) and is removed when that runspace closes: a subscription left behind by a
        /// closed runspace (a job, a test) would run its handler for ever and keep the runspace
        /// in memory through its script block.
        /// </summary>
        public static HandlerSubscription AddAsync(PSCmdlet? cmdlet, SubscriptionSource source, ScriptBlock handler,
            ScriptBlock? filter, object[] arguments)
        {
            RunspaceDispatcher? owner = cmdlet == null ? null : RunspaceDispatcher.ForCurrentRunspace(cmdlet);
            // Open the pool now (the first time costs a runspace start and a module import), so
            // that handlers run promptly once this returns, whatever the subscriber does next.
            _ = AsyncHandlerPool.Pool;
            long key = SubscriptionRegistry.NextKey();
            Guid id = source.Subscribe(notify: false, key);
            var subscription = new AsyncSubscription(id, key, handler, filter, source, arguments, owner);
            SubscriptionRegistry.Add(subscription);
            owner?.Add(subscription);
            subscription.Start();
            return subscription;
        }

        /// <summary>
        /// Removes a subscription; false when no such subscription exists. A -RunAsync handler
        /// running now is waited for, unless <paramref name="cancel"/> fires meanwhile (Ctrl+C),
        /// which stops it; <paramref name="stopRunningHandler"/> (its runspace is closing) stops
        /// it at once and waits only briefly.
        /// </summary>
        public static bool Remove(Guid id, CancellationToken cancel = default, bool stopRunningHandler = false)
        {
            SubscriptionRegistry.TryGet(id, out HandlerSubscription? subscription);
            // Deliveries are counted when a batch ends, and the core forgets a removed subscription:
            // a default handler's batch reports what it did now; a -RunAsync batch still running
            // is let end first, or, when this is called from inside that batch (which cannot be
            // waited for), reports now. An idle worker is not waited for first: unsubscribing
            // wakes it from its take.
            if (subscription is DefaultSubscription d)
            {
                SubscriptionRegistry.Remove(d); // marks it Removed: no handler call starts after this
                RunspaceDispatcher.ReportBeforeRemoval(d);
            }
            (subscription as AsyncSubscription)?.ReportBeforeRemoval();
            bool finishFirst = subscription is AsyncSubscription a && a.InBatch;
            if (finishFirst)
            {
                SubscriptionRegistry.Remove(subscription!);
                ((AsyncSubscription)subscription!).Stop(cancel, stopRunningHandler);
            }
            bool removed = Bus.Unsubscribe(id);
            if (subscription != null && !finishFirst)
            {
                SubscriptionRegistry.Remove(subscription);
                // A -RunAsync batch may have started since InBatch was read: the same rules apply.
                if (subscription is AsyncSubscription started) started.Stop(cancel, stopRunningHandler);
                else subscription.Stop();
            }
            return removed || subscription != null;
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

    /// <summary>
    /// What a PowerShell-handled subscription subscribes to natively and what its handler
    /// receives: messages (ModuleMessage) or events (ModuleEvent). Everything else — the
    /// dispatcher, the -RunAsync pool, counting — is shared.
    /// </summary>
    internal sealed unsafe class SubscriptionSource
    {
        private readonly Func<bool, nint, Guid> _subscribe;

        private SubscriptionSource(SubscriptionKind kind, ItemReader read, Func<bool, nint, Guid> subscribe)
        {
            Kind = kind;
            Read = read;
            _subscribe = subscribe;
        }

        public SubscriptionKind Kind { get; }

        public ItemReader Read { get; }

        /// <summary>Makes the native pull subscription; with <paramref name="notify"/>, its notifications signal the registry.</summary>
        public Guid Subscribe(bool notify, long key) => _subscribe(notify, (nint)key);

        private static delegate* unmanaged[Cdecl]<nint, void> Notifier(bool notify)
            => notify ? SubscriptionRegistry.NotifyCallback : null;

        public static SubscriptionSource ForMessages(Subscriptions.Options o) => new(SubscriptionKind.Message, ItemReaders.Message,
            (notify, key) => Bus.SubscribePull(o.Channel, o.MessageType, o.Capacity, o.Overflow, o.BlockTimeoutMs, o.SourceModule,
                Notifier(notify), key, o.AuthenticationToken));

        public static SubscriptionSource ForEvents(EventBus.SubscribeOptions o) => new(SubscriptionKind.Event, ItemReaders.Event,
            (notify, key) => EventBus.SubscribePull(o, Notifier(notify), key));
    }
}
