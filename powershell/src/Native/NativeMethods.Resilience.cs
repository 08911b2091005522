using System.Runtime.InteropServices;

namespace ModuleCommunication.Native
{
    /// <summary>Circuit breakers, security and tokens (src/ffi/resilience.rs, src/ffi/security.rs).</summary>
    internal static unsafe partial class NativeMethods
    {
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_breaker_status(HubHandle hub, string? pattern, out byte* json);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_breaker_reset(HubHandle hub, string? pattern, out nuint count);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_breaker_isolate(HubHandle hub, string operation);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_breaker_configure(HubHandle hub, string operation, byte* optionsJson, nuint len);

        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_attempt(ulong call, out uint attempt);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_user(ulong call, out byte* json);

        [LibraryImport(Lib)] internal static partial McStatus mc_security_enable(HubHandle hub, byte* settingsJson, nuint len);
        [LibraryImport(Lib)] internal static partial McStatus mc_security_disable(HubHandle hub);
        [LibraryImport(Lib)] internal static partial McStatus mc_security_get(HubHandle hub, out byte* json);
        [LibraryImport(Lib)] internal static partial McStatus mc_token_create(HubHandle hub, byte* requestJson, nuint len, out byte* json);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_token_revoke(HubHandle hub, string? modulePattern, string? tokenId, out nuint count);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_token_list(HubHandle hub, string? modulePattern, out byte* json);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_token_verify(HubHandle hub, string token, out byte* json);
    }
}
