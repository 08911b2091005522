using System;
using System.Collections;
using System.Collections.Generic;
using System.Collections.Specialized;
using System.Globalization;
using System.Management.Automation;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;

namespace ModuleCommunication.Serialization;

public static partial class DataCodec
{
    /// <summary>Everything one <see cref="WriteValue"/> call threads through the recursion.</summary>
    private struct WriteState
    {
        public readonly Utf8JsonWriter Writer;
        public readonly TypeHints Hints;

        // Path[i] is the key or index of the value at depth i + 1. Only copied when a hint is
        // added or the depth limit is hit; otherwise it is just overwritten in place.
        public readonly PathSegment[] Path;

        // KeySets[i]: the keys of the dictionary being written at depth i (see WriteDictionary).
        public readonly HashSet<string>?[] KeySets;

        // How many arbitrary objects (expanded by reflection) enclose the current value.
        public int ExpandedObjects;

        public WriteState(Utf8JsonWriter writer, TypeHints hints, PathSegment[] path, HashSet<string>?[] keySets)
        {
            Writer = writer;
            Hints = hints;
            Path = path;
            KeySets = keySets;
            ExpandedObjects = 0;
        }

        public readonly void Hint(int depth, HintKind kind) => Hints.Add(Path, depth, kind);
    }

    private static void Write(ref WriteState s, object? value, int depth)
    {
        if (value is null)
        {
            s.Writer.WriteNullValue();
            return;
        }

        if (value is PSObject psObject)
        {
            object baseObject = psObject.BaseObject;
            if (baseObject is PSCustomObject)
            {
                WritePSCustomObject(ref s, psObject, depth);
                return;
            }
            value = baseObject;
        }

        if (value is string text)
        {
            s.Writer.WriteStringValue(text);
            return;
        }

        Type type = value.GetType();
        TypeCode code = Type.GetTypeCode(type);
        if (code != TypeCode.Object)
        {
            WritePrimitive(ref s, value, type, code, depth);
            return;
        }

        // Exact checks on sealed value types are cheap; do them before the interface checks.
        if (value is Guid guid)
        {
            s.Writer.WriteStringValue(guid);
            s.Hint(depth, HintKind.Guid);
        }
        else if (value is DateTimeOffset dateTimeOffset)
        {
            Span<byte> utf8 = stackalloc byte[64];
            dateTimeOffset.TryFormat(utf8, out int written, "O", CultureInfo.InvariantCulture);
            s.Writer.WriteStringValue(utf8.Slice(0, written));
            s.Hint(depth, HintKind.DateTimeOffset);
        }
        else if (value is TimeSpan timeSpan)
        {
            Span<byte> utf8 = stackalloc byte[64];
            timeSpan.TryFormat(utf8, out int written, "c", CultureInfo.InvariantCulture);
            s.Writer.WriteStringValue(utf8.Slice(0, written));
            s.Hint(depth, HintKind.TimeSpan);
        }
        else if (value is IDictionary dictionary)
        {
            WriteDictionary(ref s, dictionary, depth);
        }
        else if (value is byte[] bytes)
        {
            s.Writer.WriteBase64StringValue(bytes);
            s.Hint(depth, HintKind.Bytes);
        }
        else if (value is IEnumerable enumerable)
        {
            WriteEnumerable(ref s, enumerable, depth);
        }
        else if (value is ScriptBlock scriptBlock)
        {
            // Script blocks are sent as their text and never revived.
            s.Writer.WriteStringValue(scriptBlock.ToString());
        }
        else
        {
            WriteOther(ref s, value, type, depth);
        }
    }

