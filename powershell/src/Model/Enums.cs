namespace ModuleCommunication
{
    /// <summary>Delivery priority: higher priorities are delivered first.</summary>
    public enum MessagePriority
    {
        /// <summary>Delivered after everything else.</summary>
        Low = 0,
        /// <summary>The default.</summary>
        Normal = 1,
        /// <summary>Delivered before Normal and Low.</summary>
        High = 2,
        /// <summary>Delivered before everything else.</summary>
        Critical = 3,
    }

    /// <summary>What a subscription's full queue does with one more message.</summary>
    public enum OverflowPolicy
    {
        /// <summary>Evict the oldest message of the lowest priority (default).</summary>
        DropOldest,
        /// <summary>Drop the new message.</summary>
        DropNewest,
        /// <summary>Drop the new message and report an error to the publisher.</summary>
        Reject,
        /// <summary>Make the publisher wait up to the block timeout, then drop the new message.</summary>
        Block,
    }

    /// <summary>Where a subscription's handler runs.</summary>
    public enum HandlerMode
    {
        /// <summary>In the subscriber's runspace, on its own thread, at its next checkpoint or pump.</summary>
        Default,
        /// <summary>On a pooled private runspace, independent of the subscriber's thread.</summary>
        RunAsync,
        /// <summary>A subscription made by native code (C callback or pull); no PowerShell handler.</summary>
        Native,
    }
}
