using System;
using System.Runtime.InteropServices;

namespace ModuleCommunication.Native
{
    /// <summary>Status codes of the C ABI (include/module_communication.h, mc_status). Never renumbered.</summary>
    internal enum McStatus : uint
    {
        Ok = 0,
        NullArgument = 1,
        InvalidUtf8 = 2,
        InvalidJson = 3,
        InvalidArgument = 4,
        ChannelNotFound = 5,
        ChannelExists = 6,
        SubscriptionNotFound = 7,
        QueueFull = 8,
        Timeout = 9,
        Panic = 10,
        BufferTooSmall = 11,
        Io = 12,
        CorruptFile = 13,
        Cancelled = 14,
        // The API registry (20-31).
        ApiNotFound = 20,
        ApiExists = 21,
        ValidationFailed = 22,
        AuthenticationFailed = 23,
        AuthorizationFailed = 24,
        CircuitOpen = 25,
        HandlerFailed = 26,
        Unavailable = 27,
        CallDepthExceeded = 28,
        MiddlewareNotFound = 29,
        MiddlewareExists = 30,
        CallNotActive = 31,
        // Resilience and security (40-49).
        BreakerNotFound = 40,
        TokenNotFound = 41,
        ModuleNotAllowed = 42,
    }

    /// <summary>mc_id: a UUID as 16 bytes in RFC 4122 (big-endian) order.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct McId
    {
        public fixed byte Bytes[16];

        public static McId From(Guid id)
        {
            var result = new McId();
            id.TryWriteBytes(new Span<byte>(result.Bytes, 16), bigEndian: true, out _);
            return result;
        }

        public Guid ToGuid()
        {
            fixed (byte* bytes = Bytes)
            {
                return new Guid(new ReadOnlySpan<byte>(bytes, 16), bigEndian: true);
            }
        }
    }

    /// <summary>mc_delivery_report: what the caller did with the messages of its earlier takes.</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal unsafe struct McDeliveryReport
    {
        public nuint Handled;
        public nuint Failed;
        public nuint Filtered;
        public byte* LastError;
    }
}