    private static void WritePrimitive(ref WriteState s, object value, Type type, TypeCode code, int depth)
    {
        Utf8JsonWriter writer = s.Writer;
        switch (code)
        {
            case TypeCode.Boolean:
                writer.WriteBooleanValue((bool)value);
                return;

            case TypeCode.Double:
                WriteDouble(ref s, (double)value, depth);
                return;

            case TypeCode.DateTime:
            {
                Span<byte> utf8 = stackalloc byte[64];
                ((DateTime)value).TryFormat(utf8, out int written, "O", CultureInfo.InvariantCulture);
                writer.WriteStringValue(utf8.Slice(0, written));
                s.Hint(depth, HintKind.DateTime);
                return;
            }

            case TypeCode.Char:
            {
                char c = (char)value;
                writer.WriteStringValue(new ReadOnlySpan<char>(in c));
                s.Hint(depth, HintKind.Char);
                return;
            }

            case TypeCode.Decimal:
            {
                Span<byte> utf8 = stackalloc byte[64];
                ((decimal)value).TryFormat(utf8, out int written, default, CultureInfo.InvariantCulture);
                writer.WriteRawValue(utf8.Slice(0, written), skipInputValidation: true);
                s.Hint(depth, HintKind.Decimal);
                return;
            }

            case TypeCode.Single:
            {
                float f = (float)value;
                if (float.IsFinite(f))
                {
                    Span<byte> utf8 = stackalloc byte[64];
                    f.TryFormat(utf8, out int written, "R", CultureInfo.InvariantCulture);
                    writer.WriteRawValue(utf8.Slice(0, written), skipInputValidation: true);
                }
                else
                {
                    writer.WriteStringValue(NonFiniteText(f));
                }
                s.Hint(depth, HintKind.Single);
                return;
            }

            case TypeCode.DBNull:
            case TypeCode.Empty:
                writer.WriteNullValue();
                return;

            case TypeCode.String:
                // Only reached for a string that came out of a PSObject; handled by the caller.
                writer.WriteStringValue((string)value);
                return;
        }

        // The integral types. An enum has its underlying type's TypeCode: write its name.
        if (type.IsEnum)
        {
            writer.WriteStringValue(value.ToString());
            return;
        }

        switch (code)
        {
            case TypeCode.Int32:
                writer.WriteNumberValue((int)value);
                return;
            case TypeCode.Int64:
            {
                long l = (long)value;
                writer.WriteNumberValue(l);
                if (l >= int.MinValue && l <= int.MaxValue)
                {
                    s.Hint(depth, HintKind.Long); // would otherwise read back as int
                }
                return;
            }
            case TypeCode.Byte:
                writer.WriteNumberValue((byte)value);
                s.Hint(depth, HintKind.Byte);
                return;
            case TypeCode.SByte:
                writer.WriteNumberValue((sbyte)value);
                s.Hint(depth, HintKind.SByte);
                return;
            case TypeCode.Int16:
                writer.WriteNumberValue((short)value);
                s.Hint(depth, HintKind.Int16);
                return;
            case TypeCode.UInt16:
                writer.WriteNumberValue((ushort)value);
                s.Hint(depth, HintKind.UInt16);
                return;
            case TypeCode.UInt32:
                writer.WriteNumberValue((uint)value);
                s.Hint(depth, HintKind.UInt32);
                return;
            case TypeCode.UInt64:
                writer.WriteNumberValue((ulong)value);
                s.Hint(depth, HintKind.UInt64);
                return;
            default:
                // No other TypeCode exists; keep the output valid whatever happens.
                writer.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                return;
        }
    }

    /// <summary>
    /// Writes a double so that it reads back as a double: shortest round-trip text with a
    /// ".0" appended when the text has neither a fraction nor an exponent.
    /// </summary>
    private static void WriteDouble(ref WriteState s, double d, int depth)
    {
        if (!double.IsFinite(d))
        {
            s.Writer.WriteStringValue(NonFiniteText(d));
            s.Hint(depth, HintKind.Double);
            return;
        }

        Span<byte> utf8 = stackalloc byte[64];
        d.TryFormat(utf8, out int written, "R", CultureInfo.InvariantCulture);
        if (utf8.Slice(0, written).IndexOfAny((byte)'.', (byte)'E') < 0)
        {
            utf8[written++] = (byte)'.';
            utf8[written++] = (byte)'0';
        }
        s.Writer.WriteRawValue(utf8.Slice(0, written), skipInputValidation: true);
    }

