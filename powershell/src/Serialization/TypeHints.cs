using System;
using System.Buffers;
using System.Collections.Generic;
using System.Text;
using System.Text.Json;

namespace ModuleCommunication.Serialization;

/// <summary>
/// One step of a path from the data root: an object key or an array index.
/// </summary>
internal readonly struct PathSegment
{
    /// <summary>The object key, or null when this segment is an array index.</summary>
    public readonly string? Key;

    /// <summary>The array index; meaningful only when <see cref="Key"/> is null.</summary>
    public readonly int Index;

    public PathSegment(string key)
    {
        Key = key;
        Index = -1;
    }

    public PathSegment(int index)
    {
        Key = null;
        Index = index;
    }
}

/// <summary>
/// The type hints collected while <see cref="DataCodec.WriteValue"/> writes a value: the .NET
/// types that plain JSON cannot express, each named by its path from the data root.
/// </summary>
/// <remarks>
/// <para>
/// The JSON form (<see cref="WriteTo"/>, <see cref="ToString"/>) is an array of
/// <c>[path, type]</c> pairs. <c>path</c> is an array of object keys (strings) and array
/// indexes (numbers) from the data root (<c>[]</c> is the root itself); <c>type</c> is a
/// name from the hint vocabulary, e.g.
/// <c>[[["InitTime"],"datetime"],[["Items",2],"long"]]</c>.
/// </para>
/// <para>
/// Only values whose type differs from what plain JSON reads back as get a hint, so plain
/// data (strings, bools, ints, doubles, hashtables, arrays, nulls) has none and
/// <see cref="IsEmpty"/> stays true. The list of hints is allocated only when the first
/// hint is added. An instance may be reused after <see cref="Clear"/>; it is not thread-safe.
/// </para>
/// </remarks>
public sealed class TypeHints
{
    private List<Entry>? _entries;

    /// <summary>Creates an empty set of hints.</summary>
    public TypeHints()
    {
    }

    /// <summary>True when no value needed a hint (the common, plain-JSON case).</summary>
    public bool IsEmpty => _entries is null || _entries.Count == 0;

    /// <summary>The number of hints collected.</summary>
    public int Count => _entries?.Count ?? 0;

    /// <summary>Forgets every hint, keeping the allocated storage for reuse.</summary>
    public void Clear() => _entries?.Clear();

    /// <summary>Records a hint for the value at <paramref name="path"/>[0..<paramref name="depth"/>).</summary>
    internal void Add(PathSegment[] path, int depth, HintKind kind)
    {
        PathSegment[] copy = depth == 0 ? Array.Empty<PathSegment>() : path.AsSpan(0, depth).ToArray();
        (_entries ??= new List<Entry>()).Add(new Entry(copy, kind));
    }

    /// <summary>
    /// Writes the hints as one JSON array of <c>[path, type]</c> pairs (<c>[]</c> when empty).
    /// </summary>
    /// <param name="writer">The writer to append the array to.</param>
    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartArray();
        if (_entries is not null)
        {
            foreach (Entry entry in _entries)
            {
                writer.WriteStartArray();
                writer.WriteStartArray();
                foreach (PathSegment segment in entry.Path)
                {
                    if (segment.Key is not null)
                    {
                        writer.WriteStringValue(segment.Key);
                    }
                    else
                    {
                        writer.WriteNumberValue(segment.Index);
                    }
                }
                writer.WriteEndArray();
                writer.WriteStringValue(HintNames.GetEncodedName(entry.Kind));
                writer.WriteEndArray();
            }
        }
        writer.WriteEndArray();
    }

    /// <summary>The hints as compact JSON text (see <see cref="WriteTo"/>).</summary>
    public override string ToString()
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        using (var writer = new Utf8JsonWriter(buffer, DataCodec.WriterOptions))
        {
            WriteTo(writer);
        }
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private readonly struct Entry
    {
        public readonly PathSegment[] Path;
        public readonly HintKind Kind;

        public Entry(PathSegment[] path, HintKind kind)
        {
            Path = path;
            Kind = kind;
        }
    }
}
