using System;
using System.Text.Json;

namespace ModuleCommunication.Serialization;

/// <summary>
/// A message's or event's Data as the core delivered it (JSON and type hints), decoded on
/// first read and then kept. Handlers that never look at Data (they select on MessageType,
/// count, or forward the message) do not pay for decoding it; the ones that do get the same
/// objects as before, once per message, whichever thread reads first.
/// </summary>
internal sealed class EncodedData
{
    private byte[]? _json;
    private byte[]? _hints;
    private object? _value;

    private EncodedData(byte[] json, byte[]? hints)
    {
        _json = json;
        _hints = hints;
    }

    /// <summary>Null for JSON null (nothing to decode); copies the bytes, so the batch they came from can go.</summary>
    public static EncodedData? From(ReadOnlySpan<byte> json, ReadOnlySpan<byte> hints)
    {
        if (json.IsEmpty || json.SequenceEqual("null"u8)) return null;
        bool noHints = hints.IsEmpty || hints.SequenceEqual("null"u8);
        return new EncodedData(json.ToArray(), noHints ? null : hints.ToArray());
    }

    /// <summary>The decoded data; the first call decodes (under a lock, so every reader sees one object).</summary>
    public object? Value
    {
        get
        {
            lock (this)
            {
                if (_json is null) return _value;
                using JsonDocument data = CoreJson.Parse(_json);
                using JsonDocument? hints = _hints is null ? null : CoreJson.Parse(_hints);
                _value = DataCodec.ReadValue(data.RootElement, hints?.RootElement ?? default);
                _json = null;
                _hints = null;
                return _value;
            }
        }
    }
}
