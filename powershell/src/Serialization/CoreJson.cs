using System;
using System.Text.Json;

namespace ModuleCommunication.Serialization
{
    /// <summary>
    /// Parses JSON the core wrote. System.Text.Json stops at 64 levels by default, but data may
    /// be nested 64 levels by PowerShell publishers and up to 128 by C ones (serde_json's limit),
    /// inside an envelope and a batch array: a default reader threw on such messages, losing the
    /// batch (and killing a -RunAsync worker). Every read of core output goes through here.
    /// </summary>
    internal static class CoreJson
    {
        /// <summary>Above anything the core accepts plus its envelope.</summary>
        public const int MaxDepth = 160;

        public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = MaxDepth };

        public static readonly JsonReaderOptions ReaderOptions = new() { MaxDepth = MaxDepth };

        public static JsonDocument Parse(byte[] json) => JsonDocument.Parse(json, DocumentOptions);

        public static JsonDocument Parse(ReadOnlyMemory<byte> json) => JsonDocument.Parse(json, DocumentOptions);

        public static JsonDocument Parse(string json) => JsonDocument.Parse(json, DocumentOptions);
    }
}
