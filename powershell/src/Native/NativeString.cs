using System;
using System.Text;

namespace ModuleCommunication.Native
{
    /// <summary>Copies strings the library returns into managed memory and frees the native copy.</summary>
    internal static unsafe class NativeString
    {
        public static string Take(byte* s)
        {
            if (s == null) return string.Empty;
            try
            {
                return new string((sbyte*)s, 0, StrLen(s), Encoding.UTF8);
            }
            finally
            {
                NativeMethods.mc_string_free(s);
            }
        }

        public static byte[] TakeBytes(byte* s, nuint length)
        {
            if (s == null) return Array.Empty<byte>();
            try
            {
                return new ReadOnlySpan<byte>(s, checked((int)length)).ToArray();
            }
            finally
            {
                NativeMethods.mc_string_free(s);
            }
        }

        private static int StrLen(byte* s)
        {
            int n = 0;
            while (s[n] != 0) n++;
            return n;
        }
    }
}
