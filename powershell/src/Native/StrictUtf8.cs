using System.Runtime.InteropServices.Marshalling;
using System.Text;

namespace ModuleCommunication.Native
{
    /// <summary>
    /// Marshals string arguments of the C ABI as NUL-terminated UTF-8, refusing what that
    /// cannot carry. The C side would read "Orders`0Archive" as "Orders" (and remove that
    /// channel), and a lone UTF-16 surrogate would become U+FFFD, so two different names could
    /// meet; both are refused with an InvalidArgument error naming the value instead.
    /// </summary>
    [CustomMarshaller(typeof(string), MarshalMode.ManagedToUnmanagedIn, typeof(StrictUtf8))]
    internal static unsafe class StrictUtf8
    {
        private static readonly UTF8Encoding s_strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        public static byte* ConvertToUnmanaged(string? managed)
        {
            if (managed is null) return null;
            if (managed.Contains('\0'))
            {
                throw Refused(managed, "contains a NUL character (`0), which a name or path cannot hold");
            }
            try
            {
                s_strict.GetByteCount(managed);
            }
            catch (EncoderFallbackException)
            {
                throw Refused(managed, "contains a lone UTF-16 surrogate, which is not text and has no UTF-8 form");
            }
            return Utf8StringMarshaller.ConvertToUnmanaged(managed);
        }

        public static void Free(byte* unmanaged) => Utf8StringMarshaller.Free(unmanaged);

        private static ModuleCommunicationException Refused(string value, string why)
        {
            var shown = new StringBuilder(value.Length + 8);
            foreach (char c in value)
            {
                if (c == '\0') shown.Append("`0");
                else if (char.IsSurrogate(c)) shown.Append($"`u{{{(int)c:X4}}}");
                else shown.Append(c);
            }
            return new ModuleCommunicationException((uint)McStatus.InvalidArgument, nameof(McStatus.InvalidArgument),
                $"'{shown}' {why}; remove that character and try again.");
        }
    }
}
