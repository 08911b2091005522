using System.Runtime.InteropServices;

namespace ModuleCommunication.Native
{
    /// <summary>
    /// The C ABI, one declaration per exported function. Strings go in as NUL-terminated
    /// UTF-8, JSON as pointer + length; strings coming back are freed with mc_string_free
    /// (see <see cref="NativeString"/>).
    /// </summary>
    internal static unsafe partial class NativeMethods
    {
        private const string Lib = "module_communication";

        [LibraryImport(Lib)] internal static partial McStatus mc_hub_new(byte* configJson, nuint configLen, out nint hub);
        [LibraryImport(Lib)] internal static partial void mc_hub_free(nint hub);
        [LibraryImport(Lib)] internal static partial McStatus mc_last_error(out byte* message);
        [LibraryImport(Lib)] internal static partial void mc_string_free(byte* s);

        [LibraryImport(Lib)] internal static partial McStatus mc_config_get(HubHandle hub, out byte* json);
        [LibraryImport(Lib)] internal static partial McStatus mc_config_set(HubHandle hub, byte* json, nuint len);

        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_channel_create(HubHandle hub, string name, string? description, nuint maxMessages);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_channel_list(HubHandle hub, string? pattern, out byte* json);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_channel_remove(HubHandle hub, string name, out nuint cleared);

        [LibraryImport(Lib)] internal static partial McStatus mc_publish(HubHandle hub, byte* messageJson, nuint len, out McId id);
        [LibraryImport(Lib)] internal static partial McStatus mc_publish_cancellable(HubHandle hub, byte* messageJson, nuint len, uint* cancel, out McId id);
        [LibraryImport(Lib)] internal static partial McStatus mc_wake_blocked_publishers(HubHandle hub);

        [LibraryImport(Lib)]
        internal static partial McStatus mc_subscribe_pull(HubHandle hub, byte* optionsJson, nuint len,
            delegate* unmanaged[Cdecl]<nint, void> notify, nint userData, out McId id);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_subscription_take(HubHandle hub, McId id, nuint maxMessages, uint timeoutMs,
            out byte* json, out nuint len);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_subscription_take_above(HubHandle hub, McId id, nuint maxMessages, uint abovePriority,
            out byte* json, out nuint len);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_subscription_complete(HubHandle hub, McId id, McDeliveryReport* report);
        [LibraryImport(Lib)] internal static partial McStatus mc_unsubscribe(HubHandle hub, McId id);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_subscription_list(HubHandle hub, string? channelPattern, out byte* json);

        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_queue_clear(HubHandle hub, string channelPattern, out nuint cleared);
        [LibraryImport(Lib)] internal static partial McStatus mc_processor_pause(HubHandle hub);
        [LibraryImport(Lib)] internal static partial McStatus mc_processor_resume(HubHandle hub);
        [LibraryImport(Lib)] internal static partial McStatus mc_processor_state(HubHandle hub, [MarshalAs(UnmanagedType.U1)] out bool running);
        [LibraryImport(Lib)] internal static partial McStatus mc_wait_delivered(HubHandle hub, McId id, uint timeoutMs);
        [LibraryImport(Lib)] internal static partial McStatus mc_wait_idle(HubHandle hub, uint timeoutMs);
        [LibraryImport(Lib)] internal static partial McStatus mc_bus_stats(HubHandle hub, out byte* json);

        // Events (src/ffi/events.rs).
        [LibraryImport(Lib)] internal static partial McStatus mc_event_publish(HubHandle hub, byte* eventJson, nuint len, out McId id);
        [LibraryImport(Lib)] internal static partial McStatus mc_event_publish_cancellable(HubHandle hub, byte* eventJson, nuint len, uint* cancel, out McId id);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_event_subscribe_pull(HubHandle hub, byte* optionsJson, nuint len,
            delegate* unmanaged[Cdecl]<nint, void> notify, nint userData, out McId id);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_event_history(HubHandle hub, byte* queryJson, nuint len, out byte* json, out nuint jsonLen);
        [LibraryImport(Lib)] internal static partial McStatus mc_event_history_clear(HubHandle hub, byte* queryJson, nuint len, out nuint cleared);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_event_history_export(HubHandle hub, string path, uint format, byte* queryJson, nuint len, out nuint count);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_event_history_import(HubHandle hub, string path, uint format, out byte* reportJson);
        [LibraryImport(Lib)] internal static partial McStatus mc_event_history_info(HubHandle hub, out byte* json);
        // API registry (src/ffi/registry.rs). Callbacks take (user_data, mc_call) and return an mc_status.
        [LibraryImport(Lib)]
        internal static partial McStatus mc_api_register(HubHandle hub, byte* definitionJson, nuint len,
            delegate* unmanaged[Cdecl]<nint, ulong, uint> callback, delegate* unmanaged[Cdecl]<nint, void> release,
            nint userData, uint flags);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_api_unregister(HubHandle hub, string module, string operation, out nuint middlewareRemoved);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_api_list(HubHandle hub, string? modulePattern, string? operationPattern, out byte* json);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_middleware_add(HubHandle hub, byte* definitionJson, nuint len,
            delegate* unmanaged[Cdecl]<nint, ulong, uint> callback, delegate* unmanaged[Cdecl]<nint, void> release,
            nint userData, uint flags);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_middleware_remove(HubHandle hub, string name);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_middleware_list(HubHandle hub, string? namePattern, out byte* json);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_api_invoke(HubHandle hub, byte* requestJson, nuint len, out byte* resultJson, out nuint resultLen);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_api_invoke_cancellable(HubHandle hub, byte* requestJson, nuint len, uint* cancel, out byte* resultJson, out nuint resultLen);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_wake_cancelled(HubHandle hub);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_api_validate(HubHandle hub, byte* requestJson, nuint len, out byte* reportJson);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_error_details(out byte* json);
        [LibraryImport(Lib)]
        internal static partial McStatus mc_api_next(ulong call, byte* contextJson, nuint len, out byte* resultJson, out nuint resultLen);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_tag(ulong call, out ulong tag);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_depth(ulong call, out uint depth);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_enter(ulong call);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_leave(ulong call);
        [LibraryImport(Lib)] internal static partial McStatus mc_api_call_set_result(ulong call, byte* json, nuint len);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Custom, StringMarshallingCustomType = typeof(StrictUtf8))]
        internal static partial McStatus mc_api_call_set_error(ulong call, uint category, string message);

        // Metrics and health (src/ffi/observability.rs).
        [LibraryImport(Lib)] internal static partial McStatus mc_metrics(HubHandle hub, byte* optionsJson, nuint len, out byte* json);
        [LibraryImport(Lib)] internal static partial McStatus mc_metrics_reset(HubHandle hub);
        [LibraryImport(Lib)] internal static partial McStatus mc_health(HubHandle hub, byte* optionsJson, nuint len, out byte* json);

        // Message tracing (src/ffi/trace.rs).
        [LibraryImport(Lib)] internal static partial McStatus mc_trace_enable(HubHandle hub, byte* optionsJson, nuint len);
        [LibraryImport(Lib)] internal static partial McStatus mc_trace_disable(HubHandle hub, byte* optionsJson, nuint len, out byte* json);
        [LibraryImport(Lib)] internal static partial McStatus mc_trace_read(HubHandle hub, nuint last, out byte* json);
    }
}
