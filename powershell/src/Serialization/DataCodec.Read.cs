using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using System.Numerics;
using System.Text.Json;

namespace ModuleCommunication.Serialization;

public static partial class DataCodec
{
    private static readonly object s_true = true;
    private static readonly object s_false = false;

    /// <summary>
    /// The hints arranged as a tree that mirrors the data, so reading looks a hint up by the
    /// key or index it is at instead of comparing whole paths. A subtree without hints is
    /// null, and reading it takes the plain fast path.
    /// </summary>
    private sealed class HintNode
    {
        public HintKind Kind;
        public Dictionary<string, HintNode>? Keys;
        public Dictionary<int, HintNode>? Indexes;

        public HintNode? ChildAt(string key) =>
            Keys is not null && Keys.TryGetValue(key, out HintNode? child) ? child : null;

        public HintNode? ChildAt(int index) =>
            Indexes is not null && Indexes.TryGetValue(index, out HintNode? child) ? child : null;
    }

    private static HintNode? BuildHintTree(JsonElement hints)
    {
        if (hints.ValueKind != JsonValueKind.Array)
        {
            return null; // default (Undefined), null, or not hints at all
        }

        HintNode? root = null;
        foreach (JsonElement pair in hints.EnumerateArray())
        {
            if (pair.ValueKind != JsonValueKind.Array || pair.GetArrayLength() != 2)
            {
                continue;
            }
            JsonElement path = pair[0];
            HintKind kind = pair[1].ValueKind == JsonValueKind.String ? HintNames.Parse(pair[1]) : HintKind.None;
            if (path.ValueKind != JsonValueKind.Array || kind == HintKind.None)
            {
                continue;
            }

            root ??= new HintNode();
            HintNode node = root;
            bool valid = true;
            foreach (JsonElement segment in path.EnumerateArray())
            {
                HintNode? next;
                if (segment.ValueKind == JsonValueKind.String)
                {
                    string key = segment.GetString()!;
                    node.Keys ??= new Dictionary<string, HintNode>(StringComparer.Ordinal);
                    if (!node.Keys.TryGetValue(key, out next))
                    {
                        next = new HintNode();
                        node.Keys.Add(key, next);
                    }
                }
                else if (segment.ValueKind == JsonValueKind.Number && segment.TryGetInt32(out int index) && index >= 0)
                {
                    node.Indexes ??= new Dictionary<int, HintNode>();
                    if (!node.Indexes.TryGetValue(index, out next))
                    {
                        next = new HintNode();
                        node.Indexes.Add(index, next);
                    }
                }
                else
                {
                    valid = false;
                    break;
                }
                node = next;
            }
            if (valid)
            {
                node.Kind = kind;
            }
        }
        return root;
    }

