using System;
using Microsoft.Win32.SafeHandles;

namespace ModuleCommunication.Native
{
    /// <summary>
    /// Owns one mc_hub. Passing the SafeHandle (not an IntPtr) to every P/Invoke makes the
    /// runtime ref-count it around each call, so a Dispose on another thread can never free
    /// the hub under a running call.
    /// </summary>
    internal sealed class HubHandle : SafeHandleZeroOrMinusOneIsInvalid
    {
        public HubHandle() : base(ownsHandle: true) { }

        internal HubHandle(IntPtr hub) : base(ownsHandle: true) => SetHandle(hub);

        protected override bool ReleaseHandle()
        {
            NativeMethods.mc_hub_free(handle);
            return true;
        }
    }
}