    private static string NonFiniteText(double d) =>
        double.IsNaN(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";

    // PowerShell 7.3's OrderedHashtable (what ConvertFrom-Json -AsHashtable returns), newer than
    // the reference assemblies this module builds against, so found by name.
    private static readonly Type? s_orderedHashtable = typeof(PSObject).Assembly.GetType("System.Management.Automation.OrderedHashtable");

    private static void WriteDictionary(ref WriteState s, IDictionary dictionary, int depth)
    {
        EnterContainer(ref s, depth);
        if (dictionary is OrderedDictionary || dictionary.GetType() == s_orderedHashtable)
        {
            s.Hint(depth, HintKind.Ordered);
        }

        Utf8JsonWriter writer = s.Writer;
        writer.WriteStartObject();
        // Keys are sent as text: two keys that become the same text (1 and '1') are refused, or
        // one value would be lost without a word. (Keys differing only in case both arrive.)
        HashSet<string>? seen = dictionary.Count > 1 ? KeySet(ref s, depth) : null;
        // The dictionary enumerator's Key/Value avoid boxing a DictionaryEntry per entry.
        IDictionaryEnumerator entries = dictionary.GetEnumerator();
        try
        {
            while (entries.MoveNext())
            {
                string key = KeyToString(entries.Key);
                if (seen != null && !seen.Add(AsSent(key))) throw DuplicateKey(s.Path, depth, AsSent(key));
                writer.WritePropertyName(key);
                s.Path[depth] = new PathSegment(key);
                Write(ref s, entries.Value, depth + 1);
            }
        }
        finally
        {
            (entries as IDisposable)?.Dispose();
        }
        writer.WriteEndObject();
    }

    /// <summary>
    /// The key as the reader will see it: the writer sends a lone UTF-16 surrogate as U+FFFD, so
    /// "k" + U+D800 and "k" + U+DC00 arrive as the same key.
    /// </summary>
    private static string AsSent(string key)
        => key.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') < 0 ? key : Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(key));

    private static HashSet<string> KeySet(ref WriteState s, int depth)
    {
        HashSet<string> set = s.KeySets[depth] ??= new HashSet<string>(StringComparer.Ordinal);
        set.Clear();
        return set;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException DuplicateKey(PathSegment[] path, int depth, string key)
    {
        string where = FormatPath(path, depth);
        return new ArgumentException(
            $"The message data has two keys at {where} that would both arrive as '{key}': keys are sent as text, " +
            "so keys that read the same (1 and '1', an enum value and its name) are one key. Rename one of them.");
    }

    private static string KeyToString(object key)
    {
        while (true)
        {
            switch (key)
            {
                case string text:
                    return text;
                case PSObject psObject when psObject.BaseObject is not PSCustomObject:
                    key = psObject.BaseObject;
                    continue;
                // Round-trip text: the default ("G") keeps whole seconds, so two dates of one second
                // would become one key.
                case DateTime date:
                    return date.ToString("o", CultureInfo.InvariantCulture);
                case DateTimeOffset date:
                    return date.ToString("o", CultureInfo.InvariantCulture);
                case IFormattable formattable:
                    return formattable.ToString(null, CultureInfo.InvariantCulture);
                default:
                    return key.ToString() ?? string.Empty;
            }
        }
    }

    private static void WriteEnumerable(ref WriteState s, IEnumerable enumerable, int depth)
    {
        EnterContainer(ref s, depth);
        Utf8JsonWriter writer = s.Writer;
        PathSegment[] path = s.Path;
        writer.WriteStartArray();
        if (enumerable is object?[] array)
        {
            for (int i = 0; i < array.Length; i++)
            {
                path[depth] = new PathSegment(i);
                Write(ref s, array[i], depth + 1);
            }
        }
        else if (enumerable is IList list)
        {
            int count = list.Count;
            for (int i = 0; i < count; i++)
            {
                path[depth] = new PathSegment(i);
                Write(ref s, list[i], depth + 1);
            }
        }
        else
        {
            int i = 0;
            IEnumerator items = enumerable.GetEnumerator();
            try
            {
                while (items.MoveNext())
                {
                    path[depth] = new PathSegment(i++);
                    Write(ref s, items.Current, depth + 1);
                }
            }
            finally
            {
                (items as IDisposable)?.Dispose();
            }
        }
        writer.WriteEndArray();
    }

    private static void WritePSCustomObject(ref WriteState s, PSObject psObject, int depth)
    {
        EnterContainer(ref s, depth);
        s.Hint(depth, HintKind.PSCustomObject);
        Utf8JsonWriter writer = s.Writer;
        writer.WriteStartObject();
        foreach (PSPropertyInfo property in psObject.Properties)
        {
            object? value;
            try
            {
                value = property.Value;
            }
            catch (Exception)
            {
                value = null; // a ScriptProperty that throws, as ConvertTo-Json does
            }
            string name = property.Name;
            writer.WritePropertyName(name);
            s.Path[depth] = new PathSegment(name);
            Write(ref s, value, depth + 1);
        }
        writer.WriteEndObject();
    }

    /// <summary>The rare types: a few well-known ones, then any object by its properties.</summary>
    private static void WriteOther(ref WriteState s, object value, Type type, int depth)
    {
        Utf8JsonWriter writer = s.Writer;
        switch (value)
        {
            case Uri uri:
                writer.WriteStringValue(uri.OriginalString);
                s.Hint(depth, HintKind.Uri);
                return;
            case Version version:
                writer.WriteStringValue(version.ToString());
                s.Hint(depth, HintKind.Version);
                return;
            case BigInteger bigInteger:
                writer.WriteRawValue(bigInteger.ToString("D", CultureInfo.InvariantCulture), skipInputValidation: true);
                s.Hint(depth, HintKind.BigInteger);
                return;
            case SwitchParameter switchParameter:
                writer.WriteBooleanValue(switchParameter.IsPresent);
                return;
            case Type typeValue:
                writer.WriteStringValue(typeValue.FullName ?? typeValue.Name);
                return;
        }

        if (ObjectExpander.IsNullLike(type))
        {
            writer.WriteNullValue(); // AutomationNull, [NullString]::Value
            return;
        }

        if (s.ExpandedObjects >= MaxObjectExpansionDepth)
        {
            writer.WriteStringValue(value.ToString() ?? string.Empty);
            return;
        }

        EnterContainer(ref s, depth);
        s.Hint(depth, HintKind.PSCustomObject);
        s.ExpandedObjects++;
        writer.WriteStartObject();
        foreach (ObjectExpander.Member member in ObjectExpander.GetMembers(type))
        {
            object? memberValue = member.GetValue(value);
            writer.WritePropertyName(member.EncodedName);
            s.Path[depth] = new PathSegment(member.Name);
            Write(ref s, memberValue, depth + 1);
        }
        writer.WriteEndObject();
        s.ExpandedObjects--;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void EnterContainer(ref WriteState s, int depth)
    {
        if (depth >= MaxDepth)
        {
            throw DepthExceeded(s.Path, depth);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ArgumentException DepthExceeded(PathSegment[] path, int depth)
    {
        string where = FormatPath(path, depth);
        return new ArgumentException(
            $"The message data is nested more than {MaxDepth} levels deep: the limit was hit at {where}. " +
            "Flatten the data (fewer levels of nested hashtables, arrays and objects); " +
            "if the data contains itself (a reference cycle), remove the cycle.");
    }

    /// <summary>Formats a path for people: <c>$.Items[2].Name</c>, <c>$['odd key']</c>.</summary>
    internal static string FormatPath(PathSegment[] path, int depth)
    {
        var text = new StringBuilder("$", 1 + depth * 8);
        for (int i = 0; i < depth; i++)
        {
            string? key = path[i].Key;
            if (key is null)
            {
                text.Append('[').Append(path[i].Index.ToString(CultureInfo.InvariantCulture)).Append(']');
            }
            else if (IsPlainName(key))
            {
                text.Append('.').Append(key);
            }
            else
            {
                text.Append("['").Append(key.Replace("'", "''", StringComparison.Ordinal)).Append("']");
            }
        }
        return text.ToString();
    }

    private static bool IsPlainName(string key)
    {
        if (key.Length == 0)
        {
            return false;
        }
        foreach (char c in key)
        {
            if (!char.IsLetterOrDigit(c) && c != '_' && c != '-')
            {
                return false;
            }
        }
        return true;
    }
}
