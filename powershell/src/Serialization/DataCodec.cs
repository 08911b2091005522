using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace ModuleCommunication.Serialization;

/// <summary>
/// Turns PowerShell message data into JSON and back with full fidelity.
/// </summary>
/// <remarks>
/// <para>
/// The data itself is written as plain JSON, so C programs and history files read it as
/// ordinary JSON. Whatever plain JSON cannot express (a DateTime, a long that would read back
/// as an int, an [ordered] dictionary, a PSCustomObject…) is recorded in a separate
/// <see cref="TypeHints"/> value: an array of <c>[path, type]</c> pairs that only this codec
/// reads. Plain data needs no hints at all.
/// </para>
/// <para><b>Reading (no hint)</b>: JSON object → <see cref="System.Collections.Hashtable"/> with
/// <see cref="StringComparer.OrdinalIgnoreCase"/> keys (like PowerShell's <c>@{}</c>); array →
/// <c>object[]</c>; number without fraction or exponent → <see cref="int"/> if it fits, else
/// <see cref="long"/>, else <see cref="double"/>; number with fraction or exponent →
/// <see cref="double"/>; string; bool; null.</para>
/// <para><b>Writing</b>:</para>
/// <list type="bullet">
/// <item>A <see cref="System.Management.Automation.PSObject"/> is unwrapped to its base object
/// (extra members added to a wrapped non-custom object are not written), except a
/// PSCustomObject, which becomes a JSON object with hint <c>pscustomobject</c> and reads back
/// as a PSObject with NoteProperties in the same order.</item>
/// <item><see cref="System.Collections.IDictionary"/> → JSON object, keys converted to text
/// with the invariant culture, dates in round-trip form <c>"o"</c> (they read back as strings); two keys that become the same text
/// (<c>1</c> and <c>'1'</c>) make the writer throw an <see cref="ArgumentException"/> naming the path and the key; an
/// <see cref="System.Collections.Specialized.OrderedDictionary"/> (<c>[ordered]@{}</c>) gets
/// hint <c>ordered</c>; any other dictionary reads back as a Hashtable.</item>
/// <item>string, bool, int: plain. <see cref="long"/>: hint <c>long</c> only when the value
/// fits an int. <see cref="double"/>: always written with a fraction or exponent
/// (<c>1.0</c>, <c>1E+20</c>) in shortest round-trip form, so it reads back as a double
/// without a hint; NaN and ±Infinity are written as the strings <c>"NaN"</c>,
/// <c>"Infinity"</c>, <c>"-Infinity"</c> with hint <c>double</c>.</item>
/// <item><see cref="float"/> → hint <c>single</c>; <see cref="decimal"/> → hint
/// <c>decimal</c>, number text written exactly (scale kept, <c>1.10</c> stays <c>1.10</c>);
/// <see cref="byte"/>, <see cref="sbyte"/>, <see cref="short"/>, <see cref="ushort"/>,
/// <see cref="uint"/>, <see cref="ulong"/>, <see cref="System.Numerics.BigInteger"/> → hints
/// <c>byte</c>, <c>sbyte</c>, <c>int16</c>, <c>uint16</c>, <c>uint32</c>, <c>uint64</c>,
/// <c>bigint</c>.</item>
/// <item><see cref="char"/> → one-character string, hint <c>char</c>.
/// <see cref="DateTime"/> → ISO 8601 round-trip (<c>"o"</c>) string, hint <c>datetime</c>;
/// its Kind is kept (<c>Z</c> = Utc, an offset = Local, neither = Unspecified).
/// <see cref="DateTimeOffset"/> → <c>"o"</c> string, hint <c>datetimeoffset</c>.
/// <see cref="Guid"/> → hint <c>guid</c>. <see cref="TimeSpan"/> → <c>"c"</c> string, hint
/// <c>timespan</c>. <see cref="Uri"/> → its original string, hint <c>uri</c>.
/// <see cref="Version"/> → hint <c>version</c>.</item>
/// <item>byte[] → base64 string, hint <c>bytes</c>. Any other
/// <see cref="System.Collections.IEnumerable"/> → JSON array (reads back as <c>object[]</c>).</item>
/// <item>Enums are written as their name (a string, no hint: they read back as strings, and
/// PowerShell converts a name back to the enum wherever one is expected).
/// A <see cref="System.Management.Automation.ScriptBlock"/> is written as its text and reads
/// back as a string: script blocks are never revived from message data.
/// A <see cref="System.Management.Automation.SwitchParameter"/> is written as a bool, a
/// <see cref="Type"/> as its full name, <see cref="DBNull"/> as null.</item>
/// <item>Any other object → its public instance properties and fields as a JSON object with
/// hint <c>pscustomobject</c> (like ConvertTo-Json); an unreadable property is written as null.
/// Such objects are expanded only <see cref="MaxObjectExpansionDepth"/> levels deep: an
/// arbitrary object nested deeper inside them is written as its ToString() text.</item>
/// </list>
/// <para>
/// Nesting is limited to <see cref="MaxDepth"/> levels of objects and arrays. Deeper data,
/// including data that contains itself (a reference cycle), makes the writer throw an
/// <see cref="ArgumentException"/> naming the path where the limit was hit.
/// </para>
/// <para>
/// Strings are written with <see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/> by
/// <see cref="Encode"/> (and by writers made with <see cref="WriterOptions"/>): non-ASCII text
/// such as é or 日本語 stays readable, quotes, backslashes and control characters are escaped.
/// </para>
/// </remarks>
public static partial class DataCodec
{
    /// <summary>The deepest nesting of objects and arrays the writer accepts.</summary>
    public const int MaxDepth = 64;