    private static object? Read(JsonElement element, HintNode? node)
    {
        HintKind hint = node is null ? HintKind.None : node.Kind;
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                return ReadObject(element, node, hint);
            case JsonValueKind.Array:
                return ReadArray(element, node);
            case JsonValueKind.String:
                return hint == HintKind.None ? element.GetString() : ReadHintedString(element, hint);
            case JsonValueKind.Number:
                return hint == HintKind.None ? ReadNumber(element) : ReadHintedNumber(element, hint);
            case JsonValueKind.True:
                return s_true;
            case JsonValueKind.False:
                return s_false;
            default:
                return null; // Null, or Undefined for a default JsonElement
        }
    }

    private static object ReadObject(JsonElement element, HintNode? node, HintKind hint)
    {
        if (hint == HintKind.PSCustomObject)
        {
            var psObject = new PSObject(); // its base object is a PSCustomObject
            PSMemberInfoCollection<PSPropertyInfo> properties = psObject.Properties;
            foreach (JsonProperty property in element.EnumerateObject())
            {
                string name = property.Name;
                object? value = Read(property.Value, node?.ChildAt(name));
                PSPropertyInfo? existing = properties[name];
                if (existing is null)
                {
                    properties.Add(new PSNoteProperty(name, value));
                }
                else
                {
                    existing.Value = value; // duplicate key (differing in case): last wins
                }
            }
            return psObject;
        }

        bool ordered = hint == HintKind.Ordered;
        IDictionary dictionary = ordered
            ? new OrderedDictionary(StringComparer.OrdinalIgnoreCase)
            : new Hashtable(StringComparer.OrdinalIgnoreCase);
        foreach (JsonProperty property in element.EnumerateObject())
        {
            string name = property.Name;
            object? value = Read(property.Value, node?.ChildAt(name));
            try
            {
                dictionary.Add(name, value);
            }
            catch (ArgumentException)
            {
                // A key met already, but for case, came from a case-sensitive dictionary: keep both.
                // (Add instead of a lookup first: this path is rare, every key pays for a lookup.)
                dictionary = CaseSensitiveCopy(dictionary, ordered);
                dictionary[name] = value;
            }
        }
        return dictionary;
    }

    private static IDictionary CaseSensitiveCopy(IDictionary from, bool ordered)
    {
        IDictionary to = ordered ? new OrderedDictionary(StringComparer.Ordinal) : new Hashtable(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in from) to[entry.Key] = entry.Value;
        return to;
    }

    private static object?[] ReadArray(JsonElement element, HintNode? node)
    {
        var array = new object?[element.GetArrayLength()];
        int i = 0;
        if (node is null)
        {
            foreach (JsonElement item in element.EnumerateArray())
            {
                array[i++] = Read(item, null);
            }
        }
        else
        {
            foreach (JsonElement item in element.EnumerateArray())
            {
                array[i] = Read(item, node.ChildAt(i));
                i++;
            }
        }
        return array;
    }

    /// <summary>Default number mapping: int, else long, else double.</summary>
    private static object ReadNumber(JsonElement element)
    {
        // TryGetInt32/TryGetInt64 fail on any text with a fraction or exponent ("1.0", "1e3").
        if (element.TryGetInt32(out int i))
        {
            return i;
        }
        if (element.TryGetInt64(out long l))
        {
            return l;
        }
        return ReadDouble(element);
    }

    private static double ReadDouble(JsonElement element)
    {
        if (element.TryGetDouble(out double d))
        {
            return d;
        }
        // Out of double's range (1e400): the parser gives ±Infinity where TryGetDouble refuses.
        return double.Parse(element.GetRawText(), NumberStyles.Float, CultureInfo.InvariantCulture);
    }

    private static object ReadHintedNumber(JsonElement element, HintKind hint)
    {
        switch (hint)
        {
            case HintKind.Long:
                if (element.TryGetInt64(out long l)) return l;
                break;
            case HintKind.Double:
                return ReadDouble(element);
            case HintKind.Single:
                if (element.TryGetSingle(out float f)) return f;
                break;
            case HintKind.Decimal:
                if (element.TryGetDecimal(out decimal m)) return m;
                break;
            case HintKind.Byte:
                if (element.TryGetByte(out byte b)) return b;
                break;
            case HintKind.SByte:
                if (element.TryGetSByte(out sbyte sb)) return sb;
                break;
            case HintKind.Int16:
                if (element.TryGetInt16(out short s)) return s;
                break;
            case HintKind.UInt16:
                if (element.TryGetUInt16(out ushort us)) return us;
                break;
            case HintKind.UInt32:
                if (element.TryGetUInt32(out uint ui)) return ui;
                break;
            case HintKind.UInt64:
                if (element.TryGetUInt64(out ulong ul)) return ul;
                break;
            case HintKind.BigInteger:
                if (BigInteger.TryParse(element.GetRawText(), NumberStyles.Integer, CultureInfo.InvariantCulture, out BigInteger big)) return big;
                break;
        }
        return ReadNumber(element); // a hint that does not fit the value is ignored
    }

    private static object? ReadHintedString(JsonElement element, HintKind hint)
    {
        switch (hint)
        {
            case HintKind.DateTime:
                if (element.TryGetDateTime(out DateTime dateTime)) return dateTime;
                break;
            case HintKind.DateTimeOffset:
                if (element.TryGetDateTimeOffset(out DateTimeOffset dateTimeOffset)) return dateTimeOffset;
                break;
            case HintKind.Guid:
                if (element.TryGetGuid(out Guid guid)) return guid;
                break;
            case HintKind.Bytes:
                if (element.TryGetBytesFromBase64(out byte[]? bytes)) return bytes;
                break;
        }

        string text = element.GetString()!;
        switch (hint)
        {
            case HintKind.Char:
                if (text.Length == 1) return text[0];
                break;
            case HintKind.TimeSpan:
                if (TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out TimeSpan timeSpan)) return timeSpan;
                break;
            case HintKind.Double:
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
                break;
            case HintKind.Single:
                if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out float f)) return f;
                break;
            case HintKind.Uri:
                if (Uri.TryCreate(text, UriKind.RelativeOrAbsolute, out Uri? uri)) return uri;
                break;
            case HintKind.Version:
                if (Version.TryParse(text, out Version? version)) return version;
                break;
            case HintKind.DateTime:
                if (DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTime parsed)) return parsed;
                break;
        }
        return text; // a hint that does not fit the value is ignored
    }
}
