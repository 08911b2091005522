using System;
using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ModuleCommunication.Core
{
    /// <summary>
    /// A reusable per-thread UTF-8 JSON buffer for requests to the native core, so that the
    /// publish hot path allocates nothing for the envelope.
    /// </summary>
    internal sealed class JsonBuffer
    {
        [ThreadStatic] private static JsonBuffer? t_instance;

        private static readonly JsonWriterOptions s_options = new()
        {
            Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
            SkipValidation = true,
        };

        private readonly ArrayBufferWriter<byte> _buffer = new(1024);
        private readonly Utf8JsonWriter _writer;
        private bool _inUse;

        private JsonBuffer() => _writer = new Utf8JsonWriter(_buffer, s_options);

        /// <summary>Starts a request; the returned writer is valid until <see cref="Release"/>.</summary>
        public static JsonBuffer Rent()
        {
            JsonBuffer? buffer = t_instance;
            if (buffer == null || buffer._inUse)
            {
                // Re-entrant use on one thread (a handler publishing while we build) gets its own buffer.
                buffer = new JsonBuffer();
                t_instance ??= buffer;
            }
            buffer._inUse = true;
            buffer._buffer.Clear();
            buffer._writer.Reset(buffer._buffer);
            return buffer;
        }

        public Utf8JsonWriter Writer => _writer;

        /// <summary>The finished JSON; flushes the writer first.</summary>
        public ReadOnlySpan<byte> Written
        {
            get
            {
                _writer.Flush();
                return _buffer.WrittenSpan;
            }
        }

        public void Release() => _inUse = false;

        /// <summary>Builds a small JSON object in one go (options, configuration).</summary>
        public static byte[] Build(Action<Utf8JsonWriter> write)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
            {
                write(writer);
            }
            return buffer.WrittenSpan.ToArray();
        }
    }
}