    /// <summary>
    /// How many levels of arbitrary (non-data) objects are expanded into their properties;
    /// an arbitrary object nested deeper inside such objects is written as its ToString() text.
    /// This keeps object graphs such as a DirectoryInfo (whose Root is itself) from exploding.
    /// </summary>
    public const int MaxObjectExpansionDepth = 2;

    // Buffers kept larger than this are dropped after an Encode instead of being cached.
    private const int MaxCachedBufferBytes = 1024 * 1024;

    private static readonly JsonWriterOptions s_writerOptions = new JsonWriterOptions
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
    };

    [ThreadStatic]
    private static EncodeBuffers? t_encodeBuffers;

    [ThreadStatic]
    private static PathSegment[]? t_path;

    [ThreadStatic]
    private static HashSet<string>?[]? t_keySets;

    /// <summary>
    /// Options for a <see cref="Utf8JsonWriter"/> that writes data the way <see cref="Encode"/>
    /// does: compact, non-ASCII text left readable (<see cref="JavaScriptEncoder.UnsafeRelaxedJsonEscaping"/>).
    /// </summary>
    public static JsonWriterOptions WriterOptions => s_writerOptions;

    /// <summary>
    /// Writes <paramref name="value"/> as one JSON value into <paramref name="writer"/>,
    /// adding to <paramref name="hints"/> a hint for every value JSON can't express.
    /// </summary>
    /// <param name="writer">The writer; create it with <see cref="WriterOptions"/> so non-ASCII
    /// text stays readable (its own encoder is used as is).</param>
    /// <param name="value">The data: anything a PowerShell publisher passes.</param>
    /// <param name="hints">Receives the hints; paths are relative to this value. Hints already
    /// in it are kept, so pass a new or cleared instance per value.</param>
    /// <exception cref="ArgumentException">The data is nested more than <see cref="MaxDepth"/>
    /// levels deep or contains itself; the message names the path where the limit was hit.
    /// The writer is then left in the middle of the value.</exception>
    public static void WriteValue(Utf8JsonWriter writer, object? value, TypeHints hints)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(hints);

        PathSegment[] path = t_path ?? new PathSegment[MaxDepth];
        HashSet<string>?[] keySets = t_keySets ?? new HashSet<string>?[MaxDepth];
        t_path = null; // taken; a re-entrant call (from a property getter) makes its own
        t_keySets = null;
        try
        {
            var state = new WriteState(writer, hints, path, keySets);
            Write(ref state, value, 0);
        }
        finally
        {
            Array.Clear(path); // do not keep the caller's keys alive
            foreach (HashSet<string>? set in keySets) set?.Clear();
            t_path = path;
            t_keySets = keySets;
        }
    }

    /// <summary>
    /// Writes <c>"name": value</c> and, when the value needs them, <c>"typeHints": [...]</c>
    /// after it: the pair of properties every request to the core carries its data in.
    /// </summary>
    /// <exception cref="ArgumentException">As <see cref="WriteValue"/>.</exception>
    internal static void WriteProperty(Utf8JsonWriter writer, string name, object? value)
    {
        writer.WritePropertyName(name);
        var hints = new TypeHints();
        WriteValue(writer, value, hints);
        if (!hints.IsEmpty)
        {
            writer.WritePropertyName("typeHints");
            hints.WriteTo(writer);
        }
    }

    /// <summary>
    /// Rebuilds the .NET value from a JSON element and its type hints.
    /// </summary>
    /// <param name="data">The JSON value written by <see cref="WriteValue"/> (or by any other
    /// producer: without hints the default mapping applies). <c>default</c> reads as null.</param>
    /// <param name="hints">The hints array; <c>default</c>, JSON null or anything that is not an
    /// array means no hints. Hints whose type is unknown, or does not fit the JSON value at
    /// their path, are ignored.</param>
    /// <returns>The value; the result never refers to <paramref name="data"/>'s document, so
    /// the document may be disposed afterwards.</returns>
    public static object? ReadValue(JsonElement data, JsonElement hints)
    {
        return Read(data, BuildHintTree(hints));
    }

    /// <summary>
    /// Encodes <paramref name="value"/> as JSON text plus its type hints.
    /// </summary>
    /// <param name="value">The data.</param>
    /// <returns><c>Json</c>: the data as compact JSON; <c>TypeHints</c>: the hints array as
    /// JSON, or null when no hints were needed (plain data). From PowerShell the two are
    /// <c>Item1</c> and <c>Item2</c>.</returns>
    /// <exception cref="ArgumentException">The data is nested more than <see cref="MaxDepth"/>
    /// levels deep or contains itself.</exception>
    public static (string Json, string? TypeHints) Encode(object? value)
    {
        EncodeBuffers buffers = t_encodeBuffers ?? new EncodeBuffers();
        t_encodeBuffers = null;
        try
        {
            ArrayBufferWriter<byte> buffer = buffers.Buffer;
            Utf8JsonWriter writer = buffers.Writer;
            TypeHints hints = buffers.Hints;

            buffer.ResetWrittenCount();
            writer.Reset();
            WriteValue(writer, value, hints);
            writer.Flush();
            string json = Encoding.UTF8.GetString(buffer.WrittenSpan);

            string? hintsJson = null;
            if (!hints.IsEmpty)
            {
                buffer.ResetWrittenCount();
                writer.Reset();
                hints.WriteTo(writer);
                writer.Flush();
                hintsJson = Encoding.UTF8.GetString(buffer.WrittenSpan);
            }
            return (json, hintsJson);
        }
        finally
        {
            buffers.Hints.Clear();
            buffers.Buffer.ResetWrittenCount();
            buffers.Writer.Reset();
            if (buffers.Buffer.Capacity <= MaxCachedBufferBytes)
            {
                t_encodeBuffers = buffers;
            }
        }
    }

    /// <summary>
    /// Decodes JSON text and its type hints (as returned by <see cref="Encode"/>).
    /// </summary>
    /// <param name="json">The data as JSON text.</param>
    /// <param name="typeHints">The hints array as JSON text, or null/empty for none.</param>
    /// <returns>The rebuilt value.</returns>
    /// <exception cref="JsonException"><paramref name="json"/> or <paramref name="typeHints"/>
    /// is not valid JSON, or is nested deeper than <see cref="CoreJson.MaxDepth"/>.</exception>
    public static object? Decode(string json, string? typeHints)
    {
        ArgumentNullException.ThrowIfNull(json);
        using JsonDocument data = CoreJson.Parse(json);
        if (string.IsNullOrEmpty(typeHints))
        {
            return Read(data.RootElement, null);
        }
        using JsonDocument hints = CoreJson.Parse(typeHints);
        return Read(data.RootElement, BuildHintTree(hints.RootElement));
    }

    /// <summary>Per-thread reusable output buffer, writer and hints for <see cref="Encode"/>.</summary>
    private sealed class EncodeBuffers
    {
        public readonly ArrayBufferWriter<byte> Buffer = new ArrayBufferWriter<byte>(256);
        public readonly Utf8JsonWriter Writer;
        public readonly TypeHints Hints = new TypeHints();

        public EncodeBuffers()
        {
            Writer = new Utf8JsonWriter(Buffer, s_writerOptions);
        }
    }
}
