using System;
using System.Runtime.InteropServices;
using System.Threading;
using ModuleCommunication.Native;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// Lets Ctrl+C end a publish that waits for room in a full Block queue (up to its
    /// -BlockTimeout, which may be an hour): the publish passes this thread's cancel flag to the
    /// core (mc_publish_cancellable); Stop sets it and wakes the waiting publishers. The
    /// copy for that queue is then dropped and counted, as at the block timeout.
    /// </summary>
    internal unsafe struct PublishCancellation
    {
        // One flag per thread, never freed (4 bytes): a thread runs one publish at a time, and
        // a stop ends whatever that thread's pipeline is publishing.
        [ThreadStatic] private static uint* t_flag;
        private nint _flag;

        /// <summary>The current thread's flag (its address), cleared: pass it to the publish.</summary>
        public nint Begin()
        {
            uint* flag = t_flag;
            if (flag == null) t_flag = flag = (uint*)NativeMemory.AllocZeroed(sizeof(uint));
            Volatile.Write(ref *flag, 0u);
            Volatile.Write(ref _flag, (nint)flag);
            return (nint)flag;
        }

        /// <summary>From another thread: gives up the publish that <see cref="Begin"/> prepared, if it waits.</summary>
        public void Stop()
        {
            uint* flag = (uint*)Volatile.Read(ref _flag);
            if (flag == null) return;
            Volatile.Write(ref *flag, 1u);
            NativeMethods.mc_wake_blocked_publishers(ModuleHub.Handle);
        }
    }
}
