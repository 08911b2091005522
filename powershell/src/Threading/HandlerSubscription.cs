using System;
using System.Management.Automation;
using ModuleCommunication.Core;
using System.Text.Json;

namespace ModuleCommunication.Threading
{
    /// <summary>
    /// A subscription whose handler is a PowerShell script block. The native core owns its
    /// queue; this side decides where and when the handler runs. Message and event
    /// subscriptions share all of it; only <see cref="Read"/> (what the handler receives:
    /// a ModuleMessage or a ModuleEvent) differs.
    /// </summary>
    internal abstract class HandlerSubscription
    {
        protected HandlerSubscription(Guid id, long key, ScriptBlock handler, ScriptBlock? filter, SubscriptionSource source)
        {
            Id = id;
            Key = key;
            Handler = handler;
            Filter = filter;
            Kind = source.Kind;
            Read = source.Read;
        }

        /// <summary>Message or event subscription.</summary>
        public SubscriptionKind Kind { get; }

        /// <summary>Turns one delivered JSON item into the object the handler receives.</summary>
        public ItemReader Read { get; }

        /// <summary>The native subscription id.</summary>
        public Guid Id { get; }

        /// <summary>The user_data value the native notify callback carries.</summary>
        public long Key { get; }

        public ScriptBlock Handler { get; }

        public ScriptBlock? Filter { get; }

        public abstract HandlerMode Mode { get; }

        /// <summary>Set once unsubscribed; from then on no handler call starts.</summary>
        public volatile bool Removed;

        /// <summary>Called on a publishing thread when the queue becomes non-empty: only signal.</summary>
        public abstract void OnNotify();

        /// <summary>Stops delivery; called after the native subscription is gone.</summary>
        public abstract void Stop();
    }
}
