using System;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// Every PowerShell-handled subscription of the process, by native id and by the integer
    /// key handed to the native notify callback. A key, not a GCHandle, travels through native
    /// code, so a late notify for a removed subscription finds nothing and does nothing.
    /// </summary>
    internal static unsafe class SubscriptionRegistry
    {
        private static readonly ConcurrentDictionary<long, HandlerSubscription> s_byKey = new();
        private static readonly ConcurrentDictionary<Guid, HandlerSubscription> s_byId = new();
        private static long s_nextKey;

        public static long NextKey() => Interlocked.Increment(ref s_nextKey);

        public static delegate* unmanaged[Cdecl]<nint, void> NotifyCallback => &Notify;

        public static void Add(HandlerSubscription subscription)
        {
            s_byKey[subscription.Key] = subscription;
            s_byId[subscription.Id] = subscription;
        }

        public static bool TryGet(Guid id, out HandlerSubscription subscription)
            => s_byId.TryGetValue(id, out subscription!);

        public static void Remove(HandlerSubscription subscription)
        {
            subscription.Removed = true;
            s_byKey.TryRemove(subscription.Key, out _);
            s_byId.TryRemove(subscription.Id, out _);
        }

        /// <summary>
        /// Native notify callback. Runs on whatever thread published (possibly a Rust thread):
        /// it only looks up the subscription and signals; it never runs script and never throws.
        /// </summary>
        [UnmanagedCallersOnly(CallConvs = new[] { typeof(CallConvCdecl) })]
        private static void Notify(nint key)
        {
            try
            {
                if (s_byKey.TryGetValue(key, out HandlerSubscription? subscription)) subscription.OnNotify();
            }
            catch
            {
                // An exception must never cross into native frames; a lost signal is recovered
                // by the next publish or pump.
            }
        }
    }
}
