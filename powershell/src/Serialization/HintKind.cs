using System.Text.Json;

namespace ModuleCommunication.Serialization;

/// <summary>
/// The type-hint vocabulary. Each value names the .NET type a JSON value is read back as
/// when the default mapping (object → Hashtable, array → object[], integral number → int
/// or long, other number → double, string, bool, null) would give a different type.
/// </summary>
internal enum HintKind : byte
{
    None = 0,

    // Containers.
    Ordered,          // JSON object → OrderedDictionary ([ordered]@{})
    PSCustomObject,   // JSON object → PSObject with NoteProperties in document order

    // Numbers written as JSON numbers.
    Long,             // Int64 whose value fits Int32
    Single,           // float (written in round-trip text; NaN/±Infinity as a string)
    Double,           // double written as a string: NaN, Infinity, -Infinity
    Decimal,          // decimal, number text written exactly (scale kept)
    Byte,
    SByte,
    Int16,
    UInt16,
    UInt32,
    UInt64,
    BigInteger,

    // Values written as JSON strings.
    Char,
    DateTime,         // ISO 8601 "o": Kind preserved (Z = Utc, offset = Local, none = Unspecified)
    DateTimeOffset,   // ISO 8601 "o" with its offset
    TimeSpan,         // "c" format: [-][d.]hh:mm:ss[.fffffff]
    Guid,             // "D" format
    Bytes,            // byte[] as base64
    Uri,
    Version,
}

/// <summary>Names of <see cref="HintKind"/> values as they appear in the hints JSON.</summary>
internal static class HintNames
{
    // Index = (int)HintKind. Keep in the same order as the enum.
    private static readonly string[] Names =
    {
        "",
        "ordered",
        "pscustomobject",
        "long",
        "single",
        "double",
        "decimal",
        "byte",
        "sbyte",
        "int16",
        "uint16",
        "uint32",
        "uint64",
        "bigint",
        "char",
        "datetime",
        "datetimeoffset",
        "timespan",
        "guid",
        "bytes",
        "uri",
        "version",
    };

    // Pre-encoded names so writing a hint never transcodes or escapes.
    private static readonly JsonEncodedText[] Encoded = CreateEncoded();

    private static JsonEncodedText[] CreateEncoded()
    {
        var encoded = new JsonEncodedText[Names.Length];
        for (int i = 0; i < Names.Length; i++)
        {
            encoded[i] = JsonEncodedText.Encode(Names[i]);
        }
        return encoded;
    }

    public static string GetName(HintKind kind) => Names[(int)kind];

    public static JsonEncodedText GetEncodedName(HintKind kind) => Encoded[(int)kind];

    /// <summary>
    /// Maps a hint name in the JSON to its kind without allocating. Unknown names give
    /// <see cref="HintKind.None"/> (ignored, so a newer writer never breaks an older reader).
    /// </summary>
    public static HintKind Parse(JsonElement name)
    {
        for (int i = 1; i < Names.Length; i++)
        {
            if (name.ValueEquals(Names[i]))
            {
                return (HintKind)i;
            }
        }
        return HintKind.None;
    }
}
